//! Methods of the builtin types: which names lists, dicts, sets, strings and deques have, and
//! calling them.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::rc::Rc;

use super::super::dict::{Dict, DictKind, DictRef, Key};
use super::super::pyobj::{Iter, Native};
use super::super::value::{ListRef, Slot, Value};
use super::super::{stdlib, torch, CallArgs, Interp, X};
use super::arith::{equal, order};
use super::sequences::sequence_op;
use super::{int_arg, iterator, new_list, type_error};
use crate::scenario::{BinOp, Span};

/// The list methods scenarios may call.
pub(in crate::scenario::interp) fn is_list_method(name: &str) -> bool {
    LIST_METHODS.contains(&name)
}

const LIST_METHODS: [&str; 11] = [
    "append", "extend", "clear", "pop", "insert", "remove", "index", "count", "sort", "reverse",
    "copy",
];
const DICT_METHODS: [&str; 11] = [
    "get",
    "items",
    "keys",
    "values",
    "update",
    "pop",
    "setdefault",
    "clear",
    "copy",
    "popitem",
    "most_common",
];
const SET_METHODS: [&str; 8] = [
    "add",
    "discard",
    "remove",
    "update",
    "union",
    "intersection",
    "difference",
    "clear",
];
const STR_METHODS: [&str; 22] = [
    "format",
    "join",
    "split",
    "strip",
    "lstrip",
    "rstrip",
    "upper",
    "lower",
    "replace",
    "startswith",
    "endswith",
    "ljust",
    "rjust",
    "center",
    "zfill",
    "title",
    "capitalize",
    "find",
    "count",
    "rsplit",
    "splitlines",
    "isdigit",
];
const DEQUE_METHODS: [&str; 7] = [
    "append",
    "appendleft",
    "pop",
    "popleft",
    "clear",
    "extend",
    "maxlen",
];

/// Whether `recv.name` is a method of a builtin type.
pub(in crate::scenario::interp) fn has_builtin_method(recv: &Value, name: &str) -> bool {
    match recv {
        Value::List(_) => LIST_METHODS.contains(&name),
        Value::Dict(_) => DICT_METHODS.contains(&name),
        Value::Set(_) => SET_METHODS.contains(&name) || name == "copy",
        Value::Str(_) => STR_METHODS.contains(&name),
        Value::Tuple(_) => matches!(name, "index" | "count"),
        Value::Float(_) => matches!(name, "is_integer" | "hex"),
        Value::Int(_) => name == "bit_length",
        Value::Native(n) => match &**n {
            Native::Deque(..) => DEQUE_METHODS.contains(&name),
            Native::Logger(_) => matches!(
                name,
                "info"
                    | "debug"
                    | "warning"
                    | "error"
                    | "critical"
                    | "exception"
                    | "setLevel"
                    | "addHandler"
                    | "log"
                    | "warn"
            ),
            Native::Tqdm(_) => matches!(
                name,
                "set_description"
                    | "set_postfix"
                    | "update"
                    | "close"
                    | "write"
                    | "refresh"
                    | "set_postfix_str"
            ),
            Native::NamedTuple(..) => matches!(name, "_asdict" | "_replace"),
            _ => false,
        },
        Value::Iterator(_) => name == "__next__",
        _ => false,
    }
}

