# A forward pass under torch.no_grad() keeps only its output, while the same pass with gradients enabled also keeps the activation saved for backward until the output is dropped.
#@ expect: clean
#@ iterations: 4
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

for step in range(4):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()

    model.eval()
    val_x = torch.randn(32, 64, device=device)
    before = torch.cuda.memory_allocated()
    with torch.no_grad():
        val_output = model(val_x)
    kept_without_graph = torch.cuda.memory_allocated() - before
    del val_output

    before = torch.cuda.memory_allocated()
    val_output = model(val_x)
    kept_with_graph = torch.cuda.memory_allocated() - before
    del val_output
    model.train()

    if on_gpu:
        # the 32x10 f32 output: 1280 B -> 1536 B; the 32x256 hidden activations were freed
        assert kept_without_graph == 1536, "no_grad keeps only the output"
        # plus ReLU's 32x256 f32 result (32768 B), saved by ReLU and by the second Linear;
        # the first Linear saves val_x and its weight, which exist anyway
        assert kept_with_graph == 1536 + 32768, "the graph keeps the hidden activation"
        assert torch.cuda.memory_allocated() == before, "dropping the output frees its graph"
