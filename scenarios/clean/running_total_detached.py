# Running totals of loss.detach() carry no graph and stay one tensor each, since `+=` on a tensor adds in place (an int start is rebound to a tensor once, at the first step).
#@ expect: clean
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

# Starts as the int 0: the first `+=` computes 0 + tensor and rebinds the name to a new
# 0-dim device tensor; every later `+=` is Tensor.__iadd__, an in-place add into it.
total_loss = 0
# Starts as a 0-dim device tensor: every `+=` adds in place, from the first step on.
epoch_loss = torch.tensor(0.0, device=device)

for step in range(8):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    total_loss += loss.detach()
    epoch_loss += loss.detach()

print("mean loss", total_loss.item() / 8, epoch_loss.item() / 8)
