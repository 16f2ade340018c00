//! `F.cosine_similarity` as Distance.cpp composes it: what the forward allocates and what its
//! nodes keep, in exact bytes on cpu and meta.

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::Device;

#[test]
fn cosine_similarity_keeps_the_norms_their_clamped_clones_and_the_quotients() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let leaf = || {
            rt.randn(&[32, 10], Device::Cuda)
                .unwrap()
                .requires_grad_(true)
                .unwrap()
        };
        // 32×10 f32: 1,536 B; the 32×1 norms and the 32 similarities: 512 B each.
        let (a, b) = (leaf(), leaf());
        rt.allocator_mut().reset_peak_memory_stats();
        let s = a.cosine_similarity(&b, 1, 1e-8).unwrap();
        // Kept: the inputs, both norms (LinalgVectorNormBackward0's `result`), both clamped
        // clones (DivBackward0's `other`), both quotients (MulBackward0's), the result. The
        // product lived until the sum had run.
        let kept = 2 * 1536 + 4 * 512 + 2 * 1536 + 512;
        assert_eq!(rt.memory_allocated(), kept, "{backend:?}");
        assert_eq!(rt.allocator().max_memory_allocated(), kept + 1536);
        let sum = s.grad_fn().unwrap();
        assert_eq!(sum.name(), "SumBackward1");
        let mul = sum.next_functions()[0].clone().unwrap();
        assert_eq!(mul.name(), "MulBackward0");
        let saved: Vec<&str> = mul.saved_tensors().iter().map(|t| t.name).collect();
        assert_eq!(saved, ["other", "self"]);
    }
}
