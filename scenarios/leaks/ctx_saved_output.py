# A custom autograd Function keeps its output on ctx (ctx.out = out) for backward instead of ctx.save_for_backward(out): out → grad_fn → ctx → out is a reference cycle, so every step's output and graph stay until the cyclic collector runs (https://github.com/pytorch/pytorch/issues/25340).
#@ expect: leak ctx-saved-output
import torch


class Exp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.out = out  # fix: ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.out


w = torch.randn(64, 32, device="cuda", requires_grad=True)
for step in range(6):
    x = torch.randn(16, 64, device="cuda")
    y = Exp.apply(x @ w)
    loss = y.sum()
    loss.backward()
