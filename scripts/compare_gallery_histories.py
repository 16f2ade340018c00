"""Runs every gallery scenario with two leakharness binaries, on meta and on cpu, and compares
what they did to device memory: each scenario's allocator history (every alloc and free in
order, with its size, purpose and Python line; addresses as first-seen ranks, so the same block
choices compare equal across runs) and its JSON report less stacks, times and the command line.

Used to check that a change meant to keep the runtime's memory timing (the edition 2024
migration: docs/benchmarks.md, "A warm `cargo test`") keeps it:

    python3 scripts/compare_gallery_histories.py OLD_BINARY NEW_BINARY [SCENARIO_DIR]

Prints the scenarios whose histories differ and exits 1 if any does. Needs only Python's
standard library (the snapshots are pickles of plain dicts and lists).
"""

import json
import os
import pickle
import subprocess
import sys
import tempfile

SKIPPED_KEYS = {"stack", "stacks", "elapsed_ms", "time_us", "command"}


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in sorted(value.items()) if k not in SKIPPED_KEYS}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def histories(binary, scenarios, out):
    """Each report file's canonical lines, by (backend, file name)."""
    found = {}
    for backend in ("meta", "cpu"):
        reports = os.path.join(out, backend)
        subprocess.run(
            [binary, "run", "--backend", backend, "--snapshot", "--format", "json",
             "--report-dir", reports, scenarios],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )
        for name in sorted(os.listdir(reports)):
            path = os.path.join(reports, name)
            if name.endswith(".pickle"):
                with open(path, "rb") as f:
                    snapshot = pickle.load(f)
                ranks, lines = {}, []
                for trace in snapshot["device_traces"]:
                    for e in trace:
                        rank = ranks.setdefault(e["addr"], len(ranks))
                        frames = [(fr["line"], fr["name"]) for fr in e["frames"]]
                        lines.append((e["action"], rank, e["size"], e.get("category"), frames))
                found[(backend, name)] = lines
            elif name.endswith(".json"):
                with open(path) as f:
                    found[(backend, name)] = json.dumps(strip(json.load(f)), sort_keys=True)
    return found


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    old_bin, new_bin = sys.argv[1], sys.argv[2]
    scenarios = sys.argv[3] if len(sys.argv) == 4 else "scenarios"
    with tempfile.TemporaryDirectory() as tmp:
        old = histories(old_bin, scenarios, os.path.join(tmp, "old"))
        new = histories(new_bin, scenarios, os.path.join(tmp, "new"))
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    for backend, name in differ:
        print(f"differs: {backend} {name}")
    print(f"{len(old)} files compared, {len(differ)} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
