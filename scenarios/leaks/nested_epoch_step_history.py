# In nested epoch and step loops, a history list created before the epochs collects every step's attached loss, so the graphs pile up across all epochs.
#@ expect: leak retained-graph
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
history = []

for epoch in range(3):
    model.train()
    for step in range(4):
        data = torch.randn(32, 64, device=device)
        target = torch.randint(0, 10, (32,), device=device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()
        history.append(loss)    # fix: history.append(loss.item())
    print("epoch", epoch, "steps so far", len(history))
