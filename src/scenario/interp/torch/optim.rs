//! `torch.optim`: the optimizer classes, their methods, `param_groups` and `state_dict`.
//!
//! An optimizer is a list of parameter groups. Each is a Python dict
//! (`optimizer.param_groups[i]`: its `params` and hyper-parameters) beside the Rust optimizer
//! that steps it. The dict is the truth, as in PyTorch: `step()` reads each group's
//! hyper-parameters into its Rust options first, so `group["lr"] = x` (and a scheduler's edit)
//! takes effect at the next step.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use super::super::args::{Bound, CallArgs};
use super::super::dict::{Dict, DictKind, DictRef, Key};
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
    entry("SGD", Run::Call(construct)),
    entry("Adam", Run::Call(construct)),
    entry("AdamW", Run::Call(construct)),
    entry("RMSprop", Run::Call(construct)),
    entry("Adagrad", Run::Call(construct)),
];

/// Methods of an optimizer.
pub(super) const OPTIMIZER_METHODS: &[Entry<OptimizerMethodFn>] = &[
    entry("step", step),
    entry("zero_grad", zero_grad),
    entry("state_dict", state_dict),
    entry("load_state_dict", load_state_dict),
    entry("add_param_group", add_param_group),
];

/// A default of a hyper-parameter, with PyTorch's Python type (`momentum=0` is an int).
#[derive(Clone, Copy)]
enum Lit {
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    Pair(f64, f64),
}

impl Lit {
    fn value(self) -> Value {
        match self {
            Lit::Int(i) => Value::Int(i),
            Lit::Float(f) => Value::Float(f),
            Lit::Bool(b) => Value::Bool(b),
            Lit::None => Value::None,
            Lit::Pair(a, b) => Value::Tuple(Rc::new(vec![Value::Float(a), Value::Float(b)])),
        }
    }
}

/// Builds one group's Rust optimizer from the group's dict.
type MakeFn = fn(&Interp<'_>, Vec<Tensor>, &DictRef, Span) -> R<Box<dyn Optimizer>>;

/// Reads a group's dict into its optimizer's options.
type SyncFn = fn(&Interp<'_>, &mut dyn Any, &DictRef, Span) -> R<()>;

/// A `torch.optim` class: its signature, its defaults, and how one group's Rust optimizer is
/// made from the group's dict and kept in step with it.
pub(crate) struct Class {
    name: &'static str,
    /// `__init__`'s parameters, in order.
    signature: &'static [&'static str],
    /// `optimizer.defaults`, in PyTorch's order (a group's keys follow it).
    defaults: &'static [(&'static str, Lit)],
    make: MakeFn,
    sync: SyncFn,
}

