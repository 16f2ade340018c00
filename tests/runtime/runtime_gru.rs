//! `nn.GRU` and the cells (`nn.RNNCell`, `nn.LSTMCell`, `nn.GRUCell`), composed as PyTorch
//! 2.15's CPU path composes them: node counts and saved blocks equal what `next_functions` and
//! `_saved_*` show on 2.15 over the same shapes; on a CUDA device `nn.GRUCell` and
//! `nn.LSTMCell` take the fused path (`fused_cells.rs`), whose graphs are pinned here too.

use leakharness::device::Backend;
use leakharness::nn::{Io, Layer, Module, Rnn, RnnCell, RnnConfig, RnnMode, RnnState};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

use super::runtime_rnn::{counts, graph_stats};

fn meta() -> Runtime {
    Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap()
}

#[test]
fn a_gru_holds_pytorchs_nodes_and_saved_tensors() {
    let rt = meta();
    let m = Rnn::new(&rt, RnnMode::Gru, RnnConfig::new(16, 32)).unwrap();
    m.to(Device::Cuda).unwrap();
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    );
    assert_eq!(m.named_parameters()[0].1.shape(), &[96, 16]);
    let x = rt.randn(&[5, 8, 16], Device::Cuda).unwrap();
    let (out, state) = m.forward_state(&x, None).unwrap();
    let RnnState::Hidden(h) = state else {
        panic!("GRU returns h_n")
    };
    assert_eq!((out.shape(), h.shape()), (&[5, 8, 32][..], &[1, 8, 32][..]));
    // Per step: the hidden projection's addmm, both projections split (UnsafeSplitBackward0
    // twice), reset and update gates added and activated in place, the new gate, and
    // `(h - n).mul_(z).add_(n)`.
    assert_eq!(
        graph_stats(&[&out, &h]),
        (
            counts(&[
                ("AccumulateGrad", 4),
                ("AddBackward0", 20),
                ("AddmmBackward0", 6),
                ("MulBackward0", 10),
                ("SigmoidBackward0", 10),
                ("StackBackward0", 2),
                ("SubBackward0", 5),
                ("TBackward0", 6),
                ("TanhBackward0", 5),
                ("UnbindBackward0", 1),
                ("UnsafeSplitBackward0", 10),
                ("UnsafeViewBackward0", 1),
            ]),
            27,
            50_688
        )
    );
}

#[test]
fn a_two_layer_bidirectional_gru_holds_pytorchs_graph() {
    let rt = meta();
    let mut config = RnnConfig::new(16, 32);
    config.num_layers = 2;
    config.bidirectional = true;
    let m = Rnn::new(&rt, RnnMode::Gru, config).unwrap();
    m.to(Device::Cuda).unwrap();
    let x = rt.randn(&[5, 8, 16], Device::Cuda).unwrap();
    let (out, state) = m.forward_state(&x, None).unwrap();
    let RnnState::Hidden(h) = state else {
        panic!("GRU returns h_n")
    };
    assert_eq!(h.shape(), &[4, 8, 32]);
    let (names, blocks, bytes) = graph_stats(&[&out, &h]);
    assert_eq!(
        names,
        counts(&[
            ("AccumulateGrad", 16),
            ("AddBackward0", 80),
            ("AddmmBackward0", 24),
            ("CatBackward0", 2),
            ("MulBackward0", 40),
            ("SigmoidBackward0", 40),
            ("StackBackward0", 5),
            ("SubBackward0", 20),
            ("TBackward0", 24),
            ("TanhBackward0", 20),
            ("UnbindBackward0", 4),
            ("UnsafeSplitBackward0", 40),
            ("UnsafeViewBackward0", 4),
            ("ViewBackward0", 2),
        ])
    );
    assert_eq!((blocks, bytes), (105, 254_464));
}

fn cell(rt: &Runtime, mode: RnnMode) -> RnnCell {
    let c = RnnCell::new(rt, mode, 16, 32, true).unwrap();
    c.to(Device::Cuda).unwrap();
    c
}

#[test]
fn the_cells_hold_pytorchs_graphs() {
    let rt = meta();
    let x = rt.randn(&[8, 16], Device::Cuda).unwrap();
    let h = rt.randn(&[8, 32], Device::Cuda).unwrap();

    let gru = cell(&rt, RnnMode::Gru);
    assert_eq!(gru.repr(), "GRUCell(16, 32)");
    // On a CUDA device GRUCell and LSTMCell take PyTorch's fused path: two `mm`s and one
    // fused node (the nodes of PyTorch 2.11 on an H100, `tests/runtime/fused_cells.rs`).
    // Saved: both gate matrices, h, both biases and the [8, 160] workspace, plus x by the
    // input's MmBackward0 (x needs no gradient here, the weight does).
    let Io::Tensor(h1) = gru
        .call(&[Io::Tensor(x.clone()), Io::Tensor(h.clone())])
        .unwrap()
    else {
        panic!("GRUCell returns a tensor")
    };
    assert_eq!(
        graph_stats(&[&h1]),
        (
            counts(&[
                ("AccumulateGrad", 4),
                ("MmBackward0", 2),
                ("TBackward0", 2),
                ("ThnnFusedGruCellBackward0", 1),
            ]),
            7,
            3072 + 3072 + 1024 + 512 + 512 + 5120 + 512
        )
    );

    // LSTMCell without a state: one zeros tensor for both h and c; the node saves cy and the
    // [8, 128] workspace besides the gates, cx and biases.
    let lstm = cell(&rt, RnnMode::Lstm);
    let before = rt.memory_allocated();
    let Io::Tuple(hc) = lstm.call(&[Io::Tensor(x.clone())]).unwrap() else {
        panic!("LSTMCell returns (h, c)")
    };
    let [Io::Tensor(h1), Io::Tensor(c1)] = hc.as_slice() else {
        panic!("LSTMCell returns (h, c)")
    };
    assert!(rt.memory_allocated() > before);
    assert_eq!(
        graph_stats(&[h1, c1]),
        (
            counts(&[
                ("AccumulateGrad", 4),
                ("MmBackward0", 2),
                ("TBackward0", 2),
                ("ThnnFusedLstmCellBackward0", 1),
            ]),
            8,
            3 * 4096 + 1024 + 512 + 512 + 1024 + 512
        )
    );

    let rnn = cell(&rt, RnnMode::Tanh);
    let Io::Tensor(h1) = rnn.call(&[Io::Tensor(x), Io::Tensor(h)]).unwrap() else {
        panic!("RNNCell returns a tensor")
    };
    assert_eq!(
        graph_stats(&[&h1]),
        (
            counts(&[
                ("AccumulateGrad", 4),
                ("AddBackward0", 1),
                ("AddmmBackward0", 2),
                ("TBackward0", 2),
                ("TanhBackward0", 1),
            ]),
            3,
            2_560
        )
    );
}

