# Reading memory_allocated, memory_reserved and max_memory_allocated every step, as the GPU memory guide's print_gpu_memory does, shows allocated memory flat from the second step on and never above reserved or the peak.
#@ expect: clean
#@ iterations: 6
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
allocated_last_step = 0

for step in range(6):
    data = torch.randn(32, 64, device=device)
    target = torch.randint(0, 10, (32,), device=device)
    optimizer.zero_grad()
    output = model(data)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()

    allocated = torch.cuda.memory_allocated()
    reserved = torch.cuda.memory_reserved()
    max_allocated = torch.cuda.max_memory_allocated()
    print("step", step, "allocated GB", allocated / 1024**3, "reserved GB", reserved / 1024**3, "max allocated GB", max_allocated / 1024**3)

    assert allocated <= max_allocated, "the peak is at least the current value"
    assert allocated <= reserved, "allocated blocks live in reserved segments"
    assert allocated % 512 == 0, "every block is a multiple of 512 B"
    assert reserved % (2 * 1024 * 1024) == 0, "every segment is a multiple of 2 MiB"
    # The momentum buffers appear at the first step; from then on the same tensors are
    # alive at the end of every step: parameters, gradients, buffers, data, target, output, loss.
    if step > 0:
        assert allocated == allocated_last_step, "no growth from the second step on"
    allocated_last_step = allocated
