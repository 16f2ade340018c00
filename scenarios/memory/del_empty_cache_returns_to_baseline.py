# After a training run, deleting the tensors, the model and the optimizer brings allocated memory back to where it was before the model existed, and empty_cache() then returns every cached segment.
#@ expect: clean
#@ iterations: 6
import torch
import torch.nn as nn
import torch.optim as optim

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
allocated_before_model = torch.cuda.memory_allocated()

# the guide's SimpleNet: fc1 = Linear(10, 5), ReLU, fc2 = Linear(5, 2)
model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2)).to(device)
optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

for step in range(6):
    input_tensor = torch.randn(1, 10, device=device)
    output = model(input_tensor)
    loss = torch.nn.functional.mse_loss(output, torch.randn(1, 2, device=device))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()

allocated_after_training = torch.cuda.memory_allocated()

# Clean up the graph and free up memory
del output, loss, input_tensor, model, optimizer
if on_gpu:
    # Every tensor below is smaller than 512 B, so each takes one 512-byte block:
    # weights 5x10 and 2x5 f32 (200 B, 40 B), biases 5 and 2 f32 (20 B, 8 B): 4 x 512 B;
    # the 4 momentum buffers, one per parameter: 4 x 512 B;
    # output 1x2 f32, loss (0-dim f32), input_tensor 1x10 f32: 3 x 512 B.
    # (The target and the saved activations were freed by backward; zero_grad() set the
    # gradients to None.) 11 x 512 B = 5632 B.
    assert allocated_after_training - torch.cuda.memory_allocated() == 5632, "del frees 5632 B"
    # What is still allocated is cuBLAS's: PyTorch took a workspace from the caching allocator
    # at the first matrix product of this thread (32 MiB on an H100/H200, 8 MiB + 128 KiB on
    # other cards), a 1 MiB cuBLASLt one for nn.Linear's bias epilogue, and another cuBLAS one
    # for the autograd engine's thread at the first backward. Neither del nor empty_cache()
    # gives them back; the process keeps them until it exits, or until this private call.
    assert torch.cuda.memory_allocated() > allocated_before_model, "cuBLAS keeps its workspaces"
    torch._C._cuda_clearCublasWorkspaces()
    assert torch.cuda.memory_allocated() == allocated_before_model, "back to the baseline"
    assert torch.cuda.memory_reserved() > 0, "freed blocks stay cached until empty_cache()"

torch.cuda.empty_cache()
if on_gpu:
    assert torch.cuda.memory_reserved() == 0, "empty_cache() returns every free segment"
