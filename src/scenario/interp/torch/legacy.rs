//! `torch.Tensor(...)` called as a constructor, the legacy form older code and bug threads use
//! (`nn.Parameter(torch.Tensor(n))` before a `reset_parameters()`): sizes give an uninitialized
//! float32 host tensor (`torch.empty`), a list or tuple gives its values as float32
//! (`torch.tensor(data, dtype=torch.float32)`), no argument an empty one-dimensional tensor.

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::functions::{factory, tensor_from_data};
use crate::base::DType;
use crate::scenario::Span;

/// `torch.Tensor(*sizes)`, `torch.Tensor(data)`, `torch.Tensor()`.
pub(super) fn legacy_tensor(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    if !args.kw.is_empty() {
        return Err(it.fail(
            span,
            "TypeError: torch.Tensor() takes sizes or data only in scenarios; use torch.empty or torch.tensor for device= and dtype=",
        ));
    }
    match args.pos.as_slice() {
        [] => factory(
            it,
            "empty",
            CallArgs {
                pos: vec![Value::Int(0)],
                kw: Vec::new(),
            },
            span,
        ),
        [Value::List(_) | Value::Tuple(_)] => tensor_from_data(
            it,
            "tensor",
            CallArgs {
                pos: args.pos.clone(),
                kw: vec![("dtype".into(), Value::DType(DType::F32))],
            },
            span,
        ),
        sizes if sizes.iter().all(|v| matches!(v, Value::Int(_))) => {
            factory(it, "empty", args, span)
        }
        _ => Err(it.fail(
            span,
            "TypeError: torch.Tensor() expects sizes (ints) or a list of numbers",
        )),
    }
}
