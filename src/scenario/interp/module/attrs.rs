//! The registered attributes of scenario modules, as `nn.Module.__getattr__`, `__setattr__` and
//! `__delattr__` (`torch/nn/modules/module.py`) keep them: a parameter, buffer or submodule
//! lives in `_parameters`, `_buffers` or `_modules`, not in `__dict__`, and assigning one kind
//! over another moves it between them.

use std::rc::Rc;

use super::super::dict::Key;
use super::super::pyobj::Instance;
use super::super::value::Value;
use super::super::{Interp, X};
use super::{is_module_instance, is_module_object};
use crate::scenario::Span;

/// A registered parameter, buffer or submodule, or `training`.
pub(in crate::scenario::interp) fn module_attr(i: &Instance, attr: &str) -> Option<Value> {
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
pub(in crate::scenario::interp) fn del_module_attr(i: &Instance, attr: &str) -> Option<Value> {
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
pub(in crate::scenario::interp) fn set_module_attr(
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
