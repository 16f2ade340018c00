#!/usr/bin/env bash
# The cpu MLP training steps of benches/runtime.rs and the same steps in PyTorch on the CPU,
# side by side in one run: ROUNDS rounds, each timing PyTorch then leakharness for the small
# MLP (784-1024-1024-10, batch 64) and the 3 x 4096 MLP (batch 256), with the load average
# before each round. PyTorch runs at the runtime's thread count (rayon: one per core).
# Quote medians over the rounds, and the load (docs/benchmarks.md).
#
#   cargo bench --bench runtime --no-run        # prints the bench executable
#   benches/cpu_vs_pytorch.sh target/release/deps/runtime-<hash> /path/to/venv/bin/python [ROUNDS]
set -euo pipefail

bench=$1
python=$2
rounds=${3:-3}
here=$(dirname "$0")
threads=$(nproc)

for round in $(seq 1 "$rounds"); do
    echo "== round $round: $(uptime)"
    "$python" "$here/pytorch_cpu_mlp_step.py" --model small --threads "$threads" --steps 30 --warmup 3
    "$bench" --bench cpu_training_step --skip 3x4096 2>&1 | grep -E "false|true"
    "$python" "$here/pytorch_cpu_mlp_step.py" --model 3x4096 --threads "$threads" --steps 5 --warmup 1
    "$bench" --bench step_3x4096 2>&1 | grep -E "3x4096"
done
echo "== end: $(uptime)"
