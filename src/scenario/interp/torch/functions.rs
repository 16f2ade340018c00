//! `torch.*`, `torch.cuda.*` and `torch._C`: factories, grad modes, joins, and the caching
//! allocator's statistics.

use std::rc::Rc;

use super::super::args::CallArgs;
use super::super::autograd as engine;
use super::super::pyobj::Native;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{
    bind, check_rt, device_arg, dim_arg, dtype_arg, expect_bool, expect_int, expect_tensor,
    shape_of,
};
use super::like::Fill;
use super::tensor;
use super::{entry, Function, Run};
use crate::base::{DType, Device};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `torch.*`: functions of their own, and tensor methods called as `torch.NAME(input, ...)`.
pub(super) const TORCH: &[Function] = &[
    entry("randn", Run::Call(factory)),
    entry("rand", Run::Call(factory)),
    entry("zeros", Run::Call(factory)),
    entry("ones", Run::Call(factory)),
    entry("empty", Run::Call(factory)),
    entry("randint", Run::Call(factory)),
    entry("full", Run::Call(super::triangular::full)),
    entry("triu", Run::Call(super::triangular::triu)),
    entry("tril", Run::Call(super::triangular::triu)),
    entry("tensor", Run::Call(tensor_from_data)),
    entry("Tensor", Run::Call(super::legacy::legacy_tensor)),
    entry("no_grad", Run::Call(grad_mode)),
    entry("enable_grad", Run::Call(grad_mode)),
    entry("set_grad_enabled", Run::Python(engine::set_grad_enabled)),
    entry("is_grad_enabled", Run::Python(engine::is_grad_enabled)),
    entry("inference_mode", Run::Python(engine::inference_mode)),
    entry("manual_seed", Run::Call(manual_seed)),
    entry("autocast", Run::Call(super::amp::autocast)),
    entry(
        "is_autocast_enabled",
        Run::Call(super::amp::is_autocast_enabled),
    ),
    entry("result_type", Run::Call(super::amp::result_type)),
    entry("device", Run::Call(device)),
    entry("cat", Run::Call(join)),
    entry("stack", Run::Call(join)),
    entry("exp", Run::OnInput(tensor::unary)),
    entry("log", Run::OnInput(tensor::unary)),
    entry("sqrt", Run::OnInput(tensor::unary)),
    entry("tanh", Run::OnInput(tensor::unary)),
    entry("relu", Run::OnInput(tensor::no_args)),
    entry("sigmoid", Run::OnInput(tensor::unary)),
    entry("abs", Run::OnInput(tensor::unary)),
    entry("sin", Run::OnInput(super::math::elementwise)),
    entry("cos", Run::OnInput(super::math::elementwise)),
    entry("log1p", Run::OnInput(super::math::elementwise)),
    entry("expm1", Run::OnInput(super::math::elementwise)),
    entry("rsqrt", Run::OnInput(super::math::elementwise)),
    entry("floor", Run::OnInput(super::math::elementwise)),
    entry("ceil", Run::OnInput(super::math::elementwise)),
    entry("round", Run::OnInput(super::math::elementwise)),
    entry("trunc", Run::OnInput(super::math::elementwise)),
    entry("fix", Run::OnInput(super::math::elementwise)),
    entry("sign", Run::OnInput(super::math::elementwise)),
    entry("topk", Run::OnInput(super::math::topk)),
    entry("sort", Run::OnInput(super::math::sort)),
    entry("argsort", Run::OnInput(super::math::sort)),
    entry("any", Run::OnInput(super::logic::any_all)),
    entry("all", Run::OnInput(super::logic::any_all)),
    entry("isinf", Run::OnInput(super::logic::classify)),
    entry("isfinite", Run::OnInput(super::logic::classify)),
    entry("cumsum", Run::OnInput(super::math::cumsum)),
    entry("flip", Run::OnInput(super::math::flip_or_repeat)),
    entry("roll", Run::OnInput(super::math::roll)),
    entry("cosine_similarity", Run::Call(super::nn::cosine_similarity)),
    entry("sum", Run::OnInput(tensor::reduce)),
    entry("mean", Run::OnInput(tensor::reduce)),
    entry("pow", Run::OnInput(tensor::pow)),
    entry("clone", Run::OnInput(tensor::no_args)),
    entry("numel", Run::OnInput(tensor::numel)),
    entry("neg", Run::OnInput(super::spellings::negation_or_square)),
    entry(
        "negative",
        Run::OnInput(super::spellings::negation_or_square),
    ),
    entry("square", Run::OnInput(super::spellings::negation_or_square)),
    entry("mm", Run::OnInput(super::spellings::mm)),
    entry("eq", Run::OnInput(super::spellings::comparison)),
    entry("ne", Run::OnInput(super::spellings::comparison)),
    entry("lt", Run::OnInput(super::spellings::comparison)),
    entry("le", Run::OnInput(super::spellings::comparison)),
    entry("gt", Run::OnInput(super::spellings::comparison)),
    entry("ge", Run::OnInput(super::spellings::comparison)),
    entry("masked_fill", Run::OnInput(super::spellings::masked_fill)),
    entry("reciprocal", Run::OnInput(super::spellings::pointwise)),
    entry("addmm", Run::OnInput(super::spellings::addmm)),
    entry("isnan", Run::OnInput(super::spellings::isnan)),
    entry("zeros_like", Run::OnInput(super::like::like)),
    entry("ones_like", Run::OnInput(super::like::like)),
    entry("empty_like", Run::OnInput(super::like::like)),
    entry("full_like", Run::OnInput(super::like::like)),
    entry("randn_like", Run::OnInput(super::like::like)),
    entry("rand_like", Run::OnInput(super::like::like)),
    entry("arange", Run::Call(super::ranges::arange)),
    entry("linspace", Run::Call(super::ranges::linspace)),
    entry("eye", Run::Call(super::ranges::eye)),
    entry("transpose", Run::OnInput(tensor::transpose)),
    entry("permute", Run::OnInput(tensor::shape_op)),
    entry("reshape", Run::OnInput(tensor::shape_op)),
    entry("squeeze", Run::OnInput(tensor::squeeze)),
    entry("unsqueeze", Run::OnInput(tensor::unsqueeze)),
    entry("flatten", Run::OnInput(tensor::flatten)),
    entry("softmax", Run::OnInput(tensor::softmax)),
    entry("log_softmax", Run::OnInput(tensor::softmax)),
    entry("matmul", Run::OnInput(tensor::matmul)),
    entry("bmm", Run::OnInput(tensor::matmul)),
    entry("max", Run::OnInput(tensor::extremum)),
    entry("min", Run::OnInput(tensor::extremum)),
    entry("narrow", Run::OnInput(tensor::narrow)),
    entry("select", Run::OnInput(tensor::select)),
    entry("clamp", Run::OnInput(tensor::clamp)),
    entry("clamp_min", Run::OnInput(tensor::clamp_bound)),
    entry("clamp_max", Run::OnInput(tensor::clamp_bound)),
    entry("maximum", Run::OnInput(tensor::binary_extremum)),
    entry("add", Run::OnInput(tensor::arith)),
    entry("sub", Run::OnInput(tensor::arith)),
    entry("mul", Run::OnInput(tensor::arith)),
    entry("div", Run::OnInput(tensor::arith)),
    entry("true_divide", Run::OnInput(tensor::arith)),
    entry("minimum", Run::OnInput(tensor::binary_extremum)),
    entry("split", Run::OnInput(super::split::split)),
    entry("chunk", Run::OnInput(super::split::chunk)),
    entry("unsafe_chunk", Run::OnInput(super::split::chunk)),
    entry("unbind", Run::OnInput(super::split::unbind)),
    entry("where", Run::Call(where_)),
    entry("index_select", Run::OnInput(super::indexing::select_along)),
    entry("gather", Run::OnInput(super::indexing::select_along)),
    entry("nonzero", Run::OnInput(super::indexing::nonzero)),
    entry("argmax", Run::OnInput(tensor::argmax)),
    entry("argmin", Run::OnInput(tensor::argmax)),
    entry("var", Run::OnInput(tensor::statistic)),
    entry("std", Run::OnInput(tensor::statistic)),
    entry("norm", Run::OnInput(tensor::statistic)),
    entry("logsumexp", Run::OnInput(super::encoding::logsumexp)),
];

