//! Tensor methods (`x.exp()`, `loss.backward()`): the table, and the handlers that the
//! `torch.*` and `torch.nn.functional` forms of the same ops share (`torch.exp(x)`, `F.gelu(x)`).

use std::rc::Rc;

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{
    bind, check_rt, device_arg, dim_arg, expect_bool, expect_float, expect_int, expect_tensor,
    ints_of, required_dim, shape_of,
};
use super::values::{inplace_binary, item_value, scalar};
use super::{entry, Entry, MethodFn};
use crate::base::DType;
use crate::scenario::{BinOp, Span};
use crate::tensor::Tensor;

/// Every method of `Tensor` scenarios may call.
pub(super) const METHODS: &[Entry<MethodFn>] = &[
    entry("item", item),
    entry("numel", numel),
    entry("dim", dim),
    entry("size", size),
    entry("detach", no_args),
    entry("clone", no_args),
    entry("float", no_args),
    entry("long", no_args),
    entry("int", no_args),
    entry("half", super::amp::convert),
    entry("bfloat16", super::amp::convert),
    entry("type", super::amp::convert),
    entry("relu", no_args),
    entry("relu_", no_args),
    entry("zero_", no_args),
    entry("t", no_args),
    entry("cpu", no_args),
    entry("cuda", no_args),
    entry("to", to),
    entry("sum", reduce),
    entry("mean", reduce),
    entry("argmax", argmax),
    entry("argmin", argmax),
    entry("pow", pow),
    entry("add_", inplace_arith),
    entry("sub_", inplace_arith),
    entry("mul_", inplace_arith),
    entry("fill_", inplace_arith),
    entry("requires_grad_", requires_grad_),
    entry("exp", unary),
    entry("log", unary),
    entry("sqrt", unary),
    entry("tanh", unary),
    entry("sigmoid", unary),
    entry("abs", unary),
    entry("contiguous", unary),
    entry("transpose", transpose),
    entry("permute", shape_op),
    entry("view", shape_op),
    entry("reshape", shape_op),
    entry("squeeze", squeeze),
    entry("unsqueeze", unsqueeze),
    entry("flatten", flatten),
    entry("unflatten", unflatten),
    entry("softmax", softmax),
    entry("log_softmax", softmax),
    entry("max", extremum),
    entry("min", extremum),
    entry("narrow", narrow),
    entry("select", select),
    entry("matmul", matmul),
    entry("bmm", matmul),
    entry("clamp", clamp),
    entry("clamp_min", clamp_bound),
    entry("clamp_max", clamp_bound),
    entry("maximum", binary_extremum),
    entry("minimum", binary_extremum),
    entry("where", where_method),
    entry("split", super::split::split),
    entry("chunk", super::split::chunk),
    entry("unsafe_chunk", super::split::chunk),
    entry("unbind", super::split::unbind),
    entry("var", statistic),
    entry("std", statistic),
    entry("norm", statistic),
    entry("logsumexp", super::encoding::logsumexp),
    entry("index_select", super::indexing::select_along),
    entry("gather", super::indexing::select_along),
    entry("index_put_", super::indexing::index_put_),
    entry("index_fill_", super::indexing::index_fill_),
    entry("masked_fill_", super::indexing::masked_fill_),
    entry("copy_", super::indexing::copy_),
    entry("nonzero", super::indexing::nonzero),
];

/// A number argument that may be `None` (`clamp(min=None)`).
fn optional_float(it: &Interp<'_>, v: Option<&Value>, what: &str, span: Span) -> R<Option<f64>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(v) => expect_float(it, v, what, span).map(Some),
    }
}

/// `clamp(min=None, max=None)` with numbers.
pub(super) fn clamp(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["min", "max"], 0, span)?;
    if matches!(b.get("min"), Some(Value::Tensor(_)))
        || matches!(b.get("max"), Some(Value::Tensor(_)))
    {
        return Err(it
            .fail(
                span,
                "clamp() with tensor bounds is not supported in scenarios",
            )
            .with_help("pass numbers, or use torch.maximum / torch.minimum"));
    }
    let min = optional_float(it, b.get("min"), "min", span)?;
    let max = optional_float(it, b.get("max"), "max", span)?;
    let r = t.clamp(min, max);
    check_rt(it, r, span)
}

/// `clamp_min(min)` and `clamp_max(max)` with a number.
pub(super) fn clamp_bound(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let param: &'static [&'static str] = if name == "clamp_min" {
        &["min"]
    } else {
        &["max"]
    };
    let b = bind(it, &args, name, param, 1, span)?;
    let bound = expect_float(it, b.raw(param[0]).unwrap_or(&Value::None), param[0], span)?;
    let r = if name == "clamp_min" {
        t.clamp_min(bound)
    } else {
        t.clamp_max(bound)
    };
    check_rt(it, r, span)
}

