//! `torch.optim.lr_scheduler`: the schedulers scripts use, with PyTorch 2.15's formulas
//! (`torch/optim/lr_scheduler.py`), computed in the same order so the learning rates are the
//! same floats.
//!
//! A scheduler writes `group["lr"]` of its optimizer's `param_groups` dicts, which the next
//! `optimizer.step()` reads. Like PyTorch's base class, construction sets each group's
//! `initial_lr` (when missing) and takes one first step at `last_epoch = 0`.

use std::cell::RefCell;
use std::f64::consts::PI;
use std::rc::Rc;

use super::super::args::{Bound, CallArgs};
use super::super::dict::{DictRef, Key};
use super::super::objects::OptimizerRef;
use super::super::value::Value;
use super::super::{Interp, X};
use super::args::{bind, expect_bool, expect_float, expect_int};
use super::{entry, Entry, Function, Run, SchedulerMethodFn};
use crate::scenario::Span;

mod special;
mod state;

use special::{one_cycle, plateau, set_beta1};

/// `torch.optim.lr_scheduler` classes.
pub(super) const SCHEDULERS: &[Function] = &[
    entry("StepLR", Run::Python(construct)),
    entry("MultiStepLR", Run::Python(construct)),
    entry("ExponentialLR", Run::Python(construct)),
    entry("CosineAnnealingLR", Run::Python(construct)),
    entry("CosineAnnealingWarmRestarts", Run::Python(construct)),
    entry("LambdaLR", Run::Python(construct)),
    entry("LinearLR", Run::Python(construct)),
    entry("OneCycleLR", Run::Python(construct)),
    entry("ReduceLROnPlateau", Run::Python(construct)),
];

/// Methods of a scheduler.
pub(super) const SCHEDULER_METHODS: &[Entry<SchedulerMethodFn>] = &[
    entry("step", step),
    entry("get_last_lr", get_last_lr),
    entry("state_dict", state::state_dict),
    entry("load_state_dict", state::load_state_dict),
];

/// A scheduler held by scenario names.
#[derive(Clone)]
pub struct SchedulerRef(pub(crate) Rc<RefCell<Scheduler>>);

/// One scheduler's state: what PyTorch keeps on the object.
pub(crate) struct Scheduler {
    pub(crate) class: &'static str,
    pub(crate) optimizer: OptimizerRef,
    kind: Kind,
    last_epoch: i64,
    step_count: i64,
    base_lrs: Vec<f64>,
    last_lr: Vec<Value>,
}

/// A `OneCycleLR` phase: where it ends and the group keys it anneals between.
struct Phase {
    end_step: f64,
    start_lr: &'static str,
    end_lr: &'static str,
    start_momentum: &'static str,
    end_momentum: &'static str,
}

/// `ReduceLROnPlateau`'s counters and settings.
struct Plateau {
    mode_min: bool,
    relative: bool,
    threshold: f64,
    factor: f64,
    patience: i64,
    cooldown: i64,
    /// `min_lrs` as given: the default `0` stays an int, as `state_dict()` shows it.
    min_lrs: Vec<Value>,
    /// `default_min_lr`: the one `min_lr` given, `None` when it was a list.
    default_min_lr: Value,
    eps: f64,
    best: f64,
    num_bad_epochs: i64,
    cooldown_counter: i64,
}

enum Kind {
    Step {
        step_size: i64,
        gamma: f64,
    },
    MultiStep {
        /// `Counter(milestones)`: each milestone with how often it was given.
        milestones: Vec<(i64, i64)>,
        gamma: f64,
    },
    Exponential {
        gamma: f64,
    },
    CosineAnnealing {
        t_max: f64,
        eta_min: f64,
    },
    /// `CosineAnnealingWarmRestarts`: the cycle's length `t_i` and the position in it, kept
    /// by its own `step()`, which never counts `_step_count`.
    WarmRestarts {
        t_0: i64,
        t_i: i64,
        t_mult: i64,
        eta_min: f64,
        t_cur: i64,
    },
    Lambda {
        lambdas: Vec<Value>,
    },
    Linear {
        start_factor: f64,
        end_factor: f64,
        total_iters: i64,
    },
    OneCycle {
        total_steps: i64,
        phases: Vec<Phase>,
        cosine: bool,
        /// `None` without `cycle_momentum`; else whether it cycles `betas[0]` (Adam) rather
        /// than `momentum`.
        beta1: Option<bool>,
    },
    Plateau(Box<Plateau>),
}

