//! `scheduler.state_dict()` and `load_state_dict()` of the `LRScheduler` family, as 2.15's
//! `torch/optim/lr_scheduler.py` keeps them: `state_dict()` is the object's `__dict__` without
//! the optimizer (the class's own settings first, then `base_lrs`, `last_epoch`,
//! `_step_count`, `_is_initial`, `_get_lr_called_within_step`, `_last_lr`; `LambdaLR` adds
//! `lr_lambdas` as `None` per plain function), and `load_state_dict(sd)` is
//! `self.__dict__.update(sd)`: the counters and settings come back, the optimizer's rates do
//! not (they come with `optimizer.load_state_dict`).

use super::super::super::args::CallArgs;
use super::super::super::dict::{Dict, DictKind, DictRef, Key};
use super::super::super::value::Value;
use super::super::super::{Interp, X};
use super::super::args::{bind, expect_float, expect_int};
use super::{Kind, SchedulerRef};
use crate::scenario::Span;

/// The classes whose state is not modelled: their `__dict__` holds more than numbers
/// (`OneCycleLR`'s phase dicts and anneal function, `ReduceLROnPlateau`'s mode settings).
fn refuse_special(it: &mut Interp<'_>, s: &SchedulerRef, name: &str, span: Span) -> X<()> {
    let class = s.0.borrow().class;
    if matches!(s.0.borrow().kind, Kind::OneCycle { .. } | Kind::Plateau(_)) {
        return Err(it.raise(
            "NotImplementedError",
            format!("{class}.{name}() is not supported in scenarios"),
            span,
        ));
    }
    Ok(())
}

fn put(d: &DictRef, name: &str, v: Value) {
    d.borrow_mut()
        .insert(Key::Str(name.into()), Value::Str(name.into()), v);
}

fn floats(it: &mut Interp<'_>, values: &[f64], span: Span) -> Value {
    it.list(values.iter().map(|&f| Value::Float(f)).collect(), span)
}

/// `scheduler.state_dict()`: a new dict of the scheduler's settings and counters.
pub(in super::super) fn state_dict(
    it: &mut Interp<'_>,
    s: &SchedulerRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bind(it, &args, name, &[], 0, span);
    it.lift(b)?;
    refuse_special(it, s, name, span)?;
    let d = Dict::shared(DictKind::Plain);
    let inner = s.0.borrow();
    match &inner.kind {
        Kind::Step { step_size, gamma } => {
            put(&d, "step_size", Value::Int(*step_size));
            put(&d, "gamma", Value::Float(*gamma));
        }
        Kind::MultiStep { milestones, gamma } => {
            // A `Counter` in PyTorch; a dict of the same items here.
            let m = Dict::shared(DictKind::Plain);
            for &(at, count) in milestones {
                m.borrow_mut()
                    .insert(Key::Int(at), Value::Int(at), Value::Int(count));
            }
            put(&d, "milestones", Value::Dict(m));
            put(&d, "gamma", Value::Float(*gamma));
        }
        Kind::Exponential { gamma } => put(&d, "gamma", Value::Float(*gamma)),
        Kind::CosineAnnealing { t_max, eta_min } => {
            put(&d, "T_max", Value::Int(*t_max as i64));
            put(&d, "eta_min", Value::Float(*eta_min));
        }
        Kind::Linear {
            start_factor,
            end_factor,
            total_iters,
        } => {
            put(&d, "start_factor", Value::Float(*start_factor));
            put(&d, "end_factor", Value::Float(*end_factor));
            put(&d, "total_iters", Value::Int(*total_iters));
        }
        Kind::Lambda { .. } | Kind::OneCycle { .. } | Kind::Plateau(_) => {}
    }
    let base_lrs = floats(it, &inner.base_lrs, span);
    put(&d, "base_lrs", base_lrs);
    put(&d, "last_epoch", Value::Int(inner.last_epoch));
    put(&d, "_step_count", Value::Int(inner.step_count));
    put(&d, "_is_initial", Value::Bool(false));
    put(&d, "_get_lr_called_within_step", Value::Bool(false));
    let last_lr = it.list(inner.last_lr.clone(), span);
    put(&d, "_last_lr", last_lr);
    if let Kind::Lambda { lambdas } = &inner.kind {
        let nones = it.list(vec![Value::None; lambdas.len()], span);
        put(&d, "lr_lambdas", nones);
    }
    let d = Value::Dict(d);
    it.gc.track_value(&d);
    Ok(d)
}

