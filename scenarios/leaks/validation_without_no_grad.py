# Validation outside torch.no_grad() builds a graph for every batch, and keeping the outputs keeps those graphs and their saved activations alive.
#@ expect: leak missing-no-grad
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
val_outputs = []

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
    for step in range(2):
        val_data = torch.randn(64, 64, device=device)
        # fix: run these two lines under `with torch.no_grad():`
        val_output = model(val_data)
        val_outputs.append(val_output)

print("kept", len(val_outputs), "validation outputs")
