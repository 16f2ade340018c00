//! `upsample_nearest2d` and `upsample_bilinear2d` (`F.interpolate`, `nn.Upsample`): what the
//! forward and the CUDA backward allocate in exact bytes on cpu and meta
//! (aten/src/ATen/native/cuda/UpSampleNearest2d.cu, UpSampleBilinear2d.cu), and the gradients
//! against finite differences of an f64 reference.

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor, UpsampleMode};

use super::runtime_gradcheck::{check, identity, Case};

// A 2 × 4 × 8 × 8 f32 input is 2,048 bytes, its 16 × 16 upsampling 8,192; a 0-dim tensor 512.
const X: u64 = 2_048;
const Y: u64 = 8_192;
const SMALL: u64 = 512;

#[test]
fn upsampling_keeps_no_tensor_and_its_backward_copies_an_expanded_gradient() {
    let modes = [
        UpsampleMode::Nearest,
        UpsampleMode::Bilinear {
            align_corners: false,
        },
    ];
    for backend in [Backend::Cpu, Backend::Meta] {
        for mode in modes {
            let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
            let x = rt
                .randn(&[2, 4, 8, 8], Device::Cuda)
                .unwrap()
                .requires_grad_(true)
                .unwrap();
            let y = x.upsample2d([16, 16], mode, Some([2.0, 2.0])).unwrap();
            assert_eq!(rt.memory_allocated(), X + Y, "{mode:?}: one output");
            let node = y.grad_fn().unwrap();
            assert!(node.saved_tensors().is_empty(), "{mode:?}");
            let loss = y.sum().unwrap();
            drop((y, node));
            rt.allocator_mut().reset_peak_memory_stats();
            loss.backward(None, false).unwrap();
            // The loss's gradient, the input's gradient, then the contiguous copy of the
            // gradient `sum()` hands back as an expansion.
            assert_eq!(
                rt.allocator().max_memory_allocated(),
                X + SMALL + SMALL + X + Y,
                "{backend:?} {mode:?}"
            );
            assert_eq!(rt.memory_allocated(), X + SMALL + X, "{mode:?}");
        }
    }
}

#[test]
fn an_upsampling_to_the_same_size_copies_the_gradient_over() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let x = rt
            .randn(&[2, 4, 8, 8], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let loss = x
            .upsample2d([8, 8], UpsampleMode::Nearest, None)
            .unwrap()
            .sum()
            .unwrap();
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            X + SMALL + SMALL + X,
            "{backend:?}"
        );
    }
}

/// Bilinear upsampling with aligned corners of one `h × w` plane to `oh × ow`, in f64.
fn bilinear_aligned(x: &[f64], (h, w): (usize, usize), (oh, ow): (usize, usize)) -> Vec<f64> {
    let source = |o: usize, input: usize, output: usize| {
        let s = o as f64 * (input - 1) as f64 / (output - 1) as f64;
        let i = (s.floor() as usize).min(input - 1);
        (i, (i + 1).min(input - 1), s - i as f64)
    };
    let mut out = Vec::new();
    for r in 0..oh {
        let (i0, i1, a) = source(r, h, oh);
        for c in 0..ow {
            let (j0, j1, b) = source(c, w, ow);
            let at = |i: usize, j: usize| x[i * w + j];
            out.push(
                (1.0 - a) * ((1.0 - b) * at(i0, j0) + b * at(i0, j1))
                    + a * ((1.0 - b) * at(i1, j0) + b * at(i1, j1)),
            );
        }
    }
    out
}

#[test]
fn upsampling_gradients_match_finite_differences() {
    check(Case {
        name: "nearest, scale 2",
        inputs: vec![(vec![1, 1, 2, 3], true)],
        op: &|t: &[Tensor]| t[0].upsample2d([4, 6], UpsampleMode::Nearest, Some([2.0, 2.0])),
        reference: &|x: &[Vec<f64>]| {
            (0..24)
                .map(|k| x[0][(k / 6 / 2) * 3 + (k % 6) / 2])
                .collect()
        },
        shape_values: identity,
    });
    check(Case {
        name: "bilinear, aligned corners",
        inputs: vec![(vec![1, 1, 3, 4], true)],
        op: &|t: &[Tensor]| {
            let mode = UpsampleMode::Bilinear {
                align_corners: true,
            };
            t[0].upsample2d([5, 7], mode, None)
        },
        reference: &|x: &[Vec<f64>]| bilinear_aligned(&x[0], (3, 4), (5, 7)),
        shape_values: identity,
    });
}