impl Scheduler {
    /// The values the scheduler holds references to (its optimizer and `LambdaLR`'s
    /// functions), for the leak walk.
    pub(crate) fn referents(&self) -> Vec<(&'static str, Value)> {
        let mut out = vec![("optimizer", Value::Optimizer(self.optimizer.clone()))];
        if let Kind::Lambda { lambdas } = &self.kind {
            out.extend(lambdas.iter().map(|l| ("lr_lambdas", l.clone())));
        }
        out
    }
}

fn groups(o: &OptimizerRef) -> Vec<DictRef> {
    o.inner
        .borrow()
        .groups
        .iter()
        .map(|(d, _)| d.clone())
        .collect()
}

fn get(it: &mut Interp<'_>, d: &DictRef, name: &str, span: Span) -> X<Value> {
    let v = d.borrow().get(&Key::Str(name.into()));
    match v {
        Some(v) => Ok(v),
        None => Err(it.raise_key_error(Value::Str(name.into()), span)),
    }
}

fn get_f(it: &mut Interp<'_>, d: &DictRef, name: &str, span: Span) -> X<f64> {
    let v = get(it, d, name, span)?;
    let r = expect_float(it, &v, name, span);
    it.lift(r)
}

fn set(d: &DictRef, name: &str, v: Value) {
    d.borrow_mut()
        .insert(Key::Str(name.into()), Value::Str(name.into()), v);
}

/// `float(x)` of a number or a one-element tensor.
fn float_of(it: &mut Interp<'_>, v: &Value, what: &str, span: Span) -> X<f64> {
    if let Value::Tensor(t) = v {
        let r = super::values::item(t).map_err(|e| it.tensor_error(span, e));
        return it.lift(r);
    }
    let r = expect_float(it, v, what, span);
    it.lift(r)
}

fn arg_f(it: &mut Interp<'_>, b: &Bound, name: &str, default: f64, span: Span) -> X<f64> {
    match b.get(name) {
        Some(v) => {
            let v = v.clone();
            float_of(it, &v, name, span)
        }
        None => Ok(default),
    }
}

fn arg_i(it: &mut Interp<'_>, b: &Bound, name: &str, default: Option<i64>, span: Span) -> X<i64> {
    match (b.get(name), default) {
        (Some(v), _) => {
            let r = expect_int(it, v, name, span);
            it.lift(r)
        }
        (None, Some(d)) => Ok(d),
        (None, None) => Err(it.raise(
            "TypeError",
            format!("missing required argument: '{name}'"),
            span,
        )),
    }
}

/// A per-group argument given as one number or one per group (`_format_param`).
fn per_group(
    it: &mut Interp<'_>,
    v: Option<&Value>,
    default: f64,
    name: &str,
    n: usize,
    span: Span,
) -> X<Vec<f64>> {
    match v {
        Some(Value::List(l)) => {
            let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
            per_group_items(it, items, name, n, span)
        }
        Some(Value::Tuple(t)) => per_group_items(it, t.as_ref().clone(), name, n, span),
        Some(v) => {
            let v = v.clone();
            Ok(vec![float_of(it, &v, name, span)?; n])
        }
        None => Ok(vec![default; n]),
    }
}

fn per_group_items(
    it: &mut Interp<'_>,
    items: Vec<Value>,
    name: &str,
    n: usize,
    span: Span,
) -> X<Vec<f64>> {
    if items.len() != n {
        return Err(it.raise(
            "ValueError",
            format!(
                "{name} must have the same length as optimizer.param_groups. {name} has {} values, param_groups has {n}.",
                items.len()
            ),
            span,
        ));
    }
    items.iter().map(|v| float_of(it, v, name, span)).collect()
}