/// A list's methods.
pub(in crate::scenario::interp) fn call_list_method(
    it: &mut Interp<'_>,
    list: &ListRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let pos = &args.pos;
    match (name, pos.as_slice()) {
        ("append", [v]) => {
            list.borrow_mut().push(Slot {
                value: v.clone(),
                stored_at: span,
            });
            Ok(Value::None)
        }
        ("extend", [v]) => {
            let items = it.collect(v.clone(), span)?;
            list.borrow_mut()
                .extend(items.into_iter().map(|value| Slot {
                    value,
                    stored_at: span,
                }));
            Ok(Value::None)
        }
        ("insert", [i, v]) => {
            let i = int_arg(it, i, span)?;
            let len = list.borrow().len() as i64;
            let j = if i < 0 { (i + len).max(0) } else { i.min(len) } as usize;
            list.borrow_mut().insert(
                j,
                Slot {
                    value: v.clone(),
                    stored_at: span,
                },
            );
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
                [v] => int_arg(it, v, span)?,
                _ => -1,
            };
            if len == 0 {
                return Err(it.raise("IndexError", "pop from empty list".into(), span));
            }
            let j = if i < 0 { i + len } else { i };
            if !(0..len).contains(&j) {
                return Err(it.raise("IndexError", "pop index out of range".into(), span));
            }
            let slot = list.borrow_mut().remove(j as usize);
            Ok(slot.value)
        }
        ("remove" | "index" | "count", [v]) => {
            let items: Vec<Value> = list.borrow().iter().map(|s| s.value.clone()).collect();
            let pos = items.iter().position(|x| equal(x, v));
            match name {
                "count" => Ok(Value::Int(
                    items.iter().filter(|x| equal(x, v)).count() as i64
                )),
                "index" => pos.map(|p| Value::Int(p as i64)).ok_or_else(|| {
                    it.raise(
                        "ValueError",
                        format!("{} is not in list", super::super::value::repr(v)),
                        span,
                    )
                }),
                _ => match pos {
                    Some(p) => {
                        let removed = list.borrow_mut().remove(p);
                        drop(removed);
                        Ok(Value::None)
                    }
                    None => {
                        Err(it.raise("ValueError", "list.remove(x): x not in list".into(), span))
                    }
                },
            }
        }
        ("sort", []) => {
            let items: Vec<Value> = list.borrow().iter().map(|s| s.value.clone()).collect();
            let sorted = it.sort_values(
                items,
                args.keyword("key").cloned(),
                args.keyword("reverse").cloned(),
                span,
            )?;
            let old = std::mem::replace(
                &mut *list.borrow_mut(),
                sorted
                    .into_iter()
                    .map(|value| Slot {
                        value,
                        stored_at: span,
                    })
                    .collect(),
            );
            drop(old);
            Ok(Value::None)
        }
        ("reverse", []) => {
            list.borrow_mut().reverse();
            Ok(Value::None)
        }
        ("copy", []) => {
            let items: Vec<Value> = list.borrow().iter().map(|s| s.value.clone()).collect();
            Ok(new_list(items, span))
        }
        _ => Err(type_error(
            it,
            span,
            format!(
                "list.{name}() got the wrong arguments ({} given)",
                pos.len()
            ),
        )),
    }
}

fn call_dict_method(
    it: &mut Interp<'_>,
    d: &DictRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let pos = &args.pos;
    match (name, pos.as_slice()) {
        ("get", [k, rest @ ..]) if rest.len() <= 1 => {
            let key = it.key(k, span)?;
            Ok(d.borrow()
                .get(&key)
                .unwrap_or_else(|| rest.first().cloned().unwrap_or(Value::None)))
        }
        ("items", []) => {
            let items: VecDeque<Value> = d
                .borrow()
                .items()
                .into_iter()
                .map(|(k, v)| Value::Tuple(Rc::new(vec![k, v])))
                .collect();
            Ok(iterator(Iter::Values(items, "dict_itemiterator")))
        }
        ("keys", []) => Ok(iterator(Iter::Values(
            d.borrow().keys().into(),
            "dict_keyiterator",
        ))),
        ("values", []) => Ok(iterator(Iter::Values(
            d.borrow().values().into(),
            "dict_valueiterator",
        ))),
        ("update", _) => {
            let mut items = Vec::new();
            if let Some(v) = pos.first() {
                items = it.mapping_items(v, span)?;
            }
            for (k, v) in &args.kw {
                items.push((Value::Str(k.as_str().into()), v.clone()));
            }
            for (k, v) in items {
                let key = it.key(&k, span)?;
                let old = d.borrow_mut().insert(key, k, v);
                drop(old);
            }
            Ok(Value::None)
        }
        ("pop", [k, rest @ ..]) if rest.len() <= 1 => {
            let key = it.key(k, span)?;
            let removed = d.borrow_mut().remove(&key);
            match (removed, rest.first()) {
                (Some(v), _) => Ok(v),
                (None, Some(default)) => Ok(default.clone()),
                (None, None) => Err(it.raise_key_error(k.clone(), span)),
            }
        }
        ("popitem", []) => {
            let last = d.borrow_mut().pop_last();
            match last {
                Some((k, v)) => Ok(Value::Tuple(Rc::new(vec![k, v]))),
                None => {
                    Err(it
                        .raise_key_error(Value::Str("popitem(): dictionary is empty".into()), span))
                }
            }
        }
        ("setdefault", [k, rest @ ..]) if rest.len() <= 1 => {
            let key = it.key(k, span)?;
            let existing = d.borrow().get(&key);
            match existing {
                Some(v) => Ok(v),
                None => {
                    let v = rest.first().cloned().unwrap_or(Value::None);
                    d.borrow_mut().insert(key, k.clone(), v.clone());
                    Ok(v)
                }
            }
        }
        ("clear", []) => {
            let items = d.borrow_mut().take();
            drop(items);
            Ok(Value::None)
        }
        ("copy", []) => {
            let kind = d.borrow().kind.clone();
            let out = Dict::shared(kind);
            for (k, v) in d.borrow().items() {
                let key = Key::of(&k).unwrap_or(Key::None);
                out.borrow_mut().insert(key, k, v);
            }
            Ok(Value::Dict(out))
        }
        ("most_common", rest @ ([] | [_])) => {
            let mut items = d.borrow().items();
            items.sort_by(|a, b| order(&b.1, &a.1).unwrap_or(Ordering::Equal));
            if let [n] = rest {
                let n = int_arg(it, n, span)?.max(0) as usize;
                items.truncate(n);
            }
            let values = items
                .into_iter()
                .map(|(k, v)| Value::Tuple(Rc::new(vec![k, v])))
                .collect();
            Ok(new_list(values, span))
        }
        _ => Err(type_error(
            it,
            span,
            format!(
                "dict.{name}() got the wrong arguments ({} given)",
                pos.len()
            ),
        )),
    }
}

