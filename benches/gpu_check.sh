#!/usr/bin/env bash
# The GPU check of docs/gpu.md, in one call on a machine with a CUDA device, PyTorch and no Rust
# toolchain: the binaries were built elsewhere and copied to gpu-run/bin (see docs/gpu.md).
# Results go to $OUT (default gpu-out/): test logs, the gallery's reports on cuda, a per-statement
# trace of every scenario on cuda and under PyTorch, the benchmarks, and a summary at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
bin=gpu-run/bin

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
} > "$OUT/machine.txt" 2>&1

status() { echo "$1: exit $2" >> "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

timeout 120 "$bin/runtime" kernels_compile --test-threads=1 > "$OUT/kernels_compile.log" 2>&1
status kernels_compile $?
timeout 240 "$bin/runtime" cuda_parity --test-threads=1 > "$OUT/cuda_parity.log" 2>&1
status cuda_parity $?
LEAKHARNESS_BACKEND=cuda timeout 240 "$bin/scenarios" --test-threads=1 > "$OUT/scenarios_cuda.log" 2>&1
status scenarios_cuda $?
timeout 240 "$bin/leakharness" run scenarios/ --backend cuda --report-dir "$OUT/reports" \
  > "$OUT/run_cuda.log" 2>&1
status run_cuda $?

# Per-statement traces: leakharness on cuda (one scenario at a time), PyTorch (in parallel: each
# scenario is its own process with its own caching allocator).
mkdir -p "$OUT/trace-leakharness" "$OUT/trace-torch"
find scenarios -name '*.py' | sort > "$OUT/scenario-list.txt"
while read -r f; do
  stem=$(echo "${f%.py}" | tr / -)
  timeout 60 "$bin/leakharness" trace "$f" --backend cuda > "$OUT/trace-leakharness/$stem.json" \
    2>> "$OUT/trace-leakharness.err"
done < "$OUT/scenario-list.txt"
status trace_leakharness $?
xargs -a "$OUT/scenario-list.txt" -P 8 -n 1 timeout 120 python3 benches/pytorch_trace.py record \
  --out "$OUT/trace-torch" > "$OUT/trace-torch.log" 2>&1
status trace_torch $?
python3 benches/pytorch_trace.py compare "$OUT/trace-torch" "$OUT/trace-leakharness" \
  > "$OUT/trace-compare.txt" 2>&1

timeout 150 "$bin/gpu" --bench --max-time 5 > "$OUT/bench_gpu.log" 2>&1
status bench_gpu $?
timeout 60 python3 benches/pytorch_mlp_step.py > "$OUT/bench_torch.log" 2>&1
status bench_torch $?

cat "$OUT/machine.txt" "$OUT/summary.txt"
tail -n 3 "$OUT/trace-compare.txt"
grep -E "^test result|FAILED|panicked" "$OUT"/*.log | head -n 20