fn optimizer_arg(it: &mut Interp<'_>, b: &Bound, span: Span) -> X<OptimizerRef> {
    match b.raw("optimizer") {
        Some(Value::Optimizer(o)) => Ok(o.clone()),
        Some(other) => Err(it.raise(
            "TypeError",
            format!("{} is not an Optimizer", other.type_name()),
            span,
        )),
        None => Err(it.raise(
            "TypeError",
            "missing required argument: 'optimizer'".into(),
            span,
        )),
    }
}

/// `torch.optim.lr_scheduler.<Class>(optimizer, ...)`.
fn construct(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> X<Value> {
    let signature: &'static [&'static str] = match name {
        "StepLR" => &["optimizer", "step_size", "gamma", "last_epoch"],
        "MultiStepLR" => &["optimizer", "milestones", "gamma", "last_epoch"],
        "ExponentialLR" => &["optimizer", "gamma", "last_epoch"],
        "CosineAnnealingLR" => &["optimizer", "T_max", "eta_min", "last_epoch"],
        "CosineAnnealingWarmRestarts" => &["optimizer", "T_0", "T_mult", "eta_min", "last_epoch"],
        "LambdaLR" => &["optimizer", "lr_lambda", "last_epoch"],
        "LinearLR" => &[
            "optimizer",
            "start_factor",
            "end_factor",
            "total_iters",
            "last_epoch",
        ],
        "OneCycleLR" => &[
            "optimizer",
            "max_lr",
            "total_steps",
            "epochs",
            "steps_per_epoch",
            "pct_start",
            "anneal_strategy",
            "cycle_momentum",
            "base_momentum",
            "max_momentum",
            "div_factor",
            "final_div_factor",
            "three_phase",
            "last_epoch",
        ],
        _ => &[
            "optimizer",
            "mode",
            "factor",
            "patience",
            "threshold",
            "threshold_mode",
            "cooldown",
            "min_lr",
            "eps",
        ],
    };
    let b = bind(it, &args, name, signature, 1, span);
    let b = it.lift(b)?;
    let optimizer = optimizer_arg(it, &b, span)?;
    let gs = groups(&optimizer);
    if name != "ReduceLROnPlateau" && arg_i(it, &b, "last_epoch", Some(-1), span)? != -1 {
        return Err(it.raise(
            "NotImplementedError",
            "resuming a scheduler (last_epoch != -1) is not supported in scenarios".into(),
            span,
        ));
    }
    let kind = match name {
        "StepLR" => Kind::Step {
            step_size: arg_i(it, &b, "step_size", None, span)?,
            gamma: arg_f(it, &b, "gamma", 0.1, span)?,
        },
        "MultiStepLR" => {
            let given: Vec<Value> = match b.raw("milestones") {
                Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
                Some(Value::Tuple(t)) => t.as_ref().clone(),
                _ => {
                    return Err(it.raise(
                        "TypeError",
                        "milestones must be a list of ints".into(),
                        span,
                    ))
                }
            };
            let mut milestones: Vec<(i64, i64)> = Vec::new();
            for v in &given {
                let m = expect_int(it, v, "milestones", span);
                let m = it.lift(m)?;
                match milestones.iter_mut().find(|(k, _)| *k == m) {
                    Some((_, count)) => *count += 1,
                    None => milestones.push((m, 1)),
                }
            }
            Kind::MultiStep {
                milestones,
                gamma: arg_f(it, &b, "gamma", 0.1, span)?,
            }
        }
        "ExponentialLR" => Kind::Exponential {
            gamma: {
                let v = b.raw("gamma").cloned();
                match v {
                    Some(v) => float_of(it, &v, "gamma", span)?,
                    None => {
                        return Err(it.raise(
                            "TypeError",
                            "missing required argument: 'gamma'".into(),
                            span,
                        ))
                    }
                }
            },
        },
        "CosineAnnealingLR" => Kind::CosineAnnealing {
            t_max: arg_i(it, &b, "T_max", None, span)? as f64,
            eta_min: arg_f(it, &b, "eta_min", 0.0, span)?,
        },
        "CosineAnnealingWarmRestarts" => warm_restarts(it, &b, span)?,
        "LambdaLR" => {
            let lambdas = match b.raw("lr_lambda") {
                Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
                Some(Value::Tuple(t)) => t.as_ref().clone(),
                Some(f) => vec![f.clone(); gs.len()],
                None => {
                    return Err(it.raise(
                        "TypeError",
                        "missing required argument: 'lr_lambda'".into(),
                        span,
                    ))
                }
            };
            if lambdas.len() != gs.len() {
                return Err(it.raise(
                    "ValueError",
                    format!(
                        "Expected {} lr_lambdas, but got {}",
                        gs.len(),
                        lambdas.len()
                    ),
                    span,
                ));
            }
            Kind::Lambda { lambdas }
        }
        "LinearLR" => {
            let start_factor = arg_f(it, &b, "start_factor", 1.0 / 3.0, span)?;
            let end_factor = arg_f(it, &b, "end_factor", 1.0, span)?;
            if start_factor > 1.0 || start_factor <= 0.0 {
                return Err(it.raise("ValueError", "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.".into(), span));
            }
            if !(0.0..=1.0).contains(&end_factor) {
                return Err(it.raise(
                    "ValueError",
                    "Ending multiplicative factor expected to be between 0 and 1.".into(),
                    span,
                ));
            }
            Kind::Linear {
                start_factor,
                end_factor,
                total_iters: arg_i(it, &b, "total_iters", Some(5), span)?,
            }
        }
        "OneCycleLR" => one_cycle(it, &b, &optimizer, &gs, span)?,
        _ => return plateau(it, &b, optimizer, &gs, span),
    };
    // LRScheduler.__init__: `initial_lr` when missing, the base rates, the first step.
    let mut base_lrs = Vec::new();
    for d in &gs {
        if !d.borrow().contains(&Key::Str("initial_lr".into())) {
            let lr = get(it, d, "lr", span)?;
            set(d, "initial_lr", lr);
        }
        base_lrs.push(get_f(it, d, "initial_lr", span)?);
    }
    let mut s = Scheduler {
        class: SCHEDULERS
            .iter()
            .find(|e| e.name == name)
            .map_or("LRScheduler", |e| e.name),
        optimizer,
        kind,
        last_epoch: -1,
        step_count: 0,
        base_lrs,
        last_lr: Vec::new(),
    };
    advance(it, &mut s, true, span)?;
    Ok(Value::Scheduler(SchedulerRef(Rc::new(RefCell::new(s)))))
}

