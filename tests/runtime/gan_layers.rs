//! The layers of CycleGAN's generator beyond convolutions: reflection padding (its node keeps
//! the input; backward allocates zeros of the input's shape, then the gradient made
//! contiguous) and instance norm (a batch norm over the input viewed as one sample of N × C
//! channels). Exact bytes on cpu and meta.

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::Device;

#[test]
fn reflection_padding_keeps_its_input_and_backward_copies_an_expanded_gradient() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        // 2×4×14×14 f32: 6,272 B (6,656 rounded); padded by 1: 2×4×16×16, 8,192 B.
        let x = rt
            .randn(&[2, 4, 14, 14], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let y = x.reflection_pad(&[1, 1, 1, 1]).unwrap();
        assert_eq!(y.shape(), &[2, 4, 16, 16]);
        assert_eq!(rt.memory_allocated(), 6656 + 8192, "{backend:?}");
        let node = y.grad_fn().unwrap();
        assert_eq!(node.name(), "ReflectionPad2DBackward0");
        let saved: Vec<&str> = node.saved_tensors().iter().map(|s| s.name).collect();
        assert_eq!(saved, ["self"]);
        drop(node);
        let loss = y.sum().unwrap();
        drop(y);
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // The loss's gradient, the zeros that become x.grad, the contiguous gradient.
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            6656 + 512 + 512 + 6656 + 8192,
            "{backend:?}"
        );
        assert_eq!(rt.memory_allocated(), 6656 + 512 + 6656);
    }
}

#[test]
fn instance_norm_is_a_batch_norm_of_one_sample_of_every_channel() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        // 2×4×16×16 f32: 8,192 B; its 8 channel statistics 32 B each (512 rounded).
        let x = rt
            .randn(&[2, 4, 16, 16], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let y = x.instance_norm(None, None, 1e-5).unwrap();
        assert_eq!(y.shape(), &[2, 4, 16, 16]);
        // The output, then save_mean and save_invstd of the 8 channels.
        assert_eq!(
            rt.memory_allocated(),
            8192 + 8192 + 512 + 512,
            "{backend:?}"
        );
        let view = y.grad_fn().unwrap();
        assert_eq!(view.name(), "ViewBackward0");
        let norm = view.next_functions()[0].clone().unwrap();
        assert_eq!(norm.name(), "NativeBatchNormBackward0");
    }
}
