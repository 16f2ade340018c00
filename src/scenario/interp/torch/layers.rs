//! The layer modules (`nn.Conv1d`/`Conv2d`, the pooling modules, `nn.BatchNorm1d`/`2d`,
//! `nn.LayerNorm`, `nn.Embedding`, `nn.LeakyReLU`, `nn.ELU`) and their `F.*` forms, with
//! PyTorch's parameter names and defaults; and the layers of several inputs or outputs
//! (`nn.RNN`, `nn.LSTM`): their constructors, and calls that pass Python values (tuples,
//! `None`) to the module's [`crate::nn::Module::call`] and back. Their entries are in `nn.rs`'s
//! tables.

use std::rc::Rc;

use super::super::args::{Bound, CallArgs};
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{
    bind, check_rt, device_arg, expect_bool, expect_float, expect_int, expect_tensor,
};
use crate::base::Device;
use crate::nn::{
    BatchNorm, Conv, Embedding, GroupNorm, Io, Layer, LayerFn, LayerNorm, Module, Pool, PoolKind,
    Rnn, RnnConfig, RnnMode, Stateless,
};
use crate::scenario::Span;
use crate::tensor::{BatchNormOptions, ConvOptions, ConvPadding, PoolOptions, SdpaOptions, Tensor};

/// An int, or a tuple or list of `dims` ints, as `_single`/`_pair` read them.
fn sizes(it: &Interp<'_>, v: &Value, what: &str, dims: usize, span: Span) -> R<Vec<usize>> {
    let items: Vec<Value> = match v {
        Value::Tuple(t) => t.as_ref().clone(),
        Value::List(l) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        one => vec![one.clone(); dims],
    };
    if items.len() != dims {
        return Err(it.fail(
            span,
            format!(
                "RuntimeError: expected {what} to be a single integer value or a list of {dims} values, but got {} values",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .map(|v| {
            let n = expect_int(it, v, what, span)?;
            usize::try_from(n).map_err(|_| {
                it.fail(
                    span,
                    format!("RuntimeError: {what} must be non-negative, but got {n}"),
                )
            })
        })
        .collect()
}

pub(super) fn pair(it: &Interp<'_>, v: &Value, what: &str, span: Span) -> R<[usize; 2]> {
    let v = sizes(it, v, what, 2, span)?;
    Ok([v[0], v[1]])
}

/// An optional int argument, `None` when absent or `None`.
fn opt_int(it: &Interp<'_>, b: &Bound, name: &str, span: Span) -> R<Option<i64>> {
    b.get(name)
        .map(|v| expect_int(it, v, name, span))
        .transpose()
}

pub(super) fn float_or(it: &Interp<'_>, b: &Bound, name: &str, default: f64, span: Span) -> R<f64> {
    b.get(name)
        .map_or(Ok(default), |v| expect_float(it, v, name, span))
}

pub(super) fn opt_tensor(it: &Interp<'_>, b: &Bound, name: &str, span: Span) -> R<Option<Tensor>> {
    b.get(name)
        .map(|v| expect_tensor(it, Some(v), name, span))
        .transpose()
}

fn refuse_inplace(it: &Interp<'_>, b: &Bound, what: &str, span: Span) -> R<()> {
    if expect_bool(it, b.get("inplace"), false, "inplace", span)? {
        return Err(it
            .fail(
                span,
                format!("{what}(inplace=True) is not supported in scenarios"),
            )
            .with_help("use the default inplace=False"));
    }
    Ok(())
}

/// `stride`, `padding` (ints or `'same'`/`'valid'`), `dilation` and `groups` of a convolution.
pub(super) fn conv_options(it: &Interp<'_>, b: &Bound, dims: usize, span: Span) -> R<ConvOptions> {
    let mut o = ConvOptions::new(dims);
    if let Some(v) = b.get("stride") {
        o.stride = sizes(it, v, "stride", dims, span)?;
    }
    if let Some(v) = b.get("dilation") {
        o.dilation = sizes(it, v, "dilation", dims, span)?;
    }
    if let Some(v) = b.get("groups") {
        let g = expect_int(it, v, "groups", span)?;
        o.groups = usize::try_from(g)
            .map_err(|_| it.fail(span, "RuntimeError: non-positive groups is not supported"))?;
    }
    o.padding = match b.get("padding") {
        None => ConvPadding::Explicit(vec![0; dims]),
        Some(Value::Str(s)) => match s.as_ref() {
            "same" => ConvPadding::Same,
            "valid" => ConvPadding::Valid,
            other => {
                return Err(it.fail(
                    span,
                    format!(
                        "ValueError: Invalid padding string '{other}', should be one of {{'valid', 'same'}}"
                    ),
                ))
            }
        },
        Some(v) => ConvPadding::Explicit(sizes(it, v, "padding", dims, span)?),
    };
    Ok(o)
}

/// `kernel_size`, `stride`, `padding`, `dilation` and `ceil_mode` of a 2-d pooling.
fn pool_options(it: &Interp<'_>, b: &Bound, span: Span) -> R<PoolOptions> {
    let kernel = pair(
        it,
        b.raw("kernel_size").unwrap_or(&Value::None),
        "kernel_size",
        span,
    )?;
    let mut o = PoolOptions::new(kernel);
    if let Some(v) = b.get("stride") {
        // `stride=[]` is PyTorch's "the kernel size" too.
        let empty = matches!(v, Value::List(l) if l.borrow().is_empty())
            || matches!(v, Value::Tuple(t) if t.is_empty());
        if !empty {
            o.stride = Some(pair(it, v, "stride", span)?);
        }
    }
    if let Some(v) = b.get("padding") {
        o.padding = pair(it, v, "padding", span)?;
    }
    if let Some(v) = b.get("dilation") {
        o.dilation = pair(it, v, "dilation", span)?;
    }
    o.ceil_mode = expect_bool(it, b.get("ceil_mode"), false, "ceil_mode", span)?;
    Ok(o)
}

/// `count_include_pad` and `divisor_override` of an average pooling.
fn avg_extra(it: &Interp<'_>, b: &Bound, span: Span) -> R<(bool, Option<usize>)> {
    let include = expect_bool(
        it,
        b.get("count_include_pad"),
        true,
        "count_include_pad",
        span,
    )?;
    let divisor = match opt_int(it, b, "divisor_override", span)? {
        Some(d) if d <= 0 => return Err(it.fail(span, "RuntimeError: divisor must be not zero")),
        d => d.map(|d| d as usize),
    };
    Ok((include, divisor))
}

fn output_size(it: &Interp<'_>, v: &Value, span: Span) -> R<[usize; 2]> {
    let has_none = match v {
        Value::Tuple(t) => t.iter().any(|v| matches!(v, Value::None)),
        Value::List(l) => l.borrow().iter().any(|s| matches!(s.value, Value::None)),
        _ => false,
    };
    if has_none {
        return Err(it
            .fail(
                span,
                "adaptive_avg_pool2d with None in output_size is not supported in scenarios",
            )
            .with_help("give both output sizes"));
    }
    pair(it, v, "output_size", span)
}

const CONV: &[&str] = &[
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
    "padding_mode",
    "device",
    "dtype",
];
pub(super) const MAX_POOL: &[&str] = &[
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "return_indices",
    "ceil_mode",
];
const AVG_POOL: &[&str] = &[
    "kernel_size",
    "stride",
    "padding",
    "ceil_mode",
    "count_include_pad",
    "divisor_override",
];
/// `F.max_pool2d`'s order differs from the module's: `ceil_mode` before `return_indices`.
pub(super) const F_MAX_POOL: &[&str] = &[
    "input",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "ceil_mode",
    "return_indices",
];
const F_AVG_POOL: &[&str] = &[
    "input",
    "kernel_size",
    "stride",
    "padding",
    "ceil_mode",
    "count_include_pad",
    "divisor_override",
];
const BATCH_NORM: &[&str] = &[
    "num_features",
    "eps",
    "momentum",
    "affine",
    "track_running_stats",
    "device",
    "dtype",
    "bias",
];
const LAYER_NORM: &[&str] = &[
    "normalized_shape",
    "eps",
    "elementwise_affine",
    "bias",
    "device",
    "dtype",
];
const GROUP_NORM: &[&str] = &[
    "num_groups",
    "num_channels",
    "eps",
    "affine",
    "device",
    "dtype",
    "bias",
];
const EMBEDDING: &[&str] = &[
    "num_embeddings",
    "embedding_dim",
    "padding_idx",
    "max_norm",
    "norm_type",
    "scale_grad_by_freq",
    "sparse",
    "_weight",
    "_freeze",
    "device",
    "dtype",
];

pub(super) fn count(it: &Interp<'_>, b: &Bound, name: &str, span: Span) -> R<usize> {
    let n = expect_int(it, b.raw(name).unwrap_or(&Value::None), name, span)?;
    usize::try_from(n).map_err(|_| {
        it.fail(
            span,
            "RuntimeError: Trying to create tensor with negative dimension",
        )
    })
}

/// An argument, whether a value is its supported default, and that default as written.
type DefaultOnly = (&'static str, fn(&Value) -> bool, &'static str);

/// The arguments only their defaults are supported for (`padding_mode='zeros'`, `dtype=None`,
/// `max_norm=None`, `sparse=False`, ...).
pub(super) fn refuse_non_default(it: &Interp<'_>, b: &Bound, class: &str, span: Span) -> R<()> {
    let checks: [DefaultOnly; 6] = [
        (
            "padding_mode",
            |v| matches!(v, Value::Str(s) if s.as_ref() == "zeros"),
            "'zeros'",
        ),
        (
            "dtype",
            |v| matches!(v, Value::None | Value::DType(crate::base::DType::F32)),
            "None",
        ),
        ("max_norm", |v| matches!(v, Value::None), "None"),
        ("sparse", |v| matches!(v, Value::Bool(false)), "False"),
        (
            "scale_grad_by_freq",
            |v| matches!(v, Value::Bool(false)),
            "False",
        ),
        ("_weight", |v| matches!(v, Value::None), "None"),
    ];
    for (name, ok, default) in checks {
        if b.raw(name).is_some_and(|v| !ok(v)) {
            return Err(it
                .fail(
                    span,
                    format!("{class}({name}=...) is not supported in scenarios"),
                )
                .with_help(format!("use the default {name}={default}")));
        }
    }
    Ok(())
}

/// `nn.Conv1d`, `nn.Conv2d`, `nn.MaxPool2d`, `nn.AvgPool2d`, `nn.AdaptiveAvgPool2d`,
/// `nn.BatchNorm1d`, `nn.BatchNorm2d`, `nn.LayerNorm`, `nn.GroupNorm`, `nn.Embedding`: created on the host
/// and moved when `device='cuda'`, as PyTorch's factory arguments place them.
pub(super) fn layer_class(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let rt = it.rt.clone();
    let (layer, device): (Box<dyn Layer>, Device) = match name {
        "Conv1d" | "Conv2d" => {
            let dims = if name == "Conv1d" { 1 } else { 2 };
            let b = bind(it, &args, name, CONV, 3, span)?;
            refuse_non_default(it, &b, name, span)?;
            let channels = (
                count(it, &b, "in_channels", span)?,
                count(it, &b, "out_channels", span)?,
            );
            let kernel = sizes(
                it,
                b.raw("kernel_size").unwrap_or(&Value::None),
                "kernel_size",
                dims,
                span,
            )?;
            let options = conv_options(it, &b, dims, span)?;
            let g = options.groups;
            if g == 0 || channels.0 % g != 0 || channels.1 % g != 0 {
                let which = if g != 0 && channels.0 % g == 0 {
                    "out_channels"
                } else {
                    "in_channels"
                };
                return Err(it.fail(
                    span,
                    if g == 0 {
                        "ValueError: groups must be a positive integer".to_string()
                    } else {
                        format!("ValueError: {which} must be divisible by groups")
                    },
                ));
            }
            let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
            let device = device_arg(it, b.get("device"), span)?;
            let conv = Conv::new(&rt, channels, &kernel, options, bias)
                .map_err(|e| it.tensor_error(span, e))?;
            (Box::new(conv), device)
        }
        "MaxPool2d" | "AvgPool2d" => {
            let params = if name == "MaxPool2d" {
                MAX_POOL
            } else {
                AVG_POOL
            };
            let b = bind(it, &args, name, params, 1, span)?;
            let options = pool_options(it, &b, span)?;
            let kind = if name == "MaxPool2d" {
                if expect_bool(it, b.get("return_indices"), false, "return_indices", span)? {
                    return Err(it.fail(
                        span,
                        "nn.MaxPool2d(return_indices=True) is not supported in scenarios",
                    ));
                }
                PoolKind::Max(options)
            } else {
                let (count_include_pad, divisor_override) = avg_extra(it, &b, span)?;
                PoolKind::Avg {
                    options,
                    count_include_pad,
                    divisor_override,
                }
            };
            (Box::new(Pool::new(kind)), Device::Cpu)
        }
        "AdaptiveAvgPool2d" => {
            let b = bind(it, &args, name, &["output_size"], 1, span)?;
            let size = output_size(it, b.raw("output_size").unwrap_or(&Value::None), span)?;
            (
                Box::new(Pool::new(PoolKind::AdaptiveAvg(size))),
                Device::Cpu,
            )
        }
        "BatchNorm1d" | "BatchNorm2d" => {
            let b = bind(it, &args, name, BATCH_NORM, 1, span)?;
            refuse_non_default(it, &b, name, span)?;
            let features = count(it, &b, "num_features", span)?;
            let eps = float_or(it, &b, "eps", 1e-5, span)?;
            let momentum = match b.raw("momentum") {
                Some(Value::None) => None,
                Some(v) => Some(expect_float(it, v, "momentum", span)?),
                None => Some(0.1),
            };
            let affine = expect_bool(it, b.get("affine"), true, "affine", span)?;
            let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
            let track = expect_bool(
                it,
                b.get("track_running_stats"),
                true,
                "track_running_stats",
                span,
            )?;
            let device = device_arg(it, b.get("device"), span)?;
            let dims = if name == "BatchNorm1d" { 1 } else { 2 };
            let bn = BatchNorm::new(&rt, dims, features, (eps, momentum), [affine, bias], track)
                .map_err(|e| it.tensor_error(span, e))?;
            (Box::new(bn), device)
        }
        "LayerNorm" => {
            let b = bind(it, &args, name, LAYER_NORM, 1, span)?;
            refuse_non_default(it, &b, name, span)?;
            let shape = match b.raw("normalized_shape") {
                Some(v @ (Value::Tuple(_) | Value::List(_))) => {
                    let n = match v {
                        Value::Tuple(t) => t.len(),
                        Value::List(l) => l.borrow().len(),
                        _ => 0,
                    };
                    sizes(it, v, "normalized_shape", n, span)?
                }
                Some(v) => sizes(it, v, "normalized_shape", 1, span)?,
                None => Vec::new(),
            };
            let eps = float_or(it, &b, "eps", 1e-5, span)?;
            let affine = expect_bool(
                it,
                b.get("elementwise_affine"),
                true,
                "elementwise_affine",
                span,
            )?;
            let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
            let device = device_arg(it, b.get("device"), span)?;
            let ln = LayerNorm::new(&rt, &shape, eps, affine, bias)
                .map_err(|e| it.tensor_error(span, e))?;
            (Box::new(ln), device)
        }
        "GroupNorm" => {
            let b = bind(it, &args, name, GROUP_NORM, 2, span)?;
            refuse_non_default(it, &b, name, span)?;
            let groups = count(it, &b, "num_groups", span)?;
            let channels = count(it, &b, "num_channels", span)?;
            // The constructor's own check, in Python: `num_channels % num_groups != 0`.
            if groups == 0 {
                return Err(it.fail(span, "ZeroDivisionError: integer modulo by zero"));
            }
            if channels % groups != 0 {
                return Err(it.fail(span, format!("ValueError: num_channels ({channels}) must be divisible by num_groups ({groups})")));
            }
            let eps = float_or(it, &b, "eps", 1e-5, span)?;
            let affine = expect_bool(it, b.get("affine"), true, "affine", span)?;
            let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
            let device = device_arg(it, b.get("device"), span)?;
            let gn = GroupNorm::new(&rt, groups, channels, eps, [affine, bias])
                .map_err(|e| it.tensor_error(span, e))?;
            (Box::new(gn), device)
        }
        _ => {
            let b = bind(it, &args, name, EMBEDDING, 2, span)?;
            refuse_non_default(it, &b, name, span)?;
            let rows = count(it, &b, "num_embeddings", span)?;
            let dim = count(it, &b, "embedding_dim", span)?;
            let padding_idx = opt_int(it, &b, "padding_idx", span)?;
            let device = device_arg(it, b.get("device"), span)?;
            let e = Embedding::new(&rt, rows, dim, padding_idx).map_err(|e| {
                let message = e.to_string();
                it.fail(span, format!("AssertionError: {message}"))
            })?;
            (Box::new(e), device)
        }
    };
    let m = ModuleRef::new(ModuleKind::Layer(layer));
    if device == Device::Cuda {
        m.to(device).map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Module(m))
}

/// `nn.LeakyReLU(negative_slope=0.01, inplace=False)`, `nn.ELU(alpha=1.0, inplace=False)`,
/// `nn.Softplus(beta=1.0, threshold=20.0)`.
pub(super) fn activation_class(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let function = if name == "LeakyReLU" {
        let b = bind(it, &args, name, &["negative_slope", "inplace"], 0, span)?;
        refuse_inplace(it, &b, "nn.LeakyReLU", span)?;
        LayerFn::LeakyRelu {
            negative_slope: float_or(it, &b, "negative_slope", 0.01, span)?,
        }
    } else if name == "Softplus" {
        let b = bind(it, &args, name, &["beta", "threshold"], 0, span)?;
        LayerFn::Softplus {
            beta: float_or(it, &b, "beta", 1.0, span)?,
            threshold: float_or(it, &b, "threshold", 20.0, span)?,
        }
    } else {
        let b = bind(it, &args, name, &["alpha", "inplace"], 0, span)?;
        refuse_inplace(it, &b, "nn.ELU", span)?;
        LayerFn::Elu {
            alpha: float_or(it, &b, "alpha", 1.0, span)?,
        }
    };
    Ok(Value::Module(ModuleRef::new(ModuleKind::Stateless(
        Stateless::new(function),
    ))))
}

/// `F.conv1d` / `F.conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1,
/// groups=1)`.
pub(super) fn conv(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(
        it,
        &args,
        name,
        &[
            "input", "weight", "bias", "stride", "padding", "dilation", "groups",
        ],
        2,
        span,
    )?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let weight = expect_tensor(it, b.raw("weight"), "weight", span)?;
    let bias = opt_tensor(it, &b, "bias", span)?;
    let dims = if name == "conv1d" { 1 } else { 2 };
    let options = conv_options(it, &b, dims, span)?;
    let r = if dims == 1 {
        input.conv1d(&weight, bias.as_ref(), &options)
    } else {
        input.conv2d(&weight, bias.as_ref(), &options)
    };
    check_rt(it, r, span)
}

/// `F.max_pool2d`, `F.avg_pool2d`, `F.adaptive_avg_pool2d`.
pub(super) fn pool(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let r = match name {
        "max_pool2d" => {
            let b = bind(it, &args, name, F_MAX_POOL, 2, span)?;
            if expect_bool(it, b.get("return_indices"), false, "return_indices", span)? {
                return Err(it.fail(
                    span,
                    "F.max_pool2d(return_indices=True) is not supported in scenarios",
                ));
            }
            let input = expect_tensor(it, b.raw("input"), "input", span)?;
            input.max_pool2d(&pool_options(it, &b, span)?)
        }
        "avg_pool2d" => {
            let b = bind(it, &args, name, F_AVG_POOL, 2, span)?;
            let input = expect_tensor(it, b.raw("input"), "input", span)?;
            let options = pool_options(it, &b, span)?;
            let (include, divisor) = avg_extra(it, &b, span)?;
            input.avg_pool2d(&options, include, divisor)
        }
        _ => {
            let b = bind(it, &args, name, &["input", "output_size"], 2, span)?;
            let input = expect_tensor(it, b.raw("input"), "input", span)?;
            let size = output_size(it, b.raw("output_size").unwrap_or(&Value::None), span)?;
            input.adaptive_avg_pool2d(size)
        }
    };
    check_rt(it, r, span)
}

/// `F.batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
/// momentum=0.1, eps=1e-05)`.
pub(super) fn batch_norm(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(
        it,
        &args,
        name,
        &[
            "input",
            "running_mean",
            "running_var",
            "weight",
            "bias",
            "training",
            "momentum",
            "eps",
        ],
        3,
        span,
    )?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let rm = opt_tensor(it, &b, "running_mean", span)?;
    let rv = opt_tensor(it, &b, "running_var", span)?;
    let weight = opt_tensor(it, &b, "weight", span)?;
    let bias = opt_tensor(it, &b, "bias", span)?;
    let options = BatchNormOptions {
        training: expect_bool(it, b.get("training"), false, "training", span)?,
        momentum: float_or(it, &b, "momentum", 0.1, span)?,
        eps: float_or(it, &b, "eps", 1e-5, span)?,
    };
    let r = input.batch_norm(
        [rm.as_ref(), rv.as_ref()],
        weight.as_ref(),
        bias.as_ref(),
        options,
    );
    check_rt(it, r, span)
}

/// `F.embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
/// scale_grad_by_freq=False, sparse=False)`.
pub(super) fn embedding(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(
        it,
        &args,
        name,
        &[
            "input",
            "weight",
            "padding_idx",
            "max_norm",
            "norm_type",
            "scale_grad_by_freq",
            "sparse",
        ],
        2,
        span,
    )?;
    refuse_non_default(it, &b, "F.embedding", span)?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let weight = expect_tensor(it, b.raw("weight"), "weight", span)?;
    let padding_idx = opt_int(it, &b, "padding_idx", span)?;
    check_rt(it, Tensor::embedding(&weight, &input, padding_idx), span)
}

/// `F.leaky_relu(input, negative_slope=0.01, inplace=False)`, `F.elu(input, alpha=1.0,
/// inplace=False)`.
pub(super) fn activation(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let (param, default) = if name == "leaky_relu" {
        ("negative_slope", 0.01)
    } else {
        ("alpha", 1.0)
    };
    let params: &'static [&'static str] = if name == "leaky_relu" {
        &["input", "negative_slope", "inplace"]
    } else {
        &["input", "alpha", "inplace"]
    };
    let b = bind(it, &args, name, params, 1, span)?;
    refuse_inplace(it, &b, &format!("F.{name}"), span)?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let value = float_or(it, &b, param, default, span)?;
    let r = if name == "leaky_relu" {
        input.leaky_relu(value)
    } else {
        input.elu(value)
    };
    check_rt(it, r, span)
}

/// `nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
/// batch_first=False, dropout=0.0, bidirectional=False, device=None)` and `nn.LSTM` (no
/// `nonlinearity`; `proj_size` is refused).
pub(super) fn recurrent_module(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    const RNN: &[&str] = &[
        "input_size",
        "hidden_size",
        "num_layers",
        "nonlinearity",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "device",
    ];
    const LSTM: &[&str] = &[
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "proj_size",
        "device",
    ];
    // nn.GRU takes LSTM's arguments but proj_size.
    const GRU: &[&str] = &[
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "device",
    ];
    let lstm = name == "LSTM";
    let params = match name {
        "LSTM" => LSTM,
        "GRU" => GRU,
        _ => RNN,
    };
    let b = bind(it, &args, name, params, 2, span)?;
    let size = |it: &Interp<'_>, p: &str, default: i64| -> R<usize> {
        let v = match b.get(p) {
            Some(v) => expect_int(it, v, p, span)?,
            None => default,
        };
        usize::try_from(v).map_err(|_| {
            it.fail(
                span,
                format!("ValueError: {p} must be a non-negative integer, got {v}"),
            )
        })
    };
    let mut config = RnnConfig::new(size(it, "input_size", 0)?, size(it, "hidden_size", 0)?);
    config.num_layers = size(it, "num_layers", 1)?;
    config.bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
    config.batch_first = expect_bool(it, b.get("batch_first"), false, "batch_first", span)?;
    config.bidirectional = expect_bool(it, b.get("bidirectional"), false, "bidirectional", span)?;
    config.dropout = match b.get("dropout") {
        Some(v) => expect_float(it, v, "dropout", span)?,
        None => 0.0,
    };
    if lstm && size(it, "proj_size", 0)? != 0 {
        return Err(it
            .fail(span, "nn.LSTM(proj_size=...) is not supported in scenarios")
            .with_help("use the default proj_size=0"));
    }
    let mode = if lstm {
        RnnMode::Lstm
    } else if name == "GRU" {
        RnnMode::Gru
    } else {
        match b.get("nonlinearity") {
            None => RnnMode::Tanh,
            Some(Value::Str(s)) if s.as_ref() == "tanh" => RnnMode::Tanh,
            Some(Value::Str(s)) if s.as_ref() == "relu" => RnnMode::Relu,
            Some(other) => {
                return Err(it.fail(
                    span,
                    format!(
                        "ValueError: Unknown nonlinearity '{}'. Select from 'tanh' or 'relu'.",
                        super::super::value::repr(other).trim_matches('\'')
                    ),
                ))
            }
        }
    };
    let device = device_arg(it, b.get("device"), span)?;
    let rnn = Rnn::new(&it.rt, mode, config).map_err(|e| it.tensor_error(span, e))?;
    let m = ModuleRef::new(ModuleKind::Recurrent(rnn));
    if device == Device::Cuda {
        m.to(device).map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Module(m))
}

fn to_io(it: &Interp<'_>, v: &Value, span: Span) -> R<Io> {
    Ok(match v {
        Value::None => Io::None,
        Value::Bool(b) => Io::Bool(*b),
        Value::Tensor(t) => Io::Tensor(t.clone()),
        Value::Tuple(items) => Io::Tuple(
            items
                .iter()
                .map(|v| to_io(it, v, span))
                .collect::<R<Vec<_>>>()?,
        ),
        other => {
            return Err(it.fail(
                span,
                format!(
                    "TypeError: expected a tensor, a tuple of tensors or None, got {}",
                    other.type_name()
                ),
            ))
        }
    })
}

fn from_io(io: Io) -> Value {
    match io {
        Io::None => Value::None,
        Io::Bool(b) => Value::Bool(b),
        Io::Tensor(t) => Value::Tensor(t),
        Io::Tuple(items) => Value::Tuple(Rc::new(items.into_iter().map(from_io).collect())),
    }
}

/// `module(*args)` through [`Module::call`]: positional arguments and the module's own
/// keyword (`hx` for the recurrent layers).
pub(super) fn call_with_values(
    it: &mut Interp<'_>,
    module: &dyn Module,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let params = module.call_params();
    let b = bind(it, &args, name, params, 1, span)?;
    let given = params.iter().rposition(|p| b.raw(p).is_some()).unwrap_or(0);
    let inputs = params[..=given]
        .iter()
        .map(|p| to_io(it, b.raw(p).unwrap_or(&Value::None), span))
        .collect::<R<Vec<_>>>()?;
    let out = module.call(&inputs).map_err(|e| it.tensor_error(span, e))?;
    Ok(from_io(out))
}

/// `F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
/// is_causal=False, scale=None, enable_gqa=False)` on the math path
/// ([`Tensor::scaled_dot_product_attention_with`]); grouped queries are refused.
pub(super) fn scaled_dot_product_attention(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(
        it,
        &args,
        name,
        &[
            "query",
            "key",
            "value",
            "attn_mask",
            "dropout_p",
            "is_causal",
            "scale",
            "enable_gqa",
        ],
        3,
        span,
    )?;
    if expect_bool(it, b.get("enable_gqa"), false, "enable_gqa", span)? {
        return Err(it
            .fail(
                span,
                "scaled_dot_product_attention(enable_gqa=True) is not supported in scenarios",
            )
            .with_help("repeat the key and value heads to the query's"));
    }
    let scale = match b.get("scale") {
        Some(v) => Some(expect_float(it, v, "scale", span)?),
        None => None,
    };
    let dropout_p = match b.get("dropout_p") {
        Some(v) => expect_float(it, v, "dropout_p", span)?,
        None => 0.0,
    };
    let is_causal = expect_bool(it, b.get("is_causal"), false, "is_causal", span)?;
    let attn_mask = match b.get("attn_mask") {
        None | Some(Value::None) => None,
        Some(v) => Some(expect_tensor(it, Some(v), "attn_mask", span)?),
    };
    let q = expect_tensor(it, b.get("query"), "query", span)?;
    let k = expect_tensor(it, b.get("key"), "key", span)?;
    let v = expect_tensor(it, b.get("value"), "value", span)?;
    let options = SdpaOptions {
        attn_mask: attn_mask.as_ref(),
        dropout_p,
        is_causal,
        scale,
    };
    let r = Tensor::scaled_dot_product_attention_with(&q, &k, &v, &options);
    check_rt(it, r, span)
}