/// `LRScheduler.step()`: one more epoch, each group's `lr` from `get_lr()`, `_last_lr` read
/// back from the groups. `initial` is the constructor's first step (`_initial_mode`).
fn advance(it: &mut Interp<'_>, s: &mut Scheduler, initial: bool, span: Span) -> X<()> {
    if let Kind::WarmRestarts {
        t_0,
        t_i,
        t_mult,
        t_cur,
        ..
    } = &mut s.kind
    {
        // Its `step()`: the first call starts the first cycle; each next one moves on, and
        // past the cycle's end starts a cycle `T_mult` times as long.
        if initial {
            (*t_i, *t_cur) = (*t_0, 0);
        } else {
            *t_cur += 1;
            if *t_cur >= *t_i {
                *t_cur %= *t_i;
                *t_i *= *t_mult;
            }
        }
    } else {
        s.step_count += 1;
    }
    s.last_epoch += 1;
    let gs = groups(&s.optimizer);
    let values = get_lr(it, s, &gs, initial, span)?;
    for (d, lr) in gs.iter().zip(values) {
        set(d, "lr", lr);
    }
    s.last_lr = gs
        .iter()
        .map(|d| get(it, d, "lr", span))
        .collect::<X<_>>()?;
    Ok(())
}

/// `get_lr()` of each class: the chainable forms PyTorch's `step()` uses.
fn get_lr(
    it: &mut Interp<'_>,
    s: &Scheduler,
    gs: &[DictRef],
    initial: bool,
    span: Span,
) -> X<Vec<Value>> {
    let epoch = s.last_epoch;
    let current = |it: &mut Interp<'_>| -> X<Vec<Value>> {
        gs.iter().map(|d| get(it, d, "lr", span)).collect()
    };
    let scaled = |it: &mut Interp<'_>, f: &dyn Fn(f64) -> f64| -> X<Vec<Value>> {
        gs.iter()
            .map(|d| Ok(Value::Float(f(get_f(it, d, "lr", span)?))))
            .collect()
    };
    match &s.kind {
        Kind::Step { step_size, gamma } => {
            if epoch == 0 || epoch.rem_euclid(*step_size) != 0 {
                current(it)
            } else {
                scaled(it, &|lr| lr * gamma)
            }
        }
        Kind::MultiStep { milestones, gamma } => {
            match milestones.iter().find(|(m, _)| *m == epoch) {
                None => current(it),
                Some((_, count)) => scaled(it, &|lr| lr * gamma.powf(*count as f64)),
            }
        }
        Kind::Exponential { gamma } => {
            if initial {
                current(it)
            } else {
                scaled(it, &|lr| lr * gamma)
            }
        }
        Kind::WarmRestarts {
            t_i,
            eta_min,
            t_cur,
            ..
        } => {
            let phase = (1.0 + (PI * *t_cur as f64 / *t_i as f64).cos()) / 2.0;
            Ok(s.base_lrs
                .iter()
                .map(|base| Value::Float(eta_min + (base - eta_min) * phase))
                .collect())
        }
        Kind::CosineAnnealing { t_max, eta_min } => {
            let (t, eta, e) = (*t_max, *eta_min, epoch as f64);
            if initial {
                current(it)
            } else if s.step_count == 1 && epoch > 0 {
                Ok(s.base_lrs
                    .iter()
                    .map(|base| Value::Float(eta + (base - eta) * (1.0 + (e * PI / t).cos()) / 2.0))
                    .collect())
            } else if (e - 1.0 - t).rem_euclid(2.0 * t) == 0.0 {
                let mut out = Vec::new();
                for (d, base) in gs.iter().zip(&s.base_lrs) {
                    let lr = get_f(it, d, "lr", span)?;
                    out.push(Value::Float(
                        lr + (base - eta) * (1.0 - (PI / t).cos()) / 2.0,
                    ));
                }
                Ok(out)
            } else {
                scaled(it, &|lr| {
                    (1.0 + (PI * e / t).cos()) / (1.0 + (PI * (e - 1.0) / t).cos()) * (lr - eta)
                        + eta
                })
            }
        }
        Kind::Lambda { lambdas } => {
            let mut out = Vec::new();
            for (f, base) in lambdas.iter().zip(&s.base_lrs) {
                let args = CallArgs {
                    pos: vec![Value::Int(epoch)],
                    kw: Vec::new(),
                };
                let factor = it.call(f.clone(), args, span)?;
                let factor = float_of(it, &factor, "lr_lambda", span)?;
                out.push(Value::Float(base * factor));
            }
            Ok(out)
        }
        Kind::Linear {
            start_factor,
            end_factor,
            total_iters,
        } => {
            let (sf, ef) = (*start_factor, *end_factor);
            if epoch == 0 {
                scaled(it, &|lr| lr * sf)
            } else if initial || epoch > *total_iters {
                current(it)
            } else {
                let n = *total_iters as f64;
                let e = epoch as f64;
                scaled(it, &|lr| {
                    lr * (1.0 + (ef - sf) / (n * sf + (e - 1.0) * (ef - sf)))
                })
            }
        }
        Kind::OneCycle {
            total_steps,
            phases,
            cosine,
            beta1,
        } => {
            if epoch > *total_steps {
                return Err(it.raise(
                    "ValueError",
                    format!(
                        "Tried to step {epoch} times. The specified number of total steps is {total_steps}"
                    ),
                    span,
                ));
            }
            let anneal = |start: f64, end: f64, pct: f64| {
                if *cosine {
                    end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0)
                } else {
                    (end - start) * pct + start
                }
            };
            let step = epoch as f64;
            let mut out = Vec::new();
            for d in gs {
                let mut start_step = 0.0;
                for (i, p) in phases.iter().enumerate() {
                    if step <= p.end_step || i == phases.len() - 1 {
                        let pct = (step - start_step) / (p.end_step - start_step);
                        let lr = anneal(
                            get_f(it, d, p.start_lr, span)?,
                            get_f(it, d, p.end_lr, span)?,
                            pct,
                        );
                        out.push(Value::Float(lr));
                        if let Some(use_beta1) = beta1 {
                            let m = anneal(
                                get_f(it, d, p.start_momentum, span)?,
                                get_f(it, d, p.end_momentum, span)?,
                                pct,
                            );
                            if *use_beta1 {
                                set_beta1(it, d, m, span)?;
                            } else {
                                set(d, "momentum", Value::Float(m));
                            }
                        }
                        break;
                    }
                    start_step = p.end_step;
                }
            }
            Ok(out)
        }
        Kind::Plateau(_) => current(it),
    }
}

