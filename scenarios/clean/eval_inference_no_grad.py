# Inference in eval mode under torch.no_grad(), keeping only the latest output, allocates the same activations every batch and frees them.
#@ expect: clean
#@ iterations: 6
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(128, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
model = model.to(device)
model.eval()
predicted_total = 0

with torch.no_grad():
    for batch in range(6):
        data = torch.randn(64, 128, device=device)
        logits = model(data)
        predicted = logits.argmax(dim=1).cpu()
        predicted_total += predicted.shape[0]

print("predicted", predicted_total, "samples")
