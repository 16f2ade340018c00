# The DESIGN.md example: appending the attached loss keeps every step's graph alive.
#@ expect: leak retained-graph
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
    losses.append(loss)          # the leak: keeps every step's graph
