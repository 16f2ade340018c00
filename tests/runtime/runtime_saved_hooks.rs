//! `torch.autograd.graph.saved_tensors_hooks`, `save_on_cpu` and `disable_saved_tensors_hooks`
//! from scenarios (`docs/autograd.md`, "Saved-tensor hooks"): what the hooks see and when, the
//! errors PyTorch 2.15 raises, and the device bytes `save_on_cpu` moves to the host, the same on
//! the meta and cpu backends.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions};

/// Runs `source` on `backend`: its output and the allocator's trace.
fn run_on(backend: Backend, source: &str) -> (Vec<String>, Vec<EventKind>) {
    let scenario = leakharness::scenario::parse_scenario(std::path::Path::new("s.py"), source)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let result = run(&scenario, &rt, &RunOptions::default(), &mut ());
    assert!(result.failure.is_none(), "{:?}", result.failure);
    let trace = rt.allocator().history().trace();
    (result.output, trace)
}

/// Runs `source` on meta and cpu, which must allocate alike; returns the output.
fn run_both(source: &str) -> Vec<String> {
    let (meta, meta_trace) = run_on(Backend::Meta, source);
    let (cpu, cpu_trace) = run_on(Backend::Cpu, source);
    assert_eq!(meta, cpu, "meta and cpu print alike");
    assert_eq!(meta_trace, cpu_trace, "meta and cpu allocate alike");
    meta
}

const HOOKS: &str = "import torch
from torch.autograd.graph import saved_tensors_hooks

a = torch.ones(5, requires_grad=True, device='cuda')
b = torch.ones(5, requires_grad=True, device='cuda') * 2
log = []

def pack(x):
    log.append(('pack', x is a, x is b, x.grad_fn is not None, torch.is_grad_enabled()))
    return x

def unpack(x):
    log.append(('unpack', x is a, x is b, torch.is_grad_enabled()))
    return x

with saved_tensors_hooks(pack, unpack):
    y = a * b
    z = y.exp()
print(log)
log.clear()
s = z.grad_fn._saved_result
print(s is z, s.grad_fn.name(), s.requires_grad, log)
log.clear()
s = y.grad_fn._saved_self
print(s is a, s.grad_fn, s.requires_grad, log)
log.clear()
z.sum().backward()
print(log)
log.clear()

def shapes(kind):
    def hook(t):
        log.append((kind, tuple(t.shape)))
        return t
    return hook

lin = torch.nn.Linear(3, 4).cuda()
x = torch.randn(2, 3, device='cuda')
with saved_tensors_hooks(shapes('pack'), shapes('unpack')):
    out = lin(x).relu()
    m = out * out.sigmoid()
print(log)
log.clear()
m.sum().backward()
print(log)
log.clear()
with saved_tensors_hooks(lambda t: (log.append('outer'), t)[1], lambda t: t):
    with saved_tensors_hooks(lambda t: (log.append('inner'), t)[1], lambda t: t):
        q = a * b
    r = a * b
print(log)
";

#[test]
fn hooks_see_what_pytorch_gives_them_in_its_order() {
    // Read on 2.15 CPU with the same program: MulBackward0 packs `other` before `self`, the
    // output is packed with its grad_fn, packing runs under no_grad; backward unpacks node by
    // node in the saved order; `_saved_*` unpacks again (grad mode on) and gives a new tensor
    // with the history PyTorch restores; only the innermost pair of hooks runs.
    let output = run_both(HOOKS);
    assert_eq!(
        output,
        [
            "[('pack', False, True, True, False), ('pack', True, False, False, False), ('pack', False, False, True, False)]",
            "False ExpBackward0 True [('unpack', False, False, True)]",
            "False None True [('unpack', True, False, True)]",
            "[('unpack', False, False, False), ('unpack', False, True, False), ('unpack', True, False, False)]",
            "[('pack', (2, 3)), ('pack', (2, 4)), ('pack', (2, 4)), ('pack', (2, 4)), ('pack', (2, 4))]",
            "[('unpack', (2, 4)), ('unpack', (2, 4)), ('unpack', (2, 4)), ('unpack', (2, 4)), ('unpack', (2, 3))]",
            "['inner', 'inner', 'outer', 'outer']",
        ]
    );
}

