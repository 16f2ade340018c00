//! The layer operations (convolution, pooling, batch norm, embedding, leaky_relu, elu) and the
//! modules over them: what forward allocates and what each node saves, in exact bytes, as
//! PyTorch 2.15 names them (`grad_fn._saved_*`, docs/autograd.md); what backward allocates;
//! module buffers; and cpu and meta giving the same allocator trace for a conv-net step.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::nn::{BatchNorm, Conv, Embedding, Linear, Module, Pool, PoolKind, Sequential};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{
    BatchNormOptions, ConvOptions, ConvPadding, DType, Device, PoolOptions, Tensor,
};

fn rt(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

fn leaf(rt: &Runtime, shape: &[usize]) -> Tensor {
    rt.randn(shape, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

/// Bytes and allocations `f` adds.
fn added<T>(rt: &Runtime, f: impl FnOnce() -> T) -> (T, u64, i64) {
    let count = |rt: &Runtime| rt.allocator().stats().allocation.all.allocated;
    let (base, n0) = (rt.memory_allocated(), count(rt));
    let out = f();
    (out, rt.memory_allocated() - base, count(rt) - n0)
}

/// Names and shapes of what a tensor's node saved.
fn saved(t: &Tensor) -> (String, Vec<(&'static str, Vec<usize>)>) {
    let node = t.grad_fn().unwrap();
    let list = node
        .saved_tensors()
        .iter()
        .map(|s| (s.name, s.tensor.as_ref().unwrap().shape().to_vec()))
        .collect();
    (node.name().to_string(), list)
}

/// `F.conv2d(x, w, b, padding=1)` on (2, 3, 8, 8) with a (4, 3, 3, 3) weight: one output of
/// 2×4×8×8 f32 (2,048 B); ConvolutionBackward0 saves `input` and `weight` (PyTorch 2.15:
/// `_saved_input` (2, 3, 8, 8), `_saved_weight` (4, 3, 3, 3)). Backward allocates the input's,
/// the weight's and the bias's gradients, in that order.
#[test]
fn conv2d_allocates_its_output_and_saves_input_and_weight() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let (x, w, b) = (
            leaf(&rt, &[2, 3, 8, 8]),
            leaf(&rt, &[4, 3, 3, 3]),
            leaf(&rt, &[4]),
        );
        let mut o = ConvOptions::new(2);
        o.padding = ConvPadding::Explicit(vec![1, 1]);
        let (y, bytes, count) = added(&rt, || x.conv2d(&w, Some(&b), &o).unwrap());
        assert_eq!((bytes, count), (2048, 1));
        assert_eq!(y.shape(), [2, 4, 8, 8]);
        assert_eq!(
            saved(&y),
            (
                "ConvolutionBackward0".into(),
                vec![("input", vec![2, 3, 8, 8]), ("weight", vec![4, 3, 3, 3])]
            )
        );
        let g = rt.ones(&[2, 4, 8, 8], DType::F32, Device::Cuda).unwrap();
        let (_, _, count) = added(&rt, || y.backward(Some(&g), false).unwrap());
        // dx 1,536 B, dw 432 B → 512, db 16 B → 512: three gradients, kept by the leaves.
        assert_eq!(count, 3);
        assert_eq!(x.grad().unwrap().shape(), [2, 3, 8, 8]);
        assert_eq!(w.grad().unwrap().shape(), [4, 3, 3, 3]);
        assert_eq!(b.grad().unwrap().shape(), [4]);
    }
}

/// Stride, dilation, groups and 'same'/'valid' give PyTorch's output sizes; an unbatched
/// input runs as a batch of one (UnsqueezeBackward0 in, SqueezeBackward1 out).
#[test]
fn conv_output_sizes_follow_pytorch() {
    let rt = rt(Backend::Meta);
    let x = rt.randn(&[1, 4, 9, 7], Device::Cuda).unwrap();
    let w = rt.randn(&[6, 2, 3, 3], Device::Cuda).unwrap();
    let mut o = ConvOptions::new(2);
    o.stride = vec![2, 1];
    o.dilation = vec![1, 2];
    o.groups = 2;
    assert_eq!(x.conv2d(&w, None, &o).unwrap().shape(), [1, 6, 4, 3]);
    let mut same = ConvOptions::new(2);
    same.padding = ConvPadding::Same;
    let w4 = rt.randn(&[6, 4, 3, 3], Device::Cuda).unwrap();
    assert_eq!(x.conv2d(&w4, None, &same).unwrap().shape(), [1, 6, 9, 7]);
    let mut valid = ConvOptions::new(2);
    valid.padding = ConvPadding::Valid;
    assert_eq!(x.conv2d(&w4, None, &valid).unwrap().shape(), [1, 6, 7, 5]);
    let x1 = leaf(&rt, &[4, 10]);
    let w1 = rt.randn(&[2, 4, 3], Device::Cuda).unwrap();
    let y = x1.conv1d(&w1, None, &ConvOptions::new(1)).unwrap();
    assert_eq!(y.shape(), [2, 8]);
    assert_eq!(y.grad_fn().unwrap().name(), "SqueezeBackward1");
    let err = x.conv2d(&w, None, &ConvOptions::new(2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Given groups=1, weight of size [6, 2, 3, 3], expected input[1, 4, 9, 7] to have 2 channels, but got 4 channels instead"
    );
}

/// `F.max_pool2d(x, 2)` on (2, 3, 8, 8): the output (384 B → 512) and int64 indices (768 B →
/// 1,024); MaxPool2DWithIndicesBackward0 saves `self` and `result1`. Backward: one gradient.
#[test]
fn max_pool2d_keeps_int64_indices() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[2, 3, 8, 8]);
        let (y, bytes, count) = added(&rt, || x.max_pool2d(&PoolOptions::new([2, 2])).unwrap());
        assert_eq!((bytes, count), (512 + 1024, 2));
        assert_eq!(
            saved(&y),
            (
                "MaxPool2DWithIndicesBackward0".into(),
                vec![("self", vec![2, 3, 8, 8]), ("result1", vec![2, 3, 4, 4])]
            )
        );
        assert_eq!(
            y.grad_fn().unwrap().saved_tensors()[1]
                .tensor
                .as_ref()
                .unwrap()
                .dtype(),
            DType::I64
        );
        let (_, _, count) = added(&rt, || y.sum().unwrap().backward(None, false).unwrap());
        assert_eq!(
            count, 3,
            "the sum, its gradient of ones, and the input's gradient"
        );
        if backend == Backend::Cpu {
            // Each window's maximum gets the gradient 1: one in four elements.
            let g = x.grad().unwrap().to_vec_f32();
            assert_eq!(g.iter().filter(|&&v| v == 1.0).count(), 2 * 3 * 16);
        }
    }
    // A host tensor that needs no gradient gets no indices (ATen's CPU fast path).
    let rt = rt(Backend::Cpu);
    let host = rt.randn(&[1, 1, 4, 4], Device::Cpu).unwrap();
    assert!(host
        .max_pool2d(&PoolOptions::new([2, 2]))
        .unwrap()
        .grad_fn()
        .is_none());
}

