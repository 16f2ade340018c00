# A multi-label classifier whose BCELoss tensors are kept in a history list: after backward each kept loss still holds its graph's root node and a storage of the whole batch, because PyTorch's binary_cross_entropy writes the mean into its element-wise buffer resized to 0-dim (1,280 bytes for 32×10, measured on 2.15), so the list grows by a 1,536-byte block per step rather than 512.
#@ expect: leak retained-graph
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10), nn.Sigmoid()).cuda()
criterion = nn.BCELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
history = []
for step in range(6):
    x = torch.randn(32, 16, device="cuda")
    labels = (torch.rand(32, 10, device="cuda") > 0.5).float()
    optimizer.zero_grad()
    loss = criterion(model(x), labels)
    loss.backward()
    optimizer.step()
    history.append(loss)  # fix: history.append(loss.item())
