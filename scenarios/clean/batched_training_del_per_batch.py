# Batched training that moves each batch to the device and deletes the batch's tensors after the step, as the guide to freeing GPU memory does, stays flat.
#@ expect: clean
#@ iterations: 8
import torch
import torch.nn as nn
import torch.optim as optim

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2)).to(device)
optimizer = optim.SGD(model.parameters(), lr=0.01)

# Each batch is made on the host, as a DataLoader would yield it, then moved to the device.
for batch in range(8):
    inputs = torch.randn(32, 10)
    targets = torch.randn(32, 2)
    inputs = inputs.to(device)
    targets = targets.to(device)
    output = model(inputs)
    loss = torch.nn.functional.mse_loss(output, targets)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    del inputs, targets, output, loss

del model, optimizer
torch.cuda.empty_cache()