/// The classes, with the signatures and `defaults` of PyTorch 2.15.
const CLASSES: &[Class] = &[
    Class {
        name: "SGD",
        signature: &[
            "params",
            "lr",
            "momentum",
            "dampening",
            "weight_decay",
            "nesterov",
            "maximize",
            "foreach",
            "differentiable",
            "fused",
        ],
        defaults: &[
            ("lr", Lit::Float(1e-3)),
            ("momentum", Lit::Int(0)),
            ("dampening", Lit::Int(0)),
            ("weight_decay", Lit::Int(0)),
            ("nesterov", Lit::Bool(false)),
            ("maximize", Lit::Bool(false)),
            ("foreach", Lit::None),
            ("differentiable", Lit::Bool(false)),
            ("fused", Lit::None),
        ],
        make: |it, params, d, span| build(it, params, d, span, sgd_options, Sgd::new),
        sync: |it, o, d, span| sync_with(it, o, d, span, sgd_options),
    },
    Class {
        name: "Adam",
        signature: &[
            "params",
            "lr",
            "betas",
            "eps",
            "weight_decay",
            "amsgrad",
            "foreach",
            "maximize",
            "capturable",
            "differentiable",
            "fused",
            "decoupled_weight_decay",
        ],
        defaults: &[
            ("lr", Lit::Float(1e-3)),
            ("betas", Lit::Pair(0.9, 0.999)),
            ("eps", Lit::Float(1e-8)),
            ("weight_decay", Lit::Int(0)),
            ("amsgrad", Lit::Bool(false)),
            ("maximize", Lit::Bool(false)),
            ("foreach", Lit::None),
            ("capturable", Lit::Bool(false)),
            ("differentiable", Lit::Bool(false)),
            ("fused", Lit::None),
            ("decoupled_weight_decay", Lit::Bool(false)),
        ],
        make: |it, params, d, span| {
            let o = adam_options(it, d, span)?;
            Ok(if flag(it, d, "decoupled_weight_decay", span)? {
                Box::new(AdamW::new(params, o))
            } else {
                Box::new(Adam::new(params, o))
            })
        },
        sync: |it, o, d, span| sync_with(it, o, d, span, adam_options),
    },
    Class {
        name: "AdamW",
        signature: &[
            "params",
            "lr",
            "betas",
            "eps",
            "weight_decay",
            "amsgrad",
            "maximize",
            "foreach",
            "capturable",
            "differentiable",
            "fused",
        ],
        defaults: &[
            ("lr", Lit::Float(1e-3)),
            ("betas", Lit::Pair(0.9, 0.999)),
            ("eps", Lit::Float(1e-8)),
            ("weight_decay", Lit::Float(1e-2)),
            ("amsgrad", Lit::Bool(false)),
            ("maximize", Lit::Bool(false)),
            ("foreach", Lit::None),
            ("capturable", Lit::Bool(false)),
            ("differentiable", Lit::Bool(false)),
            ("fused", Lit::None),
            ("decoupled_weight_decay", Lit::Bool(true)),
        ],
        make: |it, params, d, span| Ok(Box::new(AdamW::new(params, adam_options(it, d, span)?))),
        sync: |it, o, d, span| sync_with(it, o, d, span, adam_options),
    },
    Class {
        name: "RMSprop",
        signature: &[
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
        defaults: &[
            ("lr", Lit::Float(1e-2)),
            ("momentum", Lit::Int(0)),
            ("alpha", Lit::Float(0.99)),
            ("eps", Lit::Float(1e-8)),
            ("centered", Lit::Bool(false)),
            ("weight_decay", Lit::Int(0)),
            ("capturable", Lit::Bool(false)),
            ("foreach", Lit::None),
            ("maximize", Lit::Bool(false)),
            ("differentiable", Lit::Bool(false)),
        ],
        make: |it, params, d, span| build(it, params, d, span, rmsprop_options, Rmsprop::new),
        sync: |it, o, d, span| sync_with(it, o, d, span, rmsprop_options),
    },
    Class {
        name: "Adagrad",
        signature: &[
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
        defaults: &[
            ("lr", Lit::Float(1e-2)),
            ("lr_decay", Lit::Int(0)),
            ("eps", Lit::Float(1e-10)),
            ("weight_decay", Lit::Int(0)),
            ("initial_accumulator_value", Lit::Int(0)),
            ("foreach", Lit::None),
            ("maximize", Lit::Bool(false)),
            ("differentiable", Lit::Bool(false)),
            ("fused", Lit::None),
        ],
        make: |it, params, d, span| build(it, params, d, span, adagrad_options, Adagrad::new),
        sync: |it, o, d, span| sync_with(it, o, d, span, adagrad_options),
    },
];

/// An optimizer's groups: each group's dict beside the Rust optimizer that steps it, and the
/// constructor's hyper-parameters (`optimizer.defaults`), which `add_param_group` fills in.
pub(crate) struct Groups {
    class: &'static Class,
    defaults: DictRef,
    pub(crate) groups: Vec<(DictRef, Box<dyn Optimizer>)>,
}

impl Groups {
    /// `optimizer.defaults`.
    pub(crate) fn defaults_dict(&self) -> DictRef {
        self.defaults.clone()
    }

    /// Every state tensor the optimizer holds, `step` counters included (PyTorch's
    /// `optimizer.state` holds them, on the host unless capturable or fused), labelled
    /// `state[i]["name"]` with parameters numbered across the groups as `state_dict()` numbers
    /// them.
    pub(crate) fn named_state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        let mut first = 0;
        for (_, o) in &self.groups {
            for (i, state) in o.state().into_iter().enumerate() {
                for (name, t) in state.into_iter().flatten() {
                    out.push((format!("state[{}][\"{name}\"]", first + i), t));
                }
            }
            first += o.params().len();
        }
        out
    }

    /// `repr(optimizer)`: each group's hyper-parameters, sorted, as PyTorch prints them.
    pub(crate) fn describe(&self) -> String {
        let mut out = format!("{} (", self.class.name);
        for (i, (d, _)) in self.groups.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!("\nParameter Group {i}"));
            let mut items: Vec<(String, Value)> = d
                .borrow()
                .items()
                .into_iter()
                .filter_map(|(k, v)| match k {
                    Value::Str(k) if &*k != "params" => Some((k.to_string(), v)),
                    _ => None,
                })
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, v) in items {
                out.push_str(&format!("\n    {k}: {v}"));
            }
        }
        out.push_str("\n)");
        out
    }
}

