# Adam's variants on cuda, step by step: fused=True keeps its step counters on the device (one 512-byte block each) and allocates nothing per step; capturable=True keeps them there too and adds its bias corrections as 0-dim device tensors (two per parameter with foreach, six at once in the for-loop); amsgrad=True adds max_exp_avg_sq per parameter and no temporaries.
#@ expect: clean
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
# weight 256x64 f32 = 65536 B, bias 256 f32 = 1024 B, weight 10x256 = 10240 B, bias 10 -> 512 B.
param_bytes = 65536 + 1024 + 10240 + 512
largest = 65536
steps = 4 * 512


def step_peaks(**options):
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
        peaks.append((torch.cuda.max_memory_allocated() - before, torch.cuda.memory_allocated() - before))
    return peaks


fused = step_peaks(fused=True)
fused_amsgrad = step_peaks(fused=True, amsgrad=True)
capturable = step_peaks(capturable=True)
capturable_loop = step_peaks(capturable=True, foreach=False)
amsgrad = step_peaks(amsgrad=True)
if on_gpu:
    state = 2 * param_bytes + steps
    assert fused == [(state, state), (0, 0)], "fused: the state, then nothing"
    assert fused_amsgrad == [(state + param_bytes, state + param_bytes), (0, 0)]
    # foreach: _foreach_pow(beta1, steps) and (beta2, steps), then one sqrt per parameter.
    assert capturable == [(state + 2 * steps + param_bytes, state), (2 * steps + param_bytes, 0)]
    # for-loop: five 0-dim locals, the 0-dim divisor, the sqrt and denom of the largest.
    assert capturable_loop == [(state + 6 * 512 + 2 * largest, state), (6 * 512 + 2 * largest, 0)]
    host_state = 3 * param_bytes
    assert amsgrad == [(host_state + param_bytes, host_state), (param_bytes, 0)]
