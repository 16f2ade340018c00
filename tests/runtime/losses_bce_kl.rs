//! `binary_cross_entropy`, `binary_cross_entropy_with_logits` and `kl_div` (13B): what
//! forward allocates in ATen's order, what a kept loss holds, the node and what it saves
//! (`grad_fn._saved_*` on PyTorch 2.15), values against 2.15, gradients against finite
//! differences, and cpu = meta.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::nn::Reduction;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, KlDivReduction, Tensor};

use super::runtime_gradcheck::{check, Case};

/// The allocator's events from the `since`-th on, as `+requested` and `-size`.
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

fn event_count(rt: &Runtime) -> usize {
    rt.allocator().history().trace().len()
}

/// A 32×10 input in (0, 1) requiring grad and a target, on cpu and meta.
fn inputs(rt: &Runtime) -> (Tensor, Tensor) {
    let x = rt
        .rand(&[32, 10], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let y = rt.rand(&[32, 10], Device::Cuda).unwrap();
    (x, y)
}

/// Runs `loss` on both backends: its forward events, the bytes a kept loss holds beyond the
/// inputs, its node and saved names, and backward's allocations after the seed.
fn check_loss(
    loss: impl Fn(&Tensor, &Tensor) -> Tensor,
    forward: &[i64],
    kept: u64,
    node: &str,
    saved: &[&str],
    backward: &[i64],
) {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let (x, y) = inputs(&rt);
        let base = rt.memory_allocated();
        let start = event_count(&rt);
        let l = loss(&x, &y);
        assert_eq!(events_since(&rt, start), forward, "{node} {backend:?}");
        assert_eq!(rt.memory_allocated() - base, kept, "{node} {backend:?}");
        let n = l.grad_fn().unwrap();
        assert_eq!(n.name(), node);
        let names: Vec<&str> = n.saved_tensors().iter().map(|t| t.name).collect();
        assert_eq!(names, saved, "{node}");
        drop(n);
        let start = event_count(&rt);
        let seed = if l.dim() == 0 {
            None
        } else {
            Some(l.ones_like().unwrap())
        };
        l.backward(seed.as_ref(), false).unwrap();
        let allocs: Vec<i64> = events_since(&rt, start)
            .into_iter()
            .filter(|&e| e > 0)
            .collect();
        assert_eq!(allocs, backward, "{node} {backend:?} backward");
        assert_eq!(x.grad().unwrap().shape(), &[32, 10]);
    }
}

#[test]
fn bce_keeps_a_storage_of_the_inputs_size_as_its_reduced_loss() {
    // empty_like(input), the 0-dim mean (freed once copied into the loss resized to 0-dim).
    check_loss(
        |x, y| x.binary_cross_entropy(y, None, Reduction::Mean).unwrap(),
        &[1280, 4, -512],
        1536,
        "BinaryCrossEntropyBackward0",
        &["self", "target"],
        &[4, 1280],
    );
    check_loss(
        |x, y| x.binary_cross_entropy(y, None, Reduction::None).unwrap(),
        &[1280],
        1536,
        "BinaryCrossEntropyBackward0",
        &["self", "target"],
        &[1280, 1280],
    );
    // The weight, expanded to the target's size by functional.py, is saved as that view.
    check_loss(
        |x, y| {
            let w = x.runtime().rand(&[10], Device::Cuda).unwrap();
            x.binary_cross_entropy(y, Some(&w), Reduction::Sum).unwrap()
        },
        &[40, 1280, 4, -512],
        512 + 1536,
        "BinaryCrossEntropyBackward0",
        &["self", "target", "weight"],
        &[4, 1280],
    );
}

#[test]
fn bce_with_logits_frees_its_temporaries_and_keeps_four_bytes() {
    // log_sigmoid, `(1 - target)...` as the loss, the mean; both full-size ones freed.
    check_loss(
        |x, y| {
            x.binary_cross_entropy_with_logits(y, None, None, Reduction::Mean)
                .unwrap()
        },
        &[1280, 1280, 4, -1536, -1536],
        512,
        "BinaryCrossEntropyWithLogitsBackward0",
        &["self", "target"],
        &[4, 1280],
    );
    // pos_weight: `(pos_weight - 1)` and `.mul(target)` freed before the loss; backward's
    // `t = pos_weight * target`, the gradient, and `input.sigmoid()`.
    check_loss(
        |x, y| {
            let rt = x.runtime();
            let w = rt.rand(&[10], Device::Cuda).unwrap();
            let pw = rt.rand(&[10], Device::Cuda).unwrap();
            x.binary_cross_entropy_with_logits(y, Some(&w), Some(&pw), Reduction::Sum)
                .unwrap()
        },
        &[40, 40, 1280, 40, 1280, -512, -1536, 1280, 4, -1536, -1536],
        512 + 512 + 512,
        "BinaryCrossEntropyWithLogitsBackward0",
        &["self", "target", "weight", "pos_weight"],
        &[4, 1280, 1280, 1280],
    );
}

