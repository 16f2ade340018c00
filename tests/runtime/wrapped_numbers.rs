//! The Python number of `x * 2.0`, `x / 3`, `x.mul_(4)`: PyTorch called from Python wraps it
//! in a 0-dim host tensor (float64 for a float, int64 for an int) and MulBackward0 /
//! DivBackward0 save it as `other` (`src/tensor/wrapped.rs`). Runtimes that name nodes as
//! Python calls make them do the same: 8 bytes on the host for as long as the node keeps it,
//! and not one byte more on the device than the Scalar overloads' nodes, which keep the
//! number only. Checked against torch 2.15.0 (CPU): `grad_fn._saved_other`'s dtype, device,
//! size and value, and when it goes.

use leakharness::alloc::EventKind;
use leakharness::autograd::Node;
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Scalar, Tensor};

fn runtime(backend: Backend, python: bool) -> Runtime {
    Runtime::new(
        backend,
        RuntimeOptions {
            python_scalar_names: python,
            ..RuntimeOptions::default()
        },
    )
    .unwrap()
}

/// A saved tensor: its name, shape, dtype, device, storage bytes and value.
type Saved = (&'static str, Vec<usize>, DType, Device, usize, f64);

/// What `node` saved.
fn saved(node: &Node) -> Vec<Saved> {
    node.saved_tensors()
        .into_iter()
        .filter_map(|s| {
            let t = s.tensor?;
            let value = t.item().unwrap();
            Some((
                s.name,
                t.shape().to_vec(),
                t.dtype(),
                t.device(),
                t.storage_nbytes(),
                value,
            ))
        })
        .collect()
}

/// The one tensor `node` saved, taken out of it.
fn saved_tensor(node: &Node) -> Tensor {
    let mut all = node.saved_tensors();
    assert_eq!(all.len(), 1);
    all.remove(0).tensor.unwrap()
}

#[test]
fn mul_and_div_by_a_number_save_it_wrapped_on_the_host() {
    let rt = runtime(Backend::Cpu, true);
    let x = rt
        .randn(&[16], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let host = |d: DType, v: f64| vec![("other", vec![], d, Device::Cpu, 8, v)];
    let y = x.mul_scalar(2.5).unwrap();
    let node = y.grad_fn().unwrap();
    assert_eq!(node.name(), "MulBackward0");
    assert_eq!(saved(&node), host(DType::F64, 2.5));
    assert!(saved_tensor(&node).is_wrapped_number());
    assert!(!x.is_wrapped_number());
    let node = x.mul_scalar(2i64).unwrap().grad_fn().unwrap();
    assert_eq!(saved(&node), host(DType::I64, 2.0));
    let node = x.div_scalar(3i64).unwrap().grad_fn().unwrap();
    assert_eq!(node.name(), "DivBackward0");
    assert_eq!(saved(&node), host(DType::I64, 3.0));
    let node = x.div_scalar(0.5).unwrap().grad_fn().unwrap();
    assert_eq!(saved(&node), host(DType::F64, 0.5));
    // In place on a tensor with history: the node saves the wrapped number only.
    let z = x.mul_scalar(1.0).unwrap();
    z.mul_scalar_(4i64).unwrap();
    let node = z.grad_fn().unwrap();
    assert_eq!(
        (node.name(), saved(&node)),
        ("MulBackward0", host(DType::I64, 4.0))
    );
    // The Rust API's Scalar overloads keep the number in the node and save nothing.
    let rust = runtime(Backend::Cpu, false);
    let x = rust
        .randn(&[16], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let node = x.mul_scalar(2.5).unwrap().grad_fn().unwrap();
    assert_eq!((node.name(), saved(&node)), ("MulBackward1", vec![]));
    let node = x.div_scalar(Scalar::Int(3)).unwrap().grad_fn().unwrap();
    assert_eq!((node.name(), saved(&node)), ("DivBackward1", vec![]));
}

#[test]
fn the_wrapped_number_lives_as_long_as_its_node_keeps_it() {
    let rt = runtime(Backend::Cpu, true);
    let x = rt
        .randn(&[16], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    // Backward releases it, as MulBackward0::release_variables resets `other_`.
    let y = x.mul_scalar(2.0).unwrap();
    let other = saved_tensor(&y.grad_fn().unwrap());
    assert_eq!(other.use_count(), 2, "held by the node and here");
    y.sum().unwrap().backward(None, false).unwrap();
    assert_eq!(other.use_count(), 1, "released by backward");
    assert!(y.grad_fn().unwrap().saved_tensors()[0].tensor.is_none());
    // A retained graph keeps it until the graph goes.
    let y = x.div_scalar(4.0).unwrap();
    let other = saved_tensor(&y.grad_fn().unwrap());
    y.sum().unwrap().backward(None, true).unwrap();
    assert_eq!(other.use_count(), 2, "kept by the retained graph");
    drop(y);
    assert_eq!(other.use_count(), 1, "freed with the graph");
}

/// `x * 2.0`, `x / 3`, `x.mul_(4)` and a backward through them: the allocator's events and the
/// gradient.
fn program(backend: Backend, python: bool) -> (Vec<EventKind>, Vec<f32>) {
    let rt = runtime(backend, python);
    let x = rt
        .ones(&[300], DType::F32, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let y = x.mul_scalar(2.0).unwrap().div_scalar(3i64).unwrap();
    y.mul_scalar_(4i64).unwrap();
    y.sum().unwrap().backward(None, false).unwrap();
    let grad = x.grad().unwrap().to_vec_f32();
    drop((x, y));
    (rt.allocator().history().trace(), grad)
}

#[test]
fn wrapped_numbers_take_nothing_on_the_device() {
    let (python, grad) = program(Backend::Cpu, true);
    let (rust, rust_grad) = program(Backend::Cpu, false);
    assert_eq!(python, rust);
    assert_eq!(grad, rust_grad);
    assert_eq!(grad[0], 8.0 / 3.0);
    let (meta, _) = program(Backend::Meta, true);
    assert_eq!(meta, python);
}

/// The backward of each Python form with a number against finite differences: `s - t`
/// (RsubBackward1), `t.reciprocal()` (ReciprocalBackward0, `s / t`'s first op) and `t /= s`
/// (DivBackward0 in place).
#[test]
fn rsub_reciprocal_and_in_place_division_have_pytorchs_gradients() {
    use super::runtime_gradcheck::{check, Case};
    fn positive(v: f32) -> f32 {
        v.abs() + 0.5
    }
    check(Case {
        name: "rsub",
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| t[0].rsub_scalar(2.5),
        reference: &|x: &[Vec<f64>]| x[0].iter().map(|v| 2.5 - v).collect(),
        shape_values: positive,
    });
    check(Case {
        name: "reciprocal",
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| t[0].reciprocal(),
        reference: &|x: &[Vec<f64>]| x[0].iter().map(|v| 1.0 / v).collect(),
        shape_values: positive,
    });
    check(Case {
        name: "div_",
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| t[0].mul_scalar(1.0)?.div_scalar_(4i64),
        reference: &|x: &[Vec<f64>]| x[0].iter().map(|v| v / 4.0).collect(),
        shape_values: positive,
    });
}
