//! The constructors of `nn.MultiheadAttention`, `nn.TransformerEncoderLayer`,
//! `nn.TransformerDecoderLayer`, their stacks and `nn.Transformer` (with its static
//! `generate_square_subsequent_mask`), with PyTorch's parameters.

use super::super::args::{Bound, CallArgs};
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::{Path, Value};
use super::super::{Failure, Interp, R};
use super::args::{bind, device_arg, dtype_arg, expect_bool, expect_float, expect_int};
use crate::base::{DType, Device};
use crate::nn::{
    Activation, ActivationForm, EncoderLayerConfig, Layer, LayerFn, MultiheadAttention,
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer,
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
    let embed_dim = count(it, &b, "embed_dim", None, span)?;
    for p in ["kdim", "vdim"] {
        if let Some(v) = b.get(p).filter(|v| !matches!(v, Value::None)) {
            if expect_int(it, v, p, span)? != embed_dim as i64 {
                return Err(it
                    .fail(span, format!("nn.MultiheadAttention({p}=...) other than embed_dim is not supported in scenarios"))
                    .with_help("use kdim=vdim=embed_dim"));
            }
        }
    }
    let num_heads = count(it, &b, "num_heads", None, span)?;
    let dropout = match b.get("dropout") {
        Some(v) => expect_float(it, v, "dropout", span)?,
        None => 0.0,
    };
    let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
    let batch_first = expect_bool(it, b.get("batch_first"), false, "batch_first", span)?;
    let device = device_arg(it, b.get("device"), span)?;
    let mha = MultiheadAttention::new(&it.rt, embed_dim, num_heads, dropout, bias, batch_first)
        .map_err(|e| it.fail(span, format!("AssertionError: {e}")))?;
    on_device(it, Box::new(mha), device, span)
}

/// A count: `default` when the argument is left out, PyTorch's TypeError when it is not an
/// int, a ValueError when negative.
fn count(it: &Interp<'_>, b: &Bound, p: &str, default: Option<usize>, span: Span) -> R<usize> {
    let v = match (b.get(p), default) {
        (None, Some(d)) => return Ok(d),
        (v, _) => expect_int(it, v.unwrap_or(&Value::None), p, span)?,
    };
    usize::try_from(v)
        .map_err(|_| it.fail(span, format!("ValueError: {p} must be positive, got {v}")))
}

/// The parameters the transformer layers and `nn.Transformer` share after `d_model` and
/// `nhead`: `dim_feedforward`, `dropout`, `activation`, `layer_norm_eps`, `batch_first`,
/// `norm_first`, `bias`, `device` and `dtype` (float32 only).
fn layer_config(
    it: &Interp<'_>,
    b: &Bound,
    name: &str,
    mut config: EncoderLayerConfig,
    span: Span,
) -> R<(EncoderLayerConfig, Device)> {
    let float = |it: &Interp<'_>, p: &str, default: f64| -> R<f64> {
        b.get(p)
            .map_or(Ok(default), |v| expect_float(it, v, p, span))
    };
    config.dim_feedforward = count(it, b, "dim_feedforward", Some(config.dim_feedforward), span)?;
    config.dropout = float(it, "dropout", config.dropout)?;
    config.layer_norm_eps = float(it, "layer_norm_eps", config.layer_norm_eps)?;
    config.batch_first = expect_bool(it, b.get("batch_first"), false, "batch_first", span)?;
    config.norm_first = expect_bool(it, b.get("norm_first"), false, "norm_first", span)?;
    config.bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
    if let Some(v) = b.get("activation") {
        config.activation = activation(it, v, span)?;
    }
    if let Some(v) = b.get("dtype") {
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
    Ok((config, device_arg(it, b.get("device"), span)?))
}

/// A library layer made on the host, moved to `device` as `.to(device)` moves it.
fn on_device(it: &Interp<'_>, layer: Box<dyn Layer>, device: Device, span: Span) -> R<Value> {
    let m = ModuleRef::new(ModuleKind::Layer(layer));
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
    let config = EncoderLayerConfig::new(
        count(it, &b, "d_model", None, span)?,
        count(it, &b, "nhead", None, span)?,
    );
    let (config, device) = layer_config(it, &b, name, config, span)?;
    let layer: Box<dyn Layer> = if name == "TransformerDecoderLayer" {
        TransformerDecoderLayer::new(&it.rt, config).map(|l| Box::new(l) as Box<dyn Layer>)
    } else {
        TransformerEncoderLayer::new(&it.rt, config).map(|l| Box::new(l) as Box<dyn Layer>)
    }
    .map_err(|e| it.fail(span, format!("AssertionError: {e}")))?;
    on_device(it, layer, device, span)
}

/// `nn.Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
/// dim_feedforward=2048, dropout=0.1, activation=F.relu, custom_encoder=None,
/// custom_decoder=None, layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True,
/// device=None, dtype=None)`. A `custom_encoder`/`custom_decoder` (any module PyTorch then
/// calls) is refused.
pub(super) fn transformer(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    const PARAMS: &[&str] = &[
        "d_model",
        "nhead",
        "num_encoder_layers",
        "num_decoder_layers",
        "dim_feedforward",
        "dropout",
        "activation",
        "custom_encoder",
        "custom_decoder",
        "layer_norm_eps",
        "batch_first",
        "norm_first",
        "bias",
        "device",
        "dtype",
    ];
    let b = bind(it, &args, name, PARAMS, 0, span)?;
    for p in ["custom_encoder", "custom_decoder"] {
        if b.get(p).is_some() {
            return Err(it
                .fail(
                    span,
                    format!("nn.Transformer({p}=...) is not supported in scenarios"),
                )
                .with_help("build the encoder and decoder with nn.TransformerEncoder and nn.TransformerDecoder and call them yourself"));
        }
    }
    let config = EncoderLayerConfig::new(
        count(it, &b, "d_model", Some(512), span)?,
        count(it, &b, "nhead", Some(8), span)?,
    );
    let (config, device) = layer_config(it, &b, name, config, span)?;
    let encoders = count(it, &b, "num_encoder_layers", Some(6), span)?;
    let decoders = count(it, &b, "num_decoder_layers", Some(6), span)?;
    let model = Transformer::new(&it.rt, config, encoders, decoders)
        .map_err(|e| it.fail(span, format!("AssertionError: {e}")))?;
    on_device(it, Box::new(model), device, span)
}

/// `nn.Transformer.generate_square_subsequent_mask(sz, device=None, dtype=None)`, a static
/// method (also read through an instance).
pub(super) fn generate_square_subsequent_mask(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["sz", "device", "dtype"], 1, span)?;
    let sz = count(it, &b, "sz", None, span)?;
    let device = device_arg(it, b.get("device"), span)?;
    let dtype = dtype_arg(it, b.get("dtype"), DType::F32, span)?;
    crate::nn::generate_square_subsequent_mask(&it.rt, sz, device, dtype)
        .map(Value::Tensor)
        .map_err(|e| it.tensor_error(span, e))
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
    let n = count(it, &b, "num_layers", None, span)?;
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
