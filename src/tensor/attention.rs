//! `F.scaled_dot_product_attention` on PyTorch's math path
//! (`_scaled_dot_product_attention_math` in `aten/src/ATen/native/transformers/attention.cpp`):
//! the query and the transposed key each scaled by the square root of the scale, their
//! product, the mask added, a softmax over the last dimension, dropout in training,
//! and its product with the value. The graph keeps what those operations keep: both scaled
//! operands (for the first product's backward), the attention weights (the softmax's result),
//! dropout's mask, the weights after dropout (the second product's `self`) and the value. A
//! mask is added without a gradient, so nothing keeps it.
//!
//! PyTorch 2.15 takes the math path when no fused kernel applies (on CPU: `dropout_p > 0`) or
//! when asked to (`torch.nn.attention.sdpa_kernel(SDPBackend.MATH)`); otherwise its CPU build
//! runs `_scaled_dot_product_flash_attention_for_cpu` and CUDA a flash or memory-efficient
//! kernel, whose one node saves the query, key, value, output, a log-sum-exp and the mask
//! instead (`docs/fidelity.md`).

use super::{DType, Result, Scalar, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

/// The options of `F.scaled_dot_product_attention` beyond its three tensors.
#[derive(Debug, Clone, Copy, Default)]
pub struct SdpaOptions<'a> {
    /// `attn_mask`: a bool mask (`True` takes part) or a float mask added to the scores,
    /// broadcast to (…, L, S).
    pub attn_mask: Option<&'a Tensor>,
    /// `dropout_p`: dropout of the attention weights (always applied, as `F.scaled_dot_product_attention`
    /// does; callers pass 0 outside training).
    pub dropout_p: f64,
    /// `is_causal`: a lower-triangular (L, S) mask; refused together with `attn_mask`.
    pub is_causal: bool,
    /// `scale`: defaults to `1 / sqrt(E)`, E being the query's last dimension.
    pub scale: Option<f64>,
}

impl Tensor {
    /// `F.scaled_dot_product_attention(query, key, value, scale=scale)` on the math path.
    pub fn scaled_dot_product_attention(
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        scale: Option<f64>,
    ) -> Result<Tensor> {
        Tensor::scaled_dot_product_attention_with(
            query,
            key,
            value,
            &SdpaOptions {
                scale,
                ..SdpaOptions::default()
            },
        )
    }

    /// `F.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal,
    /// scale)` on the math path.
    pub fn scaled_dot_product_attention_with(
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        options: &SdpaOptions<'_>,
    ) -> Result<Tensor> {
        if query.dim() < 2 || key.dim() < 2 || value.dim() < 2 {
            return Err(TensorError::Invalid(
                "scaled_dot_product_attention: query, key and value must have at least 2 dimensions".into(),
            ));
        }
        if !(0.0..=1.0).contains(&options.dropout_p) {
            return Err(TensorError::Invalid(format!(
                "dropout probability has to be between 0 and 1, but got {}",
                options.dropout_p
            )));
        }
        let e = *query.shape().last().unwrap_or(&1);
        let scale = options.scale.unwrap_or(1.0 / (e as f64).sqrt());
        // Both operands are scaled by sqrt(scale), as the math path does for stability.
        let root = scale.sqrt();
        let q = aten_scale(query, root)?;
        let mask = match (options.is_causal, options.attn_mask) {
            (true, Some(_)) => {
                return Err(TensorError::Invalid(
                    "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True".into(),
                ))
            }
            (true, None) => {
                let l = query.shape()[query.dim() - 2];
                let s = key.shape()[key.dim() - 2];
                Some(causal_mask(query, l, s)?)
            }
            (false, Some(m)) if m.dtype() == DType::Bool => Some(float_from_bool(m, query.dtype())?),
            (false, Some(m)) => Some(m.clone()),
            (false, None) => None,
        };
        let k = aten_scale(&key.transpose(-2, -1)?, root)?;
        let scores = q.matmul(&k)?;
        drop((q, k));
        // ATen adds the mask in place (`attn.add_(mask)`): its `_unsafe_view` result is no
        // view to autograd, where this runtime's is, so the sum is a new tensor here. Same
        // node (AddBackward0, nothing saved); one scores-sized temporary more until the
        // softmax.
        let scores = match &mask {
            Some(m) => scores.add(m)?,
            None => scores,
        };
        drop(mask);
        let weights = safe_softmax(&scores)?;
        drop(scores);
        let weights = if options.dropout_p > 0.0 {
            weights.dropout(options.dropout_p, true)?
        } else {
            weights
        };
        weights.matmul(value)
    }
}

/// `t * s` as ATen's C++ multiplies by a number: MulBackward1, saving nothing.
fn aten_scale(t: &Tensor, s: f64) -> Result<Tensor> {
    t.mul_scalar_aten(s)
}

/// `_safe_softmax(scores, -1)`: the softmax, recorded as SafeSoftmaxBackward0 saving its
/// result. PyTorch makes a row that is masked everywhere zero where a softmax gives NaN; the
/// values of such rows are not modelled (their memory is the same).
fn safe_softmax(scores: &Tensor) -> Result<Tensor> {
    let out = {
        let _no_grad = scores.runtime().no_grad();
        scores.softmax(-1)?
    };
    if let Some(mut b) = NodeBuilder::new(&[scores]) {
        b.save_output("result");
        b.finish(
            Formula::SafeSoftmax {
                dim: scores.dim() - 1,
                input_dtype: scores.dtype(),
            },
            &out,
        );
    }
    Ok(out)
}

/// `convert_boolean_attn_mask`: 0 where the mask is true (takes part), `-inf` elsewhere, in
/// the query's dtype; made without a gradient.
fn float_from_bool(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let rt = mask.runtime();
    let _no_grad = rt.no_grad();
    let out = Tensor::empty_on(rt, mask.shape(), dtype, mask.device())?;
    out.fill_values(Scalar::Float(f64::NEG_INFINITY))?;
    out.masked_fill_values_(mask, 0.0)?;
    Ok(out)
}

/// The `is_causal` mask: `ones(L, S, bool).tril()` converted as [`float_from_bool`], written
/// in one float allocation (PyTorch's bool temporaries are freed at once).
fn causal_mask(query: &Tensor, l: usize, s: usize) -> Result<Tensor> {
    let values: Vec<f32> = (0..l * s)
        .map(|i| {
            if i % s <= i / s {
                0.0
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect();
    let out = Tensor::empty_on(query.runtime(), &[l, s], query.dtype(), query.device())?;
    out.write_f32(&values);
    Ok(out)
}
