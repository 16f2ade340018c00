# The fixed form of leaks/frag_growing_sequence.py: every batch padded to one length, so the caching allocator serves each padded batch from the block the previous one freed, and reserved memory stays flat.
#@ expect: clean
#@ iterations: 4
import torch

device = "cuda"
proj = torch.randn(256, 16, device=device)

for step in range(4):
    longest = 2048                   # the dataset's longest sequence, for every batch
    padded = torch.zeros(8, longest, 256, device=device)
    scores = padded[:, 0] @ proj     # the first (CLS) position
    print(step, torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
    del padded
