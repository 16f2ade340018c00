# Grad-CAM's forward hook appends every activation to a list on the device, so visualizing many images fills the GPU (https://github.com/jacobgil/pytorch-grad-cam/issues/71).
#@ expect: leak hook-capture
import torch
import torch.nn as nn


class ActivationsAndGradients:
    """ Class for extracting activations and
    registering gradients from targeted intermediate layers """

    def __init__(self, model, target_layer):
        self.model = model
        self.gradients = []
        self.activations = []

        target_layer.register_forward_hook(self.save_activation)

    def save_activation(self, module, input, output):
        self.activations.append(output)

    def __call__(self, x):
        self.gradients = []
        return self.model(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = Features()
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.features(x))


class Features(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 32)

    def forward(self, x):
        return self.fc(x).relu()


model = Net().cuda()
extractor = ActivationsAndGradients(model, model.features)
for image in range(4):
    output = extractor(torch.randn(8, 64, device="cuda"))
    score = output.sum()
    score.backward()