#[test]
fn kl_div_is_composite_and_batchmean_divides_the_sum() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let (x, y) = inputs(&rt);
        let start = event_count(&rt);
        let l = x.kl_div(&y, KlDivReduction::Mean, false).unwrap();
        // xlogy(target, target), target * input, their difference, the mean.
        assert_eq!(
            events_since(&rt, start),
            [1280, 1280, 1280, -1536, -1536, 4, -1536]
        );
        assert_eq!(l.grad_fn().unwrap().name(), "MeanBackward0");
        let l = x.kl_div(&y, KlDivReduction::BatchMean, false).unwrap();
        let node = l.grad_fn().unwrap();
        // C++'s `div(Scalar)` node from the Rust API; a scenario's `/ int` names it as Python
        // does (DivBackward0, `Runtime::python_scalar_names`).
        assert_eq!(node.name(), "DivBackward1");
        let chain: Vec<String> = std::iter::successors(Some(node), |n| {
            n.next_functions()
                .into_iter()
                .flatten()
                .find(|f| f.name() != "AccumulateGrad")
        })
        .map(|n| n.name().to_string())
        .collect();
        // As 2.15 chains them for a leaf input (LogSoftmaxBackward0 there comes from the
        // caller's log_softmax).
        assert_eq!(
            chain,
            [
                "DivBackward1",
                "SumBackward0",
                "SubBackward0",
                "MulBackward0"
            ]
        );
        let l = x.kl_div(&y, KlDivReduction::Sum, true).unwrap();
        l.backward(None, false).unwrap();
        assert_eq!(x.grad().unwrap().shape(), &[32, 10]);
    }
}

#[test]
fn the_losses_have_pytorchs_values() {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let t = |v: &[f32]| rt.tensor(v, &[v.len()], Device::Cuda).unwrap();
    let value = |l: Tensor| l.to_vec_f32()[0];
    // F.binary_cross_entropy and friends on PyTorch 2.15.
    let close = |got: f32, want: f32| assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    close(
        value(
            t(&[0.2, 0.9])
                .binary_cross_entropy(&t(&[0.0, 1.0]), None, Reduction::Mean)
                .unwrap(),
        ),
        0.164_252_06,
    );
    close(
        value(
            t(&[0.2, 0.9])
                .binary_cross_entropy(&t(&[0.0, 1.0]), Some(&t(&[2.0, 0.5])), Reduction::Sum)
                .unwrap(),
        ),
        0.498_967_4,
    );
    // log(0) is clamped at -100.
    assert_eq!(
        t(&[0.0, 1.0])
            .binary_cross_entropy(&t(&[1.0, 0.0]), None, Reduction::None)
            .unwrap()
            .to_vec_f32(),
        [100.0, 100.0]
    );
    close(
        value(
            t(&[0.5, -1.0])
                .binary_cross_entropy_with_logits(
                    &t(&[1.0, 0.0]),
                    Some(&t(&[0.5, 2.0])),
                    Some(&t(&[3.0, 2.0])),
                    Reduction::Mean,
                )
                .unwrap(),
        ),
        0.668_819_5,
    );
    let none = t(&[0.5, -1.0, 30.0])
        .binary_cross_entropy_with_logits(&t(&[1.0, 0.0, 0.0]), None, None, Reduction::None)
        .unwrap()
        .to_vec_f32();
    for (g, w) in none.iter().zip([0.474_077, 0.313_261_75, 30.0]) {
        close(*g, w);
    }
    close(
        value(
            t(&[-1.0, -2.0])
                .kl_div(&t(&[0.3, 0.0]), KlDivReduction::Sum, false)
                .unwrap(),
        ),
        -0.061_191_857,
    );
    let x = rt.tensor(&[-1.0, -2.0], &[1, 2], Device::Cuda).unwrap();
    let log_y = rt
        .tensor(&[0.3f32.ln(), 0.5f32.ln()], &[1, 2], Device::Cuda)
        .unwrap();
    close(
        value(x.kl_div(&log_y, KlDivReduction::BatchMean, true).unwrap()),
        0.592_234_55,
    );
    let err = t(&[0.2, 1.5])
        .binary_cross_entropy(&t(&[0.0, 1.0]), None, Reduction::Mean)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "all elements of input should be between 0 and 1"
    );
    let err = t(&[0.2, 0.5, 0.1])
        .binary_cross_entropy_with_logits(&t(&[0.0; 4]), None, None, Reduction::Mean)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Target size (torch.Size([4])) must be the same as input size (torch.Size([3]))"
    );
}

