//! Python's builtins and list methods, and int/float arithmetic as Python does it.

use std::cmp::Ordering;
use std::rc::Rc;

use super::value::{ListRef, Path, Slot, Value};
use super::{number as num, CallArgs, Interp, Num, R};
use crate::scenario::{BinOp, Span};

const BUILTINS: [&str; 9] = [
    "print", "len", "range", "float", "int", "min", "max", "abs", "sum",
];

/// The builtin function called `name`, when a scenario reads a name it never bound.
pub(super) fn builtin(name: &str) -> Option<Value> {
    BUILTINS
        .contains(&name)
        .then(|| Value::Path(Path(name.into())))
}

/// Calls the builtin `name`; `None` when `name` is not a builtin.
pub(super) fn call_builtin(
    it: &mut Interp<'_>,
    name: &str,
    args: &CallArgs,
    span: Span,
) -> Option<R<Value>> {
    if !BUILTINS.contains(&name) {
        return None;
    }
    Some(call(it, name, args, span))
}

fn call(it: &mut Interp<'_>, name: &str, args: &CallArgs, span: Span) -> R<Value> {
    let fail = |it: &Interp<'_>, m: String| it.fail(span, m);
    match name {
        "print" => {
            args.only_keywords("print", &["sep", "end"])
                .map_err(|m| fail(it, m))?;
            let sep = match args.keyword("sep") {
                Some(Value::Str(s)) => s.to_string(),
                _ => " ".to_string(),
            };
            let mut line = Vec::with_capacity(args.pos.len());
            for v in &args.pos {
                line.push(super::torch::display(v));
            }
            it.output.push(line.join(&sep));
            Ok(Value::None)
        }
        "range" => Err(fail(
            it,
            "range() is supported only as the iterable of a `for` loop".into(),
        )
        .with_help("write `for i in range(n):`")),
        _ => {
            args.only_keywords(name, &[]).map_err(|m| fail(it, m))?;
            numeric_builtin(it, name, &args.pos, span)
        }
    }
}

