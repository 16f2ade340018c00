"""Times the cpu MLP training step of benches/runtime.rs (`cpu_training_step`) in PyTorch on the
CPU, for the comparison in docs/benchmarks.md: batch 64, 784-1024-1024-10 with ReLU between the
layers, cross-entropy, SGD with momentum 0.9 (foreach=False, as the leakharness runtime runs
it), at the thread count the runtime's host GEMM uses (rayon: one thread per core).

    python3 benches/pytorch_cpu_mlp_step.py [--steps 50] [--warmup 5] [--threads N]
"""

import argparse
import os
import statistics
import time

import torch
import torch.nn as nn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=False)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(64, 784)
    y = torch.randint(0, 10, (64,))

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
        f"torch {torch.__version__}, {args.threads} threads: "
        f"median {statistics.median(times) * 1e3:.2f} ms over {args.steps} steps"
    )


if __name__ == "__main__":
    main()
