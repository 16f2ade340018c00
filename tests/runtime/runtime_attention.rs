//! `F.scaled_dot_product_attention` on the math path: the nodes and saved tensors PyTorch 2.15
//! builds under `sdpa_kernel(SDPBackend.MATH)` (docs/fidelity.md), and what forward keeps.

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

#[test]
fn math_attention_keeps_both_scaled_operands_and_the_weights() {
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    // (batch 2, heads 4, length 6, embedding 8) f32: 1,536 B each.
    let leaf = || {
        rt.randn(&[2, 4, 6, 8], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap()
    };
    let (q, k, v) = (leaf(), leaf(), leaf());
    rt.allocator_mut().reset_peak_memory_stats();
    let out = Tensor::scaled_dot_product_attention(&q, &k, &v, None).unwrap();
    // Kept: q and k scaled (1,536 each), the 2×4×6×6 weights (1,152 B → 1,536), the output.
    // The scores (1,536) lived only until the softmax, so the peak (scores and weights both
    // alive) is no higher than what stays.
    assert_eq!(rt.memory_allocated(), 3 * 1536 + 4 * 1536);
    assert_eq!(rt.allocator().max_memory_allocated(), 3 * 1536 + 4 * 1536);
    let mut chain = Vec::new();
    let mut node = out.grad_fn();
    while let Some(n) = node {
        let saved: Vec<&str> = n
            .saved_tensors()
            .iter()
            .filter(|s| s.tensor.is_some())
            .map(|s| s.name)
            .collect();
        chain.push(format!("{}{saved:?}", n.name()));
        node = n.next_functions().into_iter().flatten().next();
    }
    // Along each node's first input, as PyTorch's graph reads.
    assert_eq!(
        chain,
        [
            "UnsafeViewBackward0[]",
            "BmmBackward0[\"self\", \"mat2\"]",
            "ViewBackward0[]",
            "ExpandBackward0[]",
            "SafeSoftmaxBackward0[\"result\"]",
            "UnsafeViewBackward0[]",
            "BmmBackward0[\"self\", \"mat2\"]",
            "ViewBackward0[]",
            "ExpandBackward0[]",
            "MulBackward1[]",
            "AccumulateGrad[]",
        ]
    );
}
