# Detached predictions collected for an epoch metric: no graph and released every epoch, so not a leak, but the epoch's peak grows by one batch of outputs per step.
#@ expect: bounded-growth
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Linear(64, 10).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for epoch in range(3):
    predictions = []
    for step in range(4):
        data = torch.randn(32, 64, device=device)
        target = torch.randint(0, 10, (32,), device=device)
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()
        predictions.append(output.detach())
    print("epoch", epoch, "batches", len(predictions))
