# Inference that appends each batch's output tensor to a list: the outputs stay on the GPU, each with the graph of its batch (no `no_grad` here), until the list goes, so the device runs out after enough batches (https://github.com/MarvinLvn/voice-type-classifier/issues/12).
#@ expect: leak tensor-list missing-no-grad
# The loop quoted in the thread; the model and the data loader are not in the post: a small
# stand-in classifier and random batches.
# leakharness reports tensor-list and missing-no-grad at the append: 25,600 B and 5 graph nodes
# per batch (the 32×5 output and the 32×128 ReLU output its Addmm saved), held by
# predictions[i]. scripts/parity.py agrees with 2.15 (CPU) at all 22 statements.
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 5)).to(torch.device("cuda:0"))
model.eval()
dataloader = [torch.randn(32, 64) for _ in range(8)]

predictions = []
for batch in dataloader:
    p = model(batch.to(torch.device("cuda:0")))
    predictions.append(p)  # fix: predictions.append(p.tolist())
