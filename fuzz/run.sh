#!/usr/bin/env bash
# Builds and runs the AFL++ fuzz targets (docs/reliability.md).
#   fuzz/run.sh smoke [EXECS]          a bounded run of each target from its seeds (CI)
#   fuzz/run.sh campaign TARGET SECS [JOBS]
#                                      a long run at the lowest priority, JOBS instances
#                                      (default 1) sharing one corpus
# A crash or hang found is copied to tests/fixtures/fuzz/, which `cargo test` replays, and
# fails the run.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"

# Each phase's wall time goes to stderr, so a slow CI run says which phase was slow.
phase() { # name, command...
    local name="$1" start=$SECONDS rc=0
    shift
    "$@" || rc=$?
    echo "fuzz/run.sh: $name took $((SECONDS - start)) s" >&2
    return "$rc"
}

# cargo-afl and its AFL++ runtime (built from the crate's copy of AFL++ with make and cc; the
# LLVM plugins are optional and not built): installed once per machine.
if ! cargo afl --version >/dev/null 2>&1; then
    phase "cargo install cargo-afl" cargo install cargo-afl --locked
fi
# `config --build` refuses to rebuild a runtime that is there; any other failure fails the run.
build_runtime() {
    cargo afl config --build >out/config.log 2>&1 || grep -q 'already built' out/config.log || {
        cat out/config.log >&2
        return 1
    }
}
mkdir -p out
phase "cargo afl config --build" build_runtime
phase "cargo afl build" cargo afl build --release --bins

# The gallery is the scenario target's seed corpus; the allocator's seeds are small programs.
seeds="$PWD/out/seeds"
rm -rf "$seeds"
mkdir -p "$seeds/scenario" "$seeds/allocator"
find "$root/scenarios" -name '*.py' -size -16k | while read -r f; do
    cp "$f" "$seeds/scenario/$(echo "${f#"$root"/}" | tr / _)"
done
cp "$root"/tests/fixtures/fuzz/*.py "$seeds/scenario/" 2>/dev/null || true
cp corpus/allocator/* "$seeds/allocator/"

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_AFFINITY=1 AFL_QUIET=1

fuzz() { # target, instances, extra afl-fuzz arguments...
    local target="$1" jobs="$2" start=$SECONDS
    shift 2
    local dict=()
    [ "$target" = scenario ] && dict=(-x "$PWD/scenario.dict")
    rm -rf "out/$target"
    # -t: an input that runs past 5 s (its own limit is 0.5 s per run) is a hang.
    local cmd=(cargo afl fuzz -i "$seeds/$target" -o "out/$target" "${dict[@]}" -t 5000 "$@")
    # Secondary instances (-S) share the main one's output folder and import each other's
    # finds, so N instances explore one corpus; each stops at the same -V bound.
    local pids=() i
    for ((i = 2; i <= jobs; i++)); do
        $nice "${cmd[@]}" -S "s$i" "target/release/$target" >"out/$target-s$i.log" 2>&1 &
        pids+=($!)
    done
    local rc=0
    $nice "${cmd[@]}" "target/release/$target" >"out/$target.log" 2>&1 || rc=$?
    for i in "${pids[@]}"; do
        wait "$i" || rc=$?
    done
    if [ "$rc" != 0 ]; then
        tail -20 "out/$target.log"
        return 1
    fi
    # One line per instance, then the executions of all of them.
    local stats
    for stats in "out/$target"/*/fuzzer_stats; do
        grep -E '^(execs_done|execs_per_sec|corpus_count|bitmap_cvg|stability|saved_crashes|saved_hangs|run_time) ' \
            "$stats" | sed "s/^/$target ($(basename "$(dirname "$stats")")): /"
    done
    awk '/^execs_done/ { n += $3 } END { print "'"$target"': executions, all instances: " n }' \
        "out/$target"/*/fuzzer_stats
    echo "fuzz/run.sh: fuzzing $target took $((SECONDS - start)) s" >&2
    # Each finding is named by its path, so a CI log says which file to replay.
    local found=0 kind f saved ext=bin
    [ "$target" = scenario ] && ext=py
    for kind in crashes hangs; do
        for f in "out/$target"/*/"$kind"/id*; do
            [ -e "$f" ] || continue
            found=1
            saved="tests/fixtures/fuzz/$target-$(sha256sum "$f" | cut -c1-16).$ext"
            cp "$f" "$root/$saved"
            echo "fuzz/run.sh: $target, one of its $kind: $saved" >&2
        done
    done
    return "$found"
}

# A campaign mutates each seed thousands of times, so a seed that runs for a second (the hang
# regressions, which run into the time limit on purpose, and the largest gallery programs)
# holds AFL++'s havoc stage at one execution a second: campaigns start from the seeds that run
# in under 100 ms. Each one left out is named.
drop_slow_seeds() { # target
    local f start ms
    for f in "$seeds/$1"/*; do
        start=$(date +%s%N)
        timeout 10 "target/release/$1" <"$f" >/dev/null 2>&1 || true
        ms=$((($(date +%s%N) - start) / 1000000))
        if [ "$ms" -gt 100 ]; then
            echo "fuzz/run.sh: campaign seed left out ($ms ms): $(basename "$f")" >&2
            rm "$f"
        fi
    done
}

# A campaign shares the machine with other work, so it runs at the lowest priority; the smoke
# runs at the caller's, as CI runs nothing beside it.
nice=""
case "${1:-smoke}" in
smoke)
    execs="${2:-2000}"
    fuzz scenario 1 -E "$execs" -V 300
    fuzz allocator 1 -E "$execs" -V 300
    ;;
campaign)
    nice="nice -n 19"
    drop_slow_seeds "${2:?target}"
    fuzz "$2" "${4:-1}" -V "${3:?seconds}"
    ;;
*)
    echo "usage: fuzz/run.sh smoke [EXECS] | campaign TARGET SECONDS [JOBS]" >&2
    exit 2
    ;;
esac
