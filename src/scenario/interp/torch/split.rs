//! The multi-output ops' handlers, shared by the `Tensor` methods and their `torch.*` forms:
//! `split`, `chunk`, `unbind` return a tuple of views with one node as their history
//! (`src/tensor/split.rs`).

use std::rc::Rc;

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, expect_int};
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

/// `split(split_size_or_sections, dim=0)`: an int splits into pieces of that size
/// (SplitBackward0), a list or tuple into pieces of those sizes (SplitWithSizesBackward0).
pub(super) fn split(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["split_size_or_sections", "dim"], 1, span)?;
    let dim = optional_dim(it, b.get("dim"), span)?;
    let sections = b.raw("split_size_or_sections").unwrap_or(&Value::None);
    let sizes: Option<Vec<Value>> = match sections {
        Value::List(l) => Some(l.borrow().iter().map(|s| s.value.clone()).collect()),
        Value::Tuple(t) => Some(t.as_ref().clone()),
        _ => None,
    };
    let r = match sizes {
        Some(values) => {
            let sizes = values
                .iter()
                .map(|v| expect_int(it, v, "split_sizes", span))
                .collect::<R<Vec<i64>>>()?;
            t.split_with_sizes(&sizes, dim)
        }
        None => {
            let size = expect_int(it, sections, "split_size", span)?;
            t.split(size, dim)
        }
    };
    tuple_of(it, r, span)
}

/// `chunk(chunks, dim=0)` and `unsafe_chunk`.
pub(super) fn chunk(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["chunks", "dim"], 1, span)?;
    let chunks = expect_int(it, b.raw("chunks").unwrap_or(&Value::None), "chunks", span)?;
    let dim = optional_dim(it, b.get("dim"), span)?;
    let r = if name == "unsafe_chunk" {
        t.unsafe_chunk(chunks, dim)
    } else {
        t.chunk(chunks, dim)
    };
    tuple_of(it, r, span)
}

/// `unbind(dim=0)`.
pub(super) fn unbind(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim"], 0, span)?;
    let dim = optional_dim(it, b.get("dim"), span)?;
    tuple_of(it, t.unbind(dim), span)
}
