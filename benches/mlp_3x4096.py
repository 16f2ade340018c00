# The realistic model of issue 16 on the default cpu backend: three 4096 x 4096 layers, batch 256,
# ten training steps (about 77 GFLOP each). Not under scenarios/, so cargo test does not run it;
# time it with `time leakharness run --backend cpu benches/mlp_3x4096.py` (docs/benchmarks.md).
#@ expect: clean
#@ iterations: 10
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(
    nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 4096)
).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
losses = []
for step in range(10):
    x = torch.randn(256, 4096, device=device)
    y = torch.randint(0, 4096, (256,), device=device)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(loss.item())

print("first loss", losses[0], "last loss", losses[-1])