fn key(name: &str) -> Key {
    Key::Str(name.into())
}

fn str_value(name: &str) -> Value {
    Value::Str(name.into())
}

/// `group[name]`, or PyTorch's `KeyError`.
fn lookup(it: &Interp<'_>, d: &DictRef, name: &str, span: Span) -> R<Value> {
    d.borrow()
        .get(&key(name))
        .ok_or_else(|| it.fail(span, format!("KeyError: '{name}'")))
}

fn float(it: &Interp<'_>, d: &DictRef, name: &str, span: Span) -> R<f64> {
    expect_float(it, &lookup(it, d, name, span)?, name, span)
}

fn flag(it: &Interp<'_>, d: &DictRef, name: &str, span: Span) -> R<bool> {
    expect_bool(it, Some(&lookup(it, d, name, span)?), false, name, span)
}

/// `foreach`: `None` is PyTorch's default, decided at each step from where the parameters are.
fn foreach(it: &Interp<'_>, d: &DictRef, span: Span) -> R<Option<bool>> {
    match lookup(it, d, "foreach", span)? {
        Value::None => Ok(None),
        v => expect_bool(it, Some(&v), false, "foreach", span).map(Some),
    }
}

/// Refuses the options whose code paths are not modelled.
fn refuse(it: &Interp<'_>, d: &DictRef, names: &[&str], span: Span) -> R<()> {
    for name in names {
        let on = match lookup(it, d, name, span)? {
            Value::None => false,
            v => expect_bool(it, Some(&v), false, name, span)?,
        };
        if on {
            return Err(it
                .fail(span, format!("{name}=True is not supported in scenarios"))
                .with_help(format!("remove {name}=True")));
        }
    }
    Ok(())
}

fn sgd_options(it: &Interp<'_>, d: &DictRef, span: Span) -> R<SgdOptions> {
    refuse(it, d, &["maximize", "differentiable", "fused"], span)?;
    Ok(SgdOptions {
        lr: float(it, d, "lr", span)?,
        momentum: float(it, d, "momentum", span)?,
        dampening: float(it, d, "dampening", span)?,
        weight_decay: float(it, d, "weight_decay", span)?,
        nesterov: flag(it, d, "nesterov", span)?,
        foreach: foreach(it, d, span)?,
    })
}