/// `avg_pool2d` saves `self`; `adaptive_avg_pool2d` to 1×1 is a mean over the last two
/// dimensions (MeanBackward1, nothing saved), to any other size AdaptiveAvgPool2DBackward0
/// saving `self`.
#[test]
fn average_pools_save_their_input() {
    let rt = rt(Backend::Meta);
    let x = leaf(&rt, &[2, 3, 8, 8]);
    let (y, bytes, _) = added(&rt, || {
        x.avg_pool2d(&PoolOptions::new([2, 2]), true, None).unwrap()
    });
    assert_eq!(bytes, 512);
    assert_eq!(
        saved(&y),
        (
            "AvgPool2DBackward0".into(),
            vec![("self", vec![2, 3, 8, 8])]
        )
    );
    let one = x.adaptive_avg_pool2d([1, 1]).unwrap();
    assert_eq!(one.shape(), [2, 3, 1, 1]);
    assert_eq!(saved(&one), ("MeanBackward1".into(), vec![]));
    let three = x.adaptive_avg_pool2d([3, 3]).unwrap();
    assert_eq!(
        saved(&three),
        (
            "AdaptiveAvgPool2DBackward0".into(),
            vec![("self", vec![2, 3, 8, 8])]
        )
    );
}

/// `batch_norm` in training on (4, 3, 8, 8): the output (3,072 B), then `save_mean` and
/// `save_invstd` of 3 floats (512 B each); NativeBatchNormBackward0 saves input, weight,
/// running_mean, running_var, result1, result2 (PyTorch 2.15, CPU). The running statistics are
/// updated in place with the unbiased variance. In evaluation mode the saved statistics are
/// empty and nothing but the output is allocated.
#[test]
fn batch_norm_saves_batch_statistics_and_updates_running_ones() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[4, 3, 8, 8]);
        let (w, b) = (leaf(&rt, &[3]), leaf(&rt, &[3]));
        let rm = rt.zeros(&[3], DType::F32, Device::Cuda).unwrap();
        let rv = rt.ones(&[3], DType::F32, Device::Cuda).unwrap();
        let train = BatchNormOptions {
            training: true,
            momentum: 0.1,
            eps: 1e-5,
        };
        let (y, bytes, count) = added(&rt, || {
            x.batch_norm([Some(&rm), Some(&rv)], Some(&w), Some(&b), train)
                .unwrap()
        });
        assert_eq!((bytes, count), (3072 + 512 + 512, 3));
        assert_eq!(
            saved(&y),
            (
                "NativeBatchNormBackward0".into(),
                vec![
                    ("input", vec![4, 3, 8, 8]),
                    ("weight", vec![3]),
                    ("running_mean", vec![3]),
                    ("running_var", vec![3]),
                    ("result1", vec![3]),
                    ("result2", vec![3]),
                ]
            )
        );
        assert_eq!(
            rm.version(),
            0,
            "ATen writes running stats without a version bump"
        );
        if backend == Backend::Cpu {
            let xs = x.to_vec_f32();
            for ch in 0..3 {
                let vals: Vec<f64> = (0..4)
                    .flat_map(|n| (0..64).map(move |i| (n * 3 + ch) * 64 + i))
                    .map(|k| xs[k] as f64)
                    .collect();
                let mean = vals.iter().sum::<f64>() / 256.0;
                let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 255.0;
                assert!((rm.to_vec_f32()[ch] as f64 - 0.1 * mean).abs() < 1e-5);
                assert!((rv.to_vec_f32()[ch] as f64 - (0.9 + 0.1 * var)).abs() < 1e-4);
            }
        }
        let (_, _, count) = added(&rt, || y.sum().unwrap().backward(None, false).unwrap());
        assert_eq!(
            count,
            2 + 3,
            "the sum and its ones, then the input's, weight's and bias's gradients"
        );
        let eval = BatchNormOptions {
            training: false,
            ..train
        };
        let (y, bytes, count) = added(&rt, || {
            x.batch_norm([Some(&rm), Some(&rv)], Some(&w), Some(&b), eval)
                .unwrap()
        });
        assert_eq!((bytes, count), (3072, 1));
        assert_eq!(saved(&y).1[4], ("result1", vec![0]));
    }
}

