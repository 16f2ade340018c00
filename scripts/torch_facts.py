"""Measures, with real PyTorch, the memory facts leakharness models per PyTorch version.

Run it under the PyTorch to compare (not part of CI: torch is several GB):

    python3 scripts/torch_facts.py [--device cuda|cpu] > facts.json

For each probe it prints the node PyTorch records, the names of the tensors that node saves
(`grad_fn._saved_*`, tensors only), the bytes of the output's storage and, on cuda, how many
bytes of device memory the kept output holds (`torch.cuda.memory_allocated()` after the
inputs, the output and nothing else are alive). docs/fidelity.md records the results.
"""

import argparse
import json
import sys

import torch
import torch.nn.functional as F


def saved_tensors(node):
    names = []
    for attr in sorted(dir(node)):
        if attr.startswith("_saved_") and isinstance(getattr(node, attr), torch.Tensor):
            names.append(attr[len("_saved_"):])
    return names


def probes():
    def x(*shape):
        return torch.randn(*shape, requires_grad=True)

    return {
        "mse_loss mean 32x10": lambda d: F.mse_loss(x(32, 10).to(d), torch.randn(32, 10, device=d)),
        "mse_loss sum 32x10": lambda d: F.mse_loss(x(32, 10).to(d), torch.randn(32, 10, device=d), reduction="sum"),
        "mse_loss none 32x10": lambda d: F.mse_loss(x(32, 10).to(d), torch.randn(32, 10, device=d), reduction="none"),
        "l1_loss mean 32x10": lambda d: F.l1_loss(x(32, 10).to(d), torch.randn(32, 10, device=d)),
        "(a - b) ** 2 .mean() 32x10": lambda d: ((x(32, 10).to(d) - torch.randn(32, 10, device=d)) ** 2).mean(),
        "cross_entropy mean 32x10": lambda d: F.cross_entropy(x(32, 10).to(d), torch.randint(0, 10, (32,), device=d)),
        "exp": lambda d: torch.exp(x(32, 10).to(d)),
        "log": lambda d: torch.log(x(32, 10).to(d)),
        "sqrt": lambda d: torch.sqrt(x(32, 10).to(d)),
        "tanh": lambda d: torch.tanh(x(32, 10).to(d)),
        "sigmoid": lambda d: torch.sigmoid(x(32, 10).to(d)),
        "abs": lambda d: torch.abs(x(32, 10).to(d)),
        "gelu": lambda d: F.gelu(x(32, 10).to(d)),
        "silu": lambda d: F.silu(x(32, 10).to(d)),
        "softmax dim 1": lambda d: F.softmax(x(32, 10).to(d), dim=1),
        "transpose": lambda d: x(32, 10).to(d).transpose(0, 1),
        "permute": lambda d: x(2, 3, 4).to(d).permute(2, 0, 1),
        "squeeze": lambda d: x(32, 1, 10).to(d).squeeze(),
        "squeeze dim": lambda d: x(32, 1, 10).to(d).squeeze(1),
        "contiguous of t()": lambda d: x(32, 10).to(d).t().contiguous(),
        "clamp min max": lambda d: x(32, 10).to(d).clamp(min=-0.5, max=0.5),
        "clamp_min": lambda d: x(32, 10).to(d).clamp_min(0.1),
        "clamp_max": lambda d: x(32, 10).to(d).clamp_max(0.1),
        "maximum": lambda d: torch.maximum(x(32, 10).to(d), x(32, 10).to(d)),
        "minimum": lambda d: torch.minimum(x(32, 10).to(d), x(32, 10).to(d)),
        "where": lambda d: (lambda a: torch.where(a > 0, a, x(32, 10).to(d)))(x(32, 10).to(d)),
        "slice step": lambda d: x(4, 5, 6).to(d)[::2],
        "index ellipsis": lambda d: x(4, 5, 6).to(d)[...],
        "index None": lambda d: x(4, 5, 6).to(d)[None],
        "smooth_l1_loss mean 32x10": lambda d: F.smooth_l1_loss(x(32, 10).to(d), torch.randn(32, 10, device=d)),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    device = parser.parse_args().device
    torch.manual_seed(0)
    facts = {"torch": torch.__version__, "device": device, "probes": {}}
    for name, make in probes().items():
        if device == "cuda":
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
        out = make(device)
        node = out.grad_fn
        fact = {
            "node": type(node).__name__ if node is not None else None,
            "saved": saved_tensors(node) if node is not None else [],
            "shape": list(out.shape),
            "storage_bytes": out.untyped_storage().nbytes(),
        }
        if device == "cuda":
            # The inputs died with the lambda's frame unless the graph keeps them: what is
            # left is the output and what its graph holds.
            fact["kept_device_bytes"] = torch.cuda.memory_allocated() - base
        del out, node
        facts["probes"][name] = fact
    json.dump(facts, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
