//! `nn.GroupNorm` and `F.group_norm` (the diffusion U-Net's norm), `F.interpolate` and
//! `nn.Upsample` (its decoder's resizing), and the 1-D poolings of audio and text CNNs as scripts
//! spell them, each
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

#[test]
fn one_dimensional_poolings_print_as_pytorch_prints_them() {
    let program = r#"import torch
import torch.nn as nn
import torch.nn.functional as F
x = (torch.arange(2 * 3 * 9, dtype=torch.float32).reshape(2, 3, 9) / 5).cos().requires_grad_()
print(nn.MaxPool1d(3), nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True))
print(nn.AvgPool1d(2), nn.AvgPool1d(3, 1, 1, count_include_pad=False))
print(nn.AdaptiveAvgPool1d(1), nn.AdaptiveAvgPool1d(4))
m = nn.MaxPool1d(3, stride=2, padding=1)(x)
a = nn.AvgPool1d(3, 2, count_include_pad=False)(x)
g = nn.AdaptiveAvgPool1d(4)(x)
g1 = F.adaptive_avg_pool1d(x, 1)
print(tuple(m.shape), type(m.grad_fn).__name__, [type(n[0]).__name__ for n in m.grad_fn.next_functions])
print(tuple(a.shape), type(a.grad_fn).__name__, tuple(g.shape), type(g.grad_fn).__name__, type(g1.grad_fn).__name__)
print(m[1, 2], a[0, 1], g[1, 0], g1[0, :, 0])
(m.sum() + (a * a).sum() + g.sum() * 2 + g1.sum()).backward()
print(x.grad[0])
print(tuple(F.max_pool1d(x[0], 2).shape), tuple(F.avg_pool1d(x, (4,)).shape))
try:
    F.max_pool1d(torch.ones(2, 3, 4, 5), 2)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.avg_pool1d(torch.ones(2, 3, 4, 5), 2)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.adaptive_avg_pool1d(torch.ones(2, 3, 4, 5), 2)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.max_pool1d(torch.ones(1, 2, 3), 5)
except Exception as e:
    print(type(e).__name__, e)"#;
    let expected = r#"MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False) MaxPool1d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)
AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,)) AvgPool1d(kernel_size=(3,), stride=(1,), padding=(1,))
AdaptiveAvgPool1d(output_size=1) AdaptiveAvgPool1d(output_size=4)
(2, 3, 5) SqueezeBackward1 ['MaxPool2DWithIndicesBackward0']
(2, 3, 4) SqueezeBackward1 (2, 3, 4) SqueezeBackward1 SqueezeBackward1
tensor([-0.9111, -0.9748, -0.8391, -0.5610, -0.3853],
       grad_fn=<SelectBackward0>) tensor([-0.4106, -0.7276, -0.9297, -0.9850], grad_fn=<SelectBackward0>) tensor([0.7653, 0.9474, 0.9800, 0.8578], grad_fn=<SelectBackward0>) tensor([ 0.6074, -0.7470, -0.2679], grad_fn=<SelectBackward0>)
tensor([[2.4225, 2.4225, 2.6321, 2.3207, 2.3428, 2.1332, 1.9117, 1.8896, 0.8896],
        [1.5040, 1.5040, 0.6856, 1.2927, 0.3396, 1.1580, 0.1680, 0.1211, 1.1211],
        [0.2575, 1.2575, 0.6016, 1.4553, 1.0482, 1.7040, 1.5573, 1.9644, 1.9644]])
(3, 4) (2, 3, 2)
RuntimeError max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but got:[2, 3, 4, 5]
RuntimeError Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while checking arguments for avg_pool1d)
RuntimeError Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while checking arguments for adaptive_avg_pool1d)
RuntimeError max_pool1d() Invalid computed output size: 0"#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(program, &lines);
}

