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