fn call_set_method(
    it: &mut Interp<'_>,
    s: &DictRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match (name, args.pos.as_slice()) {
        ("add", [v]) => {
            let k = it.key(v, span)?;
            s.borrow_mut().insert(k, v.clone(), Value::None);
            Ok(Value::None)
        }
        ("discard" | "remove", [v]) => {
            let k = it.key(v, span)?;
            let removed = s.borrow_mut().remove(&k);
            if removed.is_none() && name == "remove" {
                return Err(it.raise_key_error(v.clone(), span));
            }
            Ok(Value::None)
        }
        ("update", items) => {
            for v in items {
                for item in it.collect(v.clone(), span)? {
                    let k = it.key(&item, span)?;
                    s.borrow_mut().insert(k, item, Value::None);
                }
            }
            Ok(Value::None)
        }
        ("union" | "intersection" | "difference", [other]) => {
            let items = it.collect(other.clone(), span)?;
            let other_set = Dict::shared(DictKind::Plain);
            for item in items {
                let k = it.key(&item, span)?;
                other_set.borrow_mut().insert(k, item, Value::None);
            }
            let op = match name {
                "union" => BinOp::BitOr,
                "intersection" => BinOp::BitAnd,
                _ => BinOp::Sub,
            };
            Ok(
                sequence_op(it, &Value::Set(s.clone()), op, &Value::Set(other_set), span)?
                    .unwrap_or(Value::None),
            )
        }
        ("clear", []) => {
            let items = s.borrow_mut().take();
            drop(items);
            Ok(Value::None)
        }
        ("copy", []) => {
            let out = Dict::shared(DictKind::Plain);
            for k in s.borrow().keys() {
                let key = Key::of(&k).unwrap_or(Key::None);
                out.borrow_mut().insert(key, k, Value::None);
            }
            Ok(Value::Set(out))
        }
        _ => Err(type_error(
            it,
            span,
            format!(
                "set.{name}() got the wrong arguments ({} given)",
                args.pos.len()
            ),
        )),
    }
}

