//! Library objects (`partial(...)`, namedtuple classes, deques, loggers, tqdm bars, `@no_grad`
//! functions): calling them, their methods and their attributes.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::dict::{Dict, DictKind, Key};
use super::super::pyobj::{Iter, Native};
use super::super::value::Value;
use super::super::{CallArgs, Interp, Unwind, X};
use crate::scenario::Span;

/// Calls a library object (`partial(...)`, a namedtuple class, a `@no_grad` function).
pub(in crate::scenario::interp) fn call_native(
    it: &mut Interp<'_>,
    n: &Rc<Native>,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match &**n {
        Native::FetchBatch(loader) => {
            let indices = args.pos.first().cloned().unwrap_or(Value::None);
            super::super::data::fetch(it, loader, &indices, span)
        }
        Native::Partial(f, pos, kw) => {
            let mut all = CallArgs {
                pos: pos.clone(),
                kw: kw.clone(),
            };
            all.pos.extend(args.pos);
            for (k, v) in args.kw {
                all.kw.retain(|(name, _)| *name != k);
                all.kw.push((k, v));
            }
            it.call(f.clone(), all, span)
        }
        Native::NamedTupleType(_, fields) => {
            let mut values = args.pos.clone();
            for f in &fields[values.len().min(fields.len())..] {
                match args.keyword(f) {
                    Some(v) => values.push(v.clone()),
                    None => {
                        return Err(it.raise(
                            "TypeError",
                            format!("missing required argument: '{f}'"),
                            span,
                        ))
                    }
                }
            }
            Ok(Value::Native(Rc::new(Native::NamedTuple(
                n.clone(),
                Rc::new(values),
            ))))
        }
        Native::WithGrad(on, f) => {
            let made = {
                let _mode = it.rt.set_grad_enabled(*on);
                it.call(f.clone(), args, span)?
            };
            // A decorated generator function: its body runs later, at each `next()`, and
            // each run is in the decorator's mode (PyTorch 1.5 on; pytorch#31497).
            if let Value::Iterator(i) = &made {
                if let Iter::Generator(g) = &mut *i.borrow_mut() {
                    g.set_grad_mode(*on);
                }
            }
            Ok(made)
        }
        // `@torch.autocast(...)` on a function, as `autocast.__call__` decorates it.
        Native::Autocast(a) => match args.pos.as_slice() {
            [f] if args.kw.is_empty() => {
                Ok(Value::Native(Rc::new(Native::WithAutocast(*a, f.clone()))))
            }
            _ => Err(it.raise(
                "TypeError",
                "autocast() as a decorator takes one function".into(),
                span,
            )),
        },
        Native::WithAutocast(a, f) => {
            let _region = it
                .rt
                .autocast(a.device, a.dtype, a.enabled, a.cache_enabled);
            it.call(f.clone(), args, span)
        }
        Native::Wraps(_) => Ok(args.pos.first().cloned().unwrap_or(Value::None)),
        Native::StaticMethod(f) | Native::ClassMethod(f) => it.call(f.clone(), args, span),
        Native::DataclassInit(fields) => {
            let mut pos = args.pos.into_iter();
            let Some(obj) = pos.next() else {
                return Err(it.raise("TypeError", "__init__() missing 'self'".into(), span));
            };
            let given: Vec<Value> = pos.collect();
            for (i, (name, default)) in fields.iter().enumerate() {
                let v = match given.get(i).cloned().or_else(|| {
                    args.kw
                        .iter()
                        .find(|(k, _)| **k == **name)
                        .map(|(_, v)| v.clone())
                }) {
                    Some(v) => v,
                    None => match default {
                        Some(Value::Native(d)) if matches!(&**d, Native::FieldFactory(_)) => {
                            let Native::FieldFactory(f) = &**d else {
                                unreachable!()
                            };
                            it.call(f.clone(), CallArgs::default(), span)?
                        }
                        Some(d) => d.clone(),
                        None => {
                            return Err(it.raise(
                                "TypeError",
                                format!(
                                    "__init__() missing 1 required positional argument: '{name}'"
                                ),
                                span,
                            ))
                        }
                    },
                };
                it.set_attr(&obj, name, v, span)?;
            }
            if let Some(post) = it.lookup_method(&obj, "__post_init__") {
                it.call(post, CallArgs::default(), span)?;
            }
            Ok(Value::None)
        }
        other => Err(it.raise(
            "TypeError",
            format!("'{}' object is not callable", other.type_name()),
            span,
        )),
    }
}

