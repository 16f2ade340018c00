# Gradient accumulation over more batches than the loop runs: the optimizer's momentum buffers appear only when the loop is run longer, once, and do not grow after that (found by tests/properties.rs).
#@ expect: clean
#@ iterations: 2
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(1, 1)).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
opt.zero_grad()
for i in range(2):
    x = torch.randn(1, 1, device=device)
    y = torch.randn(1, 1, device=device)
    out = model(x)
    loss = nn.functional.mse_loss(out, y)
    loss = loss / 3
    loss.backward()
    if (i + 1) % 3 == 0:
        opt.step()
        opt.zero_grad()
