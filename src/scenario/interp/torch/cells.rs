//! `nn.RNNCell`, `nn.LSTMCell` and `nn.GRUCell` constructors, with PyTorch's parameters.

use super::super::args::CallArgs;
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, device_arg, expect_bool, expect_int};
use crate::base::Device;
use crate::nn::{RnnCell, RnnMode};
use crate::scenario::Span;

/// `nn.RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh', device=None)`,
/// `nn.LSTMCell(input_size, hidden_size, bias=True, device=None)`, `nn.GRUCell(...)`.
pub(super) fn cell_class(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    const RNN: &[&str] = &[
        "input_size",
        "hidden_size",
        "bias",
        "nonlinearity",
        "device",
    ];
    const GATED: &[&str] = &["input_size", "hidden_size", "bias", "device"];
    let b = bind(
        it,
        &args,
        name,
        if name == "RNNCell" { RNN } else { GATED },
        2,
        span,
    )?;
    let size = |it: &Interp<'_>, p: &str| -> R<usize> {
        let v = expect_int(it, b.get(p).unwrap_or(&Value::None), p, span)?;
        usize::try_from(v).map_err(|_| {
            it.fail(
                span,
                format!("ValueError: {p} must be a non-negative integer, got {v}"),
            )
        })
    };
    let (input_size, hidden_size) = (size(it, "input_size")?, size(it, "hidden_size")?);
    let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
    let mode = match name {
        "LSTMCell" => RnnMode::Lstm,
        "GRUCell" => RnnMode::Gru,
        _ => match b.get("nonlinearity") {
            None => RnnMode::Tanh,
            Some(Value::Str(s)) if s.as_ref() == "tanh" => RnnMode::Tanh,
            Some(Value::Str(s)) if s.as_ref() == "relu" => RnnMode::Relu,
            Some(other) => {
                return Err(it.fail(
                    span,
                    format!(
                        "ValueError: Unknown nonlinearity: {}",
                        super::super::value::repr(other).trim_matches('\'')
                    ),
                ))
            }
        },
    };
    let device = device_arg(it, b.get("device"), span)?;
    let cell = RnnCell::new(&it.rt, mode, input_size, hidden_size, bias)
        .map_err(|e| it.tensor_error(span, e))?;
    let m = ModuleRef::new(ModuleKind::Layer(Box::new(cell)));
    if device == Device::Cuda {
        m.to(device).map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Module(m))
}