/// The items of a list or tuple value.
fn items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::List(l) => Some(l.borrow().iter().map(|s| s.value.clone()).collect()),
        Value::Tuple(t) => Some(t.as_ref().clone()),
        _ => None,
    }
}

/// `scheduler.load_state_dict(state_dict)`: every key it knows is set from the dict; keys
/// missing from it keep their values, as `__dict__.update` leaves them.
pub(in super::super) fn load_state_dict(
    it: &mut Interp<'_>,
    s: &SchedulerRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bind(it, &args, name, &["state_dict"], 1, span);
    let b = it.lift(b)?;
    refuse_special(it, s, name, span)?;
    let Some(Value::Dict(sd)) = b.raw("state_dict").cloned() else {
        return Err(it.raise("TypeError", "state_dict must be a dict".into(), span));
    };
    let get = |k: &str| sd.borrow().get(&Key::Str(k.into()));
    let float = |it: &mut Interp<'_>, k: &str, v: &Value| {
        let r = expect_float(it, v, k, span);
        it.lift(r)
    };
    let int = |it: &mut Interp<'_>, k: &str, v: &Value| {
        let r = expect_int(it, v, k, span);
        it.lift(r)
    };
    let mut inner = s.0.borrow_mut();
    if let Some(v) = get("base_lrs") {
        let list = items(&v).unwrap_or_default();
        inner.base_lrs = list
            .iter()
            .map(|x| float(it, "base_lrs", x))
            .collect::<X<_>>()?;
    }
    if let Some(v) = get("last_epoch") {
        inner.last_epoch = int(it, "last_epoch", &v)?;
    }
    if let Some(v) = get("_step_count") {
        inner.step_count = int(it, "_step_count", &v)?;
    }
    if let Some(v) = get("_last_lr") {
        inner.last_lr = items(&v).unwrap_or_default();
    }
    match &mut inner.kind {
        Kind::Step { step_size, gamma } => {
            if let Some(v) = get("step_size") {
                *step_size = int(it, "step_size", &v)?;
            }
            if let Some(v) = get("gamma") {
                *gamma = float(it, "gamma", &v)?;
            }
        }
        Kind::MultiStep { milestones, gamma } => {
            if let Some(Value::Dict(m)) = get("milestones") {
                let mut loaded = Vec::new();
                for (k, v) in m.borrow().items() {
                    loaded.push((int(it, "milestones", &k)?, int(it, "milestones", &v)?));
                }
                *milestones = loaded;
            }
            if let Some(v) = get("gamma") {
                *gamma = float(it, "gamma", &v)?;
            }
        }
        Kind::Exponential { gamma } => {
            if let Some(v) = get("gamma") {
                *gamma = float(it, "gamma", &v)?;
            }
        }
        Kind::CosineAnnealing { t_max, eta_min } => {
            if let Some(v) = get("T_max") {
                *t_max = float(it, "T_max", &v)?;
            }
            if let Some(v) = get("eta_min") {
                *eta_min = float(it, "eta_min", &v)?;
            }
        }
        Kind::Linear {
            start_factor,
            end_factor,
            total_iters,
        } => {
            if let Some(v) = get("start_factor") {
                *start_factor = float(it, "start_factor", &v)?;
            }
            if let Some(v) = get("end_factor") {
                *end_factor = float(it, "end_factor", &v)?;
            }
            if let Some(v) = get("total_iters") {
                *total_iters = int(it, "total_iters", &v)?;
            }
        }
        // `lr_lambdas`: plain functions are saved as None and not restored.
        Kind::Lambda { .. } | Kind::OneCycle { .. } | Kind::Plateau(_) => {}
    }
    Ok(Value::None)
}
