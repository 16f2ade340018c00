//! The float64 dtype's Python surface: `torch.float64`/`torch.double`, `dtype=` in factories
//! and `torch.tensor`, `.double()`, 8-byte elements, promotion with float32 tensors and Python
//! numbers (`torch.result_type`), exact values through creation, sums and `.item()`,
//! printing, and a backward through float64. The program runs on the cpu device so that torch
//! 2.15.0's CPU build runs it unchanged; `EXPECTED` is what it printed there.

const PROGRAM: &str = r#"import torch

a = torch.zeros(3, dtype=torch.float64)
print(a.dtype, a.type(), a.element_size(), torch.double is torch.float64)
b = torch.tensor([0.1, 0.25, 1e300], dtype=torch.double)
print(b[0].item(), b[2].item(), b.sum().dtype, torch.tensor([0.1, 0.2], dtype=torch.float64).sum().item())
c = torch.tensor([1.5, 2.25]).double()
print(c, c.dtype, c.sum().item())
f = torch.ones(2)
print((c + f).dtype, (f + c).dtype, (c * 2.5).dtype, (f * torch.tensor(2.0, dtype=torch.float64)).dtype, (c + 1).dtype, (c / 2).dtype)
print(torch.result_type(f, c), torch.result_type(c, 2.0), torch.result_type(f, torch.tensor(1.0, dtype=torch.float64)), torch.result_type(torch.tensor([1, 2]), torch.tensor(1.0, dtype=torch.float64)))
print(c.float().dtype, c.long().dtype, c.int().dtype, c.half().dtype, f.double().dtype, c.to(torch.float32).dtype, c.type(torch.float32).dtype)
print(torch.ones((), dtype=torch.float64).item(), torch.tensor(0.1, dtype=torch.float64))
print(torch.randn(2, dtype=torch.float64).dtype, torch.empty(2, dtype=torch.float64).dtype, torch.zeros(2, 3, dtype=torch.float64).sum().dtype)
x = torch.ones(2, requires_grad=True, dtype=torch.float64)
y = (x * 3).sum()
y.backward()
print(x.grad.dtype, x.grad.sum().item(), y.dtype, y.grad_fn.name())
print(torch.tensor([16777217, -2147483647], dtype=torch.int32).double().tolist())
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "torch.float64 torch.DoubleTensor 8 True",
    "0.1 1e+300 torch.float64 0.30000000000000004",
    "tensor([1.5000, 2.2500], dtype=torch.float64) torch.float64 3.75",
    "torch.float64 torch.float64 torch.float64 torch.float32 torch.float64 torch.float64",
    "torch.float64 torch.float64 torch.float32 torch.float64",
    "torch.float32 torch.int64 torch.int32 torch.float16 torch.float64 torch.float32 torch.float32",
    "1.0 tensor(0.1000, dtype=torch.float64)",
    "torch.float64 torch.float64 torch.float64",
    "torch.float64 6.0 torch.float64 SumBackward0",
    "[16777217.0, -2147483647.0]",
];

#[test]
fn float64_prints_what_pytorch_prints() {
    crate::assert_prints_on_cpu_and_meta(PROGRAM, EXPECTED);
}