fn bce_ref(x: &[f64], y: &[f64], logits: bool, pw: Option<&[f64]>) -> Vec<f64> {
    x.iter()
        .zip(y)
        .enumerate()
        .map(|(i, (&x, &y))| {
            if logits {
                let p = pw.map_or(1.0, |p| p[i % p.len()]);
                let s = 1.0 / (1.0 + (-x).exp());
                -(p * y * s.ln() + (1.0 - y) * (1.0 - s).ln())
            } else {
                -(y * x.ln() + (1.0 - y) * (1.0 - x).ln())
            }
        })
        .collect()
}

fn mean(v: Vec<f64>) -> Vec<f64> {
    vec![v.iter().sum::<f64>() / v.len() as f64]
}

#[test]
fn their_gradients_match_finite_differences() {
    let targets = [0.0f32, 1.0, 0.3, 0.8, 0.5, 0.1];
    let target = |t: &Tensor| t.runtime().tensor(&targets, &[2, 3], Device::Cuda);
    let y: Vec<f64> = targets.iter().map(|&v| v as f64).collect();
    check(Case {
        name: "bce_mean",
        inputs: vec![(vec![2, 3], true)],
        op: &|t: &[Tensor]| t[0].binary_cross_entropy(&target(&t[0])?, None, Reduction::Mean),
        reference: &|x: &[Vec<f64>]| mean(bce_ref(&x[0], &y, false, None)),
        shape_values: |v| 0.1 + 0.8 / (1.0 + (-v).exp()),
    });
    check(Case {
        name: "bce_with_logits_pos_weight_none",
        inputs: vec![(vec![2, 3], true), (vec![3], false)],
        op: &|t: &[Tensor]| {
            let pw = t[1].abs()?.add_scalar(0.5)?;
            t[0].binary_cross_entropy_with_logits(&target(&t[0])?, None, Some(&pw), Reduction::None)
        },
        reference: &|x: &[Vec<f64>]| {
            let pw: Vec<f64> = x[1].iter().map(|v| v.abs() + 0.5).collect();
            bce_ref(&x[0], &y, true, Some(&pw))
        },
        shape_values: |v| v,
    });
    check(Case {
        name: "kl_div_batchmean",
        inputs: vec![(vec![2, 3], true)],
        op: &|t: &[Tensor]| t[0].kl_div(&target(&t[0])?, KlDivReduction::BatchMean, false),
        reference: &|x: &[Vec<f64>]| {
            let s: f64 = x[0]
                .iter()
                .zip(&y)
                .map(|(&x, &y)| if y == 0.0 { 0.0 } else { y * (y.ln() - x) })
                .sum();
            vec![s / 2.0]
        },
        shape_values: |v| v,
    });
}

#[test]
fn scenarios_use_the_functions_and_modules() {
    use leakharness::scenario::interp::{run, RunOptions};
    let source = "import torch\n\
                  import torch.nn as nn\n\
                  import torch.nn.functional as F\n\
                  x = torch.randn(4, 3, device='cuda', requires_grad=True)\n\
                  y = torch.rand(4, 3, device='cuda')\n\
                  a = F.binary_cross_entropy(torch.sigmoid(x), y, reduction='sum')\n\
                  b = F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.ones(3, device='cuda'))\n\
                  c = F.kl_div(F.log_softmax(x, 1), F.softmax(y, 1), reduction='batchmean')\n\
                  crit = nn.BCEWithLogitsLoss(pos_weight=torch.ones(3)).cuda()\n\
                  kl = nn.KLDivLoss(reduction='batchmean', log_target=True)\n\
                  d = crit(x, y) + kl(F.log_softmax(x, 1), F.log_softmax(y, 1)) + nn.BCELoss()(torch.sigmoid(x), y)\n\
                  (a + b + c + d).backward()\n\
                  print(crit, kl, list(crit.state_dict().keys()), tuple(x.grad.shape))\n";
    let scenario = leakharness::scenario::parse_scenario(std::path::Path::new("s.py"), source)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let result = run(&scenario, &rt, &RunOptions::default(), &mut ());
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(
        result.output.join(""),
        "BCEWithLogitsLoss() KLDivLoss() ['pos_weight'] (4, 3)"
    );
}