/// `maximum(other)` and `minimum(other)`.
pub(super) fn binary_extremum(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["other"], 1, span)?;
    let other = expect_tensor(it, b.raw("other"), "other", span)?;
    let r = if name == "maximum" {
        t.maximum(&other)
    } else {
        t.minimum(&other)
    };
    check_rt(it, r, span)
}

/// A tensor operand that may be a Python number, wrapped in a 0-dim host tensor as PyTorch
/// wraps it (no device memory).
pub(super) fn tensor_or_number(
    it: &Interp<'_>,
    v: Option<&Value>,
    what: &str,
    span: Span,
) -> R<Tensor> {
    match v {
        Some(n @ (Value::Int(_) | Value::Float(_) | Value::Bool(_))) => {
            let x = expect_float(it, n, what, span)?;
            it.rt
                .tensor(&[x as f32], &[], crate::base::Device::Cpu)
                .map_err(|e| it.tensor_error(span, e))
        }
        other => expect_tensor(it, other, what, span),
    }
}

/// `x.where(condition, other)`: `torch.where(condition, x, other)`.
fn where_method(
    it: &mut Interp<'_>,
    t: &Tensor,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, "where", &["condition", "other"], 2, span)?;
    let condition = expect_tensor(it, b.raw("condition"), "condition", span)?;
    let other = tensor_or_number(it, b.raw("other"), "other", span)?;
    let r = Tensor::r#where(&condition, t, &other);
    check_rt(it, r, span)
}

/// `item`.
fn item(it: &mut Interp<'_>, t: &Tensor, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    bind(it, &args, "item", &[], 0, span)?;
    item_value(t).map_err(|e| it.tensor_error(span, e))
}

/// `numel`.
fn numel(it: &mut Interp<'_>, t: &Tensor, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    bind(it, &args, "numel", &[], 0, span)?;
    Ok(Value::Int(t.numel() as i64))
}

/// `dim`.
fn dim(it: &mut Interp<'_>, t: &Tensor, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    bind(it, &args, "dim", &[], 0, span)?;
    Ok(Value::Int(t.dim() as i64))
}

/// `size`.
fn size(it: &mut Interp<'_>, t: &Tensor, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, "size", &["dim"], 0, span)?;
    match dim_arg(it, b.get("dim"), span)? {
        None => Ok(Value::size(t.shape())),
        Some(d) => {
            let n = t.dim() as isize;
            let j = if d < 0 { d + n } else { d };
            if !(0..n).contains(&j) {
                return Err(it.fail(span, format!("IndexError: Dimension out of range (expected to be in range of [{}, {}], but got {d})", -n, n - 1)));
            }
            Ok(Value::Int(t.shape()[j as usize] as i64))
        }
    }
}

/// `detach`, `clone`, `float`, `long`, `int`, `relu`, `relu_`, `zero_`, `t`, `cpu`, `cuda`.
fn no_args(it: &mut Interp<'_>, t: &Tensor, name: &str, args: CallArgs, span: Span) -> R<Value> {
    bind(it, &args, name, &[], 0, span)?;
    let r = match name {
        "detach" => Ok(t.detach()),
        "clone" => t.clone_tensor(),
        "float" => t.float(),
        "long" => t.to_dtype(DType::I64),
        "int" => t.to_dtype(DType::I32),
        "relu" => t.relu(),
        "relu_" => t.relu_(),
        "zero_" => t.zero_(),
        "t" => t.t(),
        "cpu" => t.cpu(),
        _ => t.cuda(),
    };
    check_rt(it, r, span)
}

/// `to`.
fn to(it: &mut Interp<'_>, t: &Tensor, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    args.only_keywords("to", &["device", "dtype"])
        .map_err(|m| it.fail(span, m))?;
    let mut out = t.clone();
    let targets: Vec<&Value> = args
        .pos
        .iter()
        .chain(args.kw.iter().map(|(_, v)| v))
        .collect();
    if targets.is_empty() {
        return Err(it.fail(
            span,
            "TypeError: to() received an invalid combination of arguments",
        ));
    }
    for target in targets {
        out = match target {
            Value::DType(d) => out.to_dtype(*d),
            v => {
                let d = device_arg(it, Some(v), span)?;
                out.to(d)
            }
        }
        .map_err(|e| it.tensor_error(span, e))?;
    }
    let r = Ok(out);
    check_rt(it, r, span)
}

