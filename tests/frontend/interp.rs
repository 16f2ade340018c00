//! The interpreter, construct by construct (docs/scenarios.md): Python's semantics for names,
//! numbers, functions, classes, exceptions and containers, CPython's moments of freeing memory,
//! the torch API, and errors located as Python and PyTorch raise them.

use std::path::Path;
use std::time::Duration;

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, FailureKind, RunOptions, RunResult};
use leakharness::scenario::parse_scenario;

fn run_on(backend: Backend, src: &str, options: &RunOptions) -> (RunResult, Runtime) {
    let scenario = parse_scenario(Path::new("t.py"), src).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let result = run(&scenario, &rt, options, &mut ());
    (result, rt)
}

/// Runs on cpu and returns what the program printed; panics with the error if it failed.
pub(crate) fn output(src: &str) -> Vec<String> {
    let (r, _) = run_on(Backend::Cpu, src, &RunOptions::default());
    if let Some(f) = r.failure {
        panic!("{}", f.error);
    }
    r.output
}

/// The error message a failing program stops with.
pub(crate) fn error(src: &str) -> String {
    let (r, _) = run_on(Backend::Cpu, src, &RunOptions::default());
    r.failure.expect("the program fails").error.to_string()
}

#[test]
fn a_starred_index_indexes_with_a_tuple() {
    // Python 3.11: `d[*a]` is `d[(*a,)]`.
    let out = output("d = {(1, 2): 5, (3,): 6}\na = [1, 2]\nprint(d[*a], d[*[3]])\n");
    assert_eq!(out, ["5 6"]);
}

#[test]
fn python_numbers_behave_as_python() {
    let out = output(
        "print(7 / 2, 7 // 2, -7 // 2, -7 % 3, 7 % -3, 2 ** 10, 2 ** -1, 1.5 * 2, 10 - 2.5)\n\
         print(-(3), +4, not 0, not [], abs(-3), abs(-2.5), min(3, 1, 2), max([4, 9]), sum([1, 2, 3.5]))\n\
         print(int(3.9), int(-3.9), float(2), int(True), 1 < 2 < 3, 1 < 3 < 2, 2 == 2.0, 'a' + 'b')\n",
    );
    assert_eq!(
        out,
        [
            "3.5 3 -4 2 -2 1024 0.5 3.0 7.5",
            "-3 4 True True 3 2.5 1 9 6.5",
            "3 -3 2.0 1 True False True ab"
        ]
    );
    assert!(error("x = 1 // 0\n").contains("ZeroDivisionError: integer division or modulo by zero"));
    assert!(error("x = 2 ** 70\n").contains("OverflowError"));
}

#[test]
fn boolean_operators_return_operands_and_short_circuit() {
    let out = output("a = 0 or 5\nb = 3 and 0\nc = None or [] or 'x'\nd = 1 if a > 4 else 2\nprint(a, b, c, d)\n");
    assert_eq!(out, ["5 0 x 1"]);
    // `and` stops at the first false operand: the undefined call is never evaluated.
    assert_eq!(output("x = [] and len(5)\nprint(x)\n"), ["[]"]);
}

#[test]
fn statements_assign_unpack_del_loop_branch_assert() {
    let out = output(
        "a, b = 1, 2\n\
         a, b = b, a\n\
         t = 0\n\
         for i in range(3):\n    for j in range(10, 0, -4):\n        t += i * j\n\
         if t > 100:\n    print('big')\nelif t > 10:\n    print('medium', t)\nelse:\n    pass\n\
         del a\n\
         xs = []\nxs += [1, 2]\nxs.append(3)\nxs.extend([4])\nlast = xs.pop()\nfirst = xs.pop(0)\n\
         print(b, xs, last, first, len(xs), xs[-1])\n\
         xs.clear()\nprint(xs, (1,), (1, 2)[1])\n\
         assert b == 1, 'b was swapped'\n",
    );
    assert_eq!(out, ["medium 54", "1 [2, 3] 4 1 2 3", "[] (1,) 2"]);
    let e = error("x = 1\nassert x == 2, 'x is ' + 'wrong'\n");
    assert!(
        e.contains("t.py:2:1: error: AssertionError: x is wrong"),
        "{e}"
    );
    let e = error("a, b = [1, 2, 3]\n");
    assert!(
        e.contains("ValueError: too many values to unpack (expected 2)"),
        "{e}"
    );
    let e = error("x = 1\ndel x\nprint(x)\n");
    assert!(
        e.contains("t.py:3:7: error: NameError: name 'x' is not defined"),
        "{e}"
    );
}

#[test]
fn imports_bind_modules_and_aliases() {
    let out = output(
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport torch.optim as optim\n\
         from torch import nn as N, optim as O\n\
         print(torch.cuda.is_available(), torch.float32, torch.long)\n\
         x = torch.zeros(2, 3, device='cuda')\n\
         print(F.relu(x).shape, N.Linear(3, 1), O.SGD, nn.ReLU(inplace=True))\n",
    );
    assert_eq!(out, ["True torch.float32 torch.int64", "(2, 3) Linear(in_features=3, out_features=1, bias=True) <function torch.optim.SGD> ReLU(inplace=True)"]);
}

#[test]
fn tensor_factories_take_device_dtype_and_requires_grad() {
    let (r, rt) = run_on(
        Backend::Cpu,
        "import torch\n\
         a = torch.randn(32, 64, device='cuda')\n\
         b = torch.zeros((4, 4), dtype=torch.long, device='cuda')\n\
         c = torch.ones([3], requires_grad=True)\n\
         d = torch.randint(0, 10, (8,), device='cuda')\n\
         e = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device='cuda')\n\
         f = torch.rand(2, device='cuda')\n\
         g = torch.empty(5)\n\
         print(a.shape, a.device, b.dtype, c.requires_grad, c.is_leaf, d.dtype, e.sum().item(), g.device)\n\
         print(torch.cuda.memory_allocated())\n",
        &RunOptions::default(),
    );
    if let Some(f) = r.failure {
        panic!("{}", f.error);
    }
    // a: 8 KiB; b: 128 B -> 512; d: 64 B -> 512; e: 16 B -> 512; f: 8 B -> 512. c and g are host.
    assert_eq!(
        r.output,
        [
            "(32, 64) cuda torch.int64 True True torch.int64 10.0 cpu",
            &(8192 + 4 * 512).to_string()
        ]
    );
    assert_eq!(rt.memory_allocated(), 0, "every name is dropped at the end");
}

