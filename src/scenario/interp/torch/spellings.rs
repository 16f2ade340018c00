//! Tensor methods that are other spellings of operations the runtime has: comparisons by name
//! (`x.eq(y)`, `torch.gt(x, 0)`), `neg`, `square`, `mm`, `expand`/`expand_as`/`view_as`,
//! `type_as`, out-of-place `masked_fill`, `clamp_`, `exp_`/`sqrt_`/`reciprocal_`/
//! `sigmoid_`/`tanh_`, `reciprocal`, and the layout queries (`stride`,
//! `storage_offset`, `is_contiguous`, `nelement`, `ndimension`). Each does what its operator
//! or sibling does, so it allocates and saves exactly that (checked on PyTorch 2.15: `square`
//! is PowBackward0 with exponent 2 and `self` saved, `expand`/`expand_as` ExpandBackward0 with
//! nothing saved, `view_as` ViewBackward0, `masked_fill` one MaskedFillBackward0 saving `mask`).

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{check_rt, expect_float, method};
use super::values::compare;
use crate::scenario::{CmpOp, Span};
use crate::tensor::Tensor;

// `eq`, `ne`, `lt`, `le`, `gt`, `ge` (and `torch.eq(input, other)`, ...): the comparison
// operators, with a tensor or a number.
method!(comparison, ["other"], 1, |c| {
    let op = match c.name {
        "eq" => CmpOp::Eq,
        "ne" => CmpOp::NotEq,
        "lt" => CmpOp::Lt,
        "le" => CmpOp::LtE,
        "gt" => CmpOp::Gt,
        _ => CmpOp::GtE,
    };
    let other = c.b.raw("other").cloned().unwrap_or(Value::None);
    match compare(&Value::Tensor(c.t.clone()), op, &other) {
        Some(r) => r.map_err(|e| c.it.tensor_error(c.span, e)),
        None => Err(c.it.fail(
            c.span,
            format!(
                "TypeError: {}(): argument 'other' must be Tensor or Number, not {}",
                c.name,
                other.type_name()
            ),
        )),
    }
});

// `neg`, `negative`, `square`: `-x` and `x ** 2`.
method!(negation_or_square, [], 0, |c| {
    let r = if c.name == "square" {
        c.t.pow(2.0)
    } else {
        c.t.neg()
    };
    c.done(r)
});

// `mm(mat2)`: the 2-D product, MmBackward0 saving both operands.
method!(mm, ["mat2"], 1, |c| c.done(c.t.mm(&c.tensor("mat2")?)));

// `expand_as(other)`, `view_as(other)`, `type_as(other)`: the other tensor's shape or dtype.
method!(as_other, ["other"], 1, |c| {
    let other = c.tensor("other")?;
    let r = match c.name {
        "expand_as" => c.t.expand(other.shape()),
        "view_as" => {
            let shape: Vec<isize> = other.shape().iter().map(|&s| s as isize).collect();
            c.t.view(&shape)
        }
        _ => c.t.to_dtype(other.dtype()),
    };
    c.done(r)
});

/// `expand(*sizes)`: `-1` keeps a dimension's size; new leading dimensions are added.
pub(super) fn expand(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let sizes = super::args::ints_or_keyword(it, name, &args, "size", span)?;
    check_rt(it, t.expand_sizes(&sizes), span)
}

// `masked_fill(mask, value)`: a filled copy.
method!(masked_fill, ["mask", "value"], 2, |c| {
    let mask = c.tensor("mask")?;
    let value = c.float("value")?;
    c.done(c.t.masked_fill(&mask, value))
});

// `stride(dim=None)`: the strides in elements, as a tuple, or one of them.
method!(stride, ["dim"], 0, |c| {
    let strides = c.t.strides();
    match c.dim("dim")? {
        None => Ok(Value::Tuple(std::rc::Rc::new(
            strides.iter().map(|&s| Value::Int(s as i64)).collect(),
        ))),
        Some(d) => {
            let n = c.t.dim() as isize;
            let j = if d < 0 { d + n } else { d };
            if !(0..n).contains(&j) {
                return Err(c.it.fail(c.span, format!("IndexError: Dimension out of range (expected to be in range of [{}, {}], but got {d})", -n, n - 1)));
            }
            Ok(Value::Int(strides[j as usize] as i64))
        }
    }
});

// `storage_offset()`, `is_contiguous()`, `nelement()`, `ndimension()`.
method!(layout_query, [], 0, |c| Ok(match c.name {
    "storage_offset" => Value::Int(c.t.storage_offset() as i64),
    "is_contiguous" => Value::Bool(c.t.is_contiguous()),
    "nelement" => Value::Int(c.t.numel() as i64),
    _ => Value::Int(c.t.dim() as i64),
}));