/// `CosineAnnealingWarmRestarts(optimizer, T_0, T_mult=1, eta_min=0.0)`, with its checks.
fn warm_restarts(it: &mut Interp<'_>, b: &Bound, span: Span) -> X<Kind> {
    let t_0 = match b.raw("T_0") {
        Some(Value::Int(t)) if *t > 0 => *t,
        Some(v) => {
            let shown = super::super::value::repr(v);
            let message = format!("Expected positive integer T_0, but got {shown}");
            return Err(it.raise("ValueError", message, span));
        }
        None => {
            let message = "missing required argument: 'T_0'".to_string();
            return Err(it.raise("TypeError", message, span));
        }
    };
    let t_mult = match b.get("T_mult") {
        None => 1,
        Some(Value::Int(m)) if *m >= 1 => *m,
        Some(v) => {
            let shown = super::super::value::repr(v);
            let message = format!("Expected integer T_mult >= 1, but got {shown}");
            return Err(it.raise("ValueError", message, span));
        }
    };
    let eta_min = match b.get("eta_min") {
        None => 0.0,
        Some(v @ (Value::Int(_) | Value::Float(_))) => float_of(it, v, "eta_min", span)?,
        Some(v) => {
            let shown = super::super::value::repr(v);
            let message = format!(
                "Expected float or int eta_min, but got {shown} of type <class '{}'>",
                v.type_name()
            );
            return Err(it.raise("ValueError", message, span));
        }
    };
    Ok(Kind::WarmRestarts {
        t_0,
        t_i: t_0,
        t_mult,
        eta_min,
        t_cur: -1,
    })
}

