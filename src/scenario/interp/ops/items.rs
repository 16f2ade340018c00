//! Items and lengths: subscripts and slices of every value kind, item assignment and deletion,
//! and `len`, with Python's IndexError and TypeError wording.

use std::rc::Rc;

use super::super::builtins::{self, new_list};
use super::super::dict::DictKind;
use super::super::pyobj::Native;
use super::super::value::{Slot, Value};
use super::super::{number, torch, CallArgs, Interp, Num, Unwind, X};
use crate::scenario::Span;

impl Interp<'_> {
    fn index_error(&mut self, what: &str, span: Span) -> Unwind {
        self.raise("IndexError", format!("{what} index out of range"), span)
    }

    /// The position `i` in a sequence of `len`, Python's negative indices included.
    fn position(&mut self, i: &Value, len: usize, what: &str, span: Span) -> X<usize> {
        let i = match i {
            Value::Int(i) => *i,
            Value::Bool(b) => *b as i64,
            Value::Tensor(t) if t.numel() == 1 => {
                let r = torch::item(t).map_err(|e| self.tensor_error(span, e));
                self.lift(r)? as i64
            }
            other => {
                return Err(self.raise(
                    "TypeError",
                    format!(
                        "{what} indices must be integers or slices, not {}",
                        other.type_name()
                    ),
                    span,
                ))
            }
        };
        let j = if i < 0 { i + len as i64 } else { i };
        if (0..len as i64).contains(&j) {
            Ok(j as usize)
        } else {
            Err(self.index_error(what, span))
        }
    }

    /// The positions a slice selects in a sequence of `len`.
    fn slice_positions(&mut self, s: &Native, len: usize, span: Span) -> X<Vec<usize>> {
        let Native::Slice(a, b, c) = s else {
            return Ok(Vec::new());
        };
        let get = |v: &Value| match number(v) {
            Some(Num::Int(i)) => Some(i),
            _ => None,
        };
        let step = get(c).unwrap_or(1);
        if step == 0 {
            return Err(self.raise("ValueError", "slice step cannot be zero".into(), span));
        }
        let len = len as i64;
        let clamp = |v: Option<i64>, default: i64, lo: i64, hi: i64| match v {
            None => default,
            Some(i) if i < 0 => (i + len).clamp(lo, hi),
            Some(i) => i.clamp(lo, hi),
        };
        let mut out = Vec::new();
        if step > 0 {
            let (start, stop) = (clamp(get(a), 0, 0, len), clamp(get(b), len, 0, len));
            let mut i = start;
            while i < stop {
                out.push(i as usize);
                i += step;
            }
        } else {
            let (start, stop) = (
                clamp(get(a), len - 1, -1, len - 1),
                clamp(get(b), -1, -1, len - 1),
            );
            let mut i = start;
            while i > stop {
                out.push(i as usize);
                i += step;
            }
        }
        Ok(out)
    }

    /// `obj[idx]`.
    pub(crate) fn get_item(&mut self, obj: Value, idx: Value, span: Span) -> X<Value> {
        let slice = match &idx {
            Value::Native(n) if matches!(&**n, Native::Slice(..)) => Some(n.clone()),
            _ => None,
        };
        match &obj {
            Value::List(l) => {
                let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
                match slice {
                    Some(s) => {
                        let pos = self.slice_positions(&s, items.len(), span)?;
                        let l = new_list(pos.into_iter().map(|p| items[p].clone()).collect(), span);
                        self.gc.track_value(&l);
                        Ok(l)
                    }
                    None => {
                        let p = self.position(&idx, items.len(), "list", span)?;
                        Ok(items[p].clone())
                    }
                }
            }
            Value::Tuple(t) => match slice {
                Some(s) => {
                    let pos = self.slice_positions(&s, t.len(), span)?;
                    Ok(Value::Tuple(Rc::new(
                        pos.into_iter().map(|p| t[p].clone()).collect(),
                    )))
                }
                None => {
                    let p = self.position(&idx, t.len(), "tuple", span)?;
                    Ok(t[p].clone())
                }
            },
            Value::Str(s) => {
                let chars: Vec<char> = s.chars().collect();
                match slice {
                    Some(sl) => {
                        let pos = self.slice_positions(&sl, chars.len(), span)?;
                        Ok(Value::Str(
                            pos.into_iter().map(|p| chars[p]).collect::<String>().into(),
                        ))
                    }
                    None => {
                        let p = self.position(&idx, chars.len(), "string", span)?;
                        Ok(Value::Str(chars[p].to_string().into()))
                    }
                }
            }
            Value::Range(..) => {
                let n = builtins::range_len(&obj);
                let p = self.position(&idx, n, "range object", span)?;
                let Value::Range(a, _, c) = obj else {
                    unreachable!()
                };
                Ok(Value::Int(a + p as i64 * c))
            }
            Value::Dict(d) => {
                let key = self.key(&idx, span)?;
                let found = d.borrow().get(&key);
                if let Some(v) = found {
                    return Ok(v);
                }
                let kind = d.borrow().kind.clone();
                match kind {
                    DictKind::Default(f) => {
                        let v = self.call(f, CallArgs::default(), span)?;
                        d.borrow_mut().insert(key, idx.clone(), v.clone());
                        Ok(v)
                    }
                    DictKind::Counter => Ok(Value::Int(0)),
                    _ => Err(self.raise_key_error(idx.clone(), span)),
                }
            }
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(&obj, "__getitem__") {
                    return self.call(m, CallArgs::positional(vec![idx]), span);
                }
                if let Some(r) = super::super::module::container_item(self, &obj, &idx, span) {
                    return r;
                }
                Err(self.raise(
                    "TypeError",
                    format!("'{}' object is not subscriptable", obj.type_name()),
                    span,
                ))
            }
            Value::Native(n) => match &**n {
                Native::NamedTuple(_, values) => {
                    let values = values.clone();
                    self.get_item(Value::Tuple(values), idx, span)
                }
                Native::TensorDataset(tensors) => {
                    let mut items = Vec::with_capacity(tensors.len());
                    for t in tensors.clone() {
                        items.push(self.get_item(t, idx.clone(), span)?);
                    }
                    Ok(Value::Tuple(Rc::new(items)))
                }
                Native::Subset(dataset, indices) => {
                    let p = self.position(&idx, indices.len(), "list", span)?;
                    let (dataset, i) = (dataset.clone(), indices[p]);
                    self.get_item(dataset, Value::Int(i), span)
                }
                Native::Deque(d, _) => {
                    let len = d.borrow().len();
                    let p = self.position(&idx, len, "deque", span)?;
                    Ok(d.borrow()[p].clone())
                }
                _ => Err(self.raise(
                    "TypeError",
                    format!("'{}' object is not subscriptable", obj.type_name()),
                    span,
                )),
            },
            Value::Module(m) => {
                let i = match idx {
                    Value::Int(i) => i,
                    other => {
                        return Err(self.raise(
                            "TypeError",
                            format!("indices must be integers, not {}", other.type_name()),
                            span,
                        ))
                    }
                };
                let r = torch::module_index(m, i).map_err(|msg| self.fail(span, msg));
                self.lift(r)
            }
            Value::Tensor(t) => {
                let r = torch::tensor_getitem(t, &idx);
                let r = self.subscript_result(r, span);
                Ok(Value::Tensor(self.lift(r)?))
            }
            Value::Path(p) => {
                // `List[int]`, `Dict[str, float]`, `Optional[Tensor]`: typing's generics are
                // accepted and mean nothing at run time.
                Ok(Value::Path(p.clone()))
            }
            other => Err(self.raise(
                "TypeError",
                format!("'{}' object is not subscriptable", other.type_name()),
                span,
            )),
        }
    }

    /// `obj[idx] = v`.
    pub(crate) fn set_item(&mut self, obj: &Value, idx: Value, v: Value, span: Span) -> X<()> {
        match obj {
            Value::List(l) => {
                if let Value::Native(n) = &idx {
                    if matches!(&**n, Native::Slice(..)) {
                        let len = l.borrow().len();
                        let pos = self.slice_positions(n, len, span)?;
                        let values = self.collect(v, span)?;
                        let contiguous = pos.windows(2).all(|w| w[1] == w[0] + 1);
                        if !contiguous && values.len() != pos.len() {
                            return Err(self.raise(
                                "ValueError",
                                format!(
                                    "attempt to assign sequence of size {} to extended slice of size {}",
                                    values.len(),
                                    pos.len()
                                ),
                                span,
                            ));
                        }
                        let start = pos.first().copied().unwrap_or(len);
                        let removed: Vec<Slot> = {
                            let mut list = l.borrow_mut();
                            let end = pos.last().map_or(start, |e| e + 1);
                            list.splice(
                                start..end,
                                values.into_iter().map(|value| Slot {
                                    value,
                                    stored_at: span,
                                }),
                            )
                            .collect()
                        };
                        drop(removed);
                        return Ok(());
                    }
                }
                let len = l.borrow().len();
                let p = self.position(&idx, len, "list assignment", span)?;
                let old = std::mem::replace(
                    &mut l.borrow_mut()[p],
                    Slot {
                        value: v,
                        stored_at: span,
                    },
                );
                drop(old);
                Ok(())
            }
            Value::Dict(d) => {
                let key = self.key(&idx, span)?;
                let old = d.borrow_mut().insert(key, idx, v);
                drop(old);
                Ok(())
            }
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(obj, "__setitem__") {
                    self.call(m, CallArgs::positional(vec![idx, v]), span)?;
                    return Ok(());
                }
                if let Some(r) = super::super::module::set_container_item(self, obj, &idx, v, span)
                {
                    return r;
                }
                Err(self.raise(
                    "TypeError",
                    format!(
                        "'{}' object does not support item assignment",
                        obj.type_name()
                    ),
                    span,
                ))
            }
            Value::Native(n) => match &**n {
                Native::Deque(d, _) => {
                    let len = d.borrow().len();
                    let p = self.position(&idx, len, "deque", span)?;
                    let old = std::mem::replace(&mut d.borrow_mut()[p], v);
                    drop(old);
                    Ok(())
                }
                _ => Err(self.raise(
                    "TypeError",
                    format!(
                        "'{}' object does not support item assignment",
                        obj.type_name()
                    ),
                    span,
                )),
            },
            Value::Tensor(t) => {
                let r = torch::tensor_setitem(t, &idx, &v);
                let r = self.subscript_result(r, span);
                self.lift(r)
            }
            other => Err(self.raise(
                "TypeError",
                format!(
                    "'{}' object does not support item assignment",
                    other.type_name()
                ),
                span,
            )),
        }
    }

    /// `del obj[idx]`.
    pub(crate) fn del_item(&mut self, obj: &Value, idx: Value, span: Span) -> X<()> {
        match obj {
            Value::List(l) => {
                let len = l.borrow().len();
                let pos = match &idx {
                    Value::Native(n) if matches!(&**n, Native::Slice(..)) => {
                        self.slice_positions(n, len, span)?
                    }
                    _ => vec![self.position(&idx, len, "list assignment", span)?],
                };
                let mut removed = Vec::new();
                for p in pos.into_iter().rev() {
                    removed.push(l.borrow_mut().remove(p));
                }
                drop(removed);
                Ok(())
            }
            Value::Dict(d) => {
                let key = self.key(&idx, span)?;
                let removed = d.borrow_mut().remove(&key);
                match removed {
                    Some(v) => {
                        drop(v);
                        Ok(())
                    }
                    None => Err(self.raise_key_error(idx.clone(), span)),
                }
            }
            Value::Instance(_) => match self.lookup_method(obj, "__delitem__") {
                Some(m) => {
                    self.call(m, CallArgs::positional(vec![idx]), span)?;
                    Ok(())
                }
                None => Err(self.raise(
                    "TypeError",
                    format!("'{}' object doesn't support item deletion", obj.type_name()),
                    span,
                )),
            },
            other => Err(self.raise(
                "TypeError",
                format!(
                    "'{}' object doesn't support item deletion",
                    other.type_name()
                ),
                span,
            )),
        }
    }

    /// `len(v)`.
    pub(crate) fn len_of(&mut self, v: &Value, span: Span) -> X<usize> {
        Ok(match v {
            Value::List(l) => l.borrow().len(),
            Value::Tuple(t) => t.len(),
            Value::Str(s) => s.chars().count(),
            Value::Dict(d) | Value::Set(d) => d.borrow().len(),
            Value::Range(..) => builtins::range_len(v),
            Value::Native(n) => match &**n {
                Native::Deque(d, _) => d.borrow().len(),
                Native::NamedTuple(_, values) => values.len(),
                Native::TensorDataset(tensors) => match tensors.first() {
                    Some(Value::Tensor(t)) => t.shape().first().copied().unwrap_or(0),
                    _ => 0,
                },
                Native::Subset(_, indices) => indices.len(),
                Native::DataLoader(l) => {
                    let l = l.clone();
                    return super::super::data::loader_len(self, &l, span);
                }
                Native::Tqdm(inner) => {
                    let inner = inner.clone();
                    return self.len_of(&inner, span);
                }
                _ => return Err(self.no_len(v, span)),
            },
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(v, "__len__") {
                    let r = self.call(m, CallArgs::default(), span)?;
                    return match r {
                        Value::Int(i) if i >= 0 => Ok(i as usize),
                        _ => Err(self.raise(
                            "TypeError",
                            "'__len__' should return a non-negative int".into(),
                            span,
                        )),
                    };
                }
                match super::super::module::container_len(v) {
                    Some(n) => n,
                    None => return Err(self.no_len(v, span)),
                }
            }
            Value::Tensor(_) | Value::Module(_) => {
                let r = torch::len(v).map_err(|m| self.fail(span, m));
                self.lift(r)?
            }
            other => return Err(self.no_len(other, span)),
        })
    }

    fn no_len(&mut self, v: &Value, span: Span) -> Unwind {
        self.raise(
            "TypeError",
            format!("object of type '{}' has no len()", v.type_name()),
            span,
        )
    }
}
