//! `torch.logsumexp` and `F.one_hot` (13B): what forward allocates, in ATen's order, what the
//! node saves (`grad_fn._saved_*` on PyTorch 2.15), values against 2.15, the gradient against
//! finite differences, and cpu = meta.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Tensor};

use super::runtime_gradcheck::{check, identity, Case};

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

#[test]
fn logsumexp_allocates_as_aten_and_saves_self_and_result() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let x = rt
            .randn(&[32, 10], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let start = event_count(&rt);
        let y = x.logsumexp(&[1], false).unwrap();
        assert_eq!(y.shape(), &[32]);
        // amax's [32, 1] maxes, `maxes.abs()` and `== INFINITY` (bool) freed by masked_fill_,
        // `(self - maxes).exp_()`, the result, then the shifted values and the maxes freed.
        assert_eq!(
            events_since(&rt, start),
            [128, 128, 32, -512, -512, 1280, 128, -1536, -512],
            "{backend:?}"
        );
        assert_eq!(rt.memory_allocated(), 1536 + 512);
        let node = y.grad_fn().unwrap();
        assert_eq!(node.name(), "LogsumexpBackward0");
        let saved: Vec<&str> = node.saved_tensors().iter().map(|t| t.name).collect();
        assert_eq!(saved, ["self", "result"]);
        drop(node);

        // The sum and backward's seed, then logsumexp_backward: `self - result`, its `exp()`,
        // the product with the gradient.
        let start = event_count(&rt);
        y.sum().unwrap().backward(None, false).unwrap();
        let events = events_since(&rt, start);
        let allocs: Vec<i64> = events.iter().copied().filter(|&e| e > 0).collect();
        assert_eq!(allocs, [4, 4, 1280, 1280, 1280], "{backend:?}: {events:?}");
        assert_eq!(x.grad().unwrap().shape(), &[32, 10]);
        drop(y);
        assert_eq!(rt.memory_allocated(), 2 * 1536, "x and its gradient");
    }
}

#[test]
fn logsumexp_has_pytorchs_values() {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let x = rt
        .tensor(&[1.0, 2.0, 3.0, 4.0, -2.0, 0.0], &[2, 3], Device::Cuda)
        .unwrap();
    // torch.logsumexp on PyTorch 2.15.
    assert_eq!(
        x.logsumexp(&[1], false).unwrap().to_vec_f32(),
        [3.407_606, 4.020_581_2]
    );
    let all = x.logsumexp(&[0, 1], true).unwrap();
    assert_eq!(all.shape(), &[1, 1]);
    assert_eq!(all.to_vec_f32(), [4.4534907]);
    let inf = rt
        .tensor(
            &[f32::NEG_INFINITY, f32::NEG_INFINITY, f32::INFINITY, 1.0],
            &[2, 2],
            Device::Cuda,
        )
        .unwrap();
    assert_eq!(
        inf.logsumexp(&[1], false).unwrap().to_vec_f32(),
        [f32::NEG_INFINITY, f32::INFINITY]
    );
    let ints = rt.tensor_i64(&[1, 2, 3], &[3], Device::Cuda).unwrap();
    let r = ints.logsumexp(&[0], false).unwrap();
    assert_eq!(r.dtype(), DType::F32);
    assert_eq!(r.to_vec_f32(), [3.407_606]);
    // 2.15's amax reduces every dimension for `dim=()` but its sum none.
    assert_eq!(
        x.logsumexp(&[], false).unwrap_err().to_string(),
        "output with shape [2, 3] doesn't match the broadcast shape [1, 1]"
    );
}

fn logsumexp_ref(x: &[f64], outer: usize, size: usize, inner: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for o in 0..outer {
        for i in 0..inner {
            let s: f64 = (0..size).map(|k| x[(o * size + k) * inner + i].exp()).sum();
            out.push(s.ln());
        }
    }
    out
}

