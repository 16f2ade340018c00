# RMSprop keeps one square_avg per parameter (two buffers with momentum), made at its first step; Adagrad makes its sum per parameter in its constructor, before any step.
#@ expect: clean
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
# weight 256x64 f32 = 65536 B, bias 256 f32 = 1024 B, weight 10x256 = 10240 B, bias 10 -> 512 B.
param_bytes = 65536 + 1024 + 10240 + 512


def train(optimizer_class, steps, **options):
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
    # A first backward, so that cuBLAS's workspaces exist before the measurement starts.
    warm_up = model(torch.randn(32, 64, device=device)).sum()
    warm_up.backward()
    model.zero_grad()
    del warm_up
    before = torch.cuda.memory_allocated()
    optimizer = optimizer_class(model.parameters(), **options)
    made = torch.cuda.memory_allocated() - before
    for step in range(steps):
        x = torch.randn(32, 64, device=device)
        loss = nn.functional.mse_loss(model(x), torch.randn(32, 10, device=device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    optimizer.zero_grad()
    del x, loss
    return made, torch.cuda.memory_allocated() - before


made, kept = train(torch.optim.RMSprop, 3, lr=0.01)
if on_gpu:
    assert made == 0, "RMSprop's state comes at the first step"
    assert kept == param_bytes, "square_avg"
made, kept = train(torch.optim.RMSprop, 3, lr=0.01, momentum=0.9)
if on_gpu:
    assert kept == 2 * param_bytes, "square_avg and momentum_buffer"
made, kept = train(torch.optim.Adagrad, 3, lr=0.01)
if on_gpu:
    assert made == param_bytes, "Adagrad's sum exists before any step"
    assert kept == param_bytes
