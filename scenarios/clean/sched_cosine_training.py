# A cosine schedule over a short training run: CosineAnnealingLR writes group["lr"] after each epoch and the next optimizer.step() uses it. The rates are the floats PyTorch 2.15 prints for T_max=4, eta_min=0.001, lr=0.1; the scheduler itself allocates no device memory.
#@ expect: clean
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
before = torch.cuda.memory_allocated()
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4, eta_min=0.001)
if on_gpu:
    assert torch.cuda.memory_allocated() == before, "a scheduler is host state only"

rates = []
for epoch in range(5):
    x = torch.randn(32, 64, device=device)
    loss = F.mse_loss(model(x), torch.randn(32, 10, device=device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    rates.append(scheduler.get_last_lr()[0])

assert rates == [0.0855017856687341, 0.0505, 0.0154982143312659, 0.001, 0.015498214331265896]
assert optimizer.param_groups[0]["lr"] == rates[-1]
assert optimizer.param_groups[0]["initial_lr"] == 0.1
