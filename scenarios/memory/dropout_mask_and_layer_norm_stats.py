# F.dropout keeps a one-byte-per-element bool mask for backward, and F.layer_norm a per-row mean and rstd beside its input.
#@ expect: clean
#@ iterations: 3
import torch
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
w = torch.randn(64, 64, device=device, requires_grad=True)

for step in range(3):
    x = torch.randn(32, 64, device=device)
    before = torch.cuda.memory_allocated()

    h = x @ w
    d = F.dropout(h, 0.5)
    del h
    # The 32x64 output (8192 B) and its bool mask (2048 B); the matmul output h is gone.
    kept_dropout = torch.cuda.memory_allocated() - before

    n = F.layer_norm(d, (64,))
    # The output (8192 B), then the 32x1 mean and rstd (128 B each, 512 B rounded).
    kept_norm = torch.cuda.memory_allocated() - before - kept_dropout

    n.sum().backward()
    del d, n
    w.grad = None

    # From the second step on: real PyTorch allocates its cuBLAS workspaces in the first one.
    if on_gpu and step > 0:
        assert kept_dropout == 8192 + 2048, "dropout keeps its output and a bool mask"
        assert kept_norm == 8192 + 512 + 512, "layer_norm keeps its output, mean and rstd"
