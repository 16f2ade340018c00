//! CopySlices in exact bytes: an in-place operation with grad on a view makes no allocation of
//! its own and saves no tensor (the base's and the view's geometry only, as
//! torch/csrc/autograd/functions/tensor.cpp keeps them); its backward makes a gradient of the
//! base's geometry and a contiguous clone of the view's slice, as `CopySlices::apply_impl`
//! does. `pad_sequence` is one padded allocation and a chain of CopySlices. cpu and meta make
//! the same allocations; the values are checked on cpu.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, PaddingSide, Tensor};

/// (allocated bytes above the start, peak above the start) at each step, with the trace.
type Figures = (Vec<(i64, u64)>, Vec<EventKind>);

fn seq(rt: &Runtime, rows: usize, value: f32) -> Tensor {
    rt.tensor(&vec![value; rows * 2], &[rows, 2], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

/// `pad_sequence([x, y, z], batch_first=True, padding_value=-1)` of 3×2, 1×2 and 2×2
/// sequences, then `p.sum().backward()`.
fn pad_program(backend: Backend) -> (Figures, Vec<Vec<f32>>) {
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let (x, y, z) = (seq(&rt, 3, 1.0), seq(&rt, 1, 2.0), seq(&rt, 2, 3.0));
    let start = rt.memory_allocated();
    rt.allocator_mut().reset_peak_memory_stats();
    let mut seen = Vec::new();
    let mut note = |rt: &Runtime| {
        seen.push((
            rt.memory_allocated() as i64 - start as i64,
            rt.allocator().max_memory_allocated() - start,
        ))
    };
    let p = Tensor::pad_sequence(
        &[x.clone(), y.clone(), z.clone()],
        true,
        -1.0,
        PaddingSide::Right,
    )
    .unwrap();
    note(&rt);
    // at::full's fill and one copy per sequence, each a new version of the one storage.
    assert_eq!(p.version(), 4);
    let node = p.grad_fn().unwrap();
    assert_eq!(node.name(), "CopySlices");
    assert!(node.saved_tensors().is_empty());
    let next: Vec<_> = node
        .next_functions()
        .into_iter()
        .map(|n| n.map(|n| n.name().to_string()))
        .collect();
    assert_eq!(
        next,
        [Some("CopySlices".into()), Some("AccumulateGrad".into())]
    );
    drop(node);
    let values = p.to_vec_f32();
    rt.allocator_mut().reset_peak_memory_stats();
    p.sum().unwrap().backward(None, false).unwrap();
    note(&rt);
    drop(p);
    note(&rt);
    let grads = [&x, &y, &z].map(|t| t.grad().unwrap().to_vec_f32());
    drop((x, y, z));
    note(&rt);
    let trace = rt.allocator().history().trace();
    ((seen, trace), [vec![values], grads.to_vec()].concat())
}

#[test]
fn pad_sequence_is_one_allocation_and_copy_slices_backward_allocates_what_pytorch_does() {
    let ((meta, meta_trace), _) = pad_program(Backend::Meta);
    let ((cpu, cpu_trace), values) = pad_program(Backend::Cpu);
    assert_eq!(
        meta,
        vec![
            // The padded 3×3×2 float32 output (72 bytes): one 512-byte block, nothing saved.
            (512, 512),
            // Backward: the three gradients stay (24, 8 and 16 bytes, a block each). On the
            // way, with the sum (4 B) and its seed (4 B) alive throughout, each CopySlices
            // makes a gradient of the base's geometry (72 B) and the slice's contiguous clone
            // (handed to CopyBackwards, which returns it as the sequence's gradient), and
            // CopyBackwards makes zeros for the slice when the base's previous history needs
            // a gradient (not for the first sequence, copied into the plain `full`). The
            // peak is at the second CopySlices: seed, sum, z's gradient, the arriving and the
            // new base-sized gradients, y's clone and the zeros, 7 blocks above the output.
            (2048, 512 + 512 * 7),
            // The output freed.
            (1536, 512 + 512 * 7),
            // The sequences and their gradients freed.
            (-1536, 512 + 512 * 7),
        ]
    );
    assert_eq!(cpu, meta);
    assert_eq!(cpu_trace, meta_trace);
    assert_eq!(
        values,
        [
            vec![1., 1., 1., 1., 1., 1., 2., 2., -1., -1., -1., -1., 3., 3., 3., 3., -1., -1.],
            vec![1.; 6],
            vec![1.; 2],
            vec![1.; 4],
        ]
    );
}

/// `b = a * 2; b[:, 0].mul_(3)`, then `(b * c).sum().backward()`: a's gradient goes through
/// CopySlices and the wrapped MulBackward; the view's history is AsStridedBackward0.
#[test]
fn in_place_on_a_view_rebases_the_base_and_gives_the_view_as_strided_history() {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let a = rt
        .tensor(&[1., 2., 3., 4., 5., 6.], &[3, 2], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let b = a.mul_scalar(2.0).unwrap();
    let v = b.select_dim(1, 0).unwrap();
    let before = rt.memory_allocated();
    v.mul_scalar_(3.0).unwrap();
    // In place: no allocation, the storage at its next version for the base and the view.
    assert_eq!(rt.memory_allocated(), before);
    assert_eq!((b.version(), v.version()), (1, 1));
    assert_eq!(b.grad_fn().unwrap().name(), "CopySlices");
    assert_eq!(v.grad_fn().unwrap().name(), "AsStridedBackward0");
    assert_eq!(b.to_vec_f32(), [6., 4., 18., 8., 30., 12.]);
    let c = rt
        .tensor(&[1., 10., 100., 1000., 1., 1.], &[3, 2], Device::Cuda)
        .unwrap();
    b.mul(&c)
        .unwrap()
        .sum()
        .unwrap()
        .backward(None, false)
        .unwrap();
    assert_eq!(
        a.grad().unwrap().to_vec_f32(),
        [6., 20., 600., 2000., 6., 2.]
    );
    // Through the view's own history: AsStridedBackward0 scatters into the base's geometry.
    let a2 = rt
        .tensor(&[1., 2., 3., 4.], &[2, 2], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let b2 = a2.mul_scalar(1.0).unwrap();
    let row = b2.select_dim(0, 1).unwrap();
    row.mul_scalar_(5.0).unwrap();
    row.sum().unwrap().backward(None, false).unwrap();
    assert_eq!(a2.grad().unwrap().to_vec_f32(), [0., 0., 5., 5.]);
}

#[test]
fn views_of_leaves_that_require_grad_refuse_in_place_operations() {
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let w = rt
        .ones(&[3], DType::F32, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let err = w.select_dim(0, 0).unwrap().mul_scalar_(2.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a view of a leaf Variable that requires grad is being used in an in-place operation."
    );
}
