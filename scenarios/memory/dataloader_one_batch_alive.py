# Iterating a DataLoader fetches and collates one batch per step: a batch stays alive only while the program holds it (the last one after the loop), and drop_last drops the short batch.
#@ expect: clean
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()


class Squares(Dataset):
    def __init__(self, n):
        self.x = torch.randn(n, 64, device=device)  # n x 256 B rows

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "label": i % 3}


data = Squares(40)  # 10240 B
loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=0, pin_memory=False)
assert len(loader) == 5
base = torch.cuda.memory_allocated()
for batch in loader:
    # default_collate stacks the 8 rows into one 8x64 tensor (2048 B) and makes the labels
    # a host int64 tensor; the previous batch went when `batch` was rebound.
    assert batch["x"].shape == (8, 64)
    if on_gpu:
        assert torch.cuda.memory_allocated() - base == 2048
del batch
if on_gpu:
    assert torch.cuda.memory_allocated() == base

pairs = TensorDataset(torch.randn(40, 64, device=device), torch.randn(40, 1, device=device))
steps = 0
for xb, yb in DataLoader(pairs, batch_size=16, drop_last=True):
    steps += 1
assert steps == 2, "drop_last drops the last 8 rows"
del pairs
if on_gpu:
    # The last batch stays bound after the loop: 16x64 = 4096 B and 16x1 (64 B -> 512 B).
    assert torch.cuda.memory_allocated() - base == 4096 + 512
del xb, yb

train, val = random_split(data, [30, 10])
assert len(train) == 30 and len(val) == 10
assert len(DataLoader(val, batch_size=4)) == 3
