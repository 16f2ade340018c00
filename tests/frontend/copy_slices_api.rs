//! In-place writes into views of tensors in a graph (PyTorch's CopySlices) and
//! `torch.nn.utils.rnn.pad_sequence`, from Python: the base's `grad_fn` becomes CopySlices with
//! the base's previous history and the operation's other inputs as its next functions, the
//! view's becomes AsStridedBackward0, gradients flow through both, leaves and their views
//! refuse in-place operations with 2.15's wording, and `pad_sequence` chains one CopySlices per
//! sequence. `EXPECTED` is what torch 2.15.0 (CPU) printed for `PROGRAM`; node names are
//! compared without the `torch::autograd::` namespace 2.15's `name()` gives the nodes written
//! in C++ (CopySlices, AccumulateGrad), which this engine's `name()` leaves out.

const PROGRAM: &str = r#"import torch
from torch.nn.utils.rnn import pad_sequence


def names(fn):
    return [(f.name().split("::")[-1] if f is not None else None, n) for f, n in fn.next_functions]


a = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
b = a * torch.tensor(2.0)
v = b[:, 0]
v.mul_(torch.tensor([3.0, 3.0, 3.0]))
print(b.grad_fn.name().split("::")[-1], names(b.grad_fn), v.grad_fn.name(), names(v.grad_fn))
print(b.tolist(), v.tolist(), b.requires_grad, b.is_leaf)
(b * torch.tensor([[1.0, 10.0], [100.0, 1000.0], [1.0, 1.0]])).sum().backward()
print(a.grad.tolist())
out = torch.zeros(2, 5)
s = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
out[0, :3] = s
t = torch.tensor([4.0, 5.0], requires_grad=True)
out.narrow(1, 3, 2)[1].copy_(t)
print(out.grad_fn.name().split("::")[-1], names(out.grad_fn), names(out.grad_fn.next_functions[0][0]))
print(out.tolist(), out.requires_grad, out.is_leaf)
(out * torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0, 9.0]])).sum().backward()
print(s.grad.tolist(), t.grad.tolist())
w = torch.ones(3, requires_grad=True)


def assign():
    w[0] = 1.0


for f in (lambda: w[0].mul_(2), assign, lambda: w.mul_(2)):
    try:
        f()
    except RuntimeError as e:
        print(e)
with torch.no_grad():
    w[0] = 5.0
print(w.grad_fn, w.tolist())
x = torch.ones(3, 2, requires_grad=True)
y = torch.full((1, 2), 2.0, requires_grad=True)
z = torch.full((2, 2), 3.0, requires_grad=True)
p = pad_sequence([x, y, z], batch_first=True, padding_value=-1.0)
print(tuple(p.shape), p.grad_fn.name().split("::")[-1], names(p.grad_fn), names(p.grad_fn.next_functions[0][0]))
print(p.tolist())
q = pad_sequence([x, y, z], padding_side="left")
print(tuple(q.shape), q[:, 1].tolist(), q[:, 2].tolist())
(p * torch.tensor([[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], [[6.0, 7.0], [8.0, 9.0], [10.0, 11.0]], [[12.0, 13.0], [14.0, 15.0], [16.0, 17.0]]])).sum().backward()
print(x.grad.tolist(), y.grad.tolist(), z.grad.tolist())
print(pad_sequence([torch.ones(2), torch.ones(1)]).tolist(), pad_sequence((torch.ones(1), torch.ones(3)), True).tolist())
for bad in ([], [x], 5):
    try:
        pad_sequence(bad, padding_side="middle") if bad == [x] else pad_sequence(bad)
    except RuntimeError as e:
        print(e)
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "CopySlices [('MulBackward0', 0), (None, 0)] AsStridedBackward0 [('CopySlices', 0)]",
    "[[6.0, 4.0], [18.0, 8.0], [30.0, 12.0]] [6.0, 18.0, 30.0] True False",
    "[[6.0, 20.0], [600.0, 2000.0], [6.0, 2.0]]",
    "CopySlices [('CopySlices', 0), ('AccumulateGrad', 0)] [(None, 0), ('AccumulateGrad', 0)]",
    "[[1.0, 2.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 4.0, 5.0]] True False",
    "[0.0, 1.0, 2.0] [8.0, 9.0]",
    "a view of a leaf Variable that requires grad is being used in an in-place operation.",
    "a view of a leaf Variable that requires grad is being used in an in-place operation.",
    "a leaf Variable that requires grad is being used in an in-place operation.",
    "None [5.0, 1.0, 1.0]",
    "(3, 3, 2) CopySlices [('CopySlices', 0), ('AccumulateGrad', 0)] [('CopySlices', 0), ('AccumulateGrad', 0)]",
    "[[[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], [[2.0, 2.0], [-1.0, -1.0], [-1.0, -1.0]], [[3.0, 3.0], [3.0, 3.0], [-1.0, -1.0]]]",
    "(3, 3, 2) [[0.0, 0.0], [0.0, 0.0], [2.0, 2.0]] [[0.0, 0.0], [3.0, 3.0], [3.0, 3.0]]",
    "[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]] [[6.0, 7.0]] [[12.0, 13.0], [14.0, 15.0]]",
    "[[1.0, 1.0], [1.0, 0.0]] [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]",
    "received an empty list of sequences",
    "Expected padding_side to be one of left or right, but got middle.",
    "pad_sequence: Expected iterable for input sequences, but got arg of type: <class 'int'>",
];

#[test]
fn copy_slices_and_pad_sequence_print_what_pytorch_prints() {
    crate::assert_prints_on_cpu_and_meta(PROGRAM, EXPECTED);
}
