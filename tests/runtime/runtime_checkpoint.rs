//! `torch.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False)`: the function's graph
//! recorded with every saved tensor left out (saved-tensor hooks packing into holders), its
//! inputs kept by the checkpoint's frame, and the function rerun at backward under forward's
//! random state (`docs/autograd.md`, "Checkpointing").

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions, RunResult};

fn run_scenario(backend: Backend, source: &str) -> RunResult {
    let scenario = leakharness::scenario::parse_scenario(std::path::Path::new("s.py"), source)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    run(&scenario, &rt, &RunOptions::default(), &mut ())
}

const MODES: &str = "import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

block = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 64)).cuda()
x = torch.randn(32, 64, device='cuda', requires_grad=True)
results = []
for mode in ('plain', 'non-reentrant', 'reentrant'):
    torch.manual_seed(3)
    base = torch.cuda.memory_allocated()
    if mode == 'plain':
        y = block(x)
    else:
        y = checkpoint(block, x, use_reentrant=mode == 'reentrant')
    kept = torch.cuda.memory_allocated() - base
    y.sum().backward()
    results.append((mode, kept, round(x.grad.sum().item(), 3)))
    x.grad = None
    del y
print(results[0][1], results[1][1], results[2][1])
print(results[0][2] == results[1][2] == results[2][2])
";

#[test]
fn a_non_reentrant_checkpoint_keeps_its_output_and_recomputes_the_same_gradient() {
    let result = run_scenario(Backend::Cpu, MODES);
    assert!(result.failure.is_none(), "{:?}", result.failure);
    // Between forward and backward, beyond the input: plain keeps ReLU's 32×256 result
    // (32,768 B), dropout's bool mask (8,192 B) and result (32,768 B, Linear 2's `mat1`) and
    // the output (8,192 B); both checkpoints keep only the output. The gradients agree: the
    // rerun draws forward's dropout mask again.
    assert_eq!(result.output, ["81920 8192 8192", "True"]);
}

#[test]
fn a_retained_graph_reruns_the_function_at_each_backward() {
    let result = run_scenario(
        Backend::Cpu,
        "import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

block = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).cuda()
x = torch.randn(5, 8, device='cuda', requires_grad=True)
calls = []

def run(t):
    calls.append(1)
    return block(t)

y = checkpoint(run, x, use_reentrant=False)
after_forward = torch.cuda.memory_allocated()
y.sum().backward(retain_graph=True)
first = x.grad.clone()
x.grad = None
y.sum().backward()
print(len(calls), (first - x.grad).abs().sum().item() == 0.0, torch.cuda.memory_allocated() - after_forward)
try:
    y.sum().backward()
except RuntimeError as e:
    print(str(e).startswith('Trying to backward through the graph a second time'))
",
    );
    assert!(result.failure.is_none(), "{:?}", result.failure);
    // One forward and one rerun per backward; the same gradient; after the second backward
    // only `first`, `x.grad` and the parameters' gradients are new (the reruns' tensors are
    // gone): 2 × 512 B for the 5×8 gradients, 4 × 512 B for the 16×8, 16, 4×16 and 4 ones.
    assert_eq!(result.output, ["3 True 3072", "True"]);
}

#[test]
fn the_checkpointed_graph_is_recorded_with_holders_instead_of_tensors() {
    use leakharness::autograd::{checkpoint_forward, CheckpointFrame};
    use leakharness::nn::{Linear, Module, ReLU, Sequential};
    use leakharness::tensor::Device;
    use std::rc::Rc;

    use super::runtime_rnn::{counts, graph_stats};

    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let mlp = Sequential::new(vec![
        Box::new(Linear::new(&rt, 64, 256, true).unwrap()),
        Box::new(ReLU::new(false)),
        Box::new(Linear::new(&rt, 256, 64, true).unwrap()),
    ]);
    mlp.to(Device::Cuda).unwrap();
    let x = rt
        .randn(&[32, 64], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let before = rt.memory_allocated();
    let frame = CheckpointFrame::new(Rc::new(()));
    let y = {
        let _packing = checkpoint_forward(&rt, &frame);
        mlp.forward(&x).unwrap()
    };
    // 2.15: the same nodes, each saved slot a holder, no tensor kept but the output.
    let nodes = counts(&[
        ("AccumulateGrad", 5),
        ("AddmmBackward0", 2),
        ("ReluBackward0", 1),
        ("TBackward0", 2),
    ]);
    assert_eq!(graph_stats(&[&y]), (nodes, 0, 0));
    assert_eq!(rt.memory_allocated() - before, 8192);
    assert!(!frame.recomputed());
    // Without a program to rerun the function, backward says so.
    let err = y.sum().unwrap().backward(None, false).unwrap_err();
    assert!(
        err.to_string()
            .contains("reached a backward pass run without callbacks"),
        "{err}"
    );
}