/// `scheduler.step()`, or `ReduceLROnPlateau.step(metrics)`: `float(metrics)` is all it
/// keeps of the metric, so a tensor passed here (even one with a graph) is not held.
fn step(
    it: &mut Interp<'_>,
    s: &SchedulerRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let plateau = matches!(s.0.borrow().kind, Kind::Plateau(_));
    if !plateau {
        let b = bind(it, &args, "step", &["epoch"], 0, span);
        let b = it.lift(b)?;
        if b.get("epoch").is_some() {
            return Err(it.raise(
                "NotImplementedError",
                "scheduler.step(epoch) (deprecated since PyTorch 1.4) is not supported in scenarios"
                    .into(),
                span,
            ));
        }
        let mut inner = s.0.borrow_mut();
        advance(it, &mut inner, false, span)?;
        return Ok(Value::None);
    }
    let b = bind(it, &args, "step", &["metrics", "epoch"], 1, span);
    let b = it.lift(b)?;
    let metrics = b.raw("metrics").cloned().unwrap_or(Value::None);
    let current = float_of(it, &metrics, "metrics", span)?;
    let mut inner = s.0.borrow_mut();
    inner.last_epoch += 1;
    let gs = groups(&inner.optimizer);
    let Kind::Plateau(p) = &mut inner.kind else {
        return Ok(Value::None);
    };
    let better = match (p.mode_min, p.relative) {
        (true, true) => current < p.best * (1.0 - p.threshold),
        (true, false) => current < p.best - p.threshold,
        (false, true) => current > p.best * (p.threshold + 1.0),
        (false, false) => current > p.best + p.threshold,
    };
    if better {
        p.best = current;
        p.num_bad_epochs = 0;
    } else {
        p.num_bad_epochs += 1;
    }
    if p.cooldown_counter > 0 {
        p.cooldown_counter -= 1;
        p.num_bad_epochs = 0;
    }
    if p.num_bad_epochs > p.patience {
        // `_reduce_lr`: a group added since construction takes `default_min_lr`.
        if gs.len() != p.min_lrs.len() {
            if matches!(p.default_min_lr, Value::None) {
                return Err(it.raise(
                    "RuntimeError",
                    format!(
                        "The number of param groups in the `optimizer` ({}) differs from when `ReduceLROnPlateau` was initialized ({}), usually due to a new param group being added to the optimizer. Please modify the `min_lrs` field to match the length of the `optimizer` param groups.",
                        gs.len(),
                        p.min_lrs.len()
                    ),
                    span,
                ));
            }
            p.min_lrs = vec![p.default_min_lr.clone(); gs.len()];
        }
        for (d, min_lr) in gs.iter().zip(p.min_lrs.clone()) {
            let old_lr = get_f(it, d, "lr", span)?;
            let scaled = old_lr * p.factor;
            // `max(old_lr * factor, min_lr)`: the bound itself when it is larger.
            let new_lr = if float_of(it, &min_lr, "min_lr", span)? > scaled {
                min_lr
            } else {
                Value::Float(scaled)
            };
            if old_lr - float_of(it, &new_lr, "min_lr", span)? > p.eps {
                set(d, "lr", new_lr);
            }
        }
        p.cooldown_counter = p.cooldown;
        p.num_bad_epochs = 0;
    }
    inner.last_lr = gs
        .iter()
        .map(|d| get(it, d, "lr", span))
        .collect::<X<_>>()?;
    Ok(Value::None)
}

