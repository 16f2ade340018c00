# An nn.GRU run over a long stream in chunks, its hidden state fed back without detach and outside no_grad: every chunk's graph hangs off the next chunk's state, so memory grows with the stream (the GRU form of https://github.com/pytorch/pytorch/issues/2198).
#@ expect: leak missing-no-grad carried-state
import torch
import torch.nn as nn

gru = nn.GRU(32, 64).cuda()
hidden = None
for i in range(6):
    chunk = torch.rand(5, 16, 32, device="cuda")
    out, hidden = gru(chunk, hidden)  # fix: hidden = hidden.detach()
