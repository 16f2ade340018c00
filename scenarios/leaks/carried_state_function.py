# An exponential moving average of the features, updated by a helper that takes the previous average: the average is attached, so it keeps every step's graph.
#@ expect: leak carried-state
import torch
import torch.nn as nn


def update(average, features, momentum=0.9):
    return momentum * average + (1 - momentum) * features.mean(0)


model = nn.Sequential(nn.Linear(32, 64), nn.ReLU()).cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
feature_mean = torch.zeros(64, device="cuda")
for step in range(6):
    x = torch.randn(8, 32, device="cuda")
    features = model(x)
    loss = features.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    feature_mean = update(feature_mean, features)  # fix: update(feature_mean, features.detach())