/// `torch._C`: private, but what PyTorch's own tests call to give back the cuBLAS workspaces.
pub(super) const TORCH_C: &[Function] = &[entry(
    "_cuda_clearCublasWorkspaces",
    Run::Call(clear_cublas_workspaces),
)];

/// `torch.cuda.*`: the device is always there (real or simulated), and its statistics are the
/// caching allocator's.
pub(super) const CUDA: &[Function] = &[
    entry("is_available", Run::Call(cuda)),
    entry("empty_cache", Run::Call(cuda)),
    entry("memory_allocated", Run::Call(cuda)),
    entry("memory_reserved", Run::Call(cuda)),
    entry("max_memory_allocated", Run::Call(cuda)),
    entry("max_memory_reserved", Run::Call(cuda)),
    // The names before 1.4, which 2.15 still answers (deprecated aliases in `cuda/memory.py`).
    entry("memory_cached", Run::Call(cuda)),
    entry("max_memory_cached", Run::Call(cuda)),
    entry("reset_peak_memory_stats", Run::Call(cuda)),
    entry("synchronize", Run::Call(cuda)),
    entry("memory_summary", Run::Call(cuda)),
    entry("device_count", Run::Call(cuda)),
];

/// `torch.where(condition, input, other)`; `input` and `other` may be numbers. With the
/// condition alone, its `nonzero` columns.
fn where_(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    if let ([Value::Tensor(condition)], []) = (args.pos.as_slice(), args.kw.as_slice()) {
        return super::indexing::columns(it, condition, span);
    }
    let b = bind(
        it,
        &args,
        "where",
        &["condition", "input", "other"],
        3,
        span,
    )?;
    let condition = expect_tensor(it, b.raw("condition"), "condition", span)?;
    let input = tensor::tensor_or_number(it, b.raw("input"), "input", span)?;
    let other = tensor::tensor_or_number(it, b.raw("other"), "other", span)?;
    let r = Tensor::r#where(&condition, &input, &other);
    check_rt(it, r, span)
}

