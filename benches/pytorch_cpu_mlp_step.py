"""Times the cpu MLP training steps of benches/runtime.rs in PyTorch on the CPU, for the
comparison in docs/benchmarks.md: `--model small` is `cpu_training_step` (batch 64,
784-1024-1024-10), `--model 3x4096` is `cpu_training_step_3x4096` (batch 256, three
4096 x 4096 layers, 4096 classes); ReLU between the layers, cross-entropy, SGD with momentum 0.9
(foreach=False, as the leakharness runtime runs it), at the thread count the runtime's host GEMM
uses (rayon: one thread per core).

    python3 benches/pytorch_cpu_mlp_step.py [--model small|3x4096] [--steps 50] [--warmup 5] [--threads N]
"""

import argparse
import os
import statistics
import time

import torch
import torch.nn as nn


# Batch and layer widths (input first) of each model, as benches/runtime.rs defines them.
SHAPES = {
    "small": (64, [784, 1024, 1024, 10]),
    "3x4096": (256, [4096, 4096, 4096, 4096]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--model", choices=sorted(SHAPES), default="small")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch, widths = SHAPES[args.model]
    layers = []
    for i in range(len(widths) - 1):
        if layers:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(widths[i], widths[i + 1]))
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=False)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, widths[0])
    y = torch.randint(0, widths[-1], (batch,))

    def step() -> float:
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(
        f"torch {torch.__version__}, {args.model}, {args.threads} threads: "
        f"median {statistics.median(times) * 1e3:.2f} ms over {args.steps} steps"
    )


if __name__ == "__main__":
    main()
