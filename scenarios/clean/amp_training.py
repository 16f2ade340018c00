# Mixed-precision training as PyTorch's AMP recipe writes it: the forward pass and the loss under torch.autocast, backward and the step through a GradScaler. The Linear layers run in float16 on casts of their float32 inputs and parameters; the parameters' casts are cached while the region is open and freed when it exits (except those the graph saved); cross-entropy runs in float32; the gradients land in float32. Nothing grows from step to step.
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
        # Backward freed the saved casts and activations; the float32 gradients (38912 B) are
        # what stays, with out and loss (1024 + 512 B, bound until the next step).
        assert torch.cuda.memory_allocated() - before_backward == 38912 - (4096 + 8192 + 2560 + 1536 + 512)

print(scaler.state_dict()["growth_interval"], out.dtype, loss.dtype)
