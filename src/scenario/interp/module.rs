//! `nn.Module` subclasses written in the scenario, as PyTorch's `torch/nn/modules/module.py`
//! runs them: `__init__` gives the object `_parameters`, `_buffers` and `_modules`; assigning an
//! `nn.Parameter` or a module to an attribute registers it there (not in `__dict__`); reading
//! the attribute finds it there; `model(x)` runs the forward pre-hooks, `forward` and the forward
//! hooks; `parameters()` walks own parameters then submodules in registration order, each
//! tensor once. Also `nn.Parameter`, `nn.ModuleList`, `nn.ModuleDict`, `@dataclass`, and
//! `copy.copy`/`copy.deepcopy`.
//!
//! This file holds what makes an object a module (the library bases, `nn.Module.__init__`,
//! the constructors of `nn.Parameter` and the containers) and `@dataclass`; the rest is in
//! `module/`:
//!
//! - `attrs.rs`: registered parameters, buffers and submodules (`__getattr__`, `__setattr__`,
//!   `__delattr__`);
//! - `tree.rs`: walks of the module tree (`named_modules`, `named_parameters`, `state_dict`'s
//!   order);
//! - `methods.rs`: the methods `nn.Module` and its containers provide (`parameters`,
//!   `state_dict`, `train`, `to`, `zero_grad`, ...);
//! - `call.rs`: `model(x)`, `super().name(...)` and the dispatch of those methods;
//! - `containers.rs`: `ModuleList`/`ModuleDict` as Python containers, and `repr(model)`;
//! - `apply.rs` and `precision.rs`: `_apply`'s order for device moves and dtype conversions;
//! - `hooks.rs` and `backward_hooks.rs`: forward and full backward hooks;
//! - `copy.rs`: `copy.copy` and `copy.deepcopy`.

mod apply;
mod attrs;
mod backward_hooks;
mod call;
mod containers;
mod copy;
mod hooks;
mod methods;
mod precision;
mod sequential;
mod tree;

pub(super) use attrs::{del_module_attr, module_attr, set_module_attr};
pub(crate) use backward_hooks::backward_hook;
pub(super) use call::{call_library_module_method, call_module_instance};
pub(super) use containers::{
    container_item, container_len, iterate_module_container, module_repr, set_container_item,
};
pub(super) use copy::copy_value;
pub(crate) use hooks::{call_library_module, entry as hook_entry, hooks_of, HookKind, ModuleHooks};
pub(super) use methods::{has_base_method, has_instance_method, is_library_module_method};
pub(super) use sequential::sequential_of;

use std::cell::RefCell;
use std::rc::Rc;

use super::dict::{Dict, DictKind, Key};
use super::objects::ModuleRef;
use super::ops::path;
use super::pyobj::{Class, Instance, ModuleState, Native};
use super::value::Value;
use super::{exc, CallArgs, Interp, X};
use crate::scenario::Span;

/// The library bases that make a class an `nn.Module`.
pub(super) fn is_module_base(p: &str) -> bool {
    matches!(
        p,
        "torch.nn.Module" | "torch.nn.ModuleList" | "torch.nn.ModuleDict" | "torch.nn.Sequential"
    )
}

/// Whether an object whose library base is `base` is an instance of the type at `p`.
pub(super) fn is_module_base_of(base: &str, p: &str) -> bool {
    p == "torch.nn.Module" && is_module_base(base)
        || exc::is_exception_type(base) && exc::is_subclass_name(base, p)
}

/// Whether a library module is an instance of the torch type at `p`.
pub(super) fn library_module_is(m: &ModuleRef, p: &str) -> bool {
    p.strip_prefix("torch.nn.") == Some(super::torch::module_name(m))
}

/// The torch names this file implements: `nn.Module`, `nn.Parameter`, `nn.ModuleList`,
/// `nn.ModuleDict`, the exception types, `torch.Tensor`.
pub(super) fn torch_attribute(module: &str, attr: &str) -> Option<Value> {
    match (module, attr) {
        ("torch.nn", "Module" | "Parameter" | "ModuleList" | "ModuleDict") => {
            Some(path(&format!("torch.nn.{attr}")))
        }
        ("torch" | "torch.cuda", "OutOfMemoryError") => Some(path("torch.OutOfMemoryError")),
        ("torch", "Tensor" | "autograd" | "utils") => Some(path(&format!("torch.{attr}"))),
        ("torch.nn.Module", "__init__" | "forward") => {
            Some(path(&format!("torch.nn.Module.{attr}")))
        }
        _ => None,
    }
}

fn module_class(name: &str, base: &str) -> Rc<Class> {
    Rc::new(Class {
        name: name.into(),
        bases: vec![path(base)],
        dict: Dict::shared(DictKind::Plain),
        builtin_base: Some(base.into()),
    })
}

