//! `torch.full(size, fill_value, dtype=None, device=None, requires_grad=False)`,
//! `torch.triu(input, diagonal=0)` and `torch.tril`: how scripts build a causal attention mask by hand
//! (`torch.triu(torch.full((sz, sz), float("-inf")), diagonal=1)`, the expression behind
//! `nn.Transformer.generate_square_subsequent_mask`).

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, device_arg, dtype_arg, expect_bool, expect_int, shape_of};
use crate::base::DType;
use crate::scenario::Span;
use crate::tensor::Scalar;

/// `torch.full(size, fill_value, ...)`: the dtype, when not given, is the fill value's
/// (float32 for a float, int64 for an int, bool for a bool), as PyTorch infers it.
pub(super) fn full(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    const PARAMS: &[&str] = &["size", "fill_value", "dtype", "device", "requires_grad"];
    let b = bind(it, &args, name, PARAMS, 2, span)?;
    let shape = shape_of(it, &[b.raw("size").cloned().unwrap_or(Value::None)], span)?;
    let (value, inferred) = match b.raw("fill_value") {
        Some(Value::Float(f)) => (Scalar::Float(*f), DType::F32),
        Some(Value::Int(i)) => (Scalar::Int(*i), DType::I64),
        Some(Value::Bool(v)) => (Scalar::Int(i64::from(*v)), DType::Bool),
        Some(other) => {
            return Err(it.fail(
                span,
                format!(
                    "TypeError: full(): argument 'fill_value' must be Number, not {}",
                    other.type_name()
                ),
            ))
        }
        None => return Err(it.fail(span, "TypeError: full() missing 'fill_value'")),
    };
    let dtype = dtype_arg(it, b.get("dtype"), inferred, span)?;
    let device = device_arg(it, b.get("device"), span)?;
    let requires_grad = expect_bool(it, b.get("requires_grad"), false, "requires_grad", span)?;
    let rt = it.rt.clone();
    let t = rt
        .empty(&shape, dtype, device)
        .and_then(|t| t.fill_(value))
        .and_then(|t| t.requires_grad_(requires_grad));
    check_rt(it, t, span)
}

/// `torch.triu(input, diagonal=0)`, `torch.tril(input, diagonal=0)`.
pub(super) fn triu(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, &["input", "diagonal"], 1, span)?;
    let Some(Value::Tensor(t)) = b.get("input") else {
        return Err(it.fail(
            span,
            format!("TypeError: {name}(): argument 'input' must be Tensor"),
        ));
    };
    let diagonal = match b.get("diagonal") {
        Some(v) => expect_int(it, v, "diagonal", span)?,
        None => 0,
    };
    let r = if name == "tril" {
        t.tril(diagonal)
    } else {
        t.triu(diagonal)
    };
    check_rt(it, r, span)
}
