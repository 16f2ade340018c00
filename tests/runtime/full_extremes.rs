//! `x.max()` / `x.min()` of every element (issue 13): the forward allocates its 0-dim result
//! only, MaxBackward1 / MinBackward1 save `self` and `result` (derivatives.yaml: `self:
//! evenly_distribute_backward(grad, self, result)`; `grad_fn._saved_self` and
//! `_saved_result` on PyTorch 2.15), and the backward allocates what FunctionsManual.cpp's
//! `evenly_distribute_backward` allocates on a cuda input, in its order, on cpu and meta alike.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Tensor};

fn runtime(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

fn leaf(rt: &Runtime, values: &[f32], shape: &[usize]) -> Tensor {
    rt.tensor(values, shape, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

/// The allocator's events from `start` on: `+requested` for an allocation, `-size` for a free.
fn events_since(rt: &Runtime, start: usize) -> Vec<i64> {
    rt.allocator().history().trace()[start..]
        .iter()
        .filter_map(|e| match e {
            EventKind::Alloc { requested, .. } => Some(*requested as i64),
            EventKind::Free { size, .. } => Some(-(*size as i64)),
            _ => None,
        })
        .collect()
}

#[test]
fn max_and_min_allocate_their_result_and_save_self_and_result() {
    for backend in [Backend::Cpu, Backend::Meta] {
        for (is_min, name) in [(false, "MaxBackward1"), (true, "MinBackward1")] {
            let rt = runtime(backend);
            let x = leaf(&rt, &[0.0; 12], &[3, 4]);
            let before = rt.allocator().stats().allocation.all.allocated;
            let y = if is_min { x.min() } else { x.max() }.unwrap();
            assert_eq!(y.shape(), &[] as &[usize]);
            assert_eq!(y.dtype(), DType::F32);
            assert_eq!(rt.allocator().stats().allocation.all.allocated - before, 1);
            assert_eq!(rt.memory_allocated(), 512 + 512, "{name}");
            let node = y.grad_fn().unwrap();
            assert_eq!(node.name(), name);
            let saved: Vec<&str> = node.saved_tensors().iter().map(|t| t.name).collect();
            assert_eq!(saved, ["self", "result"]);
        }
    }
}

#[test]
fn the_backward_allocates_what_evenly_distribute_backward_does_on_cuda() {
    let mut traces = Vec::new();
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = runtime(backend);
        let x = leaf(&rt, &[0.0; 12], &[3, 4]);
        let y = x.max().unwrap();
        let start = rt.allocator().history().trace().len();
        y.backward(None, false).unwrap();
        let trace = events_since(&rt, start);
        // The seed 1.0 (4 B); input.isnan() (12 bool), value.isnan() (1), input == value (12),
        // mask.sum() (int64, 8), grad / sum (4), mask * that (48, the gradient); then the
        // expression's temporaries (quotient, sum), the locals (mask, value's and input's NaN
        // masks) and the seed go; the gradient stays as x.grad.
        assert_eq!(
            trace,
            [4, 12, 1, 12, 8, 4, 48, -512, -512, -512, -512, -512, -512],
            "{backend:?}"
        );
        assert_eq!(x.grad().unwrap().shape(), &[3, 4]);
        assert_eq!(rt.memory_allocated(), 3 * 512, "x, y and x.grad");
        traces.push(rt.allocator().history().trace());
    }
    assert_eq!(traces[0], traces[1], "cpu and meta allocate alike");
}

#[test]
fn values_and_gradients_are_pytorchs() {
    let rt = runtime(Backend::Cpu);
    // torch.tensor([[1., 3., 3.], [-1., 0., 2.]]) under PyTorch 2.15: max 3 shared by two
    // elements (half the gradient each), min -1.
    let x = leaf(&rt, &[1.0, 3.0, 3.0, -1.0, 0.0, 2.0], &[2, 3]);
    let m = x.max().unwrap();
    assert_eq!(m.to_vec_f32(), [3.0]);
    m.backward(None, false).unwrap();
    assert_eq!(
        x.grad().unwrap().to_vec_f32(),
        [0.0, 0.5, 0.5, 0.0, 0.0, 0.0]
    );
    let x = leaf(&rt, &[1.0, 3.0, 3.0, -1.0, 0.0, 2.0], &[2, 3]);
    let n = x.min().unwrap();
    assert_eq!(n.to_vec_f32(), [-1.0]);
    n.mul_scalar(2.0).unwrap().backward(None, false).unwrap();
    assert_eq!(
        x.grad().unwrap().to_vec_f32(),
        [0.0, 0.0, 0.0, 2.0, 0.0, 0.0]
    );
    // A NaN anywhere is the answer.
    let nan = rt
        .tensor(&[1.0, f32::NAN, 3.0], &[3], Device::Cuda)
        .unwrap();
    assert!(nan.max().unwrap().to_vec_f32()[0].is_nan());
    assert!(nan.min().unwrap().to_vec_f32()[0].is_nan());
}

#[test]
fn integer_tensors_keep_their_dtype_and_empty_ones_are_refused() {
    let rt = runtime(Backend::Cpu);
    let ints = rt
        .tensor(&[3.0, 7.0, -2.0], &[3], Device::Cuda)
        .unwrap()
        .to_dtype(DType::I64)
        .unwrap();
    let m = ints.max().unwrap();
    assert_eq!((m.dtype(), m.to_vec_f32()), (DType::I64, vec![7.0]));
    assert!(m.grad_fn().is_none());
    let empty = rt.zeros(&[0], DType::F32, Device::Cuda).unwrap();
    assert_eq!(
        empty.max().unwrap_err().to_string(),
        "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the \
         reduction dim with the 'dim' argument."
    );
}

/// `x.div(2, rounding_mode='floor')` called from Python: DivBackward2 saves the wrapped 2
/// (int64, 8 host bytes) and not `self` (2.15's `_saved_self` is None); the Rust API's
/// Scalar overload is DivBackward3 keeping the number only. Backward of a rounded quotient is
/// zeros of the gradient's size: one allocation.
#[test]
fn rounded_division_saves_what_div_backward2_saves() {
    use leakharness::tensor::{RoundingMode, Scalar};
    for (python, name, saved) in [
        (true, "DivBackward2", vec!["other"]),
        (false, "DivBackward3", vec![]),
    ] {
        let rt = Runtime::new(
            Backend::Meta,
            RuntimeOptions {
                python_scalar_names: python,
                ..RuntimeOptions::default()
            },
        )
        .unwrap();
        let x = leaf(&rt, &[0.0; 12], &[3, 4]);
        let q = x
            .div_scalar_mode(Scalar::Int(2), Some(RoundingMode::Floor))
            .unwrap();
        assert_eq!(rt.memory_allocated(), 2 * 512);
        let node = q.grad_fn().unwrap();
        assert_eq!(node.name(), name);
        let names: Vec<&str> = node.saved_tensors().iter().map(|t| t.name).collect();
        assert_eq!(names, saved);
        drop(node);
        let total = q.sum().unwrap();
        let start = rt.allocator().history().trace().len();
        total.backward(None, false).unwrap();
        // The seed (4 B), the zeros (48 B, the gradient); the seed goes.
        assert_eq!(events_since(&rt, start), [4, 48, -512]);
    }
    // A tensor divisor that needs a gradient: `self` and `other` saved, zeros for both.
    let rt = runtime(Backend::Cpu);
    let (x, y) = (leaf(&rt, &[7.0, -7.0], &[2]), leaf(&rt, &[2.0, 2.0], &[2]));
    let q = x.div_mode(&y, Some(RoundingMode::Trunc)).unwrap();
    assert_eq!(q.to_vec_f32(), [3.0, -3.0]);
    let names: Vec<&str> = q
        .grad_fn()
        .unwrap()
        .saved_tensors()
        .iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["self", "other"]);
    q.sum().unwrap().backward(None, false).unwrap();
    assert_eq!(x.grad().unwrap().to_vec_f32(), [0.0, 0.0]);
    assert_eq!(y.grad().unwrap().to_vec_f32(), [0.0, 0.0]);
}
