# Batches padded to their longest sequence, from a dataset sorted by length (curriculum learning): every padded batch is larger than any block the caching allocator has cached, so each one opens a new segment, and reserved memory climbs by the padded batch's size every step while allocated memory stays flat, until an out-of-memory error.
#@ expect: leak fragmentation
#@ iterations: 4
import torch

device = "cuda"
proj = torch.randn(256, 16, device=device)

for step in range(4):
    longest = 1280 + 256 * step      # fix: pad every batch to one fixed length (the dataset's longest)
    padded = torch.zeros(8, longest, 256, device=device)
    scores = padded[:, 0] @ proj     # the first (CLS) position
    print(step, torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
    del padded
