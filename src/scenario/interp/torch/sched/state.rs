//! `scheduler.state_dict()` and `load_state_dict()` of the `LRScheduler` family, as 2.15's
//! `torch/optim/lr_scheduler.py` keeps them: `state_dict()` is the object's `__dict__` without
//! the optimizer (the class's own settings first, then `base_lrs`, `last_epoch`,
//! `_step_count`, `_is_initial`, `_get_lr_called_within_step`, `_last_lr`; `LambdaLR` adds
//! `lr_lambdas` as `None` per plain function), and `load_state_dict(sd)` is
//! `self.__dict__.update(sd)`: the counters and settings come back, the optimizer's rates do
//! not (they come with `optimizer.load_state_dict`).
//!
//! `OneCycleLR`'s settings are `total_steps`, `_schedule_phases` (a dict per phase: its
//! `end_step` and the group keys it anneals between), `_anneal_func_type`, `cycle_momentum`
//! and, when cycling, `use_beta1`. `ReduceLROnPlateau` never calls the base constructor, so its
//! `__dict__` is its own: the settings and counters in the order its `__init__` sets them, no
//! `base_lrs` or `_step_count`; its `load_state_dict` also re-derives `mode_worse` from the
//! loaded `mode` (`_init_is_better`).

use super::super::super::args::CallArgs;
use super::super::super::dict::{Dict, DictKind, DictRef, Key};
use super::super::super::value::Value;
use super::super::super::{Interp, X};
use super::super::args::{bind, expect_float, expect_int};
use super::special::two_way;
use super::{Kind, Phase, SchedulerRef};
use crate::scenario::Span;

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
        Kind::WarmRestarts {
            t_0,
            t_i,
            t_mult,
            eta_min,
            t_cur,
        } => {
            put(&d, "T_0", Value::Int(*t_0));
            put(&d, "T_i", Value::Int(*t_i));
            put(&d, "T_mult", Value::Int(*t_mult));
            put(&d, "eta_min", Value::Float(*eta_min));
            put(&d, "T_cur", Value::Int(*t_cur));
        }
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
        Kind::OneCycle {
            total_steps,
            phases,
            cosine,
            beta1,
        } => {
            put(&d, "total_steps", Value::Int(*total_steps));
            let dicts = phases
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    // The last phase ends at `self.total_steps - 1`, an int; the others at
                    // `float(pct_start * total_steps) - 1` (or `- 2`).
                    let end = if i + 1 == phases.len() {
                        Value::Int(*total_steps - 1)
                    } else {
                        Value::Float(p.end_step)
                    };
                    let pd = Dict::shared(DictKind::Plain);
                    put(&pd, "end_step", end);
                    for (k, v) in [
                        ("start_lr", p.start_lr),
                        ("end_lr", p.end_lr),
                        ("start_momentum", p.start_momentum),
                        ("end_momentum", p.end_momentum),
                    ] {
                        put(&pd, k, Value::Str(v.into()));
                    }
                    Value::Dict(pd)
                })
                .collect();
            let dicts = it.list(dicts, span);
            put(&d, "_schedule_phases", dicts);
            let anneal = if *cosine { "cos" } else { "linear" };
            put(&d, "_anneal_func_type", Value::Str(anneal.into()));
            put(&d, "cycle_momentum", Value::Bool(beta1.is_some()));
            if let Some(use_beta1) = beta1 {
                put(&d, "use_beta1", Value::Bool(*use_beta1));
            }
        }
        Kind::Plateau(p) => {
            put(&d, "factor", Value::Float(p.factor));
            put(&d, "default_min_lr", p.default_min_lr.clone());
            let min_lrs = it.list(p.min_lrs.clone(), span);
            put(&d, "min_lrs", min_lrs);
            put(&d, "patience", Value::Int(p.patience));
            put(&d, "cooldown", Value::Int(p.cooldown));
            put(&d, "eps", Value::Float(p.eps));
            put(&d, "last_epoch", Value::Int(inner.last_epoch));
            let last_lr = it.list(inner.last_lr.clone(), span);
            put(&d, "_last_lr", last_lr);
            let worse = if p.mode_min {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
            put(&d, "mode_worse", Value::Float(worse));
            let mode = if p.mode_min { "min" } else { "max" };
            put(&d, "mode", Value::Str(mode.into()));
            put(&d, "threshold", Value::Float(p.threshold));
            let threshold_mode = if p.relative { "rel" } else { "abs" };
            put(&d, "threshold_mode", Value::Str(threshold_mode.into()));
            put(&d, "best", Value::Float(p.best));
            put(&d, "cooldown_counter", Value::Int(p.cooldown_counter));
            put(&d, "num_bad_epochs", Value::Int(p.num_bad_epochs));
            let d = Value::Dict(d);
            it.gc.track_value(&d);
            return Ok(d);
        }
        Kind::Lambda { .. } => {}
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
        Kind::WarmRestarts {
            t_0,
            t_i,
            t_mult,
            eta_min,
            t_cur,
        } => {
            for (name, field) in [
                ("T_0", t_0),
                ("T_i", t_i),
                ("T_mult", t_mult),
                ("T_cur", t_cur),
            ] {
                if let Some(v) = get(name) {
                    *field = int(it, name, &v)?;
                }
            }
            if let Some(v) = get("eta_min") {
                *eta_min = float(it, "eta_min", &v)?;
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
        Kind::OneCycle {
            total_steps,
            phases,
            cosine,
            beta1,
        } => {
            if let Some(v) = get("total_steps") {
                *total_steps = int(it, "total_steps", &v)?;
            }
            if let Some(v) = get("_schedule_phases") {
                let mut loaded = Vec::new();
                for p in items(&v).unwrap_or_default() {
                    loaded.push(phase(it, &p, span)?);
                }
                *phases = loaded;
            }
            if let Some(v) = get("_anneal_func_type") {
                *cosine = match &v {
                    Value::Str(s) if &**s == "cos" => true,
                    Value::Str(s) if &**s == "linear" => false,
                    other => {
                        return Err(it.raise(
                            "ValueError",
                            format!("Unknown _anneal_func_type: {other}"),
                            span,
                        ))
                    }
                };
            }
            let cycle = match get("cycle_momentum") {
                Some(v) => v.truthy().unwrap_or(false),
                None => beta1.is_some(),
            };
            let use_beta1 = match get("use_beta1") {
                Some(v) => v.truthy().unwrap_or(false),
                None => beta1.unwrap_or(false),
            };
            *beta1 = cycle.then_some(use_beta1);
        }
        Kind::Plateau(p) => {
            if let Some(v) = get("factor") {
                p.factor = float(it, "factor", &v)?;
            }
            if let Some(v) = get("default_min_lr") {
                p.default_min_lr = v;
            }
            if let Some(v) = get("min_lrs") {
                p.min_lrs = items(&v).unwrap_or_default();
            }
            for (key, field) in [
                ("patience", &mut p.patience),
                ("cooldown", &mut p.cooldown),
                ("cooldown_counter", &mut p.cooldown_counter),
                ("num_bad_epochs", &mut p.num_bad_epochs),
            ] {
                if let Some(v) = get(key) {
                    *field = int(it, key, &v)?;
                }
            }
            for (key, field) in [
                ("eps", &mut p.eps),
                ("threshold", &mut p.threshold),
                ("best", &mut p.best),
            ] {
                if let Some(v) = get(key) {
                    *field = float(it, key, &v)?;
                }
            }
            // `_init_is_better(mode, threshold, threshold_mode)` with the loaded values.
            let shown = |v: &Value| match v {
                Value::Str(s) => s.to_string(),
                other => other.to_string(),
            };
            if let Some(v) = get("mode") {
                p.mode_min = two_way(it, "mode", &shown(&v), ["min", "max"], span)?;
            }
            if let Some(v) = get("threshold_mode") {
                p.relative = two_way(it, "threshold mode", &shown(&v), ["rel", "abs"], span)?;
            }
        }
        // `lr_lambdas`: plain functions are saved as None and not restored.
        Kind::Lambda { .. } => {}
    }
    Ok(Value::None)
}

/// The group keys a `OneCycleLR` phase may anneal between.
const PHASE_KEYS: [&str; 5] = [
    "initial_lr",
    "max_lr",
    "min_lr",
    "max_momentum",
    "base_momentum",
];

/// One of `_schedule_phases`' dicts, loaded.
fn phase(it: &mut Interp<'_>, v: &Value, span: Span) -> X<Phase> {
    let Value::Dict(d) = v else {
        return Err(it.raise("TypeError", "_schedule_phases must hold dicts".into(), span));
    };
    let field = |it: &mut Interp<'_>, k: &str| -> X<Value> {
        let found = d.borrow().get(&Key::Str(k.into()));
        found.ok_or_else(|| it.raise_key_error(Value::Str(k.into()), span))
    };
    let key = |it: &mut Interp<'_>, k: &str| -> X<&'static str> {
        match field(it, k)? {
            Value::Str(s) => match PHASE_KEYS.iter().find(|n| **n == &*s) {
                Some(n) => Ok(*n),
                None => Err(it.raise(
                    "NotImplementedError",
                    format!("a OneCycleLR phase annealing '{s}' is not supported in scenarios"),
                    span,
                )),
            },
            other => Err(it.raise(
                "TypeError",
                format!("{k} must be a str, not {}", other.type_name()),
                span,
            )),
        }
    };
    let end = field(it, "end_step")?;
    let end_step = {
        let r = expect_float(it, &end, "end_step", span);
        it.lift(r)?
    };
    Ok(Phase {
        end_step,
        start_lr: key(it, "start_lr")?,
        end_lr: key(it, "end_lr")?,
        start_momentum: key(it, "start_momentum")?,
        end_momentum: key(it, "end_momentum")?,
    })
}
