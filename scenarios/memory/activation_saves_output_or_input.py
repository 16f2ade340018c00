# tanh keeps its output for backward and gelu its input, so a gelu graph holds one more 32x64 activation than a tanh graph after the same matmul.
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
    y = torch.tanh(h)
    del h
    # TanhBackward0 saves its result: the matmul output h (32x64 f32, 8192 B) is gone.
    kept_tanh = torch.cuda.memory_allocated() - before
    y.sum().backward()
    del y
    w.grad = None

    h = x @ w
    g = F.gelu(h)
    del h
    # GeluBackward0 saves its input: h stays, beside the output g.
    kept_gelu = torch.cuda.memory_allocated() - before
    g.sum().backward()
    del g
    w.grad = None

    # From the second step on: real PyTorch allocates its cuBLAS workspaces in the first one.
    if on_gpu and step > 0:
        assert kept_tanh == 8192, "tanh keeps only its output"
        assert kept_gelu == 8192 + 8192, "gelu keeps its input and its output"
