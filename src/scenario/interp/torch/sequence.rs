//! The `torch.nn` layers of several inputs or outputs (`nn.RNN`, `nn.LSTM`) and attention: their
//! constructors, and calls that pass Python values (tuples, `None`) to the module's
//! [`crate::nn::Module::call`] and back.

use std::rc::Rc;

use super::super::args::CallArgs;
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{
    bind, check_rt, device_arg, expect_bool, expect_float, expect_int, expect_tensor,
};
use crate::base::Device;
use crate::nn::{Io, Module, Rnn, RnnConfig, RnnMode};
use crate::scenario::Span;
use crate::tensor::Tensor;

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
    let lstm = name == "LSTM";
    let b = bind(it, &args, name, if lstm { LSTM } else { RNN }, 2, span)?;
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
    let b = bind(it, &args, name, &["input", "hx"], 1, span)?;
    let mut inputs = vec![to_io(it, b.raw("input").unwrap_or(&Value::None), span)?];
    if let Some(hx) = b.raw("hx") {
        inputs.push(to_io(it, hx, span)?);
    }
    let out = module.call(&inputs).map_err(|e| it.tensor_error(span, e))?;
    Ok(from_io(out))
}

/// `F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
/// is_causal=False, scale=None, enable_gqa=False)` on the math path
/// ([`Tensor::scaled_dot_product_attention`]); a mask, dropout, a causal mask and grouped
/// queries are refused.
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
    let refused = |what: &str| {
        it.fail(
            span,
            format!("scaled_dot_product_attention({what}) is not supported in scenarios"),
        )
        .with_help("the math path without a mask or dropout is modelled")
    };
    if b.get("attn_mask").is_some() {
        return Err(refused("attn_mask=..."));
    }
    if b.get("dropout_p").is_some()
        && expect_float(
            it,
            b.get("dropout_p").unwrap_or(&Value::None),
            "dropout_p",
            span,
        )? != 0.0
    {
        return Err(refused("dropout_p > 0"));
    }
    if expect_bool(it, b.get("is_causal"), false, "is_causal", span)? {
        return Err(refused("is_causal=True"));
    }
    if expect_bool(it, b.get("enable_gqa"), false, "enable_gqa", span)? {
        return Err(refused("enable_gqa=True"));
    }
    let scale = match b.get("scale") {
        Some(v) => Some(expect_float(it, v, "scale", span)?),
        None => None,
    };
    let q = expect_tensor(it, b.get("query"), "query", span)?;
    let k = expect_tensor(it, b.get("key"), "key", span)?;
    let v = expect_tensor(it, b.get("value"), "value", span)?;
    let r = Tensor::scaled_dot_product_attention(&q, &k, &v, scale);
    check_rt(it, r, span)
}
