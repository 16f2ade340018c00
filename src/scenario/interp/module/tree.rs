//! Walks of a module tree in `nn.Module`'s orders: `named_modules` (depth first, the module
//! itself first, each module once), `named_children`, each module's own parameters or
//! buffers, `named_parameters`/`named_buffers` (each tensor once) and `state_dict`'s entries.
//! A library module inside the tree is walked through its own children and tensors.

use std::collections::HashSet;
use std::rc::Rc;

use super::super::value::Value;

/// Every submodule of `m`, with its dotted name, depth first, `m` itself first.
pub(super) fn named_modules(
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
pub(super) fn children(m: &Value) -> Vec<(String, Value)> {
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
pub(super) fn own_tensors(m: &Value, buffers: bool) -> Vec<(String, Value)> {
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
pub(super) fn state_entries(m: &Value) -> Vec<(String, Value)> {
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
pub(super) fn named_tensors(m: &Value, buffers: bool) -> Vec<(String, Value)> {
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

pub(super) fn pair(a: Value, b: Value) -> Value {
    Value::Tuple(Rc::new(vec![a, b]))
}
