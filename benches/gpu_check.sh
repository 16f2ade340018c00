#!/usr/bin/env bash
# The GPU check of docs/gpu.md, in one call on a machine with a CUDA device, PyTorch and no Rust
# toolchain: the binaries were built elsewhere and copied to gpu-run/bin (see docs/gpu.md).
# Results go to $OUT (default gpu-out/): summary.txt (each step's exit status and seconds),
# trace-compare.txt, and everything else (test logs, the gallery's reports on cuda, per-statement
# traces of every scenario on cuda and under PyTorch, the benchmarks) in one gpu-check.tar.gz,
# since a device call brings back only a few files.
#
# Each step has its own time limit and the whole script a budget, so that it fits one lease with
# time to spare for a rerun.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
bin=gpu-run/bin
work=$(mktemp -d)

# kernels_compile and cuda_parity are modules of the `runtime` test binary, run by filter.
# The test binaries find scenarios/ through the checkout path they were built in.
built_in="${BUILT_IN:-/work/main}"
if [ -n "$built_in" ] && [ ! -e "$built_in" ]; then
  mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"
fi

# libnvrtc and libcublas from PyTorch's own CUDA wheels.
nvidia_root=$(python3 -c 'import nvidia, os; print(list(nvidia.__path__)[0])')
libs=$(find "$nvidia_root" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LEAKHARNESS_REQUIRE_CUDA=1 LEAKHARNESS_REQUIRE_NVRTC=1

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nproc
} > "$work/machine.txt" 2>&1

: > "$OUT/summary.txt"
# The whole script ends within $BUDGET seconds (default 420), archive included: each step's limit
# is cut to what is left, and a step with nothing left is skipped and says so.
deadline=$((SECONDS + ${BUDGET:-420}))
# step NAME LIMIT COMMAND...: runs COMMAND under LIMIT seconds, logs to NAME.log, and records
# its exit status and duration.
step() {
  local name=$1 limit=$2 start=$SECONDS left=$((deadline - SECONDS))
  shift 2
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -le 5 ]; then
    echo "$name: skipped, no time left" >> "$OUT/summary.txt"
    return
  fi
  timeout "$limit" "$@" > "$work/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - start)) s" >> "$OUT/summary.txt"
}

step kernels_compile 40 "$bin/runtime" kernels_compile --test-threads=1
step cuda_parity 90 "$bin/runtime" cuda_parity --test-threads=1
# One scenario at a time on the card: the driver cross-check needs it.
step run_cuda 120 "$bin/leakharness" run scenarios/ --backend cuda --report-dir "$work/reports"

# Per-statement traces, ours on cuda and PyTorch's, each scenario its own process with its own
# caching allocator, fourteen of PyTorch's and six of ours at a time (no driver cross-check here, so they may share the
# card).
mkdir -p "$work/trace-leakharness" "$work/trace-torch"
find scenarios -name '*.py' | sort > "$work/scenario-list.txt"
trace_ours() {
  local stem
  stem=$(echo "${1%.py}" | tr / -)
  timeout 60 "$bin/leakharness" trace "$1" --backend cuda > "$work/trace-leakharness/$stem.json" \
    2> "$work/trace-leakharness/$stem.err"
}
export -f trace_ours
export bin work
step trace_leakharness 150 xargs -a "$work/scenario-list.txt" -P 6 -I{} bash -c 'trace_ours {}' &
step trace_torch 150 xargs -a "$work/scenario-list.txt" -P 14 -n 1 timeout 60 \
  python3 benches/pytorch_trace.py record --out "$work/trace-torch"
wait
# Allocation by allocation under PyTorch, for the scenarios named in $SNAPSHOT_SCENARIOS (paths,
# space-separated): torch.cuda.memory snapshots with Python stacks, to set beside
# `leakharness run --snapshot` where the per-statement traces differ inside a statement.
if [ -n "${SNAPSHOT_SCENARIOS:-}" ]; then
  printf '%s\n' $SNAPSHOT_SCENARIOS > "$work/snapshot-list.txt"
  step snapshots 90 xargs -a "$work/snapshot-list.txt" -P 14 -n 1 timeout 60 \
    python3 benches/pytorch_trace.py record --out "$work/snapshot-traces" --snapshots "$work/snapshots"
fi
# What PyTorch's CUDA-only kernels (cuDNN RNN, fused RNN cells, fused attention) allocate and save.
step dispatch_probe 90 python3 benches/cuda_dispatch_probe.py "$work/dispatch-probe.json"

python3 benches/pytorch_trace.py compare "$work/trace-torch" "$work/trace-leakharness" \
  > "$OUT/trace-compare.txt" 2>&1

# --bench: without it divan runs each benchmark once as a test and prints no timings.
step bench_gpu 50 "$bin/gpu" --bench --sample-count 10
step bench_torch 30 python3 benches/pytorch_mlp_step.py --steps 30

# With PROFILE=1, each kernel's time in the MLP step under Nsight Compute (one pass per kernel:
# gpu__time_duration), past the set-up and the first steps; docs/benchmarks.md, "GPU".
if [ "${PROFILE:-0}" = 1 ] && command -v ncu >/dev/null; then
  step profile 90 ncu --metrics gpu__time_duration.sum --launch-skip 60 --launch-count 200 \
    --csv --log-file "$work/ncu.csv" "$bin/gpu" --bench mlp_training_step --sample-count 3
fi

cp "$OUT/summary.txt" "$OUT/trace-compare.txt" "$work/"
tar czf "$OUT/gpu-check.tar.gz" -C "$work" .
cat "$work/machine.txt" "$OUT/summary.txt"
tail -n 3 "$OUT/trace-compare.txt"
grep -E "^test result|FAILED|panicked|passed|failed" "$work"/*.log | head -n 30
