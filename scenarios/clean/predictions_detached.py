# Taking predictions from output.detach() drops the graph, and rebinding the same name every step keeps only the latest batch's predictions alive.
#@ expect: clean
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(8):
    data = torch.randn(32, 64, device=device)
    target = torch.randint(0, 10, (32,), device=device)
    optimizer.zero_grad()
    output = model(data)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()

    # Detach tensors you don't need gradients for
    prediction = output.detach()
    predicted_class = prediction.argmax(dim=1)

print("last batch, first predicted class", predicted_class[0].item())