fn call_str_method(
    it: &mut Interp<'_>,
    s: &Rc<str>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let str_arg = |i: usize| -> Option<String> {
        match args.pos.get(i) {
            Some(Value::Str(x)) => Some(x.to_string()),
            _ => None,
        }
    };
    let out = |x: String| Ok(Value::Str(x.into()));
    match name {
        "format" => {
            let r = it.str_format(s, &args, span)?;
            out(r)
        }
        "join" => {
            let items = match args.pos.first() {
                Some(v) => it.collect(v.clone(), span)?,
                None => Vec::new(),
            };
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Str(x) => parts.push(x.to_string()),
                    other => {
                        return Err(type_error(
                            it,
                            span,
                            format!(
                                "sequence item {}: expected str instance, {} found",
                                parts.len(),
                                other.type_name()
                            ),
                        ))
                    }
                }
            }
            out(parts.join(s))
        }
        "split" | "rsplit" => {
            let parts: Vec<Value> = match str_arg(0) {
                Some(sep) => s
                    .split(sep.as_str())
                    .map(|p| Value::Str(p.into()))
                    .collect(),
                None => s.split_whitespace().map(|p| Value::Str(p.into())).collect(),
            };
            Ok(new_list(parts, span))
        }
        "splitlines" => Ok(new_list(
            s.lines().map(|p| Value::Str(p.into())).collect(),
            span,
        )),
        "strip" | "lstrip" | "rstrip" => {
            let chars: Vec<char> = str_arg(0).map_or_else(Vec::new, |c| c.chars().collect());
            let pat = |c: char| {
                if chars.is_empty() {
                    c.is_whitespace()
                } else {
                    chars.contains(&c)
                }
            };
            out(match name {
                "strip" => s.trim_matches(pat).to_string(),
                "lstrip" => s.trim_start_matches(pat).to_string(),
                _ => s.trim_end_matches(pat).to_string(),
            })
        }
        "upper" => out(s.to_uppercase()),
        "lower" => out(s.to_lowercase()),
        "title" | "capitalize" => {
            let mut r = String::new();
            let mut start = true;
            for c in s.chars() {
                if start {
                    r.extend(c.to_uppercase());
                } else if name == "capitalize" {
                    r.extend(c.to_lowercase());
                } else {
                    r.push(c);
                }
                start = name == "title" && !c.is_alphanumeric();
            }
            out(r)
        }
        "replace" => match (str_arg(0), str_arg(1)) {
            (Some(a), Some(b)) => out(s.replace(a.as_str(), &b)),
            _ => Err(type_error(
                it,
                span,
                "replace() takes two string arguments".into(),
            )),
        },
        "startswith" | "endswith" => {
            let prefixes: Vec<String> = match args.pos.first() {
                Some(Value::Str(p)) => vec![p.to_string()],
                Some(Value::Tuple(t)) => t.iter().map(|v| v.to_string()).collect(),
                _ => Vec::new(),
            };
            let r = prefixes.iter().any(|p| {
                if name == "startswith" {
                    s.starts_with(p.as_str())
                } else {
                    s.ends_with(p.as_str())
                }
            });
            Ok(Value::Bool(r))
        }
        "find" => Ok(Value::Int(
            str_arg(0)
                .and_then(|p| s.find(p.as_str()))
                .map_or(-1, |i| s[..i].chars().count() as i64),
        )),
        "count" => Ok(Value::Int(
            str_arg(0).map_or(0, |p| s.matches(p.as_str()).count() as i64),
        )),
        "isdigit" => Ok(Value::Bool(
            !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()),
        )),
        "ljust" | "rjust" | "center" | "zfill" => {
            let width = match args.pos.first() {
                Some(v) => int_arg(it, v, span)?.max(0) as usize,
                None => 0,
            };
            let fill = if name == "zfill" {
                '0'
            } else {
                str_arg(1).and_then(|f| f.chars().next()).unwrap_or(' ')
            };
            let align = match name {
                "ljust" => '<',
                "center" => '^',
                _ => '>',
            };
            out(pad(it, s, width, fill, align, span)?)
        }
        _ => Err(it.raise(
            "AttributeError",
            format!("'str' object has no attribute '{name}'"),
            span,
        )),
    }
}

/// How many fill characters padding writes between two looks at the clock: a millisecond or
/// so, so that a width of billions stops at the time limit (the eighth campaign's hangs).
const FILLS_BETWEEN_TIME_CHECKS: usize = 1 << 20;

/// Pads `s` to `width` characters with `fill`, aligned left (`<`), right (`>`) or centred.
/// Python's `MemoryError` when the host cannot hold the result (a width of 322,222,222,214 was
/// a fuzzer's find); the run stops at its time limit while the padding is written.
pub(in crate::scenario::interp) fn pad(
    it: &mut Interp<'_>,
    s: &str,
    width: usize,
    fill: char,
    align: char,
    span: Span,
) -> X<String> {
    let n = s.chars().count();
    if n >= width {
        return Ok(s.to_string());
    }
    let total = width - n;
    let (left, right) = match align {
        '<' => (0, total),
        '^' => (total / 2, total - total / 2),
        _ => (total, 0),
    };
    let mut out = reserved(it, total.checked_mul(fill.len_utf8()), s.len(), span)?;
    fill_within_time(it, &mut out, fill, left, span)?;
    out.push_str(s);
    fill_within_time(it, &mut out, fill, right, span)?;
    Ok(out)
}

