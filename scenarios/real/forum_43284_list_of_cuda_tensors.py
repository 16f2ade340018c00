# Sums per-sequence losses into one loss and keeps each batch's targets in a list on the device; the list is what grows (https://discuss.pytorch.org/t/gpu-memory-increase-while-i-wanna-to-backward-with-accumulative-loss/43284).
#@ expect: leak tensor-list
import torch
import torch.nn as nn

model = nn.Linear(16, 4).cuda()
criteria = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
stored = []

for step in range(4):
    seqs = [torch.randn(length, 16).cuda() for length in (3, 5, 2)]
    targets = [torch.randn(len(seq), 4).cuda() for seq in seqs]
    loss = 0
    for seq, target in zip(seqs, targets):
        loss_part = criteria(model(seq), target)
        loss += loss_part
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    stored.append(targets[0])  # "I also used list to store some data (Tensor.cuda())"
