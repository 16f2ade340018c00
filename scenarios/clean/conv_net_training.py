# A small CNN (Conv2d, BatchNorm2d, ReLU, MaxPool2d, Linear) trained with SGD: its BatchNorm buffers move with the model, every step keeps the same activations until backward frees them, and nothing grows.
#@ expect: clean
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


model = Net().to(device)
# Parameters and buffers, each its own 512-byte block but the conv weight (864 B, 1024) and the
# head's weight (5120 B): conv 1024 + 512, batch norm 512 + 512, its running_mean, running_var
# and int64 num_batches_tracked 3 × 512, head 5120 + 512.
if on_gpu:
    assert torch.cuda.memory_allocated() == 9728, "parameters and buffers on the device"
assert len(list(model.parameters())) == 6, "buffers are not parameters"
assert [name for name, _ in model.named_buffers()] == [
    "features.1.running_mean",
    "features.1.running_var",
    "features.1.num_batches_tracked",
]
assert list(model.state_dict().keys())[4:7] == [
    "features.1.running_mean",
    "features.1.running_var",
    "features.1.num_batches_tracked",
]
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(4):
    x = torch.randn(4, 3, 8, 8, device=device)
    y = torch.randint(0, 10, (4,), device=device)
    before = torch.cuda.memory_allocated()
    out = model(x)
    # Saved for backward: the conv output (batch norm's input, 8192 B), the batch mean and
    # inverse std (512 B each), the ReLU output (8192 B), the pooled output (2048 B) and its
    # int64 indices (4096 B); and the head's output (512 B). From the second step on: the first
    # matrix product allocates the cuBLAS workspaces.
    if on_gpu and step > 0:
        assert torch.cuda.memory_allocated() - before == 24064, "activations kept for backward"
    loss = F.cross_entropy(out, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    del out, loss

model.eval()
with torch.no_grad():
    x = torch.randn(4, 3, 8, 8, device=device)
    before = torch.cuda.memory_allocated()
    prediction = model(x).argmax(1)
    # Eval mode reads the running statistics, and without a graph only the int64 prediction
    # (32 B) stays.
    if on_gpu:
        assert torch.cuda.memory_allocated() - before == 512, "inference keeps no activations"