fn adam_options(it: &Interp<'_>, d: &DictRef, span: Span) -> R<AdamOptions> {
    refuse(it, d, &["maximize", "differentiable"], span)?;
    let foreach = foreach(it, d, span)?;
    // `fused=None` is off: Adam's `step` defaults to foreach or the for-loop, never fused.
    let fused = matches!(lookup(it, d, "fused", span)?, Value::Bool(true));
    if fused && foreach == Some(true) {
        return Err(it.fail(
            span,
            "RuntimeError: `fused` and `foreach` cannot be `True` together.",
        ));
    }
    let betas = lookup(it, d, "betas", span)?;
    let pair: Vec<Value> = match &betas {
        Value::Tuple(t) => t.as_ref().clone(),
        Value::List(l) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        _ => Vec::new(),
    };
    let [b1, b2] = pair.as_slice() else {
        return Err(it.fail(span, "TypeError: betas must be a pair of floats"));
    };
    Ok(AdamOptions {
        lr: float(it, d, "lr", span)?,
        betas: (
            expect_float(it, b1, "betas[0]", span)?,
            expect_float(it, b2, "betas[1]", span)?,
        ),
        eps: float(it, d, "eps", span)?,
        weight_decay: float(it, d, "weight_decay", span)?,
        amsgrad: flag(it, d, "amsgrad", span)?,
        capturable: flag(it, d, "capturable", span)?,
        fused,
        foreach,
    })
}

fn rmsprop_options(it: &Interp<'_>, d: &DictRef, span: Span) -> R<RmspropOptions> {
    refuse(it, d, &["maximize", "differentiable"], span)?;
    Ok(RmspropOptions {
        lr: float(it, d, "lr", span)?,
        alpha: float(it, d, "alpha", span)?,
        eps: float(it, d, "eps", span)?,
        weight_decay: float(it, d, "weight_decay", span)?,
        momentum: float(it, d, "momentum", span)?,
        centered: flag(it, d, "centered", span)?,
        capturable: flag(it, d, "capturable", span)?,
        foreach: foreach(it, d, span)?,
    })
}

fn adagrad_options(it: &Interp<'_>, d: &DictRef, span: Span) -> R<AdagradOptions> {
    refuse(it, d, &["maximize", "differentiable", "fused"], span)?;
    Ok(AdagradOptions {
        lr: float(it, d, "lr", span)?,
        lr_decay: float(it, d, "lr_decay", span)?,
        weight_decay: float(it, d, "weight_decay", span)?,
        initial_accumulator_value: float(it, d, "initial_accumulator_value", span)?,
        eps: float(it, d, "eps", span)?,
        foreach: foreach(it, d, span)?,
    })
}

/// A group's optimizer from its dict, for the classes whose constructor checks the
/// hyper-parameters (PyTorch's `ValueError`s).
fn build<O, T: Optimizer + 'static>(
    it: &Interp<'_>,
    params: Vec<Tensor>,
    d: &DictRef,
    span: Span,
    read: fn(&Interp<'_>, &DictRef, Span) -> R<O>,
    new: fn(Vec<Tensor>, O) -> crate::base::Result<T>,
) -> R<Box<dyn Optimizer>> {
    let o = read(it, d, span)?;
    Ok(Box::new(
        new(params, o).map_err(|e| it.tensor_error(span, e))?,
    ))
}

/// Reads a group's dict into the options of its optimizer (`O` is what `read` makes).
fn sync_with<O: 'static>(
    it: &Interp<'_>,
    options: &mut dyn Any,
    d: &DictRef,
    span: Span,
    read: fn(&Interp<'_>, &DictRef, Span) -> R<O>,
) -> R<()> {
    let fresh = read(it, d, span)?;
    if let Some(o) = options.downcast_mut::<O>() {
        *o = fresh;
    }
    Ok(())
}

/// The tensors of a group's `params` (a tensor or a sequence of them).
fn params_of(it: &Interp<'_>, v: &Value, span: Span) -> R<Vec<Tensor>> {
    let items: Vec<Value> = match v {
        Value::Tensor(t) => return Ok(vec![t.clone()]),
        Value::List(l) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        Value::Tuple(t) => t.as_ref().clone(),
        Value::Set(_) => {
            return Err(it.fail(
                span,
                "TypeError: optimizer parameters need to be organized in ordered collections, but the ordering of tensors in sets will change between runs. Please use a list instead.",
            ))
        }
        other => {
            return Err(it.fail(
                span,
                format!(
                    "TypeError: params argument given to the optimizer should be an iterable of Tensors or dicts, but got {}",
                    other.type_name()
                ),
            ))
        }
    };
    items
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
        .collect()
}

