# A hand-written recurrence with nn.GRUCell: `h = cell(x, h)` steps through a stream outside no_grad and never detaches h, so each step's graph hangs off the next h and memory grows with every step: 51,200 B and 5 graph nodes per step, PyTorch 2.11's figures on an H100, where GRUCell on CUDA runs two mm's and _thnn_fused_gru_cell (x 2 KiB, both gate matrices 12 KiB each, the 20 KiB workspace the fused node saves, h 4 KiB; nodes ThnnFusedGruCellBackward0, 2 MmBackward0, 2 TBackward0).
#@ expect: leak missing-no-grad carried-state
import torch
import torch.nn as nn

cell = nn.GRUCell(32, 64).cuda()
h = torch.zeros(16, 64, device="cuda")
for step in range(6):
    x = torch.rand(16, 32, device="cuda")
    h = cell(x, h)  # fix: h = cell(x, h).detach()
