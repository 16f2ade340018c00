//! `nn.GRUCell` and `nn.LSTMCell` on a CUDA device take PyTorch's fused path (`GRUCell` /
//! `LSTMCell` in `aten/src/ATen/native/RNN.cpp`, `_thnn_fused_*_cell_cuda` in
//! `aten/src/ATen/native/cuda/RNN.cu`). The expected figures are PyTorch 2.11's on an H100,
//! recorded by `benches/cuda_dispatch_probe.py` (`/tmp/p4/dispatch-probe.json` of this
//! session): each case's allocations and frees in order, from the measured forward through
//! `sum(o.float().sum() for o in outputs).backward()`. The probe writes frees with the size
//! asked for; the allocator's free events carry the block size, rounded here to 512 B.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::nn::{Io, Layer, Module, RnnCell, RnnMode};
use leakharness::runtime::{BlasWorkspaces, Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

use super::runtime_gradcheck::{check, identity, Case};

/// A runtime with PyTorch's cuBLAS workspaces on an sm_90 card, as the probe ran.
fn runtime(backend: Backend) -> Runtime {
    Runtime::new(
        backend,
        RuntimeOptions {
            blas_workspaces: Some(BlasWorkspaces::pytorch_default(9, 0)),
            ..RuntimeOptions::default()
        },
    )
    .unwrap()
}

fn cell(rt: &Runtime, mode: RnnMode, input: usize, hidden: usize) -> RnnCell {
    let c = RnnCell::new(rt, mode, input, hidden, true).unwrap();
    c.to(Device::Cuda).unwrap();
    c
}

/// The cell's outputs from `cell(x)`.
fn outputs(c: &RnnCell, x: &Tensor) -> Vec<Tensor> {
    match c.call(&[Io::Tensor(x.clone())]).unwrap() {
        Io::Tensor(h) => vec![h],
        Io::Tuple(hc) => hc
            .into_iter()
            .map(|o| match o {
                Io::Tensor(t) => t,
                _ => panic!("a cell returns tensors"),
            })
            .collect(),
        _ => panic!("a cell returns a tensor or a tuple"),
    }
}

/// `sum(o.float().sum() for o in outputs).backward()` as Python evaluates it: `0 + s0`, then
/// `+ s1`, each partial sum freed when the next exists. Returns the loss, which the probe
/// still holds when it reads its events.
fn sum_backward(outs: &[Tensor]) -> Tensor {
    let mut loss: Option<Tensor> = None;
    for o in outs {
        let s = o.sum().unwrap();
        loss = Some(match loss {
            None => s.add_scalar(0.0).unwrap(),
            Some(l) => l.add(&s).unwrap(),
        });
    }
    let loss = loss.unwrap();
    loss.backward(None, false).unwrap();
    loss
}

/// The probe's events (`a1024` an allocation asked for 1,024 B, `f4` a free of a block asked
/// for 4 B) as this allocator records them: `+requested`, `-rounded`.
fn probe(events: &str) -> Vec<i64> {
    events
        .split_whitespace()
        .map(|e| {
            let n: i64 = e[1..].parse().unwrap();
            match &e[..1] {
                "a" => n,
                _ => -((n.max(1) + 511) / 512 * 512),
            }
        })
        .collect()
}

/// The events from the `since`-th on, `+requested` and `-size`.
fn events_since(rt: &Runtime, since: usize) -> Vec<i64> {
    rt.allocator()
        .history()
        .trace()
        .into_iter()
        .skip(since)
        .filter_map(|e| match e {
            EventKind::Alloc { requested, .. } => Some(requested as i64),
            EventKind::Free { size, .. } => Some(-(size as i64)),
            _ => None,
        })
        .collect()
}

/// Runs one probe case: a fresh cell and input, one warm-up forward (its handles and
/// workspaces), then the measured forward and backward. Returns the measured events, the
/// forward's bytes, and the node names of the forward's graph root.
fn run_case(
    rt: &Runtime,
    mode: RnnMode,
    input: usize,
    hidden: usize,
    batch: usize,
) -> (Vec<i64>, u64, String) {
    let c = cell(rt, mode, input, hidden);
    let x = rt
        .randn(&[batch, input], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    drop(outputs(&c, &x));
    let since = rt.allocator().history().trace().len();
    let before = rt.memory_allocated();
    let outs = outputs(&c, &x);
    let forward = rt.memory_allocated() - before;
    let root = outs[0].grad_fn().unwrap().name().to_string();
    let _loss = sum_backward(&outs);
    (events_since(rt, since), forward, root)
}

#[test]
fn the_fused_cells_allocate_and_free_what_pytorch_does_on_an_h100() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = runtime(backend);
        // LSTMCell(16,32) was the probe's first backward with a product on the autograd
        // thread: its MmBackward0 takes that thread's 32 MiB cuBLAS workspace.
        let (events, forward, root) = run_case(&rt, RnnMode::Lstm, 16, 32, 8);
        assert_eq!(root, "ThnnFusedLstmCellBackward0");
        assert_eq!(forward, 15_360);
        assert_eq!(
            events,
            probe(
                "a1024 a4096 a4096 a4096 a1024 a1024 a4 a4 f4 a4 a4 f4 f4 a4 a4096 a1024 a512 \
                 f1024 f4096 f4096 f4096 a512 a16384 a33554432 f1024 a8192 a512 f4096 f4"
            ),
            "{backend:?}"
        );
        let (events, forward, root) = run_case(&rt, RnnMode::Lstm, 10, 20, 3);
        assert_eq!(root, "ThnnFusedLstmCellBackward0");
        assert_eq!(forward, 4_608);
        assert_eq!(
            events,
            probe(
                "a240 a960 a960 a960 a240 a240 a4 a4 f4 a4 a4 f4 f4 a4 a960 a240 a320 f240 \
                 f960 f960 f960 a320 a6400 f240 a3200 a120 f960 f4"
            ),
            "{backend:?}"
        );
        let (events, forward, root) = run_case(&rt, RnnMode::Gru, 16, 32, 8);
        assert_eq!(root, "ThnnFusedGruCellBackward0");
        assert_eq!(forward, 13_312);
        assert_eq!(
            events,
            probe(
                "a1024 a3072 a3072 a5120 a1024 a4 a4 f4 a4 a3072 a3072 a1024 a384 a384 f1024 \
                 f3072 f3072 f5120 a12288 f3072 f1024 a6144 a512 f3072 f4"
            ),
            "{backend:?}"
        );
        let (events, forward, _) = run_case(&rt, RnnMode::Gru, 10, 20, 3);
        assert_eq!(forward, 4_608);
        assert_eq!(
            events,
            probe(
                "a240 a720 a720 a1200 a240 a4 a4 f4 a4 a720 a720 a240 a240 a240 f240 f720 \
                 f720 f1200 a4800 f720 f240 a2400 a120 f720 f4"
            ),
            "{backend:?}"
        );
        // RNNCell has no fused kernel: composed on CUDA too (TanhBackward0 at the root).
        let (events, forward, root) = run_case(&rt, RnnMode::Tanh, 16, 32, 8);
        assert_eq!(root, "TanhBackward0");
        assert_eq!(forward, 2_048);
        assert_eq!(
            events,
            probe(
                "a1024 a1024 a1024 a1024 f1024 f1024 a4 a4 f4 a4 a1024 a512 a2048 a128 a4096 \
                 a128 f1024 f1024 f4"
            ),
            "{backend:?}"
        );
    }
}