#[test]
fn hook_errors_are_pytorchs() {
    let output = run_both(
        "import torch
from torch.autograd.graph import saved_tensors_hooks, save_on_cpu, disable_saved_tensors_hooks

a = torch.ones(5, requires_grad=True, device='cuda')
b = torch.ones(5, requires_grad=True, device='cuda') * 2

def bad(x):
    raise ValueError('boom')

try:
    with saved_tensors_hooks(bad, lambda x: x):
        q = a * b
except ValueError as e:
    print('pack', e)

def bad_unpack(x):
    raise KeyError('unpack')

with saved_tensors_hooks(lambda x: x, bad_unpack):
    q = a * b
try:
    q.sum().backward()
except KeyError:
    print('unpack raised')
with saved_tensors_hooks(lambda x: x, lambda x: 3):
    q = a * b
try:
    q.sum().backward()
except TypeError as e:
    print(e)
with saved_tensors_hooks(lambda x: x.add_(0), lambda x: x):
    try:
        q = a.detach().requires_grad_() * b
    except RuntimeError as e:
        print(e)
try:
    with disable_saved_tensors_hooks('no hooks here'):
        with save_on_cpu():
            pass
except RuntimeError as e:
    print(e)
try:
    with saved_tensors_hooks(lambda x: x, lambda x: x):
        with disable_saved_tensors_hooks('not with hooks'):
            pass
except RuntimeError as e:
    print(e)
with disable_saved_tensors_hooks('disabled'):
    q = a * b
with save_on_cpu():
    q = a * b
print('enabled again')
",
    );
    assert_eq!(
        output,
        [
            "pack boom",
            "unpack raised",
            "Output of saved tensor unpack_hook expected to be a Tensor but got result of type int",
            "A saved tensor pack hook is modifying its input in place. Tensors provided as input to pack hook cannot be modified by in-place operations as this can lead to unexpected side-effects. Please open an issue if you need to perform in-place operations on the input to a pack hook.",
            "no hooks here",
            "not with hooks",
            "enabled again",
        ]
    );
}

#[test]
fn save_on_cpu_keeps_saved_tensors_off_the_device_until_backward() {
    // `exp` saves its 32×64 result (8,192 B). Plain: forward keeps it and the loss (512 B).
    // Under save_on_cpu the node keeps a host copy, so the result dies with the expression
    // and forward keeps the loss only. Backward copies it back for ExpBackward0 (8,192 B,
    // alive while the formula runs, with its 8,192 B gradient, the seed and the loss): the
    // same peak as the plain graph, whose result was alive anyway, and the same end state
    // (the gradient and the loss).
    let output = run_both(
        "import torch

a = torch.randn(32, 64, device='cuda', requires_grad=True)
for offload in (False, True):
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    if offload:
        with torch.autograd.graph.save_on_cpu():
            loss = a.exp().sum()
        saved = loss.grad_fn.next_functions[0][0]._saved_result
        print(saved.device == a.device, list(saved.shape), torch.cuda.memory_allocated() - base)
        del saved
    else:
        loss = a.exp().sum()
    forward = torch.cuda.memory_allocated() - base
    loss.backward()
    print(forward, torch.cuda.max_memory_allocated() - base, torch.cuda.memory_allocated() - base)
    del loss
    a.grad = None
",
    );
    assert_eq!(
        output,
        [
            "8704 17408 8704",
            // `_saved_result` unpacks: a fresh device copy, alive while the program holds it.
            "True [32, 64] 8704",
            "512 17408 8704",
        ]
    );
}

#[test]
fn save_on_cpu_drops_an_mlps_activations_by_their_bytes() {
    // Linear(256, 1024) → ReLU → Linear(1024, 256) on 64×256, then `pow(2).mean()`, after a
    // warm-up step (the cuBLAS workspace). Plain: forward keeps ReLU's output (262,144 B, saved
    // by ReluBackward0 and the second AddmmBackward0), PowBackward0's input (65,536 B) and the
    // loss. Under save_on_cpu: the loss only, 327,680 B less. After backward both hold the
    // four gradients (2,102,272 B) and the loss.
    let output = run_both(
        "import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 256)).cuda()
x = torch.randn(64, 256, device='cuda')
model(x).sum().backward()
model.zero_grad()
for offload in (False, True):
    base = torch.cuda.memory_allocated()
    if offload:
        with torch.autograd.graph.save_on_cpu(pin_memory=True):
            loss = model(x).pow(2).mean()
    else:
        loss = model(x).pow(2).mean()
    forward = torch.cuda.memory_allocated() - base
    loss.backward()
    print(forward, torch.cuda.memory_allocated() - base)
    del loss
    model.zero_grad()
",
    );
    assert_eq!(output, ["328192 2102784", "512 2102784"]);
}

#[test]
fn a_pack_hook_that_keeps_tensors_keeps_their_memory() {
    // The gallery's leaks/saved_tensors_hooks_stash_kept.py in small: the dict keeps what
    // each step saved, and the node keeps only the key, so backward frees nothing of it.
    let output = run_both(
        "import torch

stash = {}

def pack(t):
    stash[len(stash)] = t
    return len(stash) - 1

a = torch.randn(32, 64, device='cuda', requires_grad=True)
base = torch.cuda.memory_allocated()
for step in range(3):
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda k: stash[k]):
        loss = a.exp().sum()
    loss.backward()
    del loss
    print(len(stash), torch.cuda.memory_allocated() - base)
",
    );
    // Each step's exp result (8,192 B) stays; the gradient is made once (8,192 B) and
    // accumulated in place after.
    assert_eq!(output, ["1 16384", "2 24576", "3 32768"]);
}