/// Calls `nn.Parameter`, `nn.ModuleList`, `nn.ModuleDict`; `None` for other paths.
pub(super) fn call(it: &mut Interp<'_>, p: &str, args: &CallArgs, span: Span) -> Option<X<Value>> {
    Some(match p {
        "torch.nn.Parameter" => (|| {
            let data = args
                .pos
                .first()
                .cloned()
                .or_else(|| args.keyword("data").cloned());
            let Some(Value::Tensor(t)) = data else {
                return Err(it.raise("TypeError", "Parameter() expects a tensor".into(), span));
            };
            let requires_grad = !matches!(
                args.pos.get(1).or_else(|| args.keyword("requires_grad")),
                Some(Value::Bool(false))
            );
            // A Parameter is a leaf sharing the data: `Parameter(x)` detaches `x`.
            let p = t.detach();
            let r = p
                .set_requires_grad(requires_grad)
                .map_err(|e| it.tensor_error(span, e));
            it.lift(r)?;
            it.parameters.insert(p.id());
            Ok(Value::Tensor(p))
        })(),
        "torch.nn.Module" => {
            let obj = new_instance(it, module_class("Module", "torch.nn.Module"));
            module_init(
                it,
                "torch.nn.Module",
                CallArgs::positional(vec![obj.clone()]),
                span,
            )
            .map(|()| obj)
        }
        "torch.nn.ModuleList" | "torch.nn.ModuleDict" => (|| {
            let name = leaf(p);
            let obj = new_instance(it, module_class(name, p));
            module_init(it, p, CallArgs::positional(vec![obj.clone()]), span)?;
            if let Some(items) = args.pos.first() {
                let method = if name == "ModuleList" {
                    "extend"
                } else {
                    "update"
                };
                methods::call_instance_method(
                    it,
                    &obj,
                    method,
                    CallArgs::positional(vec![items.clone()]),
                    span,
                )?;
            }
            Ok(obj)
        })(),
        "torch.nn.Module.__init__" => {
            let obj = args.pos.first().cloned().unwrap_or(Value::None);
            module_init(it, "torch.nn.Module", CallArgs::positional(vec![obj]), span)
                .map(|()| Value::None)
        }
        _ => return None,
    })
}

fn leaf(p: &str) -> &str {
    p.rsplit('.').next().unwrap_or(p)
}

fn new_instance(it: &mut Interp<'_>, class: Rc<Class>) -> Value {
    let i = Rc::new(Instance {
        class,
        dict: Dict::shared(DictKind::Plain),
        module: RefCell::new(None),
    });
    it.gc.track_instance(&i);
    Value::Instance(i)
}

/// `nn.Module.__init__(self)`.
pub(super) fn module_init(it: &mut Interp<'_>, _base: &str, args: CallArgs, span: Span) -> X<()> {
    match args.pos.first() {
        Some(Value::Instance(i)) => {
            let mut state = i.module.borrow_mut();
            if state.is_none() {
                *state = Some(ModuleState {
                    training: true,
                    ..ModuleState::default()
                });
            }
            Ok(())
        }
        _ => Err(it.raise(
            "TypeError",
            "Module.__init__() needs a module object".into(),
            span,
        )),
    }
}

/// Whether `v` is a module: a library module or a scenario `nn.Module` subclass object.
pub(super) fn is_module_instance(v: &Value) -> bool {
    match v {
        Value::Module(_) => true,
        Value::Instance(i) => {
            i.module.borrow().is_some()
                || i.class.builtin_base.as_deref().is_some_and(is_module_base)
        }
        _ => false,
    }
}

fn is_module_object(i: &Instance) -> bool {
    i.module.borrow().is_some() || i.class.builtin_base.as_deref().is_some_and(is_module_base)
}

/// `@dataclass`: an `__init__` taking the annotated fields, with the class attributes as
/// defaults.
pub(super) fn make_dataclass(c: &Rc<Class>) {
    let ann = c.dict.borrow().get(&Key::Str("__annotations__".into()));
    let Some(Value::Dict(ann)) = ann else { return };
    let fields: Vec<(Rc<str>, Option<Value>)> = ann
        .borrow()
        .keys()
        .into_iter()
        .map(|k| {
            let name: Rc<str> = k.to_string().into();
            let default = c.dict.borrow().get(&Key::Str(name.clone()));
            (name, default)
        })
        .collect();
    c.dict.borrow_mut().insert(
        Key::Str("__init__".into()),
        Value::Str("__init__".into()),
        Value::Native(Rc::new(Native::DataclassInit(fields))),
    );
}
