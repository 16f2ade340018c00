# ReduceLROnPlateau.step(val_loss) with a validation loss that still has its graph (computed without torch.no_grad): the scheduler keeps float(metrics), never the tensor, so nothing of the graph outlives the epoch. PyTorch 2.15's step() starts with `current = float(metrics)`.
#@ expect: clean
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
x_val = torch.randn(32, 64, device=device)
y_val = torch.randn(32, 10, device=device)

after_epoch = []
for epoch in range(6):
    x = torch.randn(32, 64, device=device)
    loss = F.mse_loss(model(x), torch.randn(32, 10, device=device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    val_loss = F.mse_loss(model(x_val), y_val)
    scheduler.step(val_loss)
    del val_loss, loss, x
    after_epoch.append(torch.cuda.memory_allocated())

if on_gpu:
    # From the second epoch on the momentum buffers exist and nothing else is kept.
    assert after_epoch[1:] == [after_epoch[1]] * 5, "the scheduler keeps a float"
    assert len(scheduler.get_last_lr()) == 1
