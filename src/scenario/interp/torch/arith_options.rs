//! The keyword options of the arithmetic methods: `alpha=` of `add`/`sub` (AddBackward0 and
//! SubBackward0 keep it as a number, no tensor) and `rounding_mode=` of `div`/`div_`
//! (`div.Tensor_mode`: DivBackward2 whenever the keyword is given, even as `None`), as PyTorch
//! 2.15 runs them called from Python.

use super::super::value::Value;
use super::super::R;
use super::args::{method, Call};
use super::values::scalar;
use crate::tensor::{RoundingMode, Scalar, Tensor, TensorError};

/// `rounding_mode=` as written: `None` when not given, `Some(None)` for `None` spelled out.
fn rounding_mode(c: &Call<'_, '_>) -> R<Option<Option<RoundingMode>>> {
    match c.b.raw("rounding_mode") {
        None => Ok(None),
        Some(Value::None) => Ok(Some(None)),
        Some(Value::Str(s)) => RoundingMode::parse(s)
            .map(|m| Some(Some(m)))
            .map_err(|e| c.it.tensor_error(c.span, e)),
        Some(v) => Err(c.it.fail(
            c.span,
            format!(
                "TypeError: {}(): argument 'rounding_mode' must be str, not {}",
                c.name,
                v.type_name()
            ),
        )),
    }
}

/// `other * alpha` for a number `other`: an int when both are.
fn scaled_number(other: Scalar, alpha: Scalar) -> Scalar {
    match (other, alpha) {
        (Scalar::Int(a), Scalar::Int(b)) => Scalar::Int(a.wrapping_mul(b)),
        (a, b) => Scalar::Float(a.as_f64() * b.as_f64()),
    }
}

/// Python's TypeError for an operand that is neither a tensor nor a number.
fn bad_operand(c: &Call<'_, '_>, other: &Value) -> TensorError {
    TensorError::Invalid(format!(
        "{}(): argument 'other' must be Tensor or Number, not {}",
        c.name,
        other.type_name()
    ))
}

/// The result of `add`/`sub` with `alpha=` or `div` with `rounding_mode=` (`in_place` for
/// `div_`), or `None` when neither was given and the plain overload applies.
pub(super) fn with_options(c: &Call<'_, '_>, other: &Value, in_place: bool) -> R<Option<Value>> {
    let t = c.t;
    let r: Result<Tensor, TensorError> = match c.name {
        "add" | "sub" => {
            let Some(a) = c.b.get("alpha") else {
                return Ok(None);
            };
            let Some(alpha) = scalar(a) else {
                return Err(c.it.fail(
                    c.span,
                    format!(
                        "TypeError: {}(): argument 'alpha' must be Number, not {}",
                        c.name,
                        a.type_name()
                    ),
                ));
            };
            match (c.name, other) {
                ("add", Value::Tensor(o)) => t.add_alpha(o, alpha.as_f64()),
                (_, Value::Tensor(o)) => t.sub_alpha(o, alpha.as_f64()),
                (name, v) => match scalar(v) {
                    Some(n) if name == "add" => t.add_scalar(scaled_number(n, alpha)),
                    Some(n) => t.sub_scalar(scaled_number(n, alpha)),
                    None => Err(bad_operand(c, v)),
                },
            }
        }
        _ => {
            let Some(mode) = rounding_mode(c)? else {
                return Ok(None);
            };
            match (other, in_place) {
                (Value::Tensor(o), false) => t.div_mode(o, mode),
                (Value::Tensor(_), true) => Err(TensorError::Unsupported(
                    "div_(tensor, rounding_mode=) (pass a number)".into(),
                )),
                (v, _) => match scalar(v) {
                    Some(n) if in_place => t.div_scalar_mode_(n, mode),
                    Some(n) => t.div_scalar_mode(n, mode),
                    None => Err(bad_operand(c, v)),
                },
            }
        }
    };
    r.map(|t| Some(Value::Tensor(t)))
        .map_err(|e| c.it.tensor_error(c.span, e))
}

// `div_(other, *, rounding_mode=None)`: `/=` when no mode is given.
method!(div_, ["other", "rounding_mode"], 1, |c| {
    let other = c.b.raw("other").cloned().unwrap_or(Value::None);
    if let Some(r) = with_options(&c, &other, true)? {
        return Ok(r);
    }
    let r = match scalar(&other) {
        Some(s) => c.t.div_scalar_(s),
        None => Err(TensorError::Unsupported(
            "div_(tensor) (divide by a number, or use x = x / y)".into(),
        )),
    };
    c.done(r)
});
