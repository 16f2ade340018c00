//! Tensor indexing in exact bytes: what `x[idx]`, `x[mask]`, `index_select`, `gather` and the
//! in-place writes of `x[...] = v` allocate and what their nodes save, as PyTorch 2.15 records
//! them (`grad_fn._saved_*`; the aten calls of backward under a dispatch mode; docs/autograd.md,
//! "Indexing").

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{list_index, Device, Indexer, SetValue, Tensor, TensorIndex};

fn rt(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

fn leaf(rt: &Runtime, shape: &[usize]) -> Tensor {
    rt.randn(shape, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

fn saved_names(t: &Tensor) -> Vec<&'static str> {
    t.grad_fn()
        .unwrap()
        .saved_tensors()
        .iter()
        .map(|s| s.name)
        .collect()
}

#[test]
fn index_keeps_its_indices_and_backward_allocates_one_zero_gradient() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[8, 32]); // 1,024 B
        let idx = rt.tensor_i64(&[0, 2, 2, 5], &[4], Device::Cuda).unwrap(); // 32 -> 512
        let y = x.getitem(&[Indexer::Tensor(idx.clone())], false).unwrap();
        assert_eq!(y.shape(), &[4, 32]); // 512 B
        assert_eq!(y.grad_fn().unwrap().name(), "IndexBackward0");
        assert_eq!(saved_names(&y), ["indices[0]"]);
        assert_eq!(rt.memory_allocated(), 1024 + 512 + 512);
        // The node keeps the index alive after the name goes.
        drop(idx);
        assert_eq!(rt.memory_allocated(), 1024 + 512 + 512);
        let loss = y.sum().unwrap(); // 512
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // sum's backward expands the seed (a view); index_backward: new_zeros of x's shape,
        // accumulated into in place (`_index_put_impl_`), which becomes x.grad.
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            1024 + 512 + 512 + 512 + 512 + 1024
        );
        if backend == Backend::Cpu {
            let g = x.grad().unwrap().to_vec_f32();
            assert_eq!(
                (g[0], g[2 * 32], g[5 * 32 + 7], g[32]),
                (1.0, 2.0, 1.0, 0.0)
            );
        }
        drop((loss, y));
        assert_eq!(rt.memory_allocated(), 1024 + 1024, "x and its gradient");
    }
}

#[test]
fn a_list_index_becomes_a_device_tensor_the_node_saves() {
    let rt = rt(Backend::Meta);
    let x = leaf(&rt, &[8, 32]);
    // x[[1, 3]] as indexing_tensor_from_data makes it: int64 on x's device.
    let idx = list_index(&x, &[1, 3], false).unwrap();
    assert_eq!(idx.device(), Device::Cuda);
    let y = x.getitem(&[Indexer::Tensor(idx)], false).unwrap();
    assert_eq!(y.shape(), &[2, 32]);
    assert_eq!(rt.memory_allocated(), 1024 + 512 + 512);
    let saved = y.grad_fn().unwrap().saved_tensors();
    assert_eq!(saved[0].tensor.as_ref().unwrap().shape(), &[2]);
}

#[test]
fn mixed_indices_record_the_view_below_the_index() {
    let rt = rt(Backend::Meta);
    let x = leaf(&rt, &[4, 3]);
    let idx = rt.tensor_i64(&[0, 2], &[2], Device::Cuda).unwrap();
    let slice = Indexer::Basic(TensorIndex::Slice(Some(1), None, 1));
    let whole = Indexer::Basic(TensorIndex::Slice(None, None, 1));
    let t = Indexer::Tensor(idx.clone());
    // x[:, idx]: the whole slice is skipped, so the node's edge is x's AccumulateGrad.
    let a = x.getitem(&[whole, t.clone()], true).unwrap();
    assert_eq!(a.shape(), &[4, 2]);
    let below = |y: &Tensor| y.grad_fn().unwrap().next_functions()[0].clone().unwrap();
    assert_eq!(below(&a).name(), "AccumulateGrad");
    assert_eq!(saved_names(&a), ["indices[1]"]);
    let b = x.getitem(&[slice, t.clone()], true).unwrap();
    assert_eq!(b.shape(), &[3, 2]);
    assert_eq!(below(&b).name(), "SliceBackward0");
    let c = x
        .getitem(&[t, Indexer::Basic(TensorIndex::Int(1))], true)
        .unwrap();
    assert_eq!(c.shape(), &[2]);
    assert_eq!(below(&c).name(), "SelectBackward0");
    // Indexed dimensions apart put the index shape first: z[idx, :, idx] is 2×4.
    let z = rt
        .zeros(&[3, 4, 5], leakharness::tensor::DType::F32, Device::Cuda)
        .unwrap();
    let i = Indexer::Tensor(idx);
    let d = z
        .getitem(
            &[
                i.clone(),
                Indexer::Basic(TensorIndex::Slice(None, None, 1)),
                i,
            ],
            true,
        )
        .unwrap();
    assert_eq!(d.shape(), &[2, 4]);
}

