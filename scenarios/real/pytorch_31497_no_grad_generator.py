# An evaluation generator decorated with `@torch.no_grad()`: since PyTorch 1.5 the decorator runs every resumption of the generator's body without grad (pytorch#31792, the fix this thread led to), so the host copies the caller keeps hold no graph and the device stays flat (https://github.com/pytorch/pytorch/issues/31497).
#@ expect: clean
# The thread's `apply_model` with its decorator; the speech model and the data loader are not in
# the post, so a small stand-in model and random batches take their place, and the caller keeps
# a host copy of each batch's log-probabilities for decoding (also not in the post).
# leakharness: clean; before the decorator ran each resumption in its mode, this file reported
# the look-alike's leak.
# scripts/parity.py against 2.15 (CPU) stops at the first batch: under its CPU build's cuda shim
# `x.to(args.device)` returns the host batch itself, here it is a device copy (a shim artifact).
import torch
import torch.nn as nn
import torch.nn.functional as F


class Args:
    device = "cuda"


args = Args()


class Model(nn.Module):
    def __init__(self, n_features, n_classes):
        super().__init__()
        self.encoder = nn.Linear(n_features, 128)
        self.classifier = nn.Linear(128, n_classes)

    def forward(self, x, xlen, y=None, ylen=None):
        log_probs = F.log_softmax(self.classifier(torch.relu(self.encoder(x))), dim=-1)
        loss = F.nll_loss(log_probs.flatten(0, 1), y.flatten())
        return dict(log_probs=log_probs, output_lengths=xlen, loss=loss)


@torch.no_grad()
def apply_model(data_loader, model):
    print('memory_allocated', torch.cuda.memory_allocated() / 1e9, 'memory_cached', torch.cuda.memory_cached() / 1e9)
    for dataset_name_, audio_path_, reference_, x, xlen, y, ylen in data_loader:
        x, xlen, y, ylen = x.to(args.device), xlen.to(args.device), y.to(args.device), ylen.to(args.device)
        log_probs, output_lengths, loss = map(model(x, xlen, y = y, ylen = ylen).get, ['log_probs', 'output_lengths', 'loss'])
        yield log_probs


model = Model(40, 30).to(args.device)
model.eval()
data_loader = [
    ("dev", f"utt{i}.wav", "", torch.randn(4, 50, 40), torch.full((4,), 50), torch.randint(0, 30, (4, 50)), torch.full((4,), 50))
    for i in range(6)
]
decoded = []
for log_probs in apply_model(data_loader, model):
    decoded.append(log_probs.cpu())
