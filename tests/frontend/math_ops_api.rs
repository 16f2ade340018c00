//! The element-wise math, sorts and `tril` as scripts spell them (`x.sin()`, `torch.topk`,
//! `a.round(decimals=1)`, `torch.sort(..., stable=True)`, the ImageNet example's `accuracy`),
//! `any`/`all`/`isinf`/`isfinite` checks of a loss, `cumsum`, `flip` and `repeat`, each as
//! PyTorch 2.15.0 (CPU) printed it for the same program: values, node names, the
//! `torch.return_types` results, the gradients, the errors.

use super::assert_prints_on_cpu_and_meta;

#[test]
fn math_sorts_and_tril_print_as_pytorch_prints_them() {
    let expected = r#"tensor([[ 0.8415,  0.1411,  0.1411],
        [-0.8415,  0.0000,  0.9093]], grad_fn=<SinBackward0>) tensor([[ 0.5403, -0.9900, -0.9900],
        [ 0.5403,  1.0000, -0.4161]], grad_fn=<CosBackward0>)
tensor([[0.6931, 1.3863, 1.3863],
        [0.6931, 0.0000, 1.0986]], grad_fn=<Log1PBackward0>) tensor([[ 1.7183, 19.0855, 19.0855],
        [-0.6321,  0.0000,  6.3891]], grad_fn=<Expm1Backward0>) tensor([[0.7071, 0.5000, 0.5000],
        [0.7071, 1.0000, 0.5774]], grad_fn=<RsqrtBackward0>)
tensor([[ 1.,  1.,  1.],
        [-1.,  0.,  1.]], grad_fn=<SignBackward0>) tensor([[ 1.,  3.,  3.],
        [-1.,  0.,  2.]], grad_fn=<FloorBackward0>) tensor([[1., 2., 2.],
        [-0., 0., 1.]], grad_fn=<CeilBackward0>) tensor([[-0., -1., -1.],
        [ 0., -0., -1.]], grad_fn=<TruncBackward0>) tensor([[0., 0., 0.],
        [-0., 0., 0.]], grad_fn=<TruncBackward0>)
tensor([[ 1.,  3.,  3.],
        [-1.,  0.,  2.]], grad_fn=<RoundBackward1>) tensor([[0., 1., 1.],
        [-0., 0., 0.]], grad_fn=<RoundBackward0>) RoundBackward1
torch.return_types.sort(
values=tensor([[ 3.,  3.,  1.],
        [ 2.,  0., -1.]], grad_fn=<SortBackward0>),
indices=tensor([[1, 2, 0],
        [2, 1, 0]]))
tensor([[3., 3.],
        [2., 0.]], grad_fn=<TopkBackward0>) tensor([[1, 2],
        [2, 1]]) TopkBackward0
SortBackward1 SortBackward0
tensor([[0, 1, 2],
        [0, 1, 2]]) tensor([[0, 0, 0],
        [1, 1, 1]])
tensor([[ 1.,  0.,  0.],
        [-1.,  0.,  0.]], grad_fn=<TrilBackward0>) tensor([[ 1.,  3.,  0.],
        [-1.,  0.,  2.]], grad_fn=<TrilBackward0>) TriuBackward0 TrilBackward0
tensor([[0., 1., 1.],
        [0., 1., 1.]])
tensor([-1,  0,  1]) tensor([-3,  0,  7])
[tensor([66.6667]), tensor([66.6667])]"#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(
        r#"import torch
a = torch.tensor([[1., 3., 3.], [-1., 0., 2.]], requires_grad=True)
print(a.sin(), torch.cos(a))
print(torch.log1p(a.abs()), a.expm1(), torch.rsqrt(a.abs() + 1))
print(torch.sign(a), a.floor(), torch.ceil(a * 0.5), torch.trunc(-a * 0.5), torch.fix(a * 0.3))
print(a.round(decimals=1), torch.round(a * 0.25), type(a.round(decimals=0).grad_fn).__name__)
print(torch.sort(a, dim=1, descending=True))
v, i = torch.topk(a, 2)
print(v, i, type(v.grad_fn).__name__)
print(type(a.sort(stable=True)[0].grad_fn).__name__, type(a.sort(0)[0].grad_fn).__name__)
print(a.argsort(dim=1), torch.argsort(a, 0, True))
print(torch.tril(a), a.tril(1), type(a.triu().grad_fn).__name__, type(a.tril().grad_fn).__name__)
v.sum().backward()
print(a.grad)
print(torch.tensor([-3, 0, 7]).sign(), torch.tensor([-3, 0, 7]).floor())
output = torch.tensor([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05], [0.3, 0.3, 0.4]])
target = torch.tensor([1, 2, 2])
maxk = 2
_, pred = output.topk(maxk, 1, True, True)
pred = pred.t()
correct = pred.eq(target.view(1, -1).expand_as(pred))
res = []
for k in (1, 2):
    correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
    res.append(correct_k.mul_(100.0 / 3))
print(res)
"#,
        &lines,
    );
}

