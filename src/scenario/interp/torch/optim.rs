//! `torch.optim`: the optimizer classes and their methods.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::args::CallArgs;
use super::super::objects::OptimizerRef;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, expect_bool, expect_float};
use super::{entry, Entry, Function, OptimizerMethodFn, Run};
use crate::optim::{
    Adagrad, AdagradOptions, Adam, AdamOptions, AdamW, Optimizer, Rmsprop, RmspropOptions, Sgd,
    SgdOptions,
};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `torch.optim` classes.
pub(super) const OPTIMIZERS: &[Function] = &[
    entry("SGD", Run::Call(optimizer)),
    entry("Adam", Run::Call(optimizer)),
    entry("AdamW", Run::Call(optimizer)),
    entry("RMSprop", Run::Call(rmsprop)),
    entry("Adagrad", Run::Call(adagrad)),
];

/// Methods of an optimizer.
pub(super) const OPTIMIZER_METHODS: &[Entry<OptimizerMethodFn>] =
    &[entry("step", step), entry("zero_grad", zero_grad)];

/// `optimizer.step(closure=None)`.
fn step(
    it: &mut Interp<'_>,
    o: &OptimizerRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    bind(it, &args, "step", &["closure"], 0, span)?;
    o.inner
        .borrow_mut()
        .step()
        .map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::None)
}

/// `optimizer.zero_grad(set_to_none=True)`.
fn zero_grad(
    it: &mut Interp<'_>,
    o: &OptimizerRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, "zero_grad", &["set_to_none"], 0, span)?;
    let set_to_none = expect_bool(it, b.get("set_to_none"), true, "set_to_none", span)?;
    o.inner
        .borrow_mut()
        .zero_grad(set_to_none)
        .map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::None)
}

