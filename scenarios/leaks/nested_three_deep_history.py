# Three nested loops (epochs, batches, micro-batches) with a history list made anew every epoch and filled with each micro-batch's attached loss after its backward: the list grows with both inner loops until the epoch ends.
#@ expect: leak tensor-list retained-graph
#@ iterations: 2
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Linear(64, 10).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for epoch in range(2):
    history = []
    for batch in range(3):
        optimizer.zero_grad()
        for micro in range(2):
            data = torch.randn(16, 64, device=device)
            target = torch.randint(0, 10, (16,), device=device)
            loss = criterion(model(data), target) / 2
            loss.backward()
            history.append(loss)    # fix: history.append(loss.item())
        optimizer.step()
    print("epoch", epoch, "micro-batches", len(history))