#[test]
fn checks_cumsum_flip_and_repeat_print_as_pytorch_prints_them() {
    let expected = r#"tensor(False) tensor(True) tensor(True) tensor([False,  True]) tensor([[ True],
        [False]])
tensor([False,  True,  True, False]) tensor([ True, False, False])
tensor(True) tensor([False, False]) tensor([True])
tensor([[ 1., -1.,  2.],
        [ 0.,  5., -1.]], grad_fn=<CumsumBackward0>) tensor([[ 1., -2.,  3.],
        [ 1.,  3., -3.]], grad_fn=<CumsumBackward0>) tensor([1, 3, 6]) tensor([1, 2])
tensor([[ 0.,  5., -6.],
        [ 1., -2.,  3.]], grad_fn=<FlipBackward0>) tensor([[-6.,  5.,  0.],
        [ 3., -2.,  1.]], grad_fn=<FlipBackward0>) tensor([[ 3., -2.,  1.],
        [-6.,  5.,  0.]], grad_fn=<FlipBackward0>)
tensor([[ 1., -2.,  3.],
        [ 0.,  5., -6.],
        [ 1., -2.,  3.],
        [ 0.,  5., -6.]], grad_fn=<RepeatBackward0>) [1, 4, 6] tensor([1, 2, 1, 2, 1, 2]) [4, 6]
CumsumBackward0 FlipBackward0 RepeatBackward0
tensor([[6., 5., 3.],
        [6., 5., 3.]])
tensor([[ 81.,  87.,  93.],
        [117., 123., 129.]])
tensor([[3., 2., 1.],
        [3., 2., 1.]])
Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor
dim 0 appears multiple times in the list of dims"#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(
        r#"import torch
x = torch.tensor([[1., -2., 3.], [0., 5., -6.]], requires_grad=True)
loss = (x * x).sum()
print(torch.isnan(loss).any(), torch.isfinite(x).all(), x.any(), (x > 4).any(dim=1), torch.all(x != 0, 1, keepdim=True))
print(torch.isinf(torch.tensor([1., float('inf'), -float('inf'), float('nan')])), torch.isfinite(torch.tensor([1., float('inf'), float('nan')])))
print(torch.tensor([1, 0]).any(), torch.tensor([3, 4]).isinf(), torch.isfinite(torch.tensor([3])))
c = x.cumsum(1)
print(c, torch.cumsum(x, dim=0), torch.tensor([1, 2, 3]).cumsum(0), torch.tensor([True, True]).cumsum(0))
f = x.flip(0)
print(f, torch.flip(x, [0, 1]), x.flip(-1))
r = x.repeat(2, 1)
print(r, list(x.repeat(1, 2, 2).shape), torch.tensor([1, 2]).repeat(3), list(x.repeat((2, 2)).shape))
print(type(c.grad_fn).__name__, type(f.grad_fn).__name__, type(r.grad_fn).__name__)
(c * torch.tensor([1., 2., 3.])).sum().backward()
print(x.grad)
x.grad = None
(x.repeat(3, 1, 2) * torch.arange(36.).reshape(3, 2, 6)).sum().backward()
print(x.grad)
x.grad = None
(x.flip(1) * torch.tensor([1., 2., 3.])).sum().backward()
print(x.grad)
try:
    x.repeat(2)
except RuntimeError as e:
    print(e)
try:
    x.flip(0, 0)
except RuntimeError as e:
    print(e)
"#,
        &lines,
    );
}

/// `nn.Softplus`/`F.softplus`, `nn.Dropout2d`/`F.dropout2d` (eval mode returns the input;
/// `p=1` zeroes), `F.pad`'s constant mode with cropping and its errors.
#[test]
fn softplus_dropout2d_and_pad_print_as_pytorch_prints_them() {
    let expected = r#"Softplus(beta=1.0, threshold=20.0) Softplus(beta=2.0, threshold=10.0) tensor([[9.3576e-14, 3.1326e-01, 6.9315e-01],
        [9.7408e-01, 2.1269e+00, 2.5000e+01]], grad_fn=<SoftplusBackward0>)
tensor([[4.3783e-27, 6.3464e-02, 3.4657e-01],
        [6.5663e-01, 2.0091e+00, 2.5000e+01]], grad_fn=<SoftplusBackward0>) SoftplusBackward0
tensor([[9.3576e-14, 3.8814e-01, 1.0000e+00],
        [1.3535e+00, 1.8628e+00, 2.0000e+00]])
Dropout2d(p=0.25, inplace=False) Dropout2d(p=0.5, inplace=False)
True
True
tensor(0., grad_fn=<SumBackward0>) MulBackward0
tensor([[  0.0000, -30.0000,  -1.0000,   0.0000,   0.0000,   0.0000],
        [  0.0000,   0.5000,   2.0000,  25.0000,   0.0000,   0.0000]],
       grad_fn=<ConstantPadNdBackward0>) ConstantPadNdBackward0
