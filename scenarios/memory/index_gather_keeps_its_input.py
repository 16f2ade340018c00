# gather keeps its whole input for backward, so a gathered 64x1 score holds the 64x1000 logits it came from (256,000 B), and a list index becomes a device tensor that IndexBackward0 keeps.
#@ expect: clean
import torch

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
p = torch.randn(64, 1000, device=device, requires_grad=True)  # 256,000 B
y = torch.randint(0, 1000, (64,), device=device)  # 512 B
r = torch.randint(0, 64, (8,), device=device)  # 512 B
before = torch.cuda.memory_allocated()

logits = p * 2  # 256,000 B; MulBackward1 saves no tensor
score = logits.gather(1, y.unsqueeze(1))  # 64x1 f32: 256 -> 512 B
del logits
if on_gpu:
    # GatherBackward0 saves `self` and `index`: the logits outlive their name.
    assert torch.cuda.memory_allocated() - before == 256000 + 512, "gather keeps its input"
score.sum().backward()
if on_gpu:
    # backward released the saved logits; p.grad (256,000 B) is new.
    assert torch.cuda.memory_allocated() - before == 512 + 256000, "released by backward"
del score
p.grad = None

rows = p[[0, 5, 9]]  # 3x1000 f32: 12,000 -> 12,288 B
if on_gpu:
    # The list became an int64 tensor on the device (24 -> 512 B), saved by IndexBackward0.
    assert torch.cuda.memory_allocated() - before == 12288 + 512, "the list index is kept"
picked = p[r]  # 8x1000 f32: 32,000 B; the index is r itself
if on_gpu:
    assert torch.cuda.memory_allocated() - before == 12288 + 512 + 32256, "a tensor index adds nothing"
(rows.sum() + picked.sum()).backward()
del rows, picked
if on_gpu:
    assert torch.cuda.memory_allocated() - before == 256000, "only p.grad is left"
