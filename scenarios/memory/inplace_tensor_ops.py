# `x = x + 1` briefly needs a second tensor of x's size, while `x += 1`, add_, mul_ and relu_ write into x and allocate nothing.
#@ expect: clean
import torch

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
start = torch.cuda.memory_allocated()

x = torch.randn(64, 512, device=device)  # 64x512 f32 = 131072 B
before = torch.cuda.memory_allocated()

# Instead of:
if on_gpu:
    torch.cuda.reset_peak_memory_stats()
x = x + 1
if on_gpu:
    # the new tensor is allocated while the old x is alive; the old one is freed when the
    # name moves, so the current value is back where it was
    assert torch.cuda.max_memory_allocated() - before == 131072, "two copies at the peak"
    assert torch.cuda.memory_allocated() == before, "one copy afterwards"

# Use in-place:
if on_gpu:
    torch.cuda.reset_peak_memory_stats()
x += 1
x.add_(1)
x.mul_(0.5)
x.relu_()
if on_gpu:
    assert torch.cuda.max_memory_allocated() == before, "in-place ops allocate nothing"

# An out-of-place ReLU keeps a second tensor for as long as its result is alive.
y = x.relu()
if on_gpu:
    assert torch.cuda.memory_allocated() - before == 131072, "the result is a new tensor"
del x, y
if on_gpu:
    assert torch.cuda.memory_allocated() == start, "both tensors freed"
