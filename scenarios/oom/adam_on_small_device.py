# Three 512x512 layers trained with Adam need 12 MiB once the first step has made gradients and both moment buffers; beside cuBLAS's 65 MiB of workspaces that is more than a 76 MiB device holds.
#@ expect: oom
#@ device-memory: 76MiB
#@ iterations: 4
import torch
import torch.nn as nn

# The header sets the simulated device's size (on a real GPU, a per-process memory limit).
# The workspaces are an H100/H200's: 32 MiB for cuBLAS at the first forward, 1 MiB for
# cuBLASLt, 32 MiB more for the autograd thread at the first backward (docs/gpu.md).
device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(
    nn.Linear(512, 512),
    nn.ReLU(),
    nn.Linear(512, 512),
    nn.ReLU(),
    nn.Linear(512, 512),
    nn.ReLU(),
    nn.Linear(512, 10),
).to(device)
# Each 512x512 f32 weight is 1 MiB: parameters 3 MiB + 22 KiB, gradients as much again,
# Adam's exp_avg and exp_avg_sq twice that: over 12 MiB before any activation.
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(4):
    data = torch.randn(64, 512, device=device)
    target = torch.randint(0, 10, (64,), device=device)
    optimizer.zero_grad()
    loss = criterion(model(data), target)
    loss.backward()
    optimizer.step()
