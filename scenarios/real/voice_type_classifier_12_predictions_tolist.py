# The fix given in the thread: `predictions.append(p.tolist())` keeps Python numbers in host memory, so each batch's output and its graph go when the next batch replaces `p` (https://github.com/MarvinLvn/voice-type-classifier/issues/12).
#@ expect: clean
# The loop quoted in the thread; the model and the data loader are not in the post: a small
# stand-in classifier and random batches.
# leakharness: clean; scripts/parity.py agrees with 2.15 (CPU) at all 22 statements.
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 5)).to(torch.device("cuda:0"))
model.eval()
dataloader = [torch.randn(32, 64) for _ in range(8)]

predictions = []
for batch in dataloader:
    p = model(batch.to(torch.device("cuda:0")))
    predictions.append(p.tolist())
