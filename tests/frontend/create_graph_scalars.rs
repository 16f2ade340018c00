//! Multiplications and divisions by a number inside backward formulas, under
//! `create_graph=True`: PyTorch's C++ formulas pass a Scalar, so the double-backward graph has
//! MulBackward1/DivBackward1 nodes that keep the number only (`pow_backward`'s
//! `exponent * self.pow(exponent - 1)`, `mean`'s division, `maybe_multiply`), while the
//! backward of a Python `x * 2.0` multiplies by the wrapped tensor (MulBackward0), as 2.15
//! records them. Run with Python's naming of number operands, as scenarios are;
//! `EXPECTED` is what torch 2.15.0 (CPU) printed for `PROGRAM`.

use std::path::Path;

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions};
use leakharness::scenario::parse_scenario;

const PROGRAM: &str = r#"import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = (x * 2.0) ** 3
g, = torch.autograd.grad(y.sum(), x, create_graph=True)
names = []
stack = [g.grad_fn]
while stack:
    n = stack.pop()
    if n is not None:
        names.append(n.name().split("::")[-1])
        stack.extend(f for f, _ in n.next_functions)
print(names)
print(g.tolist())
g.sum().backward()
print(x.grad.tolist())
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "['MulBackward0', 'MulBackward0', 'MulBackward1', 'PowBackward0', 'MulBackward0', 'AccumulateGrad']",
    "[24.0, 96.0, 216.0]",
    "[48.0, 96.0, 144.0]",
];

#[test]
fn double_backward_multiplies_by_numbers_as_pytorch_formulas_do() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let scenario = parse_scenario(Path::new("t.py"), PROGRAM).unwrap();
        let options = RuntimeOptions {
            python_scalar_names: true,
            ..RuntimeOptions::default()
        };
        let rt = Runtime::new(backend, options).unwrap();
        let r = run(&scenario, &rt, &RunOptions::default(), &mut ());
        if let Some(f) = r.failure {
            panic!("{backend:?}: {}", f.error);
        }
        assert_eq!(r.output, EXPECTED, "{backend:?}");
    }
}
