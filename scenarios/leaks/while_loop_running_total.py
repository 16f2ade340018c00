# A step-counted `while step < max_steps:` loop sums the attached loss into a running total after each backward, chaining every step's graph to the next for as long as training runs.
#@ expect: leak attached-metric
#@ iterations: 6
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Linear(64, 10).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

max_steps = 6
step = 0
total_loss = 0.0
while step < max_steps:
    data = torch.randn(32, 64, device=device)
    target = torch.randint(0, 10, (32,), device=device)
    optimizer.zero_grad()
    loss = criterion(model(data), target)
    loss.backward()
    optimizer.step()
    total_loss += loss    # fix: total_loss += loss.item()
    step += 1
print("mean loss", total_loss.item() / max_steps)
