//! The `torch.nn` layers of several inputs or outputs (`nn.RNN`, `nn.LSTM`): their
//! constructors, and calls that pass Python values (tuples, `None`) to the module's
//! [`crate::nn::Module::call`] and back.

use std::rc::Rc;

use super::super::args::CallArgs;
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, device_arg, expect_bool, expect_float, expect_int};
use crate::base::Device;
use crate::nn::{Io, Module, Rnn, RnnConfig, RnnMode};
use crate::scenario::Span;

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
