# Validation outputs collected per epoch outside torch.no_grad() keep every batch's graph and saved input until the epoch ends, though no backward will ever run through them.
#@ expect: leak tensor-list missing-no-grad
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Linear(64, 10).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for epoch in range(3):
    for step in range(4):
        data = torch.randn(32, 64, device=device)
        target = torch.randint(0, 10, (32,), device=device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()

    val_outputs = []
    for batch in range(5):
        val_data = torch.randn(32, 64, device=device)
        val_outputs.append(model(val_data))    # fix: run the validation loop under `with torch.no_grad():`
    print("epoch", epoch, "validation batches", len(val_outputs))
