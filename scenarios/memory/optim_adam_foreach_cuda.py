# One Adam step on cuda peaks above its state by the sum of the parameters (foreach=True, PyTorch's default for cuda parameters: one exp_avg_sq.sqrt() per parameter at once) and by twice the largest parameter with foreach=False (the for-loop's sqrt and division, one parameter at a time).
#@ expect: clean
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
# weight 256x64 f32 = 65536 B, bias 256 f32 = 1024 B, weight 10x256 = 10240 B, bias 10 -> 512 B.
param_bytes = 65536 + 1024 + 10240 + 512
largest = 65536


def step_peak(**options):
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **options)
    peaks = []
    for step in range(2):
        x = torch.randn(32, 64, device=device)
        loss = nn.functional.mse_loss(model(x), torch.randn(32, 10, device=device))
        optimizer.zero_grad()
        loss.backward()
        del x, loss
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        optimizer.step()
        peaks.append(torch.cuda.max_memory_allocated() - before)
    return peaks


default = step_peak()
loop = step_peak(foreach=False)
if on_gpu:
    # The first step also makes exp_avg and exp_avg_sq for every parameter.
    assert default == [2 * param_bytes + param_bytes, param_bytes], "foreach: one sqrt per parameter"
    assert loop == [2 * param_bytes + 2 * largest, 2 * largest], "for-loop: two temporaries of one parameter"
    assert step_peak(foreach=True) == default
