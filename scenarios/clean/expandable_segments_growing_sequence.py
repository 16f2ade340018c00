# leaks/frag_growing_sequence.py with the fix PyTorch's out-of-memory message suggests, PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True: the large pool becomes one segment that grows by 20 MiB pages, each padded batch is carved from its free end and merges back when deleted, so reserved memory follows the largest batch (20 MiB more between 4 and 8 steps, nothing more by 12) instead of climbing by a new segment every step.
#@ expect: clean
#@ iterations: 4
#@ alloc-conf: expandable_segments:True
import torch

device = "cuda"
proj = torch.randn(256, 16, device=device)

for step in range(4):
    longest = 1280 + 256 * step      # still growing: no padding to a fixed length
    padded = torch.zeros(8, longest, 256, device=device)
    scores = padded[:, 0] @ proj     # the first (CLS) position
    print(step, torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
    del padded
