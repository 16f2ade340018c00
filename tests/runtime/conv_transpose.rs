//! `conv_transpose2d`: one output; ConvolutionBackward0 keeps `input` and `weight`; backward
//! allocates the input's, the weight's and the bias's gradients in that order, as for a
//! convolution. Exact bytes on cpu and meta.

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{ConvTransposeOptions, Device};

#[test]
fn conv_transpose2d_allocates_as_a_convolution_does() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let leaf = |shape: &[usize]| {
            rt.randn(shape, Device::Cuda)
                .unwrap()
                .requires_grad_(true)
                .unwrap()
        };
        // x 2×16×8×8 f32: 8,192 B; weight 16×8×4×4: 8,192 B; bias 8: 512 B.
        let (x, w, b) = (leaf(&[2, 16, 8, 8]), leaf(&[16, 8, 4, 4]), leaf(&[8]));
        let options = ConvTransposeOptions {
            stride: [2, 2],
            padding: [1, 1],
            ..ConvTransposeOptions::default()
        };
        let y = x.conv_transpose2d(&w, Some(&b), &options).unwrap();
        // (8 - 1) × 2 - 2 + 3 + 1 = 16: 2×8×16×16 f32, 16,384 B.
        assert_eq!(y.shape(), &[2, 8, 16, 16]);
        let params = 8192 + 8192 + 512;
        assert_eq!(rt.memory_allocated(), params + 16384, "{backend:?}");
        let node = y.grad_fn().unwrap();
        assert_eq!(node.name(), "ConvolutionBackward0");
        let saved: Vec<&str> = node.saved_tensors().iter().map(|s| s.name).collect();
        assert_eq!(saved, ["input", "weight"]);
        drop(node);
        let loss = y.mul(&y).unwrap().sum().unwrap();
        drop(y);
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // Gradients: x's 8,192, w's 8,192, b's 512, all kept.
        assert_eq!(rt.memory_allocated(), 2 * params + 512, "{backend:?}");
    }
}
