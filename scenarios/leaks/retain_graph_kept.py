# backward(retain_graph=True) keeps each step's saved activations, and keeping the loss for a second backward that never comes keeps all of them alive.
#@ expect: leak retained-graph
#@ iterations: 6
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
kept_losses = []

for step in range(6):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward(retain_graph=True)    # fix: loss.backward()
    optimizer.step()
    kept_losses.append(loss)            # and keep loss.item() instead
