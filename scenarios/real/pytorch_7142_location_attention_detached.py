# The reporter's finding in the same thread: feeding the attention its previous alignment detached keeps one step's graph at a time, so memory stays flat however many steps run (https://github.com/pytorch/pytorch/issues/7142).
#@ expect: clean
# The post's module; the loop that drives it is not in the excerpt, so it is written from the
# post's description (an alignment of size [64, 128] fed back for 1000 steps), smaller.
# leakharness: clean; scripts/parity.py agrees with 2.15 (CPU) at all 65 statements.
import torch
from torch import nn


class LocationAttention(nn.Module):
    """ Simple mock of a location sensative alignment similar to this paper:
    https://arxiv.org/pdf/1506.07503.pdf
    """

    def __init__(self, hidden_size):
        super().__init__()
        self.project_alignment = nn.Linear(1, hidden_size)
        self.score = nn.Linear(hidden_size, 1)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, last_alignment):
        last_alignment = last_alignment.unsqueeze(2)
        last_alignment = self.project_alignment(last_alignment)
        score = self.score(last_alignment)
        score = score.squeeze(2)
        last_alignment = self.softmax(score)
        return last_alignment


attention = LocationAttention(32).cuda()
alignment = torch.softmax(torch.randn(4, 16, device="cuda"), dim=1)
for step in range(8):
    alignment = attention(alignment.detach())
