//! 1-D pooling as ATen composes it: the input unsqueezed at -2, the 2-D pooling, the result
//! squeezed; the graph and the allocations are the 2-D ones (aten/src/ATen/native/Pooling.cpp).

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, PoolOptions};

#[test]
fn max_pool1d_is_max_pool2d_between_an_unsqueeze_and_a_squeeze() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        // 4 × 8 × 64 f32: 8,192 B; pooled by 2: 4,096 B of values, 8,192 B of int64 indices.
        let x = rt
            .randn(&[4, 8, 64], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let y = x
            .max_pool1d(&PoolOptions::one_d(2, None, 0, 1, false))
            .unwrap();
        assert_eq!(y.shape(), &[4, 8, 32]);
        assert_eq!(rt.memory_allocated(), 8192 + 4096 + 8192, "{backend:?}");
        let mut chain = Vec::new();
        let mut node = y.grad_fn();
        while let Some(n) = node {
            chain.push(n.name().to_string());
            node = n.next_functions().into_iter().flatten().next();
        }
        assert_eq!(
            chain,
            [
                "SqueezeBackward1",
                "MaxPool2DWithIndicesBackward0",
                "UnsqueezeBackward0",
                "AccumulateGrad"
            ]
        );
        let a = x.adaptive_avg_pool1d(1).unwrap();
        assert_eq!(a.shape(), &[4, 8, 1]);
        assert_eq!(a.grad_fn().unwrap().name(), "SqueezeBackward1");
    }
}
