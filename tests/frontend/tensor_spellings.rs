//! Tensor methods and `torch.*` functions that are other spellings of operations the runtime
//! has (`x.eq(y)`, `torch.gt`, `neg`, `square`, `mm`, `expand`/`expand_as`/`view_as`,
//! `type_as`, `masked_fill`, `div_`, `stride`, `storage_offset`, `is_contiguous`, `nelement`,
//! `ndimension`, `ndim`, `_version`, `x.data`, `sum`/`mean` over a tuple of dims, `to(...,
//! non_blocking=True)`), the `*_like` and `new_*` factories, and `arange`, `linspace`, `eye`.
//! `EXPECTED` is what torch 2.15.0 (CPU) printed for `PROGRAM`, on host tensors, so cpu and
//! meta must print the same; `MEMORY` pins the device bytes each allocates (the caching
//! allocator's 512-byte rounding), identical on both backends. And the loss modules
//! `nn.L1Loss`, `nn.NLLLoss`, `nn.SmoothL1Loss`.

use leakharness::device::Backend;

const PROGRAM: &str = r#"import torch
a = torch.ones(3, requires_grad=True)
c = (a * 1).exp()
c.data.add_(1)
c.sum().backward()
print(a.grad.tolist(), c._version)
c2 = (a * 1).exp()
c2.detach().add_(1)
try:
    c2.sum().backward()
except RuntimeError as e:
    print(str(e)[:80])
x = torch.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]])
print(x.eq(1.0).tolist(), torch.ne(x, x).tolist(), x.lt(0).tolist(), x.le(3).tolist(), torch.gt(x, 2).tolist(), x.ge(x).tolist())
print(x.neg().tolist(), torch.square(x).tolist(), x.mm(x.t()).tolist())
print(x.expand(2, 2, 3).tolist(), x[0].expand_as(x).tolist(), x.view_as(torch.empty(3, 2)).tolist())
print(x.masked_fill(x < 0, float('-inf')).tolist(), x.tolist())
y = x.clone()
y.div_(2)
print(y.tolist())
print(x.t().stride(), x.t().is_contiguous(), x[1].storage_offset(), x[:, 1].stride(0), x.nelement(), x.ndimension(), x.ndim)
print(x.sum(dim=(0, 1)).item(), x.sum((1,)).tolist(), x.mean([0, 1]).item(), torch.sum(x, 0).tolist(), torch.mean(x, dim=1, keepdim=True).tolist())
print(torch.zeros_like(x).tolist(), torch.ones_like(x, dtype=torch.int64).tolist(), torch.full_like(x, 2.5).tolist(), torch.empty_like(x).dtype)
print(x.new_zeros(2).tolist(), x.new_ones((1, 2)).tolist(), x.new_full((2,), 7).tolist(), x.new_tensor([1, 2]).tolist(), x.new_tensor([3]).dtype, x.long().new_zeros(1).dtype)
print(torch.arange(5).tolist(), torch.arange(2, 8, 3).tolist(), torch.arange(0, 1, 0.25).tolist(), torch.arange(5.0).dtype, torch.arange(3, dtype=torch.float64).tolist())
print(torch.arange(10, 0, -3).tolist(), torch.arange(start=1, end=4).tolist(), torch.arange(end=2).tolist())
print(torch.linspace(-1, 1, 5).tolist(), torch.linspace(0, 1, 1).tolist(), torch.linspace(2, 3, 0).tolist(), torch.eye(2).tolist(), torch.eye(2, 3).tolist(), torch.eye(1, dtype=torch.int64).tolist())
print(torch.numel(x), torch.clone(x).tolist() == x.tolist(), torch.pow(x, 2).tolist(), x.type_as(torch.ones(1, dtype=torch.int64)).tolist())
print(torch.randn_like(x).shape == x.shape, torch.rand_like(x).dtype, torch.zeros_like(x, requires_grad=True).requires_grad)
try:
    torch.arange(1, 0)
except RuntimeError as e:
    print('torch.arange(1, 0)', '->', e)
try:
    torch.arange(0, 1, 0)
except RuntimeError as e:
    print('torch.arange(0, 1, 0)', '->', e)
try:
    x.expand(3)
except RuntimeError as e:
    print('x.expand(3)', '->', e)