#[test]
fn the_cells_check_shapes_with_pytorchs_messages() {
    let rt = meta();
    let gru = cell(&rt, RnnMode::Gru);
    let x = rt.randn(&[8, 15], Device::Cuda).unwrap();
    assert_eq!(
        gru.call(&[Io::Tensor(x)]).unwrap_err().to_string(),
        "input has inconsistent input_size: got 15, expected 16"
    );
    let x = rt.randn(&[8, 16], Device::Cuda).unwrap();
    let h = rt.randn(&[4, 32], Device::Cuda).unwrap();
    assert_eq!(
        gru.call(&[Io::Tensor(x), Io::Tensor(h)])
            .unwrap_err()
            .to_string(),
        "Input batch size 8 doesn't match hidden0 batch size 4"
    );
}

/// [`graph_stats`] for host tensors, which have no allocator block: saved storages told
/// apart by identity.
fn host_graph_stats(roots: &[&Tensor]) -> (std::collections::BTreeMap<String, usize>, usize, u64) {
    let mut seen = std::collections::HashSet::new();
    let mut names = std::collections::BTreeMap::new();
    let mut storages: Vec<Tensor> = Vec::new();
    let mut stack: Vec<_> = roots.iter().filter_map(|t| t.grad_fn()).collect();
    while let Some(node) = stack.pop() {
        if !seen.insert(std::rc::Rc::as_ptr(&node)) {
            continue;
        }
        *names.entry(node.name().to_string()).or_insert(0) += 1;
        for saved in node.saved_tensors() {
            if let Some(t) = saved.tensor {
                if !storages.iter().any(|s| s.shares_storage(&t)) {
                    storages.push(t);
                }
            }
        }
        stack.extend(node.next_functions().into_iter().flatten());
    }
    let bytes = storages
        .iter()
        .map(|t| (t.storage_nbytes() as u64).next_multiple_of(512))
        .sum();
    (names, storages.len(), bytes)
}

/// On the cpu device the cells stay RNN.cpp's composed CPU cells: the graphs 2.15's CPU build
/// shows (`docs/fidelity.md`, "GRU and the cells").
#[test]
fn the_cells_on_the_cpu_device_keep_the_composed_graphs() {
    let rt = meta();
    let x = rt.randn(&[8, 16], Device::Cpu).unwrap();
    let h = rt.randn(&[8, 32], Device::Cpu).unwrap();
    let gru = RnnCell::new(&rt, RnnMode::Gru, 16, 32, true).unwrap();
    let Io::Tensor(h1) = gru
        .call(&[Io::Tensor(x.clone()), Io::Tensor(h.clone())])
        .unwrap()
    else {
        panic!("GRUCell returns a tensor")
    };
    assert_eq!(
        host_graph_stats(&[&h1]),
        (
            counts(&[
                ("AccumulateGrad", 4),
                ("AddBackward0", 4),
                ("AddmmBackward0", 2),
                ("MulBackward0", 2),
                ("SigmoidBackward0", 2),
                ("SubBackward0", 1),
                ("TBackward0", 2),
                ("TanhBackward0", 1),
                ("UnsafeSplitBackward0", 2),
            ]),
            6,
            7_680
        )
    );
    let lstm = RnnCell::new(&rt, RnnMode::Lstm, 16, 32, true).unwrap();
    let Io::Tuple(hc) = lstm.call(&[Io::Tensor(x)]).unwrap() else {
        panic!("LSTMCell returns (h, c)")
    };
    let [Io::Tensor(h1), Io::Tensor(c1)] = hc.as_slice() else {
        panic!("LSTMCell returns (h, c)")
    };
    assert_eq!(
        host_graph_stats(&[h1, c1]),
        (
            counts(&[
                ("AccumulateGrad", 4),
                ("AddBackward0", 2),
                ("AddmmBackward0", 2),
                ("MulBackward0", 3),
                ("SigmoidBackward0", 3),
                ("TBackward0", 2),
                ("TanhBackward0", 2),
                ("UnsafeSplitBackward0", 1),
            ]),
            4,
            6_656
        )
    );
}
