//! The interpreter, item by item of the scenario subset (docs/scenarios.md): Python's semantics
//! for names and numbers, the torch API, and errors located as Python and PyTorch raise them.

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
fn output(src: &str) -> Vec<String> {
    let (r, _) = run_on(Backend::Cpu, src, &RunOptions::default());
    if let Some(f) = r.failure {
        panic!("{}", f.error);
    }
    r.output
}

/// The error message a failing program stops with.
fn error(src: &str) -> String {
    let (r, _) = run_on(Backend::Cpu, src, &RunOptions::default());
    r.failure.expect("the program fails").error.to_string()
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
         print(a.requires_grad, b.requires_grad, c.requires_grad, d.requires_grad, b.grad_fn)\n",
    );
    assert_eq!(out[0][..21], *"False True False True");
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
fn lists_stay_acyclic_and_shallow() {
    let e = error("xs = []\nxs.append(xs)\n");
    assert!(
        e.contains("t.py:2:1: error: a list cannot contain itself in scenarios"),
        "{e}"
    );
    let e = error("a = []\nb = [a]\na.extend([b])\n");
    assert!(e.contains("a list cannot contain itself"), "{e}");
    let e = error("xs = []\nfor i in range(100):\n    xs = [xs]\n");
    assert!(e.contains("nested more than 32 deep"), "{e}");
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
    let e = error("for i in range(0, 9223372036854775807):\n    pass\n");
    assert!(
        e.contains("OverflowError: a loop of 9223372036854775807 iterations is too long"),
        "{e}"
    );
}
