//! `nn.MultiheadAttention` on the path PyTorch takes with gradients enabled:
//! `torch/nn/functional.py`'s `multi_head_attention_forward` (the fused fast path needs
//! `not torch.is_grad_enabled()` or parameters without gradients, and eval mode). Its
//! operations, in order: the batch-first inputs transposed to (L, N, E), the packed input
//! projection (`_in_projection_packed`: for self-attention one `linear`, then
//! `unflatten(-1, (3, E)).unsqueeze(0).transpose(0, -2).squeeze(-2).contiguous()` and three
//! `select`s), each of q, k, v `view`ed to (L, N·H, E/H) and transposed; with `need_weights`,
//! `q * sqrt(1/d)`, `bmm` with `k.transpose(-2, -1)`, `softmax`, `dropout` in training, `bmm`
//! with v, `transpose(0, 1).reshape(L·N, E)`, the output `linear`, and then the weights
//! `view`ed to (N, H, L, S) and averaged over heads; without it, `scaled_dot_product_attention`
//! on 4-D views and a `permute(2, 0, 1, 3).reshape(N·L, E)`. A mask makes the scores
//! `baddbmm(mask, q, k.transpose(-2, -1))` (`attention_masks.rs` prepares it).

use std::cell::Cell;

use super::attention_masks::{canonical_mask, merge_key_padding, shaped_attn_mask};
use super::{AttentionMasks, Io, Layer, Module};
use crate::alloc::Purpose;
use crate::base::{DType, Device, Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::{SdpaOptions, Tensor};

/// `nn.MultiheadAttention(embed_dim, num_heads, dropout, bias, batch_first)`.
#[derive(Debug)]
pub struct MultiheadAttention {
    embed_dim: usize,
    num_heads: usize,
    dropout: f64,
    batch_first: bool,
    /// `in_proj_weight`, `in_proj_bias`?, `out_proj.weight`, `out_proj.bias`?.
    params: Vec<(String, Tensor)>,
    training: Cell<bool>,
}

/// The positional parameters of `MultiheadAttention.forward`, as PyTorch names them.
const CALL: &[&str] = &[
    "query",
    "key",
    "value",
    "key_padding_mask",
    "need_weights",
    "attn_mask",
    "average_attn_weights",
    "is_causal",
];

impl MultiheadAttention {
    /// The module with its parameters on the host: `out_proj` as `nn.Linear` makes it, then
    /// `in_proj_weight` drawn by `xavier_uniform_`, and both biases zero
    /// (`MultiheadAttention._reset_parameters`).
    pub fn new(
        rt: &Runtime,
        embed_dim: usize,
        num_heads: usize,
        dropout: f64,
        bias: bool,
        batch_first: bool,
    ) -> Result<MultiheadAttention> {
        if num_heads == 0 || embed_dim % num_heads != 0 {
            return Err(TensorError::Invalid(
                "embed_dim must be divisible by num_heads".into(),
            ));
        }
        let param = |shape: &[usize], bound: f64| -> Result<Tensor> {
            let t = rt.empty(shape, DType::F32, Device::Cpu)?;
            t.set_purpose(Purpose::Parameter);
            if bound > 0.0 {
                rt.uniform_(&t, -bound, bound)?;
            } else {
                t.zero_()?;
            }
            t.set_requires_grad(true)?;
            Ok(t)
        };
        let e = embed_dim as f64;
        let out_w = param(&[embed_dim, embed_dim], 1.0 / e.sqrt())?;
        let in_w = param(&[3 * embed_dim, embed_dim], (6.0 / (4.0 * e)).sqrt())?;
        let mut params = vec![("in_proj_weight".to_string(), in_w)];
        if bias {
            params.push(("in_proj_bias".into(), param(&[3 * embed_dim], 0.0)?));
        }
        params.push(("out_proj.weight".into(), out_w));
        if bias {
            params.push(("out_proj.bias".into(), param(&[embed_dim], 0.0)?));
        }
        Ok(MultiheadAttention {
            embed_dim,
            num_heads,
            dropout,
            batch_first,
            params,
            training: Cell::new(true),
        })
    }

    /// The same module, in the same mode, over other parameters (in the order of
    /// `named_parameters()`).
    pub(crate) fn over(&self, params: Vec<Tensor>) -> MultiheadAttention {
        MultiheadAttention {
            embed_dim: self.embed_dim,
            num_heads: self.num_heads,
            dropout: self.dropout,
            batch_first: self.batch_first,
            params: self
                .params
                .iter()
                .map(|(n, _)| n.clone())
                .zip(params)
                .collect(),
            training: Cell::new(self.training.get()),
        }
    }

    fn param(&self, name: &str) -> Option<&Tensor> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    /// `_in_projection_packed(q, k, v, w, b)`: self-attention projects once and splits the
    /// packed result; key = value projects the query and the key apart; else three
    /// projections of the weight's chunks.
    fn in_projection(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let e = self.embed_dim as isize;
        let w = self
            .param("in_proj_weight")
            .ok_or_else(|| TensorError::Invalid("no in_proj_weight".into()))?;
        let b = self.param("in_proj_bias");
        let packed = |proj: Tensor, n: isize| -> Result<Vec<Tensor>> {
            let mut shape: Vec<isize> = proj.shape().iter().map(|&s| s as isize).collect();
            shape.pop();
            shape.extend([n, e]);
            let p = proj
                .view(&shape)?
                .unsqueeze(0)?
                .transpose(0, -2)?
                .squeeze(Some(-2))?
                .contiguous()?;
            (0..n as i64).map(|i| p.select_dim(0, i)).collect()
        };
        if k.is_same(v) {
            if q.is_same(k) {
                let mut qkv = packed(q.linear(w, b)?, 3)?.into_iter();
                let (Some(q), Some(k), Some(v)) = (qkv.next(), qkv.next(), qkv.next()) else {
                    return Err(TensorError::Invalid("in-projection split".into()));
                };
                return Ok((q, k, v));
            }
            let ws = w.split_with_sizes(&[e as i64, 2 * e as i64], 0)?;
            let bs = b
                .map(|b| b.split_with_sizes(&[e as i64, 2 * e as i64], 0))
                .transpose()?;
            let q = q.linear(&ws[0], bs.as_ref().map(|b| &b[0]))?;
            let mut kv = packed(k.linear(&ws[1], bs.as_ref().map(|b| &b[1]))?, 2)?.into_iter();
            let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                return Err(TensorError::Invalid("in-projection split".into()));
            };
            return Ok((q, k, v));
        }
        let ws = w.chunk(3, 0)?;
        let bs = b.map(|b| b.chunk(3, 0)).transpose()?;
        let bias = |i: usize| bs.as_ref().map(|b| &b[i]);
        Ok((
            q.linear(&ws[0], bias(0))?,
            k.linear(&ws[1], bias(1))?,
            v.linear(&ws[2], bias(2))?,
        ))
    }

    /// `mha(query, key, value, key_padding_mask, need_weights, attn_mask,
    /// average_attn_weights, is_causal)`: the output and, with `need_weights`, the attention
    /// weights.
    pub fn attend(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        masks: AttentionMasks<'_>,
        need_weights: bool,
        average_attn_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        if query.dim() != 3 || key.dim() != 3 || value.dim() != 3 {
            return Err(TensorError::Unsupported(
                "MultiheadAttention: only batched 3-D query, key and value are modelled".into(),
            ));
        }
        if query.shape()[2] != self.embed_dim {
            return Err(TensorError::Invalid(format!(
                "was expecting embedding dimension of {}, but got {}",
                self.embed_dim,
                query.shape()[2]
            )));
        }
        // MultiheadAttention.forward: both masks made float first (`_canonical_mask`).
        let dtype = query.dtype();
        let key_padding_mask = canonical_mask(masks.key_padding_mask, "key_padding_mask", dtype)?;
        let attn_mask = canonical_mask(masks.attn_mask, "attn_mask", dtype)?;
        // MultiheadAttention.forward: batch-first inputs become (L, N, E), keeping which of
        // them are the same tensor.
        let (q, k, v) = if self.batch_first {
            if key.is_same(value) {
                if query.is_same(key) {
                    let t = query.transpose(1, 0)?;
                    (t.clone(), t.clone(), t)
                } else {
                    let k = key.transpose(1, 0)?;
                    (query.transpose(1, 0)?, k.clone(), k)
                }
            } else {
                (
                    query.transpose(1, 0)?,
                    key.transpose(1, 0)?,
                    value.transpose(1, 0)?,
                )
            }
        } else {
            (query.clone(), key.clone(), value.clone())
        };
        let (tgt, bsz, e) = (q.shape()[0], q.shape()[1], self.embed_dim);
        let src = k.shape()[0];
        let (h, hd) = (self.num_heads, e / self.num_heads);
        // multi_head_attention_forward: `is_causal` needs a mask; without a key padding mask
        // and weights the mask is dropped for scaled_dot_product_attention's own.
        let mut is_causal = masks.is_causal;
        if is_causal && attn_mask.is_none() {
            return Err(TensorError::Invalid(
                "Need attn_mask if specifying the is_causal hint. You may use the Transformer \
                 module method `generate_square_subsequent_mask` to create this mask."
                    .into(),
            ));
        }
        let attn_mask = if is_causal && key_padding_mask.is_none() && !need_weights {
            None
        } else {
            if key_padding_mask.is_some() {
                is_causal = false;
            }
            attn_mask
        };
        let (q, k, v) = self.in_projection(&q, &k, &v)?;
        let attn_mask = attn_mask
            .map(|m| shaped_attn_mask(m, (tgt, src, bsz * h)))
            .transpose()?;
        let heads = |t: &Tensor, len: usize| {
            t.view(&[len as isize, (bsz * h) as isize, hd as isize])?
                .transpose(0, 1)
        };
        let (q, k, v) = (heads(&q, tgt)?, heads(&k, src)?, heads(&v, src)?);
        let attn_mask = match &key_padding_mask {
            Some(kpm) => Some(merge_key_padding(kpm, attn_mask, (bsz, h, src))?),
            None => attn_mask,
        };
        let p = if self.training.get() {
            self.dropout
        } else {
            0.0
        };
        let out_w = self
            .param("out_proj.weight")
            .ok_or_else(|| TensorError::Invalid("no out_proj.weight".into()))?;
        let out_b = self.param("out_proj.bias");
        let linear_out = |out: Tensor| -> Result<Tensor> {
            out.linear(out_w, out_b)?
                .view(&[tgt as isize, bsz as isize, e as isize])
        };
        let (out, weights) = if need_weights {
            let w = {
                let q_scaled = q.mul_scalar((1.0 / hd as f64).sqrt())?;
                let scores = match &attn_mask {
                    Some(m) => m.baddbmm(&q_scaled, &k.transpose(-2, -1)?)?,
                    None => q_scaled.bmm(&k.transpose(-2, -1)?)?,
                };
                drop(q_scaled);
                let w = scores.softmax(-1)?;
                if p > 0.0 {
                    w.dropout(p, true)?
                } else {
                    w
                }
            };
            let out = w
                .bmm(&v)?
                .transpose(0, 1)?
                .reshape(&[(tgt * bsz) as isize, e as isize])?;
            let out = linear_out(out)?;
            let w = w.view(&[bsz as isize, h as isize, tgt as isize, src as isize])?;
            let w = if average_attn_weights {
                w.mean_dim(&[1], false)?
            } else {
                w
            };
            (out, Some(w))
        } else {
            let attn_mask = attn_mask
                .map(|m| {
                    if m.dim() == 3 && m.shape()[0] == 1 {
                        m.unsqueeze(0)
                    } else {
                        m.view(&[bsz as isize, h as isize, -1, src as isize])
                    }
                })
                .transpose()?;
            let four = |t: &Tensor, len: usize| {
                t.view(&[bsz as isize, h as isize, len as isize, hd as isize])
            };
            let a = Tensor::scaled_dot_product_attention_with(
                &four(&q, tgt)?,
                &four(&k, src)?,
                &four(&v, src)?,
                &SdpaOptions {
                    attn_mask: attn_mask.as_ref(),
                    dropout_p: p,
                    is_causal,
                    scale: None,
                },
            )?;
            let out = a
                .permute(&[2, 0, 1, 3])?
                .reshape(&[(bsz * tgt) as isize, e as isize])?;
            (linear_out(out)?, None)
        };
        let out = if self.batch_first {
            out.transpose(1, 0)?
        } else {
            out
        };
        Ok((out, weights))
    }
}

