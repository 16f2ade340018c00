//! Mixed precision's Python surface: float16/bfloat16 values, `.half()`/`.bfloat16()`/`.type()`,
//! `torch.result_type`, `module.half()`/`.to(dtype)`/`.float()`, `torch.autocast` as a context
//! (nested, `enabled=False`) and as a method decorator. The program runs on the cpu device so
//! that torch 2.15.0's CPU build runs it unchanged; `EXPECTED` is what it printed there.

const PROGRAM: &str = r#"import torch
import torch.nn as nn
import torch.nn.functional as F

print(torch.tensor(1 / 3, dtype=torch.float16).item(), torch.tensor(1 / 3, dtype=torch.bfloat16).item())
print(torch.tensor([70000.0]).half().item(), torch.tensor([70000.0]).bfloat16().item())
h = torch.ones(3).half()
print(h.dtype, h.type(), h.bfloat16().type(), h.type(torch.float32).dtype, h.type("torch.BFloat16Tensor").dtype)
print(torch.result_type(h, torch.ones(3)), torch.result_type(h, torch.tensor(1.0)), torch.result_type(h, 2.5))
print((h * torch.tensor(2.0)).dtype, (h + torch.ones(3, dtype=torch.bfloat16)).dtype, h.to(torch.float32).dtype)
m = nn.Linear(4, 3)
m.half()
print(m.weight.dtype, m.bias.dtype)
m.to(torch.bfloat16)
print(m.weight.dtype)
m.float()
print(m.weight.dtype)
x = torch.randn(2, 4)
with torch.autocast("cpu", dtype=torch.bfloat16):
    out = m(x)
    print(out.dtype)
    ce = F.cross_entropy(out, torch.tensor([0, 2]))
    print(ce.dtype)
    print(out.softmax(-1).dtype, torch.cat([out, x[:, :3]]).dtype)
    with torch.autocast("cpu", enabled=False):
        print(m(x).dtype, torch.is_autocast_enabled("cpu"))
    print(torch.is_autocast_enabled("cpu"))
print(torch.is_autocast_enabled("cpu"), m(x).dtype)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    @torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    def forward(self, x):
        return self.fc(x)

print(Net()(x).dtype)
ce.backward()
print(m.weight.grad.dtype, m.bias.grad.dtype)
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "0.333251953125 0.333984375",
    "inf 70144.0",
    "torch.float16 torch.HalfTensor torch.BFloat16Tensor torch.float32 torch.bfloat16",
    "torch.float32 torch.float16 torch.float16",
    "torch.float16 torch.float32 torch.float32",
    "torch.float16 torch.float16",
    "torch.bfloat16",
    "torch.float32",
    "torch.bfloat16",
    "torch.float32",
    "torch.bfloat16 torch.float32",
    "torch.float32 False",
    "True",
    "False torch.float32",
    "torch.bfloat16",
    "torch.float32 torch.float32",
];

#[test]
fn mixed_precision_prints_what_pytorch_prints() {
    crate::assert_prints_on_cpu_and_meta(PROGRAM, EXPECTED);
}
