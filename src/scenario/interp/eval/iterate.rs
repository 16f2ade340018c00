//! Iteration and mappings: `iter`, `next` and collecting an iterable, with each iterator kind's
//! step, and the keys and items of mappings.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::dict::Key;
use super::super::pyobj::{Iter, Native};
use super::super::value::Value;
use super::super::{builtins, exc, CallArgs, Interp, Unwind, X};
use crate::scenario::Span;

/// How many items collecting an iterable takes between two looks at the clock.
const ITEMS_BETWEEN_TIME_CHECKS: usize = 1 << 14;

impl Interp<'_> {
    /// Every value an iterable yields, as a vector (unpacking, `list(x)`, `*args`).
    pub(crate) fn collect(&mut self, v: Value, span: Span) -> X<Vec<Value>> {
        self.collect_at_most(v, usize::MAX, span)
    }

    /// The first `limit` values an iterable yields (unpacking into `limit - 1` targets needs
    /// one more to tell "too many values"; CPython takes no more either). Tuples and lists
    /// come whole.
    pub(crate) fn collect_at_most(&mut self, v: Value, limit: usize, span: Span) -> X<Vec<Value>> {
        match &v {
            Value::Tuple(t) => return Ok(t.as_ref().clone()),
            Value::List(l) => return Ok(l.borrow().iter().map(|s| s.value.clone()).collect()),
            _ => {}
        }
        let it = self.iter(v, span)?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(x) = self.next(&it, span)? else {
                break;
            };
            out.push(x);
            // Unpacking a 7.8-million-element tensor into a starred target took the eighth
            // campaign 8 s under a 0.5 s limit: long iterables are watched like long copies.
            if out.len() % ITEMS_BETWEEN_TIME_CHECKS == 0 {
                self.check_time(span)?;
            }
            if out.len() > 10_000_000 {
                return Err(self.raise(
                    "MemoryError",
                    "an endless iterator was collected into a list".into(),
                    span,
                ));
            }
        }
        Ok(out)
    }

    /// `iter(v)`.
    pub(crate) fn iter(&mut self, v: Value, span: Span) -> X<Value> {
        let it = match &v {
            Value::Iterator(_) => return Ok(v),
            Value::List(l) => Iter::List(l.clone(), 0),
            Value::Tuple(t) => Iter::Values(t.iter().cloned().collect(), "tuple_iterator"),
            Value::Range(a, b, c) => Iter::Range {
                next: *a,
                stop: *b,
                step: *c,
            },
            Value::Str(s) => Iter::Values(
                s.chars()
                    .map(|c| Value::Str(c.to_string().into()))
                    .collect(),
                "str_iterator",
            ),
            Value::Dict(d) | Value::Set(d) => {
                Iter::Values(d.borrow().keys().into(), "dict_keyiterator")
            }
            Value::Native(n) => match &**n {
                Native::Deque(d, _) => Iter::Values(d.borrow().clone(), "deque_iterator"),
                Native::Tqdm(inner) => return self.iter(inner.clone(), span),
                Native::DataLoader(l) => super::super::data::loader_iter(self, &l.clone(), span)?,
                Native::NamedTuple(_, values) => {
                    Iter::Values(values.iter().cloned().collect(), "tuple_iterator")
                }
                _ => return Err(self.not_iterable(&v, span)),
            },
            Value::Module(m) => match m.children() {
                Some(children) => Iter::Values(
                    children.iter().map(|c| Value::Module(c.clone())).collect(),
                    "iterator",
                ),
                None => return Err(self.not_iterable(&v, span)),
            },
            Value::Tensor(t) => Iter::TensorRows(t.clone(), 0),
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(&v, "__iter__") {
                    return self.call(m, CallArgs::default(), span);
                }
                if let Some(r) = super::super::module::iterate_module_container(self, &v) {
                    return Ok(r);
                }
                if self.lookup_method(&v, "__getitem__").is_some() {
                    return Ok(Value::Iterator(Rc::new(RefCell::new(Iter::GetItem(
                        v.clone(),
                        0,
                    )))));
                }
                return Err(self.not_iterable(&v, span));
            }
            _ => return Err(self.not_iterable(&v, span)),
        };
        Ok(Value::Iterator(Rc::new(RefCell::new(it))))
    }

    fn not_iterable(&mut self, v: &Value, span: Span) -> Unwind {
        self.raise(
            "TypeError",
            format!("'{}' object is not iterable", v.type_name()),
            span,
        )
    }

    /// How many items are left in a known-length iterator; `None` when unknown.
    pub(super) fn remaining(&self, it: &Value) -> Option<usize> {
        let Value::Iterator(it) = it else {
            return None;
        };
        match &*it.borrow() {
            Iter::List(l, i) => Some(l.borrow().len().saturating_sub(*i)),
            Iter::Values(v, _) => Some(v.len()),
            Iter::TensorRows(t, i) => Some(rows(t).saturating_sub(*i)),
            Iter::Range { next, stop, step } => {
                Some(builtins::range_len(&Value::Range(*next, *stop, *step)))
            }
            Iter::Done => Some(0),
            Iter::Enumerate(inner, _) => self.remaining(inner),
            Iter::Zip(inners) => inners.iter().map(|i| self.remaining(i)).min().flatten(),
            _ => None,
        }
    }

    /// `next(it)`: the next item, or `None` when exhausted.
    pub(crate) fn next(&mut self, it: &Value, span: Span) -> X<Option<Value>> {
        let r = match it {
            Value::Iterator(r) => r.clone(),
            Value::Instance(_) => {
                let Some(m) = self.lookup_method(it, "__next__") else {
                    return Err(self.raise(
                        "TypeError",
                        format!("'{}' object is not an iterator", it.type_name()),
                        span,
                    ));
                };
                return match self.call(m, CallArgs::default(), span) {
                    Ok(v) => Ok(Some(v)),
                    Err(Unwind::Exc(e)) if exc::is_subclass_name(&e.kind, "StopIteration") => {
                        Ok(None)
                    }
                    Err(u) => Err(u),
                };
            }
            other => {
                return Err(self.raise(
                    "TypeError",
                    format!("'{}' object is not an iterator", other.type_name()),
                    span,
                ))
            }
        };
        let mut state = std::mem::replace(&mut *r.borrow_mut(), Iter::Done);
        let out = self.advance(&mut state, span);
        if !matches!(state, Iter::Done) && !matches!(out, Ok(None)) {
            *r.borrow_mut() = state;
        }
        out
    }

    fn advance(&mut self, state: &mut Iter, span: Span) -> X<Option<Value>> {
        Ok(match state {
            Iter::Done => None,
            Iter::Generator(g) => super::super::generator::resume(self, g, span)?,
            Iter::List(l, i) => {
                let v = l.borrow().get(*i).map(|s| s.value.clone());
                *i += 1;
                v
            }
            Iter::Values(v, _) => v.pop_front(),
            Iter::TensorRows(t, i) => {
                if *i >= rows(t) {
                    None
                } else {
                    let r = t.select(*i as i64).map_err(|e| self.tensor_error(span, e));
                    *i += 1;
                    Some(Value::Tensor(self.lift(r)?))
                }
            }
            Iter::Range { next, stop, step } => {
                if (*step > 0 && *next < *stop) || (*step < 0 && *next > *stop) {
                    let v = *next;
                    *next = next.saturating_add(*step);
                    Some(Value::Int(v))
                } else {
                    None
                }
            }
            Iter::Count(n, step) => {
                let v = *n;
                *n = n.saturating_add(*step);
                Some(Value::Int(v))
            }
            Iter::Enumerate(inner, n) => match self.next(inner, span)? {
                Some(v) => {
                    let i = *n;
                    *n += 1;
                    Some(Value::Tuple(Rc::new(vec![Value::Int(i), v])))
                }
                None => None,
            },
            Iter::Zip(inners) => {
                let mut items = Vec::with_capacity(inners.len());
                for i in inners.iter() {
                    match self.next(i, span)? {
                        Some(v) => items.push(v),
                        None => return Ok(None),
                    }
                }
                if items.is_empty() {
                    None
                } else {
                    Some(Value::Tuple(Rc::new(items)))
                }
            }
            Iter::GetItem(obj, i) => {
                // The old sequence protocol: `obj[0]`, `obj[1]`, ... until IndexError.
                let Some(m) = self.lookup_method(obj, "__getitem__") else {
                    return Ok(None);
                };
                match self.call(m, CallArgs::positional(vec![Value::Int(*i)]), span) {
                    Ok(v) => {
                        *i += 1;
                        Some(v)
                    }
                    Err(Unwind::Exc(e))
                        if exc::is_subclass_name(&e.kind, "IndexError")
                            || exc::is_subclass_name(&e.kind, "StopIteration") =>
                    {
                        None
                    }
                    Err(u) => return Err(u),
                }
            }
            Iter::Map(f, inners) => {
                let mut items = Vec::with_capacity(inners.len());
                for i in inners.iter() {
                    match self.next(i, span)? {
                        Some(v) => items.push(v),
                        None => return Ok(None),
                    }
                }
                let f = f.clone();
                Some(self.call(f, CallArgs::positional(items), span)?)
            }
            Iter::Filter(f, inner) => loop {
                let Some(v) = self.next(inner, span)? else {
                    break None;
                };
                let keep = match &*f {
                    Value::None => self.truthy(&v, span)?,
                    f => {
                        let f = f.clone();
                        let r = self.call(f, CallArgs::positional(vec![v.clone()]), span)?;
                        self.truthy(&r, span)?
                    }
                };
                if keep {
                    break Some(v);
                }
            },
            Iter::Chain(inners) => loop {
                let Some(front) = inners.front().cloned() else {
                    break None;
                };
                let front = match front {
                    Value::Iterator(_) => front,
                    other => {
                        let it = self.iter(other, span)?;
                        inners[0] = it.clone();
                        it
                    }
                };
                match self.next(&front, span)? {
                    Some(v) => break Some(v),
                    None => {
                        inners.pop_front();
                    }
                }
            },
            Iter::Cycle(seen, inner, i) => {
                if let Some(it) = inner.clone() {
                    match self.next(&it, span)? {
                        Some(v) => {
                            seen.push(v.clone());
                            return Ok(Some(v));
                        }
                        None => *inner = None,
                    }
                }
                if seen.is_empty() {
                    None
                } else {
                    let v = seen[*i % seen.len()].clone();
                    *i += 1;
                    Some(v)
                }
            }
            Iter::Islice {
                inner,
                next,
                pos,
                stop,
                step,
            } => loop {
                if stop.is_some_and(|s| *next >= s) {
                    break None;
                }
                let Some(v) = self.next(inner, span)? else {
                    break None;
                };
                let at = *pos;
                *pos += 1;
                if at == *next {
                    *next += *step;
                    break Some(v);
                }
            },
        })
    }

    /// The hashable key of `v`, or TypeError.
    pub(crate) fn key(&mut self, v: &Value, span: Span) -> X<Key> {
        Key::of(v).ok_or_else(|| {
            self.raise(
                "TypeError",
                format!("unhashable type: '{}'", v.type_name()),
                span,
            )
        })
    }

    /// The `(key, value)` pairs of a mapping (`**d`, `dict(d)`, `d.update(...)`).
    pub(crate) fn mapping_items(&mut self, v: &Value, span: Span) -> X<Vec<(Value, Value)>> {
        match v {
            Value::Dict(d) => Ok(d.borrow().items()),
            other => {
                let items = self.collect(other.clone(), span)?;
                let mut out = Vec::new();
                for item in items {
                    let pair = self.collect(item, span)?;
                    if pair.len() != 2 {
                        return Err(self.raise(
                            "ValueError",
                            format!(
                                "dictionary update sequence element has length {}; 2 is required",
                                pair.len()
                            ),
                            span,
                        ));
                    }
                    let mut pair = pair.into_iter();
                    out.push((
                        pair.next().unwrap_or(Value::None),
                        pair.next().unwrap_or(Value::None),
                    ));
                }
                Ok(out)
            }
        }
    }
}

/// How many rows iterating a tensor yields (none for a 0-dim tensor).
fn rows(t: &crate::tensor::Tensor) -> usize {
    t.shape().first().copied().unwrap_or(0)
}
