# The shape check registered every step with its handle kept and removed after the forward: the hook, and the batch its closure captured, go with it.
#@ expect: clean
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
    handle = model.register_forward_hook(shape_check(x))
    loss = model(x).pow(2).mean()
    handle.remove()
    opt.zero_grad()
    loss.backward()
    opt.step()
