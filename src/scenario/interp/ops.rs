//! Attributes, items, `str`/`repr`/`format`, `isinstance`, `len`, sorting and `super()`: the
//! protocols every value takes part in.

use std::cmp::Ordering;
use std::rc::Rc;

use super::builtins::{self, has_builtin_method, new_list, pad};
use super::dict::{DictKind, Key};
use super::exc;
use super::pyobj::{Class, Native};
use super::value::{Path, Slot, Value};
use super::{number, stdlib, torch, CallArgs, Interp, Num, Unwind, X};
use crate::scenario::Span;

impl Interp<'_> {
    /// Appends printed or logged text to the run's output, one entry per line.
    pub(crate) fn emit(&mut self, text: &str) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        self.output.extend(text.split('\n').map(str::to_string));
    }

    fn no_attribute(&mut self, obj: &Value, attr: &str, span: Span) -> Unwind {
        let message = match obj {
            Value::Path(p) if stdlib::is_module(&p.0) => {
                format!("module '{}' has no attribute '{attr}'", p.0)
            }
            Value::Class(c) => format!("type object '{}' has no attribute '{attr}'", c.name),
            other => format!("'{}' object has no attribute '{attr}'", other.type_name()),
        };
        self.raise("AttributeError", message, span)
    }

    /// `obj.attr`.
    pub(crate) fn get_attr(&mut self, obj: Value, attr: &str, span: Span) -> X<Value> {
        match &obj {
            Value::Path(p) => {
                if attr == "__name__" {
                    return Ok(Value::Str(p.0.rsplit('.').next().unwrap_or(&p.0).into()));
                }
                match self.module_attr(&p.0, attr) {
                    Some(v) => Ok(v),
                    None => Err(self.no_attribute(&obj, attr, span)),
                }
            }
            Value::Instance(i) => {
                let i = i.clone();
                match attr {
                    "__class__" => return Ok(Value::Class(i.class.clone())),
                    "__dict__" => return Ok(Value::Dict(i.dict.clone())),
                    _ => {}
                }
                let class_attr = i.class.lookup(attr);
                // A property wins over the instance dict, as data descriptors do.
                if let Some((Value::Native(n), _)) = &class_attr {
                    if let Native::Property(fget, _) = &**n {
                        let fget = fget.clone();
                        return self.call(fget, CallArgs::positional(vec![obj.clone()]), span);
                    }
                }
                if let Some(v) = i.dict.borrow().get(&Key::Str(attr.into())) {
                    return Ok(v);
                }
                if super::autograd::is_ctx(&i) {
                    if attr == "saved_tensors" {
                        return super::autograd::saved_tensors(self, &i, span);
                    }
                    if super::autograd::is_ctx_method(attr) {
                        return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
                    }
                }
                if let Some(v) = super::module::module_attr(&i, attr) {
                    return Ok(v);
                }
                if let Some((v, _)) = class_attr {
                    return Ok(self.bind_descriptor(v, obj.clone(), &i.class));
                }
                if super::module::has_instance_method(&i, attr) {
                    return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
                }
                if let Some((getattr, _)) = i.class.lookup("__getattr__") {
                    let f = self.bind_descriptor(getattr, obj.clone(), &i.class);
                    return self.call(f, CallArgs::positional(vec![Value::Str(attr.into())]), span);
                }
                Err(self.no_attribute(&obj, attr, span))
            }
            Value::Class(c) => {
                let c = c.clone();
                match attr {
                    "__name__" | "__qualname__" => return Ok(Value::Str(c.name.clone())),
                    "__mro__" => {
                        return Ok(Value::Tuple(Rc::new(
                            c.mro().into_iter().map(Value::Class).collect(),
                        )))
                    }
                    _ => {}
                }
                match c.lookup(attr) {
                    Some((v, _)) => Ok(match &v {
                        Value::Native(n) => match &**n {
                            Native::StaticMethod(f) => f.clone(),
                            Native::ClassMethod(f) => {
                                Value::BoundMethod(Rc::new(super::pyobj::BoundMethod {
                                    receiver: obj.clone(),
                                    func: f.clone(),
                                }))
                            }
                            _ => v.clone(),
                        },
                        _ => v,
                    }),
                    None if attr == "apply" && super::autograd::is_function_class(&c) => {
                        Ok(Value::Method(Box::new(obj.clone()), attr.into()))
                    }
                    None => match c.builtin_base.as_deref() {
                        // `nn.Module.forward`-style reads through a subclass reach the base.
                        Some(base) if base != "object" => {
                            match stdlib::attribute_of_module(base, attr) {
                                Some(v) => Ok(v),
                                None => Err(self.no_attribute(&obj, attr, span)),
                            }
                        }
                        _ => Err(self.no_attribute(&obj, attr, span)),
                    },
                }
            }
            Value::Exception(e) => {
                let e = e.clone();
                match attr {
                    "args" => return Ok(Value::Tuple(Rc::new(e.args.borrow().clone()))),
                    "__cause__" => return Ok(e.cause.borrow().clone().unwrap_or(Value::None)),
                    "__context__" => return Ok(e.context.borrow().clone().unwrap_or(Value::None)),
                    "__traceback__" => {
                        return Ok(if e.traceback.borrow().is_empty() {
                            Value::None
                        } else {
                            Value::Exception(e.clone())
                        })
                    }
                    "__class__" => return Ok(builtins::type_of(&obj)),
                    _ => {}
                }
                if let Some(v) = e.dict.borrow().get(&Key::Str(attr.into())) {
                    return Ok(v);
                }
                if let Some(c) = &e.class {
                    if let Some((v, _)) = c.lookup(attr) {
                        let c = c.clone();
                        return Ok(self.bind_descriptor(v, obj.clone(), &c));
                    }
                }
                if attr == "with_traceback" || attr == "__init__" {
                    return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
                }
                Err(self.no_attribute(&obj, attr, span))
            }
            Value::Function(f) => match attr {
                "__name__" => Ok(Value::Str(f.def.name.id.as_str().into())),
                "__qualname__" => Ok(Value::Str(f.qualname.clone())),
                "__doc__" => Ok(Value::None),
                _ => {
                    let found = f.attrs.borrow().get(&Key::Str(attr.into()));
                    match found {
                        Some(v) => Ok(v),
                        None => Err(self.no_attribute(&obj, attr, span)),
                    }
                }
            },
            Value::BoundMethod(b) => match attr {
                "__self__" => Ok(b.receiver.clone()),
                "__func__" => Ok(b.func.clone()),
                _ => self.get_attr(b.func.clone(), attr, span),
            },
            Value::Native(n) => {
                let n = n.clone();
                stdlib::native_attr(self, &n, &obj, attr, span)
            }
            Value::Tensor(_) | Value::Module(_) | Value::Optimizer(_) | Value::Scheduler(_) => {
                if let Some(v) = torch::get_attr(&obj, attr) {
                    return Ok(v);
                }
                if torch::has_method(&obj, attr)
                    || super::module::is_library_module_method(&obj, attr)
                {
                    return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
                }
                Err(self.no_attribute(&obj, attr, span))
            }
            Value::Float(f) if attr == "real" => Ok(Value::Float(*f)),
            Value::Int(i) if attr == "real" => Ok(Value::Int(*i)),
            _ => {
                if has_builtin_method(&obj, attr) {
                    if let (Value::Native(n), "maxlen") = (&obj, attr) {
                        if let Native::Deque(_, m) = &**n {
                            return Ok(m.map_or(Value::None, |m| Value::Int(m as i64)));
                        }
                    }
                    return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
                }
                if let (Value::Dict(d), "default_factory") = (&obj, attr) {
                    if let DictKind::Default(f) = &d.borrow().kind {
                        return Ok(f.clone());
                    }
                }
                Err(self.no_attribute(&obj, attr, span))
            }
        }
    }

    /// `module.attr`, with the module state this run owns (`os.environ`).
    pub(crate) fn module_attr(&mut self, module: &str, attr: &str) -> Option<Value> {
        match (module, attr) {
            ("os", "environ") => Some(Value::Dict(self.environ.clone())),
            _ => stdlib::attribute_of_module(module, attr),
        }
    }

    /// `obj.attr = v`.
    pub(crate) fn set_attr(&mut self, obj: &Value, attr: &str, v: Value, span: Span) -> X<()> {
        match obj {
            Value::Instance(i) => {
                let i = i.clone();
                if let Some((Value::Native(n), _)) = i.class.lookup(attr) {
                    if let Native::Property(_, fset) = &*n {
                        let fset = fset.borrow().clone();
                        if matches!(fset, Value::None) {
                            return Err(self.raise(
                                "AttributeError",
                                format!(
                                    "property '{attr}' of '{}' object has no setter",
                                    i.class.name
                                ),
                                span,
                            ));
                        }
                        self.call(fset, CallArgs::positional(vec![obj.clone(), v]), span)?;
                        return Ok(());
                    }
                }
                if let Some(r) = super::module::set_module_attr(self, &i, attr, &v, span) {
                    return r;
                }
                let old =
                    i.dict
                        .borrow_mut()
                        .insert(Key::Str(attr.into()), Value::Str(attr.into()), v);
                drop(old);
                Ok(())
            }
            Value::Exception(e) => {
                if attr == "args" {
                    let items = self.collect(v, span)?;
                    *e.args.borrow_mut() = items;
                    return Ok(());
                }
                let old =
                    e.dict
                        .borrow_mut()
                        .insert(Key::Str(attr.into()), Value::Str(attr.into()), v);
                drop(old);
                Ok(())
            }
            Value::Class(c) => {
                let old =
                    c.dict
                        .borrow_mut()
                        .insert(Key::Str(attr.into()), Value::Str(attr.into()), v);
                drop(old);
                Ok(())
            }
            Value::Function(f) => {
                let old =
                    f.attrs
                        .borrow_mut()
                        .insert(Key::Str(attr.into()), Value::Str(attr.into()), v);
                drop(old);
                Ok(())
            }
            Value::Native(n) => match (&**n, attr) {
                (Native::Tqdm(_), _) => Ok(()),
                (Native::Logger(_), _) => Ok(()),
                _ => Err(self.no_attribute(obj, attr, span)),
            },
            other => {
                let r = torch::set_attr(other, attr, v).map_err(|m| self.fail(span, m));
                self.lift(r)
            }
        }
    }

    /// `del obj.attr`.
    pub(crate) fn del_attr(&mut self, obj: &Value, attr: &str, span: Span) -> X<()> {
        let removed = match obj {
            Value::Instance(i) => {
                let r = i.dict.borrow_mut().remove(&Key::Str(attr.into()));
                r.or_else(|| super::module::del_module_attr(i, attr))
            }
            Value::Exception(e) => e.dict.borrow_mut().remove(&Key::Str(attr.into())),
            Value::Class(c) => c.dict.borrow_mut().remove(&Key::Str(attr.into())),
            Value::Tensor(t) if attr == "grad" => {
                t.set_grad(None);
                Some(Value::None)
            }
            _ => None,
        };
        match removed {
            Some(v) => {
                drop(v);
                Ok(())
            }
            None => Err(self.no_attribute(obj, attr, span)),
        }
    }

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
                    _ => Err(self.raise("KeyError", super::value::repr(&idx), span)),
                }
            }
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(&obj, "__getitem__") {
                    return self.call(m, CallArgs::positional(vec![idx]), span);
                }
                if let Some(r) = super::module::container_item(self, &obj, &idx, span) {
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
                let r = match torch::tensor_index(&idx) {
                    Ok((items, is_tuple)) => t
                        .index(&items, is_tuple)
                        .map_err(|e| self.tensor_error(span, e)),
                    Err(msg) => Err(self.fail(span, msg).with_help(
                        "index with integers, slices, None and ... (indexing with tensors is not supported yet)",
                    )),
                };
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
                if let Some(r) = super::module::set_container_item(self, obj, &idx, v, span) {
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
            Value::Tensor(_) => {
                let f = self.fail(
                    span,
                    "RuntimeError: assigning into a tensor (`x[i] = ...`) is not supported in scenarios yet",
                );
                self.lift(Err(f))
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
                    None => Err(self.raise("KeyError", super::value::repr(&idx), span)),
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
                    return super::data::loader_len(self, &l, span);
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
                match super::module::container_len(v) {
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

    /// `str(v)`.
    pub(crate) fn str_of(&mut self, v: &Value, span: Span) -> X<String> {
        match v {
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(v, "__str__") {
                    let r = self.call(m, CallArgs::default(), span)?;
                    return Ok(r.to_string());
                }
                self.repr_of(v, span)
            }
            Value::Exception(e) => {
                if let Some(m) = self.lookup_method(v, "__str__") {
                    let r = self.call(m, CallArgs::default(), span)?;
                    return Ok(r.to_string());
                }
                Ok(e.message())
            }
            other => Ok(torch::display(other)),
        }
    }

    /// `repr(v)`.
    pub(crate) fn repr_of(&mut self, v: &Value, span: Span) -> X<String> {
        match v {
            Value::Instance(i) => {
                if let Some(m) = self.lookup_method(v, "__repr__") {
                    let r = self.call(m, CallArgs::default(), span)?;
                    return Ok(r.to_string());
                }
                if let Some(r) = super::module::module_repr(i) {
                    return Ok(r);
                }
                Ok(v.to_string())
            }
            other => Ok(super::value::repr(other)),
        }
    }

    /// `format(v, spec)`: Python's format-spec mini-language.
    pub(crate) fn format_value(&mut self, v: &Value, spec: &str, span: Span) -> X<String> {
        if spec.is_empty() {
            return self.str_of(v, span);
        }
        let v = match v {
            // Tensor.__format__ formats a one-element tensor's number.
            Value::Tensor(t) if t.numel() == 1 => {
                let r = torch::item(t).map_err(|e| self.tensor_error(span, e));
                let x = self.lift(r)?;
                match t.dtype() {
                    crate::base::DType::F32 => Value::Float(x),
                    _ => Value::Int(x as i64),
                }
            }
            other => other.clone(),
        };
        let Some(f) = FormatSpec::parse(spec) else {
            return Err(self.raise(
                "ValueError",
                format!("Invalid format specifier '{spec}'"),
                span,
            ));
        };
        let body = match (f.kind, number(&v)) {
            (Some('d'), Some(Num::Int(i))) => group(i.unsigned_abs().to_string(), f.comma),
            (Some('d'), _) => {
                return Err(self.raise(
                    "ValueError",
                    format!(
                        "Unknown format code 'd' for object of type '{}'",
                        v.type_name()
                    ),
                    span,
                ))
            }
            (Some(k @ ('f' | 'F' | 'e' | 'E' | 'g' | 'G' | '%')), Some(n)) => {
                let x = match n {
                    Num::Int(i) => i as f64,
                    Num::Float(x) => x,
                };
                let p = f.precision.unwrap_or(6);
                let x = x.abs();
                match k {
                    'f' | 'F' => group(format!("{x:.p$}"), f.comma),
                    '%' => format!("{:.p$}%", x * 100.0),
                    'e' | 'E' => {
                        let s = py_exp(x, p);
                        if k == 'E' {
                            s.to_uppercase()
                        } else {
                            s
                        }
                    }
                    _ => py_general(x, if p == 0 { 1 } else { p }),
                }
            }
            (Some('x' | 'X' | 'b' | 'o'), Some(Num::Int(i))) => match f.kind {
                Some('x') => format!("{:x}", i.unsigned_abs()),
                Some('X') => format!("{:X}", i.unsigned_abs()),
                Some('b') => format!("{:b}", i.unsigned_abs()),
                _ => format!("{:o}", i.unsigned_abs()),
            },
            (None, Some(Num::Float(x))) if f.precision.is_some() => {
                py_general(x.abs(), f.precision.unwrap_or(6).max(1))
            }
            (None, Some(Num::Int(i))) if !matches!(v, Value::Bool(_)) => {
                group(i.unsigned_abs().to_string(), f.comma)
            }
            (None | Some('s'), _) => {
                let mut s = self.str_of(&v, span)?;
                if let Some(p) = f.precision {
                    s = s.chars().take(p).collect();
                }
                return Ok(pad(&s, f.width, f.fill, f.align.unwrap_or('<')));
            }
            (Some(k), _) => {
                return Err(self.raise(
                    "ValueError",
                    format!(
                        "Unknown format code '{k}' for object of type '{}'",
                        v.type_name()
                    ),
                    span,
                ))
            }
        };
        let negative = match number(&v) {
            Some(Num::Int(i)) => i < 0,
            Some(Num::Float(x)) => x.is_sign_negative() && x != 0.0,
            None => false,
        };
        let sign = if negative {
            "-"
        } else {
            match f.sign {
                Some('+') => "+",
                Some(' ') => " ",
                _ => "",
            }
        };
        if f.zero && f.align.is_none() {
            let width = f.width.saturating_sub(sign.len());
            return Ok(format!("{sign}{}", pad(&body, width, '0', '>')));
        }
        Ok(pad(
            &format!("{sign}{body}"),
            f.width,
            f.fill,
            f.align.unwrap_or('>'),
        ))
    }

    /// `fmt % args`.
    pub(crate) fn percent_format(&mut self, fmt: &str, args: &[Value], span: Span) -> X<String> {
        let mut out = String::new();
        let mut chars = fmt.chars().peekable();
        let mut next_arg = args.iter();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut spec = String::new();
            while let Some(&d) = chars.peek() {
                chars.next();
                if d.is_ascii_alphabetic() || d == '%' {
                    spec.push(d);
                    break;
                }
                spec.push(d);
            }
            if spec == "%" {
                out.push('%');
                continue;
            }
            let Some(arg) = next_arg.next() else {
                return Err(self.raise(
                    "TypeError",
                    "not enough arguments for format string".into(),
                    span,
                ));
            };
            let (flags, kind) = spec.split_at(spec.len().saturating_sub(1));
            let text = match kind {
                "s" => self.str_of(arg, span)?,
                "r" => self.repr_of(arg, span)?,
                "i" => self.format_value(arg, &format!("{flags}d"), span)?,
                k => self.format_value(arg, &format!("{flags}{k}"), span)?,
            };
            out.push_str(&text);
        }
        Ok(out)
    }

    /// `fmt.format(*args, **kwargs)`.
    pub(crate) fn str_format(&mut self, fmt: &str, args: &CallArgs, span: Span) -> X<String> {
        let mut out = String::new();
        let mut chars = fmt.chars().peekable();
        let mut auto = 0usize;
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    out.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    out.push('}');
                }
                '{' => {
                    let mut field = String::new();
                    let mut depth = 1;
                    for d in chars.by_ref() {
                        match d {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        field.push(d);
                    }
                    let (name, spec) = field.split_once(':').unwrap_or((&field, ""));
                    let (name, conversion) = match name.split_once('!') {
                        Some((n, c)) => (n, c.chars().next()),
                        None => (name, None),
                    };
                    let mut parts = name.split('.');
                    let head = parts.next().unwrap_or("");
                    let mut v = if head.is_empty() {
                        let v = args.pos.get(auto).cloned();
                        auto += 1;
                        v
                    } else if let Ok(i) = head.parse::<usize>() {
                        args.pos.get(i).cloned()
                    } else {
                        args.keyword(head).cloned()
                    }
                    .ok_or_else(|| {
                        self.raise(
                            "IndexError",
                            format!(
                                "Replacement index {head} out of range for positional args tuple"
                            ),
                            span,
                        )
                    })?;
                    for attr in parts {
                        v = self.get_attr(v, attr, span)?;
                    }
                    let v = match conversion {
                        Some('r') => Value::Str(self.repr_of(&v, span)?.into()),
                        Some('s') => Value::Str(self.str_of(&v, span)?.into()),
                        _ => v,
                    };
                    let spec = if spec.contains('{') {
                        self.str_format(spec, args, span)?
                    } else {
                        spec.to_string()
                    };
                    out.push_str(&self.format_value(&v, &spec, span)?);
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }

    /// `isinstance(v, t)`.
    pub(crate) fn isinstance(&mut self, v: &Value, t: &Value) -> bool {
        match t {
            Value::Tuple(items) => items.iter().any(|t| self.isinstance(v, t)),
            Value::Class(c) => match v {
                Value::Instance(i) => i.class.is_subclass(c),
                Value::Exception(e) => e.class.as_ref().is_some_and(|ec| ec.is_subclass(c)),
                _ => false,
            },
            Value::Path(p) => {
                let p = &*p.0;
                if exc::is_exception_type(p) {
                    return matches!(v, Value::Exception(e) if exc::is_subclass_name(&e.kind, p));
                }
                match (p, v) {
                    ("object", _) => true,
                    ("int", Value::Int(_) | Value::Bool(_)) => true,
                    ("float", Value::Float(_)) => true,
                    ("bool", Value::Bool(_)) => true,
                    ("str", Value::Str(_)) => true,
                    ("list", Value::List(_)) => true,
                    ("tuple", Value::Tuple(_)) => true,
                    ("tuple", Value::Native(n)) => matches!(&**n, Native::NamedTuple(..)),
                    (
                        "dict" | "typing.Dict" | "typing.Mapping" | "collections.abc.Mapping",
                        Value::Dict(_),
                    ) => true,
                    ("collections.OrderedDict", Value::Dict(d)) => {
                        matches!(d.borrow().kind, DictKind::Ordered)
                    }
                    ("collections.defaultdict", Value::Dict(d)) => {
                        matches!(d.borrow().kind, DictKind::Default(_))
                    }
                    ("set", Value::Set(_)) => true,
                    ("range", Value::Range(..)) => true,
                    ("type", Value::Class(_)) => true,
                    ("torch.Tensor", Value::Tensor(_)) => true,
                    ("torch.nn.Parameter", Value::Tensor(t)) => self.parameters.contains(&t.id()),
                    ("torch.nn.Module", Value::Module(_)) => true,
                    ("torch.optim.Optimizer", Value::Optimizer(_)) => true,
                    (_, Value::Instance(i)) => i
                        .class
                        .builtin_base
                        .as_deref()
                        .is_some_and(|b| b == p || super::module::is_module_base_of(b, p)),
                    (_, Value::Module(m)) => super::module::library_module_is(m, p),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// `issubclass(c, t)`.
    pub(crate) fn issubclass(&mut self, c: &Value, t: &Value) -> bool {
        match (c, t) {
            (_, Value::Tuple(items)) => items.iter().any(|t| self.issubclass(c, t)),
            (Value::Class(a), Value::Class(b)) => a.is_subclass(b),
            (Value::Class(a), Value::Path(p)) => a
                .builtin_base
                .as_deref()
                .is_some_and(|b| b == &*p.0 || exc::is_subclass_name(b, &p.0)),
            (Value::Path(a), Value::Path(b)) => a == b || exc::is_subclass_name(&a.0, &b.0),
            _ => false,
        }
    }

    /// `a < b`, with `__lt__` for scenario objects.
    pub(crate) fn less(&mut self, a: &Value, b: &Value, span: Span) -> X<bool> {
        if let Some(m) = self.lookup_method(a, "__lt__") {
            let r = self.call(m, CallArgs::positional(vec![b.clone()]), span)?;
            return self.truthy(&r, span);
        }
        if matches!(a, Value::Tensor(_)) || matches!(b, Value::Tensor(_)) {
            let r = self.compare(a, crate::scenario::CmpOp::Lt, b, span)?;
            return self.truthy(&r, span);
        }
        match builtins::order(a, b) {
            Some(o) => Ok(o == Ordering::Less),
            None => Err(self.raise(
                "TypeError",
                format!(
                    "'<' not supported between instances of '{}' and '{}'",
                    a.type_name(),
                    b.type_name()
                ),
                span,
            )),
        }
    }

    /// A stable sort by `key`, as `sorted` and `list.sort` do.
    pub(crate) fn sort_values(
        &mut self,
        items: Vec<Value>,
        key: Option<Value>,
        reverse: Option<Value>,
        span: Span,
    ) -> X<Vec<Value>> {
        let mut keyed = Vec::with_capacity(items.len());
        for v in items {
            let k = match &key {
                Some(f) if !matches!(f, Value::None) => {
                    self.call(f.clone(), CallArgs::positional(vec![v.clone()]), span)?
                }
                _ => v.clone(),
            };
            keyed.push((k, v));
        }
        // Insertion sort through `less`, which may call back into the scenario; lists sorted
        // in training scripts are short.
        let mut sorted: Vec<(Value, Value)> = Vec::with_capacity(keyed.len());
        for item in keyed {
            let mut at = sorted.len();
            while at > 0 && self.less(&item.0, &sorted[at - 1].0, span)? {
                at -= 1;
            }
            sorted.insert(at, item);
        }
        let reverse = match reverse {
            Some(r) => self.truthy(&r, span)?,
            None => false,
        };
        let mut out: Vec<Value> = sorted.into_iter().map(|(_, v)| v).collect();
        if reverse {
            out.reverse();
        }
        Ok(out)
    }

    /// `obj.name(*args)`.
    pub(crate) fn call_method_by_name(
        &mut self,
        obj: Value,
        name: &str,
        args: CallArgs,
        span: Span,
    ) -> X<Value> {
        let m = self.get_attr(obj, name, span)?;
        self.call(m, args, span)
    }

    /// `super()` and `super(Class, obj)`.
    pub(crate) fn super_call(&mut self, args: &CallArgs, span: Span) -> X<Value> {
        let (class, obj) = match args.pos.as_slice() {
            [Value::Class(c), obj] => (c.clone(), obj.clone()),
            [] => {
                let frame = self.frame().clone();
                let class = frame.func.as_ref().and_then(|f| f.owner.borrow().upgrade());
                let first = frame
                    .func
                    .as_ref()
                    .and_then(|f| f.def.params.args.first())
                    .map(|p| p.name.id.clone());
                let obj = match &first {
                    Some(name) => self.load(name, span).ok(),
                    None => None,
                };
                match (class, obj) {
                    (Some(c), Some(o)) => (c, o),
                    _ => {
                        return Err(self.raise(
                            "RuntimeError",
                            "super(): no arguments".into(),
                            span,
                        ))
                    }
                }
            }
            _ => {
                return Err(self.raise(
                    "TypeError",
                    "super() takes a class and an object".into(),
                    span,
                ))
            }
        };
        Ok(Value::Native(Rc::new(Native::Super(obj, class))))
    }

    /// `super().attr`: the attribute from the classes after `class` in the object's MRO, or
    /// the library base's.
    pub(crate) fn super_attr(
        &mut self,
        obj: &Value,
        class: &Rc<Class>,
        attr: &str,
        span: Span,
    ) -> X<Value> {
        let obj_class = match obj {
            Value::Instance(i) => i.class.clone(),
            Value::Exception(e) => match &e.class {
                Some(c) => c.clone(),
                None => class.clone(),
            },
            Value::Class(c) => c.clone(),
            _ => class.clone(),
        };
        let mro = obj_class.mro();
        let after = mro
            .iter()
            .position(|c| Rc::ptr_eq(c, class))
            .map_or(mro.len(), |p| p + 1);
        for c in &mro[after..] {
            if let Some(v) = c.dict.borrow().get(&Key::Str(attr.into())) {
                let c = c.clone();
                return Ok(self.bind_descriptor(v, obj.clone(), &c));
            }
        }
        // The library base: `super().__init__()` of `nn.Module`, `Exception`, `Dataset`.
        if attr == "__init__" || super::module::has_base_method(obj, attr) {
            return Ok(Value::Method(
                Box::new(obj.clone()),
                format!("super:{attr}").into(),
            ));
        }
        Err(self.raise(
            "AttributeError",
            format!("'super' object has no attribute '{attr}'"),
            span,
        ))
    }

    /// A class for `object()` instances.
    pub(crate) fn object_class(&mut self) -> Rc<Class> {
        Rc::new(Class {
            name: "object".into(),
            bases: Vec::new(),
            dict: super::dict::Dict::shared(DictKind::Plain),
            builtin_base: Some("object".into()),
        })
    }

    /// A fresh list of `values`, tracked by the cycle collector.
    pub(crate) fn list(&mut self, values: Vec<Value>, span: Span) -> Value {
        let l = new_list(values, span);
        self.gc.track_value(&l);
        l
    }
}

/// `[[fill]align][sign][0][width][,][.precision][type]`.
struct FormatSpec {
    fill: char,
    align: Option<char>,
    sign: Option<char>,
    zero: bool,
    width: usize,
    comma: bool,
    precision: Option<usize>,
    kind: Option<char>,
}

impl FormatSpec {
    fn parse(spec: &str) -> Option<FormatSpec> {
        let chars: Vec<char> = spec.chars().collect();
        let mut i = 0;
        let mut f = FormatSpec {
            fill: ' ',
            align: None,
            sign: None,
            zero: false,
            width: 0,
            comma: false,
            precision: None,
            kind: None,
        };
        let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
        if chars.len() >= 2 && is_align(chars[1]) {
            f.fill = chars[0];
            f.align = Some(chars[1]);
            i = 2;
        } else if chars.first().is_some_and(|c| is_align(*c)) {
            f.align = Some(chars[0]);
            i = 1;
        }
        if let Some(&c) = chars.get(i) {
            if matches!(c, '+' | '-' | ' ') {
                f.sign = Some(c);
                i += 1;
            }
        }
        if chars.get(i) == Some(&'#') {
            i += 1;
        }
        if chars.get(i) == Some(&'0') {
            f.zero = true;
            i += 1;
        }
        let start = i;
        while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if i > start {
            f.width = chars[start..i].iter().collect::<String>().parse().ok()?;
        }
        if matches!(chars.get(i), Some(',') | Some('_')) {
            f.comma = chars[i] == ',';
            i += 1;
        }
        if chars.get(i) == Some(&'.') {
            i += 1;
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
            f.precision = Some(chars[start..i].iter().collect::<String>().parse().ok()?);
        }
        if let Some(&c) = chars.get(i) {
            f.kind = Some(c);
            i += 1;
        }
        (i == chars.len()).then_some(f)
    }
}

/// Thousands separators for the integer part of `digits`.
fn group(digits: String, comma: bool) -> String {
    if !comma {
        return digits;
    }
    let (int, frac) = match digits.split_once('.') {
        Some((a, b)) => (a.to_string(), format!(".{b}")),
        None => (digits, String::new()),
    };
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out + &frac
}

/// `{:e}` as Python writes it: `1.234500e-03`.
fn py_exp(x: f64, p: usize) -> String {
    let s = format!("{x:.p$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let exp: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        }
        None => s,
    }
}

/// `{:g}` as Python writes it.
fn py_general(x: f64, p: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let exp = x.abs().log10().floor() as i32;
    if exp < -4 || exp >= p as i32 {
        let s = py_exp(x, p.saturating_sub(1));
        let (m, e) = s.split_once('e').unwrap_or((&s, ""));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}e{e}")
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// Makes a `Value::Path` for a library name.
pub(crate) fn path(p: &str) -> Value {
    Value::Path(Path(p.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_specs_read_as_python_reads_them() {
        let f = FormatSpec::parse(">10.3f").unwrap();
        assert_eq!(
            (f.align, f.width, f.precision, f.kind),
            (Some('>'), 10, Some(3), Some('f'))
        );
        assert!(FormatSpec::parse("10.3fx").is_none());
        assert_eq!(group("1234567.5".into(), true), "1,234,567.5");
        assert_eq!(py_exp(0.0012345, 2), "1.23e-03");
        assert_eq!(py_general(0.0001234, 6), "0.0001234");
        assert_eq!(py_general(1234567.0, 6), "1.23457e+06");
        assert_eq!(py_general(2.5, 6), "2.5");
    }
}
