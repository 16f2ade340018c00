# Metrics computed on the host, with loss.item() for the running loss and predictions moved with .cpu(), keep no device memory between steps.
#@ expect: clean
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
running_loss = 0.0
host_predictions = []
host_targets = []

for step in range(8):
    data = torch.randn(32, 64, device=device)
    target = torch.randint(0, 10, (32,), device=device)
    optimizer.zero_grad()
    output = model(data)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()

    # Compute metrics on CPU to save GPU memory
    pred = output.argmax(dim=1).cpu()
    target_cpu = target.cpu()
    host_predictions.append(pred)
    host_targets.append(target_cpu)
    running_loss += loss.item()

print("mean loss", running_loss / len(host_predictions))
