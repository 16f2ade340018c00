# The seq2seq model of clean/transformer_seq2seq_training.py with the epoch loss summed as a tensor: `total_loss += loss` keeps each step's loss attached, and through it the whole graph of every step after backward (its nodes; backward freed what they saved) until the epoch ends.
#@ expect: leak attached-metric
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"
vocab_size = 40
d_model = 16


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.transformer = nn.Transformer(
            d_model=d_model,
            nhead=2,
            num_encoder_layers=1,
            num_decoder_layers=1,
            dim_feedforward=32,
            dropout=0.1,
            batch_first=True,
        )
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, src, tgt):
        tgt_mask = self.transformer.generate_square_subsequent_mask(tgt.size(1), device=tgt.device)
        out = self.transformer(self.embed(src), self.embed(tgt), tgt_mask=tgt_mask, tgt_is_causal=True)
        return self.head(out)


torch.manual_seed(0)
model = Seq2Seq().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(2):
    total_loss = 0.0
    for step in range(3):
        src = torch.randint(1, vocab_size, (4, 6), device=device)
        tgt = torch.randint(1, vocab_size, (4, 5), device=device)
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), tgt[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss  # fix: total_loss += loss.item()
    print(f"epoch {epoch}: loss {total_loss.item() / 3:.3f}")
