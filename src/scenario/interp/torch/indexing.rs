//! The indexing methods (`index_select`, `gather`, `index_put_`, `index_fill_`,
//! `masked_fill_`, `copy_`, `nonzero`) and `torch.where(condition)`; the operations are in
//! `src/tensor/index.rs`.

use std::rc::Rc;

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, expect_bool, expect_float, expect_int, expect_tensor};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `index_select(dim, index)` and `gather(dim, index)`.
pub(super) fn select_along(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "index"], 2, span)?;
    let dim = expect_int(it, b.raw("dim").unwrap_or(&Value::None), "dim", span)? as isize;
    let index = expect_tensor(it, b.raw("index"), "index", span)?;
    let r = if name == "gather" {
        t.gather(dim, &index)
    } else {
        t.index_select(dim, &index)
    };
    check_rt(it, r, span)
}

/// `index_fill_(dim, index, value)`.
pub(super) fn index_fill_(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "index", "value"], 3, span)?;
    let dim = expect_int(it, b.raw("dim").unwrap_or(&Value::None), "dim", span)? as isize;
    let index = expect_tensor(it, b.raw("index"), "index", span)?;
    let value = expect_float(it, b.raw("value").unwrap_or(&Value::None), "value", span)?;
    check_rt(it, t.index_fill_(dim, &index, value), span)
}

/// `masked_fill_(mask, value)` with a number.
pub(super) fn masked_fill_(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["mask", "value"], 2, span)?;
    let mask = expect_tensor(it, b.raw("mask"), "mask", span)?;
    let value = expect_float(it, b.raw("value").unwrap_or(&Value::None), "value", span)?;
    check_rt(it, t.masked_fill_(&mask, value), span)
}

/// `index_put_(indices, values, accumulate=False)`, `indices` a tuple of tensors or `None`.
pub(super) fn index_put_(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(
        it,
        &args,
        name,
        &["indices", "values", "accumulate"],
        2,
        span,
    )?;
    let items: Vec<Value> = match b.raw("indices") {
        Some(Value::Tuple(v)) => v.as_ref().clone(),
        Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        _ => {
            return Err(it.fail(
                span,
                "TypeError: index_put_(): argument 'indices' must be tuple of Tensors",
            ))
        }
    };
    let mut indices = Vec::with_capacity(items.len());
    for v in &items {
        indices.push(match v {
            Value::None => None,
            other => Some(expect_tensor(it, Some(other), "indices", span)?),
        });
    }
    let values = expect_tensor(it, b.raw("values"), "values", span)?;
    let accumulate = expect_bool(it, b.get("accumulate"), false, "accumulate", span)?;
    check_rt(it, t.index_put_(&indices, &values, accumulate), span)
}

/// `copy_(src)`.
pub(super) fn copy_(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["src", "non_blocking"], 1, span)?;
    let src = expect_tensor(it, b.raw("src"), "src", span)?;
    check_rt(it, t.copy_(&src), span)
}

/// `nonzero(as_tuple=False)`.
pub(super) fn nonzero(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["as_tuple"], 0, span)?;
    let as_tuple = expect_bool(it, b.get("as_tuple"), false, "as_tuple", span)?;
    if as_tuple {
        return columns(it, t, span);
    }
    check_rt(it, t.nonzero(), span)
}

/// `torch.where(condition)`: `nonzero(condition, as_tuple=True)`, one int64 view per
/// dimension.
pub(super) fn columns(it: &Interp<'_>, t: &Tensor, span: Span) -> R<Value> {
    let cols = t.nonzero_columns().map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::Tuple(Rc::new(
        cols.into_iter().map(Value::Tensor).collect(),
    )))
}
