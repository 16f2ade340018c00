//! `x[index]` and `x[index] = value` on a tensor: the Python index turned into
//! [`Indexer`]s (integers, slices, `None`, `...`, tensors, lists of integers or bools) for
//! [`Tensor::getitem`] and [`Tensor::setitem`], which dispatch as PyTorch does.

use super::values::{scalar, tensor_index};
use crate::scenario::interp::value::Value;
use crate::scenario::interp::{Interp, R};
use crate::scenario::Span;
use crate::tensor::{list_index, Indexer, SetValue, Tensor, TensorError};

/// Why a subscript failed: an index or value scenarios cannot express (a Python message), or
/// the tensor operation's error.
pub(in super::super) enum SubscriptError {
    Message(String),
    Tensor(TensorError),
}

impl From<TensorError> for SubscriptError {
    fn from(e: TensorError) -> SubscriptError {
        SubscriptError::Tensor(e)
    }
}

/// One item of the index.
fn item(t: &Tensor, v: &Value) -> Result<Indexer, SubscriptError> {
    match v {
        Value::Tensor(i) => Ok(Indexer::Tensor(i.clone())),
        Value::List(l) => {
            let items = l.borrow();
            let bools =
                !items.is_empty() && items.iter().all(|s| matches!(s.value, Value::Bool(_)));
            let mut values = Vec::with_capacity(items.len());
            for s in items.iter() {
                match s.value {
                    Value::Int(i) => values.push(i),
                    Value::Bool(b) => values.push(b as i64),
                    ref other => {
                        return Err(SubscriptError::Message(format!(
                            "RuntimeError: indexing a tensor with a list of {} is not supported in scenarios yet",
                            other.type_name()
                        )))
                    }
                }
            }
            Ok(Indexer::Tensor(list_index(t, &values, bools)?))
        }
        other => {
            let (mut basic, _) = tensor_index(other).map_err(SubscriptError::Message)?;
            Ok(Indexer::Basic(basic.remove(0)))
        }
    }
}

/// The items of `idx` and whether it was a tuple.
fn items(t: &Tensor, idx: &Value) -> Result<(Vec<Indexer>, bool), SubscriptError> {
    match idx {
        Value::Tuple(vs) => Ok((
            vs.iter().map(|v| item(t, v)).collect::<Result<_, _>>()?,
            true,
        )),
        other => Ok((vec![item(t, other)?], false)),
    }
}

/// `t[idx]`.
pub(in super::super) fn tensor_getitem(t: &Tensor, idx: &Value) -> Result<Tensor, SubscriptError> {
    let (items, is_tuple) = items(t, idx)?;
    Ok(t.getitem(&items, is_tuple)?)
}

/// `t[idx] = value`.
pub(in super::super) fn tensor_setitem(
    t: &Tensor,
    idx: &Value,
    value: &Value,
) -> Result<(), SubscriptError> {
    let value = match value {
        Value::Tensor(v) => SetValue::Tensor(v.clone()),
        other => match scalar(other) {
            Some(s) => SetValue::Scalar(s),
            None => {
                return Err(SubscriptError::Message(format!(
                    "TypeError: can't assign a {} to a torch.FloatTensor",
                    other.type_name()
                )))
            }
        },
    };
    let (items, _) = items(t, idx)?;
    Ok(t.setitem(&items, &value)?)
}

impl Interp<'_> {
    /// A subscript's outcome as the interpreter's failure at `span`.
    pub(in super::super) fn subscript_result<T>(
        &self,
        r: Result<T, SubscriptError>,
        span: Span,
    ) -> R<T> {
        r.map_err(|e| match e {
            SubscriptError::Message(m) => self.fail(span, m),
            SubscriptError::Tensor(e) => self.tensor_error(span, e),
        })
    }
}
