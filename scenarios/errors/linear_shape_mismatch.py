# Feeding 128 features to a model whose first Linear layer expects 64 is a shape error at the forward call, not a leak.
#@ expect: error
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(4):
    data = torch.randn(32, 128, device=device)
    target = torch.randint(0, 10, (32,), device=device)
    optimizer.zero_grad()
    # mat1 and mat2 shapes cannot be multiplied (32x128 and 64x256)
    loss = criterion(model(data), target)
    loss.backward()
    optimizer.step()
