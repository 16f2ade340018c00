# Two losses backpropagated separately need backward(retain_graph=True) on the first, but nothing keeps the graph after the second backward, so each step's graph is freed.
#@ expect: clean
#@ iterations: 6
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(6):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    output = model(x)
    fit_loss = nn.functional.mse_loss(output, y)
    penalty = output.pow(2).mean() * 0.01
    # The penalty's backward goes through the same graph, so the first backward keeps it.
    fit_loss.backward(retain_graph=True)
    penalty.backward()
    optimizer.step()
