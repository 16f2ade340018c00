# The fix the poster found: `.item()` where the loss is accumulated, so the epoch total is a float (https://github.com/pytorch/pytorch/issues/64586).
#@ expect: clean
import torch
import torch.nn as nn
import torch.nn.functional as F

net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2)).cuda()
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)


def train_epoch(batches):
    epoch_loss = 0
    for x, y in batches:
        x, y = x.cuda(), y.cuda()
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item()
    return epoch_loss / len(batches)


batches = [(torch.randn(8, 20), torch.randint(0, 2, (8,))) for _ in range(4)]
history = []
for epoch in range(2):
    history.append(train_epoch(batches))
