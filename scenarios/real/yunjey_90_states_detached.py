# The tutorial as written: `states = detach(states)` starts each batch from the previous states without their history (truncated backpropagation through time) (https://github.com/yunjey/pytorch-tutorial/issues/90).
#@ expect: clean
import torch
import torch.nn as nn

# Hyper Parameters
embed_size = 16
hidden_size = 32
num_layers = 1
batch_size = 4
seq_length = 3
learning_rate = 0.002


# Truncated Backpropagation
def detach(states):
    return [state.detach() for state in states]


# RNN Based Language Model
class RNNLM(nn.Module):
    def __init__(self, embed_size, hidden_size, num_layers):
        super(RNNLM, self).__init__()
        self.w_ih = nn.Linear(embed_size, hidden_size)
        self.w_hh = nn.Linear(hidden_size, hidden_size)
        self.linear = nn.Linear(hidden_size, embed_size)

    def forward(self, x, h):
        # A one-layer recurrent cell in place of nn.LSTM.
        h, c = h
        h = (self.w_ih(x) + self.w_hh(h)).relu()
        return self.linear(h), (h, c)


model = RNNLM(embed_size, hidden_size, num_layers).cuda()
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

states = (torch.zeros(batch_size, hidden_size).cuda(),
          torch.zeros(batch_size, hidden_size).cuda())
for i in range(0, 12, seq_length):
    inputs = torch.randn(batch_size, embed_size).cuda()
    targets = torch.randn(batch_size, embed_size).cuda()

    # Forward + Backward + Optimize
    states = detach(states)
    outputs, states = model(inputs, states)
    loss = criterion(outputs, targets)
    model.zero_grad()
    loss.backward()
    optimizer.step()
