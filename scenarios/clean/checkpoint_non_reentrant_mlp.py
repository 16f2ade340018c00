# The MLP of clean/checkpoint_mlp.py with its middle block under torch.utils.checkpoint(use_reentrant=False), PyTorch's recommended variant: the block's graph is recorded but its nodes keep holders instead of tensors, the checkpoint's frame keeps the block's input, and backward reruns the block. Between forward and backward it keeps what the reentrant variant keeps: the block's input and output, not the 32,768 B activation inside it.
#@ expect: clean
#@ iterations: 3
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(32, 128)
        self.block = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x, use_checkpoint):
        h = self.inp(x)
        if use_checkpoint:
            # The frame keeps h (the block's input); the block's nodes keep no activation.
            h = checkpoint(self.block, h, use_reentrant=False)
        else:
            h = self.block(h)
        return self.head(h)


model = Net().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(3):
    x = torch.randn(64, 32, device=device)  # 8,192 B
    target = torch.randint(0, 10, (64,), device=device)
    kept = []
    for use_checkpoint in (False, True):
        before = torch.cuda.memory_allocated()
        loss = F.cross_entropy(model(x, use_checkpoint), target)
        kept.append(torch.cuda.memory_allocated() - before)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        del loss
    # From the second step on: real PyTorch allocates its cuBLAS workspaces in the first one.
    if on_gpu and step > 0:
        # The plain block keeps the first ReLU's 64x128 output (32,768 B) for the second
        # Linear and the last ReLU; checkpoint keeps neither inside the block.
        assert kept[0] - kept[1] == 32768, "checkpoint keeps no activation of the block"
        # Kept with checkpoint: the block's input (held by the checkpoint's frame) and output
        # (32,768 B each), log_softmax's 64x10 result (2,560 B), the loss and nll_loss's
        # total_weight (512 B each).
        assert kept[1] == 32768 + 32768 + 2560 + 512 + 512, "inputs and outputs only"
