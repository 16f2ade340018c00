//! Calls: any callable value, a scenario function's frame and argument binding, `Class(args)`,
//! and methods bound through a scenario object's class.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::dict::{Dict, DictKind, Key};
use super::super::pyobj::{BoundMethod, Class, Function, Instance, Iter, Native};
use super::super::value::Value;
use super::super::{builtins, exc, stdlib, CallArgs, Interp, X};
use crate::scenario::Span;

impl Interp<'_> {
    /// Calls any callable value.
    pub(crate) fn call(&mut self, callee: Value, args: CallArgs, span: Span) -> X<Value> {
        match callee {
            Value::Function(f) => self.call_function(&f, args, span),
            Value::BoundMethod(b) => {
                let mut args = args;
                args.pos.insert(0, b.receiver.clone());
                self.call(b.func.clone(), args, span)
            }
            Value::Class(c) => self.instantiate(&c, args, span),
            Value::Instance(_) => {
                if let Some(r) =
                    super::super::module::call_module_instance(self, &callee, &args, span)
                {
                    return r;
                }
                match self.lookup_method(&callee, "__call__") {
                    Some(m) => self.call(m, args, span),
                    None => Err(self.raise(
                        "TypeError",
                        format!("'{}' object is not callable", callee.type_name()),
                        span,
                    )),
                }
            }
            Value::Path(p) => builtins::call_path(self, &p.0, args, span),
            Value::Method(recv, name) => builtins::call_method(self, *recv, &name, args, span),
            Value::Module(m) => super::super::module::call_library_module(self, &m, args, span),
            Value::Native(n) => stdlib::call_native(self, &n, args, span),
            // `@torch.no_grad()` / `@torch.enable_grad()` on a function: the context object's
            // `__call__` wraps it, as `_DecoratorContextManager` does.
            Value::GradMode(on) if args.pos.len() == 1 && args.kw.is_empty() => {
                let f = args.pos.into_iter().next().unwrap_or(Value::None);
                Ok(Value::Native(Rc::new(Native::WithGrad(on, f))))
            }
            other => Err(self.raise(
                "TypeError",
                format!("'{}' object is not callable", other.type_name()),
                span,
            )),
        }
    }

    /// Calls a scenario function: binds the arguments in a new frame and runs the body.
    pub(crate) fn call_function(
        &mut self,
        f: &Rc<Function>,
        args: CallArgs,
        span: Span,
    ) -> X<Value> {
        let frame = self.new_frame(&f.code, &f.closure, None, Some(f.clone()));
        self.bind_params(f, &frame, args, span)?;
        if f.code.generator {
            // The body runs when the generator is iterated; the frame lives in it until then.
            let g = super::super::generator::GenState::new(f.clone(), frame);
            return Ok(Value::Iterator(Rc::new(RefCell::new(Iter::Generator(
                Box::new(g),
            )))));
        }
        self.run_frame(frame, &f.def.body, span)
    }

    fn bind_params(
        &mut self,
        f: &Rc<Function>,
        frame: &super::super::FrameRef,
        args: CallArgs,
        span: Span,
    ) -> X<()> {
        let p = &f.def.params;
        let name = &f.qualname;
        let n = p.args.len();
        let mut slots: Vec<Option<Value>> = vec![None; n];
        let mut kwonly: Vec<Option<Value>> = vec![None; p.kwonly.len()];
        let CallArgs { pos, kw } = args;
        let mut extra = Vec::new();
        for (i, v) in pos.into_iter().enumerate() {
            if i < n {
                slots[i] = Some(v);
            } else {
                extra.push(v);
            }
        }
        if !extra.is_empty() && p.vararg.is_none() {
            let given = n + extra.len();
            return Err(self.raise(
                "TypeError",
                format!(
                    "{name}() takes {n} positional argument{} but {given} {} given",
                    if n == 1 { "" } else { "s" },
                    if given == 1 { "was" } else { "were" }
                ),
                span,
            ));
        }
        let kwargs = Dict::shared(DictKind::Plain);
        for (k, v) in kw {
            if let Some(i) = p.args.iter().position(|a| a.name.id == k) {
                if i < p.posonly {
                    if p.kwarg.is_some() {
                        kwargs.borrow_mut().insert(
                            Key::Str(k.as_str().into()),
                            Value::Str(k.as_str().into()),
                            v,
                        );
                        continue;
                    }
                    return Err(self.raise(
                        "TypeError",
                        format!("{name}() got some positional-only arguments passed as keyword arguments: '{k}'"),
                        span,
                    ));
                }
                if slots[i].is_some() {
                    return Err(self.raise(
                        "TypeError",
                        format!("{name}() got multiple values for argument '{k}'"),
                        span,
                    ));
                }
                slots[i] = Some(v);
            } else if let Some(i) = p.kwonly.iter().position(|a| a.name.id == k) {
                kwonly[i] = Some(v);
            } else if p.kwarg.is_some() {
                kwargs.borrow_mut().insert(
                    Key::Str(k.as_str().into()),
                    Value::Str(k.as_str().into()),
                    v,
                );
            } else {
                return Err(self.raise(
                    "TypeError",
                    format!("{name}() got an unexpected keyword argument '{k}'"),
                    span,
                ));
            }
        }
        let first_default = n - f.defaults.len();
        let mut missing = Vec::new();
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() {
                if i >= first_default {
                    *slot = Some(f.defaults[i - first_default].clone());
                } else {
                    missing.push(format!("'{}'", p.args[i].name.id));
                }
            }
        }
        if !missing.is_empty() {
            return Err(self.raise(
                "TypeError",
                format!(
                    "{name}() missing {} required positional argument{}: {}",
                    missing.len(),
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(" and ")
                ),
                span,
            ));
        }
        for (i, slot) in kwonly.iter_mut().enumerate() {
            if slot.is_none() {
                match &f.kw_defaults[i] {
                    Some(d) => *slot = Some(d.clone()),
                    None => {
                        return Err(self.raise(
                            "TypeError",
                            format!(
                                "{name}() missing 1 required keyword-only argument: '{}'",
                                p.kwonly[i].name.id
                            ),
                            span,
                        ))
                    }
                }
            }
        }
        let bind = |param: &str, v: Value| match frame.code.access(param) {
            super::super::pyobj::Access::Fast(i) => frame.fast.borrow_mut()[i] = Some(v),
            super::super::pyobj::Access::Cell(i) => *frame.cells[i].borrow_mut() = Some(v),
            _ => {}
        };
        for (param, v) in p.args.iter().zip(slots) {
            bind(&param.name.id, v.expect("filled above"));
        }
        if let Some(va) = &p.vararg {
            bind(&va.name.id, Value::Tuple(Rc::new(extra)));
        }
        for (param, v) in p.kwonly.iter().zip(kwonly) {
            bind(&param.name.id, v.expect("filled above"));
        }
        if let Some(kw) = &p.kwarg {
            let d = Value::Dict(kwargs);
            self.gc.track_value(&d);
            bind(&kw.name.id, d);
        }
        Ok(())
    }

    /// `Class(args)`: a new object, initialized by `__init__`.
    pub(crate) fn instantiate(&mut self, c: &Rc<Class>, args: CallArgs, span: Span) -> X<Value> {
        let base = c.builtin_base.as_deref().unwrap_or("object");
        let obj = if exc::is_exception_type(base) {
            let e = self.new_exception(base, Some(c.clone()), args.pos.clone(), None, None);
            Value::Exception(e)
        } else {
            let i = Rc::new(Instance {
                class: c.clone(),
                dict: Dict::shared(DictKind::Plain),
                module: RefCell::new(None),
            });
            self.gc.track_instance(&i);
            Value::Instance(i)
        };
        if let Some((init, _)) = c.lookup("__init__") {
            let mut args = args;
            args.pos.insert(0, obj.clone());
            let r = self.call(init, args, span)?;
            if !matches!(r, Value::None) {
                return Err(self.raise(
                    "TypeError",
                    format!("__init__() should return None, not '{}'", r.type_name()),
                    span,
                ));
            }
        } else if !exc::is_exception_type(base) && base != "object" {
            // The library base's own __init__ (`nn.Module`, `Dataset`).
            let mut args = args;
            args.pos.insert(0, obj.clone());
            builtins::call_base_init(self, base, args, span)?;
        } else if base == "object" && (!args.pos.is_empty() || !args.kw.is_empty()) {
            return Err(self.raise(
                "TypeError",
                format!("{}() takes no arguments", c.name),
                span,
            ));
        }
        Ok(obj)
    }

    /// The method `name` of a scenario object's class, bound to it.
    pub(crate) fn lookup_method(&mut self, obj: &Value, name: &str) -> Option<Value> {
        let class = match obj {
            Value::Instance(i) => i.class.clone(),
            Value::Exception(e) => e.class.clone()?,
            _ => return None,
        };
        let (f, _) = class.lookup(name)?;
        Some(self.bind_descriptor(f, obj.clone(), &class))
    }

    /// A class attribute read through an object: functions bind to it, static and class
    /// methods unwrap.
    pub(crate) fn bind_descriptor(&mut self, f: Value, obj: Value, class: &Rc<Class>) -> Value {
        match &f {
            Value::Function(_) => {
                // Tracked: a bound method stored on its own object (a hook) is a cycle.
                let b = Value::BoundMethod(Rc::new(BoundMethod {
                    receiver: obj,
                    func: f,
                }));
                self.gc.track_value(&b);
                b
            }
            Value::Native(n) => match &**n {
                Native::StaticMethod(inner) => inner.clone(),
                Native::ClassMethod(inner) => Value::BoundMethod(Rc::new(BoundMethod {
                    receiver: Value::Class(class.clone()),
                    func: inner.clone(),
                })),
                // A function decorated by `@torch.autocast(...)` or `@torch.no_grad()` is a plain
                // function to Python.
                Native::DataclassInit(_) | Native::WithAutocast(..) | Native::WithGrad(..) => {
                    Value::BoundMethod(Rc::new(BoundMethod {
                        receiver: obj,
                        func: f.clone(),
                    }))
                }
                _ => f,
            },
            _ => f,
        }
    }
}
