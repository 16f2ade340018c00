//! The indexing methods (`index_select`, `gather`, `index_put_`, `index_fill_`,
//! `masked_fill_`, `copy_`, `nonzero`) and `torch.where(condition)`; the operations are in
//! `src/tensor/index.rs`.

use std::rc::Rc;

use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{expect_tensor, method};
use crate::scenario::Span;
use crate::tensor::Tensor;

// `index_select(dim, index)` and `gather(dim, index)`.
method!(select_along, ["dim", "index"], 2, |c| {
    let dim = c.int("dim")? as isize;
    let index = c.tensor("index")?;
    let r = if c.name == "gather" {
        c.t.gather(dim, &index)
    } else {
        c.t.index_select(dim, &index)
    };
    c.done(r)
});

// `index_fill_(dim, index, value)`.
method!(index_fill_, ["dim", "index", "value"], 3, |c| {
    let dim = c.int("dim")? as isize;
    let index = c.tensor("index")?;
    let value = c.float("value")?;
    c.done(c.t.index_fill_(dim, &index, value))
});

// `masked_fill_(mask, value)` with a number.
method!(masked_fill_, ["mask", "value"], 2, |c| {
    let mask = c.tensor("mask")?;
    let value = c.float("value")?;
    c.done(c.t.masked_fill_(&mask, value))
});

// `index_put_(indices, values, accumulate=False)`, `indices` a tuple of tensors or `None`.
method!(index_put_, ["indices", "values", "accumulate"], 2, |c| {
    let items: Vec<Value> = match c.b.raw("indices") {
        Some(Value::Tuple(v)) => v.as_ref().clone(),
        Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        _ => {
            return Err(c.it.fail(
                c.span,
                "TypeError: index_put_(): argument 'indices' must be tuple of Tensors",
            ))
        }
    };
    let mut indices = Vec::with_capacity(items.len());
    for v in &items {
        indices.push(match v {
            Value::None => None,
            other => Some(expect_tensor(c.it, Some(other), "indices", c.span)?),
        });
    }
    let values = c.tensor("values")?;
    let accumulate = c.flag("accumulate", false)?;
    c.done(c.t.index_put_(&indices, &values, accumulate))
});

// `copy_(src)`.
method!(copy_, ["src", "non_blocking"], 1, |c| {
    let src = c.tensor("src")?;
    c.done(c.t.copy_(&src))
});

// `nonzero(as_tuple=False)`.
method!(nonzero, ["as_tuple"], 0, |c| {
    if c.flag("as_tuple", false)? {
        return columns(c.it, c.t, c.span);
    }
    c.done(c.t.nonzero())
});

/// `torch.where(condition)`: `nonzero(condition, as_tuple=True)`, one int64 view per
/// dimension.
pub(super) fn columns(it: &Interp<'_>, t: &Tensor, span: Span) -> R<Value> {
    let cols = t.nonzero_columns().map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::Tuple(Rc::new(
        cols.into_iter().map(Value::Tensor).collect(),
    )))
}
