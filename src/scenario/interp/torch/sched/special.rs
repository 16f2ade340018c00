//! The two schedulers whose construction is more than a rate formula: `OneCycleLR`'s phases
//! and its momentum (or `betas[0]`) cycling, and `ReduceLROnPlateau`'s counters.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::super::args::Bound;
use super::super::super::dict::DictRef;
use super::super::super::objects::OptimizerRef;
use super::super::super::value::Value;
use super::super::super::{Interp, X};
use super::*;
use crate::scenario::Span;

/// `OneCycleLR.__init__`: the phases, and per group `initial_lr = max_lr / div_factor`,
/// `max_lr`, `min_lr = initial_lr / final_div_factor`, and with `cycle_momentum` the momentum
/// (or `betas[0]`) set to `max_momentum`, with `max_momentum` and `base_momentum` stored.
pub(super) fn one_cycle(
    it: &mut Interp<'_>,
    b: &Bound,
    optimizer: &OptimizerRef,
    gs: &[DictRef],
    span: Span,
) -> X<Kind> {
    let total_steps = match (
        b.get("total_steps"),
        b.get("epochs"),
        b.get("steps_per_epoch"),
    ) {
        (Some(_), _, _) => {
            let t = arg_i(it, b, "total_steps", None, span)?;
            if t <= 0 {
                return Err(it.raise(
                    "ValueError",
                    format!("Expected positive integer total_steps, but got {t}"),
                    span,
                ));
            }
            t
        }
        (None, Some(_), Some(_)) => {
            arg_i(it, b, "epochs", None, span)? * arg_i(it, b, "steps_per_epoch", None, span)?
        }
        _ => {
            return Err(it.raise(
                "ValueError",
                "You must define either total_steps OR (epochs AND steps_per_epoch)".into(),
                span,
            ))
        }
    };
    let pct_start = arg_f(it, b, "pct_start", 0.3, span)?;
    let three_phase = {
        let r = expect_bool(it, b.get("three_phase"), false, "three_phase", span);
        it.lift(r)?
    };
    let total = total_steps as f64;
    let phase = |end_step, start_lr, end_lr, start_momentum, end_momentum| Phase {
        end_step,
        start_lr,
        end_lr,
        start_momentum,
        end_momentum,
    };
    let phases = if three_phase {
        vec![
            phase(
                pct_start * total - 1.0,
                "initial_lr",
                "max_lr",
                "max_momentum",
                "base_momentum",
            ),
            phase(
                2.0 * pct_start * total - 2.0,
                "max_lr",
                "initial_lr",
                "base_momentum",
                "max_momentum",
            ),
            phase(
                total - 1.0,
                "initial_lr",
                "min_lr",
                "max_momentum",
                "max_momentum",
            ),
        ]
    } else {
        vec![
            phase(
                pct_start * total - 1.0,
                "initial_lr",
                "max_lr",
                "max_momentum",
                "base_momentum",
            ),
            phase(
                total - 1.0,
                "max_lr",
                "min_lr",
                "base_momentum",
                "max_momentum",
            ),
        ]
    };
    if !(0.0..=1.0).contains(&pct_start) {
        return Err(it.raise(
            "ValueError",
            format!("Expected float between 0 and 1 pct_start, but got {pct_start}"),
            span,
        ));
    }
    let cosine = match b.get("anneal_strategy") {
        None => true,
        Some(Value::Str(s)) if &**s == "cos" => true,
        Some(Value::Str(s)) if &**s == "linear" => false,
        Some(other) => {
            return Err(it.raise(
                "ValueError",
                format!("anneal_strategy must be one of 'cos' or 'linear', instead got {other}"),
                span,
            ))
        }
    };
    let max_lrs = per_group(it, b.get("max_lr"), f64::NAN, "max_lr", gs.len(), span)?;
    if b.get("max_lr").is_none() {
        return Err(it.raise(
            "TypeError",
            "missing required argument: 'max_lr'".into(),
            span,
        ));
    }
    let div_factor = arg_f(it, b, "div_factor", 25.0, span)?;
    let final_div_factor = arg_f(it, b, "final_div_factor", 1e4, span)?;
    for (d, max_lr) in gs.iter().zip(&max_lrs) {
        let initial = max_lr / div_factor;
        set(d, "initial_lr", Value::Float(initial));
        set(d, "max_lr", Value::Float(*max_lr));
        set(d, "min_lr", Value::Float(initial / final_div_factor));
    }
    let cycle = {
        let r = expect_bool(it, b.get("cycle_momentum"), true, "cycle_momentum", span);
        it.lift(r)?
    };
    let beta1 = if cycle {
        let defaults = optimizer.inner.borrow().defaults_dict();
        let has = |k: &str| defaults.borrow().contains(&Key::Str(k.into()));
        if !has("momentum") && !has("betas") {
            return Err(it.raise(
                "ValueError",
                "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
                    .into(),
                span,
            ));
        }
        let use_beta1 = has("betas");
        let max_m = per_group(
            it,
            b.get("max_momentum"),
            0.95,
            "max_momentum",
            gs.len(),
            span,
        )?;
        let base_m = per_group(
            it,
            b.get("base_momentum"),
            0.85,
            "base_momentum",
            gs.len(),
            span,
        )?;
        for ((d, m), bm) in gs.iter().zip(&max_m).zip(&base_m) {
            if use_beta1 {
                set_beta1(it, d, *m, span)?;
            } else {
                set(d, "momentum", Value::Float(*m));
            }
            set(d, "max_momentum", Value::Float(*m));
            set(d, "base_momentum", Value::Float(*bm));
        }
        Some(use_beta1)
    } else {
        None
    };
    Ok(Kind::OneCycle {
        total_steps,
        phases,
        cosine,
        beta1,
    })
}