try:
    torch.eye(-1)
except RuntimeError as e:
    print('torch.eye(-1)', '->', e)
try:
    torch.linspace(0, 1, -1)
except RuntimeError as e:
    print('torch.linspace(0, 1, -1)', '->', e)
"#;

/// torch 2.15.0 (CPU), line for line. `x.data` has a version counter of its own: an in-place
/// write through it is not seen by the ExpBackward0 that saved the tensor, where one through
/// `detach()` is.
const EXPECTED: &[&str] = &[
    r#"[3.7182817459106445, 3.7182817459106445, 3.7182817459106445] 0"#,
    r#"one of the variables needed for gradient computation has been modified by an inp"#,
    r#"[[True, False, False], [False, False, False]] [[False, False, False], [False, False, False]] [[False, True, False], [False, False, True]] [[True, True, True], [False, False, True]] [[False, False, True], [True, True, False]] [[True, True, True], [True, True, True]]"#,
    r#"[[-1.0, 2.0, -3.0], [-4.0, -5.0, 6.0]] [[1.0, 4.0, 9.0], [16.0, 25.0, 36.0]] [[14.0, -24.0], [-24.0, 77.0]]"#,
    r#"[[[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], [[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]]] [[1.0, -2.0, 3.0], [1.0, -2.0, 3.0]] [[1.0, -2.0], [3.0, 4.0], [5.0, -6.0]]"#,
    r#"[[1.0, -inf, 3.0], [4.0, 5.0, -inf]] [[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]]"#,
    r#"[[0.5, -1.0, 1.5], [2.0, 2.5, -3.0]]"#,
    r#"(1, 3) False 3 3 6 2 2"#,
    r#"5.0 [2.0, 3.0] 0.8333333134651184 [5.0, 3.0, -3.0] [[0.6666666865348816], [1.0]]"#,
    r#"[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]] [[1, 1, 1], [1, 1, 1]] [[2.5, 2.5, 2.5], [2.5, 2.5, 2.5]] torch.float32"#,
    r#"[0.0, 0.0] [[1.0, 1.0]] [7.0, 7.0] [1.0, 2.0] torch.float32 torch.int64"#,
    r#"[0, 1, 2, 3, 4] [2, 5] [0.0, 0.25, 0.5, 0.75] torch.float32 [0.0, 1.0, 2.0]"#,
    r#"[10, 7, 4, 1] [1, 2, 3] [0, 1]"#,
    r#"[-1.0, -0.5, 0.0, 0.5, 1.0] [0.0] [] [[1.0, 0.0], [0.0, 1.0]] [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] [[1]]"#,
    r#"6 True [[1.0, 4.0, 9.0], [16.0, 25.0, 36.0]] [[1, -2, 3], [4, 5, -6]]"#,
    r#"True torch.float32 True"#,
    r#"torch.arange(1, 0) -> upper bound and lower bound inconsistent with step sign"#,
    r#"torch.arange(0, 1, 0) -> step must be nonzero"#,
    r#"x.expand(3) -> expand(torch.FloatTensor{[2, 3]}, size=[3]): the number of sizes provided (1) must be greater or equal to the number of dimensions in the tensor (2)"#,
    r#"torch.eye(-1) -> n must be greater or equal to 0, got -1"#,
    r#"torch.linspace(0, 1, -1) -> number of steps must be non-negative"#,
];

#[test]
fn spellings_print_what_pytorch_printed() {
    super::assert_prints_on_cpu_and_meta(PROGRAM, EXPECTED);
}

