# Plain SGD keeps no state: its first step, and every later one, allocates nothing that outlives the step.
#@ expect: clean
#@ iterations: 4
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
before_model = torch.cuda.memory_allocated()
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
# weight 256x64 f32 = 65536 B, bias 256 f32 = 1024 B,
# weight 10x256 f32 = 10240 B, bias 10 f32 = 40 B -> 512 B; 77312 B in all
parameter_bytes = 65536 + 1024 + 10240 + 512
if on_gpu:
    assert torch.cuda.memory_allocated() - before_model == parameter_bytes, "parameters"
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(4):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    before_step = torch.cuda.memory_allocated()
    optimizer.step()
    if on_gpu:
        assert torch.cuda.memory_allocated() - before_step == 0, "SGD keeps no state"
