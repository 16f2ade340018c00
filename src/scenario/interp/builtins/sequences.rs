//! Sequence operators: `+` and `*` of sequences (watching the clock and the host's memory while
//! copying), `|` of sets and dicts, and `%` of strings.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::dict::{Dict, DictKind, Key};
use super::super::value::Value;
use super::super::{Interp, X};
use super::{int_arg, new_list};
use crate::scenario::{BinOp, Span};

/// How many copies a sequence repetition makes between two looks at the clock: a few
/// microseconds of copying, so that `'ab' * 2**31` stops at the time limit, not seconds after.
const REPEATS_BETWEEN_TIME_CHECKS: usize = 1 << 14;

/// Runs `copy` `times` times, stopping the run at the time limit between copies.
fn repeat_within_time(
    it: &mut Interp<'_>,
    span: Span,
    times: usize,
    mut copy: impl FnMut(),
) -> X<()> {
    for i in 0..times {
        if i % REPEATS_BETWEEN_TIME_CHECKS == 0 {
            it.check_time(span)?;
        }
        copy();
    }
    Ok(())
}

/// An empty vector with room for `len * times + more` items, or Python's `MemoryError` when
/// the host cannot give it (CPython raises it where its allocation fails; a Rust allocation
/// failure would abort the process instead).
fn sized<T>(it: &mut Interp<'_>, span: Span, len: usize, times: usize, more: usize) -> X<Vec<T>> {
    let mut out = Vec::new();
    let fits = len
        .checked_mul(times)
        .and_then(|n| n.checked_add(more))
        .is_some_and(|n| out.try_reserve_exact(n).is_ok());
    if fits {
        Ok(out)
    } else {
        Err(it.raise("MemoryError", String::new(), span))
    }
}

/// `+` and `*` of sequences, `|` of sets and dicts, `%` of strings.
pub(in crate::scenario::interp) fn sequence_op(
    it: &mut Interp<'_>,
    l: &Value,
    op: BinOp,
    r: &Value,
    span: Span,
) -> X<Option<Value>> {
    Ok(Some(match (l, op, r) {
        (Value::List(a), BinOp::Add, Value::List(b)) => {
            let (a, b) = (a.borrow(), b.borrow());
            let mut items = sized(it, span, a.len(), 1, b.len())?;
            items.extend(a.iter().cloned());
            items.extend(b.iter().cloned());
            Value::List(Rc::new(RefCell::new(items)))
        }
        (Value::Tuple(a), BinOp::Add, Value::Tuple(b)) => {
            let mut items = sized(it, span, a.len(), 1, b.len())?;
            items.extend(a.iter().cloned());
            items.extend(b.iter().cloned());
            Value::Tuple(Rc::new(items))
        }
        (Value::Str(a), BinOp::Add, Value::Str(b)) => {
            let mut out =
                String::from_utf8(sized(it, span, a.len(), 1, b.len())?).unwrap_or_default();
            out.push_str(a);
            out.push_str(b);
            Value::Str(out.into())
        }
        (Value::Str(s), BinOp::Mul, n) | (n, BinOp::Mul, Value::Str(s))
            if matches!(n, Value::Int(_) | Value::Bool(_)) =>
        {
            let k = int_arg(it, n, span)?.max(0) as usize;
            let mut out = String::from_utf8(sized(it, span, s.len(), k, 0)?).unwrap_or_default();
            repeat_within_time(it, span, k, || out.push_str(s))?;
            Value::Str(out.into())
        }
        (Value::List(l), BinOp::Mul, n) | (n, BinOp::Mul, Value::List(l))
            if matches!(n, Value::Int(_) | Value::Bool(_)) =>
        {
            let k = int_arg(it, n, span)?.max(0) as usize;
            let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
            let mut out = sized(it, span, items.len(), k, 0)?;
            repeat_within_time(it, span, k, || out.extend(items.iter().cloned()))?;
            new_list(out, span)
        }
        (Value::Tuple(t), BinOp::Mul, n) | (n, BinOp::Mul, Value::Tuple(t))
            if matches!(n, Value::Int(_) | Value::Bool(_)) =>
        {
            let k = int_arg(it, n, span)?.max(0) as usize;
            let mut out = sized(it, span, t.len(), k, 0)?;
            repeat_within_time(it, span, k, || out.extend(t.iter().cloned()))?;
            Value::Tuple(Rc::new(out))
        }
        (
            Value::Set(a),
            BinOp::BitOr | BinOp::BitAnd | BinOp::Sub | BinOp::BitXor,
            Value::Set(b),
        ) => {
            let (a, b) = (a.borrow(), b.borrow());
            let out = Dict::shared(DictKind::Plain);
            for (k, v) in a.items() {
                let key = Key::of(&k).unwrap_or(Key::None);
                let inb = b.contains(&key);
                let keep = match op {
                    BinOp::BitOr | BinOp::Sub | BinOp::BitXor => !inb || op == BinOp::BitOr,
                    _ => inb,
                };
                if keep {
                    out.borrow_mut().insert(key, k, v);
                }
            }
            if matches!(op, BinOp::BitOr | BinOp::BitXor) {
                for (k, v) in b.items() {
                    let key = Key::of(&k).unwrap_or(Key::None);
                    if !a.contains(&key) {
                        out.borrow_mut().insert(key, k, v);
                    }
                }
            }
            Value::Set(out)
        }
        (Value::Dict(a), BinOp::BitOr, Value::Dict(b)) => {
            let out = Dict::shared(DictKind::Plain);
            for (k, v) in a.borrow().items().into_iter().chain(b.borrow().items()) {
                let key = Key::of(&k).unwrap_or(Key::None);
                out.borrow_mut().insert(key, k, v);
            }
            Value::Dict(out)
        }
        (Value::Str(fmt), BinOp::Mod, args) => {
            let args = match args {
                Value::Tuple(t) => t.as_ref().clone(),
                other => vec![other.clone()],
            };
            Value::Str(it.percent_format(fmt, &args, span)?.into())
        }
        _ => return Ok(None),
    }))
}
