# Truncated backpropagation through time: each chunk's loss backpropagates into its own steps only, because the hidden state is detached once its backward has run.
#@ expect: clean
import torch
import torch.nn as nn


class Cell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)

    def forward(self, x, h):
        return torch.tanh(self.ih(x) + self.hh(h))


cell = Cell(32, 64).cuda()
head = nn.Linear(64, 1).cuda()
opt = torch.optim.SGD(list(cell.parameters()) + list(head.parameters()), lr=0.01)
hidden = torch.zeros(16, 64, device="cuda")
for chunk in range(6):
    loss = 0
    for t in range(3):
        hidden = cell(torch.randn(16, 32, device="cuda"), hidden)
        loss = loss + head(hidden).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    hidden = hidden.detach()
