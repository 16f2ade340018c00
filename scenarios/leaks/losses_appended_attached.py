# Appending the loss tensor itself to a history list keeps its grad_fn, and with it every step's autograd graph, alive for the whole run.
#@ expect: leak retained-graph
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_history = []

for step in range(8):
    data = torch.randn(32, 64, device=device)
    target = torch.randint(0, 10, (32,), device=device)
    optimizer.zero_grad()
    loss = criterion(model(data), target)
    loss.backward()
    optimizer.step()
    loss_history.append(loss)    # fix: loss_history.append(loss.item())

print("last loss", loss_history[-1].item())
