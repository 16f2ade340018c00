//! `nn.GroupNorm` and `F.group_norm` as scripts spell them (the diffusion U-Net's norm), each
//! as PyTorch 2.15.0 (CPU) printed it for the same program: the module's repr, values, the
//! node and its saved tensors, gradients of the input, weight and bias, and the errors of
//! functional.py, of the module's constructor and of ATen's checks.

use super::assert_prints_on_cpu_and_meta;

#[test]
fn group_norm_prints_as_pytorch_prints_it() {
    let program = r#"import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
gn = nn.GroupNorm(2, 4)
print(gn)
print(nn.GroupNorm(1, 3, eps=1e-3, affine=False))
x = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3) ** 1.5
y = gn(x)
print(type(y.grad_fn).__name__, tuple(y.grad_fn._saved_input.shape), tuple(y.grad_fn._saved_result1.shape), tuple(y.grad_fn._saved_result2.shape), tuple(y.grad_fn._saved_weight.shape))
print(y[0, :, 0])
y2 = F.group_norm(x, 4)
print(y2[1, 1])
w = torch.linspace(0.5, 2.0, 4, requires_grad=True)
b = torch.linspace(-1.0, 1.0, 4, requires_grad=True)
xr = x.clone().requires_grad_()
z = F.group_norm(xr, 2, w, b, eps=1e-5)
(z * z.detach().sin()).sum().backward()
print(xr.grad[0, 0], w.grad, b.grad)
try:
    F.group_norm(torch.ones(4), 2)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.group_norm(torch.ones(1, 1), 1)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.group_norm(torch.ones(2, 4), 3)
except Exception as e:
    print(type(e).__name__, e)
try:
    nn.GroupNorm(3, 4)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.group_norm(torch.ones(2, 4, 3), 2, torch.ones(3))
except Exception as e:
    print(type(e).__name__, e)"#;
    let expected = r#"GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)
GroupNorm(1, 3, eps=0.001, affine=False, bias=False)
NativeGroupNormBackward0 (2, 4, 3) (2, 2) (2, 2) (4,)
tensor([-1.1978,  0.1262, -1.4035,  0.2471], grad_fn=<SelectBackward0>)
tensor([-1.2183, -0.0128,  1.2311])
tensor([ 0.0486,  0.0138, -0.0447]) tensor([ 5.1725,  3.7843,  4.3592, -1.0888]) tensor([-5.8383,  2.6120, -3.9363,  1.2554])
RuntimeError Expected at least 2 dimensions for input tensor but received 1
ValueError Expected more than 1 value per channel when training, got input size [1, 1]
RuntimeError Expected number of channels in input to be divisible by num_groups, but got input of shape [2, 4] and num_groups=3
ValueError num_channels (4) must be divisible by num_groups (3)
RuntimeError Expected weight to be a vector of size equal to the number of channels in input, but got weight of shape [3] and input of shape [2, 4, 3]"#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(program, &lines);
}