/// Device bytes after each step. Views (`.data`, `expand`), `stride()` and a `to()` that moves
/// nothing allocate nothing; `arange(1000)` is 8,000 int64 bytes (8,192 rounded);
/// `zeros_like`, `new_zeros`, `masked_fill`, `eye`, `square` one 512-byte block each;
/// `masked_fill`'s node keeps its mask alive after `del mask`, until the result goes; an
/// in-place `clamp_` or `pow_` under autograd keeps a clone of the values it overwrote (the
/// node's `original_self`) until the tensor goes.
const MEMORY: &str = r#"import torch
x = torch.randn(4, 5, device="cuda", requires_grad=True)
print(torch.cuda.memory_allocated())
d = x.data
e = x.expand(3, 4, 5)
s = x.stride()
print(torch.cuda.memory_allocated(), d.requires_grad, e.grad_fn.name())
a = torch.arange(1000, device="cuda")
print(torch.cuda.memory_allocated(), a.dtype)
z = torch.zeros_like(x)
print(torch.cuda.memory_allocated(), z.is_cuda)
n = x.new_zeros(3)
print(torch.cuda.memory_allocated(), n.is_cuda)
mask = x > 0
m = x.masked_fill(mask, 0.0)
print(torch.cuda.memory_allocated())
del mask
print(torch.cuda.memory_allocated())
del m
print(torch.cuda.memory_allocated())
i = torch.eye(3, device="cuda")
q = x.square()
y = x.to("cuda", non_blocking=True)
print(torch.cuda.memory_allocated(), y is x)
l = torch.linspace(0, 1, 200, device="cuda")
print(torch.cuda.memory_allocated())
c = x * 1
c.clamp_(0, 1)
print(torch.cuda.memory_allocated())
del c
print(torch.cuda.memory_allocated())
c = x * 1
c.pow_(2)
print(torch.cuda.memory_allocated())
del c
print(torch.cuda.memory_allocated())
"#;

#[test]
fn spellings_allocate_what_pytorch_allocates() {
    let expected = [
        "512",
        "512 False ExpandBackward0",
        "8704 torch.int64",
        "9216 True",
        "9728 True",
        "10752",
        "10752",
        "9728",
        "10752 True",
        "11776",
        "12800",
        "11776",
        "12800",
        "11776",
    ];
    for backend in [Backend::Cpu, Backend::Meta] {
        super::assert_prints(backend, MEMORY, &expected);
    }
}

/// `nn.L1Loss`, `nn.NLLLoss`, `nn.SmoothL1Loss` compute what their functionals do (NLL rounded:
/// the log-softmax in front of it differs from 2.15's in the last float32 bits).
const LOSS_MODULES: &str = r#"import torch
import torch.nn as nn
import torch.nn.functional as F
a = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
b = torch.tensor([[0.0, 1.0], [1.5, 0.5]])
logp = F.log_softmax(a, dim=1)
t = torch.tensor([1, 0])
print(nn.L1Loss(), nn.NLLLoss(), nn.SmoothL1Loss(beta=0.5))
print(nn.L1Loss()(a, b).item(), F.l1_loss(a, b).item())
print(nn.L1Loss(reduction="sum")(a, b).item(), nn.L1Loss(reduction="none")(a, b).tolist())
print(round(nn.NLLLoss()(logp, t).item(), 6), round(F.nll_loss(logp, t).item(), 6))
print(nn.SmoothL1Loss(beta=0.5)(a, b).item(), F.smooth_l1_loss(a, b, beta=0.5).item())
print(nn.SmoothL1Loss(reduction="sum")(a, b).item())
"#;

#[test]
fn loss_modules_print_what_pytorch_printed() {
    super::assert_prints_on_cpu_and_meta(
        LOSS_MODULES,
        &[
            r#"L1Loss() NLLLoss() SmoothL1Loss()"#,
            r#"0.8125 0.8125"#,
            r#"3.25 [[0.5, 2.0], [0.5, 0.25]]"#,
            r#"0.930819 0.930819"#,
            r#"0.578125 0.578125"#,
            r#"1.78125"#,
        ],
    );
}

/// In-place `clamp_` and `pow_` (under autograd through a clone of the old values; through
/// `.data`, the WGAN weight clip, without touching the parameter's version), `exp_`, `sqrt_`,
/// `reciprocal_` (their nodes save the result), and `reciprocal`.
const INPLACE: &str = r#"import torch
x = torch.tensor([-2.0, 0.5, 3.0], requires_grad=True)
y = x * 1
z = y.clamp_(0, 1)
print(z.grad_fn.name(), z._version, z.tolist(), z is y)
z.sum().backward()
print(x.grad.tolist())
w = torch.tensor([0.25, 1.0, 4.0])
w.clamp_(min=0.5)
print(w.tolist(), w._version)
w.clamp_(max=2)
print(w.tolist(), w._version)
p = torch.nn.Parameter(torch.tensor([-0.5, 0.002, 0.3]))
p.data.clamp_(-0.01, 0.01)
print(p.tolist(), p.requires_grad, p._version)
x.grad = None
e = (x * 1).exp_()
s = (x * 1).abs().sqrt_()
r = (x * 1).reciprocal_()
print(e.grad_fn.name(), s.grad_fn.name(), r.grad_fn.name(), [round(v, 4) for v in r.tolist()])
(e.sum() + s.sum() + r.sum()).backward()
print([round(v, 4) for v in x.grad.tolist()])
print(torch.reciprocal(torch.tensor([2.0, 4.0])).tolist(), torch.tensor([0.5]).reciprocal().tolist())
try:
    x.clamp_(0, 1)
