//! Torch surface v2's gaps real scripts hit (issue 13), each as PyTorch 2.15.0 (CPU) printed
//! it for the same program: `max()`/`min()` of every element and `torch.max(a, b)`;
//! `div(rounding_mode=)`, `div_` and `alpha=`; tensors printed by `torch/_tensor_str.py`'s
//! rules (integer mode `1.`, scientific mode, the common width, rows broken at 80 columns,
//! summaries past 1000 elements); and layers' constructor settings read from the layer's own
//! configuration (a grouped Conv's `in_channels`); `nn.init`'s normal initializers (their
//! spread checked against the standard deviation 2.15 computes from fans and gains) and
//! `eye_`. The programs run on host tensors, so the meta backend must print the same.

use super::assert_prints_on_cpu_and_meta;

fn check(program: &str, expected: &str) {
    let lines: Vec<&str> = expected.lines().collect();
    assert_prints_on_cpu_and_meta(program, &lines);
}

#[test]
fn full_extremes_rounding_and_alpha() {
    check(
        r#"import torch
x = torch.tensor([[1., 3., 3.], [-1., 0., 2.]], requires_grad=True)
m = x.max()
print(m, torch.min(x), type(m.grad_fn).__name__)
m.backward()
print(x.grad)
print(torch.max(x, 1)[0], x.min(dim=0)[1])
print(torch.max(x, torch.zeros(2, 3)))
print(type(x.max(torch.ones(2, 3)).grad_fn).__name__)
print(torch.tensor([3, 7, -2]).max(), torch.tensor([True, False]).min())
a = torch.tensor([7., -7., 5.5, -5.5])
print(a.div(2, rounding_mode='trunc'), a.div(2, rounding_mode='floor'), torch.div(a, 2, rounding_mode=None))
print(torch.div(a, torch.tensor([2., -2., 2., -2.]), rounding_mode='floor'))
b = a.clone()
b.div_(3, rounding_mode='floor')
print(b)
y = torch.tensor([1., 2.], requires_grad=True)
q = y.div(torch.tensor([2., 2.]), rounding_mode='floor')
print(type(q.grad_fn).__name__, type(y.div(y, rounding_mode=None).grad_fn).__name__)
q.sum().backward()
print(y.grad)
z = y.add(torch.tensor([1., 1.]), alpha=2)
w = y.sub(torch.tensor([1., 1.]), alpha=3)
print(z, w, type(w.grad_fn).__name__)
print(y.add(2, alpha=3).tolist(), y.sub(1, alpha=0.5).tolist())
"#,
        r#"tensor(3., grad_fn=<MaxBackward1>) tensor(-1., grad_fn=<MinBackward1>) MaxBackward1
tensor([[0.0000, 0.5000, 0.5000],
        [0.0000, 0.0000, 0.0000]])
tensor([3., 2.], grad_fn=<MaxBackward0>) tensor([1, 1, 1])
tensor([[1., 3., 3.],
        [0., 0., 2.]], grad_fn=<MaximumBackward0>)
MaximumBackward0
tensor(7) tensor(False)
tensor([ 3., -3.,  2., -2.]) tensor([ 3., -4.,  2., -3.]) tensor([ 3.5000, -3.5000,  2.7500, -2.7500])
tensor([3., 3., 2., 2.])
tensor([ 2., -3.,  1., -2.])
DivBackward2 DivBackward2
tensor([0., 0.])
tensor([3., 4.], grad_fn=<AddBackward0>) tensor([-2., -1.], grad_fn=<SubBackward0>) SubBackward0
[7.0, 8.0] [0.5, 1.5]"#,
    );
}

#[test]
fn tensors_print_as_pytorch_prints_them() {
    check(
        r#"import torch
print(torch.tensor([1., 2.]))
print(torch.tensor([1.5, -2.0, 3.25]))
print(torch.tensor([[1., -0.], [100., 2.]]))
print(torch.tensor([1e-5, 1.0]))
print(torch.tensor([1e9, 1.0]))
print(torch.tensor([0., 0.]))
print(torch.tensor([float('nan'), 1.0, float('inf')]))
print(torch.tensor([float('nan'), 1.5]))
print(torch.tensor(3.))
print(torch.tensor(-0.))
print(torch.tensor(2.5))
print(torch.tensor([[r * 4 + c for c in range(4)] for r in range(3)]))
print(torch.tensor([float(i) for i in range(24)]).reshape(2, 3, 4))
print(torch.tensor([True, False]))
print(torch.tensor([-10, 5, 100]))
print(torch.tensor([float(i) for i in range(2000)]))
print(torch.tensor([float(i) for i in range(30)]) / 7)
print(torch.ones(2, 3, requires_grad=True))
print(torch.tensor([1, 2], dtype=torch.int32))
print(torch.zeros(0, 3))
print(torch.tensor([], dtype=torch.int64))
print(torch.tensor([0.1, 0.25], dtype=torch.float64))
print(torch.tensor([i * 1000 for i in range(100)]).reshape(10, 10))
"#,
        r#"tensor([1., 2.])
tensor([ 1.5000, -2.0000,  3.2500])
tensor([[  1.,  -0.],
        [100.,   2.]])
tensor([1.0000e-05, 1.0000e+00])
tensor([1.0000e+09, 1.0000e+00])
tensor([0., 0.])
tensor([nan, 1., inf])
tensor([   nan, 1.5000])
tensor(3.)
tensor(-0.)
tensor(2.5000)
tensor([[ 0,  1,  2,  3],
        [ 4,  5,  6,  7],
        [ 8,  9, 10, 11]])
tensor([[[ 0.,  1.,  2.,  3.],
         [ 4.,  5.,  6.,  7.],
         [ 8.,  9., 10., 11.]],

        [[12., 13., 14., 15.],
         [16., 17., 18., 19.],
         [20., 21., 22., 23.]]])
tensor([ True, False])
tensor([-10,   5, 100])
tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,
        1.9990e+03])
tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,
        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,
        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,
        3.8571, 4.0000, 4.1429])
tensor([[1., 1., 1.],
        [1., 1., 1.]], requires_grad=True)
tensor([1, 2], dtype=torch.int32)
tensor([], size=(0, 3))
tensor([], dtype=torch.int64)
tensor([0.1000, 0.2500], dtype=torch.float64)
tensor([[    0,  1000,  2000,  3000,  4000,  5000,  6000,  7000,  8000,  9000],
        [10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18000, 19000],
        [20000, 21000, 22000, 23000, 24000, 25000, 26000, 27000, 28000, 29000],
        [30000, 31000, 32000, 33000, 34000, 35000, 36000, 37000, 38000, 39000],
        [40000, 41000, 42000, 43000, 44000, 45000, 46000, 47000, 48000, 49000],
        [50000, 51000, 52000, 53000, 54000, 55000, 56000, 57000, 58000, 59000],
        [60000, 61000, 62000, 63000, 64000, 65000, 66000, 67000, 68000, 69000],
        [70000, 71000, 72000, 73000, 74000, 75000, 76000, 77000, 78000, 79000],
        [80000, 81000, 82000, 83000, 84000, 85000, 86000, 87000, 88000, 89000],
        [90000, 91000, 92000, 93000, 94000, 95000, 96000, 97000, 98000, 99000]])"#,
    );
}

#[test]
fn layer_settings_come_from_the_layer() {
    check(
        r#"import torch
import torch.nn as nn
conv = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4)
c1 = nn.Conv1d(4, 6, 5, padding='same', dilation=2)
print(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, conv.padding_mode)
print(c1.in_channels, c1.kernel_size, c1.padding, c1.dilation, c1.groups)
bn = nn.BatchNorm1d(6, eps=1e-3, momentum=None, affine=False)
print(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
ln = nn.LayerNorm(10, elementwise_affine=False)
print(ln.normalized_shape, ln.eps, ln.elementwise_affine)
emb = nn.Embedding(20, 4, padding_idx=0)
print(emb.num_embeddings, emb.embedding_dim, emb.padding_idx, nn.Embedding(3, 2).padding_idx)
"#,
        r#"8 16 (3, 3) (2, 2) (1, 1) (1, 1) 4 zeros
4 (5,) same (2,) 1
6 0.001 None False True
(10,) 1e-05 False
20 4 0 None"#,
    );
}

#[test]
fn normal_initializers_use_pytorchs_fans_and_gains() {
    check(
        r#"import torch
import torch.nn as nn
w = torch.empty(300, 200)
r = nn.init.normal_(w, mean=3.0, std=0.5)
print(r is w, abs(w.mean().item() - 3.0) < 0.02, abs(w.std().item() - 0.5) < 0.01)
nn.init.xavier_normal_(w, gain=2.0)
print(abs(w.std().item() - 2.0 * (2 / 500) ** 0.5) / (2.0 * (2 / 500) ** 0.5) < 0.02)
k = torch.empty(64, 16, 3, 3)
nn.init.kaiming_normal_(k, mode='fan_out', nonlinearity='relu')
print(abs(k.std().item() - (2 / (64 * 9)) ** 0.5) / (2 / (64 * 9)) ** 0.5 < 0.02)
nn.init.kaiming_normal_(k)
print(abs(k.std().item() - (2 / (16 * 9)) ** 0.5) / (2 / (16 * 9)) ** 0.5 < 0.02, abs(k.mean().item()) < 0.01)
e = torch.empty(2, 3)
print(nn.init.eye_(e))
p = nn.Parameter(torch.empty(3, 3))
nn.init.eye_(p)
print(p.requires_grad, p.is_leaf, p.grad_fn)
try:
    nn.init.eye_(torch.empty(3))
except ValueError as err:
    print(err)
"#,
        r#"True True True
True
True
True True
tensor([[1., 0., 0.],
        [0., 1., 0.]])
True True None
Only tensors with 2 dimensions are supported"#,
    );
}

/// An integer tensor's rounded quotient by a number stays int64 (floor and trunc as ATen's
/// integer kernels), in place too; the integer zero is PyTorch's ZeroDivisionError.
#[test]
fn integer_rounded_division_stays_integer() {
    check(
        r#"import torch
i = torch.tensor([7, -7, 6, -1])
print(i.div(2, rounding_mode='floor'), i.div(2, rounding_mode='trunc'), torch.div(i, -4, rounding_mode='floor'))
print(i.div(2, rounding_mode='floor').dtype, i.div(2.5, rounding_mode='floor'))
w = torch.tensor([5, 7])
w.div_(2, rounding_mode='trunc')
print(w)
try:
    i.div(0, rounding_mode='floor')
except RuntimeError as e:
    print(e)
"#,
        r#"tensor([ 3, -4,  3, -1]) tensor([ 3, -3,  3,  0]) tensor([-2,  1, -2,  0])
torch.int64 tensor([ 2., -3.,  2., -1.])
tensor([2, 3])
ZeroDivisionError"#,
    );
}
