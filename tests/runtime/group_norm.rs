//! `group_norm`: what `native_group_norm` and its backward allocate on CUDA, in exact bytes
//! on cpu and meta (aten/src/ATen/native/group_norm.cpp, cuda/group_norm_kernel.cu; the order
//! is in docs/autograd.md), what NativeGroupNormBackward0 keeps, and every gradient against
//! finite differences of an f64 reference.

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

use super::runtime_gradcheck::{check, identity, Case};

fn leaf(rt: &Runtime, shape: &[usize]) -> Tensor {
    rt.randn(shape, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

// An 8 × 64 × 4 × 4 f32 input is 32,768 bytes; a 64-channel parameter 256 (512 rounded); the
// 8 × 4 statistics 128 (512); the 8 × 64 scratch 2,048.
const X: u64 = 32_768;
const SMALL: u64 = 512;
const NC: u64 = 2_048;

#[test]
fn group_norm_allocates_and_keeps_what_the_cuda_kernels_do() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let x = leaf(&rt, &[8, 64, 4, 4]);
        let w = leaf(&rt, &[64]);
        let b = leaf(&rt, &[64]);
        rt.allocator_mut().reset_peak_memory_stats();
        let y = x.group_norm(4, Some(&w), Some(&b), 1e-5).unwrap();
        // The output, the mean and the rstd, then the fused scale and shift the kernel frees.
        let kept = X + 2 * SMALL + X + 2 * SMALL;
        assert_eq!(rt.allocator().max_memory_allocated(), kept + 2 * NC);
        assert_eq!(rt.memory_allocated(), kept, "{backend:?}");
        let node = y.grad_fn().unwrap();
        assert_eq!(node.name(), "NativeGroupNormBackward0");
        let saved: Vec<&str> = node.saved_tensors().iter().map(|s| s.name).collect();
        assert_eq!(saved, ["input", "weight", "result1", "result2"]);
        let loss = y.sum().unwrap();
        drop((y, node));
        // x, w, b, the saved statistics and the loss.
        let before = X + 2 * SMALL + 2 * SMALL + SMALL;
        assert_eq!(rt.memory_allocated(), before, "{backend:?}");
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // The loss's gradient (ones), the contiguous copy of its expansion, the three
        // gradients, the N × C partial sums, the N × G coefficients and `rstd * weight`.
        let scratch = 2 * NC + 2 * SMALL + NC;
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            before + SMALL + X + X + 2 * SMALL + scratch,
            "{backend:?}"
        );
        // The statistics are released with the graph; the gradients stay.
        assert_eq!(
            rt.memory_allocated(),
            before - 2 * SMALL + X + 2 * SMALL,
            "{backend:?}"
        );
    }
}

#[test]
fn group_norm_without_affine_needs_no_fused_parameters() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let x = leaf(&rt, &[8, 64, 4, 4]);
        rt.allocator_mut().reset_peak_memory_stats();
        let y = x.group_norm(4, None, None, 1e-5).unwrap();
        assert_eq!(rt.allocator().max_memory_allocated(), 2 * X + 2 * SMALL);
        let saved: Vec<&str> = y
            .grad_fn()
            .unwrap()
            .saved_tensors()
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(saved, ["input", "result1", "result2"]);
        let loss = y.sum().unwrap();
        drop(y);
        let before = X + 2 * SMALL + SMALL;
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // No weight: no `rstd * weight`.
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            before + SMALL + X + X + 2 * NC + 2 * SMALL,
            "{backend:?}"
        );
    }
}

/// The f64 reference: each (sample, group) row normalized with its biased variance, then each
/// channel scaled and shifted.
fn group_norm_reference(x: &[f64], w: Option<&[f64]>, b: Option<&[f64]>) -> Vec<f64> {
    // 2 samples, 6 channels in 3 groups, 2 positions: rows of 4.
    let (c, groups, hxw) = (6, 3, 2);
    let len = c / groups * hxw;
    let mut out = Vec::new();
    for (r, row) in x.chunks(len).enumerate() {
        let mean = row.iter().sum::<f64>() / len as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / len as f64;
        for (j, v) in row.iter().enumerate() {
            let ch = (r % groups) * (c / groups) + j / hxw;
            let h = (v - mean) / (var + 1e-5).sqrt();
            out.push(h * w.map_or(1.0, |w| w[ch]) + b.map_or(0.0, |b| b[ch]));
        }
    }
    out
}

#[test]
fn group_norm_gradients_match_finite_differences() {
    check(Case {
        name: "group_norm with weight and bias",
        inputs: vec![(vec![2, 6, 2], true), (vec![6], true), (vec![6], true)],
        op: &|t: &[Tensor]| t[0].group_norm(3, Some(&t[1]), Some(&t[2]), 1e-5),
        reference: &|x: &[Vec<f64>]| group_norm_reference(&x[0], Some(&x[1]), Some(&x[2])),
        shape_values: identity,
    });
    check(Case {
        name: "group_norm without affine",
        inputs: vec![(vec![2, 6, 2], true)],
        op: &|t: &[Tensor]| t[0].group_norm(3, None, None, 1e-5),
        reference: &|x: &[Vec<f64>]| group_norm_reference(&x[0], None, None),
        shape_values: identity,
    });
    check(Case {
        name: "group_norm, bias only",
        inputs: vec![(vec![2, 6, 2], false), (vec![6], true)],
        op: &|t: &[Tensor]| t[0].group_norm(3, None, Some(&t[1]), 1e-5),
        reference: &|x: &[Vec<f64>]| group_norm_reference(&x[0], None, Some(&x[1])),
        shape_values: identity,
    });
}
