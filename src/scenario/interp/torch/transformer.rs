//! `nn.MultiheadAttention`'s constructor, with PyTorch's parameters.

use super::super::args::CallArgs;
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, device_arg, expect_bool, expect_float, expect_int};
use crate::base::Device;
use crate::nn::MultiheadAttention;
use crate::scenario::Span;

/// `nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
/// add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None)`; the options
/// that change the parameters' layout (`add_bias_kv`, `add_zero_attn`, `kdim`, `vdim`) must
/// keep their defaults.
pub(super) fn multihead_attention(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    const PARAMS: &[&str] = &[
        "embed_dim",
        "num_heads",
        "dropout",
        "bias",
        "add_bias_kv",
        "add_zero_attn",
        "kdim",
        "vdim",
        "batch_first",
        "device",
    ];
    let b = bind(it, &args, name, PARAMS, 2, span)?;
    for (p, default) in [("add_bias_kv", false), ("add_zero_attn", false)] {
        if expect_bool(it, b.get(p), default, p, span)? != default {
            return Err(it
                .fail(
                    span,
                    format!("nn.MultiheadAttention({p}=True) is not supported in scenarios"),
                )
                .with_help("use the default"));
        }
    }
    let count = |it: &Interp<'_>, p: &str| -> R<usize> {
        let v = expect_int(it, b.get(p).unwrap_or(&Value::None), p, span)?;
        usize::try_from(v)
            .map_err(|_| it.fail(span, format!("ValueError: {p} must be positive, got {v}")))
    };
    let embed_dim = count(it, "embed_dim")?;
    for p in ["kdim", "vdim"] {
        if let Some(v) = b.get(p).filter(|v| !matches!(v, Value::None)) {
            if expect_int(it, v, p, span)? != embed_dim as i64 {
                return Err(it
                    .fail(span, format!("nn.MultiheadAttention({p}=...) other than embed_dim is not supported in scenarios"))
                    .with_help("use kdim=vdim=embed_dim"));
            }
        }
    }
    let num_heads = count(it, "num_heads")?;
    let dropout = match b.get("dropout") {
        Some(v) => expect_float(it, v, "dropout", span)?,
        None => 0.0,
    };
    let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
    let batch_first = expect_bool(it, b.get("batch_first"), false, "batch_first", span)?;
    let device = device_arg(it, b.get("device"), span)?;
    let mha = MultiheadAttention::new(&it.rt, embed_dim, num_heads, dropout, bias, batch_first)
        .map_err(|e| it.fail(span, format!("AssertionError: {e}")))?;
    let m = ModuleRef::new(ModuleKind::Layer(Box::new(mha)));
    if device == Device::Cuda {
        m.to(device).map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Module(m))
}