#[test]
fn a_mask_index_needs_values_so_meta_refuses_it() {
    let cpu = rt(Backend::Cpu);
    let x = leaf(&cpu, &[8, 32]); // 1,024 B
    let mask = x.gt_scalar(0.0).unwrap(); // 256 -> 512 B
    let k = mask.to_vec_i64().iter().filter(|&&v| v != 0).count();
    cpu.allocator_mut().reset_peak_memory_stats();
    let y = x.getitem(&[Indexer::Tensor(mask.clone())], false).unwrap();
    assert_eq!(y.shape(), &[k]);
    assert_eq!(saved_names(&y), ["indices[0]"]);
    let saved = y.grad_fn().unwrap().saved_tensors();
    assert!(
        saved[0].tensor.as_ref().unwrap().is_same(&mask),
        "the mask itself"
    );
    // nonzero's k×2 int64 coordinates live while the output is made.
    let round = |b: usize| b.div_ceil(512) * 512;
    assert_eq!(
        cpu.allocator().max_memory_allocated() as usize,
        1024 + 512 + round(k * 2 * 8) + round(k * 4)
    );
    assert_eq!(cpu.memory_allocated() as usize, 1024 + 512 + round(k * 4));

    let meta = rt(Backend::Meta);
    let x = leaf(&meta, &[8, 32]);
    let mask = x.gt_scalar(0.0).unwrap();
    let err = x.getitem(&[Indexer::Tensor(mask)], false).unwrap_err();
    assert!(err.to_string().contains("meta backend"), "{err}");
}

#[test]
fn assignments_dispatch_as_pytorch_and_bump_the_version() {
    let rt = rt(Backend::Cpu);
    let x = leaf(&rt, &[4, 3]);
    let w = x.mul_scalar(1.0).unwrap();
    let idx = rt.tensor_i64(&[0, 2], &[2], Device::Cuda).unwrap();
    let v0 = w.version();
    let ones = rt
        .ones(&[3], leakharness::tensor::DType::F32, Device::Cuda)
        .unwrap();
    w.setitem(&[Indexer::Tensor(idx.clone())], &SetValue::Tensor(ones))
        .unwrap();
    assert_eq!(w.grad_fn().unwrap().name(), "IndexPutBackward0");
    assert_eq!(saved_names(&w), ["indices[0]"]);
    let mask = x.gt_scalar(0.0).unwrap();
    w.setitem(&[Indexer::Tensor(mask)], &SetValue::Scalar(0.into()))
        .unwrap();
    assert_eq!(w.grad_fn().unwrap().name(), "MaskedFillBackward0");
    assert_eq!(saved_names(&w), ["mask"]);
    w.setitem(&[Indexer::Tensor(idx)], &SetValue::Scalar(5.0.into()))
        .unwrap();
    assert_eq!(w.grad_fn().unwrap().name(), "IndexFillBackward0");
    assert_eq!(saved_names(&w), ["index"]);
    assert_eq!(w.version(), v0 + 3);
    let g = x.gather(1, &rt.tensor_i64(&[0; 4], &[4, 1], Device::Cuda).unwrap());
    assert_eq!(saved_names(&g.unwrap()), ["self", "index"]);
    // Without history, x[:, 0] = v copies into the view.
    let t = rt
        .zeros(&[4, 3], leakharness::tensor::DType::F32, Device::Cuda)
        .unwrap();
    let col = [
        Indexer::Basic(TensorIndex::Slice(None, None, 1)),
        Indexer::Basic(TensorIndex::Int(0)),
    ];
    let src = rt
        .tensor(&[1.0, 2.0, 3.0, 4.0], &[4], Device::Cuda)
        .unwrap();
    t.setitem(&col, &SetValue::Tensor(src)).unwrap();
    assert_eq!(t.version(), 1);
    assert_eq!(
        t.to_vec_f32(),
        [1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 4.0, 0.0, 0.0]
    );
}
