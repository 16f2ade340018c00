# optimizer.state_dict() holds the optimizer's own state tensors, not copies: a state dict kept every epoch costs no device memory, and load_state_dict shares the saved tensors with the second optimizer instead of copying them. copy.deepcopy of the state dict is what copies.
#@ expect: clean
import copy

import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
# weight 256x64 f32 = 65536 B, bias 256 f32 = 1024 B, weight 10x256 = 10240 B, bias 10 -> 512 B.
param_bytes = 65536 + 1024 + 10240 + 512

model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


def train_step():
    x = torch.randn(32, 64, device=device)
    loss = nn.functional.mse_loss(model(x), torch.randn(32, 10, device=device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


train_step()
before = torch.cuda.memory_allocated()
snapshots = []
for epoch in range(4):
    train_step()
    snapshots.append(optimizer.state_dict())
if on_gpu:
    assert torch.cuda.memory_allocated() == before, "state dicts reference the state"

second = torch.optim.Adam(model.parameters(), lr=1e-3)
second.load_state_dict(snapshots[-1])
if on_gpu:
    assert torch.cuda.memory_allocated() == before, "loading shares the saved tensors"

copied = copy.deepcopy(optimizer.state_dict())
if on_gpu:
    assert torch.cuda.memory_allocated() - before == 2 * param_bytes, "deepcopy copies exp_avg and exp_avg_sq"
del copied, second, snapshots