fn params_arg(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<Vec<Tensor>> {
    let items: Vec<Value> = match v {
        Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        Some(Value::Tuple(t)) => t.as_ref().clone(),
        Some(other) => {
            return Err(it.fail(span, format!("TypeError: params argument given to the optimizer should be an iterable of Tensors, but got {}", other.type_name())))
        }
        None => return Err(it.fail(span, "TypeError: missing argument params")),
    };
    let params: Vec<Tensor> = items
        .iter()
        .map(|v| match v {
            Value::Tensor(t) => Ok(t.clone()),
            other => Err(it.fail(
                span,
                format!(
                    "TypeError: optimizer can only optimize Tensors, but one of the params is {}",
                    other.type_name()
                ),
            )),
        })
        .collect::<R<_>>()?;
    if params.is_empty() {
        return Err(it.fail(span, "ValueError: optimizer got an empty parameter list"));
    }
    Ok(params)
}

fn optimizer(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let (inner, label): (Box<dyn Optimizer>, &'static str) = if name == "SGD" {
        let b = bind(
            it,
            &args,
            "SGD",
            &[
                "params",
                "lr",
                "momentum",
                "dampening",
                "weight_decay",
                "nesterov",
                "maximize",
                "foreach",
            ],
            1,
            span,
        )?;
        let mut o = SgdOptions::default();
        if let Some(v) = b.get("lr") {
            o.lr = expect_float(it, v, "lr", span)?;
        }
        if let Some(v) = b.get("momentum") {
            o.momentum = expect_float(it, v, "momentum", span)?;
        }
        if let Some(v) = b.get("dampening") {
            o.dampening = expect_float(it, v, "dampening", span)?;
        }
        if let Some(v) = b.get("weight_decay") {
            o.weight_decay = expect_float(it, v, "weight_decay", span)?;
        }
        o.nesterov = expect_bool(it, b.get("nesterov"), false, "nesterov", span)?;
        if expect_bool(it, b.get("maximize"), false, "maximize", span)? {
            return Err(it.fail(span, "maximize=True is not supported in scenarios"));
        }
        let params = params_arg(it, b.raw("params"), span)?;
        (
            Box::new(Sgd::new(params, o).map_err(|e| it.tensor_error(span, e))?),
            "SGD",
        )
    } else {
        let b = bind(
            it,
            &args,
            name,
            &[
                "params",
                "lr",
                "betas",
                "eps",
                "weight_decay",
                "amsgrad",
                "foreach",
            ],
            1,
            span,
        )?;
        let mut o = if name == "AdamW" {
            AdamW::default_options()
        } else {
            AdamOptions::default()
        };
        if let Some(v) = b.get("lr") {
            o.lr = expect_float(it, v, "lr", span)?;
        }
        if let Some(v) = b.get("betas") {
            let pair: Vec<Value> = match v {
                Value::Tuple(t) => t.as_ref().clone(),
                Value::List(l) => l.borrow().iter().map(|s| s.value.clone()).collect(),
                _ => Vec::new(),
            };
            let [b1, b2] = pair.as_slice() else {
                return Err(it.fail(span, "TypeError: betas must be a pair of floats"));
            };
            o.betas = (
                expect_float(it, b1, "betas[0]", span)?,
                expect_float(it, b2, "betas[1]", span)?,
            );
        }
        if let Some(v) = b.get("eps") {
            o.eps = expect_float(it, v, "eps", span)?;
        }
        if let Some(v) = b.get("weight_decay") {
            o.weight_decay = expect_float(it, v, "weight_decay", span)?;
        }
        if expect_bool(it, b.get("amsgrad"), false, "amsgrad", span)? {
            return Err(it
                .fail(span, "amsgrad=True is not supported in scenarios")
                .with_help("remove amsgrad=True"));
        }
        let params = params_arg(it, b.raw("params"), span)?;
        if name == "AdamW" {
            (Box::new(AdamW::new(params, o)), "AdamW")
        } else {
            (Box::new(Adam::new(params, o)), "Adam")
        }
    };
    Ok(Value::Optimizer(OptimizerRef {
        inner: Rc::new(RefCell::new(inner)),
        name: label,
    }))
}

/// Reads the float keyword arguments of an optimizer into its options.
fn floats(
    it: &Interp<'_>,
    b: &super::super::args::Bound,
    fields: &mut [(&str, &mut f64)],
    span: Span,
) -> R<()> {
    for (name, field) in fields.iter_mut() {
        if let Some(v) = b.get(name) {
            **field = expect_float(it, v, name, span)?;
        }
    }
    Ok(())
}

fn wrap(inner: Box<dyn Optimizer>, name: &'static str) -> Value {
    Value::Optimizer(OptimizerRef {
        inner: Rc::new(RefCell::new(inner)),
        name,
    })
}

/// `torch.optim.RMSprop(params, lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0,
/// centered=False, ...)`.
fn rmsprop(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(
        it,
        &args,
        "RMSprop",
        &[
            "params",
            "lr",
            "alpha",
            "eps",
            "weight_decay",
            "momentum",
            "centered",
            "capturable",
            "foreach",
            "maximize",
            "differentiable",
        ],
        1,
        span,
    )?;
    let mut o = RmspropOptions::default();
    floats(
        it,
        &b,
        &mut [
            ("lr", &mut o.lr),
            ("alpha", &mut o.alpha),
            ("eps", &mut o.eps),
            ("weight_decay", &mut o.weight_decay),
            ("momentum", &mut o.momentum),
        ],
        span,
    )?;
    o.centered = expect_bool(it, b.get("centered"), false, "centered", span)?;
    if expect_bool(it, b.get("maximize"), false, "maximize", span)? {
        return Err(it.fail(span, "maximize=True is not supported in scenarios"));
    }
    let params = params_arg(it, b.raw("params"), span)?;
    let opt = Rmsprop::new(params, o).map_err(|e| it.tensor_error(span, e))?;
    Ok(wrap(Box::new(opt), "RMSprop"))
}

/// `torch.optim.Adagrad(params, lr=0.01, lr_decay=0, weight_decay=0,
/// initial_accumulator_value=0, eps=1e-10, ...)`: its state exists from here on.
fn adagrad(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(
        it,
        &args,
        "Adagrad",
        &[
            "params",
            "lr",
            "lr_decay",
            "weight_decay",
            "initial_accumulator_value",
            "eps",
            "foreach",
            "maximize",
            "differentiable",
            "fused",
        ],
        1,
        span,
    )?;
    let mut o = AdagradOptions::default();
    floats(
        it,
        &b,
        &mut [
            ("lr", &mut o.lr),
            ("lr_decay", &mut o.lr_decay),
            ("weight_decay", &mut o.weight_decay),
            (
                "initial_accumulator_value",
                &mut o.initial_accumulator_value,
            ),
            ("eps", &mut o.eps),
        ],
        span,
    )?;
    if expect_bool(it, b.get("maximize"), false, "maximize", span)? {
        return Err(it.fail(span, "maximize=True is not supported in scenarios"));
    }
    let params = params_arg(it, b.raw("params"), span)?;
    let opt = Adagrad::new(params, o).map_err(|e| it.tensor_error(span, e))?;
    Ok(wrap(Box::new(opt), "Adagrad"))
}