/// Methods of library objects: `deque.append`, `logger.info`, `tqdm.set_postfix`.
pub(in crate::scenario::interp) fn call_native_method(
    it: &mut Interp<'_>,
    n: &Rc<Native>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match &**n {
        Native::Deque(d, maxlen) => {
            match name {
                "append" | "appendleft" => {
                    let v = args.pos.first().cloned().unwrap_or(Value::None);
                    let dropped = {
                        let mut d = d.borrow_mut();
                        if name == "append" {
                            d.push_back(v);
                        } else {
                            d.push_front(v);
                        }
                        // A full deque drops from the other end: the bounded-history idiom.
                        match maxlen {
                            Some(m) if d.len() > *m => {
                                if name == "append" {
                                    d.pop_front()
                                } else {
                                    d.pop_back()
                                }
                            }
                            _ => None,
                        }
                    };
                    drop(dropped);
                    Ok(Value::None)
                }
                "extend" => {
                    let items =
                        it.collect(args.pos.first().cloned().unwrap_or(Value::None), span)?;
                    for v in items {
                        call_native_method(it, n, "append", CallArgs::positional(vec![v]), span)?;
                    }
                    Ok(Value::None)
                }
                "pop" | "popleft" => {
                    let v = if name == "pop" {
                        d.borrow_mut().pop_back()
                    } else {
                        d.borrow_mut().pop_front()
                    };
                    v.ok_or_else(|| it.raise("IndexError", "pop from an empty deque".into(), span))
                }
                "clear" => {
                    let items = std::mem::take(&mut *d.borrow_mut());
                    drop(items);
                    Ok(Value::None)
                }
                _ => Err(it.raise(
                    "AttributeError",
                    format!("'deque' object has no attribute '{name}'"),
                    span,
                )),
            }
        }
        Native::Logger(logger) => {
            let level = match name {
                "debug" => 10,
                "info" => 20,
                "warning" | "warn" => 30,
                "error" | "exception" => 40,
                "critical" => 50,
                "log" => match args.pos.first() {
                    Some(Value::Int(l)) => *l,
                    _ => 20,
                },
                _ => return Ok(Value::None),
            };
            let skip = usize::from(name == "log");
            if level >= it.log_level {
                let fmt = match args.pos.get(skip) {
                    Some(v) => it.str_of(v, span)?,
                    None => String::new(),
                };
                let rest = args.pos.get(skip + 1..).unwrap_or(&[]).to_vec();
                let message = if rest.is_empty() {
                    fmt
                } else {
                    it.percent_format(&fmt, &rest, span)?
                };
                let level_name = match level {
                    10 => "DEBUG",
                    20 => "INFO",
                    30 => "WARNING",
                    40 => "ERROR",
                    _ => "CRITICAL",
                };
                it.emit(&format!("{level_name}:{logger}:{message}"));
            }
            Ok(Value::None)
        }
        Native::Tqdm(_) => {
            if name == "write" {
                let text = match args.pos.first() {
                    Some(v) => it.str_of(v, span)?,
                    None => String::new(),
                };
                it.emit(&text);
            }
            Ok(Value::None)
        }
        Native::NamedTuple(t, values) => {
            let Native::NamedTupleType(_, fields) = &**t else {
                return Ok(Value::None);
            };
            match name {
                "_asdict" => {
                    let d = Dict::shared(DictKind::Plain);
                    for (f, v) in fields.iter().zip(values.iter()) {
                        d.borrow_mut().insert(
                            Key::Str(f.clone()),
                            Value::Str(f.clone()),
                            v.clone(),
                        );
                    }
                    Ok(Value::Dict(d))
                }
                _ => {
                    let mut values = values.as_ref().clone();
                    for (k, v) in &args.kw {
                        if let Some(i) = fields.iter().position(|f| **f == **k) {
                            values[i] = v.clone();
                        }
                    }
                    Ok(Value::Native(Rc::new(Native::NamedTuple(
                        t.clone(),
                        Rc::new(values),
                    ))))
                }
            }
        }
        Native::Property(fget, _) if name == "setter" => {
            let fset = args.pos.first().cloned().unwrap_or(Value::None);
            Ok(Value::Native(Rc::new(Native::Property(
                fget.clone(),
                RefCell::new(fset),
            ))))
        }
        Native::GradScaler(s) => {
            let r = super::super::torch::scaler_method(it, s, name, args, span);
            it.lift(r)
        }
        Native::TensorHookHandle(handle) if name == "remove" => {
            handle.remove();
            Ok(Value::None)
        }
        Native::GradFn(node) if name == "name" => Ok(Value::Str(node.name().into())),
        other => Err(it.raise(
            "AttributeError",
            format!("'{}' object has no attribute '{name}'", other.type_name()),
            span,
        )),
    }
}