#[test]
fn rebinding_and_del_free_memory_when_python_would() {
    let out = output(
        "import torch\n\
         x = torch.zeros(1024, device='cuda')\n\
         print(torch.cuda.memory_allocated())\n\
         x = torch.zeros(256, device='cuda')\n\
         print(torch.cuda.memory_allocated())\n\
         y = x\n\
         del x\n\
         print(torch.cuda.memory_allocated())\n\
         del y\n\
         print(torch.cuda.memory_allocated(), torch.cuda.memory_reserved())\n\
         torch.cuda.empty_cache()\n\
         print(torch.cuda.memory_reserved())\n",
    );
    // The old 4 KiB tensor is freed when x is rebound, not before the new one exists.
    assert_eq!(out, ["4096", "1024", "1024", "0 2097152", "0"]);
}

#[test]
fn augmented_assignment_updates_tensors_in_place() {
    let out = output(
        "import torch\n\
         t = torch.zeros(100, device='cuda')\n\
         u = t\n\
         t += 1\n\
         t *= 3\n\
         t -= 1\n\
         t /= 2\n\
         print(u.sum().item(), torch.cuda.memory_allocated())\n\
         n = 0\n\
         n += t.sum()\n\
         print(n.item(), torch.cuda.memory_allocated())\n",
    );
    // In place: `u` sees every update, and no new tensor is allocated. `n` starts as an int, so
    // its first `+=` makes a new one-element tensor (the sum's temporary is freed).
    assert_eq!(out, ["100.0 512", "100.0 1024"]);
}

#[test]
fn no_grad_and_enable_grad_nest() {
    let out = output(
        "import torch\n\
         w = torch.randn(4, 4, requires_grad=True)\n\
         with torch.no_grad():\n    a = w * 2\n    with torch.enable_grad():\n        b = w * 2\n    c = w * 2\n\
         d = w * 2\n\
         print(a.requires_grad, b.requires_grad, c.requires_grad, d.requires_grad, b.grad_fn.name())\n",
    );
    assert_eq!(out[0][..21], *"False True False True");
}

#[test]
fn no_grad_decorates_functions_and_methods_with_or_without_parentheses() {
    // What PyTorch 2.15 prints for the same program: `self` is bound, gradients are off inside
    // the decorated call and back on after it.
    let out = output(
        "import torch\n\
         import torch.nn as nn\n\
         class Trainer:\n    def __init__(self):\n        self.model = nn.Linear(4, 2)\n\
         \x20   @torch.no_grad()\n    def evaluate(self, x):\n        return self.model(x).requires_grad, torch.is_grad_enabled()\n\
         \x20   @torch.no_grad\n    def bare(self, x):\n        return self.model(x).requires_grad\n\
         @torch.enable_grad()\n\
         def inside():\n    return torch.is_grad_enabled()\n\
         t = Trainer()\n\
         print(t.evaluate(torch.randn(3, 4)), t.bare(torch.randn(3, 4)), torch.is_grad_enabled())\n\
         with torch.no_grad():\n    print(inside(), torch.is_grad_enabled())\n",
    );
    assert_eq!(out, ["(False, False) False True", "True False"]);
}

#[test]
fn a_small_training_loop_runs_and_reads_the_counters() {
    let out = output(
        "import torch\nimport torch.nn as nn\n\
         device = 'cuda' if torch.cuda.is_available() else 'cpu'\n\
         model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1)).to(device)\n\
         opt = torch.optim.Adam(model.parameters(), lr=0.01)\n\
         loss_fn = nn.MSELoss()\n\
         x = torch.randn(32, 8, device=device)\n\
         y = x.sum(dim=1, keepdim=True)\n\
         first = 0.0\n\
         for step in range(60):\n    opt.zero_grad()\n    loss = loss_fn(model(x), y)\n    loss.backward()\n    opt.step()\n    if step == 0:\n        first = loss.item()\n\
         print(loss.item() < first, len(model), model[0].weight.shape, model[-1].bias.shape)\n\
         print(torch.cuda.max_memory_allocated() >= torch.cuda.memory_allocated() > 0)\n\
         torch.cuda.reset_peak_memory_stats()\n\
         print(torch.cuda.max_memory_allocated() == torch.cuda.memory_allocated())\n\
         s = torch.cuda.memory_summary()\n\
         print(len(s) > 3000)\n",
    );
    assert_eq!(out, ["True 3 (16, 8) (1,)", "True", "True", "True"]);
}

#[test]
fn errors_are_pythons_and_pytorchs_with_their_location() {
    let e = error("import torch\nx = torch.randn(2, 3, colour=1)\n");
    assert!(
        e.contains(
            "t.py:2:5: error: TypeError: torch.randn() got an unexpected keyword argument 'colour'"
        ),
        "{e}"
    );
    let e = error("import torch\nimport torch.nn as nn\nl = nn.Linear(10)\n");
    assert!(
        e.contains("TypeError: Linear() missing required argument: 'out_features'"),
        "{e}"
    );
    let e = error(
        "import torch\nw = torch.randn(3, requires_grad=True)\nloss = (w * w).sum()\nloss.backward()\nloss.backward()\n",
    );
    assert!(
        e.contains(
            "t.py:5:1: error: RuntimeError: Trying to backward through the graph a second time"
        ),
        "{e}"
    );
    let e = error("import torch\nw = torch.randn(3, requires_grad=True)\nw.add_(1)\n");
    assert!(
        e.contains("a leaf Variable that requires grad is being used in an in-place operation."),
        "{e}"
    );
    let e = error("x = [1, 2]\ny = x[5]\n");
    assert!(
        e.contains("t.py:2:5: error: IndexError: list index out of range"),
        "{e}"
    );
    let e = error("x = 'a' - 1\n");
    assert!(
        e.contains("TypeError: unsupported operand type(s) for -: 'str' and 'int'"),
        "{e}"
    );
    let e = error("import torch\nwith torch.cuda.is_available():\n    pass\n");
    assert!(
        e.contains("does not support the context manager protocol"),
        "{e}"
    );
}

