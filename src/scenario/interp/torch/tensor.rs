//! Tensor methods (`x.exp()`, `loss.backward()`): the table, and the handlers that the
//! `torch.*` and `torch.nn.functional` forms of the same ops share (`torch.exp(x)`, `F.gelu(x)`).

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{
    check_rt, device_arg, expect_bool, expect_float, expect_int, expect_tensor, ints_of, method,
    required_dim, shape_of,
};
use super::values::{binary, inplace_binary, item_value, scalar};
use super::{entry, Entry, MethodFn};
use crate::base::DType;
use crate::scenario::{BinOp, Span};
use crate::tensor::Tensor;

/// Every method of `Tensor` scenarios may call.
pub(super) const METHODS: &[Entry<MethodFn>] = &[
    entry("item", item),
    entry("tolist", super::tolist::tolist),
    entry("numel", numel),
    entry("nelement", super::spellings::layout_query),
    entry("ndimension", super::spellings::layout_query),
    entry("is_contiguous", super::spellings::layout_query),
    entry("storage_offset", super::spellings::layout_query),
    entry("stride", super::spellings::stride),
    entry("eq", super::spellings::comparison),
    entry("ne", super::spellings::comparison),
    entry("lt", super::spellings::comparison),
    entry("le", super::spellings::comparison),
    entry("gt", super::spellings::comparison),
    entry("ge", super::spellings::comparison),
    entry("neg", super::spellings::negation_or_square),
    entry("negative", super::spellings::negation_or_square),
    entry("square", super::spellings::negation_or_square),
    entry("mm", super::spellings::mm),
    entry("expand", super::spellings::expand),
    entry("expand_as", super::spellings::as_other),
    entry("view_as", super::spellings::as_other),
    entry("type_as", super::spellings::as_other),
    entry("masked_fill", super::spellings::masked_fill),
    entry("clamp_", super::spellings::clamp_),
    entry("pow_", super::spellings::pow_),
    entry("triu", super::spellings::triu),
    entry("tril", super::spellings::triu),
    entry("addmm", super::spellings::addmm),
    entry("isnan", super::spellings::isnan),
    entry("retain_grad", super::spellings::retain_grad),
    entry("exp_", super::spellings::pointwise),
    entry("sqrt_", super::spellings::pointwise),
    entry("reciprocal_", super::spellings::pointwise),
    entry("sigmoid_", super::spellings::pointwise),
    entry("tanh_", super::spellings::pointwise),
    entry("reciprocal", super::spellings::pointwise),
    entry("new_zeros", super::like::new_filled),
    entry("new_ones", super::like::new_filled),
    entry("new_empty", super::like::new_filled),
    entry("new_full", super::like::new_filled),
    entry("new_tensor", super::like::new_tensor),
    entry("element_size", element_size),
    entry("dim", dim),
    entry("size", size),
    entry("detach", no_args),
    entry("clone", no_args),
    entry("float", no_args),
    entry("long", no_args),
    entry("int", no_args),
    entry("double", no_args),
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
    entry("add", arith),
    entry("sub", arith),
    entry("mul", arith),
    entry("div", arith),
    entry("true_divide", arith),
    entry("add_", inplace_arith),
    entry("sub_", inplace_arith),
    entry("mul_", inplace_arith),
    entry("fill_", inplace_arith),
    entry("div_", super::arith_options::div_),
    entry("requires_grad_", requires_grad_),
    entry("exp", unary),
    entry("log", unary),
    entry("sqrt", unary),
    entry("tanh", unary),
    entry("sigmoid", unary),
    entry("abs", unary),
    entry("sin", super::math::elementwise),
    entry("cos", super::math::elementwise),
    entry("log1p", super::math::elementwise),
    entry("expm1", super::math::elementwise),
    entry("rsqrt", super::math::elementwise),
    entry("floor", super::math::elementwise),
    entry("ceil", super::math::elementwise),
    entry("round", super::math::elementwise),
    entry("trunc", super::math::elementwise),
    entry("fix", super::math::elementwise),
    entry("sign", super::math::elementwise),
    entry("topk", super::math::topk),
    entry("sort", super::math::sort),
    entry("argsort", super::math::sort),
    entry("any", super::logic::any_all),
    entry("all", super::logic::any_all),
    entry("isinf", super::logic::classify),
    entry("isfinite", super::logic::classify),
    entry("cumsum", super::math::cumsum),
    entry("flip", super::math::flip_or_repeat),
    entry("roll", super::math::roll),
    entry("repeat", super::math::flip_or_repeat),
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

// `clamp(min=None, max=None)` with numbers.
method!(clamp, ["min", "max"], 0, |c| {
    if matches!(c.b.get("min"), Some(Value::Tensor(_)))
        || matches!(c.b.get("max"), Some(Value::Tensor(_)))
    {
        return Err(c
            .it
            .fail(
                c.span,
                "clamp() with tensor bounds is not supported in scenarios",
            )
            .with_help("pass numbers, or use torch.maximum / torch.minimum"));
    }
    let min = optional_float(c.it, c.b.get("min"), "min", c.span)?;
    let max = optional_float(c.it, c.b.get("max"), "max", c.span)?;
    c.done(c.t.clamp(min, max))
});

// `clamp_min(min)` and `clamp_max(max)` with a number.
method!(
    clamp_bound,
    |name| if name == "clamp_min" {
        &["min"]
    } else {
        &["max"]
    },
    1,
    |c| {
        let r = if c.name == "clamp_min" {
            c.t.clamp_min(c.float("min")?)
        } else {
            c.t.clamp_max(c.float("max")?)
        };
        c.done(r)
    }
);

// `maximum(other)` and `minimum(other)`.
method!(binary_extremum, ["other"], 1, |c| {
    let other = c.tensor("other")?;
    let r = if c.name == "maximum" {
        c.t.maximum(&other)
    } else {
        c.t.minimum(&other)
    };
    c.done(r)
});

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

// `x.where(condition, other)`: `torch.where(condition, x, other)`.
method!(where_method, ["condition", "other"], 2, |c| {
    let condition = c.tensor("condition")?;
    let other = tensor_or_number(c.it, c.b.raw("other"), "other", c.span)?;
    c.done(Tensor::r#where(&condition, c.t, &other))
});

// `item`.
method!(item, [], 0, |c| item_value(c.t)
    .map_err(|e| c.it.tensor_error(c.span, e)));

// `numel`.
method!(numel, [], 0, |c| Ok(Value::Int(c.t.numel() as i64)));

// `element_size`: bytes per element.
method!(element_size, [], 0, |c| Ok(Value::Int(
    c.t.dtype().size() as i64
)));

// `dim`.
method!(dim, [], 0, |c| Ok(Value::Int(c.t.dim() as i64)));

// `size`.
method!(size, ["dim"], 0, |c| {
    match c.dim("dim")? {
        None => Ok(Value::size(c.t.shape())),
        Some(d) => {
            let n = c.t.dim() as isize;
            let j = if d < 0 { d + n } else { d };
            if !(0..n).contains(&j) {
                return Err(c.it.fail(c.span, format!("IndexError: Dimension out of range (expected to be in range of [{}, {}], but got {d})", -n, n - 1)));
            }
            Ok(Value::Int(c.t.shape()[j as usize] as i64))
        }
    }
});

// `detach`, `clone`, `float`, `long`, `int`, `double`, `relu`, `relu_`, `zero_`, `t`, `cpu`, `cuda`.
method!(no_args, [], 0, |c| {
    let t = c.t;
    let r = match c.name {
        "detach" => Ok(t.detach()),
        "clone" => t.clone_tensor(),
        "float" => t.float(),
        "long" => t.to_dtype(DType::I64),
        "int" => t.to_dtype(DType::I32),
        "double" => t.to_dtype(DType::F64),
        "relu" => t.relu(),
        "relu_" => t.relu_(),
        "zero_" => t.zero_(),
        "t" => t.t(),
        "cpu" => t.cpu(),
        _ => t.cuda(),
    };
    c.done(r)
});

/// `to`.
fn to(it: &mut Interp<'_>, t: &Tensor, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    // `non_blocking` changes when the copy happens, not what a moved tensor occupies;
    // `memory_format` is always the dense one here.
    args.only_keywords(
        "to",
        &["device", "dtype", "non_blocking", "copy", "memory_format"],
    )
    .map_err(|m| it.fail(span, m))?;
    if expect_bool(it, args.keyword("copy"), false, "copy", span)? {
        return Err(it
            .fail(span, "to(copy=True) is not supported in scenarios")
            .with_help("use .clone() for a copy"));
    }
    let mut out = t.clone();
    let targets: Vec<&Value> = args
        .pos
        .iter()
        .filter(|v| !matches!(v, Value::Bool(_)))
        .chain(
            args.kw
                .iter()
                .filter(|(k, _)| k == "device" || k == "dtype")
                .map(|(_, v)| v),
        )
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

// `sum`, `mean`: over all elements, or over `dim`, an int or a tuple or list of ints.
method!(reduce, ["dim", "keepdim"], 0, |c| {
    let keepdim = c.flag("keepdim", false)?;
    let dims = match c.b.get("dim") {
        None | Some(Value::None) => None,
        Some(v @ (Value::Tuple(_) | Value::List(_))) => {
            Some(ints_of(c.it, std::slice::from_ref(v), "dim", c.span)?)
        }
        Some(_) => c.dim("dim")?.map(|d| vec![d]),
    };
    let r = match (dims, c.name) {
        (None, "sum") => c.t.sum(),
        (None, _) => c.t.mean(),
        (Some(d), "sum") => c.t.sum_dim(&d, keepdim),
        (Some(d), _) => c.t.mean_dim(&d, keepdim),
    };
    c.done(r)
});

// `var(dim=None, unbiased=True, keepdim=False, *, correction=None)`, `std(...)` and
// `norm(p='fro', dim=None, keepdim=False)`: `dim` an int, a tuple or list of ints, or None.
method!(
    statistic,
    |name| if name == "norm" {
        &["p", "dim", "keepdim"]
    } else {
        &["dim", "unbiased", "keepdim", "correction"]
    },
    0,
    |c| {
        let dims = match c.b.get("dim") {
            None | Some(Value::None) => None,
            Some(v) => Some(ints_of(c.it, std::slice::from_ref(v), "dim", c.span)?),
        };
        let keepdim = c.flag("keepdim", false)?;
        let r = if c.name == "norm" {
            let ord = match c.b.get("p") {
                None | Some(Value::None) => 2.0,
                Some(Value::Str(s)) if &**s == "fro" => 2.0,
                Some(v) => expect_float(c.it, v, "p", c.span)?,
            };
            c.t.vector_norm(ord, dims.as_deref(), keepdim)
        } else {
            let unbiased = c.flag("unbiased", true)?;
            let correction = match c.b.get("correction") {
                None | Some(Value::None) => f64::from(u8::from(unbiased)),
                Some(v) => expect_float(c.it, v, "correction", c.span)?,
            };
            if c.name == "var" {
                c.t.var(dims.as_deref(), correction, keepdim)
            } else {
                c.t.std(dims.as_deref(), correction, keepdim)
            }
        };
        c.done(r)
    }
);

// `argmax`.
method!(argmax, ["dim", "keepdim"], 0, |c| {
    let keepdim = c.flag("keepdim", false)?;
    let Some(d) = c.dim("dim")? else {
        return Err(c
            .it
            .fail(
                c.span,
                format!("{}() without dim is not supported in scenarios", c.name),
            )
            .with_help("pass dim="));
    };
    let r = if c.name == "argmin" {
        c.t.argmin(d, keepdim)
    } else {
        c.t.argmax(d, keepdim)
    };
    c.done(r)
});

// `pow`.
method!(pow, ["exponent"], 1, |c| {
    let exponent = c.float("exponent")?;
    c.done(c.t.pow(exponent))
});

// `add`, `sub`, `mul`, `div`, `true_divide`: the operators' Tensor overloads, a number operand
// wrapped as theirs is (`x.mul(2)` saves the 2 as `x * 2` does); `add`/`sub` take `alpha=`
// and `div` takes `rounding_mode=` (super::arith_options).
method!(
    arith,
    |name| match name {
        "add" | "sub" => &["other", "alpha"],
        "div" => &["other", "rounding_mode"],
        _ => &["other"],
    },
    1,
    |c| {
        let other = c.b.raw("other").cloned().unwrap_or(Value::None);
        if let Some(r) = super::arith_options::with_options(&c, &other, false)? {
            return Ok(r);
        }
        let op = match c.name {
            "add" => BinOp::Add,
            "sub" => BinOp::Sub,
            "mul" => BinOp::Mul,
            _ => BinOp::Div,
        };
        binary(&Value::Tensor(c.t.clone()), op, &other).map_err(|e| match e {
            Ok(e) => c.it.tensor_error(c.span, e),
            Err(message) => c.it.fail(c.span, message),
        })
    }
);

// `add_`, `sub_`, `mul_`, `fill_`.
method!(inplace_arith, ["other", "alpha"], 1, |c| {
    let (t, name) = (c.t, c.name);
    let other = c.b.raw("other").cloned().unwrap_or(Value::None);
    let alpha = match c.b.get("alpha") {
        Some(v) => Some(expect_float(c.it, v, "alpha", c.span)?),
        None => None,
    };
    let r = match (name, &other, alpha) {
        ("fill_", v, None) => match scalar(v) {
            Some(s) => t.fill_(s),
            None => return Err(c.it.fail(c.span, "TypeError: fill_() expects a number")),
        },
        ("add_", Value::Tensor(o), Some(a)) => t.add_alpha_(o, a),
        ("sub_", Value::Tensor(o), Some(a)) => t.sub_alpha_(o, a),
        (_, _, Some(_)) => {
            return Err(c.it.fail(
                c.span,
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
    c.done(r)
});

// `requires_grad_`.
method!(requires_grad_, ["requires_grad"], 0, |c| {
    let flag = c.flag("requires_grad", true)?;
    c.done(c.t.set_requires_grad(flag).map(|()| c.t.clone()))
});

// `exp`, `log`, `sqrt`, `tanh`, `sigmoid`, `abs`, `gelu`, `silu`, `contiguous`.
method!(
    unary,
    |name| if name == "gelu" {
        &["approximate"]
    } else {
        &[]
    },
    0,
    |c| {
        if let Some(v) = c.b.get("approximate") {
            if !matches!(v, Value::Str(s) if s.as_ref() == "none") {
                return Err(c
                    .it
                    .fail(
                        c.span,
                        "gelu(approximate='tanh') is not supported in scenarios",
                    )
                    .with_help("use the default approximate='none'"));
            }
        }
        let t = c.t;
        let r = match c.name {
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
        c.done(r)
    }
);

// `transpose`.
method!(transpose, ["dim0", "dim1"], 2, |c| {
    let (d0, d1) = (c.int("dim0")?, c.int("dim1")?);
    c.done(c.t.transpose(d0 as isize, d1 as isize))
});

/// `permute`, `view`, `reshape`.
pub(super) fn shape_op(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let what = if name == "permute" { "dims" } else { "shape" };
    let ints = super::args::ints_or_keyword(it, name, &args, what, span)?;
    let r = match name {
        "permute" => t.permute(&ints),
        "view" => t.view(&ints),
        _ => t.reshape(&ints),
    };
    check_rt(it, r, span)
}

// `squeeze`.
method!(squeeze, ["dim"], 0, |c| c.done(c.t.squeeze(c.dim("dim")?)));

// `unsqueeze`.
method!(unsqueeze, ["dim"], 1, |c| {
    let d = c.int("dim")?;
    // unsqueeze wraps against dim() + 1: -1 appends a dimension.
    let n = c.t.dim() as i64 + 1;
    if d < -n || d >= n {
        return Err(c.it.fail(c.span, format!("IndexError: Dimension out of range (expected to be in range of [{}, {}], but got {d})", -n, n - 1)));
    }
    c.done(c.t.unsqueeze(if d < 0 { d + n } else { d } as usize))
});

// `flatten`.
method!(flatten, ["start_dim", "end_dim"], 0, |c| {
    let start = c.dim("start_dim")?.unwrap_or(0);
    let end = match c.b.get("end_dim") {
        Some(v) => expect_int(c.it, v, "end_dim", c.span)? as isize,
        None => -1,
    };
    c.done(c.t.flatten(start, end))
});

// `unflatten(dim, sizes)`: dimension `dim` split into `sizes` (one of them may be -1), as
// ATen's `unflatten` does it, through `view` (ViewBackward0).
method!(unflatten, ["dim", "sizes"], 2, |c| {
    let dim = required_dim(c.it, &c.b, c.name, c.span)?;
    let sizes = ints_of(
        c.it,
        &[c.b.get("sizes").cloned().unwrap_or(Value::None)],
        "sizes",
        c.span,
    )?;
    let t = c.t;
    let rank = t.dim() as isize;
    let d = if dim < 0 { dim + rank } else { dim };
    if d < 0 || d >= rank {
        return Err(c.it.fail(
            c.span,
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
    c.done(t.view(&shape))
});

// `F.linear(input, weight, bias=None)`.
method!(linear, ["weight", "bias"], 1, |c| {
    let weight = expect_tensor(c.it, c.b.get("weight"), "weight", c.span)?;
    let bias = match c.b.get("bias") {
        None | Some(Value::None) => None,
        v => Some(expect_tensor(c.it, v, "bias", c.span)?),
    };
    c.done(c.t.linear(&weight, bias.as_ref()))
});

// `softmax`, `log_softmax`.
method!(softmax, ["dim", "dtype"], 0, |c| {
    let t = c.t;
    let d = required_dim(c.it, &c.b, c.name, c.span)?;
    // Without `dtype=`, autocast may choose one; an explicit one is the caller's.
    let r = match c.b.get("dtype") {
        None | Some(Value::None) if c.name == "softmax" => t.softmax(d),
        None | Some(Value::None) => t.log_softmax(d),
        dtype => {
            let dtype = Some(super::args::dtype_arg(c.it, dtype, t.dtype(), c.span)?);
            if c.name == "softmax" {
                t.softmax_dtype(d, dtype)
            } else {
                t.log_softmax_dtype(d, dtype)
            }
        }
    };
    c.done(r)
});

// `max()`, `max(dim, keepdim=False)` (values and indices) and `max(other)` (`maximum`); `min`
// alike.
method!(extremum, ["dim", "keepdim"], 0, |c| {
    let is_min = c.name == "min";
    let other = match c.b.get("dim") {
        Some(Value::Tensor(o)) => Some(o.clone()),
        _ => None,
    };
    let d = match other {
        Some(_) => None,
        None => c.dim("dim")?,
    };
    // `keepdim` belongs to the `(dim, keepdim)` overload only.
    if d.is_none() && c.b.get("keepdim").is_some() {
        return Err(c.it.fail(
            c.span,
            format!(
                "TypeError: {}() received an invalid combination of arguments",
                c.name
            ),
        ));
    }
    if let Some(o) = other {
        return c.done(if is_min {
            c.t.minimum(&o)
        } else {
            c.t.maximum(&o)
        });
    }
    let Some(d) = d else {
        return c.done(if is_min { c.t.min() } else { c.t.max() });
    };
    let keepdim = c.flag("keepdim", false)?;
    let r = c.t.max_dim(d, keepdim, is_min);
    super::math::values_and_indices(c, if is_min { "min" } else { "max" }, r)
});

// `narrow`.
method!(narrow, ["dim", "start", "length"], 3, |c| {
    let (d, start, length) = (c.int("dim")?, c.int("start")?, c.int("length")?);
    c.done(c.t.narrow(d as isize, start, length))
});

// `select`.
method!(select, ["dim", "index"], 2, |c| {
    let (d, i) = (c.int("dim")?, c.int("index")?);
    c.done(c.t.select_dim(d as isize, i))
});

// `dropout`.
method!(dropout, ["p", "training", "inplace"], 0, |c| {
    let p = match c.b.get("p") {
        Some(v) => expect_float(c.it, v, "p", c.span)?,
        None => 0.5,
    };
    let training = c.flag("training", true)?;
    if c.flag("inplace", false)? {
        return Err(c
            .it
            .fail(
                c.span,
                format!("{}(inplace=True) is not supported in scenarios", c.name),
            )
            .with_help("use the default inplace=False"));
    }
    c.done(if c.name == "dropout2d" {
        c.t.dropout2d(p, training)
    } else {
        c.t.dropout(p, training)
    })
});

// `layer_norm`.
method!(
    layer_norm,
    ["normalized_shape", "weight", "bias", "eps"],
    1,
    |c| {
        let (it, b, span) = (&*c.it, &c.b, c.span);
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
        c.done(c.t.layer_norm(&shape, weight.as_ref(), bias.as_ref(), eps))
    }
);

// `matmul`, `bmm`.
method!(
    matmul,
    |name| if name == "bmm" { &["mat2"] } else { &["other"] },
    1,
    |c| {
        let r = if c.name == "bmm" {
            c.t.bmm(&c.tensor("mat2")?)
        } else {
            c.t.matmul(&c.tensor("other")?)
        };
        c.done(r)
    }
);