/// `sum`, `mean`.
fn reduce(it: &mut Interp<'_>, t: &Tensor, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "keepdim"], 0, span)?;
    let keepdim = expect_bool(it, b.get("keepdim"), false, "keepdim", span)?;
    let r = match (dim_arg(it, b.get("dim"), span)?, name) {
        (None, "sum") => t.sum(),
        (None, _) => t.mean(),
        (Some(d), "sum") => t.sum_dim(&[d], keepdim),
        (Some(d), _) => t.mean_dim(&[d], keepdim),
    };
    check_rt(it, r, span)
}

/// `var(dim=None, unbiased=True, keepdim=False, *, correction=None)`, `std(...)` and
/// `norm(p='fro', dim=None, keepdim=False)`: `dim` an int, a tuple or list of ints, or None.
pub(super) fn statistic(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let params: &'static [&'static str] = if name == "norm" {
        &["p", "dim", "keepdim"]
    } else {
        &["dim", "unbiased", "keepdim", "correction"]
    };
    let b = bind(it, &args, name, params, 0, span)?;
    let dims = match b.get("dim") {
        None | Some(Value::None) => None,
        Some(v) => Some(ints_of(it, std::slice::from_ref(v), "dim", span)?),
    };
    let keepdim = expect_bool(it, b.get("keepdim"), false, "keepdim", span)?;
    let r = if name == "norm" {
        let ord = match b.get("p") {
            None | Some(Value::None) => 2.0,
            Some(Value::Str(s)) if &**s == "fro" => 2.0,
            Some(v) => expect_float(it, v, "p", span)?,
        };
        t.vector_norm(ord, dims.as_deref(), keepdim)
    } else {
        let unbiased = expect_bool(it, b.get("unbiased"), true, "unbiased", span)?;
        let correction = match b.get("correction") {
            None | Some(Value::None) => f64::from(u8::from(unbiased)),
            Some(v) => expect_float(it, v, "correction", span)?,
        };
        if name == "var" {
            t.var(dims.as_deref(), correction, keepdim)
        } else {
            t.std(dims.as_deref(), correction, keepdim)
        }
    };
    check_rt(it, r, span)
}

/// `argmax`.
pub(super) fn argmax(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "keepdim"], 0, span)?;
    let keepdim = expect_bool(it, b.get("keepdim"), false, "keepdim", span)?;
    let Some(d) = dim_arg(it, b.get("dim"), span)? else {
        return Err(it
            .fail(
                span,
                format!("{name}() without dim is not supported in scenarios"),
            )
            .with_help("pass dim="));
    };
    let r = if name == "argmin" {
        t.argmin(d, keepdim)
    } else {
        t.argmax(d, keepdim)
    };
    check_rt(it, r, span)
}

/// `pow`.
fn pow(it: &mut Interp<'_>, t: &Tensor, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, "pow", &["exponent"], 1, span)?;
    let e = expect_float(
        it,
        b.raw("exponent").unwrap_or(&Value::None),
        "exponent",
        span,
    )?;
    let r = t.pow(e);
    check_rt(it, r, span)
}

/// `add_`, `sub_`, `mul_`, `fill_`.
fn inplace_arith(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["other", "alpha"], 1, span)?;
    let other = b.raw("other").cloned().unwrap_or(Value::None);
    let alpha = match b.get("alpha") {
        Some(v) => Some(expect_float(it, v, "alpha", span)?),
        None => None,
    };
    let r = match (name, &other, alpha) {
        ("fill_", v, None) => match scalar(v) {
            Some(s) => t.fill_(s),
            None => return Err(it.fail(span, "TypeError: fill_() expects a number")),
        },
        ("add_", Value::Tensor(o), Some(a)) => t.add_alpha_(o, a),
        ("sub_", Value::Tensor(o), Some(a)) => t.add_alpha_(o, -a),
        (_, _, Some(_)) => {
            return Err(it.fail(
                span,
                format!("TypeError: {name}() got an unexpected keyword argument 'alpha'"),
            ))
        }
        (op, v, None) => {
            let bin = match op {
                "add_" => BinOp::Add,
                "sub_" => BinOp::Sub,
                _ => BinOp::Mul,
            };
            inplace_binary(t, bin, v).map(|()| t.clone())
        }
    };
    check_rt(it, r, span)
}

/// `requires_grad_`.
fn requires_grad_(
    it: &mut Interp<'_>,
    t: &Tensor,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, "requires_grad_", &["requires_grad"], 0, span)?;
    let flag = expect_bool(it, b.get("requires_grad"), true, "requires_grad", span)?;
    let r = t.set_requires_grad(flag).map(|()| t.clone());
    check_rt(it, r, span)
}

