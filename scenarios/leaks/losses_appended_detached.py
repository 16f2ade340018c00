# Appending loss.detach() drops the graph but still keeps one 0-dim device tensor per step, whose storage is mse_loss's 32x10 result buffer (1280 bytes, 1536 after the allocator's rounding), which docs/leaks.md calls a tensor-list leak.
#@ expect: leak tensor-list
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
losses = []

for step in range(8):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    # No graph, but the detached tensor shares the loss's 1536-byte device block.
    losses.append(loss.detach())    # fix: losses.append(loss.item())
