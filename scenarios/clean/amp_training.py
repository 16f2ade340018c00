# Mixed-precision training as PyTorch's AMP recipe writes it: the forward pass and the loss under torch.autocast, backward and the step through a GradScaler. The Linear layers run in float16 on casts of their float32 inputs and parameters; the parameters' casts are cached while the region is open and freed when it exits (except those the graph saved); cross-entropy's log_softmax runs in float16 (cross_entropy asks for its input's dtype, which autocast leaves alone) and its nll_loss in float32; the gradients land in float32. Nothing grows from step to step.
#@ expect: clean
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda"
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
scaler = torch.amp.GradScaler("cuda")
# weight 32 KiB + bias 512 B, weight 5 KiB + bias 512 B
assert torch.cuda.memory_allocated() == 38912

for step in range(4):
    optimizer.zero_grad()
    x = torch.randn(32, 64, device=device)
    y = torch.randint(0, 10, (32,), device=device)
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        out = model(x)
        loss = F.cross_entropy(out, y)
        inside = torch.cuda.memory_allocated()
    # Leaving the region clears the weight-cast cache: the first layer's weight cast (16 KiB:
    # its addmm saved no mat2, its input needing no grad) and both bias casts (512 B each) go;
    # the second weight's cast stays, saved by its AddmmBackward0.
    assert inside - torch.cuda.memory_allocated() == 16384 + 512 + 512
    assert out.dtype == torch.float16 and loss.dtype == torch.float32
    before_backward = torch.cuda.memory_allocated()
    scaler.scale(loss).backward()
    for p in model.parameters():
        assert p.grad.dtype == torch.float32
    scaler.step(optimizer)
    scaler.update()
    if step > 0:
        # Backward freed the saved casts and activations: the input's and the ReLU output's
        # float16 copies (4096 + 8192 B), the second weight's cast (2560 B), cross_entropy's
        # float16 log_softmax (1024 B: cross_entropy asks for the input's dtype, which autocast
        # leaves alone) and nll_loss's float32 cast of it (1536 B), and the loss's total_weight
        # (512 B). The float32 gradients (38912 B) are what stays, with out and loss (bound
        # until the next step). Measured under PyTorch 2.11 on an H100.
        assert torch.cuda.memory_allocated() - before_backward == 38912 - (4096 + 8192 + 2560 + 1024 + 1536 + 512)

print(scaler.state_dict()["growth_interval"], out.dtype, loss.dtype)
