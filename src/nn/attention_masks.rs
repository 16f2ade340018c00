//! The masks of `nn.MultiheadAttention` as `torch/nn/functional.py` (2.15) prepares them:
//! `_canonical_mask` turns a bool mask into a float one (`-inf` where the mask is true, the
//! opposite of `scaled_dot_product_attention`'s bool convention), the key padding mask is
//! broadcast over heads and merged into the attention mask, and `is_causal` needs a mask.

use crate::base::{DType, Result, TensorError};
use crate::tensor::{Scalar, Tensor};

/// The masks of one `MultiheadAttention` call, as the caller gives them.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttentionMasks<'a> {
    /// `key_padding_mask` of shape (N, S): true (or a float added) at keys to ignore.
    pub key_padding_mask: Option<&'a Tensor>,
    /// `attn_mask` of shape (L, S) or (N·H, L, S): true (or a float added) where a query may
    /// not attend.
    pub attn_mask: Option<&'a Tensor>,
    /// `is_causal`: a hint that `attn_mask` is the causal mask (it must be given).
    pub is_causal: bool,
}

/// `F._canonical_mask`: a bool mask becomes `zeros_like(mask, dtype).masked_fill_(mask,
/// -inf)` (one allocation, no graph); a float mask is kept as given; other dtypes are refused.
pub(crate) fn canonical_mask(
    mask: Option<&Tensor>,
    name: &str,
    target: DType,
) -> Result<Option<Tensor>> {
    let Some(mask) = mask else {
        return Ok(None);
    };
    if mask.dtype().is_floating_point() {
        return Ok(Some(mask.clone()));
    }
    if mask.dtype() != DType::Bool {
        return Err(TensorError::Invalid(format!(
            "only bool and floating types of {name} are supported"
        )));
    }
    let rt = mask.runtime();
    let _no_grad = rt.no_grad();
    let out = Tensor::empty_on(rt, mask.shape(), target, mask.device())?;
    out.fill_values(Scalar::Float(0.0))?;
    out.masked_fill_(mask, f64::NEG_INFINITY)?;
    Ok(Some(out))
}

/// `multi_head_attention_forward`'s checks of an `attn_mask` (after `_canonical_mask`): a 2-D
/// mask must be (L, S) and gets a leading dimension; a 3-D one must be (N·H, L, S).
pub(crate) fn shaped_attn_mask(
    mask: Tensor,
    (tgt, src, bsz_heads): (usize, usize, usize),
) -> Result<Tensor> {
    match mask.dim() {
        2 if mask.shape() == [tgt, src] => mask.unsqueeze(0),
        2 => Err(TensorError::Invalid(format!(
            "The shape of the 2D attn_mask is torch.Size({:?}), but should be ({tgt}, {src}).",
            mask.shape()
        ))),
        3 if mask.shape() == [bsz_heads, tgt, src] => Ok(mask),
        3 => Err(TensorError::Invalid(format!(
            "The shape of the 3D attn_mask is torch.Size({:?}), but should be ({bsz_heads}, {tgt}, {src}).",
            mask.shape()
        ))),
        d => Err(TensorError::Invalid(format!(
            "attn_mask's dimension {d} is not supported"
        ))),
    }
}

/// The key padding mask of shape (N, S) as `view(N, 1, 1, S).expand(-1, H, -1, -1)
/// .reshape(N·H, 1, S)` (a copy), merged into `attn_mask` by an addition when there is one.
pub(crate) fn merge_key_padding(
    key_padding_mask: &Tensor,
    attn_mask: Option<Tensor>,
    (bsz, heads, src): (usize, usize, usize),
) -> Result<Tensor> {
    if key_padding_mask.shape() != [bsz, src] {
        return Err(TensorError::Invalid(format!(
            "expecting key_padding_mask shape of ({bsz}, {src}), but got torch.Size({:?})",
            key_padding_mask.shape()
        )));
    }
    let (b, h, s) = (bsz as isize, heads as isize, src as isize);
    let kpm = key_padding_mask
        .view(&[b, 1, 1, s])?
        .expand(&[bsz, heads, 1, src])?
        .reshape(&[b * h, 1, s])?;
    match attn_mask {
        None => Ok(kpm),
        Some(m) => m.add(&kpm),
    }
}