impl Module for MultiheadAttention {
    /// `mha(x, x, x)[0]`: self-attention's output.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self
            .attend(x, x, x, AttentionMasks::default(), true, true)?
            .0)
    }

    /// `mha(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    /// average_attn_weights=True, is_causal=False)`: `(output, weights or None)`.
    fn call(&self, inputs: &[Io]) -> Result<Io> {
        let tensor = |i: usize| match inputs.get(i) {
            Some(Io::Tensor(t)) => Ok(t.clone()),
            _ => Err(TensorError::Invalid(format!(
                "MultiheadAttention.forward() missing tensor argument '{}'",
                CALL[i]
            ))),
        };
        let flag = |i: usize, default: bool| match inputs.get(i) {
            None | Some(Io::None) => Ok(default),
            Some(Io::Bool(b)) => Ok(*b),
            Some(_) => Err(TensorError::Invalid(format!(
                "MultiheadAttention.forward(): {} must be a bool",
                CALL[i]
            ))),
        };
        let mask = |i: usize| match inputs.get(i) {
            None | Some(Io::None) => Ok(None),
            Some(Io::Tensor(t)) => Ok(Some(t)),
            Some(_) => Err(TensorError::Invalid(format!(
                "MultiheadAttention.forward(): {} must be a tensor or None",
                CALL[i]
            ))),
        };
        let masks = AttentionMasks {
            key_padding_mask: mask(3)?,
            attn_mask: mask(5)?,
            is_causal: flag(7, false)?,
        };
        let (out, weights) = self.attend(
            &tensor(0)?,
            &tensor(1)?,
            &tensor(2)?,
            masks,
            flag(4, true)?,
            flag(6, true)?,
        )?;
        Ok(Io::Tuple(vec![
            Io::Tensor(out),
            weights.map_or(Io::None, Io::Tensor),
        ]))
    }

    fn call_params(&self) -> &'static [&'static str] {
        CALL
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.params.clone()
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for MultiheadAttention {
    fn class_name(&self) -> &'static str {
        "MultiheadAttention"
    }

    /// PyTorch's repr shows the `out_proj` child only.
    fn repr(&self) -> String {
        format!(
            "MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear(in_features={e}, out_features={e}, bias={})\n)",
            if self.param("out_proj.bias").is_some() {
                "True"
            } else {
                "False"
            },
            e = self.embed_dim
        )
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        Box::new(self.over(params))
    }

    fn as_call(&self) -> Option<&dyn Module> {
        Some(self)
    }
}
