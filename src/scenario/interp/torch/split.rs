//! The multi-output ops' handlers, shared by the `Tensor` methods and their `torch.*` forms:
//! `split`, `chunk`, `unbind` return a tuple of views with one node as their history
//! (`src/tensor/split.rs`).

use std::rc::Rc;

use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{expect_int, method};
use crate::scenario::Span;
use crate::tensor::Tensor;

fn tuple_of(it: &Interp<'_>, r: crate::base::Result<Vec<Tensor>>, span: Span) -> R<Value> {
    let pieces = r.map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::Tuple(Rc::new(
        pieces.into_iter().map(Value::Tensor).collect(),
    )))
}

fn optional_dim(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<isize> {
    match v {
        None => Ok(0),
        Some(v) => Ok(expect_int(it, v, "dim", span)? as isize),
    }
}

// `split(split_size_or_sections, dim=0)`: an int splits into pieces of that size
// (SplitBackward0), a list or tuple into pieces of those sizes (SplitWithSizesBackward0).
method!(split, ["split_size_or_sections", "dim"], 1, |c| {
    let dim = optional_dim(c.it, c.b.get("dim"), c.span)?;
    let sections = c.b.raw("split_size_or_sections").unwrap_or(&Value::None);
    let sizes: Option<Vec<Value>> = match sections {
        Value::List(l) => Some(l.borrow().iter().map(|s| s.value.clone()).collect()),
        Value::Tuple(t) => Some(t.as_ref().clone()),
        _ => None,
    };
    let r = match sizes {
        Some(values) => {
            let sizes = values
                .iter()
                .map(|v| expect_int(c.it, v, "split_sizes", c.span))
                .collect::<R<Vec<i64>>>()?;
            c.t.split_with_sizes(&sizes, dim)
        }
        None => {
            let size = expect_int(c.it, sections, "split_size", c.span)?;
            c.t.split(size, dim)
        }
    };
    tuple_of(c.it, r, c.span)
});

// `chunk(chunks, dim=0)` and `unsafe_chunk`.
method!(chunk, ["chunks", "dim"], 1, |c| {
    let chunks = c.int("chunks")?;
    let dim = optional_dim(c.it, c.b.get("dim"), c.span)?;
    let r = if c.name == "unsafe_chunk" {
        c.t.unsafe_chunk(chunks, dim)
    } else {
        c.t.chunk(chunks, dim)
    };
    tuple_of(c.it, r, c.span)
});

// `unbind(dim=0)`.
method!(unbind, ["dim"], 0, |c| {
    let dim = optional_dim(c.it, c.b.get("dim"), c.span)?;
    tuple_of(c.it, c.t.unbind(dim), c.span)
});