/// `Optimizer.add_param_group(param_group)`: the group's dict itself becomes
/// `param_groups[-1]`, its `params` made a list and every missing hyper-parameter set from
/// `defaults`; a parameter already in a group is PyTorch's `ValueError`.
fn add_group(it: &mut Interp<'_>, groups: &mut Groups, d: DictRef, span: Span) -> R<()> {
    let params = params_of(it, &lookup(it, &d, "params", span)?, span)?;
    let seen: Vec<usize> = groups
        .groups
        .iter()
        .flat_map(|(_, o)| o.params().iter().map(Tensor::id).collect::<Vec<_>>())
        .collect();
    if params.iter().any(|p| seen.contains(&p.id())) {
        return Err(it.fail(
            span,
            "ValueError: some parameters appear in more than one parameter group",
        ));
    }
    let list = it.list(params.iter().cloned().map(Value::Tensor).collect(), span);
    d.borrow_mut()
        .insert(key("params"), str_value("params"), list);
    for (k, v) in groups.defaults.borrow().items() {
        if let Some(k2) = Key::of(&k) {
            if !d.borrow().contains(&k2) {
                d.borrow_mut().insert(k2, k, v);
            }
        }
    }
    let opt = (groups.class.make)(it, params, &d, span)?;
    groups.groups.push((d, opt));
    Ok(())
}

