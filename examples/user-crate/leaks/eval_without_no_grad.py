# Evaluation that keeps its outputs without torch.no_grad(): every batch's graph stays alive.
#@ expect: leak missing-no-grad
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).cuda()
outputs = []
for batch in range(4):
    x = torch.randn(8, 16, device="cuda")
    outputs.append(model(x))