/// `exp`, `log`, `sqrt`, `tanh`, `sigmoid`, `abs`, `gelu`, `silu`, `contiguous`.
pub(super) fn unary(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let params: &'static [&'static str] = if name == "gelu" {
        &["approximate"]
    } else {
        &[]
    };
    let b = bind(it, &args, name, params, 0, span)?;
    if let Some(v) = b.get("approximate") {
        if !matches!(v, Value::Str(s) if s.as_ref() == "none") {
            return Err(it
                .fail(
                    span,
                    "gelu(approximate='tanh') is not supported in scenarios",
                )
                .with_help("use the default approximate='none'"));
        }
    }
    let r = match name {
        "exp" => t.exp(),
        "log" => t.log(),
        "sqrt" => t.sqrt(),
        "tanh" => t.tanh(),
        "sigmoid" => t.sigmoid(),
        "abs" => t.abs(),
        "gelu" => t.gelu(),
        "silu" => t.silu(),
        _ => t.contiguous(),
    };
    check_rt(it, r, span)
}

/// `transpose`.
pub(super) fn transpose(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim0", "dim1"], 2, span)?;
    let d0 = expect_int(it, b.raw("dim0").unwrap_or(&Value::None), "dim0", span)?;
    let d1 = expect_int(it, b.raw("dim1").unwrap_or(&Value::None), "dim1", span)?;
    let r = t.transpose(d0 as isize, d1 as isize);
    check_rt(it, r, span)
}

/// `permute`, `view`, `reshape`.
pub(super) fn shape_op(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let what = if name == "permute" { "dims" } else { "shape" };
    args.only_keywords(name, &[what])
        .map_err(|m| it.fail(span, m))?;
    let given: Vec<Value> = match args.keyword(what) {
        Some(v) => vec![v.clone()],
        None => args.pos.clone(),
    };
    let ints = ints_of(it, &given, what, span)?;
    let r = match name {
        "permute" => t.permute(&ints),
        "view" => t.view(&ints),
        _ => t.reshape(&ints),
    };
    check_rt(it, r, span)
}

/// `squeeze`.
pub(super) fn squeeze(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim"], 0, span)?;
    let r = t.squeeze(dim_arg(it, b.get("dim"), span)?);
    check_rt(it, r, span)
}

/// `unsqueeze`.
pub(super) fn unsqueeze(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim"], 1, span)?;
    let d = expect_int(it, b.raw("dim").unwrap_or(&Value::None), "dim", span)?;
    // unsqueeze wraps against dim() + 1: -1 appends a dimension.
    let n = t.dim() as i64 + 1;
    if d < -n || d >= n {
        return Err(it.fail(span, format!("IndexError: Dimension out of range (expected to be in range of [{}, {}], but got {d})", -n, n - 1)));
    }
    let r = t.unsqueeze(if d < 0 { d + n } else { d } as usize);
    check_rt(it, r, span)
}

/// `flatten`.
pub(super) fn flatten(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["start_dim", "end_dim"], 0, span)?;
    let start = dim_arg(it, b.get("start_dim"), span)?.unwrap_or(0);
    let end = match b.get("end_dim") {
        Some(v) => expect_int(it, v, "end_dim", span)? as isize,
        None => -1,
    };
    let r = t.flatten(start, end);
    check_rt(it, r, span)
}

/// `unflatten(dim, sizes)`: dimension `dim` split into `sizes` (one of them may be -1), as
/// ATen's `unflatten` does it, through `view` (ViewBackward0).
pub(super) fn unflatten(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "sizes"], 2, span)?;
    let dim = required_dim(it, &b, name, span)?;
    let sizes = ints_of(
        it,
        &[b.get("sizes").cloned().unwrap_or(Value::None)],
        "sizes",
        span,
    )?;
    let rank = t.dim() as isize;
    let d = if dim < 0 { dim + rank } else { dim };
    if d < 0 || d >= rank {
        return Err(it.fail(
            span,
            format!(
                "IndexError: Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
                -rank,
                rank - 1
            ),
        ));
    }
    let d = d as usize;
    let mut shape: Vec<isize> = t.shape()[..d].iter().map(|&s| s as isize).collect();
    shape.extend(&sizes);
    shape.extend(t.shape()[d + 1..].iter().map(|&s| s as isize));
    let r = t.view(&shape);
    check_rt(it, r, span)
}