/// `F.embedding` of (3, 5) indices into a (10, 4) weight: one output of 60 floats (240 B →
/// 512); EmbeddingBackward0 saves `indices` alone. The gradient is dense, one (10, 4)
/// allocation, zero at `padding_idx`.
#[test]
fn embedding_saves_indices_and_backward_is_dense() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let w = leaf(&rt, &[10, 4]);
        let idx = rt
            .tensor_i64(
                &[1, 2, 3, 2, 0, 9, 2, 4, 5, 6, 7, 8, 2, 1, 0],
                &[3, 5],
                Device::Cuda,
            )
            .unwrap();
        let (y, bytes, count) = added(&rt, || Tensor::embedding(&w, &idx, Some(2)).unwrap());
        assert_eq!((bytes, count), (512, 1));
        assert_eq!(y.shape(), [3, 5, 4]);
        assert_eq!(
            saved(&y),
            ("EmbeddingBackward0".into(), vec![("indices", vec![3, 5])])
        );
        let (_, _, count) = added(&rt, || y.sum().unwrap().backward(None, false).unwrap());
        assert_eq!(
            count, 3,
            "the sum, its ones, and one dense (10, 4) gradient"
        );
        if backend == Backend::Cpu {
            let g = w.grad().unwrap().to_vec_f32();
            // Row 1 is picked twice, row 2 (padding) gets nothing, row 3 once.
            assert_eq!(&g[4..8], [2.0; 4]);
            assert_eq!(&g[8..12], [0.0; 4]);
            assert_eq!(&g[12..16], [1.0; 4]);
            assert_eq!(y.to_vec_f32()[..4], w.to_vec_f32()[4..8]);
        }
    }
}

