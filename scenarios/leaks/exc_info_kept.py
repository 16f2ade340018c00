# A logger that collects `sys.exc_info()` for every failed step: the triple's traceback keeps the frame of the step, and the activations its locals name.
#@ expect: leak kept-exception
import sys
import torch
import torch.nn as nn

encoder = nn.Linear(64, 128).cuda()
decoder = nn.Linear(128, 10).cuda()
failed = []


def forward(batch, mask):
    features = encoder(batch).relu()
    return decoder(features * mask)


for step in range(6):
    batch = torch.randn(32, 64, device="cuda")
    # A data bug: the masks have the wrong width, so every step fails.
    mask = torch.ones(32, 64, device="cuda")
    try:
        out = forward(batch, mask)
    except RuntimeError:
        failed.append(sys.exc_info())  # fix: failed.append(traceback.format_exc())
