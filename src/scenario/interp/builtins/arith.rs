//! Numbers and comparisons as Python does them: int and float conversion, round-half-even,
//! floor division and modulo, arithmetic on ints and floats, and `==` and ordering of non-tensor
//! values.

use std::cmp::Ordering;
use std::rc::Rc;

use super::super::dict::Key;
use super::super::value::Value;
use super::super::{number as num, torch, Interp, Num, X};
use super::{range_len, type_error};
use crate::scenario::{BinOp, Span};

/// Python's `round`: halves go to the even neighbour.
pub(super) fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

pub(super) fn to_float(it: &mut Interp<'_>, v: &Value, span: Span) -> X<Value> {
    match v {
        Value::Int(i) => Ok(Value::Float(*i as f64)),
        Value::Bool(b) => Ok(Value::Float(*b as i64 as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::Str(s) => {
            let t = s.trim();
            let parsed = match t.to_ascii_lowercase().as_str() {
                "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "nan" => Some(f64::NAN),
                _ => t.parse::<f64>().ok(),
            };
            parsed.map(Value::Float).ok_or_else(|| {
                it.raise(
                    "ValueError",
                    format!("could not convert string to float: '{s}'"),
                    span,
                )
            })
        }
        Value::Tensor(t) => {
            let r = torch::item(t).map_err(|e| it.tensor_error(span, e));
            Ok(Value::Float(it.lift(r)?))
        }
        other => Err(type_error(
            it,
            span,
            format!(
                "float() argument must be a string or a real number, not '{}'",
                other.type_name()
            ),
        )),
    }
}

pub(super) fn to_int(it: &mut Interp<'_>, v: &Value, span: Span) -> X<Value> {
    match v {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Bool(b) => Ok(Value::Int(*b as i64)),
        Value::Float(f) if f.is_finite() => Ok(Value::Int(f.trunc() as i64)),
        Value::Float(_) => Err(it.raise(
            "OverflowError",
            "cannot convert float infinity or NaN to integer".into(),
            span,
        )),
        Value::Str(s) => s.trim().parse::<i64>().map(Value::Int).map_err(|_| {
            it.raise(
                "ValueError",
                format!("invalid literal for int() with base 10: '{s}'"),
                span,
            )
        }),
        Value::Tensor(t) => {
            let r = torch::item(t).map_err(|e| it.tensor_error(span, e));
            Ok(Value::Int(it.lift(r)?.trunc() as i64))
        }
        other => Err(type_error(
            it,
            span,
            format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                other.type_name()
            ),
        )),
    }
}

fn py_floor_div(a: i64, b: i64) -> Option<i64> {
    let q = a.checked_div(b)?;
    Some(if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    })
}

fn py_mod(a: i64, b: i64) -> Option<i64> {
    let r = a.checked_rem(b)?;
    Some(if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    })
}

fn py_fmod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
        r + b
    } else {
        r
    }
}

