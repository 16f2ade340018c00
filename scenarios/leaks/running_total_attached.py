# Summing the attached loss (`total_loss += loss`) chains every step's autograd graph onto the running total, so the graph grows by a step's nodes every iteration.
#@ expect: leak attached-metric
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
total_loss = 0

for step in range(8):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    total_loss += loss    # fix: total_loss += loss.item()

print("mean loss", total_loss.item() / 8)
