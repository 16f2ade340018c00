"""Runs scenario files under real PyTorch on CUDA and records, before every simple statement, the
caching allocator's counters: the same samples as `leakharness trace FILE`, so the runtime's
memory behaviour can be compared with PyTorch's statement by statement (docs/gpu.md).

    python3 benches/pytorch_trace.py record SCENARIO.py... --out DIR [--snapshots SNAPDIR]
        writes DIR/<stem>.json per scenario: {"samples": [...], "at_end": ..., "error": ...};
        with --snapshots, also SNAPDIR/<stem>.pickle: torch.cuda.memory._dump_snapshot of the
        run with every allocation and free and its Python stack, to set beside
        `leakharness run --snapshot` when two traces differ inside one statement
    python3 benches/pytorch_trace.py compare TORCH_DIR LEAKHARNESS_DIR
        prints, per scenario, whether the sample sequences agree, and the first differences
    python3 benches/pytorch_trace.py snapdiff TORCH.pickle LEAKHARNESS.pickle
        lines up the two snapshots' allocations and frees (size asked for, in order) and prints
        where they part, with the Python line of each side

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


def record_one(path, snapshot=None):
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

    def on_line(frame, lineno):
        simple, start = lines.get(lineno, (False, lineno))
        key = id(frame)
        if not simple:
            last[key] = None
        elif last.get(key) != start:
            last[key] = start
            samples.append(sample(start))

    def local(frame, event, arg):
        if event == "line":
            on_line(frame, frame.f_lineno)
        elif event == "return":
            last.pop(id(frame), None)
        return local

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == path:
            return local
        return None

    # sys.settrace sees only the thread it is set on, and on CUDA PyTorch runs backward hooks and
    # autograd.Function.backward on the autograd engine's own thread: sys.monitoring (Python
    # 3.12) sees every thread, so those statements are sampled as the engine samples them.
    monitoring = getattr(sys, "monitoring", None)

    def frame_of(code):
        frame = sys._getframe(2)
        while frame is not None and frame.f_code is not code:
            frame = frame.f_back
        return frame

    def monitored_line(code, lineno):
        if code.co_filename != path:
            return monitoring.DISABLE
        frame = frame_of(code)
        if frame is not None:
            on_line(frame, lineno)

    def monitored_exit(code, offset, *rest):
        if code.co_filename == path:
            frame = frame_of(code)
            if frame is not None:
                last.pop(id(frame), None)

    def start_tracing():
        if monitoring is None:
            sys.settrace(tracer)
            return
        tool = monitoring.DEBUGGER_ID
        monitoring.use_tool_id(tool, "pytorch_trace")
        events = monitoring.events
        monitoring.register_callback(tool, events.LINE, monitored_line)
        for event in (events.PY_RETURN, events.PY_YIELD, events.PY_UNWIND):
            monitoring.register_callback(tool, event, monitored_exit)
        monitoring.set_events(
            tool, events.LINE | events.PY_RETURN | events.PY_YIELD | events.PY_UNWIND
        )

    def stop_tracing():
        if monitoring is None:
            sys.settrace(None)
            return
        monitoring.set_events(monitoring.DEBUGGER_ID, 0)
        monitoring.free_tool_id(monitoring.DEBUGGER_ID)

    code = compile(tree, path, "exec")
    scope = {"__name__": "__main__", "__file__": path}
    error = None
    if snapshot:
        torch.cuda.memory._record_memory_history(max_entries=1_000_000, stacks="python")
    start_tracing()
    try:
        exec(code, scope)
    except BaseException as e:  # the scenario's own error is part of the record
        error = f"{type(e).__module__}.{type(e).__name__}: {e}".split("\n")[0]
    finally:
        stop_tracing()
    torch.cuda.synchronize()
    if snapshot:
        torch.cuda.memory._dump_snapshot(snapshot)
    return {"samples": samples, "at_end": sample(0), "error": error}


def record(paths, out, snapshots=None):
    os.makedirs(out, exist_ok=True)
    if snapshots:
        os.makedirs(snapshots, exist_ok=True)
    for path in paths:
        stem = os.path.splitext(path)[0].replace(os.sep, "-")
        target = os.path.join(out, stem + ".json")
        extra = [os.path.join(snapshots, stem + ".pickle")] if snapshots else []
        # A fresh process per scenario: PyTorch's allocator and cuBLAS handles are process-wide.
        done = subprocess.run(
            [sys.executable, __file__, "one", path, target] + extra, capture_output=True, text=True
        )
        status = "ok" if done.returncode == 0 else f"failed: {done.stderr.strip()[-300:]}"
        print(f"{path}: {status}", flush=True)


def compare(torch_dir, ours_dir):
    """Lines the two sample sequences up by statement (difflib over the line numbers), so that
    a statement one side runs more often (a `__len__` PyTorch's DataLoader calls again, a hook
    body PyTorch runs on the autograd engine's thread, where sys.settrace does not reach) shows
    as that and does not shift every later comparison; then compares the matched samples."""
    import difflib

    identical = counters_equal = 0
    names = sorted(n for n in os.listdir(torch_dir) if n.endswith(".json"))
    for name in names:
        theirs = json.load(open(os.path.join(torch_dir, name)))
        mine_path = os.path.join(ours_dir, name)
        if not os.path.exists(mine_path):
            print(f"{name}: no leakharness trace")
            continue
        try:
            mine = json.load(open(mine_path))
        except ValueError:
            print(f"{name}: leakharness trace unreadable")
            continue
        a, b = theirs["samples"], mine["samples"]
        matcher = difflib.SequenceMatcher(
            a=[s["line"] for s in a], b=[s["line"] for s in b], autojunk=False
        )
        sequence, counters, peaks = [], [], []
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op != "equal":
                sequence.append(
                    f"lines {[s['line'] for s in a[i1:i2]]} in pytorch where leakharness has "
                    f"{[s['line'] for s in b[j1:j2]]} (after sample {i1})"
                )
                continue
            for x, y in zip(a[i1:i2], b[j1:j2]):
                for key in ("allocated", "reserved", "peak_allocated"):
                    if x[key] != y[key]:
                        (peaks if key == "peak_allocated" else counters).append(
                            f"line {x['line']}: {key} pytorch {x[key]} leakharness {y[key]}"
                            f" ({y[key] - x[key]:+})"
                        )
        errors = []
        if (theirs["error"] is None) != (mine["error"] is None):
            errors.append(f"error: pytorch {theirs['error']!r} leakharness {mine['error']!r}")
        if not counters:
            counters_equal += 1
        if not (sequence or counters or peaks or errors):
            identical += 1
            print(f"{name}: identical ({len(a)} statements)")
            continue
        print(
            f"{name}: {len(counters)} allocated/reserved, {len(peaks)} peak, "
            f"{len(sequence)} sequence differences"
        )
        for d in (errors + counters[:3] + peaks[:2] + sequence[:2]):
            print(f"    {d}")
    print(f"{counters_equal} of {len(names)} scenarios: allocated and reserved equal at every matched statement")
    print(f"{identical} of {len(names)} scenarios identical")


def snapdiff(theirs_path, ours_path, limit=15):
    """Where two allocator histories part: each side's alloc and free_requested events as
    (action, size asked for), aligned with difflib; each difference with the scenario line the
    event came from (the innermost frame in a scenario file)."""
    import difflib
    import pickle

    def events(path):
        trace = pickle.load(open(path, "rb"))["device_traces"][0]
        out = []
        for e in trace:
            if e["action"] in ("alloc", "free_requested"):
                lines = [f["line"] for f in e.get("frames", []) if "scenarios" in f["filename"]]
                out.append((e["action"][0].upper() + str(e["size"]), lines[0] if lines else None))
        return out

    a, b = events(theirs_path), events(ours_path)
    matcher = difflib.SequenceMatcher(a=[x for x, _ in a], b=[x for x, _ in b], autojunk=False)
    parts = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    print(f"{len(a)} events in pytorch, {len(b)} in leakharness, {len(parts)} differences")
    for op, i1, i2, j1, j2 in parts[:limit]:
        print(f"  {op}: pytorch {a[i1:i2][:8]} leakharness {b[j1:j2][:8]} (after pytorch event {i1})")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "record" and "--out" in sys.argv:
        args = sys.argv[2:]
        options = {}
        for flag in ("--out", "--snapshots"):
            if flag in args:
                i = args.index(flag)
                options[flag] = args[i + 1]
                del args[i : i + 2]
        record(args, options["--out"], options.get("--snapshots"))
    elif mode == "one" and len(sys.argv) in (4, 5):
        result = record_one(sys.argv[2], sys.argv[4] if len(sys.argv) == 5 else None)
        with open(sys.argv[3], "w") as f:
            json.dump(result, f)
    elif mode == "compare" and len(sys.argv) == 4:
        compare(sys.argv[2], sys.argv[3])
    elif mode == "snapdiff" and len(sys.argv) == 4:
        snapdiff(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
