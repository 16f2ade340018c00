# A running loss reset to 0.0 every epoch and summed from the attached loss after each backward chains every step's graph until the epoch ends, as in the trainer that ran out of memory after 20,000 steps of one epoch.
#@ expect: leak attached-metric
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Linear(64, 10).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for epoch in range(3):
    running_loss = 0.0
    for step in range(4):
        data = torch.randn(32, 64, device=device)
        target = torch.randint(0, 10, (32,), device=device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()
        running_loss += loss    # fix: running_loss += loss.item()
    print("epoch", epoch, "loss", running_loss.item() / 4)
