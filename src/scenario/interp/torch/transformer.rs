//! The constructors of `nn.MultiheadAttention`, `nn.TransformerEncoderLayer` and
//! `nn.TransformerEncoder`, with PyTorch's parameters.

use super::super::args::CallArgs;
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::{Path, Value};
use super::super::{Failure, Interp, R};
use super::args::{bind, device_arg, expect_bool, expect_float, expect_int};
use crate::base::{DType, Device};
use crate::nn::{
    Activation, ActivationForm, EncoderLayerConfig, Layer, LayerFn, MultiheadAttention,
    TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
};
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

/// `nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
/// activation=F.relu, layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True,
/// device=None, dtype=None)`, and `nn.TransformerDecoderLayer` with the same parameters.
pub(super) fn transformer_encoder_layer(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    const PARAMS: &[&str] = &[
        "d_model",
        "nhead",
        "dim_feedforward",
        "dropout",
        "activation",
        "layer_norm_eps",
        "batch_first",
        "norm_first",
        "bias",
        "device",
        "dtype",
    ];
    let b = bind(it, &args, name, PARAMS, 2, span)?;
    let count = |it: &Interp<'_>, p: &str, default: usize| -> R<usize> {
        let Some(v) = b.get(p) else {
            return Ok(default);
        };
        let v = expect_int(it, v, p, span)?;
        usize::try_from(v)
            .map_err(|_| it.fail(span, format!("ValueError: {p} must be positive, got {v}")))
    };
    let float = |it: &Interp<'_>, p: &str, default: f64| -> R<f64> {
        b.get(p)
            .map_or(Ok(default), |v| expect_float(it, v, p, span))
    };
    let mut config = EncoderLayerConfig::new(count(it, "d_model", 0)?, count(it, "nhead", 0)?);
    config.dim_feedforward = count(it, "dim_feedforward", config.dim_feedforward)?;
    config.dropout = float(it, "dropout", config.dropout)?;
    config.layer_norm_eps = float(it, "layer_norm_eps", config.layer_norm_eps)?;
    config.batch_first = expect_bool(it, b.get("batch_first"), false, "batch_first", span)?;
    config.norm_first = expect_bool(it, b.get("norm_first"), false, "norm_first", span)?;
    config.bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
    if let Some(v) = b.get("activation") {
        config.activation = activation(it, v, span)?;
    }
    if let Some(v) = b.get("dtype").filter(|v| !matches!(v, Value::None)) {
        if !matches!(v, Value::DType(DType::F32)) {
            return Err(it
                .fail(
                    span,
                    format!(
                        "nn.{name}(dtype=...) other than float32 is not supported in scenarios"
                    ),
                )
                .with_help("create it in float32 and call .half() or .to(dtype)"));
        }
    }
    let device = device_arg(it, b.get("device"), span)?;
    let layer: Box<dyn Layer> = if name == "TransformerDecoderLayer" {
        TransformerDecoderLayer::new(&it.rt, config).map(|l| Box::new(l) as Box<dyn Layer>)
    } else {
        TransformerEncoderLayer::new(&it.rt, config).map(|l| Box::new(l) as Box<dyn Layer>)
    }
    .map_err(|e| it.fail(span, format!("AssertionError: {e}")))?;
    let m = ModuleRef::new(ModuleKind::Layer(layer));
    if device == Device::Cuda {
        m.to(device).map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Module(m))
}

/// The layer's `activation`: `"relu"`/`"gelu"`, `F.relu`/`F.gelu` (or `torch.relu`), or an
/// `nn.ReLU()`/`nn.GELU()` module; PyTorch calls any other callable, which a library layer
/// here cannot.
fn activation(it: &Interp<'_>, v: &Value, span: Span) -> R<(Activation, ActivationForm)> {
    let function = |a| Ok((a, ActivationForm::Function));
    match v {
        Value::Str(s) => match &**s {
            "relu" => function(Activation::Relu),
            "gelu" => function(Activation::Gelu),
            other => Err(it.fail(
                span,
                format!("RuntimeError: activation should be relu/gelu, not {other}"),
            )),
        },
        Value::Path(Path(p)) if matches!(&**p, "torch.nn.functional.relu" | "torch.relu") => {
            function(Activation::Relu)
        }
        Value::Path(Path(p)) if matches!(&**p, "torch.nn.functional.gelu") => {
            function(Activation::Gelu)
        }
        Value::Module(m) => match &*m.0 {
            ModuleKind::ReLU(..) => Ok((Activation::Relu, ActivationForm::Module)),
            ModuleKind::Stateless(s) if s.function() == LayerFn::Gelu => {
                Ok((Activation::Gelu, ActivationForm::Module))
            }
            _ => Err(unsupported_activation(it, span)),
        },
        _ => Err(unsupported_activation(it, span)),
    }
}

