# Keeping each step's loss tensor for a later plot keeps the loss's 14 graph nodes and, since F.mse_loss's 0-dim result is a view of its element-wise buffer in PyTorch 2.15, the whole 4×3×16×16 buffer: 12 KiB more every step (backward already freed what the nodes saved).
#@ expect: leak tensor-list retained-graph
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
losses = []

for step in range(4):
    images = torch.randn(4, 3, 16, 16, device=device)
    noise = torch.randn_like(images)
    predicted = model(images + 0.1 * noise)
    loss = F.mse_loss(predicted, noise)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss)    # fix: losses.append(loss.item())
print("mean loss", sum(l.item() for l in losses) / len(losses))
