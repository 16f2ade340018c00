//! The int32 dtype's Python surface: `torch.int32`/`torch.int`, `dtype=` in factories, `.int()`,
//! promotion with int64, bool, floats and Python numbers (`torch.result_type`), integer sums
//! (int64), `.item()`, wrap-around on overflow and printing. The program runs on the cpu device
//! so that torch 2.15.0's CPU build runs it unchanged; `EXPECTED` is what it printed there.

const PROGRAM: &str = r#"import torch

a = torch.zeros(3, dtype=torch.int32)
print(a, a.dtype, a.type())
b = torch.tensor([1, 2, 3], dtype=torch.int)
print(b, b.dtype, torch.int is torch.int32)
c = torch.tensor([1.7, -2.7, 3.2]).int()
print(c.dtype, c.sum().item())
print((b + 1).dtype, (b + c).dtype, (b * 2.5).dtype, (b + torch.tensor(5)).dtype, (b.long() + b).dtype)
print(torch.result_type(b, torch.tensor(5)), torch.result_type(b, 2), torch.result_type(b, 2.0), torch.result_type(b, torch.ones(1, dtype=torch.bool)))
print(b.sum(), b.sum().dtype, b[1].item(), b.float().dtype, b.long().int().dtype)
print(torch.ones((), dtype=torch.int32), torch.ones((), dtype=torch.int32).item() + 1)
print(b.to(torch.int64).dtype, (b + 2147483647)[0].item())
print(torch.randint(0, 5, (2,), dtype=torch.int32).dtype, torch.empty(2, dtype=torch.int32).dtype)
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "tensor([0, 0, 0], dtype=torch.int32) torch.int32 torch.IntTensor",
    "tensor([1, 2, 3], dtype=torch.int32) torch.int32 True",
    "torch.int32 2",
    "torch.int32 torch.int32 torch.float32 torch.int32 torch.int64",
    "torch.int32 torch.int32 torch.float32 torch.int32",
    "tensor(6) torch.int64 2 torch.float32 torch.int32",
    "tensor(1, dtype=torch.int32) 2",
    "torch.int64 -2147483648",
    "torch.int32 torch.int32",
];

#[test]
fn int32_prints_what_pytorch_prints() {
    crate::assert_prints_on_cpu_and_meta(PROGRAM, EXPECTED);
}
