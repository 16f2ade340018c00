# Appending loss.item() keeps a Python float per step, not a tensor, so the loss history costs no device memory.
#@ expect: clean
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
losses = []
for step in range(8):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(loss.item())

print("first loss", losses[0], "last loss", losses[-1])
