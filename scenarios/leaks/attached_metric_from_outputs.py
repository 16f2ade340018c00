# A squared-error metric summed from attached outputs builds a graph that no backward ever frees, so each step's error tensor (32x10 f32, 1536 B) stays alive in the running total's graph.
#@ expect: leak attached-metric
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
sum_squared_error = 0
samples = 0

for step in range(8):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    output = model(x)
    loss = criterion(output, y)
    loss.backward()
    optimizer.step()
    # pow saves its input (output - y) for a backward that never comes.
    sum_squared_error += (output - y).pow(2).sum()    # fix: (output.detach() - y).pow(2).sum().item()
    samples += 32

print("rmse", (sum_squared_error.item() / samples) ** 0.5)