/// `torch.no_grad()` and `torch.enable_grad()`, as `with` contexts; bare on a function
/// (`@torch.no_grad`), its decorator, as 2.x's `_NoParamDecoratorContextManager` allows.
fn grad_mode(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let on = name == "enable_grad";
    if let [f @ (Value::Function(_) | Value::BoundMethod(_))] = args.pos.as_slice() {
        if args.kw.is_empty() {
            return Ok(Value::Native(Rc::new(Native::WithGrad(on, f.clone()))));
        }
    }
    bind(it, &args, name, &[], 0, span)?;
    Ok(Value::GradMode(on))
}

/// `torch.manual_seed(seed)`.
fn manual_seed(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, "manual_seed", &["seed"], 1, span)?;
    let seed = expect_int(it, b.raw("seed").unwrap_or(&Value::None), "seed", span)?;
    it.rt.manual_seed(seed as u64);
    Ok(Value::None)
}

/// `torch.device(type)`.
fn device(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, "device", &["type"], 1, span)?;
    Ok(Value::Device(device_arg(it, b.raw("type"), span)?))
}

/// `torch._C._cuda_clearCublasWorkspaces()`.
fn clear_cublas_workspaces(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    bind(it, &args, &format!("torch._C.{name}"), &[], 0, span)?;
    it.rt
        .clear_blas_workspaces()
        .map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::None)
}