fn unsupported_activation(it: &Interp<'_>, span: Span) -> Failure {
    it.fail(
        span,
        "nn.TransformerEncoderLayer/TransformerDecoderLayer(activation=...) supports relu and gelu in scenarios",
    )
    .with_help("pass \"relu\", \"gelu\", F.relu, F.gelu, nn.ReLU() or nn.GELU()")
}

/// `nn.TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
/// mask_check=True)`: `num_layers` deep copies of the layer. `enable_nested_tensor` and
/// `mask_check` only matter on the inference fast path (eval mode without gradients), which
/// is not modelled: they are accepted and change nothing. `nn.TransformerDecoder(decoder_layer,
/// num_layers, norm=None)` likewise.
pub(super) fn transformer_stack(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    const ENCODER: &[&str] = &[
        "encoder_layer",
        "num_layers",
        "norm",
        "enable_nested_tensor",
        "mask_check",
    ];
    const DECODER: &[&str] = &["decoder_layer", "num_layers", "norm"];
    let decoder = name == "TransformerDecoder";
    let (params, layer_param, layer_class) = if decoder {
        (DECODER, "decoder_layer", "TransformerDecoderLayer")
    } else {
        (ENCODER, "encoder_layer", "TransformerEncoderLayer")
    };
    let b = bind(it, &args, name, params, 2, span)?;
    if !decoder {
        expect_bool(
            it,
            b.get("enable_nested_tensor"),
            true,
            "enable_nested_tensor",
            span,
        )?;
        expect_bool(it, b.get("mask_check"), true, "mask_check", span)?;
    }
    let refused = |it: &Interp<'_>| {
        it.fail(
            span,
            format!("nn.{name}({layer_param}=...) takes an nn.{layer_class} in scenarios"),
        )
        .with_help(format!("pass nn.{layer_class}(d_model, nhead, ...)"))
    };
    let layer = match b.get(layer_param) {
        Some(Value::Module(m)) => match &*m.0 {
            ModuleKind::Layer(l) if l.class_name() == layer_class => l,
            _ => return Err(refused(it)),
        },
        _ => return Err(refused(it)),
    };
    let n = expect_int(
        it,
        b.get("num_layers").unwrap_or(&Value::None),
        "num_layers",
        span,
    )?;
    let n = usize::try_from(n).map_err(|_| {
        it.fail(
            span,
            format!("ValueError: num_layers must be positive, got {n}"),
        )
    })?;
    let norm = match b.get("norm") {
        None | Some(Value::None) => None,
        Some(Value::Module(m)) => match &*m.0 {
            // The stack registers the module it is given: the same parameters.
            ModuleKind::Layer(l) => Some(l.with_tensors(
                l.parameters(),
                l.named_buffers().into_iter().map(|(_, t)| t).collect(),
            )),
            _ => return Err(norm_refused(it, name, span)),
        },
        Some(_) => return Err(norm_refused(it, name, span)),
    };
    let stack: Box<dyn Layer> = if decoder {
        TransformerDecoder::new(layer.as_ref(), n, norm).map(|d| Box::new(d) as Box<dyn Layer>)
    } else {
        TransformerEncoder::new(layer.as_ref(), n, norm).map(|e| Box::new(e) as Box<dyn Layer>)
    }
    .map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::Module(ModuleRef::new(ModuleKind::Layer(stack))))
}

fn norm_refused(it: &Interp<'_>, name: &str, span: Span) -> Failure {
    it.fail(
        span,
        format!("nn.{name}(norm=...) takes a library module such as nn.LayerNorm in scenarios"),
    )
    .with_help("pass norm=nn.LayerNorm(d_model)")
}
