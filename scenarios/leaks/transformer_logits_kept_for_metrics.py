# The text classifier of clean/transformer_encoder_training.py, logging each epoch's mean confidence from the step logits it collected: the logits are kept attached, so every step's encoder graph stays alive until the epoch ends: 512 B (the 8×3 logits) and 134 graph nodes per step, as on PyTorch 2.15 (backward already freed what the nodes saved). The pattern of PyTorch's FAQ, "Don't accumulate history across your training loop" (https://pytorch.org/docs/stable/notes/faq.html).
#@ expect: leak retained-graph
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

device = "cuda" if torch.cuda.is_available() else "cpu"
vocab_size = 50
d_model = 16
num_classes = 3
seq_length = 8


class TextClassifier(nn.Module):
    def __init__(self, vocab_size, d_model, nhead, num_layers, num_classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=0)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward=4 * d_model, dropout=0.1, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens):
        padding_mask = tokens == 0
        x = self.encoder(self.embedding(tokens), src_key_padding_mask=padding_mask)
        return self.head(x.mean(dim=1))


torch.manual_seed(0)
tokens = torch.randint(1, vocab_size, (24, seq_length))
tokens[::2, 6:] = 0
labels = torch.randint(0, num_classes, (24,))
loader = DataLoader(TensorDataset(tokens, labels), batch_size=8, shuffle=True)

model = TextClassifier(vocab_size, d_model, 2, 2, num_classes).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for epoch in range(2):
    model.train()
    epoch_logits = []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        epoch_logits.append(logits)  # fix: epoch_logits.append(logits.detach())
    confidence = torch.cat(epoch_logits).softmax(dim=1).max(dim=1)[0].mean()
    print(f"epoch {epoch}: mean confidence {confidence.item():.3f}")