#[test]
fn limits_stop_runaway_scenarios() {
    let src = "t = 0\nfor i in range(100000):\n    t += i\n";
    let (r, _) = run_on(
        Backend::Meta,
        src,
        &RunOptions {
            max_steps: 1000,
            ..RunOptions::default()
        },
    );
    let f = r.failure.expect("stopped");
    assert_eq!(f.kind, FailureKind::Error);
    assert!(
        f.error
            .to_string()
            .contains("executed more than 1000 statements"),
        "{}",
        f.error
    );
    let (r, _) = run_on(
        Backend::Meta,
        src,
        &RunOptions {
            time_limit: Duration::ZERO,
            ..RunOptions::default()
        },
    );
    assert!(r
        .failure
        .expect("stopped")
        .error
        .to_string()
        .contains("ran longer than"));
    // On cpu, where arithmetic takes the time, the message says how long it ran and points
    // to the meta backend.
    let (r, _) = run_on(
        Backend::Cpu,
        src,
        &RunOptions {
            time_limit: Duration::ZERO,
            ..RunOptions::default()
        },
    );
    let message = r.failure.expect("stopped").error.to_string();
    assert!(message.contains("stopped after "), "{message}");
    assert!(message.contains("`--backend meta`"), "{message}");
}

#[test]
fn on_meta_values_are_placeholders_and_programs_still_run() {
    // item() on meta is 0.0 (documented): branches on values take the same path every run.
    let src = "import torch\nx = torch.randn(4, device='cuda')\nv = x.sum().item()\nif v > 0:\n    print('pos')\nelse:\n    print('not pos', v)\n";
    let (r, rt) = run_on(Backend::Meta, src, &RunOptions::default());
    assert!(r.failure.is_none());
    assert_eq!(r.output, ["not pos 0.0"]);
    assert_eq!(rt.memory_allocated(), 0);
}

#[test]
fn an_oom_is_reported_with_pytorchs_message() {
    let scenario = parse_scenario(
        Path::new("t.py"),
        "import torch\nx = torch.zeros(1024, 1024, 16, device='cuda')\n",
    )
    .unwrap();
    let rt = Runtime::new(
        Backend::Meta,
        RuntimeOptions {
            device_memory: Some(32 << 20),
            ..RuntimeOptions::default()
        },
    )
    .unwrap();
    let r = run(&scenario, &rt, &RunOptions::default(), &mut ());
    let f = r.failure.expect("out of memory");
    assert!(matches!(f.kind, FailureKind::OutOfMemory(_)));
    assert!(
        f.error
            .to_string()
            .contains("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 64.00 MiB."),
        "{}",
        f.error
    );
}

#[test]
fn lists_that_contain_themselves_print_as_python_prints_them() {
    assert_eq!(
        output("xs = []\nxs.append(xs)\nprint(xs)\nd = {}\nd['me'] = d\nprint(d)\n"),
        ["[[...]]", "{'me': {...}}"]
    );
    assert_eq!(
        output("xs = [[1], (2, [3])]\nprint(xs)\n"),
        ["[[1], (2, [3])]"]
    );
}

