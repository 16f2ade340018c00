#!/usr/bin/env bash
# Builds and runs the AFL++ fuzz targets (docs/reliability.md).
#   fuzz/run.sh smoke [EXECS]          a bounded run of each target from its seeds (CI)
#   fuzz/run.sh campaign TARGET SECS   a long run on one core at the lowest priority
# A crash or hang found is copied to tests/fixtures/fuzz/, which `cargo test` replays, and
# fails the run.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"

# cargo-afl builds its AFL++ runtime from crates.io; installed once per machine.
if ! cargo afl --version >/dev/null 2>&1; then
    cargo install cargo-afl --locked
fi
cargo afl config --build >/dev/null 2>&1 || true
cargo afl build --release --bins

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

fuzz() { # target, extra afl-fuzz arguments...
    local target="$1"
    shift
    local dict=()
    [ "$target" = scenario ] && dict=(-x "$PWD/scenario.dict")
    rm -rf "out/$target"
    # -t: an input that runs past 5 s (its own limit is 0.5 s per run) is a hang.
    nice -n 19 cargo afl fuzz -i "$seeds/$target" -o "out/$target" "${dict[@]}" -t 5000 "$@" \
        "target/release/$target" >"out/$target.log" 2>&1 || {
        tail -20 "out/$target.log"
        return 1
    }
    local stats="out/$target/default/fuzzer_stats"
    grep -E '^(execs_done|execs_per_sec|saved_crashes|saved_hangs|run_time) ' "$stats" |
        sed "s/^/$target: /"
    local found=0
    for f in "out/$target/default/crashes"/id* "out/$target/default/hangs"/id*; do
        [ -e "$f" ] || continue
        found=1
        ext=$([ "$target" = scenario ] && echo py || echo bin)
        cp "$f" "$root/tests/fixtures/fuzz/$target-$(sha256sum "$f" | cut -c1-16).$ext"
    done
    [ "$found" = 0 ] || {
        echo "$target: findings copied to tests/fixtures/fuzz/" >&2
        return 1
    }
}

case "${1:-smoke}" in
smoke)
    execs="${2:-2000}"
    fuzz scenario -E "$execs" -V 300
    fuzz allocator -E "$execs" -V 300
    ;;
campaign)
    fuzz "${2:?target}" -V "${3:?seconds}"
    ;;
*)
    echo "usage: fuzz/run.sh smoke [EXECS] | campaign TARGET SECONDS" >&2
    exit 2
    ;;
esac