/// Attributes of library objects.
pub(in crate::scenario::interp) fn native_attr(
    it: &mut Interp<'_>,
    n: &Rc<Native>,
    obj: &Value,
    attr: &str,
    span: Span,
) -> X<Value> {
    match &**n {
        Native::Super(o, class) => it.super_attr(o, class, attr, span),
        Native::NamedTuple(t, values) => {
            if let Native::NamedTupleType(_, fields) = &**t {
                if let Some(i) = fields.iter().position(|f| **f == *attr) {
                    return Ok(values[i].clone());
                }
            }
            if super::super::builtins::has_builtin_method(obj, attr) {
                return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
            }
            Err(no_attr(it, obj, attr, span))
        }
        Native::NamedTupleType(name, fields) => match attr {
            "__name__" => Ok(Value::Str(name.clone())),
            "_fields" => Ok(Value::Tuple(Rc::new(
                fields.iter().map(|f| Value::Str(f.clone())).collect(),
            ))),
            _ => Err(no_attr(it, obj, attr, span)),
        },
        Native::Property(fget, fset) => match attr {
            "setter" => Ok(Value::Method(Box::new(obj.clone()), "setter".into())),
            "fget" => Ok(fget.clone()),
            "fset" => Ok(fset.borrow().clone()),
            _ => Err(no_attr(it, obj, attr, span)),
        },
        Native::GradScaler(_) if super::super::torch::SCALER_METHODS.contains(&attr) => {
            Ok(Value::Method(Box::new(obj.clone()), attr.into()))
        }
        Native::TensorHookHandle(_) if attr == "remove" => {
            Ok(Value::Method(Box::new(obj.clone()), attr.into()))
        }
        Native::GradFn(node) => grad_fn_attr(it, node, obj, attr, span),
        Native::Tqdm(_) => {
            if super::super::builtins::has_builtin_method(obj, attr) {
                return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
            }
            Ok(Value::None)
        }
        Native::StaticMethod(f) | Native::ClassMethod(f) if attr == "__func__" => Ok(f.clone()),
        Native::Slice(a, b, c) => match attr {
            "start" => Ok(a.clone()),
            "stop" => Ok(b.clone()),
            "step" => Ok(c.clone()),
            _ => Err(no_attr(it, obj, attr, span)),
        },
        _ => {
            if super::super::builtins::has_builtin_method(obj, attr) {
                return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
            }
            Err(no_attr(it, obj, attr, span))
        }
    }
}

fn no_attr(it: &mut Interp<'_>, obj: &Value, attr: &str, span: Span) -> Unwind {
    it.raise(
        "AttributeError",
        format!("'{}' object has no attribute '{attr}'", obj.type_name()),
        span,
    )
}

/// A `grad_fn`'s attributes: `name()`, `next_functions` (each next node with the input of it
/// this edge feeds, `None` where no gradient flows) and `_saved_<name>` (the tensor the node
/// saved under that name; reading one that backward has freed raises PyTorch's error).
fn grad_fn_attr(
    it: &mut Interp<'_>,
    node: &Rc<crate::autograd::Node>,
    obj: &Value,
    attr: &str,
    span: Span,
) -> X<Value> {
    if attr == "name" {
        return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
    }
    if attr == "next_functions" {
        let edges = node
            .next_edges()
            .into_iter()
            .map(|e| match e {
                Some((next, nr)) => Value::Tuple(Rc::new(vec![
                    Value::Native(Rc::new(Native::GradFn(next))),
                    Value::Int(nr as i64),
                ])),
                None => Value::Tuple(Rc::new(vec![Value::None, Value::Int(0)])),
            })
            .collect();
        return Ok(Value::Tuple(Rc::new(edges)));
    }
    if let Some(name) = attr.strip_prefix("_saved_") {
        if let Some(saved) = node.saved_under_hooks(name) {
            return super::super::torch::read_saved(it, &saved, span);
        }
        if let Some(saved) = node.saved_tensors().into_iter().find(|s| s.name == name) {
            return match saved.tensor {
                Some(t) => Ok(Value::Tensor(t)),
                None => Err(it.raise(
                    "RuntimeError",
                    "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.".into(),
                    span,
                )),
            };
        }
    }
    Err(no_attr(it, obj, attr, span))
}
