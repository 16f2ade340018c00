# The fix of the same thread: `model.eval()` before evaluating, so the hook saves nothing (https://github.com/meta-pytorch/opacus/issues/176).
#@ expect: clean
import torch
import torch.nn as nn


class GradSampleModule(nn.Module):
    def __init__(self, m):
        super().__init__()
        self._module = m
        self.activations = []
        m.register_forward_hook(self.capture_activations_hook)

    def capture_activations_hook(self, module, forward_input, _forward_output):
        if not module.training:
            return
        self.activations.append(forward_input[0].detach())

    def forward(self, x):
        return self._module(x)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc(x)


model = GradSampleModule(Classifier().cuda())
model.eval()
with torch.no_grad():
    for batch in range(4):
        logits = model(torch.randn(16, 32, device="cuda"))
