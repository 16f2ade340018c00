# The accumulated loss of the same thread on its own: summing the parts and calling backward once per step frees every step's graph (https://discuss.pytorch.org/t/gpu-memory-increase-while-i-wanna-to-backward-with-accumulative-loss/43284).
#@ expect: clean
import torch
import torch.nn as nn

model = nn.Linear(16, 4).cuda()
criteria = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(4):
    seqs = [torch.randn(length, 16).cuda() for length in (3, 5, 2)]
    loss = 0
    for seq in seqs:
        loss_part = criteria(model(seq), torch.randn(len(seq), 4).cuda())
        loss += loss_part
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
