//! int32 tensors as indices, which PyTorch 2.15 accepts wherever it names "Long, Int": advanced
//! indexing, `index_select` and `nn.Embedding`, whose nodes then save the int32 indices (4 bytes
//! an element; `IndexBackward0`'s `_saved_indices` is not exposed to scenarios yet). `EXPECTED` is what torch 2.15.0 (CPU) printed for `PROGRAM`.

use leakharness::device::Backend;

const PROGRAM: &str = r#"import torch
x = torch.ones(4, 3).requires_grad_()
i = torch.tensor([2, 0], dtype=torch.int32)
y = x[i]
print(list(y.shape), y.grad_fn.name())
print(torch.index_select(x, 0, i).grad_fn._saved_index.dtype)
e = torch.nn.Embedding(5, 2)
out = e(i)
print(list(out.shape), out.grad_fn.name(), out.grad_fn._saved_indices.dtype)
(y.sum() + out.sum()).backward()
print(x.grad[2].sum().item(), x.grad[1].sum().item(), x.grad.sum().item())
"#;

const EXPECTED: &[&str] = &[
    "[2, 3] IndexBackward0",
    "torch.int32",
    "[2, 2] EmbeddingBackward0 torch.int32",
    "3.0 0.0 6.0",
];

#[test]
fn int32_indices_select_and_are_saved_as_int32() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let r = crate::run_program(PROGRAM, backend);
        if let Some(f) = r.failure {
            panic!("{}", f.error);
        }
        if backend == Backend::Cpu {
            assert_eq!(r.output, EXPECTED);
        } else {
            assert_eq!(r.output[..3], EXPECTED[..3]);
        }
    }
}