/// `torch.cat(tensors, dim=0)` and `torch.stack(tensors, dim=0)`.
fn join(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, &["tensors", "dim"], 1, span)?;
    let items: Vec<Value> = match b.raw("tensors") {
        Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
        Some(Value::Tuple(t)) => t.as_ref().clone(),
        _ => {
            return Err(it.fail(
                span,
                format!(
                    "TypeError: {name}(): argument 'tensors' must be a tuple or list of Tensors"
                ),
            ))
        }
    };
    let tensors = items
        .iter()
        .map(|v| expect_tensor(it, Some(v), &format!("{name}(): each of 'tensors'"), span))
        .collect::<R<Vec<_>>>()?;
    let dim = dim_arg(it, b.get("dim"), span)?.unwrap_or(0);
    let r = if name == "cat" {
        Tensor::cat(&tensors, dim)
    } else {
        Tensor::stack(&tensors, dim)
    };
    check_rt(it, r, span)
}

/// A factory call: `torch.randn(*size, device=, dtype=, requires_grad=)` and friends.
pub(super) fn factory(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let (sizes, low, high): (Vec<Value>, i64, i64) = if name == "randint" {
        // randint(high, size) or randint(low, high, size)
        let pos = &args.pos;
        let (low, high, size) = match pos.as_slice() {
            [h, s] => (0, expect_int(it, h, "high", span)?, s.clone()),
            [l, h, s] => (
                expect_int(it, l, "low", span)?,
                expect_int(it, h, "high", span)?,
                s.clone(),
            ),
            _ => {
                return Err(it.fail(
                    span,
                    "TypeError: randint() expects (high, size) or (low, high, size)",
                ))
            }
        };
        (vec![size], low, high)
    } else {
        (args.pos.clone(), 0, 0)
    };
    args.only_keywords(
        &format!("torch.{name}"),
        &["device", "dtype", "requires_grad"],
    )
    .map_err(|m| it.fail(span, m))?;
    let shape = shape_of(it, &sizes, span)?;
    let (fill, dtype) = match name {
        "randint" => (Fill::Integers(low, high), DType::I64),
        kind => (Fill::of(it, name, kind, None, span)?, DType::F32),
    };
    super::like::filled(it, fill, &shape, (dtype, Device::Cpu), &args, span)
}

/// `torch.tensor(data, dtype=, device=, requires_grad=)` from (nested) lists of numbers.
pub(super) fn tensor_from_data(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(
        it,
        &args,
        "tensor",
        &["data", "dtype", "device", "requires_grad"],
        1,
        span,
    )?;
    let mut shape = Vec::new();
    let mut values = Vec::new();
    let mut all_int = true;
    fn flatten(
        v: &Value,
        depth: usize,
        shape: &mut Vec<usize>,
        out: &mut Vec<f64>,
        all_int: &mut bool,
    ) -> Result<(), String> {
        let items: Vec<Value> = match v {
            Value::List(l) => l.borrow().iter().map(|s| s.value.clone()).collect(),
            Value::Tuple(t) => t.as_ref().clone(),
            Value::Int(i) => {
                out.push(*i as f64);
                return if depth == shape.len() {
                    Ok(())
                } else {
                    Err("ValueError: expected sequence".into())
                };
            }
            Value::Bool(x) => {
                out.push(*x as i64 as f64);
                return Ok(());
            }
            Value::Float(f) => {
                *all_int = false;
                out.push(*f);
                return if depth == shape.len() {
                    Ok(())
                } else {
                    Err("ValueError: expected sequence".into())
                };
            }
            other => {
                return Err(format!(
                    "TypeError: Could not infer dtype of {}",
                    other.type_name()
                ))
            }
        };
        if depth == shape.len() {
            shape.push(items.len());
        } else if shape[depth] != items.len() {
            return Err(format!(
                "ValueError: expected sequence of length {} at dim {depth} (got {})",
                shape[depth],
                items.len()
            ));
        }
        for item in &items {
            flatten(item, depth + 1, shape, out, all_int)?;
        }
        Ok(())
    }
    let data = b.raw("data").cloned().unwrap_or(Value::None);
    flatten(&data, 0, &mut shape, &mut values, &mut all_int).map_err(|m| it.fail(span, m))?;
    let device = device_arg(it, b.get("device"), span)?;
    // Bools alone infer torch.bool (a mask), as PyTorch's `infer_scalar_type` does.
    fn all_bools(v: &Value) -> bool {
        match v {
            Value::Bool(_) => true,
            Value::List(l) => {
                let l = l.borrow();
                !l.is_empty() && l.iter().all(|s| all_bools(&s.value))
            }
            Value::Tuple(t) => !t.is_empty() && t.iter().all(all_bools),
            _ => false,
        }
    }
    let inferred = if all_bools(&data) {
        DType::Bool
    } else if all_int {
        DType::I64
    } else {
        DType::F32
    };
    let dtype = dtype_arg(it, b.get("dtype"), inferred, span)?;
    let t = from_values(it, &values, &shape, dtype, device, span)?;
    if expect_bool(it, b.get("requires_grad"), false, "requires_grad", span)? {
        t.set_requires_grad(true)
            .map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Tensor(t))
}

