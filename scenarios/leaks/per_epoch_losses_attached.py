# A list of losses made anew every epoch and filled with the attached loss after each backward keeps every step's loss and graph until the epoch ends.
#@ expect: leak tensor-list retained-graph
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Linear(64, 10).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for epoch in range(3):
    epoch_losses = []
    for step in range(4):
        data = torch.randn(32, 64, device=device)
        target = torch.randint(0, 10, (32,), device=device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()
        epoch_losses.append(loss)    # fix: epoch_losses.append(loss.item())
    print("epoch", epoch, "steps", len(epoch_losses))
