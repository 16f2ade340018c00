# A classifier whose feature block runs under torch.utils.checkpoint(use_reentrant=False) and which keeps each step's block output for feature statistics at the end: the features are kept attached, so each holds its 64x128 storage (32,768 B) and the 8 nodes of its graph after backward, step after step. Checkpointing saved the block's activations in forward; it does not stop a kept output from holding its graph.
#@ expect: leak retained-graph
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

device = "cuda" if torch.cuda.is_available() else "cpu"


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(32, 128)
        self.block = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        features = checkpoint(self.block, self.inp(x), use_reentrant=False)
        return self.head(features), features


model = Classifier().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
feature_log = []
for step in range(6):
    x = torch.randn(64, 32, device=device)
    target = torch.randint(0, 10, (64,), device=device)
    logits, features = model(x)
    loss = F.cross_entropy(logits, target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    feature_log.append(features)  # fix: feature_log.append(features.detach())
mean_activation = torch.stack(feature_log).mean().item()
print(f"mean feature activation {mean_activation:.3f}")
