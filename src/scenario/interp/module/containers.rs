//! `nn.ModuleList` and `nn.ModuleDict` as Python containers (iteration, `len`, item get and
//! set), and `repr(model)` of a scenario module tree.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::pyobj::Instance;
use super::super::value::Value;
use super::super::{Interp, X};
use super::is_module_object;
use super::tree::children;
use crate::scenario::Span;

/// `for m in module_list`, `for k in module_dict`.
pub(in crate::scenario::interp) fn iterate_module_container(
    it: &mut Interp<'_>,
    v: &Value,
) -> Option<Value> {
    let Value::Instance(i) = v else { return None };
    let base = i.class.builtin_base.as_deref()?;
    let items: Vec<Value> = match base {
        "torch.nn.ModuleList" | "torch.nn.Sequential" => {
            children(v).into_iter().map(|(_, m)| m).collect()
        }
        "torch.nn.ModuleDict" => children(v)
            .into_iter()
            .map(|(n, _)| Value::Str(n.into()))
            .collect(),
        _ => return None,
    };
    let _ = it;
    Some(Value::Iterator(Rc::new(RefCell::new(
        super::super::pyobj::Iter::Values(items.into(), "iterator"),
    ))))
}

/// `len(module_list)`.
pub(in crate::scenario::interp) fn container_len(v: &Value) -> Option<usize> {
    let Value::Instance(i) = v else { return None };
    match i.class.builtin_base.as_deref()? {
        "torch.nn.ModuleList" | "torch.nn.ModuleDict" | "torch.nn.Sequential" => {
            Some(children(v).len())
        }
        _ => None,
    }
}

/// `module_list[i]`, `module_dict[k]`.
pub(in crate::scenario::interp) fn container_item(
    it: &mut Interp<'_>,
    obj: &Value,
    idx: &Value,
    span: Span,
) -> Option<X<Value>> {
    let Value::Instance(i) = obj else { return None };
    let base = i.class.builtin_base.clone()?;
    let items = children(obj);
    Some(match (&*base, idx) {
        ("torch.nn.ModuleList" | "torch.nn.Sequential", Value::Int(k)) => {
            let n = items.len() as i64;
            let j = if *k < 0 { k + n } else { *k };
            match items.get(j as usize).filter(|_| (0..n).contains(&j)) {
                Some((_, m)) => Ok(m.clone()),
                None => Err(it.raise("IndexError", format!("index {k} is out of range"), span)),
            }
        }
        ("torch.nn.ModuleDict", Value::Str(k)) => match items.iter().find(|(n, _)| **n == **k) {
            Some((_, m)) => Ok(m.clone()),
            None => Err(it.raise_key_error(idx.clone(), span)),
        },
        _ => return None,
    })
}

/// `module_dict[k] = m`, `module_list[i] = m`.
pub(in crate::scenario::interp) fn set_container_item(
    it: &mut Interp<'_>,
    obj: &Value,
    idx: &Value,
    v: Value,
    span: Span,
) -> Option<X<()>> {
    let Value::Instance(i) = obj else { return None };
    let name = match (i.class.builtin_base.as_deref()?, idx) {
        ("torch.nn.ModuleDict", Value::Str(k)) => k.to_string(),
        ("torch.nn.ModuleList" | "torch.nn.Sequential", Value::Int(k)) => {
            let n = children(obj).len() as i64;
            (if *k < 0 { k + n } else { *k }).to_string()
        }
        _ => return None,
    };
    let i = i.clone();
    Some(it.set_attr(&Value::Instance(i), &name, v, span))
}

/// `repr(model)` as PyTorch prints a module tree.
pub(in crate::scenario::interp) fn module_repr(i: &Rc<Instance>) -> Option<String> {
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
