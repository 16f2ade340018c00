# backward(create_graph=True) leaves w.grad with a grad_fn whose graph holds w (the cycle of pytorch#7343) until w.grad is reset; torch.autograd.grad(create_graph=True) returns the gradient with its graph and touches no .grad.
#@ expect: clean
import torch

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()

w = torch.randn(256, device=device, requires_grad=True)  # 1024 B
loss = (w * w).sum()  # 512 B; MulBackward0 saves w twice
base = torch.cuda.memory_allocated()
loss.backward(create_graph=True)
# w.grad (1024 B) is CopyBackwards <- AddBackward0 <- two MulBackward0 of the backward pass,
# each saving the seed gradient (a 0-dim ones, 512 B, expanded) and w: the graph reaches w
# through its AccumulateGrad, and w holds the graph through .grad.
assert w.grad.grad_fn is not None
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 1024 + 512
    # Peak: the seed, both products and their out-of-place sum.
    assert torch.cuda.max_memory_allocated() == base + 512 + 3 * 1024
w.grad = None  # breaks the cycle: the backward graph and its seed go
if on_gpu:
    assert torch.cuda.memory_allocated() == base

# autograd.grad: the same graph, returned instead of stored.
x = torch.randn(256, device=device, requires_grad=True)
before = torch.cuda.memory_allocated()
(gx,) = torch.autograd.grad((x * x).sum(), x, create_graph=True)
assert x.grad is None
assert gx.grad_fn is not None
if on_gpu:
    # gx is the out-of-place sum of the two products (no copy, nothing accumulated), and
    # keeps the seed; the loss of the call and its graph are gone.
    assert torch.cuda.memory_allocated() - before == 1024 + 512
del gx
if on_gpu:
    assert torch.cuda.memory_allocated() == before
