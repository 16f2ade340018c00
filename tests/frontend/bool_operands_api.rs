//! Python bools and rounded division as PyTorch called from Python runs them (issue 13): `x *
//! True` wraps the bool in a 0-dim host bool tensor (1 byte, not an 8-byte int64) that
//! MulBackward0 saves as `other`, so a bool tensor times `True` stays bool and an int64 one
//! int64; `x.div(2, rounding_mode='floor')` and `x.div(3.0, rounding_mode=None)` are
//! DivBackward2 saving the wrapped number (int64 or float64, 8 bytes) and not `self`. What
//! torch 2.15.0 (CPU) printed and saved for the same program (`grad_fn._saved_*`).

use std::path::Path;

use leakharness::check::{hold_scenario, CheckOptions, Holdings, NodeFact};
use leakharness::device::Backend;
use leakharness::scenario::parse_scenario;

const PROGRAM: &str = r#"import torch

x = torch.randn(4, requires_grad=True)
m = torch.ones(4) > 0
a = x * True
b = True * x
c = m * True
n = torch.tensor([1, 2]) + True
d = x.div(2, rounding_mode="floor")
e = x.div(3.0, rounding_mode=None)
print(c.dtype, c.tolist(), n.dtype, n.tolist(), a.dtype)
done = True
"#;

fn holdings(backend: Backend) -> Holdings {
    let scenario = parse_scenario(Path::new("t.py"), PROGRAM).unwrap_or_else(|e| panic!("{e}"));
    let options = CheckOptions {
        backend,
        ..CheckOptions::default()
    };
    hold_scenario(&scenario, &options).unwrap()
}

/// A node's name and what it saved: (saved name, dtype, storage bytes) each.
type Node = (String, Vec<(String, String, usize)>);

/// Each node alive before the last line and what it saved.
fn nodes(h: &Holdings) -> Vec<Node> {
    let record = h.records.iter().find(|r| r.line == 12).unwrap();
    let mut nodes: Vec<_> = record
        .nodes
        .iter()
        .map(|NodeFact { name, saved }| {
            let saved = saved
                .iter()
                .map(|(n, t)| (n.clone(), t.dtype.clone(), t.storage_bytes))
                .collect();
            (name.clone(), saved)
        })
        .collect();
    nodes.sort();
    nodes
}

#[test]
fn bools_and_rounded_division_are_wrapped_as_pytorch_wraps_them() {
    let cpu = holdings(Backend::Cpu);
    assert_eq!(cpu.error, None);
    assert_eq!(
        cpu.output,
        ["torch.bool [True, True, True, True] torch.int64 [2, 3] torch.float32"]
    );
    let saved = |name: &str, dtype: &str, bytes| {
        (
            name.to_string(),
            vec![("other".to_string(), dtype.to_string(), bytes)],
        )
    };
    assert_eq!(
        nodes(&cpu),
        [
            ("AccumulateGrad".to_string(), vec![]),
            saved("DivBackward2", "torch.float64", 8),
            saved("DivBackward2", "torch.int64", 8),
            saved("MulBackward0", "torch.bool", 1),
            saved("MulBackward0", "torch.bool", 1),
        ]
    );
    let meta = holdings(Backend::Meta);
    assert_eq!(nodes(&meta), nodes(&cpu));
}
