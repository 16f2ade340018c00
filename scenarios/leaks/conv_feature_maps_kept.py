# Keeping each step's pooled feature maps for a later visualization keeps them attached: every step's 2048 B map and its graph stay alive for the whole run.
#@ expect: leak tensor-list retained-graph
#@ iterations: 6
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"
features = nn.Sequential(
    nn.Conv2d(3, 8, kernel_size=3, padding=1),
    nn.BatchNorm2d(8),
    nn.ReLU(),
    nn.MaxPool2d(2),
).to(device)
head = nn.Linear(8 * 4 * 4, 10).to(device)
optimizer = torch.optim.SGD(list(features.parameters()) + list(head.parameters()), lr=0.01)
feature_maps = []

for step in range(6):
    x = torch.randn(4, 3, 8, 8, device=device)
    y = torch.randint(0, 10, (4,), device=device)
    maps = features(x)
    loss = F.cross_entropy(head(maps.flatten(1)), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    feature_maps.append(maps)    # fix: feature_maps.append(maps.detach().cpu())

print("kept", len(feature_maps), "feature maps")
