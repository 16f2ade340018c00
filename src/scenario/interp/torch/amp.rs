//! Mixed precision: dtype conversions (`tensor.half()`, `.bfloat16()`, `.type(...)`,
//! `module.half()`, `module.to(torch.bfloat16)`), `torch.result_type`, `torch.autocast` and
//! its aliases (`torch.amp.autocast`, `torch.cuda.amp.autocast`, `torch.cpu.amp.autocast`),
//! and `GradScaler` (`torch.amp.GradScaler("cuda")`, `torch.cuda.amp.GradScaler()`).

use std::cell::RefCell;
use std::rc::Rc;

use super::super::args::CallArgs;
use super::super::dict::{Dict, DictKind, Key};
use super::super::objects::{ModuleRef, OptimizerRef};
use super::super::pyobj::Native;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, expect_bool, expect_float, expect_int, expect_tensor};
use super::{entry, Function, Run};
use crate::alloc::Purpose;
use crate::base::{DType, Device};
use crate::optim::{GradScaler, GradScalerOptions};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `torch.amp`.
pub(super) const AMP: &[Function] = &[
    entry("autocast", Run::Call(autocast)),
    entry("GradScaler", Run::Call(grad_scaler)),
];

/// `torch.cuda.amp` (deprecated in PyTorch, still what most scripts call).
pub(super) const CUDA_AMP: &[Function] = &[
    entry("autocast", Run::Call(cuda_autocast)),
    entry("GradScaler", Run::Call(grad_scaler)),
];

/// `torch.cpu.amp`.
pub(super) const CPU_AMP: &[Function] = &[entry("autocast", Run::Call(cpu_autocast))];

/// What `torch.autocast(...)` returns: the arguments its `__enter__` applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutocastArgs {
    /// `device_type`.
    pub device: Device,
    /// `dtype`; `None`: the device's current autocast dtype.
    pub dtype: Option<DType>,
    /// `enabled`.
    pub enabled: bool,
    /// `cache_enabled`; `None`: the current setting.
    pub cache_enabled: Option<bool>,
}

fn optional_bool(it: &Interp<'_>, v: Option<&Value>, what: &str, span: Span) -> R<Option<bool>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(v) => expect_bool(it, Some(v), false, what, span).map(Some),
    }
}

fn optional_dtype(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<Option<DType>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::DType(d)) => Ok(Some(*d)),
        Some(other) => Err(it.fail(
            span,
            format!(
                "TypeError: dtype must be torch.dtype, not {}",
                other.type_name()
            ),
        )),
    }
}

fn autocast_value(it: &Interp<'_>, mut args: AutocastArgs, span: Span) -> R<Value> {
    // autocast_mode.py: a cpu region with a dtype other than bfloat16 or float16 warns and
    // is disabled; a cuda one accepts both (the simulated device supports bfloat16).
    if let Some(d) = args.dtype {
        if !matches!(d, DType::F16 | DType::BF16) {
            if args.device == Device::Cuda {
                return Err(it.fail(
                    span,
                    format!("RuntimeError: autocast to {d} is not supported on cuda"),
                ));
            }
            args.enabled = false;
        }
    }
    Ok(Value::Native(Rc::new(Native::Autocast(args))))
}

/// `torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)`.
pub(super) fn autocast(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let params = &["device_type", "dtype", "enabled", "cache_enabled"];
    let b = bind(it, &args, "autocast", params, 1, span)?;
    let device = match b.raw("device_type") {
        Some(Value::Str(s)) if &**s == "cuda" => Device::Cuda,
        Some(Value::Str(s)) if &**s == "cpu" => Device::Cpu,
        Some(Value::Str(s)) => {
            return Err(it.fail(
                span,
                format!("RuntimeError: User specified an unsupported autocast device_type '{s}'"),
            ))
        }
        other => {
            let got = other.map_or("None".into(), |v| v.type_name());
            return Err(it.fail(
                span,
                format!("ValueError: Expected `device_type` of type `str`, got: `{got}`"),
            ));
        }
    };
    let a = AutocastArgs {
        device,
        dtype: optional_dtype(it, b.get("dtype"), span)?,
        enabled: expect_bool(it, b.get("enabled"), true, "enabled", span)?,
        cache_enabled: optional_bool(it, b.get("cache_enabled"), "cache_enabled", span)?,
    };
    autocast_value(it, a, span)
}

/// `torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)`.
fn cuda_autocast(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    device_autocast(it, name, args, span, Device::Cuda)
}