/// `leaky_relu` and `elu` save their input (LeakyReluBackward0, EluBackward0).
#[test]
fn leaky_relu_and_elu_save_their_input() {
    let rt = rt(Backend::Cpu);
    let x = leaf(&rt, &[4, 8]);
    let (y, bytes, _) = added(&rt, || x.leaky_relu(0.1).unwrap());
    assert_eq!(bytes, 512);
    assert_eq!(
        saved(&y),
        ("LeakyReluBackward0".into(), vec![("self", vec![4, 8])])
    );
    assert_eq!(
        saved(&x.elu(1.0).unwrap()),
        ("EluBackward0".into(), vec![("self", vec![4, 8])])
    );
}

/// A BatchNorm's buffers are not parameters; `to()` replaces them by device copies (a new
/// tensor, as `module._apply` does to buffers) and the forward counts batches in place.
#[test]
fn batch_norm_buffers_move_with_the_module_and_count_batches() {
    let rt = rt(Backend::Cpu);
    let bn = BatchNorm::new(&rt, 2, 8, (1e-5, Some(0.1)), [true, true], true).unwrap();
    let names: Vec<String> = bn.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["running_mean", "running_var", "num_batches_tracked"]
    );
    assert_eq!(bn.parameters().len(), 2);
    let before = bn.named_buffers()[0].1.clone();
    bn.to(Device::Cuda).unwrap();
    // weight and bias, running_mean and running_var (32 B each) and num_batches_tracked
    // (8 B): five blocks of 512 B.
    assert_eq!(rt.memory_allocated(), 5 * 512);
    let after = bn.named_buffers()[0].1.clone();
    assert!(!after.is_same(&before));
    assert_eq!(before.device(), Device::Cpu);
    let x = rt.randn(&[2, 8, 4, 4], Device::Cuda).unwrap();
    bn.forward(&x).unwrap();
    bn.forward(&x).unwrap();
    assert_eq!(bn.named_buffers()[2].1.item().unwrap(), 2.0);
    bn.eval();
    let y = bn.forward(&x).unwrap();
    assert_eq!(bn.named_buffers()[2].1.item().unwrap(), 2.0);
    assert_eq!(y.shape(), [2, 8, 4, 4]);
}

/// One training step of a small CNN (Conv2d, BatchNorm2d, ReLU, MaxPool2d, Linear), a
/// padding-aware Embedding on the side, on cpu and on meta.
fn conv_net_step(backend: Backend) -> (Vec<EventKind>, u64) {
    let rt = rt(backend);
    let mut pad = ConvOptions::new(2);
    pad.padding = ConvPadding::Explicit(vec![1, 1]);
    let features = Sequential::new(vec![
        Box::new(Conv::new(&rt, (3, 8), &[3, 3], pad, true).unwrap()),
        Box::new(BatchNorm::new(&rt, 2, 8, (1e-5, Some(0.1)), [true, true], true).unwrap()),
        Box::new(leakharness::nn::ReLU::new(false)),
        Box::new(Pool::new(PoolKind::Max(PoolOptions::new([2, 2])))),
        Box::new(Pool::new(PoolKind::AdaptiveAvg([2, 2]))),
    ]);
    let head = Linear::new(&rt, 32, 10, true).unwrap();
    let embed = Embedding::new(&rt, 10, 4, Some(0)).unwrap();
    features.to(Device::Cuda).unwrap();
    head.to(Device::Cuda).unwrap();
    embed.to(Device::Cuda).unwrap();
    for _ in 0..2 {
        let x = rt.randn(&[4, 3, 8, 8], Device::Cuda).unwrap();
        let h = features.forward(&x).unwrap().flatten(1, -1).unwrap();
        let idx = rt.randint(0, 10, &[4], Device::Cuda).unwrap();
        let e = embed.forward(&idx).unwrap().sum().unwrap();
        let loss = head.forward(&h).unwrap().sum().unwrap().add(&e).unwrap();
        loss.backward(None, false).unwrap();
    }
    let trace = rt.allocator().history().trace();
    (trace, rt.memory_allocated())
}

#[test]
fn cpu_and_meta_trace_a_conv_net_step_alike() {
    let (cpu, cpu_bytes) = conv_net_step(Backend::Cpu);
    let (meta, meta_bytes) = conv_net_step(Backend::Meta);
    assert!(cpu.len() > 40);
    assert_eq!(cpu, meta);
    assert_eq!(cpu_bytes, meta_bytes);
}
