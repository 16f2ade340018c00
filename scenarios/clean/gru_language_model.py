# A GRU language model trained by truncated backpropagation through time: the hidden state is carried from batch to batch but detached first, so each batch's backward frees its graph and memory stays flat.
#@ expect: clean
import torch
import torch.nn as nn
import torch.nn.functional as F

vocab = 16
hidden_size = 32
seq_length = 5
batch_size = 8


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, num_layers=2, dropout=0.2, batch_first=True)
        self.decoder = nn.Linear(hidden_size, vocab)

    def forward(self, tokens, hidden):
        out, hidden = self.gru(self.embed(tokens), hidden)
        return self.decoder(out), hidden


model = LanguageModel().cuda()
opt = torch.optim.Adam(model.parameters(), lr=0.002)
hidden = torch.zeros(2, batch_size, hidden_size, device="cuda")
steady = None
for batch in range(6):
    tokens = torch.randint(0, vocab, (batch_size, seq_length), device="cuda")
    targets = torch.randint(0, vocab, (batch_size * seq_length,), device="cuda")
    hidden = hidden.detach()
    logits, hidden = model(tokens, hidden)
    loss = F.cross_entropy(logits.reshape(-1, vocab), targets)
    opt.zero_grad()
    loss.backward()
    opt.step()
    del logits, loss
    if torch.cuda.is_available() and batch > 0:
        # After the first step: parameters, their gradients, Adam's two moments, the state.
        if steady is None:
            steady = torch.cuda.memory_allocated()
        assert torch.cuda.memory_allocated() == steady, "a detached state keeps no graph"
