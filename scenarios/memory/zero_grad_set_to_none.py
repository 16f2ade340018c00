# zero_grad() (set_to_none=True, the default) frees every gradient, while zero_grad(set_to_none=False) keeps them allocated and fills them with zeros.
#@ expect: clean
#@ iterations: 4
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
# Gradients have their parameters' shapes:
# weight 256x64 f32 = 65536 B, bias 256 f32 = 1024 B,
# weight 10x256 f32 = 10240 B, bias 10 f32 = 40 B -> 512 B; 77312 B in all.
gradient_bytes = 65536 + 1024 + 10240 + 512

for step in range(4):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    loss = nn.functional.mse_loss(model(x), y)
    # Even steps find no gradients and allocate them; odd steps add into the zeroed ones.
    loss.backward()
    optimizer.step()
    before = torch.cuda.memory_allocated()
    if step % 2 == 0:
        optimizer.zero_grad(set_to_none=False)
        if on_gpu:
            assert before - torch.cuda.memory_allocated() == 0, "zeroed in place, nothing freed"
    else:
        optimizer.zero_grad()
        if on_gpu:
            assert before - torch.cuda.memory_allocated() == gradient_bytes, "all gradients freed"
