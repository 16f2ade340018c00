//! `nn.Module` subclasses written in the scenario, as PyTorch's `torch/nn/modules/module.py`
//! runs them: `__init__` gives the object `_parameters`, `_buffers` and `_modules`; assigning an
//! `nn.Parameter` or a module to an attribute registers it there (not in `__dict__`); reading
//! the attribute finds it there; `model(x)` runs the forward pre-hooks, `forward` and the forward
//! hooks; `parameters()` walks own parameters then submodules in registration order, each
//! tensor once. Also `nn.Parameter`, `nn.ModuleList`, `nn.ModuleDict`, `@dataclass`, and
//! `copy.copy`/`copy.deepcopy`.

mod apply;
mod backward_hooks;
mod hooks;
mod precision;

pub(crate) use backward_hooks::backward_hook;
pub(crate) use hooks::{call_library_module, entry as hook_entry, hooks_of, HookKind, ModuleHooks};

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use super::builtins::new_list;
use super::dict::{Dict, DictKind, Key};
use super::objects::{ModuleKind, ModuleRef};
use super::ops::path;
use super::pyobj::{Class, Instance, ModuleState, Native};
use super::value::Value;
use super::{exc, CallArgs, Interp, X};
use crate::base::Device;
use crate::nn::Module as _;
use crate::scenario::Span;
use crate::tensor::Tensor;

/// The library bases that make a class an `nn.Module`.
pub(super) fn is_module_base(p: &str) -> bool {
    matches!(
        p,
        "torch.nn.Module" | "torch.nn.ModuleList" | "torch.nn.ModuleDict"
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
                call_instance_method(
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

/// A registered parameter, buffer or submodule, or `training`.
pub(super) fn module_attr(i: &Instance, attr: &str) -> Option<Value> {
    let state = i.module.borrow();
    let state = state.as_ref()?;
    if attr == "training" {
        return Some(Value::Bool(state.training));
    }
    state
        .params
        .iter()
        .chain(&state.buffers)
        .chain(&state.modules)
        .find(|(n, _)| &**n == attr)
        .map(|(_, v)| v.clone())
}

/// `del module.attr` of a registered parameter, buffer or submodule.
pub(super) fn del_module_attr(i: &Instance, attr: &str) -> Option<Value> {
    let mut state = i.module.borrow_mut();
    let state = state.as_mut()?;
    for list in [&mut state.params, &mut state.buffers, &mut state.modules] {
        if let Some(p) = list.iter().position(|(n, _)| &**n == attr) {
            return Some(list.remove(p).1);
        }
    }
    None
}

/// `module.attr = v` as `nn.Module.__setattr__` does it; `None` when the value goes to
/// `__dict__` as for any object.
pub(super) fn set_module_attr(
    it: &mut Interp<'_>,
    i: &Rc<Instance>,
    attr: &str,
    v: &Value,
    span: Span,
) -> Option<X<()>> {
    let is_param = matches!(v, Value::Tensor(t) if it.parameters.contains(&t.id()));
    let is_module = is_module_instance(v);
    if i.module.borrow().is_none() {
        if (is_param || is_module) && is_module_object(i) {
            let what = if is_param { "parameters" } else { "module" };
            return Some(Err(it.raise(
                "AttributeError",
                format!("cannot assign {what} before Module.__init__() call"),
                span,
            )));
        }
        return None;
    }
    let mut guard = i.module.borrow_mut();
    let state = guard.as_mut().expect("checked above");
    if attr == "training" {
        state.training = matches!(v, Value::Bool(true));
        return Some(Ok(()));
    }
    let set = |list: &mut Vec<(Rc<str>, Value)>, v: Value| -> Option<Value> {
        match list.iter_mut().find(|(n, _)| &**n == attr) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, v)),
            None => {
                list.push((attr.into(), v));
                None
            }
        }
    };
    let remove = |list: &mut Vec<(Rc<str>, Value)>| -> Option<Value> {
        let p = list.iter().position(|(n, _)| &**n == attr)?;
        Some(list.remove(p).1)
    };
    let in_params = state.params.iter().any(|(n, _)| &**n == attr);
    let in_buffers = state.buffers.iter().any(|(n, _)| &**n == attr);
    let in_modules = state.modules.iter().any(|(n, _)| &**n == attr);
    let mut old = Vec::new();
    if is_param {
        old.extend(i.dict.borrow_mut().remove(&Key::Str(attr.into())));
        old.extend(remove(&mut state.buffers));
        old.extend(remove(&mut state.modules));
        old.extend(set(&mut state.params, v.clone()));
    } else if in_params {
        if !matches!(v, Value::None) {
            drop(guard);
            return Some(Err(it.raise(
                "TypeError",
                format!(
                    "cannot assign '{}' as parameter '{attr}' (torch.nn.Parameter or None expected)",
                    v.type_name()
                ),
                span,
            )));
        }
        old.extend(set(&mut state.params, Value::None));
    } else if is_module {
        old.extend(i.dict.borrow_mut().remove(&Key::Str(attr.into())));
        old.extend(remove(&mut state.params));
        old.extend(remove(&mut state.buffers));
        old.extend(set(&mut state.modules, v.clone()));
    } else if in_modules {
        if !matches!(v, Value::None) {
            drop(guard);
            return Some(Err(it.raise(
                "TypeError",
                format!(
                    "cannot assign '{}' as child module '{attr}' (torch.nn.Module or None expected)",
                    v.type_name()
                ),
                span,
            )));
        }
        old.extend(set(&mut state.modules, Value::None));
    } else if in_buffers && matches!(v, Value::Tensor(_) | Value::None) {
        old.extend(set(&mut state.buffers, v.clone()));
    } else {
        return None;
    }
    drop(guard);
    drop(old);
    Some(Ok(()))
}