except RuntimeError as err:
    print(err)
q = x * 1
q.pow_(2)
print(q.grad_fn.name(), q.tolist(), q._version)
q.sum().backward()
print(x.grad.tolist())
v = torch.tensor([1.5, -2.0])
v.pow_(3)
print(v.tolist(), v._version)
"#;

#[test]
fn inplace_spellings_print_what_pytorch_printed() {
    super::assert_prints_on_cpu_and_meta(
        INPLACE,
        &[
            r#"ClampBackward1 1 [0.0, 0.5, 1.0] True"#,
            r#"[0.0, 1.0, 0.0]"#,
            r#"[0.5, 1.0, 4.0] 1"#,
            r#"[0.5, 1.0, 2.0] 2"#,
            r#"[-0.009999999776482582, 0.0020000000949949026, 0.009999999776482582] True 0"#,
            r#"ExpBackward0 SqrtBackward0 ReciprocalBackward0 [-0.5, 2.0, 0.3333]"#,
            r#"[-0.4682, -1.6442, 20.2631]"#,
            r#"[0.5, 0.25] [2.0]"#,
            r#"a leaf Variable that requires grad is being used in an in-place operation."#,
            r#"PowBackward0 [4.0, 0.25, 9.0] 1"#,
            r#"[-4.4682183265686035, -0.644171953201294, 26.26310157775879]"#,
            r#"[3.375, -8.0] 1"#,
        ],
    );
}

/// `F.normalize`: values and the gradient 2.15 computed, and its graph's head.
const NORMALIZE: &str = r#"import torch
import torch.nn.functional as F
a = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]])
print([[round(v, 6) for v in r] for r in F.normalize(a).tolist()])
print([[round(v, 6) for v in r] for r in F.normalize(a, p=1, dim=0).tolist()])
b = torch.tensor([[3.0, 4.0], [1.0, 2.0]], requires_grad=True)
y = F.normalize(b, dim=1)
print(y.grad_fn.name(), y.grad_fn.next_functions[1][0].name())
y.sum().backward()
print([[round(v, 6) for v in r] for r in b.grad.tolist()])
"#;

#[test]
fn normalize_prints_what_pytorch_printed() {
    super::assert_prints_on_cpu_and_meta(
        NORMALIZE,
        &[
            r#"[[0.6, 0.8], [0.0, 0.0], [0.707107, -0.707107]]"#,
            r#"[[0.75, 0.8], [0.0, 0.0], [0.25, -0.2]]"#,
            r#"DivBackward0 ExpandBackward0"#,
            r#"[[0.032, -0.024], [0.178885, -0.089443]]"#,
        ],
    );
}

/// `F.normalize` of a 4×8 device tensor: without grad, the norm and the clamped norm (512 B
/// blocks) overlap once (peak 1,536 B over the input's 512) and only the output stays; with
/// grad, the norm (saved by ClampMinBackward0 and LinalgVectorNormBackward0) and the clamped
/// norm (saved by DivBackward0 through the expand view) stay with the output until it goes.
const NORMALIZE_MEMORY: &str = r#"import torch
import torch.nn.functional as F
x = torch.randn(4, 8, device="cuda")
torch.cuda.reset_peak_memory_stats()
y = F.normalize(x)
print(torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated())
w = torch.randn(4, 8, device="cuda", requires_grad=True)
z = F.normalize(w)
print(torch.cuda.memory_allocated())
del z
print(torch.cuda.memory_allocated())
"#;

