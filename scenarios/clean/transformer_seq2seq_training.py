# A toy sequence-to-sequence model over nn.Transformer as its tutorial builds it (token embeddings, the encoder-decoder with a causal target mask from generate_square_subsequent_mask, a linear head over the vocabulary) trained with teacher forcing: each step's backward frees the step's graph and the epoch keeps Python floats only, so memory is flat from the second step on.
#@ expect: clean
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
    losses = []
    for step in range(3):
        src = torch.randint(1, vocab_size, (4, 6), device=device)
        tgt = torch.randint(1, vocab_size, (4, 5), device=device)
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), tgt[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"epoch {epoch}: loss {sum(losses) / len(losses):.3f}")
