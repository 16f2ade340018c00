# Tensor.register_hook: the hook runs on the gradient in backward and may replace it; the tensor (or, for a non-leaf, its grad_fn) keeps the hook and what its closure captures until handle.remove().
#@ expect: clean
import torch

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
w = torch.randn(1024, device=device, requires_grad=True)  # 4096 B
calls = []


def make_hook():
    kept = torch.randn(4096, device=device)  # 16384 B, held only by the closure

    def hook(grad):
        calls.append(kept.numel())
        return grad * 2  # replaces the gradient

    return hook


base = torch.cuda.memory_allocated()
handle = w.register_hook(make_hook())
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 16384, "the leaf keeps the hook's capture"
(w * 3).sum().backward()
assert calls == [4096], "the hook ran once, in backward"
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 16384 + 4096
handle.remove()
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 4096, "removing the hook frees its capture"

# A hook on a non-leaf lives on its grad_fn; one that keeps its gradient keeps that
# gradient's storage (here the 0-dim seed of sum()'s backward, 512 B) after the graph is gone.
y = w * 2
seen = []
y.register_hook(lambda g: seen.append(g))
y.sum().backward()
del y
assert len(seen) == 1
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 4096 + 512
seen.clear()
if on_gpu:
    assert torch.cuda.memory_allocated() - base == 4096
