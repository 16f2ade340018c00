# The fix from the thread: detach the RNN's results at a shorter length, so that each step's graph holds at most three steps of the stream (https://github.com/pytorch/pytorch/issues/2198).
#@ expect: clean
import torch
import torch.nn as nn


class Cell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)

    def forward(self, x, h):
        h = torch.tanh(self.ih(x) + self.hh(h))
        return h, h


rnn = Cell(32, 64).cuda()
hidden = torch.zeros(16, 64, device="cuda")
for i in range(6):
    data = torch.rand(16, 32, device="cuda")
    out, hidden = rnn(data, hidden)
    if (i + 1) % 3 == 0:
        hidden = hidden.detach()
