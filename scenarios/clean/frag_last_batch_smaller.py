# A DataLoader whose last batch is smaller (100 samples, then 70): the smaller batch is carved from the cached blocks the full batches freed, and they merge back when it is freed, so reserved memory stays flat from the first epoch on. Not fragmentation.
#@ expect: clean
#@ iterations: 3
import torch
import torch.nn as nn

device = "cuda"
model = nn.Linear(4096, 8).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.01)

for epoch in range(3):
    for size in [100, 100, 100, 70]:
        x = torch.ones(size, 4096, device=device)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(epoch, torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
