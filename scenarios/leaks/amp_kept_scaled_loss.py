# Logging the scaled loss of a mixed-precision step keeps every step's graph: scaler.scale(loss) is loss * _scale, a new 0-dim tensor whose MulBackward0 chains the step's cross-entropy, the autocast casts' ToCopyBackward0 nodes and both Linear layers. Backward frees what they saved, so each step keeps 512 B and the nodes, for the whole run.
#@ expect: leak tensor-list retained-graph
#@ iterations: 6
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda"
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
scaler = torch.cuda.amp.GradScaler()
scaled_losses = []

for step in range(6):
    optimizer.zero_grad()
    x = torch.randn(32, 64, device=device)
    y = torch.randint(0, 10, (32,), device=device)
    with torch.cuda.amp.autocast():
        loss = F.cross_entropy(model(x), y)
    scaled = scaler.scale(loss)
    scaled.backward()
    scaler.step(optimizer)
    scaler.update()
    scaled_losses.append(scaled)    # fix: scaled_losses.append(loss.item())

print("kept", len(scaled_losses), "scaled losses")
