# A small denoising U-Net as diffusion scripts build it (Conv2d, GroupNorm, SiLU, avg-pool down, nn.Upsample up, a skip concatenated): each step's activations are freed by backward, the optimizer's state is made once, and nothing grows.
#@ expect: clean
#@ iterations: 4
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"


def block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, padding=1),
        nn.GroupNorm(4, cout),
        nn.SiLU(),
    )


class TinyUNet(nn.Module):
    def __init__(self, channels=3, width=16):
        super().__init__()
        self.down = block(channels, width)
        self.mid = block(width, width * 2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.merge = block(width * 3, width)
        self.out = nn.Conv2d(width, channels, kernel_size=1)

    def forward(self, x):
        skip = self.down(x)
        h = self.mid(F.avg_pool2d(skip, 2))
        h = torch.cat([self.up(h), skip], dim=1)
        return self.out(self.merge(h))


model = TinyUNet().to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

for step in range(4):
    images = torch.randn(4, 3, 16, 16, device=device)
    noise = torch.randn_like(images)
    predicted = model(images + 0.1 * noise)
    loss = F.mse_loss(predicted, noise)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"step {step}: loss {loss.item():.4f}")
