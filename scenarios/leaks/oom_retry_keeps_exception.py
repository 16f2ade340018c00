# Batches too large for the device are skipped and their errors kept for a report at the end: each kept error holds its traceback, whose frame of train_step() still holds the batch.
#@ expect: leak kept-exception
#@ device-memory: 128MiB
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(16, 4096), nn.ReLU(), nn.Linear(4096, 1)).cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
failures = []


def train_step(batch):
    loss = model(batch).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


for step in range(6):
    rows = 8 if step % 2 == 0 else 16384
    batch = torch.randn(rows, 16, device="cuda")
    try:
        train_step(batch)
    except torch.OutOfMemoryError as e:
        failures.append(e)  # fix: failures.append(str(e))
print(len(failures), "batches skipped")