/// `torch.optim.<Class>(params, ...)`: `params` is an iterable of tensors (one group) or of
/// dicts (one group each, their missing keys from the keyword arguments).
fn construct(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let class = CLASSES
        .iter()
        .find(|c| c.name == name)
        .expect("every entry of OPTIMIZERS has a class");
    let b = bind(it, &args, class.name, class.signature, 1, span)?;
    let defaults = defaults_of(it, class, &b, span)?;
    let given: Vec<Value> = match b.raw("params") {
        Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        Some(Value::Tuple(t)) => t.as_ref().clone(),
        Some(other) => vec![other.clone()],
        None => return Err(it.fail(span, "TypeError: missing argument params")),
    };
    if given.is_empty() {
        return Err(it.fail(span, "ValueError: optimizer got an empty parameter list"));
    }
    let dicts: Vec<DictRef> = if given.iter().all(|v| matches!(v, Value::Dict(_))) {
        given
            .iter()
            .filter_map(|v| match v {
                Value::Dict(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    } else {
        let d = Dict::shared(DictKind::Plain);
        let params = b.raw("params").cloned().unwrap_or(Value::None);
        d.borrow_mut()
            .insert(key("params"), str_value("params"), params);
        it.gc.track_value(&Value::Dict(d.clone()));
        vec![d]
    };
    let mut groups = Groups {
        class,
        defaults,
        groups: Vec::new(),
    };
    for d in dicts {
        add_group(it, &mut groups, d, span)?;
    }
    Ok(Value::Optimizer(OptimizerRef {
        inner: Rc::new(RefCell::new(groups)),
    }))
}

/// `optimizer.defaults`: the class's defaults with the keyword arguments given, checked as
/// PyTorch's constructors check them (a negative learning rate is a `ValueError`).
fn defaults_of(it: &Interp<'_>, class: &Class, b: &Bound, span: Span) -> R<DictRef> {
    let d = Dict::shared(DictKind::Plain);
    for (name, lit) in class.defaults {
        let v = b.raw(name).cloned().unwrap_or_else(|| lit.value());
        d.borrow_mut().insert(key(name), str_value(name), v);
    }
    let lr = float(it, &d, "lr", span)?;
    if lr < 0.0 {
        return Err(it.fail(span, format!("ValueError: Invalid learning rate: {lr}")));
    }
    Ok(d)
}

/// `optimizer.step(closure=None)`: each group's hyper-parameters are read from its dict, then
/// it steps.
pub(super) fn step(
    it: &mut Interp<'_>,
    o: &OptimizerRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    bind(it, &args, "step", &["closure"], 0, span)?;
    let mut inner = o.inner.borrow_mut();
    let sync = inner.class.sync;
    for (d, opt) in inner.groups.iter_mut() {
        sync(it, opt.options_mut(), d, span)?;
        opt.step().map_err(|e| it.tensor_error(span, e))?;
    }
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
    for (_, opt) in o.inner.borrow_mut().groups.iter_mut() {
        opt.zero_grad(set_to_none)
            .map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::None)
}

/// `optimizer.add_param_group(param_group)`.
fn add_param_group(
    it: &mut Interp<'_>,
    o: &OptimizerRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, "add_param_group", &["param_group"], 1, span)?;
    let Some(Value::Dict(d)) = b.raw("param_group") else {
        return Err(it.fail(span, "TypeError: param_group must be a dict"));
    };
    let d = d.clone();
    add_group(it, &mut o.inner.borrow_mut(), d, span)?;
    Ok(Value::None)
}

/// `optimizer.state_dict()`: `{"state": {index: {name: tensor}}, "param_groups": [...]}`.
/// The state tensors are the optimizer's own, not copies: keeping a state dict keeps nothing
/// more alive than the optimizer does, and a later step changes what it holds. Each group is a
/// new dict of its hyper-parameters with `params` last, as parameter indices counted across
/// the groups.
fn state_dict(
    it: &mut Interp<'_>,
    o: &OptimizerRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    bind(it, &args, "state_dict", &[], 0, span)?;
    let inner = o.inner.borrow();
    let state = Dict::shared(DictKind::Plain);
    let mut packed_groups = Vec::new();
    let mut index = 0i64;
    for (d, opt) in &inner.groups {
        let packed = Dict::shared(DictKind::Plain);
        for (k, v) in d.borrow().items() {
            if !matches!(&k, Value::Str(s) if &**s == "params") {
                if let Some(k2) = Key::of(&k) {
                    packed.borrow_mut().insert(k2, k, v);
                }
            }
        }
        let mut indices = Vec::new();
        for s in opt.state() {
            if let Some(s) = s {
                let per = Dict::shared(DictKind::Plain);
                for (name, t) in s {
                    per.borrow_mut()
                        .insert(key(name), str_value(name), Value::Tensor(t));
                }
                let per = Value::Dict(per);
                it.gc.track_value(&per);
                state
                    .borrow_mut()
                    .insert(Key::Int(index), Value::Int(index), per);
            }
            indices.push(Value::Int(index));
            index += 1;
        }
        let indices = it.list(indices, span);
        packed
            .borrow_mut()
            .insert(key("params"), str_value("params"), indices);
        let packed = Value::Dict(packed);
        it.gc.track_value(&packed);
        packed_groups.push(packed);
    }
    let out = Dict::shared(DictKind::Plain);
    let state = Value::Dict(state);
    it.gc.track_value(&state);
    out.borrow_mut()
        .insert(key("state"), str_value("state"), state);
    let groups = it.list(packed_groups, span);
    out.borrow_mut()
        .insert(key("param_groups"), str_value("param_groups"), groups);
    let out = Value::Dict(out);
    it.gc.track_value(&out);
    Ok(out)
}

/// `optimizer.load_state_dict(state_dict)`: the saved state's tensors become this
/// optimizer's state, shared, not copied (moved only when on another device); each group
/// becomes a new dict of the saved hyper-parameters with this group's `params`.
fn load_state_dict(
    it: &mut Interp<'_>,
    o: &OptimizerRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, "load_state_dict", &["state_dict"], 1, span)?;
    let Some(Value::Dict(sd)) = b.raw("state_dict") else {
        return Err(it.fail(span, "TypeError: state_dict must be a dict"));
    };
    let sd = sd.clone();
    let saved_groups: Vec<DictRef> = match lookup(it, &sd, "param_groups", span)? {
        Value::List(l) => l
            .borrow()
            .iter()
            .filter_map(|s| match &s.value {
                Value::Dict(d) => Some(d.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let saved_state = match lookup(it, &sd, "state", span)? {
        Value::Dict(d) => d,
        _ => return Err(it.fail(span, "TypeError: state_dict['state'] must be a dict")),
    };
    let mut inner = o.inner.borrow_mut();
    if saved_groups.len() != inner.groups.len() {
        return Err(it.fail(
            span,
            "ValueError: loaded state dict has a different number of parameter groups",
        ));
    }
    let mut first = 0i64;
    for ((d, opt), saved) in inner.groups.iter_mut().zip(&saved_groups) {
        let n = opt.params().len();
        let saved_n = match lookup(it, saved, "params", span)? {
            Value::List(l) => l.borrow().len(),
            _ => 0,
        };
        if saved_n != n {
            return Err(it.fail(
                span,
                "ValueError: loaded state dict contains a parameter group that doesn't match the size of optimizer's group",
            ));
        }
        // `_process_value_according_to_param_policy`: `step` follows the parameter to its
        // device only when the saved group is capturable or fused; other state always does.
        let step_follows = ["capturable", "fused"]
            .iter()
            .any(|k| matches!(saved.borrow().get(&key(k)), Some(Value::Bool(true))));
        for i in 0..n {
            let Some(Value::Dict(per)) = saved_state.borrow().get(&Key::Int(first + i as i64))
            else {
                continue;
            };
            let param = opt.params()[i].clone();
            let mut entries: Vec<(String, Tensor)> = Vec::new();
            for (k, v) in per.borrow().items() {
                if let (Value::Str(k), Value::Tensor(t)) = (k, v) {
                    let follows = &*k != "step" || step_follows;
                    let t = if follows && t.device() != param.device() {
                        t.to(param.device()).map_err(|e| it.tensor_error(span, e))?
                    } else {
                        t
                    };
                    entries.push((k.to_string(), t));
                }
            }
            let entries: Vec<(&str, Tensor)> = entries
                .iter()
                .map(|(k, t)| (k.as_str(), t.clone()))
                .collect();
            opt.load_state(i, &entries)
                .map_err(|e| it.tensor_error(span, e))?;
        }
        let fresh = Dict::shared(DictKind::Plain);
        for (k, v) in saved.borrow().items() {
            if let Some(k2) = Key::of(&k) {
                fresh.borrow_mut().insert(k2, k, v);
            }
        }
        let params = lookup(it, d, "params", span)?;
        fresh
            .borrow_mut()
            .insert(key("params"), str_value("params"), params);
        it.gc.track_value(&Value::Dict(fresh.clone()));
        *d = fresh;
        first += n as i64;
    }
    Ok(Value::None)
}

/// `GradScaler.step` with a fused optimizer hands it `grad_scale` and `found_inf`
/// (`_step_supports_amp_scaling`) instead of unscaling the gradients first: another sequence
/// of temporaries, not modelled.
pub(super) fn refuse_fused_under_scaler(it: &Interp<'_>, o: &OptimizerRef, span: Span) -> R<()> {
    let fused = o
        .inner
        .borrow()
        .groups
        .iter()
        .any(|(d, _)| matches!(d.borrow().get(&key("fused")), Some(Value::Bool(true))));
    if fused {
        return Err(it
            .fail(
                span,
                "GradScaler.step with a fused=True optimizer is not supported in scenarios",
            )
            .with_help("use the optimizer without fused=True under a GradScaler"));
    }
    Ok(())
}

/// `optimizer.param_groups`: the groups' dicts themselves, so edits reach the next step.
pub(super) fn param_groups(o: &OptimizerRef) -> Vec<Value> {
    o.inner
        .borrow()
        .groups
        .iter()
        .map(|(d, _)| Value::Dict(d.clone()))
        .collect()
}

/// `optimizer.defaults`.
pub(super) fn defaults(o: &OptimizerRef) -> Value {
    Value::Dict(o.inner.borrow().defaults_dict())
}