/// `torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16, cache_enabled=True)`.
fn cpu_autocast(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    device_autocast(it, name, args, span, Device::Cpu)
}

fn device_autocast(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
    device: Device,
) -> R<Value> {
    let b = bind(
        it,
        &args,
        name,
        &["enabled", "dtype", "cache_enabled"],
        0,
        span,
    )?;
    let default = if device == Device::Cpu {
        DType::BF16
    } else {
        DType::F16
    };
    let a = AutocastArgs {
        device,
        dtype: Some(optional_dtype(it, b.get("dtype"), span)?.unwrap_or(default)),
        enabled: expect_bool(it, b.get("enabled"), true, "enabled", span)?,
        cache_enabled: Some(
            optional_bool(it, b.get("cache_enabled"), "cache_enabled", span)?.unwrap_or(true),
        ),
    };
    autocast_value(it, a, span)
}

/// `torch.result_type(a, b)` of two tensors, or a tensor and a number.
pub(super) fn result_type(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, "result_type", &["tensor1", "tensor2"], 2, span)?;
    let a = expect_tensor(it, b.raw("tensor1"), "tensor1", span)?;
    let d = match b.raw("tensor2") {
        Some(Value::Tensor(t)) => {
            DType::result_type(a.dtype(), a.dim() == 0, t.dtype(), t.dim() == 0)
        }
        Some(Value::Float(_)) => a.dtype().result_type_scalar(true),
        Some(Value::Int(_) | Value::Bool(_)) => a.dtype().result_type_scalar(false),
        _ => {
            return Err(it.fail(
                span,
                "TypeError: result_type() expects a tensor and a tensor or a number",
            ))
        }
    };
    Ok(Value::DType(d))
}

/// `torch.is_autocast_enabled(device_type="cuda")`.
pub(super) fn is_autocast_enabled(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, "is_autocast_enabled", &["device_type"], 0, span)?;
    let device = match b.raw("device_type") {
        Some(Value::Str(s)) if &**s == "cpu" => Device::Cpu,
        _ => Device::Cuda,
    };
    Ok(Value::Bool(it.rt.is_autocast_enabled(device)))
}

/// The legacy type name of a tensor (`torch.cuda.HalfTensor`).
fn type_name(t: &Tensor) -> String {
    let prefix = if t.device() == Device::Cuda {
        "torch.cuda."
    } else {
        "torch."
    };
    format!("{prefix}{}", t.dtype().legacy_name())
}

/// `tensor.half()`, `tensor.bfloat16()`, `tensor.type()` and `tensor.type(dtype)`.
pub(super) fn convert(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let dtype = match name {
        "half" => DType::F16,
        "bfloat16" => DType::BF16,
        _ => {
            let b = bind(it, &args, "type", &["dtype"], 0, span)?;
            match b.raw("dtype") {
                None | Some(Value::None) => return Ok(Value::Str(type_name(t).into())),
                Some(Value::DType(d)) => *d,
                Some(Value::Str(s)) => {
                    let named = [
                        DType::F32,
                        DType::F16,
                        DType::BF16,
                        DType::I64,
                        DType::I32,
                        DType::F64,
                        DType::Bool,
                    ]
                    .into_iter()
                    .find(|d| s.ends_with(&format!(".{}", d.legacy_name())));
                    match named {
                        Some(d) => d,
                        None => {
                            return Err(it.fail(span, format!("ValueError: invalid type: '{s}'")))
                        }
                    }
                }
                Some(other) => {
                    return Err(it.fail(
                        span,
                        format!("TypeError: type() got a {}", other.type_name()),
                    ))
                }
            }
        }
    };
    if name != "type" {
        bind(it, &args, name, &["memory_format"], 0, span)?;
    }
    check_rt(it, t.to_dtype(dtype), span)
}

/// `module.half()`, `module.bfloat16()`, `module.to(dtype)`: every floating-point parameter,
/// gradient and buffer becomes a converted copy in place (`param.data = param.half()`, under
/// no_grad), the old storage freed as each new one is set.
pub(in super::super) fn convert_module(
    it: &mut Interp<'_>,
    params: Vec<Tensor>,
    buffers: Vec<Tensor>,
    dtype: DType,
    span: Span,
) -> R<()> {
    let _no_grad = it.rt.no_grad();
    let tagged = params
        .into_iter()
        .map(|p| (p, Purpose::Parameter))
        .chain(buffers.into_iter().map(|b| (b, Purpose::Parameter)));
    for (t, purpose) in tagged {
        if !t.dtype().is_floating_point() || t.dtype() == dtype {
            continue;
        }
        let r = t.convert_data(dtype, purpose);
        r.map_err(|e| it.tensor_error(span, e))?;
        if let Some(g) = t.grad() {
            let r = g.convert_data(dtype, Purpose::Gradient);
            r.map_err(|e| it.tensor_error(span, e))?;
        }
    }
    Ok(())
}