// `exp_`, `sqrt_`, `reciprocal_`, `sigmoid_`, `tanh_` (their nodes save the result: the tensor
// itself), and out-of-place `reciprocal`.
method!(pointwise, [], 0, |c| {
    let t = c.t;
    let r = match c.name {
        "exp_" => t.exp_(),
        "sqrt_" => t.sqrt_(),
        "reciprocal_" => t.reciprocal_(),
        "sigmoid_" => t.sigmoid_(),
        "tanh_" => t.tanh_(),
        _ => t.reciprocal(),
    };
    c.done(r)
});

// `pow_(exponent)` with a number, in place.
method!(pow_, ["exponent"], 1, |c| {
    let exponent = c.float("exponent")?;
    c.done(c.t.pow_(exponent))
});

// `clamp_(min=None, max=None)` with numbers, in place.
method!(clamp_, ["min", "max"], 0, |c| {
    let bound = |p: &str| match c.b.get(p) {
        None | Some(Value::None) => Ok(None),
        Some(v) => expect_float(c.it, v, p, c.span).map(Some),
    };
    let (min, max) = (bound("min")?, bound("max")?);
    c.done(c.t.clamp_(min, max))
});

/// `F.normalize(input, p=2.0, dim=1, eps=1e-12)`: 2.15's Python body, op for op:
/// `denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)`, then
/// `input / denom`. The norm is released once `clamp_min` returns and the clamped norm after the
/// division, as CPython drops the temporaries; under autograd their nodes keep them.
pub(super) fn normalize(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = super::args::bind(
        it,
        &args,
        name,
        &["input", "p", "dim", "eps", "out"],
        1,
        span,
    )?;
    if b.get("out").is_some_and(|v| !matches!(v, Value::None)) {
        return Err(it
            .fail(span, "normalize(out=...) is not supported in scenarios")
            .with_help("use the returned tensor"));
    }
    let input = super::args::expect_tensor(it, b.raw("input"), "input", span)?;
    let number = |p: &str, default: f64| match b.get(p) {
        Some(v) => expect_float(it, v, p, span),
        None => Ok(default),
    };
    let (p, eps) = (number("p", 2.0)?, number("eps", 1e-12)?);
    let dim = super::args::dim_arg(it, b.get("dim"), span)?.unwrap_or(1);
    let r = (|| {
        let norm = input.vector_norm(p, Some(&[dim]), true)?;
        let clamped = norm.clamp_min(eps)?;
        drop(norm);
        let denom = clamped.expand(input.shape())?;
        drop(clamped);
        input.div(&denom)
    })();
    check_rt(it, r, span)
}

// `triu(diagonal=0)`, `tril(diagonal=0)`: the method forms of `torch.triu` and `torch.tril`.
method!(triu, ["diagonal"], 0, |c| {
    let diagonal = match c.b.get("diagonal") {
        Some(v) => super::args::expect_int(c.it, v, "diagonal", c.span)?,
        None => 0,
    };
    c.done(if c.name == "tril" {
        c.t.tril(diagonal)
    } else {
        c.t.triu(diagonal)
    })
});

// `addmm(mat1, mat2, *, beta=1, alpha=1)`: `self + mat1 @ mat2`, AddmmBackward0 (the
// scalings other than 1 are refused: the runtime's addmm is nn.Linear's).
method!(addmm, ["mat1", "mat2", "beta", "alpha"], 2, |c| {
    for p in ["beta", "alpha"] {
        if let Some(v) = c.b.get(p) {
            if expect_float(c.it, v, p, c.span)? != 1.0 {
                return Err(c
                    .it
                    .fail(
                        c.span,
                        format!("addmm({p}=...) other than 1 is not supported in scenarios"),
                    )
                    .with_help("scale the operands or the result instead"));
            }
        }
    }
    let (mat1, mat2) = (c.tensor("mat1")?, c.tensor("mat2")?);
    c.done(c.t.addmm(&mat1, &mat2))
});

// `torch.isnan(input)`: ATen's `self != self`, one bool output.
method!(isnan, [], 0, |c| c.done(c.t.ne(c.t)));

// `retain_grad()`: the non-leaf's `.grad` is filled by the next backward.
method!(retain_grad, [], 0, |c| {
    c.t.retain_grad()
        .map_err(|e| c.it.tensor_error(c.span, e))?;
    Ok(Value::None)
});