/// `F.cosine_similarity` (contrastive losses): broadcasting, `dim`, `eps` (zero vectors give 0),
/// the gradients of both operands, integer operands, as torch 2.15 printed them.
#[test]
fn cosine_similarity_prints_as_pytorch_prints_it() {
    let program = r#"import torch
import torch.nn.functional as F
a = (torch.arange(12, dtype=torch.float32).reshape(4, 3) / 3).sin().requires_grad_()
b = (torch.arange(12, dtype=torch.float32).reshape(4, 3) / 2).cos().requires_grad_()
s = F.cosine_similarity(a, b)
print(s, type(s.grad_fn).__name__)
print(torch.cosine_similarity(a, b[0:1], dim=1))
print(F.cosine_similarity(a, b, dim=0, eps=0.5))
z = torch.zeros(2, 3)
print(F.cosine_similarity(z, z))
(s * torch.tensor([1.0, -2.0, 3.0, 0.5])).sum().backward()
print(a.grad)
print(b.grad)
try:
    F.cosine_similarity(torch.tensor([[1, 2, 3]]), torch.tensor([[2, 4, 7]]))
except RuntimeError as e:
    print(e)
print(F.cosine_similarity(torch.tensor([[1, 2, 3]]), torch.tensor([[2.0, 4.0, 7.5]])))"#;
    let expected = r#"tensor([ 0.6184, -0.7759, -0.9943, -0.9998], grad_fn=<SumBackward1>) SumBackward1
tensor([ 0.6184,  0.9561,  0.9989, -0.3729], grad_fn=<SumBackward1>)
tensor([-0.4900, -0.4849, -0.6046], grad_fn=<SumBackward1>)
tensor([0., 0.])
tensor([[ 0.9954,  0.4601, -0.2435],
        [-0.5901, -0.0053,  0.5039],
        [ 0.1661, -0.1051, -0.1641],
        [-0.0106,  0.0132, -0.0080]])
tensor([[-0.2999,  0.0625,  0.4535],
        [-1.2769, -0.5327,  0.1640],
        [ 0.1529, -0.0733, -0.1266],
        [-0.0074,  0.0091, -0.0058]])
expected common dtype to be floating point, yet common dtype is Long
tensor([0.9947])"#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(program, &lines);
}

/// `nn.ConvTranspose2d` and `F.conv_transpose2d` (GAN generators, U-Net decoders): shapes with
/// stride, padding, output padding, groups and dilation, values, the gradients of input,
/// weight and bias, reprs and attributes, and the errors, as torch 2.15 printed them.
#[test]
fn conv_transpose2d_prints_as_pytorch_prints_it() {
    let program = r#"import torch
import torch.nn as nn
import torch.nn.functional as F
x = (torch.arange(2 * 4 * 3 * 3, dtype=torch.float32).reshape(2, 4, 3, 3) / 7).sin().requires_grad_()
w = (torch.arange(4 * 3 * 3 * 3, dtype=torch.float32).reshape(4, 3, 3, 3) / 5).cos().requires_grad_()
b = torch.tensor([0.1, -0.2, 0.3], requires_grad=True)
y = F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)
print(tuple(y.shape), type(y.grad_fn).__name__, tuple(y.grad_fn._saved_input.shape), tuple(y.grad_fn._saved_weight.shape))
print(y[0, 1, 2])
(y * y.detach().cos()).sum().backward()
print(x.grad[1, 2])
print(w.grad[3, 1])
print(b.grad)
wg = (torch.arange(4 * 1 * 2 * 2, dtype=torch.float32).reshape(4, 1, 2, 2) / 9).requires_grad_()
yg = F.conv_transpose2d(x, wg, groups=2, dilation=2)
print(tuple(yg.shape), yg[1, 0, 1])
print(nn.ConvTranspose2d(4, 3, 3), nn.ConvTranspose2d(4, 6, (2, 3), stride=2, padding=1, output_padding=1, groups=2, bias=False, dilation=2))
m = nn.ConvTranspose2d(4, 3, 3, stride=2)
print(tuple(m.weight.shape), tuple(m.bias.shape), tuple(m(x).shape), m.output_padding, m.transposed, m.in_channels, m.kernel_size)
try:
    F.conv_transpose2d(x, w[:3])