/// The saved tensors of each fused node, by name and bytes, as `_saved_*` shows them.
#[test]
fn the_fused_nodes_save_what_pytorch_saves() {
    let rt = runtime(Backend::Meta);
    let saved = |t: &Tensor| -> Vec<(String, usize)> {
        t.grad_fn()
            .unwrap()
            .saved_tensors()
            .into_iter()
            .map(|s| (s.name.to_string(), s.tensor.unwrap().storage_nbytes()))
            .collect()
    };
    let x = rt.randn(&[8, 16], Device::Cuda).unwrap();
    let gru = cell(&rt, RnnMode::Gru, 16, 32);
    let h = outputs(&gru, &x).remove(0);
    let names = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
        v.iter().map(|(n, b)| (n.to_string(), *b)).collect()
    };
    assert_eq!(
        saved(&h),
        names(&[
            ("input_gates", 3072),
            ("hidden_gates", 3072),
            ("hx", 1024),
            ("input_bias", 384),
            ("hidden_bias", 384),
            ("result1", 5120),
        ])
    );
    let lstm = cell(&rt, RnnMode::Lstm, 16, 32);
    let hc = outputs(&lstm, &x);
    // One node for both outputs, as PyTorch records a multi-output function.
    assert!(std::rc::Rc::ptr_eq(
        &hc[0].grad_fn().unwrap(),
        &hc[1].grad_fn().unwrap()
    ));
    assert_eq!(
        saved(&hc[0]),
        names(&[
            ("input_gates", 4096),
            ("hidden_gates", 4096),
            ("cx", 1024),
            ("input_bias", 512),
            ("hidden_bias", 512),
            ("result1", 1024),
            ("result2", 4096),
        ])
    );
}

