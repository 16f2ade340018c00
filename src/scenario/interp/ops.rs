//! Attributes, items, `str`/`repr`/`format`, `isinstance`, `len`, sorting and `super()`: the
//! protocols every value takes part in. This file holds attributes, type checks, sorting and
//! `super()`; items and lengths, and the text of values, are in its child modules.

use std::cmp::Ordering;
use std::rc::Rc;

use super::builtins::{self, has_builtin_method, new_list};
use super::dict::{DictKind, Key};
use super::pyobj::{Class, Native};
use super::value::{Path, Value};
use super::{exc, stdlib, torch, CallArgs, Interp, Unwind, X};
use crate::scenario::Span;

mod format;
mod items;

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

/// Makes a `Value::Path` for a library name.
pub(crate) fn path(p: &str) -> Value {
    Value::Path(Path(p.into()))
}
