# Keeping caught exceptions keeps their tracebacks, and the frames' locals with them: here the activations of every failed step stay on the device (https://github.com/ipython/ipython/pull/11572).
#@ expect: leak missing-no-grad kept-exception
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).cuda()
errors = []


def training_step(batch):
    hidden = model[0](batch).relu()
    # A shape bug on some batches: the second layer expects 256 features.
    logits = model[2](hidden if batch.shape[0] % 2 == 0 else hidden.t())
    return logits.sum()


for step in range(4):
    batch = torch.randn(8 + step % 2, 64, device="cuda")
    try:
        loss = training_step(batch)
        loss.backward()
    except RuntimeError as e:
        errors.append(e)
print(len(errors), "steps failed")
