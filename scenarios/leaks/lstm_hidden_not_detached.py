# An nn.LSTM run over a long stream in chunks, its (h, c) state fed back without detach and outside no_grad: every chunk's graph hangs off the next chunk's state, so memory grows with the stream (https://github.com/pytorch/pytorch/issues/2198, with a real LSTM).
#@ expect: leak missing-no-grad carried-state
import torch
import torch.nn as nn

lstm = nn.LSTM(32, 64).cuda()
hidden = None
for i in range(6):
    chunk = torch.rand(5, 16, 32, device="cuda")
    out, hidden = lstm(chunk, hidden)  # fix: hidden = (hidden[0].detach(), hidden[1].detach())
