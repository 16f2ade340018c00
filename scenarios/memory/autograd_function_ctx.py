# A torch.autograd.Function's node owns its ctx: save_for_backward'd tensors go at backward, tensors set as ctx attributes stay as long as the graph; ctx.out = out is a reference cycle only the cyclic collector frees.
#@ expect: clean
import gc

import torch

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()


class Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        ctx.noise = torch.randn(2048, device=device)  # 8192 B on ctx
        ctx.save_for_backward(x)
        assert ctx.needs_input_grad == (True, False)
        return x * k

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.k, None


class KeepOutput(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x * 2
        ctx.out = out  # output -> grad_fn -> ctx -> output
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


x = torch.randn(1024, device=device, requires_grad=True)  # 4096 B
base = torch.cuda.memory_allocated()
y = Scale.apply(x, 3.0)
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 4096 + 8192, "the output and ctx.noise"
y.sum().backward()
assert x.grad is not None
if on_gpu:
    # Backward frees the saved x reference (x itself stays), not ctx's attributes.
    assert torch.cuda.memory_allocated() - base == 4096 + 8192 + 4096
del y
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 4096, "the graph, ctx and ctx.noise go"

with torch.no_grad():
    z = Scale.apply(x, 2.0)
assert not z.requires_grad
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 4096 + 4096, "no node: ctx went at once"
del z

x.grad = None
base = torch.cuda.memory_allocated()
o = KeepOutput.apply(x)
del o
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 4096, "the cycle keeps the output"
gc.collect()
if on_gpu:
    assert torch.cuda.memory_allocated() == base
