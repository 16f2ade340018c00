# An MLP trained under torch.autograd.graph.save_on_cpu, PyTorch's way to trade copies for activation memory: every tensor a node saves is copied to host memory in forward (the node keeps the host copy) and back to the device when backward needs it. Between forward and backward the device then holds neither ReLU output (32,768 B each) nor cross_entropy's log_softmax result (1,536 B) and nll_loss's total_weight (512 B): 67,584 B less than without it, only the 512 B loss; and nothing grows from step to step.
#@ expect: clean
#@ iterations: 3
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()

model = nn.Sequential(
    nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(3):
    x = torch.randn(32, 64, device=device)  # 8,192 B, kept by the loop either way
    target = torch.randint(0, 10, (32,), device=device)
    kept = []
    for offload in (False, True):
        before = torch.cuda.memory_allocated()
        if offload:
            with torch.autograd.graph.save_on_cpu(pin_memory=on_gpu):
                loss = F.cross_entropy(model(x), target)
        else:
            loss = F.cross_entropy(model(x), target)
        kept.append(torch.cuda.memory_allocated() - before)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        del loss
    # From the second step on: real PyTorch allocates its cuBLAS workspaces in the first one.
    if on_gpu and step > 0:
        # Without offloading: both ReLU outputs, log_softmax's 32x10 result, total_weight and
        # the loss. With it: the loss only (the input and target are the loop's anyway).
        assert kept[0] == 32768 + 32768 + 1536 + 512 + 512, "plain graph"
        assert kept[1] == 512, "save_on_cpu keeps no activation on the device"