/// `F.linear(input, weight, bias=None)`.
pub(super) fn linear(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["weight", "bias"], 1, span)?;
    let weight = expect_tensor(it, b.get("weight"), "weight", span)?;
    let bias = match b.get("bias") {
        None | Some(Value::None) => None,
        v => Some(expect_tensor(it, v, "bias", span)?),
    };
    let r = t.linear(&weight, bias.as_ref());
    check_rt(it, r, span)
}

/// `softmax`, `log_softmax`.
pub(super) fn softmax(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "dtype"], 0, span)?;
    let d = required_dim(it, &b, name, span)?;
    // Without `dtype=`, autocast may choose one; an explicit one is the caller's.
    let r = match b.get("dtype") {
        None | Some(Value::None) if name == "softmax" => t.softmax(d),
        None | Some(Value::None) => t.log_softmax(d),
        dtype => {
            let dtype = Some(super::args::dtype_arg(it, dtype, t.dtype(), span)?);
            if name == "softmax" {
                t.softmax_dtype(d, dtype)
            } else {
                t.log_softmax_dtype(d, dtype)
            }
        }
    };
    check_rt(it, r, span)
}

/// `max`, `min`.
pub(super) fn extremum(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "keepdim"], 0, span)?;
    let Some(d) = dim_arg(it, b.get("dim"), span)? else {
        return Err(it
            .fail(
                span,
                format!("{name}() without dim is not supported in scenarios"),
            )
            .with_help("pass dim= (the values and indices come back as a tuple)"));
    };
    let keepdim = expect_bool(it, b.get("keepdim"), false, "keepdim", span)?;
    let (values, indices) = t
        .max_dim(d, keepdim, name == "min")
        .map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::Tuple(Rc::new(vec![
        Value::Tensor(values),
        Value::Tensor(indices),
    ])))
}

/// `narrow`.
pub(super) fn narrow(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "start", "length"], 3, span)?;
    let int = |it: &Interp<'_>, p: &str| expect_int(it, b.raw(p).unwrap_or(&Value::None), p, span);
    let (d, start, length) = (int(it, "dim")?, int(it, "start")?, int(it, "length")?);
    let r = t.narrow(d as isize, start, length);
    check_rt(it, r, span)
}

/// `select`.
pub(super) fn select(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["dim", "index"], 2, span)?;
    let d = expect_int(it, b.raw("dim").unwrap_or(&Value::None), "dim", span)?;
    let i = expect_int(it, b.raw("index").unwrap_or(&Value::None), "index", span)?;
    let r = t.select_dim(d as isize, i);
    check_rt(it, r, span)
}

/// `dropout`.
pub(super) fn dropout(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["p", "training", "inplace"], 0, span)?;
    let p = match b.get("p") {
        Some(v) => expect_float(it, v, "p", span)?,
        None => 0.5,
    };
    let training = expect_bool(it, b.get("training"), true, "training", span)?;
    if expect_bool(it, b.get("inplace"), false, "inplace", span)? {
        return Err(it
            .fail(span, "dropout(inplace=True) is not supported in scenarios")
            .with_help("use the default inplace=False"));
    }
    let r = t.dropout(p, training);
    check_rt(it, r, span)
}

/// `layer_norm`.
pub(super) fn layer_norm(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(
        it,
        &args,
        name,
        &["normalized_shape", "weight", "bias", "eps"],
        1,
        span,
    )?;
    let shape = shape_of(
        it,
        std::slice::from_ref(b.raw("normalized_shape").unwrap_or(&Value::None)),
        span,
    )?;
    let weight = match b.get("weight") {
        Some(v) => Some(expect_tensor(it, Some(v), "weight", span)?),
        None => None,
    };
    let bias = match b.get("bias") {
        Some(v) => Some(expect_tensor(it, Some(v), "bias", span)?),
        None => None,
    };
    let eps = match b.get("eps") {
        Some(v) => expect_float(it, v, "eps", span)?,
        None => 1e-5,
    };
    let r = t.layer_norm(&shape, weight.as_ref(), bias.as_ref(), eps);
    check_rt(it, r, span)
}

/// `matmul`, `bmm`.
pub(super) fn matmul(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let param = if name == "bmm" { "mat2" } else { "other" };
    let params: &'static [&'static str] = if name == "bmm" { &["mat2"] } else { &["other"] };
    let b = bind(it, &args, name, params, 1, span)?;
    let other = expect_tensor(it, b.raw(param), param, span)?;
    let r = if name == "bmm" {
        t.bmm(&other)
    } else {
        t.matmul(&other)
    };
    check_rt(it, r, span)
}
