# A shape check registered as a forward hook inside the training loop and never removed: every step adds a hook, and each keeps the batch its closure captured.
#@ expect: leak hook-capture hook-accumulation
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x)


def shape_check(batch):
    def check(module, inputs, output):
        assert output.shape[0] == batch.shape[0]

    return check


model = Net().cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(6):
    x = torch.randn(32, 64, device="cuda")
    model.register_forward_hook(shape_check(x))  # fix: handle = ...; handle.remove() after the forward
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
