# nn.ReLU(inplace=True) writes into the Linear layer's output instead of allocating a second activation, so the forward pass keeps the same bytes but peaks 31232 B lower.
#@ expect: clean
#@ iterations: 4
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
on_gpu = torch.cuda.is_available()
model_out_of_place = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
model_in_place = nn.Sequential(nn.Linear(64, 256), nn.ReLU(inplace=True), nn.Linear(256, 10)).to(device)
optimizer_out_of_place = torch.optim.SGD(model_out_of_place.parameters(), lr=0.01)
optimizer_in_place = torch.optim.SGD(model_in_place.parameters(), lr=0.01)

for step in range(4):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)

    before = torch.cuda.memory_allocated()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    output = model_out_of_place(x)
    peak_out_of_place = torch.cuda.max_memory_allocated() - before
    kept_out_of_place = torch.cuda.memory_allocated() - before
    loss = nn.functional.mse_loss(output, y)
    loss.backward()
    optimizer_out_of_place.step()
    optimizer_out_of_place.zero_grad()
    del output, loss

    before = torch.cuda.memory_allocated()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    output = model_in_place(x)
    peak_in_place = torch.cuda.max_memory_allocated() - before
    kept_in_place = torch.cuda.memory_allocated() - before
    loss = nn.functional.mse_loss(output, y)
    loss.backward()
    optimizer_in_place.step()
    optimizer_in_place.zero_grad()
    del output, loss

    # From the second step on: real PyTorch allocates its cuBLAS workspaces in the first one.
    if on_gpu and step > 0:
        # Linear(64, 256) output h: 32x256 f32 = 32768 B. Out of place, ReLU allocates its
        # result r (32768 B) while h is still alive; h dies right after, since neither the
        # first Linear (it saves its input and weight) nor ReLU (it saves its result) keeps it.
        assert peak_out_of_place == 32768 + 32768, "h and r alive together"
        # In place, ReLU writes into h; the peak is h plus the 32x10 f32 output
        # (1280 B -> 1536 B).
        assert peak_in_place == 32768 + 1536, "only h, then the output"
        # Both keep one 32x256 activation (saved for ReLU's and the second Linear's
        # backward) and the output: 34304 B.
        assert kept_out_of_place == 32768 + 1536, "r and the output"
        assert kept_in_place == kept_out_of_place, "in-place ReLU keeps the same bytes"
        assert peak_out_of_place - peak_in_place == 31232, "in place saves 31232 B of peak"