except Exception as e:
    print(type(e).__name__, e)
try:
    F.conv_transpose2d(x, w, torch.zeros(4))
except Exception as e:
    print(type(e).__name__, e)
try:
    F.conv_transpose2d(x, w, output_padding=1)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.conv_transpose2d(x[0, 0], w)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.conv_transpose2d(torch.ones(1, 4, 1, 1), w, padding=3)
except Exception as e:
    print(type(e).__name__, e)
try:
    nn.ConvTranspose2d(4, 3, 3, groups=2)
except Exception as e:
    print(type(e).__name__, e)"#;
    let expected = r#"(2, 3, 6, 6) ConvolutionBackward0 (2, 4, 3, 3) (4, 3, 3, 3)
tensor([-1.5145, -3.0334, -1.7627, -3.4939, -1.9790, -2.1780],
       grad_fn=<SelectBackward0>)
tensor([[ 0.4923, -0.3448, -0.3042],
        [-0.0058, -0.1039,  1.3822],
        [-0.1691,  0.4810,  0.9717]])
tensor([[-0.9030,  3.0252, -0.0983],
        [ 1.2370, -0.5946,  1.7929],
        [-0.6660,  4.5124,  1.0734]])
tensor([-2.3434, -2.5233, 15.0821])
(2, 2, 5, 5) tensor([0.2413, 0.2920, 0.5658, 0.3051, 0.3750], grad_fn=<SelectBackward0>)
ConvTranspose2d(4, 3, kernel_size=(3, 3), stride=(1, 1)) ConvTranspose2d(4, 6, kernel_size=(2, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), output_padding=(1, 1), groups=2, bias=False)
(4, 3, 3, 3) (3,) (2, 3, 7, 7) (0, 0) True 4 (3, 3)
RuntimeError Given transposed=1, weight of size [3, 3, 3, 3], expected input[2, 4, 3, 3] to have 3 channels, but got 4 channels instead
RuntimeError Given transposed=1, weight of size [4, 3, 3, 3], expected bias to be 1-dimensional with 3 elements, but got bias of size [4] instead
RuntimeError output padding must be smaller than either stride or dilation, but got output_padding_height: 1 output_padding_width: 1 stride_height: 1 stride_width: 1 dilation_height: 1 dilation_width: 1
RuntimeError Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: [3, 3]
RuntimeError Given input size per channel: (1 x 1). Calculated output size per channel: (-3 x -3). Output size is too small
ValueError out_channels must be divisible by groups"#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(program, &lines);
}

/// The CycleGAN generator's layers: `nn.ReflectionPad2d`/`1d`, `F.pad(mode='reflect')`,
/// `nn.ZeroPad2d`, `nn.InstanceNorm2d` (with and without affine, unbatched) and
/// `F.instance_norm`: reprs, nodes, values, gradients (to two decimals: the last digit of a
/// long sum depends on its order) and errors as torch 2.15 printed them.
#[test]
fn reflection_padding_and_instance_norm_print_as_pytorch_prints_them() {
    let program = r#"import torch
import torch.nn as nn
import torch.nn.functional as F

x = (torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5) / 11).sin().requires_grad_()
pad = nn.ReflectionPad2d(2)
print(pad, nn.ReflectionPad2d((1, 0, 2, 3)), nn.ReflectionPad1d(3), nn.ZeroPad2d((1, 0, 2, 1)))
p = pad(x)
print(tuple(p.shape), type(p.grad_fn).__name__, tuple(p.grad_fn._saved_self.shape))
print(p[0, 0, :3])
q = F.pad(x[0], (1, 2), mode="reflect")
print(tuple(q.shape), type(q.grad_fn).__name__, q[1, 0])
norm = nn.InstanceNorm2d(3)
anorm = nn.InstanceNorm2d(3, affine=True)
print(norm, anorm, nn.InstanceNorm1d(4, eps=1e-3))
n = norm(p)
print(tuple(n.shape), type(n.grad_fn).__name__, [type(f[0]).__name__ for f in n.grad_fn.next_functions])
print(n[1, 2, 0])
a = anorm(x[0])
print(tuple(a.shape), type(a.grad_fn).__name__)
z = nn.ZeroPad2d((1, 0, 2, 1))(x)
print(tuple(z.shape), type(z.grad_fn).__name__)
fi = F.instance_norm(x, eps=1e-3)
((n * n.detach().cos()).sum() + (a * a).sum() + z.sum() + (fi * fi.detach()).sum() + (q * q.detach()).sum()).backward()
print(x.grad[0, 1].round(decimals=2))
print(anorm.weight.grad, bool(anorm.bias.grad.abs().max() < 1e-4))
try:
    F.pad(x, (5, 0, 0, 0), mode='reflect')
