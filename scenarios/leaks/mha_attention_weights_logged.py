# A classifier over nn.MultiheadAttention that keeps each step's attention weights for later inspection without detaching them: the averaged weights hold their whole attention graph (the in-projection's split, the softmax, the head average) alive after backward, step after step.
#@ expect: leak retained-graph
import torch
import torch.nn as nn
import torch.nn.functional as F

mha = nn.MultiheadAttention(32, 4, batch_first=True).cuda()
head = nn.Linear(32, 2).cuda()
opt = torch.optim.SGD(list(mha.parameters()) + list(head.parameters()), lr=0.01)
attention_log = []
for step in range(6):
    x = torch.randn(4, 8, 32, device="cuda")
    y = torch.randint(0, 2, (4,), device="cuda")
    out, weights = mha(x, x, x)
    loss = F.cross_entropy(head(out.mean(dim=1)), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    attention_log.append(weights)  # fix: attention_log.append(weights.detach().cpu())