#[test]
fn logsumexp_gradient_matches_finite_differences() {
    check(Case {
        name: "logsumexp_dim1",
        inputs: vec![(vec![3, 4, 5], true)],
        op: &|t: &[Tensor]| t[0].logsumexp(&[1], false),
        reference: &|x: &[Vec<f64>]| logsumexp_ref(&x[0], 3, 4, 5),
        shape_values: identity,
    });
    check(Case {
        name: "logsumexp_last_keepdim",
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| t[0].logsumexp(&[-1], true),
        reference: &|x: &[Vec<f64>]| logsumexp_ref(&x[0], 3, 4, 1),
        shape_values: identity,
    });
    check(Case {
        name: "logsumexp_all",
        inputs: vec![(vec![2, 3], true)],
        op: &|t: &[Tensor]| t[0].logsumexp(&[0, 1], false),
        reference: &|x: &[Vec<f64>]| logsumexp_ref(&x[0], 1, 6, 1),
        shape_values: identity,
    });
}

#[test]
fn one_hot_allocates_int64_zeros_and_scatters_ones() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let t = rt.tensor_i64(&[0, 2, 1], &[3], Device::Cuda).unwrap();
        let start = event_count(&rt);
        let o = t.one_hot(4).unwrap();
        assert_eq!((o.shape(), o.dtype()), (&[3, 4][..], DType::I64));
        assert!(o.grad_fn().is_none() && !o.requires_grad());
        assert_eq!(events_since(&rt, start), [96], "{backend:?}");
    }
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let t = rt.tensor_i64(&[0, 2, 1, 1], &[2, 2], Device::Cuda).unwrap();
    let start = event_count(&rt);
    // num_classes=-1 reads `self.max()`, a 0-dim device temporary, before the zeros.
    let o = t.one_hot(-1).unwrap();
    assert_eq!(events_since(&rt, start), [8, -512, 96]);
    assert_eq!(o.shape(), &[2, 2, 3]);
    // F.one_hot(torch.tensor([[0, 2], [1, 1]])) on PyTorch 2.15.
    assert_eq!(
        o.to_vec_f32(),
        [1., 0., 0., 0., 0., 1., 0., 1., 0., 0., 1., 0.]
    );
}

#[test]
fn one_hot_gives_pytorchs_errors() {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let err = |t: Tensor, n: i64| t.one_hot(n).unwrap_err().to_string();
    let floats = rt.tensor(&[0.0, 1.0], &[2], Device::Cuda).unwrap();
    assert_eq!(
        err(floats, 2),
        "one_hot is only applicable to index tensor of type LongTensor."
    );
    let big = rt.tensor_i64(&[0, 5], &[2], Device::Cuda).unwrap();
    assert_eq!(
        err(big, 3),
        "Class values must be smaller than num_classes."
    );
    let negative = rt.tensor_i64(&[-1, 1], &[2], Device::Cuda).unwrap();
    assert_eq!(err(negative, 3), "Class values must be non-negative.");
    let meta = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let t = meta.tensor_i64(&[0, 1], &[2], Device::Cuda).unwrap();
    assert!(err(t, -1).contains("pass num_classes"));
}

#[test]
fn scenarios_call_them_as_pytorch_spells_them() {
    use leakharness::scenario::interp::{run, RunOptions};
    let source = "import torch\n\
                  import torch.nn.functional as F\n\
                  x = torch.randn(4, 5, device='cuda', requires_grad=True)\n\
                  a = torch.logsumexp(x, 1) + x.logsumexp(dim=(0, 1), keepdim=True).sum()\n\
                  a.sum().backward()\n\
                  t = torch.tensor([0, 3, 1], device='cuda')\n\
                  o = F.one_hot(t, num_classes=5)\n\
                  print(tuple(x.grad.shape), tuple(o.shape), o.dtype)\n";
    let scenario = leakharness::scenario::parse_scenario(std::path::Path::new("s.py"), source)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let result = run(&scenario, &rt, &RunOptions::default(), &mut ());
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(result.output.join(""), "(4, 5) (3, 5) torch.int64");
}
