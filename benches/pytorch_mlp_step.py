"""Times the MLP training step of benches/gpu.rs (`mlp_training_step`) in PyTorch, for the
comparison in docs/benchmarks.md: batch 512, four 4096-wide nn.Linear layers with ReLU between
them, cross-entropy, SGD with momentum 0.9 (foreach=False, as the leakharness runtime runs it),
`loss.item()` at the end of each step so that every step is synchronized.

    python3 benches/pytorch_mlp_step.py [--steps 100] [--warmup 10]
"""

import argparse
import statistics
import time

import torch
import torch.nn as nn

BATCH = 512
WIDTH = 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return
    device = "cuda"
    torch.manual_seed(0)
    layers = []
    for i in range(4):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(WIDTH, WIDTH, device=device))
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=False)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(BATCH, WIDTH, device=device)
    y = torch.randint(0, WIDTH, (BATCH,), device=device)

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
    ms = [t * 1e3 for t in times]
    print(
        f"pytorch {torch.__version__} on {torch.cuda.get_device_name()}: mlp_training_step "
        f"median {statistics.median(ms):.3f} ms, mean {statistics.mean(ms):.3f} ms, "
        f"min {min(ms):.3f} ms over {args.steps} steps (TF32 matmul "
        f"{'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'})"
    )


if __name__ == "__main__":
    main()
