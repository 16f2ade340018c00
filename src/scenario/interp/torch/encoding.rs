//! `torch.logsumexp` / `Tensor.logsumexp` and `F.one_hot`.

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, expect_bool, expect_int, expect_tensor, ints_of};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `logsumexp(dim, keepdim=False)`: `dim` an int, or a tuple or list of ints; required, as in
/// PyTorch.
pub(super) fn logsumexp(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "keepdim"], 1, span)?;
    let dims = match b.get("dim") {
        Some(v) => ints_of(it, std::slice::from_ref(v), "dim", span)?,
        None => Vec::new(),
    };
    let keepdim = expect_bool(it, b.get("keepdim"), false, "keepdim", span)?;
    check_rt(it, t.logsumexp(&dims, keepdim), span)
}

/// `F.one_hot(tensor, num_classes=-1)`.
pub(super) fn one_hot(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, &["tensor", "num_classes"], 1, span)?;
    let t = expect_tensor(it, b.raw("tensor"), "tensor", span)?;
    let classes = match b.get("num_classes") {
        Some(v) => expect_int(it, v, "num_classes", span)?,
        None => -1,
    };
    check_rt(it, t.one_hot(classes), span)
}
