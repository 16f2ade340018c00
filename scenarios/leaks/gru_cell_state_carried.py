# A hand-written recurrence with nn.GRUCell: `h = cell(x, h)` steps through a stream outside no_grad and never detaches h, so each step's graph (its gates, the saved projections and copies) hangs off the next h and memory grows with every step.
#@ expect: leak missing-no-grad carried-state
import torch
import torch.nn as nn

cell = nn.GRUCell(32, 64).cuda()
h = torch.zeros(16, 64, device="cuda")
for step in range(6):
    x = torch.rand(16, 32, device="cuda")
    h = cell(x, h)  # fix: h = cell(x, h).detach()