/// The dtype a module method converts to: `half`, `bfloat16`, `float`, or `to(dtype)` /
/// `to(dtype=...)`; `None` for a `to` that only moves.
pub(in super::super) fn module_dtype(name: &str, args: &CallArgs) -> Option<DType> {
    match name {
        "half" => Some(DType::F16),
        "bfloat16" => Some(DType::BF16),
        "float" => Some(DType::F32),
        "to" => args
            .pos
            .iter()
            .chain(args.keyword("dtype"))
            .find_map(|v| match v {
                Value::DType(d) if d.is_floating_point() => Some(*d),
                _ => None,
            }),
        _ => None,
    }
}

/// `half`, `bfloat16` and `to(dtype)` of a library module.
pub(super) fn module_method(
    it: &mut Interp<'_>,
    m: &ModuleRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let dtype = module_dtype(name, &args).unwrap_or(DType::F32);
    // Parameters and buffers together in `Module._apply`'s order (children first).
    let mut named = m.named_parameters();
    named.extend(m.named_buffers());
    let tensors = crate::nn::apply_order(named).into_iter().map(|(_, t)| t);
    convert_module(it, tensors.collect(), Vec::new(), dtype, span)?;
    Ok(Value::Module(m.clone()))
}

/// `GradScaler(device="cuda", init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
/// growth_interval=2000, enabled=True)`; `torch.cuda.amp.GradScaler` takes the same without
/// `device`.
fn grad_scaler(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    const PARAMS: &[&str] = &[
        "device",
        "init_scale",
        "growth_factor",
        "backoff_factor",
        "growth_interval",
        "enabled",
    ];
    // torch.cuda.amp.GradScaler's first positional is init_scale: a number there means no
    // device was given.
    let positional_number = matches!(args.pos.first(), Some(Value::Int(_) | Value::Float(_)));
    let params = if positional_number {
        &PARAMS[1..]
    } else {
        PARAMS
    };
    let b = bind(it, &args, "GradScaler", params, 0, span)?;
    if let Some(Value::Str(s)) = b.raw("device") {
        if &**s != "cuda" {
            return Err(it.fail(
                span,
                format!("GradScaler(device='{s}') is not supported in scenarios (only 'cuda')"),
            ));
        }
    }
    let d = GradScalerOptions::default();
    let float = |it: &Interp<'_>, name: &str, default: f64| match b.get(name) {
        None => Ok(default),
        Some(v) => expect_float(it, v, name, span),
    };
    let options = GradScalerOptions {
        init_scale: float(it, "init_scale", d.init_scale)?,
        growth_factor: float(it, "growth_factor", d.growth_factor)?,
        backoff_factor: float(it, "backoff_factor", d.backoff_factor)?,
        growth_interval: match b.get("growth_interval") {
            None => d.growth_interval,
            Some(v) => expect_int(it, v, "growth_interval", span)?,
        },
        enabled: expect_bool(it, b.get("enabled"), true, "enabled", span)?,
    };
    let scaler = GradScaler::new(options).map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::Native(Rc::new(Native::GradScaler(Rc::new(
        RefCell::new(scaler),
    )))))
}

/// The methods of a `GradScaler` scenarios may call.
pub(in super::super) const SCALER_METHODS: &[&str] = &[
    "scale",
    "unscale_",
    "step",
    "update",
    "get_scale",
    "is_enabled",
    "state_dict",
];

fn optimizer_arg(it: &Interp<'_>, args: &CallArgs, method: &str, span: Span) -> R<OptimizerRef> {
    match args.pos.first().or(args.keyword("optimizer")) {
        Some(Value::Optimizer(o)) => Ok(o.clone()),
        _ => Err(it.fail(
            span,
            format!("TypeError: GradScaler.{method}() takes an optimizer"),
        )),
    }
}

fn gradients(o: &OptimizerRef) -> Vec<Tensor> {
    let inner = o.inner.borrow();
    inner
        .groups
        .iter()
        .flat_map(|(_, opt)| opt.params().iter().filter_map(Tensor::grad))
        .collect()
}