/// Python's arithmetic on ints and floats; the error message starts with the exception type.
pub(in crate::scenario::interp) fn arith(a: Num, op: BinOp, b: Num) -> Result<Value, String> {
    let overflow = || "OverflowError: integer result does not fit in 64 bits".to_string();
    let zero_div = |what: &str| format!("ZeroDivisionError: {what}");
    let unsupported = |t: &str| {
        format!(
            "TypeError: unsupported operand type(s) for {}: '{t}' and '{t}'",
            op.symbol()
        )
    };
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => match op {
            BinOp::Add => x.checked_add(y).map(Value::Int).ok_or_else(overflow),
            BinOp::Sub => x.checked_sub(y).map(Value::Int).ok_or_else(overflow),
            BinOp::Mul => x.checked_mul(y).map(Value::Int).ok_or_else(overflow),
            BinOp::Div if y == 0 => Err(zero_div("division by zero")),
            BinOp::Div => Ok(Value::Float(x as f64 / y as f64)),
            BinOp::FloorDiv if y == 0 => Err(zero_div("integer division or modulo by zero")),
            BinOp::FloorDiv => py_floor_div(x, y).map(Value::Int).ok_or_else(overflow),
            BinOp::Mod if y == 0 => Err(zero_div("integer modulo by zero")),
            BinOp::Mod => py_mod(x, y).map(Value::Int).ok_or_else(overflow),
            BinOp::Pow if y >= 0 => u32::try_from(y)
                .ok()
                .and_then(|e| x.checked_pow(e))
                .map(Value::Int)
                .ok_or_else(overflow),
            BinOp::Pow => Ok(Value::Float((x as f64).powf(y as f64))),
            BinOp::MatMul => Err(unsupported("int")),
            BinOp::BitAnd => Ok(Value::Int(x & y)),
            BinOp::BitOr => Ok(Value::Int(x | y)),
            BinOp::BitXor => Ok(Value::Int(x ^ y)),
            BinOp::LShift if y < 0 => Err("ValueError: negative shift count".into()),
            BinOp::LShift => u32::try_from(y)
                .ok()
                .filter(|&s| s < 64 && (x << s) >> s == x)
                .map(|s| Value::Int(x << s))
                .ok_or_else(overflow),
            BinOp::RShift if y < 0 => Err("ValueError: negative shift count".into()),
            BinOp::RShift => Ok(Value::Int(x >> y.min(63))),
        },
        _ => {
            let (x, y) = (as_f64(a), as_f64(b));
            match op {
                BinOp::Add => Ok(Value::Float(x + y)),
                BinOp::Sub => Ok(Value::Float(x - y)),
                BinOp::Mul => Ok(Value::Float(x * y)),
                BinOp::Div if y == 0.0 => Err(zero_div("float division by zero")),
                BinOp::Div => Ok(Value::Float(x / y)),
                BinOp::FloorDiv if y == 0.0 => Err(zero_div("float floor division by zero")),
                BinOp::FloorDiv => Ok(Value::Float((x / y).floor())),
                BinOp::Mod if y == 0.0 => Err(zero_div("float modulo")),
                BinOp::Mod => Ok(Value::Float(py_fmod(x, y))),
                BinOp::Pow if x == 0.0 && y < 0.0 => {
                    Err(zero_div("0.0 cannot be raised to a negative power"))
                }
                BinOp::Pow => Ok(Value::Float(x.powf(y))),
                _ => Err(unsupported("float")),
            }
        }
    }
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

/// Python's `==` on non-tensor values.
pub(in crate::scenario::interp) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q))
        }
        (Value::List(x), Value::List(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| equal(&p.value, &q.value))
        }
        (Value::Dict(x), Value::Dict(y)) | (Value::Set(x), Value::Set(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.items().iter().all(|(k, v)| {
                    Key::of(k)
                        .and_then(|k| y.get(&k))
                        .is_some_and(|w| equal(v, &w))
                })
        }
        (Value::DType(x), Value::DType(y)) => x == y,
        (Value::Device(x), Value::Device(y)) => x == y,
        // torch.device compares equal to its string form in scenarios' `x.device == "cuda"`.
        (Value::Device(d), Value::Str(s)) | (Value::Str(s), Value::Device(d)) => {
            torch::device_named(s) == Some(*d)
        }
        (Value::Path(x), Value::Path(y)) => x == y,
        (Value::Range(..), Value::Range(..)) => {
            let (ra, rb) = (range_len(a), range_len(b));
            ra == rb && format!("{a}") == format!("{b}")
        }
        _ => match (num(a), num(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
            (Some(x), Some(y)) => as_f64(x) == as_f64(y),
            _ => match (a.identity(), b.identity()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        },
    }
}

/// Python's ordering of numbers, strings and sequences; `None` where Python raises TypeError.
pub(in crate::scenario::interp) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Tuple(x), Value::Tuple(y)) => seq_order(x, y),
        (Value::List(x), Value::List(y)) => {
            let x: Vec<Value> = x.borrow().iter().map(|s| s.value.clone()).collect();
            let y: Vec<Value> = y.borrow().iter().map(|s| s.value.clone()).collect();
            seq_order(&x, &y)
        }
        _ => match (num(a)?, num(b)?) {
            (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
            (x, y) => as_f64(x).partial_cmp(&as_f64(y)),
        },
    }
}

fn seq_order(x: &[Value], y: &[Value]) -> Option<Ordering> {
    for (p, q) in x.iter().zip(y) {
        if !equal(p, q) {
            return order(p, q);
        }
    }
    Some(x.len().cmp(&y.len()))
}
