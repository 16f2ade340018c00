//! `torch.nn.utils.rnn`: `pad_sequence` (`Tensor::pad_sequence`, `src/tensor/pad_sequence.rs`).

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, expect_bool, expect_float, expect_tensor};
use super::{entry, Function, Run};
use crate::scenario::Span;
use crate::tensor::{PaddingSide, Tensor};

/// `torch.nn.utils.rnn`.
pub(super) const RNN_UTILS: &[Function] = &[entry("pad_sequence", Run::Call(pad_sequence))];

/// `pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right")`.
fn pad_sequence(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    const PARAMS: &[&str] = &["sequences", "batch_first", "padding_value", "padding_side"];
    let b = bind(it, &args, name, PARAMS, 1, span)?;
    let items: Vec<Value> = match b.raw("sequences") {
        Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        Some(Value::Tuple(t)) => t.to_vec(),
        Some(other) => {
            return Err(it.fail(
                span,
                format!(
                    "RuntimeError: pad_sequence: Expected iterable for input sequences, but got arg of type: <class '{}'>",
                    other.type_name()
                ),
            ))
        }
        None => Vec::new(),
    };
    let sequences: Vec<Tensor> = items
        .iter()
        .map(|v| expect_tensor(it, Some(v), "sequences", span))
        .collect::<R<_>>()?;
    let batch_first = expect_bool(it, b.get("batch_first"), false, "batch_first", span)?;
    let padding_value = match b.get("padding_value") {
        None | Some(Value::None) => 0.0,
        Some(v) => expect_float(it, v, "padding_value", span)?,
    };
    let side = match b.get("padding_side") {
        None | Some(Value::None) => Ok(PaddingSide::Right),
        Some(Value::Str(s)) => s.parse::<PaddingSide>(),
        Some(other) => {
            return Err(it.fail(
                span,
                format!(
                    "TypeError: padding_side must be str, not {}",
                    other.type_name()
                ),
            ))
        }
    };
    let r =
        side.and_then(|side| Tensor::pad_sequence(&sequences, batch_first, padding_value, side));
    check_rt(it, r, span)
}
