//! `F.scaled_dot_product_attention` on PyTorch's math path
//! (`_scaled_dot_product_attention_math` in `aten/src/ATen/native/transformers/attention.cpp`):
//! the query and the transposed key each scaled by the square root of the scale, their
//! product, a softmax over the last dimension, and its product with the value. The graph keeps
//! what those operations keep: both scaled operands (for the first product's backward), the
//! attention weights (the softmax's result, also the second product's `self`) and the value.
//!
//! PyTorch 2.15 takes the math path when no fused kernel applies or when asked to
//! (`torch.nn.attention.sdpa_kernel(SDPBackend.MATH)`); by default its CPU build runs
//! `_scaled_dot_product_flash_attention_for_cpu` and CUDA a flash or memory-efficient kernel,
//! whose one node saves the query, key, value, output and a log-sum-exp instead
//! (`docs/fidelity.md`).

use super::{Result, Tensor, TensorError};

impl Tensor {
    /// `F.scaled_dot_product_attention(query, key, value)` without a mask, dropout or a causal
    /// mask, on the math path. `scale` defaults to `1 / sqrt(E)`, E being the query's last
    /// dimension.
    pub fn scaled_dot_product_attention(
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        scale: Option<f64>,
    ) -> Result<Tensor> {
        if query.dim() < 2 || key.dim() < 2 || value.dim() < 2 {
            return Err(TensorError::Invalid(
                "scaled_dot_product_attention: query, key and value must have at least 2 dimensions".into(),
            ));
        }
        let e = *query.shape().last().unwrap_or(&1);
        let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
        // Both operands are scaled by sqrt(scale), as the math path does for stability.
        let root = scale.sqrt();
        let q = query.mul_scalar(root)?;
        let k = key.transpose(-2, -1)?.mul_scalar(root)?;
        let scores = q.matmul(&k)?;
        drop((q, k));
        let weights = scores.softmax(-1)?;
        drop(scores);
        weights.matmul(value)
    }
}