#[test]
fn ranges_of_any_64_bit_bounds_count_as_python_does() {
    let out = output("n = 0\nfor i in range(-9223372036854775807, 9223372036854775807, 9223372036854775807):\n    n += 1\nprint(n, i)\n");
    assert_eq!(
        out,
        ["2 0"],
        "the stop is excluded: -9223372036854775807 and 0"
    );
    // The range is counted lazily: the loop runs until the step limit, which is lowered from
    // its default of a million so that the debug build does not spend seconds reaching it.
    let options = RunOptions {
        max_steps: 10_000,
        ..RunOptions::default()
    };
    let (r, _) = run_on(
        Backend::Cpu,
        "for i in range(0, 9223372036854775807):\n    pass\n",
        &options,
    );
    let e = r.failure.expect("the program fails").error.to_string();
    assert!(
        e.contains("the scenario executed more than 10000 statements"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Functions, classes and exceptions, and when CPython frees what they hold.

/// Prints `torch.cuda.memory_allocated()` as `m()`.
const MEM: &str = "import gc\nimport torch\ndef m():\n    print(torch.cuda.memory_allocated())\n";

fn mem_output(body: &str) -> Vec<String> {
    output(&format!("{MEM}{body}"))
}

#[test]
fn a_functions_locals_are_freed_when_it_returns() {
    let out = mem_output(
        "def f():\n    x = torch.zeros(256, device='cuda')\n    m()\n    return 1\nf()\nm()\n",
    );
    assert_eq!(out, ["1024", "0"]);
}

#[test]
fn a_tensor_captured_by_a_closure_lives_as_long_as_the_closure() {
    let out = mem_output(
        "def make():\n    t = torch.zeros(256, device='cuda')\n    def g():\n        return t.sum()\n    return g\n\
         g = make()\nm()\nprint(g().item())\ndel g\nm()\n",
    );
    assert_eq!(out, ["1024", "0.0", "0"]);
}

#[test]
fn a_kept_exception_keeps_its_tracebacks_frames_and_except_as_unbinds() {
    let out = mem_output(
        "def f():\n    big = torch.zeros(256, device='cuda')\n    raise ValueError('no')\n\
         try:\n    f()\nexcept ValueError as e:\n    kept = e\n\
         m()\n\
         del kept\nm()\n\
         try:\n    f()\nexcept ValueError as e:\n    m()\n\
         m()\n\
         try:\n    e\nexcept NameError:\n    print('e is unbound')\n",
    );
    assert_eq!(out, ["1024", "0", "1024", "0", "e is unbound"]);
}

#[test]
fn a_reference_cycle_is_freed_only_by_the_cyclic_collector() {
    let out = mem_output(
        "gc.disable()\nclass Node:\n    pass\n\
         a = Node()\na.t = torch.zeros(256, device='cuda')\na.me = a\n\
         del a\nm()\nprint(gc.collect() > 0)\nm()\n\
         def closure_cycle():\n    t = torch.zeros(256, device='cuda')\n    def f():\n        return f, t\n    return f\n\
         closure_cycle()\nm()\ngc.collect()\nm()\n",
    );
    assert_eq!(out, ["1024", "True", "0", "1024", "0"]);
}

#[test]
fn automatic_collections_follow_cpython_thresholds() {
    // Each iteration leaves one unreachable cycle holding 512 B; generation 0 is collected
    // once more than 700 tracked objects are alive since its last collection.
    let out = mem_output(
        "class Node:\n    pass\n\
         peak = 0\n\
         for i in range(2000):\n    a = Node()\n    a.t = torch.zeros(1, device='cuda')\n    a.me = a\n\
         \x20   peak = max(peak, torch.cuda.memory_allocated())\n\
         print(peak < 2000 * 512, peak > 100 * 512)\nprint(gc.get_threshold())\n",
    );
    assert_eq!(out, ["True True", "(700, 10, 10)"]);
}

#[test]
fn deep_recursion_raises_recursion_error_at_pythons_limit() {
    let e = error("def f(n):\n    return f(n + 1)\nf(0)\n");
    assert!(
        e.contains("t.py:2:12: error: RecursionError: maximum recursion depth exceeded"),
        "{e}"
    );
    assert!(e.contains("traceback (most recent call last)"), "{e}");
    let out = output(
        "import sys\ndef depth(n):\n    try:\n        return depth(n + 1)\n    except RecursionError:\n        return n\n\
         print(depth(0) > 990, sys.getrecursionlimit())\n",
    );
    assert_eq!(out, ["True 1000"]);
}

#[test]
fn an_endless_while_loop_stops_at_the_step_limit() {
    let (r, _) = run_on(
        Backend::Meta,
        "n = 0\nwhile True:\n    n += 1\n",
        &RunOptions {
            max_steps: 1000,
            ..RunOptions::default()
        },
    );
    let e = r.failure.expect("stopped").error.to_string();
    assert!(e.contains("executed more than 1000 statements"), "{e}");
}

#[test]
fn python_2_syntax_is_a_located_syntax_error() {
    let errors = parse_scenario(Path::new("t.py"), "import torch\nprint \"loss\"\n").unwrap_err();
    assert_eq!((errors.0[0].line, errors.0[0].col), (2, 7));
    assert!(errors.0[0].message.starts_with("syntax error"), "{errors}");
}

#[test]
fn uncaught_exceptions_read_like_python_tracebacks() {
    let e = error(
        "class Trainer:\n    def step(self, k):\n        if k == 2:\n            raise RuntimeError(f'bad step {k}')\n\
         \x20   def train(self):\n        for k in range(3):\n            self.step(k)\n\
         Trainer().train()\n",
    );
    assert!(
        e.starts_with("t.py:4:13: error: RuntimeError: bad step 2"),
        "{e}"
    );
    for frame in [
        "t.py:8:1 in <module>: Trainer().train()",
        "t.py:7:13 in Trainer.train(): self.step(k)",
        "t.py:4:13 in Trainer.step(): raise RuntimeError(f'bad step {k}')",
    ] {
        assert!(e.contains(frame), "missing {frame:?} in\n{e}");
    }
}

#[test]
fn out_of_memory_is_a_runtime_error_that_except_can_catch() {
    let out = output(
        "import torch\n\
         try:\n    x = torch.zeros(1 << 40, device='cuda')\nexcept RuntimeError as e:\n    print(type(e).__name__, isinstance(e, torch.cuda.OutOfMemoryError))\n",
    );
    assert_eq!(out, ["OutOfMemoryError True"]);
}

#[test]
fn scoping_is_cpythons() {
    let out = output(
        "x = 'global'\n\
         def read():\n    return x\n\
         def shadow():\n    x = 'local'\n    return x\n\
         def unbound():\n    print(x)\n    x = 1\n\
         def rebind():\n    global x\n    x = 'rebound'\n\
         def counter():\n    n = 0\n    def inc():\n        nonlocal n\n        n += 1\n        return n\n    return inc\n\
         print(read(), shadow())\n\
         try:\n    unbound()\nexcept UnboundLocalError as e:\n    print(e)\n\
         rebind()\nprint(x)\nc = counter()\nc()\nprint(c())\n\
         fs = [lambda: i for i in range(3)]\nprint([f() for f in fs], [i for i in range(2)])\n",
    );
    assert_eq!(
        out,
        [
            "global local",
            "cannot access local variable 'x' where it is not associated with a value",
            "rebound",
            "2",
            "[2, 2, 2] [0, 1]"
        ]
    );
}

#[test]
fn arguments_bind_as_python_binds_them() {
    let out = output(
        "def f(a, b=2, *args, c, d=4, **kw):\n    return (a, b, args, c, d, sorted(kw.items()))\n\
         print(f(1, c=3))\nprint(f(1, 5, 6, 7, c=3, e=8))\nprint(f(*[1, 2], **{'c': 0}))\n\
         try:\n    f(1)\nexcept TypeError as e:\n    print(e)\n",
    );
    assert_eq!(
        out,
        [
            "(1, 2, (), 3, 4, [])",
            "(1, 5, (6, 7), 3, 4, [('e', 8)])",
            "(1, 2, (), 0, 4, [])",
            "f() missing 1 required keyword-only argument: 'c'"
        ]
    );
}

#[test]
fn classes_inherit_and_decorate_as_python() {
    let out = output(
        "class A:\n    count = 0\n    def __init__(self, v):\n        self.v = v\n        A.count += 1\n\
         \x20   def get(self):\n        return self.v\n\
         \x20   @property\n    def double(self):\n        return self.v * 2\n\
         \x20   @staticmethod\n    def s():\n        return 's'\n\
         \x20   @classmethod\n    def make(cls):\n        return cls(7)\n\
         \x20   def __repr__(self):\n        return f'A({self.v})'\n\
         class B(A):\n    def get(self):\n        return super().get() + 100\n\
         def deco(f):\n    def wrapper(*a, **k):\n        return ('wrapped', f(*a, **k))\n    return wrapper\n\
         @deco\ndef h(x):\n    return x\n\
         b = B(1)\nprint(b.get(), b.double, B.s(), B.make(), A.count, isinstance(b, A), h(3))\n",
    );
    assert_eq!(out, ["101 2 s A(7) 2 True ('wrapped', 3)"]);
}

#[test]
fn nn_module_subclasses_register_what_is_assigned() {
    let out = output(
        "import torch\nimport torch.nn as nn\n\
         class Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(2, 2)\n        self.register_buffer('running', torch.zeros(2))\n\
         class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(3))\n        self.blocks = nn.ModuleList([Block(), Block()])\n        self.plain = torch.zeros(1)\n\
         \x20   def forward(self, x):\n        for b in self.blocks:\n            x = b.lin(x)\n        return x\n\
         net = Net()\n\
         print([n for n, _ in net.named_parameters()])\nprint(list(net.state_dict().keys()))\n\
         print(len(list(net.modules())), net.training, net.eval().training, net(torch.ones(1, 2)).shape)\n\
         try:\n    net.w = torch.zeros(3)\nexcept TypeError as e:\n    print(e)\n\
         seen = []\nh = net.register_forward_hook(lambda m, i, o: seen.append(o.shape))\nnet(torch.ones(1, 2))\nh.remove()\nnet(torch.ones(1, 2))\nprint(seen)\n",
    );
    assert_eq!(
        out,
        [
            "['w', 'blocks.0.lin.weight', 'blocks.0.lin.bias', 'blocks.1.lin.weight', 'blocks.1.lin.bias']",
            // Module by module, own parameters then own buffers, as 2.15 prints it.
            "['w', 'blocks.0.running', 'blocks.0.lin.weight', 'blocks.0.lin.bias', 'blocks.1.running', 'blocks.1.lin.weight', 'blocks.1.lin.bias']",
            "6 True False (1, 2)",
            "cannot assign 'Tensor' as parameter 'w' (torch.nn.Parameter or None expected)",
            "[(1, 2)]"
        ]
    );
}

#[test]
fn loops_in_functions_report_iterations_nested_in_their_callers_loops() {
    use leakharness::scenario::interp::{Control, IterationEnd, Observer};
    struct Record(Vec<(u32, Vec<u32>, bool)>);
    impl Observer for Record {
        fn iteration_end(&mut self, at: &IterationEnd<'_>) -> Control {
            self.0.push((at.loop_at.line, at.index.to_vec(), at.last));
            Control::Continue
        }
    }
    let scenario = parse_scenario(
        Path::new("t.py"),
        "def inner():\n    for j in [1, 2]:\n        pass\nk = 0\nwhile k < 2:\n    inner()\n    k += 1\n",
    )
    .unwrap();
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let mut rec = Record(Vec::new());
    let r = run(&scenario, &rt, &RunOptions::default(), &mut rec);
    assert!(r.failure.is_none());
    assert_eq!(
        rec.0,
        [
            (2, vec![0, 0], false),
            (2, vec![0, 1], true),
            (5, vec![0], false),
            (2, vec![1, 0], false),
            (2, vec![1, 1], true),
            (5, vec![1], true),
        ]
    );
}

#[test]
fn the_modules_training_scripts_import_run() {
    let out = output(
        "import math, random, itertools, functools, logging, copy, time, sys, os\n\
         from collections import defaultdict, deque, OrderedDict, Counter, namedtuple\n\
         from typing import List, Optional\n\
         from dataclasses import dataclass, field\n\
         from tqdm import tqdm\n\
         import numpy as np\n\
         import torch\n\
         logging.basicConfig(level=logging.INFO)\nlog = logging.getLogger('train')\n\
         @dataclass\nclass Cfg:\n    lr: float = 0.1\n    tags: List[str] = field(default_factory=list)\n\
         c = Cfg(lr=0.5)\nc.tags.append('a')\n\
         d = defaultdict(list)\nd['loss'].append(1.0)\n\
         q = deque([1, 2, 3], maxlen=2)\n\
         Point = namedtuple('Point', ['x', 'y'])\n\
         print(c.lr, c.tags, dict(d), list(q), Counter('aab').most_common(1), Point(1, 2).y)\n\
         print(list(itertools.islice(itertools.count(5), 3)), functools.reduce(lambda a, b: a * b, [2, 3, 4]), math.sqrt(16.0))\n\
         print([x for x in tqdm(range(3))], np.mean([1.0, 2.0, 3.0]), round(2.5), round(0.125, 2), f'{1234567:,}')\n\
         log.info('step %d loss %.2f', 3, 0.5)\nlog.debug('hidden')\n\
         print(OrderedDict([('a', 1)]), sys.getrecursionlimit(), os.environ.get('HOME', 'none'), time.time() >= 0)\n\
         a = torch.zeros(256, device='cuda')\nb = copy.deepcopy({'t': a})\n\
         print(torch.cuda.memory_allocated(), b['t'] is a)\n",
    );
    assert_eq!(
        out,
        [
            "0.5 ['a'] {'loss': [1.0]} [2, 3] [('a', 2)] 2",
            "[5, 6, 7] 24 4.0",
            "[0, 1, 2] 2.0 2 0.12 1,234,567",
            "INFO:train:step 3 loss 0.50",
            "OrderedDict({'a': 1}) 1000 none True",
            "2048 False"
        ]
    );
}

#[test]
fn deepcopy_of_a_library_model_copies_each_parameter_once_as_pytorch() {
    // An EMA or "best model" copy: PyTorch's Parameter.__deepcopy__ clones the data (a new
    // 512-byte block for each of the 16-float weight and the 4-float bias of each Linear), keeps
    // requires_grad, copies no .grad, and a module shared twice in a Sequential stays one module.
    let out = output(
        "import copy\nimport torch\nimport torch.nn as nn\n\
         shared = nn.Linear(4, 4)\n\
         model = nn.Sequential(shared, nn.ReLU(), shared, nn.Dropout(0.1)).cuda()\n\
         model(torch.randn(2, 4, device='cuda')).sum().backward()\n\
         before = torch.cuda.memory_allocated()\n\
         ema = copy.deepcopy(model)\nema.eval()\n\
         print(torch.cuda.memory_allocated() - before, ema[0] is ema[2], ema[0] is model[0])\n\
         print(ema[0].weight.requires_grad, ema[0].weight.grad, model.training, ema.training)\n\
         print(float((ema[0].weight - model[0].weight).abs().sum()), len(list(ema.parameters())))\n",
    );
    assert_eq!(out, ["1024 True False", "True None True False", "0.0 2"]);
}

#[test]
fn an_import_outside_the_list_is_one_clear_error_naming_it() {
    let errors = parse_scenario(
        Path::new("t.py"),
        "import torch\nimport pandas as pd\nfrom sklearn import metrics\n",
    )
    .unwrap_err();
    let messages: Vec<&str> = errors.0.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "importing `pandas` is not supported in scenarios",
            "importing `sklearn` is not supported in scenarios"
        ]
    );
}

#[test]
fn a_generators_frame_lives_until_it_is_exhausted_or_dropped() {
    let out = mem_output(
        "def batches(n):\n    buf = torch.zeros(256, device='cuda')\n    for i in range(n):\n        if i == 1:\n            continue\n        x = torch.zeros(128, device='cuda')\n        yield i, x\n    yield from [10, 11]\n\
         g = batches(3)\nm()\nprint(next(g)[0])\nm()\n\
         for item in g:\n    print(item if isinstance(item, int) else item[0])\n\
         m()\ng2 = batches(5)\nnext(g2)\nm()\ndel g2\nm()\n\
         def count():\n    k = 0\n    while True:\n        got = yield k\n        k += 1\n        if k > 2:\n            return\n\
         print(list(count()), sum(x * x for x in count()))\n",
    );
    assert_eq!(
        out,
        [
            "0",
            "0",
            "1536",
            "2",
            "10",
            "11",
            "0",
            "1536",
            "0",
            "[0, 1, 2] 5"
        ]
    );
}

#[test]
fn dataset_style_objects_iterate_by_getitem_until_index_error() {
    let out = output(
        "from torch.utils.data import Dataset\n\
         class DS(Dataset):\n    def __len__(self):\n        return 3\n    def __getitem__(self, i):\n        if i >= len(self):\n            raise IndexError(i)\n        return i * 2\n\
         ds = DS()\nprint(list(ds), [x for x in ds], len(ds), ds[1])\n",
    );
    assert_eq!(out, ["[0, 2, 4] [0, 2, 4] 3 2"]);
}

#[test]
fn clamp_maximum_and_where_run_as_functions_and_methods() {
    let out = output(
        "import torch\n\
         x = torch.tensor([[-1.0, 0.25, 2.0]], requires_grad=True)\n\
         y = torch.tensor([[0.5, 0.5, 0.5]])\n\
         a = x.clamp(min=-0.5, max=1.0)\n\
         print(a.grad_fn.name(), a.sum().item())\n\
         print(torch.clamp_min(x, 0.0).sum().item(), x.clamp_max(max=0.0).sum().item())\n\
         print(torch.maximum(x, y).grad_fn.name(), x.minimum(y).sum().item())\n\
         w = torch.where(x > 0, x, 0.0)\n\
         print(w.grad_fn.name(), w.sum().item(), x.where(x < 0, y).sum().item())\n\
         (w.sum() + torch.maximum(x, y).sum()).backward()\n\
         print(x.grad.sum().item())\n",
    );
    assert_eq!(
        out,
        [
            "ClampBackward1 0.75",
            "2.25 -1.0",
            "MaximumBackward0 -0.25",
            "WhereBackward0 2.25 0.0",
            // where passes x's gradient where x > 0 (two elements), maximum where x wins (one).
            "3.0",
        ]
    );
    assert!(error("import torch\nx = torch.ones(2)\nx.clamp()\n")
        .contains("At least one of 'min' or 'max' must not be None"));
}

#[test]
fn basic_tensor_indexing_makes_pytorchs_views() {
    let out = output(
        "import torch\n\
         x = torch.randn(4, 5, 6, device='cuda', requires_grad=True)\n\
         before = torch.cuda.memory_allocated()\n\
         views = [x[:], x[:, 0], x[..., -1], x[None], x[::2], x[...], x[:, :, :], x[1:, None, 2], x[:, -1, :]]\n\
         print([tuple(v.shape) for v in views])\n\
         print(' '.join(str(v.grad_fn.name()) for v in views))\n\
         print(torch.cuda.memory_allocated() - before)\n",
    );
    assert_eq!(
        out,
        [
            "[(4, 5, 6), (4, 6), (4, 5), (1, 4, 5, 6), (2, 5, 6), (4, 5, 6), (4, 5, 6), (3, 1, 6), (4, 6)]",
            "SliceBackward0 SelectBackward0 SelectBackward0 UnsqueezeBackward0 SliceBackward0 AliasBackward0 AliasBackward0 SelectBackward0 SelectBackward0",
            "0",
        ]
    );
    assert!(error("import torch\nx = torch.ones(2, 3)\nx[0, 0, 0]\n")
        .contains("too many indices for tensor of dimension 2"));
    assert!(error("import torch\nx = torch.ones(2, 3)\nx[1.5]\n")
        .contains("indexing a tensor with float is not supported in scenarios yet"));
}

#[test]
fn tensor_indices_and_assignments_run_as_pytorch_dispatches_them() {
    // Printed by PyTorch 2.15 the same way.
    let out = output(
        "import torch\n\
         x = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]], requires_grad=True)\n\
         idx = torch.tensor([2, 0])\n\
         print(x[idx].sum().item(), x[[1]].sum().item(), x[:, idx].sum().item(), x[x > 6].sum().item(), tuple(x[:, idx].shape))\n\
         print(x[idx].grad_fn.name(), x.index_select(1, idx).grad_fn.name(), x.gather(1, torch.tensor([[2], [2], [2]])).grad_fn.name())\n\
         w = x * 1\n\
         w[idx] = torch.ones(3)\n\
         a = w.grad_fn\n\
         w[w > 3] = 0\n\
         b = w.grad_fn\n\
         w[:, idx] = -1.0\n\
         print(a.name(), b.name(), w.grad_fn.name(), w.sum().item())\n\
         t = torch.zeros(2, 3)\n\
         t[:, 1] = torch.tensor([5.0, 6.0])\n\
         t[[True, False]] = 9\n\
         print(t.sum().item(), torch.where(t > 5))\n",
    );
    assert_eq!(
        out,
        [
            "24.0 12.0 24.0 15.0 (3, 2)",
            "IndexBackward0 IndexSelectBackward0 GatherBackward0",
            "IndexPutBackward0 MaskedFillBackward0 IndexFillBackward0 -4.0",
            "33.0 (tensor([0, 0, 0, 1]), tensor([0, 1, 2, 1]))",
        ]
    );
}

#[test]
fn modules_without_parameters_run_and_follow_train_and_eval() {
    let (r, rt) = run_on(
        Backend::Cpu,
        "import torch\n\
         import torch.nn as nn\n\
         model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.GELU(), nn.Dropout(0.25), nn.Identity(), nn.Tanh(), nn.Softmax(dim=1)).cuda()\n\
         print(model)\n\
         x = torch.randn(4, 3, 4, device='cuda')\n\
         before = torch.cuda.memory_allocated()\n\
         y = model(x)\n\
         print(tuple(y.shape), y.grad_fn.name(), model[3].training, isinstance(model[2], nn.GELU))\n\
         del y\n\
         model.eval()\n\
         with torch.no_grad():\n\
         \x20   z = model(x)\n\
         print(model[3].training, torch.cuda.memory_allocated() - before)\n\
         print(nn.SiLU(), nn.Sigmoid(), nn.Dropout())\n",
        &RunOptions::default(),
    );
    if let Some(f) = r.failure {
        panic!("{}", f.error);
    }
    assert_eq!(
        r.output,
        [
            "Sequential(",
            "  (0): Flatten(start_dim=1, end_dim=-1)",
            "  (1): Linear(in_features=12, out_features=8, bias=True)",
            "  (2): GELU(approximate='none')",
            "  (3): Dropout(p=0.25, inplace=False)",
            "  (4): Identity()",
            "  (5): Tanh()",
            "  (6): Softmax(dim=1)",
            ")",
            "(4, 8) SoftmaxBackward0 True True",
            // In eval mode under no_grad only z (4×8 f32, 512) stays: dropout is the identity.
            "False 512",
            "SiLU() Sigmoid() Dropout(p=0.5, inplace=False)",
        ]
    );
    assert_eq!(rt.memory_allocated(), 0);
}

#[test]
fn split_chunk_and_unbind_return_tuples_of_pieces_of_one_node() {
    // PyTorch 2.15 prints the same values (with object addresses in a node's repr, and
    // shapes as torch.Size, which scenarios print as tuples).
    let out = output(
        "import torch\n\
         x = torch.ones(6, 2, requires_grad=True)\n\
         a, b, c = x.chunk(3)\n\
         print(b.grad_fn.name(), b.shape, len(torch.split(x, 4)), torch.split(x, [1, 5], dim=0)[1].shape)\n\
         rows = x.unbind(1)\n\
         print(rows[1].grad_fn.name(), rows[1].shape, len(torch.chunk(x, 4)))\n\
         (b.sum() * 2 + rows[0].sum()).backward()\n\
         print(x.grad.sum().item(), x.grad[2].sum().item())\n",
    );
    assert_eq!(
        out,
        [
            "SplitBackward0 (2, 2) 2 (5, 2)",
            "UnbindBackward0 (6,) 3",
            "14.0 5.0",
        ]
    );
    assert!(error("import torch\nx = torch.ones(6)\nx.split([1, 4])\n").contains(
        "split_with_sizes expects split_sizes to sum exactly to 6 (input tensor's size at dimension 0), but got split_sizes=[1, 4]"
    ));
}

#[test]
fn lstm_and_rnn_take_and_return_their_hidden_state_as_pytorch() {
    // PyTorch 2.15 (oneDNN off, so that LSTM composes its steps) prints the same, with object
    // addresses in a node's repr and shapes as torch.Size.
    let out = output(
        "import torch\n\
         import torch.nn as nn\n\
         lstm = nn.LSTM(3, 5, num_layers=2, batch_first=True)\n\
         print(lstm)\n\
         print([n for n, p in lstm.named_parameters()])\n\
         x = torch.randn(4, 2, 3)\n\
         out, (h, c) = lstm(x)\n\
         print(out.shape, h.shape, c.shape, out.grad_fn.name(), h.grad_fn.name())\n\
         out2, hn = nn.RNN(3, 4, bidirectional=True)(x, None)\n\
         print(out2.shape, hn.shape, out2.grad_fn.name())\n\
         out.sum().backward()\n\
         print(lstm.weight_hh_l1.grad.shape, lstm.bias_ih_l0.grad.shape)\n\
         out, (h, c) = lstm(x, (h.detach(), c.detach()))\n\
         print(out.shape)\n",
    );
    assert_eq!(
        out,
        [
            "LSTM(3, 5, num_layers=2, batch_first=True)",
            "['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_ih_l1', 'weight_hh_l1', 'bias_ih_l1', 'bias_hh_l1']",
            "(4, 2, 5) (2, 4, 5) (2, 4, 5) TransposeBackward0 StackBackward0",
            "(4, 2, 8) (2, 2, 4) CatBackward0",
            "(20, 5) (20,)",
            "(4, 2, 5)",
        ]
    );
    assert!(error(
        "import torch\nimport torch.nn as nn\nlstm = nn.LSTM(3, 5)\nx = torch.randn(2, 4, 3)\nlstm(x, (torch.zeros(1, 3, 5), torch.zeros(1, 3, 5)))\n"
    )
    .contains("Expected hidden[0] size (1, 4, 5), got [1, 3, 5]"));
}

#[test]
fn scaled_dot_product_attention_runs_the_math_path_with_masks() {
    let out = output(
        "import torch\n\
         import torch.nn.functional as F\n\
         q = torch.ones(2, 3, 4, requires_grad=True)\n\
         o = F.scaled_dot_product_attention(q, q, torch.ones(2, 3, 4))\n\
         print(o.shape, o.grad_fn.name(), abs(o.sum().item() - 24.0) < 1e-4)\n\
         keep = torch.ones(3, 3, dtype=torch.bool)\n\
         c = F.scaled_dot_product_attention(q, q, q, is_causal=True)\n\
         m = F.scaled_dot_product_attention(q, q, q, attn_mask=keep, dropout_p=0.0)\n\
         print(abs(c.sum().item() - 24.0) < 1e-4, abs(m.sum().item() - 24.0) < 1e-4)\n",
    );
    assert_eq!(out, ["(2, 3, 4) UnsafeViewBackward0 True", "True True"]);
    assert!(error(
        "import torch\nimport torch.nn.functional as F\nq = torch.ones(2, 3, 4)\nF.scaled_dot_product_attention(q, q, q, enable_gqa=True)\n"
    )
    .contains("scaled_dot_product_attention(enable_gqa=True) is not supported in scenarios"));
}

#[test]
fn floats_print_with_an_exponent_where_python_uses_one() {
    assert_eq!(
        output("print(1e-08, 1.5e-05, 0.0001, 1e16, 1.5e16, 123456789012345678.0, 0.1, 2.5e-7, -3e-10, 1e300, 12345.678)\n"),
        ["1e-08 1.5e-05 0.0001 1e+16 1.5e+16 1.2345678901234568e+17 0.1 2.5e-07 -3e-10 1e+300 12345.678"]
    );
}

#[test]
fn reentrant_checkpoint_keeps_the_inputs_and_recomputes_under_forwards_random_state() {
    // Printed by PyTorch 2.15 the same way (but for the address in the node's repr).
    let out = output(
        "import torch\n\
         import torch.nn as nn\n\
         from torch.utils.checkpoint import checkpoint, checkpoint_sequential\n\
         model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4))\n\
         x = torch.randn(5, 8, requires_grad=True)\n\
         grads = []\n\
         for mode in ('plain', 'preserve', 'no-preserve'):\n\
         \x20   torch.manual_seed(1)\n\
         \x20   if mode == 'plain':\n\
         \x20       y = model(x)\n\
         \x20   else:\n\
         \x20       y = checkpoint(model, x, use_reentrant=True, preserve_rng_state=mode == 'preserve')\n\
         \x20   torch.rand(64)\n\
         \x20   y.sum().backward()\n\
         \x20   grads.append(x.grad.clone())\n\
         \x20   x.grad = None\n\
         print(y.grad_fn.name(), bool((grads[0] - grads[1]).abs().sum() == 0), bool((grads[0] - grads[2]).abs().sum() == 0))\n\
         y = checkpoint(model, torch.randn(5, 8), use_reentrant=True)\n\
         print(y.requires_grad)\n\
         y = checkpoint(model, x)\n\
         y = checkpoint_sequential(model, 2, x, use_reentrant=True)\n\
         print(y.grad_fn.name())\n",
    );
    assert_eq!(out.len(), 5, "{out:?}");
    // The recomputed dropout mask is forward's only when the random state is preserved.
    assert_eq!(out[0], "CheckpointFunctionBackward True False");
    assert_eq!(
        out[1],
        "UserWarning: None of the inputs have requires_grad=True. Gradients will be None"
    );
    assert_eq!(out[2], "False");
    assert!(out[3].starts_with(
        "UserWarning: torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly."
    ));
    assert_eq!(out[4], "AddmmBackward0");
}

#[test]
fn full_backward_hooks_see_the_gradients_pytorch_gives_them() {
    // Printed by PyTorch 2.15 the same way (but for the address in the node's repr, and the
    // warning's source line).
    let out = output(
        "import torch\n\
         import torch.nn as nn\n\
         model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).cuda()\n\
         seen = []\n\
         def pre(m, grad_output):\n\
         \x20   seen.append(('pre', tuple(grad_output[0].shape)))\n\
         def hook(m, grad_input, grad_output):\n\
         \x20   seen.append(('full', None if grad_input[0] is None else tuple(grad_input[0].shape), tuple(grad_output[0].shape)))\n\
         h1 = model[2].register_full_backward_pre_hook(pre)\n\
         h2 = model[2].register_full_backward_hook(hook)\n\
         h3 = model[0].register_full_backward_hook(hook)\n\
         x = torch.randn(5, 8, device='cuda')\n\
         before = torch.cuda.memory_allocated()\n\
         y = model(x)\n\
         print(y.grad_fn.name(), torch.cuda.memory_allocated() - before)\n\
         y.sum().backward()\n\
         print(seen)\n\
         h1.remove(); h2.remove(); h3.remove()\n\
         x = torch.randn(5, 8, device='cuda', requires_grad=True)\n\
         model(x).sum().backward()\n\
         plain = x.grad.clone()\n\
         x.grad = None\n\
         model[0].register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))\n\
         model(x).sum().backward()\n\
         print(bool((x.grad - 2 * plain).abs().sum() == 0))\n",
    );
    assert_eq!(out.len(), 4, "{out:?}");
    // The ReLU output (saved by ReLU and the last Linear) and the 5×4 output, 512 B each: the
    // BackwardHookFunction views add nothing.
    assert_eq!(out[0], "BackwardHookFunctionBackward 1024");
    assert!(out[1].starts_with("UserWarning: Full backward hook is firing when gradients are computed with respect to module outputs since no inputs require gradients."));
    assert_eq!(
        out[2],
        "[('pre', (5, 4)), ('full', (5, 16), (5, 4)), ('full', None, (5, 16))]"
    );
    assert_eq!(out[3], "True");
}

/// `F.linear` is `nn.Linear`'s function (bias optional); `unflatten` splits a dimension
/// through `view`, as ATen does, so the result shares the input's storage.
#[test]
fn functional_linear_and_unflatten() {
    let out = output(
        "import torch\nimport torch.nn.functional as F\n\
         x = torch.randn(4, 6, device='cuda', requires_grad=True)\n\
         w = torch.randn(3, 6, device='cuda')\nb = torch.randn(3, device='cuda')\n\
         y = F.linear(x, w, b)\nz = F.linear(x, weight=w)\n\
         print(tuple(y.shape), tuple(z.shape))\n\
         (y.sum() + z.sum()).backward()\nprint(tuple(x.grad.shape))\n\
         u = torch.randn(2, 12, device='cuda')\nbefore = torch.cuda.memory_allocated()\n\
         v = u.unflatten(1, (3, -1))\n\
         print(tuple(v.shape), torch.cuda.memory_allocated() - before)\n",
    );
    assert_eq!(out, ["(4, 3) (4, 3)", "(4, 6)", "(2, 3, 4) 0"]);
    assert!(
        error("import torch\nx = torch.randn(2, 3).unflatten(2, (3,))\n")
            .contains("IndexError: Dimension out of range")
    );
}

/// A `grad_fn` is the node itself, as in PyTorch: `name()`, `next_functions` with the input
/// each edge feeds, `_saved_*` tensors until backward frees them, and a program that keeps a
/// `grad_fn` keeps what the node saved.
#[test]
fn grad_fn_is_a_node_with_next_functions_and_saved_tensors() {
    let out = output(
        "import torch\n\
         w = torch.randn(256, device='cuda', requires_grad=True)\n\
         y = (w * w).sum()\n\
         fn = y.grad_fn\n\
         mul = fn.next_functions[0][0]\n\
         print(fn.name(), mul.name(), [(f.name(), n) for f, n in mul.next_functions])\n\
         print(mul._saved_self is not None, tuple(mul._saved_other.shape), str(fn).startswith('<SumBackward0 object at 0x'))\n\
         base = torch.cuda.memory_allocated()\n\
         z = (w * 2).exp()\n\
         kept = z.grad_fn\n\
         del z\n\
         print(torch.cuda.memory_allocated() - base)\n\
         y.backward()\n\
         try:\n    mul._saved_self\nexcept RuntimeError as e:\n    print(str(e)[:40])\n",
    );
    assert_eq!(
        out,
        [
            "SumBackward0 MulBackward0 [('AccumulateGrad', 0), ('AccumulateGrad', 0)]",
            "True (256,) True",
            "1024",
            "Trying to backward through the graph a s"
        ]
    );
}
