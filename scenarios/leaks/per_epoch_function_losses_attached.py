# A `train_one_epoch()` function called once per epoch keeps each step's attached loss in a list local to the call: every step's loss and graph live until the function returns, so memory grows with the length of the epoch.
#@ expect: leak tensor-list retained-graph
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Linear(64, 10).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)


def train_one_epoch(model, optimizer, steps):
    losses = []
    for step in range(steps):
        data = torch.randn(32, 64, device=device)
        target = torch.randint(0, 10, (32,), device=device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()
        losses.append(loss)    # fix: losses.append(loss.item())
    return sum(l.item() for l in losses) / len(losses)


for epoch in range(3):
    mean_loss = train_one_epoch(model, optimizer, 4)
    print("epoch", epoch, "loss", mean_loss)