/// Whether `attr` is an `nn.Module` (or container) method of the scenario object `i`.
pub(super) fn has_instance_method(i: &Instance, attr: &str) -> bool {
    if !is_module_object(i) {
        return false;
    }
    MODULE_METHODS.contains(&attr)
        || precision::METHODS.contains(&attr)
        || hooks::REGISTER.contains(&attr)
        || match i.class.builtin_base.as_deref() {
            Some("torch.nn.ModuleList") => matches!(attr, "append" | "extend" | "insert"),
            Some("torch.nn.ModuleDict") => {
                matches!(attr, "items" | "keys" | "values" | "update" | "pop")
            }
            _ => false,
        }
}

const MODULE_METHODS: [&str; 25] = [
    "parameters",
    "named_parameters",
    "buffers",
    "named_buffers",
    "children",
    "named_children",
    "modules",
    "named_modules",
    "state_dict",
    "load_state_dict",
    "train",
    "eval",
    "to",
    "cuda",
    "cpu",
    "float",
    "zero_grad",
    "register_buffer",
    "register_parameter",
    "add_module",
    "apply",
    "requires_grad_",
    "get_submodule",
    "extra_repr",
    "forward",
];

/// Whether a library module has `attr` as a method this file adds (`named_parameters`,
/// `state_dict`, ...).
pub(super) fn is_library_module_method(v: &Value, attr: &str) -> bool {
    let own = [
        "named_parameters",
        "named_buffers",
        "buffers",
        "children",
        "modules",
        "state_dict",
        "named_children",
        "requires_grad_",
    ];
    matches!(v, Value::Module(_)) && (own.contains(&attr) || hooks::REGISTER.contains(&attr))
}

/// Whether a library base of `obj` has method `attr` (for `super().attr`).
pub(super) fn has_base_method(obj: &Value, attr: &str) -> bool {
    match obj {
        Value::Instance(i) => has_instance_method(i, attr) || attr == "__call__",
        _ => false,
    }
}

/// Every submodule of `m`, with its dotted name, depth first, `m` itself first.
fn named_modules(
    m: &Value,
    prefix: &str,
    seen: &mut HashSet<usize>,
    out: &mut Vec<(String, Value)>,
) {
    if let Some(id) = m.identity() {
        if !seen.insert(id) {
            return;
        }
    }
    out.push((prefix.to_string(), m.clone()));
    for (name, child) in children(m) {
        let p = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        named_modules(&child, &p, seen, out);
    }
}