/// A new tensor of `shape`, `dtype` and `device` holding `values` (row-major), each converted
/// as a copy into that dtype converts it.
pub(super) fn from_values(
    it: &Interp<'_>,
    values: &[f64],
    shape: &[usize],
    dtype: DType,
    device: Device,
    span: Span,
) -> R<Tensor> {
    let rt = it.rt.clone();
    let ints = |f: fn(f64) -> i64| values.iter().map(|&v| f(v)).collect::<Vec<_>>();
    match dtype {
        DType::I64 => rt.tensor_i64(&ints(|v| v as i64), shape, device),
        DType::I32 => rt
            .empty(shape, DType::I32, device)
            .inspect(|t| t.write_i64(&ints(|v| v as i64))),
        DType::F32 | DType::F16 | DType::BF16 | DType::F64 => {
            rt.tensor_f64(values, shape, dtype, device)
        }
        DType::Bool => rt
            .empty(shape, DType::Bool, device)
            .inspect(|t| t.write_i64(&ints(|v| i64::from(v != 0.0)))),
    }
    .map_err(|e| it.tensor_error(span, e))
}

fn cuda(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let rt = it.rt.clone();
    let params: &'static [&'static str] = match name {
        "memory_summary" => &["device", "abbreviated"],
        "is_available" | "device_count" | "empty_cache" => &[],
        _ => &["device"],
    };
    let b = bind(it, &args, &format!("torch.cuda.{name}"), params, 0, span)?;
    Ok(match name {
        // From a scenario's view the device is always there: real or simulated.
        "is_available" => Value::Bool(true),
        "device_count" => Value::Int(1),
        "empty_cache" => {
            rt.allocator_mut()
                .empty_cache()
                .map_err(|e| it.tensor_error(span, e.into()))?;
            Value::None
        }
        "memory_allocated" => Value::Int(rt.memory_allocated() as i64),
        "memory_reserved" | "memory_cached" => Value::Int(rt.memory_reserved() as i64),
        "max_memory_allocated" => Value::Int(rt.allocator().max_memory_allocated() as i64),
        "max_memory_reserved" | "max_memory_cached" => {
            Value::Int(rt.allocator().max_memory_reserved() as i64)
        }
        "reset_peak_memory_stats" => {
            rt.allocator_mut().reset_peak_memory_stats();
            Value::None
        }
        "synchronize" => Value::None,
        _ => {
            let abbreviated = expect_bool(it, b.get("abbreviated"), false, "abbreviated", span)?;
            Value::Str(rt.allocator().memory_summary(abbreviated).into())
        }
    })
}
