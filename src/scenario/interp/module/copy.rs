//! `copy.copy` and `copy.deepcopy` of scenario values, modules included: a deep copy clones
//! each tensor as `Tensor.__deepcopy__` does and each object once (a memo keyed by identity),
//! so shared references stay shared in the copy.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::dict::{Dict, DictKind};
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::pyobj::{Instance, ModuleState};
use super::super::value::Value;
use super::super::{Interp, X};
use crate::nn::Module as _;
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `copy.copy` / `copy.deepcopy`: a deep copy clones every tensor (allocating as PyTorch's
/// `Tensor.__deepcopy__` does) and every object once, keeping shared references shared.
pub(in crate::scenario::interp) fn copy_value(
    it: &mut Interp<'_>,
    v: &Value,
    deep: bool,
    span: Span,
) -> X<Value> {
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
