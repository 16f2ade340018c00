# clip_grad_norm_ between backward() and step() returns a 0-dim total norm; logging it with .item() keeps nothing, so memory stays flat.
#@ expect: clean
#@ iterations: 6
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
norms = []

for step in range(6):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
    optimizer.step()
    norms.append(total.item())
