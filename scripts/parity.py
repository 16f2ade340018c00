"""Parity with real PyTorch, statement by statement (docs/fidelity.md, "Parity with PyTorch").

    python3 scripts/parity.py [--torch PYTHON] [--leakharness BIN] SCENARIO...

For each scenario, before every simple statement, both sides record what the program holds:
the tensors it reaches (shape, dtype, storage bytes; a leaf's gradient included) and every
autograd node reachable from them with the tensors it saved (`grad_fn._saved_*`, a custom
Function's `saved_tensors`). PyTorch's side runs under PYTHON (default: $TORCH_PYTHON, else
/tmp/torchvenv13/bin/python; a CPU build is enough) in a fresh process; leakharness's side is
`leakharness trace --tensors --backend cpu`. The script prints, per scenario, `agree` or the
first difference, and a summary line.

PyTorch's CPU build has no CUDA, so the scenario runs with a shim: `.cuda()`, `.to("cuda")`,
`device="cuda"` stay on the CPU and the `torch.cuda` counters read 0. leakharness sees a device,
so the two may take different branches (`if torch.cuda.is_available()`); records are compared
where the statement sequences align (difflib), and skipped statements are not differences.
Not part of CI (torch is several GB).
"""

import difflib
import gc
import json
import os
import subprocess
import sys
from types import FunctionType, MethodType, ModuleType

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "benches"))


def tensor_fact(t):
    return {
        "shape": list(t.shape),
        "dtype": str(t.dtype),
        "storage_bytes": t.untyped_storage().nbytes(),
    }


def saved_of(node, torch):
    """The tensors a node still holds, by the names leakharness gives them."""
    saved = []
    names = [a for a in dir(node) if a.startswith("_saved_")]
    if "saved_tensors" in dir(node):
        names.append("saved_tensors")
    for attr in names:
        try:
            value = getattr(node, attr)
        except RuntimeError:  # released by backward
            continue
        name = attr[len("_saved_"):] if attr.startswith("_saved_") else attr
        if isinstance(value, torch.Tensor):
            saved.append([name, tensor_fact(value)])
        elif isinstance(value, (tuple, list)):
            for i, v in enumerate(value):
                if isinstance(v, torch.Tensor):
                    label = name if attr == "saved_tensors" else f"{name}[{i}]"
                    saved.append([label, tensor_fact(v)])
    return saved


def node_name(node):
    return node.name().replace("torch::autograd::", "")


def holdings(torch, path, frame):
    """What the program's names reach, as leakharness's walk finds it: from the scenario's
    frames' locals and globals through what each object references, not into modules, nor
    into functions and classes of other files (PyTorch keeps the Python object of a tensor
    C++ still holds, so gc alone lists tensors the program no longer names)."""
    roots = []
    while frame is not None:
        if frame.f_code.co_filename == path:
            roots.append(frame.f_locals)
            roots.append(frame.f_globals)
        frame = frame.f_back
    tensors, seen, stack = {}, set(), roots
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, torch.Tensor):
            tensors[id(o)] = o
            continue
        if isinstance(o, (ModuleType, type)):
            continue
        code = getattr(o, "__code__", None)
        if isinstance(o, (FunctionType, MethodType)) and code is not None and code.co_filename != path:
            continue
        stack.extend(gc.get_referents(o))
    for t in list(tensors.values()):
        if t.is_leaf and t.grad is not None:
            tensors.setdefault(id(t.grad), t.grad)
    facts = sorted(
        (tensor_fact(t) for t in tensors.values()),
        key=lambda f: (f["shape"], f["dtype"], f["storage_bytes"]),
    )
    nodes, seen, stack = [], set(), [t.grad_fn for t in tensors.values() if t.grad_fn is not None]
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        nodes.append({"name": node_name(n), "saved": saved_of(n, torch)})
        stack.extend(f for f, _ in n.next_functions)
    nodes.sort(key=lambda n: json.dumps(n, sort_keys=True))
    del tensors
    return facts, nodes


def shim_cuda(torch):
    """Keeps a scenario written for a GPU on the CPU build."""

    def cpu_device(kwargs):
        d = kwargs.get("device")
        if d is not None and "cuda" in str(d):
            kwargs["device"] = "cpu"
        return kwargs

    for name in ("randn", "rand", "zeros", "ones", "empty", "randint", "tensor", "full", "arange"):
        original = getattr(torch, name)

        def wrapped(*args, _original=original, **kwargs):
            return _original(*args, **cpu_device(kwargs))

        setattr(torch, name, wrapped)
    to = torch.Tensor.to

    def tensor_to(self, *args, **kwargs):
        args = tuple("cpu" if "cuda" in str(a) and not isinstance(a, torch.Tensor) else a for a in args)
        return to(self, *args, **cpu_device(kwargs))

    torch.Tensor.to = tensor_to
    torch.Tensor.cuda = lambda self, *a, **k: self
    module_to = torch.nn.Module.to
    torch.nn.Module.to = lambda self, *a, **k: module_to(
        self, *("cpu" if "cuda" in str(x) else x for x in a), **cpu_device(k)
    )
    torch.nn.Module.cuda = lambda self, *a, **k: self
    for counter in (
        "memory_allocated",
        "memory_reserved",
        "max_memory_allocated",
        "max_memory_reserved",
    ):
        setattr(torch.cuda, counter, lambda *a, **k: 0)
    for call in ("reset_peak_memory_stats", "empty_cache", "synchronize"):
        setattr(torch.cuda, call, lambda *a, **k: None)


