# A Grad-CAM style extractor whose full backward hook appends each image's output gradient to a list it never clears, so every image's 8x32 f32 gradient (1,024 B) stays on the device (pytorch-grad-cam's gradient capture, https://github.com/jacobgil/pytorch-grad-cam/issues/71).
#@ expect: leak hook-capture
import torch
import torch.nn as nn


class ActivationsAndGradients:
    """Records the gradients flowing out of a target layer."""

    def __init__(self, model, target_layer):
        self.model = model
        self.gradients = []
        target_layer.register_full_backward_hook(self.save_gradient)

    def save_gradient(self, module, grad_input, grad_output):
        self.gradients.append(grad_output[0])  # fix: self.gradients = [grad_output[0].cpu()]

    def __call__(self, x):
        return self.model(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.features(x))


model = Net().cuda()
extractor = ActivationsAndGradients(model, model.features)
for image in range(4):
    output = extractor(torch.randn(8, 64, device="cuda"))
    score = output.sum()
    model.zero_grad()
    score.backward()