/// `scaler.scale(outputs)` of a tensor or a list or tuple of them.
fn scale_outputs(it: &mut Interp<'_>, s: &RefCell<GradScaler>, v: &Value, span: Span) -> R<Value> {
    match v {
        Value::Tensor(t) => {
            let r = s.borrow_mut().scale(t);
            check_rt(it, r, span)
        }
        Value::Tuple(items) => {
            let out = items
                .iter()
                .map(|x| scale_outputs(it, s, x, span))
                .collect::<R<Vec<_>>>()?;
            Ok(Value::Tuple(Rc::new(out)))
        }
        Value::List(l) => {
            let items: Vec<Value> = l.borrow().iter().map(|x| x.value.clone()).collect();
            let out = items
                .iter()
                .map(|x| scale_outputs(it, s, x, span))
                .collect::<R<Vec<_>>>()?;
            Ok(super::super::builtins::new_list(out, span))
        }
        _ => Err(it.fail(
            span,
            "ValueError: outputs must be a Tensor or an iterable of Tensors",
        )),
    }
}

/// A method of a `GradScaler`.
pub(in super::super) fn scaler_method(
    it: &mut Interp<'_>,
    s: &Rc<RefCell<GradScaler>>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let tensor_error = |it: &Interp<'_>, e| it.tensor_error(span, e);
    match name {
        "scale" => {
            let b = bind(it, &args, "scale", &["outputs"], 1, span)?;
            let v = b.raw("outputs").cloned().unwrap_or(Value::None);
            scale_outputs(it, s, &v, span)
        }
        "unscale_" => {
            let o = optimizer_arg(it, &args, name, span)?;
            let grads = gradients(&o);
            let id = Rc::as_ptr(&o.inner) as *const () as usize;
            let r = s.borrow_mut().unscale_(id, &grads);
            r.map_err(|e| tensor_error(it, e))?;
            Ok(Value::None)
        }
        "step" => {
            let o = optimizer_arg(it, &args, name, span)?;
            super::optim::refuse_fused_under_scaler(it, &o, span)?;
            let grads = gradients(&o);
            let id = Rc::as_ptr(&o.inner) as *const () as usize;
            let mut run = false;
            let r = s.borrow_mut().step(id, &grads, || {
                run = true;
                Ok(())
            });
            r.map_err(|e| tensor_error(it, e))?;
            if run {
                super::optim::step(it, &o, "step", CallArgs::default(), span)?;
            }
            Ok(Value::None)
        }
        "update" => {
            let b = bind(it, &args, "update", &["new_scale"], 0, span)?;
            if b.get("new_scale").is_some() {
                return Err(it.fail(
                    span,
                    "GradScaler.update(new_scale) is not supported in scenarios",
                ));
            }
            let r = s.borrow_mut().update();
            r.map_err(|e| tensor_error(it, e))?;
            Ok(Value::None)
        }
        "get_scale" => {
            bind(it, &args, name, &[], 0, span)?;
            let r = s.borrow().get_scale();
            Ok(Value::Float(r.map_err(|e| tensor_error(it, e))?))
        }
        "is_enabled" => {
            bind(it, &args, name, &[], 0, span)?;
            Ok(Value::Bool(s.borrow().is_enabled()))
        }
        _ => {
            bind(it, &args, name, &[], 0, span)?;
            let scaler = s.borrow();
            let d = Dict::shared(DictKind::Plain);
            if scaler.is_enabled() {
                let o = scaler.options();
                let scale = scaler.get_scale().map_err(|e| tensor_error(it, e))?;
                let tracker = scaler.growth_tracker().map_err(|e| tensor_error(it, e))?;
                let entries = [
                    ("scale", Value::Float(scale)),
                    ("growth_factor", Value::Float(o.growth_factor)),
                    ("backoff_factor", Value::Float(o.backoff_factor)),
                    ("growth_interval", Value::Int(o.growth_interval)),
                    ("_growth_tracker", Value::Int(tracker)),
                ];
                let mut dict = d.borrow_mut();
                for (k, v) in entries {
                    dict.insert(Key::Str(k.into()), Value::Str(k.into()), v);
                }
            }
            Ok(Value::Dict(d))
        }
    }
}

/// What a `GradScaler` holds, by attribute, for the leak walker.
pub(in super::super) fn visit_scaler(
    s: &RefCell<GradScaler>,
    visit: &mut dyn FnMut(super::super::refs::Edge, &Value),
) {
    for (name, t) in s.borrow().named_tensors() {
        visit(
            super::super::refs::Edge::Attr(name.into()),
            &Value::Tensor(t),
        );
    }
}
