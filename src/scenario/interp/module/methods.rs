//! The methods `nn.Module` and its containers give scenario objects (`parameters`,
//! `state_dict`, `load_state_dict`, `train`, `to`, `zero_grad`, `register_buffer`, `apply`,
//! `ModuleList.append`, `ModuleDict.items`, ...), the names that say which methods exist, and
//! the extra methods library modules get (`named_parameters`, `state_dict`, the hooks).

use std::collections::HashSet;

use super::super::builtins::new_list;
use super::super::dict::{Dict, DictKind, Key};
use super::super::pyobj::Instance;
use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use super::attrs::del_module_attr;
use super::tree::{children, named_modules, named_tensors, pair, state_entries};
use super::{apply, hooks, is_module_object, precision};
use crate::base::Device;
use crate::scenario::Span;

/// Whether `attr` is an `nn.Module` (or container) method of the scenario object `i`.
pub(in crate::scenario::interp) fn has_instance_method(i: &Instance, attr: &str) -> bool {
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
pub(in crate::scenario::interp) fn is_library_module_method(v: &Value, attr: &str) -> bool {
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
pub(in crate::scenario::interp) fn has_base_method(obj: &Value, attr: &str) -> bool {
    match obj {
        Value::Instance(i) => has_instance_method(i, attr) || attr == "__call__",
        _ => false,
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
            Value::Str(s) => super::super::torch::device_named(s),
            _ => None,
        })
}

pub(super) fn call_instance_method(
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
