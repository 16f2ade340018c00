//! `nn.RNN` and `nn.LSTM` composed per time step: the graph a forward leaves holds the nodes
//! and saved tensors PyTorch 2.15's composed CPU path holds (oneDNN off; counted with
//! `grad_fn.next_functions` and `_saved_*` over the same shapes, docs/fidelity.md).

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use leakharness::autograd::Node;
use leakharness::device::Backend;
use leakharness::nn::{Module, Rnn, RnnConfig, RnnMode, RnnState};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

/// The node classes reachable from `roots`, with their counts, and the distinct device
/// blocks their saved tensors use, with those blocks' bytes rounded to 512.
pub(super) fn graph_stats(roots: &[&Tensor]) -> (BTreeMap<String, usize>, usize, u64) {
    let mut seen = HashSet::new();
    let mut names = BTreeMap::new();
    let mut blocks = HashSet::new();
    let mut bytes = 0u64;
    let mut stack: Vec<Rc<Node>> = roots.iter().filter_map(|t| t.grad_fn()).collect();
    while let Some(node) = stack.pop() {
        if !seen.insert(Rc::as_ptr(&node)) {
            continue;
        }
        *names.entry(node.name().to_string()).or_insert(0) += 1;
        for saved in node.saved_tensors() {
            // Host tensors (a wrapped Python number) are no device block.
            if let Some(t) = saved.tensor.filter(|t| t.device() == Device::Cuda) {
                if blocks.insert(t.block().unwrap()) {
                    bytes += (t.storage_nbytes() as u64).next_multiple_of(512);
                }
            }
        }
        stack.extend(node.next_functions().into_iter().flatten());
    }
    (names, blocks.len(), bytes)
}

pub(super) fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

fn layer(rt: &Runtime, mode: RnnMode, config: RnnConfig) -> Rnn {
    let m = Rnn::new(rt, mode, config).unwrap();
    m.to(Device::Cuda).unwrap();
    m
}

fn run(mode: RnnMode, config: RnnConfig) -> (BTreeMap<String, usize>, usize, u64) {
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let m = layer(&rt, mode, config);
    let x = rt.randn(&[5, 8, 16], Device::Cuda).unwrap();
    let (out, state) = m.forward_state(&x, None).unwrap();
    match state {
        RnnState::Hidden(h) => graph_stats(&[&out, &h]),
        RnnState::HiddenCell(h, c) => graph_stats(&[&out, &h, &c]),
    }
}

#[test]
fn an_lstm_step_holds_pytorchs_nodes_and_saved_tensors() {
    // LSTM(16, 32) over 5 steps of a batch of 8: per step an addmm for the hidden state's
    // gates, the in-place add of the input's gates, one UnsafeSplitBackward0 for the four
    // gates and their in-place activations, and the cell's products; 22 saved blocks.
    let (names, blocks, bytes) = run(RnnMode::Lstm, RnnConfig::new(16, 32));
    assert_eq!(
        names,
        counts(&[
            ("AccumulateGrad", 4),
            ("AddBackward0", 10),
            ("AddmmBackward0", 6),
            ("MulBackward0", 15),
            ("SigmoidBackward0", 15),
            ("StackBackward0", 3),
            ("TBackward0", 6),
            ("TanhBackward0", 10),
            ("UnbindBackward0", 1),
            ("UnsafeSplitBackward0", 5),
            ("UnsafeViewBackward0", 1),
        ])
    );
    assert_eq!((blocks, bytes), (22, 54784));
}

#[test]
fn an_rnn_step_holds_pytorchs_nodes_and_saved_tensors() {
    let (names, blocks, bytes) = run(RnnMode::Tanh, RnnConfig::new(16, 32));
    assert_eq!(
        names,
        counts(&[
            ("AccumulateGrad", 4),
            ("AddBackward0", 5),
            ("AddmmBackward0", 6),
            ("StackBackward0", 2),
            ("TBackward0", 6),
            ("TanhBackward0", 5),
            ("UnbindBackward0", 1),
            ("UnsafeViewBackward0", 1),
        ])
    );
    assert_eq!((blocks, bytes), (8, 12800));
}

#[test]
fn a_two_layer_bidirectional_lstm_holds_pytorchs_nodes_and_saved_tensors() {
    let config = RnnConfig {
        num_layers: 2,
        bidirectional: true,
        ..RnnConfig::new(16, 32)
    };
    let (names, blocks, bytes) = run(RnnMode::Lstm, config);
    assert_eq!(
        names,
        counts(&[
            ("AccumulateGrad", 16),
            ("AddBackward0", 40),
            ("AddmmBackward0", 24),
            ("CatBackward0", 2),
            ("MulBackward0", 60),
            ("SigmoidBackward0", 60),
            ("StackBackward0", 6),
            ("TBackward0", 24),
            ("TanhBackward0", 40),
            ("UnbindBackward0", 4),
            ("UnsafeSplitBackward0", 20),
            ("UnsafeViewBackward0", 4),
            ("ViewBackward0", 2),
        ])
    );
    assert_eq!((blocks, bytes), (82, 287232));
}

/// A training step through a two-layer LSTM with dropout and a carried state: cpu and meta
/// make the same allocations and frees, event by event.
#[test]
fn cpu_and_meta_trace_an_lstm_step_alike() {
    let trace = |backend: Backend| {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let config = RnnConfig {
            num_layers: 2,
            dropout: 0.25,
            batch_first: true,
            ..RnnConfig::new(6, 10)
        };
        let m = layer(&rt, RnnMode::Lstm, config);
        let mut state = None;
        for _ in 0..2 {
            let x = rt.randn(&[4, 3, 6], Device::Cuda).unwrap();
            let (out, s) = m.forward_state(&x, state.take()).unwrap();
            out.sum().unwrap().backward(None, false).unwrap();
            if let RnnState::HiddenCell(h, c) = s {
                state = Some(RnnState::HiddenCell(h.detach(), c.detach()));
            }
        }
        drop((m, state));
        rt.allocator().history().trace()
    };
    let cpu = trace(Backend::Cpu);
    assert!(cpu.len() > 100);
    assert_eq!(cpu, trace(Backend::Meta));
}