/// f64 reference of one GRU step: inputs `[x, h, w_ih, w_hh, b_ih, b_hh]`, gates r, z, n.
fn gru_reference(v: &[Vec<f64>], batch: usize, input: usize, hidden: usize) -> Vec<f64> {
    let (x, h, wi, wh, bi, bh) = (&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
    let proj = |row: usize, g: usize, j: usize| -> (f64, f64) {
        let k = g * hidden + j;
        let a = (0..input)
            .map(|i| x[row * input + i] * wi[k * input + i])
            .sum::<f64>()
            + bi[k];
        let b = (0..hidden)
            .map(|i| h[row * hidden + i] * wh[k * hidden + i])
            .sum::<f64>()
            + bh[k];
        (a, b)
    };
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let mut out = Vec::new();
    for row in 0..batch {
        for j in 0..hidden {
            let (ar, br) = proj(row, 0, j);
            let (az, bz) = proj(row, 1, j);
            let (an, bn) = proj(row, 2, j);
            let r = sig(ar + br);
            let z = sig(az + bz);
            let n = (an + r * bn).tanh();
            out.push((1.0 - z) * n + z * h[row * hidden + j]);
        }
    }
    out
}

/// f64 reference of one LSTM step, `hy + 0.5 * cy`: inputs `[x, h, c, w_ih, w_hh, b_ih,
/// b_hh]`, gates i, f, g, o.
fn lstm_reference(v: &[Vec<f64>], batch: usize, input: usize, hidden: usize) -> Vec<f64> {
    let (x, h, c, wi, wh, bi, bh) = (&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
    let pre = |row: usize, g: usize, j: usize| -> f64 {
        let k = g * hidden + j;
        (0..input)
            .map(|i| x[row * input + i] * wi[k * input + i])
            .sum::<f64>()
            + (0..hidden)
                .map(|i| h[row * hidden + i] * wh[k * hidden + i])
                .sum::<f64>()
            + bi[k]
            + bh[k]
    };
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let mut out = Vec::new();
    for row in 0..batch {
        for j in 0..hidden {
            let (i, f, g, o) = (
                sig(pre(row, 0, j)),
                sig(pre(row, 1, j)),
                pre(row, 2, j).tanh(),
                sig(pre(row, 3, j)),
            );
            let cy = f * c[row * hidden + j] + i * g;
            out.push(o * cy.tanh() + 0.5 * cy);
        }
    }
    out
}

/// The cell with its parameters replaced by `params` (weight_ih, weight_hh, bias_ih,
/// bias_hh), as the gradient check hands them in.
fn cell_with(template: &RnnCell, params: &[Tensor]) -> Box<dyn Layer> {
    template.with_tensors(params.to_vec(), Vec::new())
}

#[test]
fn the_fused_cells_gradients_match_finite_differences() {
    let (batch, input, hidden) = (3, 4, 5);
    let host = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let gru_template = RnnCell::new(&host, RnnMode::Gru, input, hidden, true).unwrap();
    let lstm_template = RnnCell::new(&host, RnnMode::Lstm, input, hidden, true).unwrap();
    check(Case {
        name: "GRUCell on cuda (ThnnFusedGruCellBackward0)",
        inputs: vec![
            (vec![batch, input], true),
            (vec![batch, hidden], true),
            (vec![3 * hidden, input], true),
            (vec![3 * hidden, hidden], true),
            (vec![3 * hidden], true),
            (vec![3 * hidden], true),
        ],
        op: &|t| {
            let c = cell_with(&gru_template, &t[2..]);
            let out = c
                .as_call()
                .unwrap()
                .call(&[Io::Tensor(t[0].clone()), Io::Tensor(t[1].clone())])?;
            let Io::Tensor(h) = out else {
                panic!("GRUCell returns a tensor")
            };
            assert_eq!(h.grad_fn().unwrap().name(), "ThnnFusedGruCellBackward0");
            Ok(h)
        },
        reference: &|v| gru_reference(v, batch, input, hidden),
        shape_values: identity,
    });
    // Without biases the node saves none and its backward sums none.
    let gru_no_bias = RnnCell::new(&host, RnnMode::Gru, input, hidden, false).unwrap();
    check(Case {
        name: "GRUCell(bias=False) on cuda",
        inputs: vec![
            (vec![batch, input], true),
            (vec![batch, hidden], true),
            (vec![3 * hidden, input], true),
            (vec![3 * hidden, hidden], true),
        ],
        op: &|t| {
            let c = cell_with(&gru_no_bias, &t[2..]);
            let out = c
                .as_call()
                .unwrap()
                .call(&[Io::Tensor(t[0].clone()), Io::Tensor(t[1].clone())])?;
            let Io::Tensor(h) = out else {
                panic!("GRUCell returns a tensor")
            };
            let names: Vec<&str> = h
                .grad_fn()
                .unwrap()
                .saved_tensors()
                .iter()
                .map(|s| s.name)
                .collect();
            assert_eq!(names, ["input_gates", "hidden_gates", "hx", "result1"]);
            Ok(h)
        },
        reference: &|v| {
            let zeros = vec![0.0; 3 * hidden];
            let mut v = v.to_vec();
            v.extend([zeros.clone(), zeros]);
            gru_reference(&v, batch, input, hidden)
        },
        shape_values: identity,
    });
    check(Case {
        name: "LSTMCell on cuda (ThnnFusedLstmCellBackward0)",
        inputs: vec![
            (vec![batch, input], true),
            (vec![batch, hidden], true),
            (vec![batch, hidden], true),
            (vec![4 * hidden, input], true),
            (vec![4 * hidden, hidden], true),
            (vec![4 * hidden], true),
            (vec![4 * hidden], true),
        ],
        op: &|t| {
            let c = cell_with(&lstm_template, &t[3..]);
            let state = Io::Tuple(vec![Io::Tensor(t[1].clone()), Io::Tensor(t[2].clone())]);
            let out = c
                .as_call()
                .unwrap()
                .call(&[Io::Tensor(t[0].clone()), state])?;
            let Io::Tuple(hc) = out else {
                panic!("LSTMCell returns (h, c)")
            };
            let [Io::Tensor(h), Io::Tensor(c)] = hc.as_slice() else {
                panic!("LSTMCell returns (h, c)")
            };
            assert_eq!(h.grad_fn().unwrap().name(), "ThnnFusedLstmCellBackward0");
            h.add(&c.mul_scalar(0.5)?)
        },
        reference: &|v| lstm_reference(v, batch, input, hidden),
        shape_values: identity,
    });
}

/// Autocast's cuda list casts the whole cell call (`gru_cell`, `lstm_cell`: lower precision in
/// `autocast_mode.cpp`), so the fused kernel gets float16 gates, state and biases alike.
#[test]
fn under_autocast_the_fused_cells_run_in_float16() {
    let rt = runtime(Backend::Meta);
    let x = rt.randn(&[8, 16], Device::Cuda).unwrap();
    let _autocast = rt.autocast(Device::Cuda, None, true, None);
    let gru = cell(&rt, RnnMode::Gru, 16, 32);
    let h = outputs(&gru, &x).remove(0);
    assert_eq!(h.dtype(), leakharness::tensor::DType::F16);
    assert_eq!(h.grad_fn().unwrap().name(), "ThnnFusedGruCellBackward0");
    let lstm = cell(&rt, RnnMode::Lstm, 16, 32);
    let hc = outputs(&lstm, &x);
    assert!(hc
        .iter()
        .all(|t| t.dtype() == leakharness::tensor::DType::F16));
    assert_eq!(
        hc[0].grad_fn().unwrap().name(),
        "ThnnFusedLstmCellBackward0"
    );
}