/// Direct submodules with their names.
fn children(m: &Value) -> Vec<(String, Value)> {
    match m {
        Value::Instance(i) => i
            .module
            .borrow()
            .as_ref()
            .map(|s| {
                s.modules
                    .iter()
                    .filter(|(_, v)| !matches!(v, Value::None))
                    .map(|(n, v)| (n.to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        Value::Module(lib) => lib
            .children()
            .map(|c| {
                c.iter()
                    .enumerate()
                    .map(|(i, c)| (i.to_string(), Value::Module(c.clone())))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Own parameters (or buffers) of one module, with their names.
fn own_tensors(m: &Value, buffers: bool) -> Vec<(String, Value)> {
    match m {
        Value::Instance(i) => i
            .module
            .borrow()
            .as_ref()
            .map(|s| {
                let list = if buffers { &s.buffers } else { &s.params };
                list.iter()
                    .filter(|(_, v)| !matches!(v, Value::None))
                    .map(|(n, v)| (n.to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        Value::Module(lib) if lib.children().is_none() => if buffers {
            lib.own_buffers()
        } else {
            lib.named_parameters()
        }
        .into_iter()
        .map(|(n, t)| (n, Value::Tensor(t)))
        .collect(),
        _ => Vec::new(),
    }
}

/// `state_dict()`'s entries in PyTorch's order: module by module, depth first, each one's
/// parameters then its buffers (`_save_to_state_dict`, then the children).
fn state_entries(m: &Value) -> Vec<(String, Value)> {
    let mut modules = Vec::new();
    named_modules(m, "", &mut HashSet::new(), &mut modules);
    let mut out = Vec::new();
    for (prefix, module) in modules {
        for (name, t) in own_tensors(&module, false)
            .into_iter()
            .chain(own_tensors(&module, true))
        {
            let full = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}.{name}")
            };
            out.push((full, t));
        }
    }
    out
}

/// `named_parameters()` / `named_buffers()`: each tensor once, own first, then submodules'.
fn named_tensors(m: &Value, buffers: bool) -> Vec<(String, Value)> {
    let mut modules = Vec::new();
    named_modules(m, "", &mut HashSet::new(), &mut modules);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (prefix, module) in modules {
        for (name, t) in own_tensors(&module, buffers) {
            if let Some(id) = t.identity() {
                if !seen.insert(id) {
                    continue;
                }
            }
            let full = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}.{name}")
            };
            out.push((full, t));
        }
    }
    out
}

fn pair(a: Value, b: Value) -> Value {
    Value::Tuple(Rc::new(vec![a, b]))
}

/// `model(x)` for scenario modules: pre-hooks, `forward`, hooks. `None` for other objects.
pub(super) fn call_module_instance(
    it: &mut Interp<'_>,
    obj: &Value,
    args: &CallArgs,
    span: Span,
) -> Option<X<Value>> {
    let Value::Instance(i) = obj else {
        return None;
    };
    if !is_module_object(i) || i.class.lookup("__call__").is_some() {
        return None;
    }
    let hooks = hooks_of(obj).unwrap_or_default();
    Some(hooks::call_with_hooks(
        it,
        obj,
        &hooks,
        args.clone(),
        span,
        &mut |it, args| {
            let Some(forward) = it.lookup_method(obj, "forward") else {
                return Err(it.raise(
                    "NotImplementedError",
                    format!(
                        "Module [{}] is missing the required \"forward\" function",
                        i.class.name
                    ),
                    span,
                ));
            };
            it.call(forward, args, span)
        },
    ))
}

/// `for m in module_list`, `for k in module_dict`.
pub(super) fn iterate_module_container(it: &mut Interp<'_>, v: &Value) -> Option<Value> {
    let Value::Instance(i) = v else { return None };
    let base = i.class.builtin_base.as_deref()?;
    let items: Vec<Value> = match base {
        "torch.nn.ModuleList" => children(v).into_iter().map(|(_, m)| m).collect(),
        "torch.nn.ModuleDict" => children(v)
            .into_iter()
            .map(|(n, _)| Value::Str(n.into()))
            .collect(),
        _ => return None,
    };
    let _ = it;
    Some(Value::Iterator(Rc::new(RefCell::new(
        super::pyobj::Iter::Values(items.into(), "iterator"),
    ))))
}

/// `len(module_list)`.
pub(super) fn container_len(v: &Value) -> Option<usize> {
    let Value::Instance(i) = v else { return None };
    match i.class.builtin_base.as_deref()? {
        "torch.nn.ModuleList" | "torch.nn.ModuleDict" => Some(children(v).len()),
        _ => None,
    }
}

/// `module_list[i]`, `module_dict[k]`.
pub(super) fn container_item(
    it: &mut Interp<'_>,
    obj: &Value,
    idx: &Value,
    span: Span,
) -> Option<X<Value>> {
    let Value::Instance(i) = obj else { return None };
    let base = i.class.builtin_base.clone()?;
    let items = children(obj);
    Some(match (&*base, idx) {
        ("torch.nn.ModuleList", Value::Int(k)) => {
            let n = items.len() as i64;
            let j = if *k < 0 { k + n } else { *k };
            match items.get(j as usize).filter(|_| (0..n).contains(&j)) {
                Some((_, m)) => Ok(m.clone()),
                None => Err(it.raise("IndexError", format!("index {k} is out of range"), span)),
            }
        }
        ("torch.nn.ModuleDict", Value::Str(k)) => match items.iter().find(|(n, _)| **n == **k) {
            Some((_, m)) => Ok(m.clone()),
            None => Err(it.raise("KeyError", super::value::repr(idx), span)),
        },
        _ => return None,
    })
}

/// `module_dict[k] = m`, `module_list[i] = m`.
pub(super) fn set_container_item(
    it: &mut Interp<'_>,
    obj: &Value,
    idx: &Value,
    v: Value,
    span: Span,
) -> Option<X<()>> {
    let Value::Instance(i) = obj else { return None };
    let name = match (i.class.builtin_base.as_deref()?, idx) {
        ("torch.nn.ModuleDict", Value::Str(k)) => k.to_string(),
        ("torch.nn.ModuleList", Value::Int(k)) => {
            let n = children(obj).len() as i64;
            (if *k < 0 { k + n } else { *k }).to_string()
        }
        _ => return None,
    };
    let i = i.clone();
    Some(it.set_attr(&Value::Instance(i), &name, v, span))
}

/// `repr(model)` as PyTorch prints a module tree.
pub(super) fn module_repr(i: &Rc<Instance>) -> Option<String> {
    if !is_module_object(i) {
        return None;
    }
    let v = Value::Instance(i.clone());
    let kids = children(&v);
    if kids.is_empty() {
        return Some(format!("{}()", i.class.name));
    }
    let mut out = format!("{}(\n", i.class.name);
    for (name, child) in kids {
        let text = match &child {
            Value::Instance(c) => module_repr(c).unwrap_or_default(),
            other => other.to_string(),
        };
        let text = text.replace('\n', "\n  ");
        out.push_str(&format!("  ({name}): {text}\n"));
    }
    out.push(')');
    Some(out)
}

/// Methods of scenario objects that the library provides (`nn.Module`'s, containers',
/// `super().__init__`), and the extra methods of library modules. `None` when `recv.name` is
/// none of them.
pub(super) fn call_library_module_method(
    it: &mut Interp<'_>,
    recv: &Value,
    name: &str,
    args: &CallArgs,
    span: Span,
) -> Option<X<Value>> {
    if let Some(base_method) = name.strip_prefix("super:") {
        return Some(call_super_method(it, recv, base_method, args.clone(), span));
    }
    match recv {
        Value::Instance(_) => precision::convert(it, recv, name, args, span)
            .or_else(|| Some(call_instance_method(it, recv, name, args.clone(), span))),
        Value::Exception(e) if name == "with_traceback" => Some(Ok(Value::Exception(e.clone()))),
        Value::Module(_) if is_library_module_method(recv, name) => {
            Some(call_instance_method(it, recv, name, args.clone(), span))
        }
        _ => None,
    }
}

/// `super().name(...)` reaching a library base.
fn call_super_method(
    it: &mut Interp<'_>,
    recv: &Value,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match (recv, name) {
        (Value::Exception(e), "__init__") => {
            *e.args.borrow_mut() = args.pos;
            Ok(Value::None)
        }
        (Value::Instance(i), "__init__") => {
            let base = i
                .class
                .builtin_base
                .clone()
                .unwrap_or_else(|| "object".into());
            if is_module_base(&base) {
                module_init(it, &base, CallArgs::positional(vec![recv.clone()]), span)?;
            }
            Ok(Value::None)
        }
        (Value::Instance(_), "__call__") => match call_module_instance(it, recv, &args, span) {
            Some(r) => r,
            None => Err(it.raise("TypeError", "object is not callable".into(), span)),
        },
        _ => call_instance_method(it, recv, name, args, span),
    }
}

fn bool_arg(args: &CallArgs, i: usize, name: &str, default: bool) -> bool {
    match args.pos.get(i).or_else(|| args.keyword(name)) {
        Some(Value::Bool(b)) => *b,
        _ => default,
    }
}

fn device_arg(args: &CallArgs) -> Option<Device> {
    args.pos
        .iter()
        .chain(args.keyword("device"))
        .find_map(|v| match v {
            Value::Device(d) => Some(*d),
            Value::Str(s) => super::torch::device_named(s),
            _ => None,
        })
}

fn call_instance_method(
    it: &mut Interp<'_>,
    recv: &Value,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match name {
        "parameters" | "buffers" => {
            let ts = named_tensors(recv, name == "buffers");
            let items = ts.into_iter().map(|(_, t)| t).collect();
            Ok(new_list(items, span))
        }
        "named_parameters" | "named_buffers" => {
            let ts = named_tensors(recv, name == "named_buffers");
            let items = ts
                .into_iter()
                .map(|(n, t)| pair(Value::Str(n.into()), t))
                .collect();
            Ok(new_list(items, span))
        }
        "children" | "named_children" => {
            let items = children(recv)
                .into_iter()
                .map(|(n, m)| {
                    if name == "children" {
                        m
                    } else {
                        pair(Value::Str(n.into()), m)
                    }
                })
                .collect();
            Ok(new_list(items, span))
        }
        "modules" | "named_modules" => {
            let mut out = Vec::new();
            named_modules(recv, "", &mut HashSet::new(), &mut out);
            let items = out
                .into_iter()
                .map(|(n, m)| {
                    if name == "modules" {
                        m
                    } else {
                        pair(Value::Str(n.into()), m)
                    }
                })
                .collect();
            Ok(new_list(items, span))
        }
        "get_submodule" => {
            let target = match args.pos.first() {
                Some(Value::Str(s)) => s.to_string(),
                _ => String::new(),
            };
            let mut out = Vec::new();
            named_modules(recv, "", &mut HashSet::new(), &mut out);
            out.into_iter()
                .find(|(n, _)| *n == target)
                .map(|(_, m)| m)
                .ok_or_else(|| it.raise("AttributeError", format!("no submodule {target}"), span))
        }
        "state_dict" => {
            // `keep_vars=False`: detached tensors sharing the parameters' storage.
            let d = Dict::shared(DictKind::Ordered);
            for (n, t) in state_entries(recv) {
                let t = match t {
                    Value::Tensor(t) => Value::Tensor(t.detach()),
                    other => other,
                };
                d.borrow_mut().insert(
                    Key::Str(n.as_str().into()),
                    Value::Str(n.as_str().into()),
                    t,
                );
            }
            Ok(Value::Dict(d))
        }
        "load_state_dict" => {
            let Some(Value::Dict(sd)) = args.pos.first() else {
                return Err(it.raise("TypeError", "load_state_dict expects a dict".into(), span));
            };
            let mut entries = named_tensors(recv, false);
            entries.extend(named_tensors(recv, true));
            for (n, t) in entries {
                let (Value::Tensor(dst), Some(Value::Tensor(src))) =
                    (&t, sd.borrow().get(&Key::Str(n.as_str().into())))
                else {
                    continue;
                };
                let _no_grad = it.rt.no_grad();
                let moved = src.to(dst.device()).map_err(|e| it.tensor_error(span, e));
                let moved = it.lift(moved)?;
                let copied = moved.clone_tensor().map_err(|e| it.tensor_error(span, e));
                let copied = it.lift(copied)?;
                let r = dst.set_data(&copied).map_err(|e| it.tensor_error(span, e));
                it.lift(r)?;
            }
            Ok(Value::None)
        }
        "train" | "eval" => {
            let mode = name == "train" && bool_arg(&args, 0, "mode", true);
            let mut all = Vec::new();
            named_modules(recv, "", &mut HashSet::new(), &mut all);
            for (_, m) in all {
                match &m {
                    Value::Instance(i) => {
                        if let Some(s) = i.module.borrow_mut().as_mut() {
                            s.training = mode;
                        }
                    }
                    Value::Module(lib) => lib.train(mode),
                    _ => {}
                }
            }
            Ok(recv.clone())
        }
        "to" | "cuda" | "cpu" | "float" => {
            let device = match name {
                "cuda" => Some(Device::Cuda),
                "cpu" => Some(Device::Cpu),
                "float" => None,
                _ => device_arg(&args),
            };
            if let Some(device) = device {
                apply::move_to(it, recv, device, span)?;
            }
            Ok(recv.clone())
        }
        "zero_grad" => {
            let set_to_none = bool_arg(&args, 0, "set_to_none", true);
            let params: Vec<crate::tensor::Tensor> = named_tensors(recv, false)
                .into_iter()
                .filter_map(|(_, t)| match t {
                    Value::Tensor(t) => Some(t),
                    _ => None,
                })
                .collect();
            let r =
                crate::nn::zero_grads(&params, set_to_none).map_err(|e| it.tensor_error(span, e));
            it.lift(r)?;
            Ok(Value::None)
        }
        "requires_grad_" => {
            let on = bool_arg(&args, 0, "requires_grad", true);
            for (_, t) in named_tensors(recv, false) {
                if let Value::Tensor(t) = t {
                    let r = t
                        .set_requires_grad(on)
                        .map_err(|e| it.tensor_error(span, e));
                    it.lift(r)?;
                }
            }
            Ok(recv.clone())
        }
        "register_buffer" | "register_parameter" | "add_module" => {
            let (Some(Value::Str(n)), Some(v)) = (args.pos.first(), args.pos.get(1)) else {
                return Err(it.raise(
                    "TypeError",
                    format!("{name}() takes a name and a value"),
                    span,
                ));
            };
            let Value::Instance(i) = recv else {
                return Err(it.raise("TypeError", format!("{name}() of a library module"), span));
            };
            let mut guard = i.module.borrow_mut();
            let Some(state) = guard.as_mut() else {
                drop(guard);
                return Err(it.raise(
                    "AttributeError",
                    format!("cannot call {name}() before Module.__init__() call"),
                    span,
                ));
            };
            let list = match name {
                "register_buffer" => &mut state.buffers,
                "register_parameter" => &mut state.params,
                _ => &mut state.modules,
            };
            let old = match list.iter_mut().find(|(k, _)| **k == **n) {
                Some(slot) => Some(std::mem::replace(&mut slot.1, v.clone())),
                None => {
                    list.push((n.clone(), v.clone()));
                    None
                }
            };
            drop(guard);
            drop(old);
            Ok(Value::None)
        }
        name if hooks::REGISTER.contains(&name) => hooks::register(it, recv, name, args, span),
        "apply" => {
            let f = args.pos.first().cloned().unwrap_or(Value::None);
            let mut all = Vec::new();
            named_modules(recv, "", &mut HashSet::new(), &mut all);
            // Children first, then the module itself, as PyTorch applies.
            for (_, m) in all.into_iter().rev() {
                it.call(f.clone(), CallArgs::positional(vec![m]), span)?;
            }
            Ok(recv.clone())
        }
        "extra_repr" => Ok(Value::Str("".into())),
        "forward" => Err(it.raise(
            "NotImplementedError",
            "Module is missing the required \"forward\" function".into(),
            span,
        )),
        "append" | "extend" | "insert" => {
            let n = children(recv).len();
            let items = match name {
                "append" => vec![args.pos.first().cloned().unwrap_or(Value::None)],
                "insert" => {
                    return Err(it.raise(
                        "NotImplementedError",
                        "ModuleList.insert is not supported in scenarios".into(),
                        span,
                    ))
                }
                _ => it.collect(args.pos.first().cloned().unwrap_or(Value::None), span)?,
            };
            for (k, m) in items.into_iter().enumerate() {
                it.set_attr(recv, &(n + k).to_string(), m, span)?;
            }
            Ok(recv.clone())
        }
        "items" | "keys" | "values" => {
            let kids = children(recv);
            let items = kids
                .into_iter()
                .map(|(n, m)| match name {
                    "items" => pair(Value::Str(n.into()), m),
                    "keys" => Value::Str(n.into()),
                    _ => m,
                })
                .collect();
            Ok(new_list(items, span))
        }
        "update" => {
            let items =
                it.mapping_items(&args.pos.first().cloned().unwrap_or(Value::None), span)?;
            for (k, m) in items {
                let k = it.str_of(&k, span)?;
                it.set_attr(recv, &k, m, span)?;
            }
            Ok(Value::None)
        }
        "pop" => {
            let Value::Instance(i) = recv else {
                return Ok(Value::None);
            };
            let k = match args.pos.first() {
                Some(Value::Str(s)) => s.to_string(),
                _ => String::new(),
            };
            Ok(del_module_attr(i, &k).unwrap_or(Value::None))
        }
        _ => Err(it.raise(
            "AttributeError",
            format!("'{}' object has no attribute '{name}'", recv.type_name()),
            span,
        )),
    }
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

/// `copy.copy` / `copy.deepcopy`: a deep copy clones every tensor (allocating as PyTorch's
/// `Tensor.__deepcopy__` does) and every object once, keeping shared references shared.
pub(super) fn copy_value(it: &mut Interp<'_>, v: &Value, deep: bool, span: Span) -> X<Value> {
    let mut memo = std::collections::HashMap::new();
    copy_rec(it, v, deep, span, &mut memo)
}

/// A deep copy of `t` as `Tensor.__deepcopy__` and `Parameter.__deepcopy__` make it: a clone
/// of the data, a new leaf that requires grad when `t` does (a parameter's `.grad` is not
/// copied).
fn deep_copy_tensor(it: &mut Interp<'_>, t: &Tensor, span: Span) -> X<Tensor> {
    let c = t.clone_tensor().map_err(|e| it.tensor_error(span, e));
    let c = it.lift(c)?.detach();
    if t.requires_grad() {
        let r = c
            .set_requires_grad(true)
            .map_err(|e| it.tensor_error(span, e));
        it.lift(r)?;
    }
    if it.parameters.contains(&t.id()) {
        it.parameters.insert(c.id());
    }
    Ok(c)
}

/// The deep copy of `t` made earlier in this `deepcopy`, or a new one remembered in `memo`.
fn memo_tensor(
    it: &mut Interp<'_>,
    t: &Tensor,
    span: Span,
    memo: &mut std::collections::HashMap<usize, Value>,
) -> X<Tensor> {
    let id = Value::Tensor(t.clone()).identity();
    if let Some(Value::Tensor(done)) = id.and_then(|id| memo.get(&id)) {
        return Ok(done.clone());
    }
    let c = deep_copy_tensor(it, t, span)?;
    if let Some(id) = id {
        memo.insert(id, Value::Tensor(c.clone()));
    }
    Ok(c)
}

fn copy_rec(
    it: &mut Interp<'_>,
    v: &Value,
    deep: bool,
    span: Span,
    memo: &mut std::collections::HashMap<usize, Value>,
) -> X<Value> {
    if let Some(id) = v.identity() {
        if let Some(done) = memo.get(&id) {
            return Ok(done.clone());
        }
    }
    let item =
        |it: &mut Interp<'_>, x: &Value, memo: &mut std::collections::HashMap<usize, Value>| {
            if deep {
                copy_rec(it, x, deep, span, memo)
            } else {
                Ok(x.clone())
            }
        };
    let out = match v {
        Value::Tensor(t) if deep => Value::Tensor(deep_copy_tensor(it, t, span)?),
        Value::List(l) => {
            let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
            let mut out = Vec::with_capacity(items.len());
            for x in &items {
                out.push(item(it, x, memo)?);
            }
            it.list(out, span)
        }
        Value::Tuple(t) => {
            let mut out = Vec::with_capacity(t.len());
            for x in t.iter() {
                out.push(item(it, x, memo)?);
            }
            Value::Tuple(Rc::new(out))
        }
        Value::Dict(d) => {
            let kind = d.borrow().kind.clone();
            let out = Dict::shared(kind);
            let items = d.borrow().items();
            for (k, x) in items {
                let x = item(it, &x, memo)?;
                let key = it.key(&k, span)?;
                out.borrow_mut().insert(key, k, x);
            }
            Value::Dict(out)
        }
        Value::Instance(i) => {
            let copy = Rc::new(Instance {
                class: i.class.clone(),
                dict: Dict::shared(DictKind::Plain),
                module: RefCell::new(None),
            });
            it.gc.track_instance(&copy);
            let out = Value::Instance(copy.clone());
            if let Some(id) = v.identity() {
                memo.insert(id, out.clone());
            }
            let items = i.dict.borrow().items();
            for (k, x) in items {
                let x = item(it, &x, memo)?;
                let key = it.key(&k, span)?;
                copy.dict.borrow_mut().insert(key, k, x);
            }
            let state = i.module.borrow().as_ref().map(|s| {
                (
                    s.params.clone(),
                    s.buffers.clone(),
                    s.modules.clone(),
                    s.training,
                )
            });
            if let Some((params, buffers, modules, training)) = state {
                let copy_list = |it: &mut Interp<'_>,
                                 list: Vec<(Rc<str>, Value)>,
                                 memo: &mut std::collections::HashMap<usize, Value>|
                 -> X<Vec<(Rc<str>, Value)>> {
                    let mut out = Vec::with_capacity(list.len());
                    for (n, x) in list {
                        out.push((n, item(it, &x, memo)?));
                    }
                    Ok(out)
                };
                let params = copy_list(it, params, memo)?;
                let buffers = copy_list(it, buffers, memo)?;
                let modules = copy_list(it, modules, memo)?;
                *copy.module.borrow_mut() = Some(ModuleState {
                    params,
                    buffers,
                    modules,
                    training,
                    ..ModuleState::default()
                });
            }
            return Ok(out);
        }
        Value::Module(m) if deep => {
            let kind = match &*m.0 {
                ModuleKind::Linear(l) => {
                    let weight = memo_tensor(it, &l.weight, span, memo)?;
                    let bias = match &l.bias {
                        Some(b) => Some(memo_tensor(it, b, span, memo)?),
                        None => None,
                    };
                    ModuleKind::Linear(l.with_parameters(weight, bias))
                }
                ModuleKind::ReLU(r, inplace) => ModuleKind::ReLU(r.clone(), *inplace),
                ModuleKind::Sequential(children) => {
                    let mut out = Vec::with_capacity(children.len());
                    for c in children {
                        // A child shared by two parents stays shared in the copy.
                        if let Value::Module(c) = item(it, &Value::Module(c.clone()), memo)? {
                            out.push(c);
                        }
                    }
                    ModuleKind::Sequential(out)
                }
                ModuleKind::MseLoss(l) => ModuleKind::MseLoss(*l),
                ModuleKind::CrossEntropyLoss(l) => ModuleKind::CrossEntropyLoss(*l),
                ModuleKind::Stateless(l) => ModuleKind::Stateless(l.clone()),
                ModuleKind::Layer(l) => {
                    let mut copy = |list: Vec<(String, Tensor)>| -> X<Vec<Tensor>> {
                        list.iter()
                            .map(|(_, t)| memo_tensor(it, t, span, memo))
                            .collect()
                    };
                    let params = copy(l.named_parameters())?;
                    let buffers = copy(l.named_buffers())?;
                    ModuleKind::Layer(l.with_tensors(params, buffers))
                }
                ModuleKind::Recurrent(r) => {
                    let mut params = Vec::new();
                    for (_, p) in r.named_parameters() {
                        params.push(memo_tensor(it, &p, span, memo)?);
                    }
                    ModuleKind::Recurrent(r.with_parameters(params))
                }
            };
            Value::Module(ModuleRef::new(kind))
        }
        other => other.clone(),
    };
    if let Some(id) = v.identity() {
        memo.insert(id, out.clone());
    }
    Ok(out)
}
