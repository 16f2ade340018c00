# Validation inside torch.no_grad() builds no graph, and keeping its predictions on the host and its loss as a number holds no device memory across epochs.
#@ expect: clean
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
val_predictions = []

for epoch in range(3):
    model.train()
    for step in range(4):
        data = torch.randn(32, 64, device=device)
        target = torch.randint(0, 10, (32,), device=device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()

    model.eval()
    val_loss = 0.0
    with torch.no_grad():
        for step in range(2):
            val_data = torch.randn(64, 64, device=device)
            val_target = torch.randint(0, 10, (64,), device=device)
            val_output = model(val_data)
            val_loss += criterion(val_output, val_target).item()
            # Host tensors: they grow host memory only, and carry no graph.
            val_predictions.append(val_output.argmax(dim=1).cpu())
    print("epoch", epoch, "val loss", val_loss / 2)