/// `head`, `count` copies of `fill`, then `tail` (the zeros of a large format precision), with
/// padding's memory and time checks.
pub(in crate::scenario::interp) fn filled(
    it: &mut Interp<'_>,
    head: &str,
    fill: char,
    count: usize,
    tail: &str,
    span: Span,
) -> X<String> {
    let mut out = reserved(
        it,
        count.checked_mul(fill.len_utf8()),
        head.len() + tail.len(),
        span,
    )?;
    out.push_str(head);
    fill_within_time(it, &mut out, fill, count, span)?;
    out.push_str(tail);
    Ok(out)
}

/// An empty string with room for `fill_bytes + more` bytes, or Python's `MemoryError` when the
/// host cannot give it (a Rust allocation failure would abort the process instead).
fn reserved(it: &mut Interp<'_>, fill_bytes: Option<usize>, more: usize, span: Span) -> X<String> {
    let mut out = String::new();
    let fits = fill_bytes
        .and_then(|n| n.checked_add(more))
        .is_some_and(|n| out.try_reserve_exact(n).is_ok());
    if fits {
        Ok(out)
    } else {
        Err(it.raise("MemoryError", String::new(), span))
    }
}

/// Appends `count` copies of `fill`, stopping the run at the time limit between blocks.
fn fill_within_time(
    it: &mut Interp<'_>,
    out: &mut String,
    fill: char,
    mut count: usize,
    span: Span,
) -> X<()> {
    while count > 0 {
        it.check_time(span)?;
        let block = count.min(FILLS_BETWEEN_TIME_CHECKS);
        out.extend(std::iter::repeat_n(fill, block));
        count -= block;
    }
    Ok(())
}

/// Calls the builtin method `name` of `recv`; other receivers go to torch.
pub(in crate::scenario::interp) fn call_method(
    it: &mut Interp<'_>,
    recv: Value,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match &recv {
        Value::List(l) => return call_list_method(it, &l.clone(), name, args, span),
        Value::Dict(d) => return call_dict_method(it, &d.clone(), name, args, span),
        Value::Set(s) => return call_set_method(it, &s.clone(), name, args, span),
        Value::Str(s) => return call_str_method(it, &s.clone(), name, args, span),
        Value::Tuple(t) => {
            let items = t.as_ref().clone();
            let v = args.pos.first().cloned().unwrap_or(Value::None);
            return match name {
                "count" => Ok(Value::Int(
                    items.iter().filter(|x| equal(x, &v)).count() as i64
                )),
                _ => items
                    .iter()
                    .position(|x| equal(x, &v))
                    .map(|p| Value::Int(p as i64))
                    .ok_or_else(|| {
                        it.raise("ValueError", "tuple.index(x): x not in tuple".into(), span)
                    }),
            };
        }
        Value::Float(f) => {
            return Ok(match name {
                "is_integer" => Value::Bool(f.fract() == 0.0),
                _ => Value::Str(format!("{f:e}").into()),
            })
        }
        Value::Int(i) => return Ok(Value::Int(64 - i.unsigned_abs().leading_zeros() as i64)),
        Value::Iterator(_) => {
            return match it.next(&recv, span)? {
                Some(v) => Ok(v),
                None => Err(it.raise("StopIteration", String::new(), span)),
            }
        }
        Value::Native(n) => return stdlib::call_native_method(it, &n.clone(), name, args, span),
        Value::Class(c) if name == "apply" && super::super::autograd::is_function_class(c) => {
            return super::super::autograd::apply(it, &c.clone(), args, span)
        }
        Value::Instance(i) if super::super::autograd::is_ctx(i) => {
            return super::super::autograd::ctx_method(it, &i.clone(), name, args, span)
        }
        _ => {}
    }
    if let Some(r) = super::super::module::call_library_module_method(it, &recv, name, &args, span)
    {
        return r;
    }
    torch::call_method(it, recv, name, args, span)
}
