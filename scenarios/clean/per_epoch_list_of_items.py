# A loss list created anew at the start of every epoch and filled with loss.item() holds one epoch of floats at most, so nothing grows across epochs.
#@ expect: clean
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(3):
    epoch_losses = []
    for step in range(5):
        data = torch.randn(32, 64, device=device)
        target = torch.randint(0, 10, (32,), device=device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()
        epoch_losses.append(loss.item())
    print("epoch", epoch, "mean loss", sum(epoch_losses) / len(epoch_losses))