/// `group["betas"] = (m, *group["betas"][1:])`.
pub(super) fn set_beta1(it: &mut Interp<'_>, d: &DictRef, m: f64, span: Span) -> X<()> {
    let betas = get(it, d, "betas", span)?;
    let rest: Vec<Value> = match betas {
        Value::Tuple(t) => t.iter().skip(1).cloned().collect(),
        Value::List(l) => l.borrow().iter().skip(1).map(|s| s.value.clone()).collect(),
        _ => Vec::new(),
    };
    let mut new = vec![Value::Float(m)];
    new.extend(rest);
    set(d, "betas", Value::Tuple(Rc::new(new)));
    Ok(())
}

/// `ReduceLROnPlateau(optimizer, mode, factor, patience, threshold, threshold_mode,
/// cooldown, min_lr, eps)`.
pub(super) fn plateau(
    it: &mut Interp<'_>,
    b: &Bound,
    optimizer: OptimizerRef,
    gs: &[DictRef],
    span: Span,
) -> X<Value> {
    let factor = arg_f(it, b, "factor", 0.1, span)?;
    if factor >= 1.0 {
        return Err(it.raise("ValueError", "Factor should be < 1.0.".into(), span));
    }
    let text = |v: Option<&Value>, default: &str| match v {
        Some(Value::Str(s)) => s.to_string(),
        _ => default.to_string(),
    };
    let mode = text(b.get("mode"), "min");
    let threshold_mode = text(b.get("threshold_mode"), "rel");
    let (min_lrs, default_min_lr) = match b.get("min_lr") {
        Some(Value::List(l)) => {
            let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
            (items, Value::None)
        }
        Some(Value::Tuple(t)) => (t.as_ref().clone(), Value::None),
        Some(v) => (vec![v.clone(); gs.len()], v.clone()),
        None => (vec![Value::Int(0); gs.len()], Value::Int(0)),
    };
    if matches!(default_min_lr, Value::None) && min_lrs.len() != gs.len() {
        return Err(it.raise(
            "ValueError",
            format!("expected {} min_lrs, got {}", gs.len(), min_lrs.len()),
            span,
        ));
    }
    let mode_min = two_way(it, "mode", &mode, ["min", "max"], span)?;
    let relative = two_way(it, "threshold mode", &threshold_mode, ["rel", "abs"], span)?;
    let p = Plateau {
        mode_min,
        relative,
        threshold: arg_f(it, b, "threshold", 1e-4, span)?,
        factor,
        patience: arg_i(it, b, "patience", Some(10), span)?,
        cooldown: arg_i(it, b, "cooldown", Some(0), span)?,
        min_lrs,
        default_min_lr,
        eps: arg_f(it, b, "eps", 1e-8, span)?,
        best: if mode_min {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        },
        num_bad_epochs: 0,
        cooldown_counter: 0,
    };
    let mut last_lr = Vec::new();
    for d in gs {
        last_lr.push(get(it, d, "lr", span)?);
    }
    let s = Scheduler {
        class: "ReduceLROnPlateau",
        optimizer,
        kind: Kind::Plateau(Box::new(p)),
        last_epoch: 0,
        step_count: 0,
        base_lrs: Vec::new(),
        last_lr,
    };
    Ok(Value::Scheduler(SchedulerRef(Rc::new(RefCell::new(s)))))
}

/// `ReduceLROnPlateau`'s attributes that scripts read (`scheduler.best`,
/// `scheduler.num_bad_epochs`, ...).
pub(super) fn plateau_attr(p: &Plateau, attr: &str) -> Option<Value> {
    Some(match attr {
        "best" => Value::Float(p.best),
        "num_bad_epochs" => Value::Int(p.num_bad_epochs),
        "cooldown_counter" => Value::Int(p.cooldown_counter),
        "in_cooldown" => Value::Bool(p.cooldown_counter > 0),
        "patience" => Value::Int(p.patience),
        "cooldown" => Value::Int(p.cooldown),
        "factor" => Value::Float(p.factor),
        "threshold" => Value::Float(p.threshold),
        "eps" => Value::Float(p.eps),
        "mode" => Value::Str(if p.mode_min { "min" } else { "max" }.into()),
        "threshold_mode" => Value::Str(if p.relative { "rel" } else { "abs" }.into()),
        "min_lrs" => super::super::super::builtins::new_list(p.min_lrs.clone(), Span::default()),
        _ => return None,
    })
}

/// `_init_is_better`'s check of a two-way option (`mode`, `threshold_mode`): whether `given` is
/// the first of the two choices, or the ValueError PyTorch raises for anything else.
pub(super) fn two_way(
    it: &mut Interp<'_>,
    what: &str,
    given: &str,
    [first, second]: [&str; 2],
    span: Span,
) -> X<bool> {
    if given == first {
        Ok(true)
    } else if given == second {
        Ok(false)
    } else {
        Err(it.raise("ValueError", format!("{what} {given} is unknown!"), span))
    }
}
