//! `nn.GroupNorm` and `F.group_norm` (the diffusion U-Net's norm), `F.interpolate` and
//! `nn.Upsample` (its decoder's resizing) as scripts spell them, each
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

#[test]
fn interpolate_and_upsample_print_as_pytorch_prints_them() {
    let program = r#"import torch
import torch.nn as nn
import torch.nn.functional as F

x = (torch.arange(2 * 3 * 3 * 4, dtype=torch.float32).reshape(2, 3, 3, 4) / 7).sin()
x.requires_grad_()
print(nn.Upsample(scale_factor=2))
print(nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True))
print(nn.Upsample(size=6, mode="bilinear"))
print(nn.UpsamplingNearest2d(scale_factor=3))
print(nn.UpsamplingBilinear2d(size=(4, 4)))
y = F.interpolate(x, scale_factor=2)
print(tuple(y.shape), type(y.grad_fn).__name__)
print(y[0, 0, :3, :5])
z = F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False)
print(tuple(z.shape), type(z.grad_fn).__name__)
print(z[1, 2, 2])
w = F.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=True)
print(tuple(w.shape), w[0, 1, -1])
u = nn.Upsample(size=(2, 3), mode="nearest")(x)
print(tuple(u.shape), u[1, 0])
((y * y).sum() + (z * z.detach()).sum() + w.sum() + u.sum()).backward()
print(x.grad[0, 0])
print(x.grad[1, 2])
a = F.interpolate(x, scale_factor=(2, 1.5), mode="area")
print(tuple(a.shape), type(a.grad_fn).__name__)
try:
    F.interpolate(x, size=4, scale_factor=2)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.interpolate(x)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.interpolate(x, scale_factor=2, align_corners=True)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.interpolate(x, size=(3, 4, 5))
except Exception as e:
    print(type(e).__name__, e)
try:
    F.interpolate(x, scale_factor=2, mode='bicubc')
except Exception as e:
    print(type(e).__name__, e)"#;
    let expected = r#"Upsample(scale_factor=2.0, mode='nearest')
Upsample(size=(5, 7), mode='bilinear')
Upsample(size=6, mode='bilinear')
UpsamplingNearest2d(scale_factor=3.0, mode='nearest')
UpsamplingBilinear2d(size=(4, 4), mode='bilinear')
(2, 3, 6, 8) UpsampleNearest2DBackward0
tensor([[0.0000, 0.0000, 0.1424, 0.1424, 0.2818],
        [0.0000, 0.0000, 0.1424, 0.1424, 0.2818],
        [0.5408, 0.5408, 0.6551, 0.6551, 0.7560]], grad_fn=<SliceBackward0>)
(2, 3, 5, 7) UpsampleBilinear2DBackward0
tensor([ 0.2782,  0.2283,  0.1486,  0.0674, -0.0140, -0.0953, -0.1461],
       grad_fn=<SelectBackward0>)
(2, 3, 4, 6) tensor([ 0.2806,  0.1969,  0.1126,  0.0272, -0.0582, -0.1436],
       grad_fn=<SelectBackward0>)
(2, 3, 2, 3) tensor([[-0.9088, -0.8401, -0.7543],
        [-0.5387, -0.4133, -0.2794]], grad_fn=<SelectBackward0>)
tensor([[ 3.1546,  4.8869,  6.4030,  6.4464],
        [ 8.8498, 10.3756, 11.5082, 11.0414],
        [11.5171, 12.4099, 12.7744, 12.5342]])
tensor([[10.7150,  9.9975,  8.7254,  6.1249],
        [ 5.8432,  4.6788,  3.0801,  0.3385],
        [-1.0320, -2.1644, -3.5466, -4.9350]])
(2, 3, 6, 6) AdaptiveAvgPool2DBackward0
ValueError only one of size or scale_factor should be defined
ValueError either size or scale_factor should be defined
ValueError align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear
ValueError Input and output must have the same number of spatial dimensions, but got input with spatial dimensions of [3, 4] and output size of (3, 4, 5). Please provide input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.
NotImplementedError Input Error: Only 3D, 4D and 5D input Tensors supported (got 4D) for the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got bicubc)"#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(program, &lines);
}