except Exception as e:
    print(type(e).__name__, e)
try:
    F.pad(x, (1, 1, 1, 1), mode='reflect', value=2.0)
except Exception as e:
    print(type(e).__name__, e)
try:
    F.instance_norm(torch.ones(2, 3, 1, 1))
except Exception as e:
    print(type(e).__name__, e)
try:
    F.pad(x, (1, 1), mode='reflect')
except NotImplementedError as e:
    print(str(e).splitlines()[0])"#;
    let expected = r#"ReflectionPad2d((2, 2, 2, 2)) ReflectionPad2d((1, 0, 2, 3)) ReflectionPad1d((3, 3)) ZeroPad2d((1, 0, 2, 1))
(2, 3, 9, 9) ReflectionPad2DBackward0 (2, 3, 5, 5)
tensor([[0.8870, 0.8415, 0.7889, 0.8415, 0.8870, 0.9253, 0.9559, 0.9253, 0.8870],
        [0.5943, 0.5188, 0.4391, 0.5188, 0.5943, 0.6648, 0.7299, 0.6648, 0.5943],
        [0.1808, 0.0908, 0.0000, 0.0908, 0.1808, 0.2694, 0.3557, 0.2694, 0.1808]],
       grad_fn=<SliceBackward0>)
(3, 5, 8) ReflectionPad1DBackward0 tensor([0.7018, 0.7636, 0.7018, 0.6343, 0.5615, 0.4840, 0.5615, 0.6343],
       grad_fn=<SelectBackward0>)
InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=False) InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=False) InstanceNorm1d(4, eps=0.001, momentum=0.1, affine=False, bias=False, track_running_stats=False)
(2, 3, 9, 9) ViewBackward0 ['NativeBatchNormBackward0']
tensor([-0.0317, -0.2199, -0.4046, -0.2199, -0.0317,  0.1584,  0.3489,  0.1584,
        -0.0317], grad_fn=<SelectBackward0>)
(3, 5, 5) SqueezeBackward1
(2, 3, 8, 6) ConstantPadNdBackward0
tensor([[-0.1200, -0.8900, -1.8500, -0.0100,  0.7500],
        [ 0.5900,  1.3200,  2.8100,  3.2400,  2.4400],
        [ 3.4600,  6.1200,  8.5000,  5.1400,  2.5200],
        [ 1.3800,  0.6000, -0.8300, -1.9000, -1.0700],
        [-0.7400, -3.0400, -4.8900, -3.9400, -1.6300]])
tensor([49.9947, 49.9984, 49.9978]) True
RuntimeError Argument #4: Padding size should be less than the corresponding input dimension, but got: padding (5, 0) at dimension 3 of input [2, 3, 5, 5]
RuntimeError Padding mode "reflect" doesn't take in value argument
ValueError Expected more than 1 spatial element when training, got input size torch.Size([2, 3, 1, 1])
Padding size 2 is not supported for 4D input tensor."#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(program, &lines);
}