fn numeric_builtin(it: &mut Interp<'_>, name: &str, pos: &[Value], span: Span) -> R<Value> {
    let fail = |it: &Interp<'_>, m: String| it.fail(span, m);
    let one = |it: &Interp<'_>| -> R<&Value> {
        match pos {
            [v] => Ok(v),
            _ => Err(fail(
                it,
                format!(
                    "TypeError: {name}() takes exactly one argument ({} given)",
                    pos.len()
                ),
            )),
        }
    };
    match name {
        "len" => {
            let v = one(it)?;
            let n = match v {
                Value::List(l) => l.borrow().len(),
                Value::Tuple(t) => t.len(),
                Value::Str(s) => s.chars().count(),
                Value::Tensor(_) | Value::Module(_) => {
                    return super::torch::len(v)
                        .map(|n| Value::Int(n as i64))
                        .map_err(|m| fail(it, m))
                }
                other => {
                    return Err(fail(
                        it,
                        format!(
                            "TypeError: object of type '{}' has no len()",
                            other.type_name()
                        ),
                    ))
                }
            };
            Ok(Value::Int(n as i64))
        }
        "float" => match one(it)? {
            Value::Int(i) => Ok(Value::Float(*i as f64)),
            Value::Bool(b) => Ok(Value::Float(*b as i64 as f64)),
            Value::Float(f) => Ok(Value::Float(*f)),
            Value::Str(s) => s.trim().parse::<f64>().map(Value::Float).map_err(|_| {
                fail(
                    it,
                    format!("ValueError: could not convert string to float: '{s}'"),
                )
            }),
            Value::Tensor(t) => super::torch::item(t)
                .map(Value::Float)
                .map_err(|e| it.tensor_error(span, e)),
            other => Err(fail(
                it,
                format!(
                    "TypeError: float() argument must be a string or a real number, not '{}'",
                    other.type_name()
                ),
            )),
        },
        "int" => match one(it)? {
            Value::Int(i) => Ok(Value::Int(*i)),
            Value::Bool(b) => Ok(Value::Int(*b as i64)),
            Value::Float(f) if f.is_finite() => Ok(Value::Int(f.trunc() as i64)),
            Value::Float(_) => Err(fail(
                it,
                "OverflowError: cannot convert float infinity or NaN to integer".into(),
            )),
            Value::Str(s) => s.trim().parse::<i64>().map(Value::Int).map_err(|_| {
                fail(
                    it,
                    format!("ValueError: invalid literal for int() with base 10: '{s}'"),
                )
            }),
            Value::Tensor(t) => super::torch::item(t)
                .map(|f| Value::Int(f.trunc() as i64))
                .map_err(|e| it.tensor_error(span, e)),
            other => Err(fail(
                it,
                format!(
                    "TypeError: int() argument must be a string or a real number, not '{}'",
                    other.type_name()
                ),
            )),
        },
        "abs" => match one(it)? {
            Value::Int(i) => i
                .checked_abs()
                .map(Value::Int)
                .ok_or_else(|| it.overflow(span)),
            Value::Bool(b) => Ok(Value::Int(*b as i64)),
            Value::Float(f) => Ok(Value::Float(f.abs())),
            other => Err(fail(
                it,
                format!(
                    "TypeError: bad operand type for abs(): '{}'",
                    other.type_name()
                ),
            )),
        },
        "min" | "max" => {
            let items = match pos {
                [single] => it.iterate(single, span)?,
                [] => {
                    return Err(fail(
                        it,
                        format!("TypeError: {name} expected at least 1 argument, got 0"),
                    ))
                }
                many => many.to_vec(),
            };
            let mut best: Option<Value> = None;
            for v in items {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let ord = order(&v, &b).ok_or_else(|| {
                            fail(it, format!("TypeError: '<' not supported between instances of '{}' and '{}'", v.type_name(), b.type_name()))
                        })?;
                        let better = if name == "min" {
                            ord.is_lt()
                        } else {
                            ord.is_gt()
                        };
                        if better {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            best.ok_or_else(|| fail(it, format!("ValueError: {name}() arg is an empty sequence")))
        }
        "sum" => {
            let items = match pos {
                [iterable] => it.iterate(iterable, span)?,
                _ => {
                    return Err(fail(
                        it,
                        format!(
                            "TypeError: sum() takes exactly one argument ({} given)",
                            pos.len()
                        ),
                    ))
                }
            };
            // Python's sum starts from 0, so summing tensors computes `0 + t0 + t1 ...`.
            let mut total = Value::Int(0);
            for v in items {
                total = it.binary(total, BinOp::Add, v, span)?;
            }
            Ok(total)
        }
        _ => unreachable!("numeric_builtin is called only for the names in BUILTINS"),
    }
}

/// `list.append`, `clear`, `pop`, `extend`.
pub(super) fn call_list_method(
    it: &mut Interp<'_>,
    list: &ListRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let fail = |it: &Interp<'_>, m: String| it.fail(span, m);
    args.only_keywords(&format!("list.{name}"), &[])
        .map_err(|m| fail(it, m))?;
    match (name, &args.pos[..]) {
        ("append", [v]) => {
            check_nesting(it, Some(list), v, span)?;
            list.borrow_mut().push(Slot {
                value: v.clone(),
                stored_at: span,
            });
            Ok(Value::None)
        }
        ("extend", [v]) => {
            let items = it.iterate(v, span)?;
            for item in &items {
                check_nesting(it, Some(list), item, span)?;
            }
            list.borrow_mut()
                .extend(items.into_iter().map(|value| Slot {
                    value,
                    stored_at: span,
                }));
            Ok(Value::None)
        }
        ("clear", []) => {
            // Take the elements out before dropping them, so their storages are freed with no
            // borrow of the list held.
            let items = std::mem::take(&mut *list.borrow_mut());
            drop(items);
            Ok(Value::None)
        }
        ("pop", rest @ ([] | [_])) => {
            let len = list.borrow().len() as i64;
            let i = match rest {
                [Value::Int(i)] => *i,
                [other] => {
                    return Err(fail(
                        it,
                        format!(
                            "TypeError: '{}' object cannot be interpreted as an integer",
                            other.type_name()
                        ),
                    ))
                }
                _ => -1,
            };
            if len == 0 {
                return Err(fail(it, "IndexError: pop from empty list".into()));
            }
            let j = if i < 0 { i + len } else { i };
            if !(0..len).contains(&j) {
                return Err(fail(it, "IndexError: pop index out of range".into()));
            }
            let slot = list.borrow_mut().remove(j as usize);
            Ok(slot.value)
        }
        ("append" | "extend", _) => Err(fail(
            it,
            format!(
                "TypeError: list.{name}() takes exactly one argument ({} given)",
                args.pos.len()
            ),
        )),
        ("clear", _) => Err(fail(
            it,
            format!(
                "TypeError: list.clear() takes no arguments ({} given)",
                args.pos.len()
            ),
        )),
        ("pop", _) => Err(fail(
            it,
            format!(
                "TypeError: pop expected at most 1 argument, got {}",
                args.pos.len()
            ),
        )),
        _ => Err(fail(
            it,
            format!("AttributeError: 'list' object has no attribute '{name}'"),
        )),
    }
}

/// How deep lists and tuples may nest: printing, comparing, walking and dropping them recurse.
const MAX_NESTING: usize = 32;

/// Checks that storing `value` in `container` (or in a new list or tuple when `None`) keeps
/// lists acyclic and shallow. A list that contains itself would never be freed (Python's cycle
/// collector has no counterpart here), and printing or comparing it would not end.
pub(super) fn check_nesting(
    it: &Interp<'_>,
    container: Option<&ListRef>,
    value: &Value,
    span: Span,
) -> R<()> {
    let mut stack = vec![(value.clone(), 1usize)];
    let mut seen = std::collections::HashSet::new();
    while let Some((v, depth)) = stack.pop() {
        let items: Vec<Value> = match &v {
            Value::List(l) => {
                if container.is_some_and(|c| Rc::ptr_eq(c, l)) {
                    return Err(it
                        .fail(span, "a list cannot contain itself in scenarios")
                        .with_help(
                            "append a copy of the values you need, or the values themselves",
                        ));
                }
                if !seen.insert(Rc::as_ptr(l)) {
                    continue;
                }
                l.borrow().iter().map(|s| s.value.clone()).collect()
            }
            Value::Tuple(t) => t.as_ref().clone(),
            _ => continue,
        };
        if depth >= MAX_NESTING {
            return Err(it.fail(span, format!("lists and tuples nested more than {MAX_NESTING} deep are not supported in scenarios")));
        }
        stack.extend(items.into_iter().map(|i| (i, depth + 1)));
    }
    Ok(())
}

/// The list methods scenarios may call.
pub(super) fn is_list_method(name: &str) -> bool {
    matches!(name, "append" | "extend" | "clear" | "pop")
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

/// Python's arithmetic on ints and floats.
pub(super) fn arith(a: Num, op: BinOp, b: Num) -> Result<Value, String> {
    let overflow = || "OverflowError: integer result does not fit in 64 bits".to_string();
    let zero_div = |what: &str| format!("ZeroDivisionError: {what}");
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
            BinOp::MatMul => {
                Err("TypeError: unsupported operand type(s) for @: 'int' and 'int'".into())
            }
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
                BinOp::MatMul => {
                    Err("TypeError: unsupported operand type(s) for @: 'float' and 'float'".into())
                }
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
pub(super) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q))
        }
        (Value::List(x), Value::List(y)) => {
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| equal(&p.value, &q.value))
        }
        (Value::DType(x), Value::DType(y)) => x == y,
        (Value::Device(x), Value::Device(y)) => x == y,
        // torch.device compares equal to its string form in scenarios' `x.device == "cuda"`.
        (Value::Device(d), Value::Str(s)) | (Value::Str(s), Value::Device(d)) => {
            super::torch::device_named(s) == Some(*d)
        }
        _ => match (num(a), num(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
            (Some(x), Some(y)) => as_f64(x) == as_f64(y),
            _ => false,
        },
    }
}

/// Python's ordering of numbers and strings; `None` where Python raises TypeError.
pub(super) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ => match (num(a)?, num(b)?) {
            (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
            (x, y) => as_f64(x).partial_cmp(&as_f64(y)),
        },
    }
}

/// Wraps a list of values as a fresh Python list stored at `span`.
pub(super) fn new_list(values: Vec<Value>, span: Span) -> Value {
    Value::List(Rc::new(std::cell::RefCell::new(
        values
            .into_iter()
            .map(|value| Slot {
                value,
                stored_at: span,
            })
            .collect(),
    )))
}
