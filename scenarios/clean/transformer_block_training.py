# A small pre-norm transformer block written by hand (fused qkv projection split with chunk, F.scaled_dot_product_attention, a GELU feed-forward), trained with Adam: each step's graph is freed by its backward, so memory is flat from the second step on.
#@ expect: clean
import torch
import torch.nn as nn
import torch.nn.functional as F

dim = 32
heads = 4
seq_length = 8
batch_size = 4


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ff1 = nn.Linear(dim, 4 * dim)
        self.ff2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(F.layer_norm(x, (d,))).chunk(3, dim=-1)
        q = q.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        k = k.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        v = v.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.ff2(F.gelu(self.ff1(F.layer_norm(x, (d,)))))


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block(dim, heads)
        self.second = Block(dim, heads)

    def forward(self, x):
        return self.second(self.first(x))


model = Transformer().cuda()
opt = torch.optim.Adam(model.parameters(), lr=0.001)
steady = None
for step in range(10):
    x = torch.randn(batch_size, seq_length, dim, device="cuda")
    target = torch.randn(batch_size, seq_length, dim, device="cuda")
    loss = F.mse_loss(model(x), target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if torch.cuda.is_available() and step > 0:
        if steady is None:
            steady = torch.cuda.memory_allocated()
        assert torch.cuda.memory_allocated() == steady, "nothing of a step's graph outlives it"