/// `scheduler.get_last_lr()`: a new list of the rates the last step left in the groups.
fn get_last_lr(
    it: &mut Interp<'_>,
    s: &SchedulerRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bind(it, &args, "get_last_lr", &[], 0, span);
    it.lift(b)?;
    let values = s.0.borrow().last_lr.clone();
    Ok(it.list(values, span))
}

/// Attributes of a scheduler: `optimizer`, `last_epoch`, `base_lrs`, and `ReduceLROnPlateau`'s
/// settings and counters.
pub(super) fn get_attr(s: &SchedulerRef, attr: &str) -> Option<Value> {
    let inner = s.0.borrow();
    if let Kind::Plateau(p) = &inner.kind {
        if let Some(v) = special::plateau_attr(p, attr) {
            return Some(v);
        }
    }
    if let Kind::WarmRestarts {
        t_0,
        t_i,
        t_mult,
        eta_min,
        t_cur,
    } = &inner.kind
    {
        match attr {
            "T_0" => return Some(Value::Int(*t_0)),
            "T_i" => return Some(Value::Int(*t_i)),
            "T_mult" => return Some(Value::Int(*t_mult)),
            "eta_min" => return Some(Value::Float(*eta_min)),
            "T_cur" => return Some(Value::Int(*t_cur)),
            _ => {}
        }
    }
    Some(match attr {
        "optimizer" => Value::Optimizer(inner.optimizer.clone()),
        "last_epoch" => Value::Int(inner.last_epoch),
        "base_lrs" => super::super::builtins::new_list(
            inner.base_lrs.iter().map(|&f| Value::Float(f)).collect(),
            Span::default(),
        ),
        _ => return None,
    })
}
