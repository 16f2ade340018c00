"""Runs scenario files under real PyTorch on CUDA and records, before every simple statement, the
caching allocator's counters: the same samples as `leakharness trace FILE`, so the runtime's
memory behaviour can be compared with PyTorch's statement by statement (docs/gpu.md).

    python3 benches/pytorch_trace.py record SCENARIO.py... --out DIR
        writes DIR/<stem>.json per scenario: {"samples": [...], "at_end": ..., "error": ...}
    python3 benches/pytorch_trace.py compare TORCH_DIR LEAKHARNESS_DIR
        prints, per scenario, whether the sample sequences agree, and the first difference

A sample is {"line", "allocated", "reserved", "peak_allocated"}: memory_allocated(),
memory_reserved() and max_memory_allocated() just before the statement on that line starts.
`for`, `while`, `if`, `with`, `def` and `class` headers are not sampled: CPython reports their
lines at other moments than an interpreter runs them (a `for` line once per iteration, a `with`
line again at exit). A `#@ device-memory:` header becomes set_per_process_memory_fraction, the
closest PyTorch has to a smaller device. Each scenario runs in a fresh process, so one scenario's
cached segments and cuBLAS workspace never show up in another's numbers.
"""

import ast
import json
import os
import subprocess
import sys


def statement_lines(tree):
    """Maps each source line to (is_simple, first line of its statement)."""
    lines = {}

    def visit(body):
        for stmt in body:
            nested = [
                getattr(stmt, field)
                for field in ("body", "orelse", "finalbody", "handlers")
                if getattr(stmt, field, None)
            ]
            if nested:
                first_body = min(
                    s.lineno for block in nested for s in block if hasattr(s, "lineno")
                )
                for line in range(stmt.lineno, first_body):
                    lines[line] = (False, stmt.lineno)
                for block in nested:
                    for item in block:
                        if isinstance(item, ast.ExceptHandler):
                            lines[item.lineno] = (False, item.lineno)
                            visit(item.body)
                        else:
                            visit([item])
            else:
                for line in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1):
                    lines[line] = (True, stmt.lineno)

    visit(tree.body)
    return lines


def header_value(source, key):
    for line in source.splitlines():
        if line.startswith("#@") and ":" in line:
            k, v = line[2:].split(":", 1)
            if k.strip() == key:
                return v.strip()
    return None


def parse_size(text):
    units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 10**3, "MB": 10**6, "GB": 10**9}
    text = text.replace(" ", "").replace("_", "")
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * units[unit])
    return int(text)


def record_one(path):
    import torch

    source = open(path).read()
    tree = ast.parse(source, path)
    lines = statement_lines(tree)
    memory = header_value(source, "device-memory")
    if memory is not None:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(parse_size(memory) / total)

    samples = []
    last = {}

    def sample(line):
        return {
            "line": line,
            "allocated": torch.cuda.memory_allocated(),
            "reserved": torch.cuda.memory_reserved(),
            "peak_allocated": torch.cuda.max_memory_allocated(),
        }

    def local(frame, event, arg):
        if event == "line":
            simple, start = lines.get(frame.f_lineno, (False, frame.f_lineno))
            key = id(frame)
            if not simple:
                last[key] = None
            elif last.get(key) != start:
                last[key] = start
                samples.append(sample(start))
        elif event == "return":
            last.pop(id(frame), None)
        return local

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == path:
            return local
        return None

    code = compile(tree, path, "exec")
    scope = {"__name__": "__main__", "__file__": path}
    error = None
    sys.settrace(tracer)
    try:
        exec(code, scope)
    except BaseException as e:  # the scenario's own error is part of the record
        error = f"{type(e).__module__}.{type(e).__name__}: {e}".split("\n")[0]
    finally:
        sys.settrace(None)
    torch.cuda.synchronize()
    return {"samples": samples, "at_end": sample(0), "error": error}


def record(paths, out):
    os.makedirs(out, exist_ok=True)
    for path in paths:
        stem = os.path.splitext(path)[0].replace(os.sep, "-")
        target = os.path.join(out, stem + ".json")
        # A fresh process per scenario: PyTorch's allocator and cuBLAS handles are process-wide.
        done = subprocess.run(
            [sys.executable, __file__, "one", path, target], capture_output=True, text=True
        )
        status = "ok" if done.returncode == 0 else f"failed: {done.stderr.strip()[-300:]}"
        print(f"{path}: {status}", flush=True)


def compare(torch_dir, ours_dir):
    agree = 0
    names = sorted(n for n in os.listdir(torch_dir) if n.endswith(".json"))
    for name in names:
        theirs = json.load(open(os.path.join(torch_dir, name)))
        mine_path = os.path.join(ours_dir, name)
        if not os.path.exists(mine_path):
            print(f"{name}: no leakharness trace")
            continue
        mine = json.load(open(mine_path))
        a, b = theirs["samples"], mine["samples"]
        diffs = []
        if [s["line"] for s in a] != [s["line"] for s in b]:
            diffs.append(f"statement order differs ({len(a)} vs {len(b)} samples)")
        for i, (x, y) in enumerate(zip(a, b)):
            for key in ("allocated", "reserved", "peak_allocated"):
                if x[key] != y[key]:
                    diffs.append(
                        f"sample {i} (line {x['line']}): {key} pytorch {x[key]} leakharness {y[key]}"
                    )
        if (theirs["error"] is None) != (mine["error"] is None):
            diffs.append(f"error: pytorch {theirs['error']!r} leakharness {mine['error']!r}")
        if diffs:
            print(f"{name}: {len(diffs)} differences; first: {diffs[0]}")
            for d in diffs[1:4]:
                print(f"    {d}")
        else:
            agree += 1
            print(f"{name}: identical ({len(a)} statements)")
    print(f"{agree} of {len(names)} scenarios identical")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "record" and "--out" in sys.argv:
        i = sys.argv.index("--out")
        record(sys.argv[2:i] + sys.argv[i + 2 :], sys.argv[i + 1])
    elif mode == "one" and len(sys.argv) == 4:
        result = record_one(sys.argv[2])
        with open(sys.argv[3], "w") as f:
            json.dump(result, f)
    elif mode == "compare" and len(sys.argv) == 4:
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