tensor([[ -1.0000,  -1.0000,  -1.0000,  -1.0000,  -1.0000],
        [ -1.0000, -30.0000,  -1.0000,   0.0000,  -1.0000],
        [ -1.0000,   0.5000,   2.0000,  25.0000,  -1.0000]],
       grad_fn=<ConstantPadNdBackward0>)
tensor([[-1.,  0.],
        [ 2., 25.]], grad_fn=<ConstantPadNdBackward0>) tensor([[-30.0000,  -1.0000,   0.0000],
        [  0.5000,   2.0000,  25.0000],
        [  3.0000,   3.0000,   3.0000]], grad_fn=<ConstantPadNdBackward0>)
tensor([[ 1.0000,  2.3881,  4.0000],
        [ 8.3535,  9.8628, 11.0000]])
Padding length must be divisible by 2
narrow(): length must be non-negative."#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(
        r#"import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
x = torch.tensor([[-30., -1., 0.], [0.5, 2., 25.]], requires_grad=True)
sp = nn.Softplus()
y = sp(x)
print(sp, nn.Softplus(beta=2.0, threshold=10.0), y)
z = F.softplus(x, beta=2.0, threshold=10.0)
print(z, type(z.grad_fn).__name__)
(y.sum() + z.sum()).backward()
print(x.grad)
d = nn.Dropout2d(0.25)
print(d, nn.Dropout2d())
d.eval()
img = torch.ones(2, 3, 2, 2, requires_grad=True)
print(d(img) is img)
print(F.dropout2d(img, 0.5, training=False) is img)
print(F.dropout2d(img, 1.0).sum(), type(F.dropout2d(img, 0.3).grad_fn).__name__)
p = F.pad(x, (1, 2))
print(p, type(p.grad_fn).__name__)
print(F.pad(x, (1, 1, 1, 0), value=-1.0))
print(F.pad(x, [-1, 0]), F.pad(x, (0, 0, 0, 1), "constant", 3.0))
(p * torch.arange(12.).reshape(2, 6)).sum().backward()
print(x.grad)
try:
    F.pad(x, (1,))
except RuntimeError as e:
    print(e)
try:
    F.pad(x, (-4, 0))
except RuntimeError as e:
    print(e)
"#,
        &lines,
    );
}

/// The constructor settings layers without parameters keep as attributes (`dropout.p`,
/// `softplus.beta`), as 2.15 printed them.
#[test]
fn stateless_layers_answer_their_settings() {
    assert_prints_on_cpu_and_meta(
        r#"import torch.nn as nn
d = nn.Dropout(0.3)
print(d.p, d.inplace, nn.Dropout2d().p, nn.Softplus(beta=2.0).beta, nn.Softplus().threshold, nn.LeakyReLU(0.2).negative_slope, nn.ELU().alpha, nn.Flatten().start_dim, nn.Flatten().end_dim, nn.Softmax(dim=1).dim, nn.GELU().approximate, nn.SiLU().inplace)
"#,
        &["0.3 False 0.5 2.0 20.0 0.2 1.0 1 -1 1 none False"],
    );
}

/// `roll` by dimensions and of the flattened tensor (a transpose's logical order), its
/// gradient and its errors.
#[test]
fn roll_prints_as_pytorch_prints_it() {
    let expected = r#"tensor([[ 8.,  9., 10., 11.],
        [ 0.,  1.,  2.,  3.],
        [ 4.,  5.,  6.,  7.]], grad_fn=<RollBackward0>) RollBackward0
tensor([[ 9., 10., 11.,  8.],
        [ 1.,  2.,  3.,  0.],
        [ 5.,  6.,  7.,  4.]], grad_fn=<RollBackward0>) tensor([[10., 11.,  0.,  1.],
        [ 2.,  3.,  4.,  5.],
        [ 6.,  7.,  8.,  9.]], grad_fn=<RollBackward0>) tensor([[ 7.,  8.,  9., 10.],
        [11.,  0.,  1.,  2.],
        [ 3.,  4.,  5.,  6.]], grad_fn=<RollBackward0>)
tensor([[11.,  0.,  4.],
        [ 8.,  1.,  5.],
        [ 9.,  2.,  6.],
        [10.,  3.,  7.]], grad_fn=<RollBackward0>)
tensor([[ 6.,  7.,  4.,  5.],
        [10., 11.,  8.,  9.],
        [ 2.,  3.,  0.,  1.]])
shifts and dimensions must align. shifts: 2, dims:0
shifts and dimensions must align. shifts: 2, dims:1"#;
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(
        r#"import torch
x = torch.arange(12.).reshape(3, 4).requires_grad_()
r = x.roll(1, 0)
print(r, type(r.grad_fn).__name__)
print(torch.roll(x, (1, -1), (0, 1)), x.roll(2), torch.roll(x, shifts=5))
print(x.t().roll(1))
(torch.roll(x, (1, 2), dims=(0, 1)) * torch.arange(12.).reshape(3, 4)).sum().backward()
print(x.grad)
try:
    x.roll((1, 2))
except RuntimeError as e:
    print(e)
try:
    x.roll((1, 2), 0)
except RuntimeError as e:
    print(e)
"#,
        &lines,
    );
}
