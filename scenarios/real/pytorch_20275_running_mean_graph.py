# A custom mean-only batch norm that updates its `running_mean` buffer from the batch mean outside `no_grad`: every step's update hangs off the previous one, so the graph grows for as long as training runs; the maintainers' answer: "that running_mean update is exactly your problem. You keep extending the graph" (https://github.com/pytorch/pytorch/issues/20275).
#@ expect: leak retained-graph
# The layer's constructor and helpers are the post's; its `forward`, the small CNN and the
# training loop around it are not in the excerpt, so they are written from the post's
# description ("a simple CNN with a custom mean-only batch-norm layer on GPU"), with random data.
# leakharness reports retained-graph at the model: 0 B and 8 graph nodes per step (Add, two Mul,
# Mean, UnsafeView, Clone, Transpose, Convolution), held by model → .1 → .running_mean; the
# device stays flat, as in the thread, where the growth was host memory. scripts/parity.py
# against 2.15 (CPU): the same nodes and saved tensors at every statement except that 2.15's
# MulBackward0 also saves the Python number as a 0-dim float64 host tensor (not yet modelled).
import torch
import torch.nn as nn
import torch.nn.functional as F


class MeanOnlyBatchNorm(nn.Module):
    def __init__(self, module, momentum=0.1):
        super(MeanOnlyBatchNorm, self).__init__()
        if isinstance(module, nn.Linear):
            self.num_features = module.out_features
        else:
            self.num_features = module.out_channels
        self.do_init = False
        self.momentum = momentum
        self.weight = nn.Parameter(torch.Tensor(self.num_features))
        self.bias = nn.Parameter(torch.Tensor(self.num_features))
        self.register_buffer('running_mean', torch.zeros(self.num_features))
        self.reset_parameters()

    def reset_running_stats(self):
        self.running_mean.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)
        self.do_init = False

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            mean = x.transpose(0, 1).reshape(self.num_features, -1).mean(1)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean  # fix: self.running_mean = ... mean.detach(), or the update under torch.no_grad()
        else:
            mean = self.running_mean
        return (x - mean.view(shape)) * self.weight.view(shape) + self.bias.view(shape)


conv = nn.Conv2d(3, 8, 3, padding=1)
model = nn.Sequential(conv, MeanOnlyBatchNorm(conv), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).cuda()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(6):
    x = torch.randn(16, 3, 8, 8, device="cuda")
    y = torch.randint(0, 10, (16,), device="cuda")
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
