# A model with a 512-wide hidden layer holds 154112 B of parameters against 38912 B for a 128-wide one, and its training step peaks higher, measured with reset_peak_memory_stats and max_memory_allocated.
#@ expect: clean
#@ iterations: 4
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
criterion = nn.CrossEntropyLoss()

before = torch.cuda.memory_allocated()
small = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
if on_gpu:
    # weight 128x64 f32 = 32768 B, bias 128 f32 = 512 B,
    # weight 10x128 f32 = 5120 B, bias 10 f32 = 40 B -> 512 B
    assert torch.cuda.memory_allocated() - before == 32768 + 512 + 5120 + 512, "38912 B"
optimizer = torch.optim.Adam(small.parameters(), lr=1e-3)
if on_gpu:
    torch.cuda.reset_peak_memory_stats()
for step in range(4):
    data = torch.randn(64, 64, device=device)
    target = torch.randint(0, 10, (64,), device=device)
    optimizer.zero_grad()
    loss = criterion(small(data), target)
    loss.backward()
    optimizer.step()
peak_small = torch.cuda.max_memory_allocated()
del small, optimizer, loss, data, target

before = torch.cuda.memory_allocated()
large = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 10)).to(device)
if on_gpu:
    # weight 512x64 f32 = 131072 B, bias 512 f32 = 2048 B,
    # weight 10x512 f32 = 20480 B, bias 10 f32 = 40 B -> 512 B
    assert torch.cuda.memory_allocated() - before == 131072 + 2048 + 20480 + 512, "154112 B"
optimizer = torch.optim.Adam(large.parameters(), lr=1e-3)
if on_gpu:
    torch.cuda.reset_peak_memory_stats()
for step in range(4):
    data = torch.randn(64, 64, device=device)
    target = torch.randint(0, 10, (64,), device=device)
    optimizer.zero_grad()
    loss = criterion(large(data), target)
    loss.backward()
    optimizer.step()
peak_large = torch.cuda.max_memory_allocated()

print("peak small", peak_small, "peak large", peak_large)
if on_gpu:
    # 4x the parameters, gradients and Adam state, and a 4x wider hidden activation
    assert peak_large > peak_small, "the larger model peaks higher"