def record_one(path):
    import warnings

    import torch
    from pytorch_trace import statement_lines

    import ast

    warnings.simplefilter("ignore")
    shim_cuda(torch)
    source = open(path).read()
    tree = ast.parse(source, path)
    lines = statement_lines(tree)
    records, last = [], {}

    def local(frame, event, arg):
        if event == "line":
            simple, start = lines.get(frame.f_lineno, (False, frame.f_lineno))
            key = id(frame)
            if not simple:
                last[key] = None
            elif last.get(key) != start and torch._C._current_graph_task_id() == -1:
                # Not inside a backward pass (a hook, a Function's backward): reading saved
                # tensors there disturbs the engine; those statements are left uncompared.
                last[key] = start
                sys.settrace(None)
                tensors, nodes = holdings(torch, path, frame)
                sys.settrace(tracer)
                records.append({"line": start, "tensors": tensors, "nodes": nodes})
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
        error = f"{type(e).__name__}: {e}".split("\n")[0]
    finally:
        sys.settrace(None)
    return {"records": records, "error": error}


def canonical(items):
    # A node's saved tensors in name order: PyTorch lists them alphabetically (`dir`),
    # leakharness in the order the op saved them.
    def norm(i):
        if isinstance(i, dict) and "saved" in i:
            i = dict(i, saved=sorted(i["saved"], key=json.dumps))
        return json.dumps(i, sort_keys=True)

    return sorted(norm(i) for i in items)


def first_difference(theirs, ours):
    a, b = theirs["records"], ours["records"]
    la, lb = [r["line"] for r in a], [r["line"] for r in b]
    compared = 0
    for block in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            x, y = a[block.a + k], b[block.b + k]
            compared += 1
            for key in ("tensors", "nodes"):
                if canonical(x[key]) != canonical(y[key]):
                    return compared, describe(x["line"], key, x[key], y[key])
    if (theirs["error"] is None) != (ours["error"] is None):
        return compared, f"error: pytorch {theirs['error']!r}, leakharness {ours['error']!r}"
    return compared, None


def describe(line, key, theirs, ours):
    from collections import Counter

    a, b = Counter(canonical(theirs)), Counter(canonical(ours))
    only_theirs = sorted((a - b).elements())
    only_ours = sorted((b - a).elements())
    return (
        f"line {line}, {key}: pytorch only {only_theirs[:2]}"
        f"{' ...' if len(only_theirs) > 2 else ''}, leakharness only {only_ours[:2]}"
        f"{' ...' if len(only_ours) > 2 else ''}"
    )


def main():
    args = sys.argv[1:]
    python = os.environ.get("TORCH_PYTHON", "/tmp/torchvenv13/bin/python")
    binary = os.path.join(ROOT, "target", "debug", "leakharness")
    if "--torch" in args:
        i = args.index("--torch")
        python = args[i + 1]
        del args[i : i + 2]
    if "--leakharness" in args:
        i = args.index("--leakharness")
        binary = args[i + 1]
        del args[i : i + 2]
    if len(args) == 2 and args[0] == "--one":
        print(json.dumps(record_one(args[1])))
        return
    if not args:
        sys.exit(__doc__)
    agree = 0
    for path in args:
        torch_run = subprocess.run(
            [python, __file__, "--one", path], capture_output=True, text=True
        )
        ours_run = subprocess.run(
            [binary, "trace", "--tensors", "--backend", "cpu", path],
            capture_output=True,
            text=True,
        )
        if torch_run.returncode != 0 or ours_run.returncode != 0:
            why = (torch_run.stderr or ours_run.stderr).strip().splitlines()[-1:]
            print(f"{path}: not compared: {why}")
            continue
        theirs = json.loads(torch_run.stdout.strip().splitlines()[-1])
        ours = json.loads(ours_run.stdout)
        compared, diff = first_difference(theirs, ours)
        if diff is None:
            agree += 1
            print(f"{path}: agree ({compared} statements compared)")
        else:
            print(f"{path}: differ after {compared - 1} statements; {diff}")
    print(f"{agree} of {len(args)} scenarios agree")


if __name__ == "__main__":
    main()
