# An LSTM language model trained by truncated backpropagation through time: the (h, c) state is carried from batch to batch but detached first, so each batch's backward frees its graph and memory stays flat.
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
        self.lstm = nn.LSTM(vocab, hidden_size, num_layers=2, dropout=0.2)
        self.decoder = nn.Linear(hidden_size, vocab)

    def forward(self, x, state):
        out, state = self.lstm(x, state)
        return self.decoder(out), state


def detach(state):
    return (state[0].detach(), state[1].detach())


model = LanguageModel().cuda()
opt = torch.optim.Adam(model.parameters(), lr=0.002)
state = (torch.zeros(2, batch_size, hidden_size, device="cuda"),
         torch.zeros(2, batch_size, hidden_size, device="cuda"))
steady = None
for batch in range(6):
    inputs = torch.randn(seq_length, batch_size, vocab, device="cuda")
    targets = torch.randint(0, vocab, (seq_length * batch_size,), device="cuda")
    state = detach(state)
    logits, state = model(inputs, state)
    loss = F.cross_entropy(logits.view(-1, vocab), targets)
    opt.zero_grad()
    loss.backward()
    opt.step()
    del logits, loss
    if torch.cuda.is_available() and batch > 0:
        # After the first step: parameters, their gradients, Adam's two moments, the state.
        if steady is None:
            steady = torch.cuda.memory_allocated()
        assert torch.cuda.memory_allocated() == steady, "a detached state keeps no graph"
