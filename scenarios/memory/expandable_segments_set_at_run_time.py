# torch.cuda.memory._set_allocator_settings("expandable_segments:True") switches expandable segments on while the script runs: the large pool becomes one segment grown by 20 MiB pages, so a 30 MiB tensor is carved from the free end of the page a 3 MiB tensor mapped plus one more page (40 MiB reserved, where separate segments take 50 MiB), and empty_cache() unmaps every free page.
#@ expect: clean
import torch

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
MiB = 1024 * 1024

if on_gpu:
    torch.cuda.memory._set_allocator_settings("expandable_segments:True")

# 3 MiB of f32: the first page of the large pool's expandable segment is mapped
small = torch.empty(3 * MiB // 4, device=device)
if on_gpu:
    assert torch.cuda.memory_reserved() == 20 * MiB, "one 20 MiB page"

# 30 MiB: the 17 MiB left on that page and one more page hold it, right after `small`
large = torch.empty(30 * MiB // 4, device=device)
if on_gpu:
    assert torch.cuda.memory_reserved() == 40 * MiB, "two pages, not a 30 MiB segment"
    assert torch.cuda.memory_allocated() == 33 * MiB

# the page wholly free after `large` is deleted goes back; the first page holds `small`
del large
torch.cuda.empty_cache()
if on_gpu:
    assert torch.cuda.memory_reserved() == 20 * MiB, "the second page is unmapped"

del small
torch.cuda.empty_cache()
if on_gpu:
    assert torch.cuda.memory_reserved() == 0, "every page is unmapped"
    torch.cuda.memory._set_allocator_settings("expandable_segments:False")
