# Hand-written activation offloading with torch.autograd.graph.saved_tensors_hooks, with the bug PyTorch's own first hooks-based checkpoint had (pytorch#78752: "storage was a list of autograd saved tensors and we weren't clearing this list out as tensors were accessed, so all activations would remain in memory"): the pack hook files every saved tensor in a dict that lives across steps, and the unpack hook reads it back without removing it. Each step keeps the input (8,192 B), the ReLU output (32,768 B, saved twice, one storage), cross_entropy's log_softmax result (1,536 B), the target (512 B) and nll_loss's total_weight (512 B): 43,520 B and 6 graph nodes per step, since the ReLU output and log_softmax result keep their history.
#@ expect: leak retained-graph
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"


class Stash:
    """Keeps what autograd saves under a key, to hand it back at backward."""

    def __init__(self):
        self.storage = {}
        self.counter = 0

    def pack(self, tensor):
        self.counter += 1
        self.storage[self.counter] = tensor
        return self.counter

    def unpack(self, key):
        return self.storage[key]  # fix: return self.storage.pop(key)


model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
stash = Stash()
for step in range(6):
    x = torch.randn(32, 64, device=device)
    target = torch.randint(0, 10, (32,), device=device)
    with torch.autograd.graph.saved_tensors_hooks(stash.pack, stash.unpack):
        loss = F.cross_entropy(model(x), target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"{len(stash.storage)} saved tensors stashed")
