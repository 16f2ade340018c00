# Every tensor's bytes are rounded up to a multiple of 512, requests up to 1 MiB share 2 MiB segments, larger ones open a 20 MiB segment, and empty_cache() gives free segments back.
#@ expect: clean
import torch

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
MiB = 1024 * 1024

if on_gpu:
    assert torch.cuda.memory_allocated() == 0, "nothing is allocated before the first tensor"
    assert torch.cuda.memory_reserved() == 0, "nothing is reserved before the first tensor"

# one f32 = 4 B, rounded up to the 512-byte minimum block
scale = torch.tensor(1.0, device=device)
if on_gpu:
    assert torch.cuda.memory_allocated() == 512, "4 B is allocated as 512 B"
    # a request of at most 1 MiB is served from a new 2 MiB small-pool segment
    assert torch.cuda.memory_reserved() == 2 * MiB, "the first small request reserves 2 MiB"

# 32x10 f32 = 1280 B, rounded up to 1536 B; it fits in the same segment
logits = torch.randn(32, 10, device=device)
if on_gpu:
    assert torch.cuda.memory_allocated() == 512 + 1536, "1280 B is allocated as 1536 B"
    assert torch.cuda.memory_reserved() == 2 * MiB, "the 2 MiB segment still has room"

# 512x512 f32 = 1048576 B = exactly 1 MiB: still the small pool, and the first segment
# has 2 MiB - 2048 B free, so it is carved from there too
weight = torch.empty(512, 512, device=device)
if on_gpu:
    assert torch.cuda.memory_allocated() == 2048 + MiB, "1 MiB needs no rounding"
    assert torch.cuda.memory_reserved() == 2 * MiB, "1 MiB fits in the first segment's free space"

# 513x512 f32 = 1050624 B, one row over 1 MiB: the large pool, which opens a 20 MiB
# segment for requests under 10 MiB
activations = torch.empty(513, 512, device=device)
if on_gpu:
    assert torch.cuda.memory_allocated() == 2048 + MiB + 1050624, "already a multiple of 512"
    assert torch.cuda.memory_reserved() == 2 * MiB + 20 * MiB, "a 20 MiB large-pool segment"

# Freed blocks go back to the cache, not to the device.
del scale, logits, weight, activations
if on_gpu:
    assert torch.cuda.memory_allocated() == 0, "every tensor is freed"
    assert torch.cuda.memory_reserved() == 22 * MiB, "the cache keeps both segments"

# empty_cache() returns every segment that is one free block.
torch.cuda.empty_cache()
if on_gpu:
    assert torch.cuda.memory_reserved() == 0, "both segments are wholly free and returned"
