# Per-sequence losses summed into one loss and backpropagated once per batch: the graph grows with the sequence loop, but it is the step's own graph, consumed by its backward.
#@ expect: clean
#@ iterations: 2
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Linear(64, 10).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for epoch in range(2):
    for batch in range(3):
        optimizer.zero_grad()
        loss = 0.0
        for t in range(4):
            data = torch.randn(8, 64, device=device)
            target = torch.randint(0, 10, (8,), device=device)
            loss = loss + criterion(model(data), target)
        loss.backward()
        optimizer.step()
    print("epoch", epoch, "last loss", loss.item())