#[test]
fn normalize_allocates_what_its_python_body_allocates() {
    for backend in [Backend::Cpu, Backend::Meta] {
        super::assert_prints(backend, NORMALIZE_MEMORY, &["1024 1536", "3072", "1536"]);
    }
}

/// `x.triu(diagonal)`, `addmm` (method and `torch.addmm`, AddmmBackward0), `torch.isnan`
/// (`self != self`: a bool tensor).
const MORE: &str = r#"import torch
a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
print(a.triu().tolist(), a.triu(1).tolist(), a.triu(diagonal=-1).tolist())
b = torch.tensor([1.0, -1.0, 0.5])
m = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
w = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], requires_grad=True)
y = torch.tensor([0.5, 1.5]).addmm(m.t(), w.t())
print(y.tolist(), y.grad_fn.name())
print(torch.addmm(torch.zeros(2), m.t(), m).tolist())
n = torch.tensor([1.0, float("nan"), 2.0])
print(torch.isnan(n).tolist(), n.isnan().dtype, torch.isnan(n).sum().item())
"#;

#[test]
fn triu_addmm_isnan_print_what_pytorch_printed() {
    super::assert_prints_on_cpu_and_meta(
        MORE,
        &[
            r#"[[1.0, 2.0, 3.0], [0.0, 5.0, 6.0], [0.0, 0.0, 9.0]] [[0.0, 2.0, 3.0], [0.0, 0.0, 6.0], [0.0, 0.0, 0.0]] [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [0.0, 8.0, 9.0]]"#,
            r#"[[7.5, 3.0], [8.5, 3.0]] AddmmBackward0"#,
            r#"[[5.0, 4.0], [4.0, 5.0]]"#,
            r#"[False, True, False] torch.bool 1"#,
        ],
    );
}

/// `retain_grad()` and `retains_grad`: a non-leaf's `.grad` is a clone of its gradient after
/// the tensor's own hooks have run (2.15 runs `retains_grad_hooks` last), summed over backward
/// passes; a no-op on a leaf; PyTorch's error without `requires_grad`.
const RETAIN_GRAD: &str = r#"import torch
x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
y = x * 2
y.retain_grad()
y.retain_grad()
z = (y * y).sum()
print(y.retains_grad, x.retains_grad, z.retains_grad)
z.backward(retain_graph=True)
print(y.grad.tolist(), x.grad.tolist(), y.grad.is_contiguous())
z.backward()
print(y.grad.tolist())
x.retain_grad()
print(x.retains_grad)
try:
    torch.ones(2).retain_grad()
except RuntimeError as e:
    print(e)
w = x.t() * 1
w.retain_grad()
def double(g):
    return g * 2
w.register_hook(double)
w.sum().backward()
print(w.grad.tolist(), w.grad.is_contiguous())
"#;

#[test]
fn retain_grad_prints_what_pytorch_printed() {
    super::assert_prints_on_cpu_and_meta(
        RETAIN_GRAD,
        &[
            r#"True False False"#,
            r#"[[4.0, 8.0], [12.0, 16.0]] [[8.0, 16.0], [24.0, 32.0]] True"#,
            r#"[[8.0, 16.0], [24.0, 32.0]]"#,
            r#"False"#,
            r#"can't retain_grad on Tensor that has requires_grad=False"#,
            r#"[[2.0, 2.0], [2.0, 2.0]] True"#,
        ],
    );
}

/// The retained gradient is one more 512 B block, kept as long as the tensor: x and x.grad,
/// y and y.grad after the backward (2,048 B); freed with y; without `retain_grad`, 1,536 B.
const RETAIN_GRAD_MEMORY: &str = r#"import torch
x = torch.randn(4, 8, device="cuda", requires_grad=True)
y = x * 2
y.retain_grad()
y.sum().backward()
print(torch.cuda.memory_allocated(), y.grad.is_cuda)
del y
print(torch.cuda.memory_allocated())
v = x * 2
v.sum().backward()
print(torch.cuda.memory_allocated(), v.grad)
"#;

#[test]
fn a_retained_gradient_lives_as_long_as_its_tensor() {
    for backend in [Backend::Cpu, Backend::Meta] {
        super::assert_prints(
            backend,
            RETAIN_GRAD_MEMORY,
            &["2048 True", "1024", "1536 None"],
        );
    }
}
