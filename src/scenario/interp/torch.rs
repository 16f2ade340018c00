//! The torch API of the subset (`docs/scenarios.md`, "Library surface"): torch functions,
//! `nn` modules, optimizers, and tensor methods and attributes, bound to the runtime.

use std::cell::RefCell;
use std::rc::Rc;

use super::args::{Bound, CallArgs};
use super::builtins::{is_list_method, new_list};
use super::objects::{ModuleKind, ModuleRef, OptimizerRef};
use super::value::{Path, Value};
use super::{Interp, R};
use crate::base::{DType, Device, TensorError};
use crate::nn::{CrossEntropyLoss, Linear, MSELoss, ReLU, Reduction};
use crate::optim::{Adam, AdamOptions, AdamW, Optimizer, Sgd, SgdOptions};
use crate::scenario::{BinOp, CmpOp, Span};
use crate::tensor::{Scalar, Tensor};

const NAMESPACES: [&str; 7] = [
    "torch",
    "torch._C",
    "torch.nn",
    "torch.nn.utils",
    "torch.nn.functional",
    "torch.optim",
    "torch.cuda",
];

/// Operations of one tensor exposed both as `torch.NAME(input, ...)` and as the method
/// `input.NAME(...)`, with the same parameters after `input` ([`tensor_op`] runs both).
const TORCH_AND_METHOD: &[&str] = &[
    "exp",
    "log",
    "sqrt",
    "tanh",
    "sigmoid",
    "abs",
    "transpose",
    "permute",
    "squeeze",
    "unsqueeze",
    "flatten",
    "reshape",
    "softmax",
    "log_softmax",
    "matmul",
    "bmm",
    "max",
    "min",
    "narrow",
    "select",
];

/// `torch.*` functions of a list of tensors.
const TORCH_JOINS: &[&str] = &["cat", "stack"];

/// Operations of one tensor in `torch.nn.functional`, run by [`tensor_op`] too.
const FUNCTIONAL: &[&str] = &[
    "gelu",
    "silu",
    "tanh",
    "sigmoid",
    "softmax",
    "log_softmax",
    "dropout",
    "layer_norm",
];

/// Methods only tensors have (no `torch.*` form here), also run by [`tensor_op`].
const METHOD_ONLY: &[&str] = &["view", "contiguous"];

/// Functions and classes of each namespace.
const FUNCTIONS: [(&str, &[&str]); 7] = [
    // Private, but what PyTorch's own tests call to give back the cuBLAS workspaces.
    ("torch._C", &["_cuda_clearCublasWorkspaces"]),
    (
        "torch",
        &[
            "randn",
            "rand",
            "zeros",
            "ones",
            "empty",
            "randint",
            "tensor",
            "no_grad",
            "enable_grad",
            "set_grad_enabled",
            "is_grad_enabled",
            "inference_mode",
            "manual_seed",
            "device",
        ],
    ),
    (
        "torch.nn",
        &[
            "Linear",
            "ReLU",
            "Sequential",
            "MSELoss",
            "CrossEntropyLoss",
        ],
    ),
    (
        "torch.nn.functional",
        &["mse_loss", "cross_entropy", "relu", "l1_loss", "nll_loss"],
    ),
    ("torch.optim", &["SGD", "Adam", "AdamW"]),
    ("torch.nn.utils", &["clip_grad_norm_", "clip_grad_value_"]),
    (
        "torch.cuda",
        &[
            "is_available",
            "empty_cache",
            "memory_allocated",
            "memory_reserved",
            "max_memory_allocated",
            "max_memory_reserved",
            "reset_peak_memory_stats",
            "synchronize",
            "memory_summary",
            "device_count",
        ],
    ),
];

/// The value an `import` binds for a module path.
pub(super) fn namespace(path: &str) -> Value {
    Value::Path(Path(path.into()))
}

/// `module.attr` for a torch namespace: a sub-namespace, a function, or a dtype.
pub(super) fn attribute_of_path(module: &str, attr: &str) -> Option<Value> {
    let joined = format!("{module}.{attr}");
    if NAMESPACES.contains(&joined.as_str()) {
        return Some(namespace(&joined));
    }
    if module == "torch" {
        let dtype = match attr {
            "float32" | "float" => Some(DType::F32),
            "int64" | "long" => Some(DType::I64),
            "bool" => Some(DType::Bool),
            _ => None,
        };
        if let Some(d) = dtype {
            return Some(Value::DType(d));
        }
    }
    let known = match module {
        "torch" => TORCH_AND_METHOD.contains(&attr) || TORCH_JOINS.contains(&attr),
        "torch.nn.functional" => FUNCTIONAL.contains(&attr),
        _ => false,
    };
    let (_, names) = FUNCTIONS.iter().find(|(m, _)| *m == module)?;
    (known || names.contains(&attr)).then(|| Value::Path(Path(joined.into())))
}

/// A device named by a string (`"cuda"`, `"cuda:0"`, `"cpu"`).
pub(super) fn device_named(s: &str) -> Option<Device> {
    match s {
        "cuda" | "cuda:0" => Some(Device::Cuda),
        "cpu" => Some(Device::Cpu),
        _ => None,
    }
}

/// Python's `str()` of a value, as `print` shows it; tensors as PyTorch prints them.
pub(super) fn display(v: &Value) -> String {
    match v {
        Value::Tensor(t) => tensor_repr(t),
        other => other.to_string(),
    }
}

fn tensor_repr(t: &Tensor) -> String {
    let mut extras = Vec::new();
    if t.device() == Device::Cuda {
        extras.push("device='cuda:0'".to_string());
    }
    match t.dtype() {
        DType::I64 if t.numel() == 0 => extras.push("dtype=torch.int64".into()),
        _ => {}
    }
    if let Some(node) = t.grad_fn() {
        extras.push(format!("grad_fn=<{}>", node.name()));
    } else if t.requires_grad() {
        extras.push("requires_grad=True".into());
    }
    let body = if !t.has_data() {
        "...".to_string()
    } else {
        let fmt = |x: f64| match t.dtype() {
            DType::F32 => format!("{x:.4}"),
            DType::I64 => format!("{}", x as i64),
            DType::Bool => (if x != 0.0 { "True" } else { "False" }).to_string(),
        };
        let values: Vec<f64> = match t.dtype() {
            DType::I64 => t.to_vec_i64().into_iter().map(|v| v as f64).collect(),
            _ => t.to_vec_f32().into_iter().map(f64::from).collect(),
        };
        if t.dim() == 0 {
            fmt(values.first().copied().unwrap_or(0.0))
        } else {
            let shown: Vec<String> = values.iter().take(6).map(|&x| fmt(x)).collect();
            let more = if values.len() > 6 { ", ..." } else { "" };
            format!("[{}{more}]", shown.join(", "))
        }
    };
    if extras.is_empty() {
        format!("tensor({body})")
    } else {
        format!("tensor({body}, {})", extras.join(", "))
    }
}

/// The Python number a one-element tensor holds (`item()`): int for integer and bool tensors.
fn item_value(t: &Tensor) -> Result<Value, TensorError> {
    let x = t.item()?;
    Ok(match t.dtype() {
        DType::F32 => Value::Float(x),
        DType::I64 => Value::Int(x as i64),
        DType::Bool => Value::Bool(x != 0.0),
    })
}

pub(super) fn item(t: &Tensor) -> Result<f64, TensorError> {
    t.item()
}

/// `bool(tensor)`.
pub(super) fn tensor_bool(t: &Tensor) -> Result<bool, TensorError> {
    if t.numel() != 1 {
        return Err(TensorError::Invalid(
            "Boolean value of Tensor with more than one value is ambiguous".into(),
        ));
    }
    Ok(t.item()? != 0.0)
}

/// `len(x)` of a tensor or a Sequential.
pub(super) fn len(v: &Value) -> Result<usize, String> {
    match v {
        Value::Tensor(t) => t
            .shape()
            .first()
            .copied()
            .ok_or_else(|| "TypeError: len() of a 0-d tensor".to_string()),
        Value::Module(m) => m.children().map(<[ModuleRef]>::len).ok_or_else(|| {
            format!(
                "TypeError: object of type '{}' has no len()",
                module_name(m)
            )
        }),
        other => Err(format!(
            "TypeError: object of type '{}' has no len()",
            other.type_name()
        )),
    }
}

fn module_name(m: &ModuleRef) -> &'static str {
    match &*m.0 {
        ModuleKind::Linear(_) => "Linear",
        ModuleKind::ReLU(..) => "ReLU",
        ModuleKind::Sequential(_) => "Sequential",
        ModuleKind::MseLoss(_) => "MSELoss",
        ModuleKind::CrossEntropyLoss(_) => "CrossEntropyLoss",
    }
}

/// `model[i]` of a Sequential.
pub(super) fn module_index(m: &ModuleRef, i: i64) -> Result<Value, String> {
    let children = m.children().ok_or_else(|| {
        format!(
            "TypeError: '{}' object is not subscriptable",
            module_name(m)
        )
    })?;
    let len = children.len() as i64;
    let j = if i < 0 { i + len } else { i };
    if !(0..len).contains(&j) {
        return Err(format!("IndexError: index {i} is out of range"));
    }
    Ok(Value::Module(children[j as usize].clone()))
}

pub(super) fn neg(t: &Tensor) -> Result<Tensor, TensorError> {
    t.neg()
}

fn scalar(v: &Value) -> Option<Scalar> {
    match v {
        Value::Int(i) => Some(Scalar::Int(*i)),
        Value::Bool(b) => Some(Scalar::Int(*b as i64)),
        Value::Float(f) => Some(Scalar::Float(*f)),
        _ => None,
    }
}

fn unsupported_operands(l: &Value, op: BinOp, r: &Value) -> Result<TensorError, String> {
    Err(format!(
        "TypeError: unsupported operand type(s) for {}: '{}' and '{}'",
        op.symbol(),
        l.type_name(),
        r.type_name()
    ))
}

/// A binary operator with a tensor on at least one side. Errors are PyTorch's (`Ok`) or
/// Python's TypeError (`Err`).
pub(super) fn binary(
    l: &Value,
    op: BinOp,
    r: &Value,
) -> Result<Value, Result<TensorError, String>> {
    let result = match (l, r) {
        (Value::Tensor(a), Value::Tensor(b)) => match op {
            BinOp::Add => a.add(b),
            BinOp::Sub => a.sub(b),
            BinOp::Mul => a.mul(b),
            BinOp::Div => a.div(b),
            BinOp::MatMul => a.matmul(b),
            _ => return Err(unsupported_operands(l, op, r)),
        },
        (Value::Tensor(a), other) => {
            let Some(s) = scalar(other) else {
                return Err(unsupported_operands(l, op, r));
            };
            match op {
                BinOp::Add => a.add_scalar(s),
                BinOp::Sub => a.sub_scalar(s),
                BinOp::Mul => a.mul_scalar(s),
                BinOp::Div => a.div_scalar(s),
                BinOp::Pow => a.pow(s.as_f64()),
                _ => return Err(unsupported_operands(l, op, r)),
            }
        }
        (other, Value::Tensor(b)) => {
            let Some(s) = scalar(other) else {
                return Err(unsupported_operands(l, op, r));
            };
            match op {
                BinOp::Add => b.add_scalar(s),
                BinOp::Mul => b.mul_scalar(s),
                // `s - t` is torch.rsub: one output, computed here as -t + s in place.
                BinOp::Sub => b.mul_scalar(Scalar::Int(-1)).and_then(|n| n.add_scalar_(s)),
                // `s / t` is `t.reciprocal() * s`, as Tensor.__rdiv__ computes it.
                BinOp::Div => b.pow(-1.0).and_then(|rec| rec.mul_scalar(s)),
                _ => return Err(unsupported_operands(l, op, r)),
            }
        }
        _ => return Err(unsupported_operands(l, op, r)),
    };
    result.map(Value::Tensor).map_err(Ok)
}

/// `t op= rhs` on a tensor: in place, as `Tensor.__iadd__` and friends.
pub(super) fn inplace_binary(t: &Tensor, op: BinOp, rhs: &Value) -> Result<(), TensorError> {
    let unsupported = || {
        TensorError::Invalid(format!(
            "unsupported operand type(s) for {}=: 'Tensor' and '{}'",
            op.symbol(),
            rhs.type_name()
        ))
    };
    match rhs {
        Value::Tensor(o) => match op {
            BinOp::Add => t.add_(o),
            BinOp::Sub => t.sub_(o),
            BinOp::Mul => t.mul_(o),
            _ => return Err(unsupported()),
        },
        other => {
            let s = scalar(other).ok_or_else(unsupported)?;
            match op {
                BinOp::Add => t.add_scalar_(s),
                BinOp::Sub => t.sub_scalar_(s),
                BinOp::Mul => t.mul_scalar_(s),
                BinOp::Div => t.mul_scalar_(Scalar::Float(1.0 / s.as_f64())),
                _ => return Err(unsupported()),
            }
        }
    }
    .map(|_| ())
}

/// A comparison with a tensor on a side: an element-wise bool tensor. `None` for `is`/`in`,
/// which compare objects.
pub(super) fn compare(l: &Value, op: CmpOp, r: &Value) -> Option<Result<Value, TensorError>> {
    let (t, other, flipped) = match (l, r) {
        (Value::Tensor(t), o) => (t, o, false),
        (o, Value::Tensor(t)) => (t, o, true),
        _ => return None,
    };
    // `a < t` is `t > a`.
    let op = match (op, flipped) {
        (CmpOp::Lt, true) => CmpOp::Gt,
        (CmpOp::Gt, true) => CmpOp::Lt,
        (CmpOp::LtE, true) => CmpOp::GtE,
        (CmpOp::GtE, true) => CmpOp::LtE,
        (op, _) => op,
    };
    let result = match other {
        Value::Tensor(o) => match op {
            CmpOp::Eq => t.eq(o),
            CmpOp::NotEq => t.ne(o),
            CmpOp::Lt => t.lt(o),
            CmpOp::LtE => t.le(o),
            CmpOp::Gt => t.gt(o),
            CmpOp::GtE => t.ge(o),
            _ => return None,
        },
        o => {
            let s = scalar(o)?;
            match op {
                CmpOp::Eq => t.eq_scalar(s),
                CmpOp::NotEq => t.ne_scalar(s),
                CmpOp::Lt => t.lt_scalar(s),
                CmpOp::LtE => t.le_scalar(s),
                CmpOp::Gt => t.gt_scalar(s),
                CmpOp::GtE => t.ge_scalar(s),
                _ => return None,
            }
        }
    };
    Some(result.map(Value::Tensor))
}

/// Attributes that are values (`x.shape`, `p.grad`, `linear.weight`); `None` when `attr` is a
/// method or unknown.
pub(super) fn get_attr(obj: &Value, attr: &str) -> Option<Value> {
    match obj {
        Value::Tensor(t) => Some(match attr {
            "shape" => Value::size(t.shape()),
            "grad" => t.grad().map_or(Value::None, Value::Tensor),
            "requires_grad" => Value::Bool(t.requires_grad()),
            "is_leaf" => Value::Bool(t.is_leaf()),
            "device" => Value::Device(t.device()),
            "dtype" => Value::DType(t.dtype()),
            "grad_fn" => t.grad_fn().map_or(Value::None, |n| {
                Value::Str(format!("<{}>", n.name()).into())
            }),
            "T" if t.dim() == 2 => return t.t().ok().map(Value::Tensor),
            _ => return None,
        }),
        Value::Module(m) => match (&*m.0, attr) {
            (ModuleKind::Linear(l), "weight") => Some(Value::Tensor(l.weight.clone())),
            (ModuleKind::Linear(l), "bias") => {
                Some(l.bias.clone().map_or(Value::None, Value::Tensor))
            }
            (_, "training") => Some(Value::Bool(m.is_training())),
            _ => None,
        },
        _ => None,
    }
}

/// `obj.attr = value`.
pub(super) fn set_attr(obj: &Value, attr: &str, value: Value) -> Result<(), String> {
    match (obj, attr) {
        (Value::Tensor(t), "grad") => match value {
            Value::None => {
                t.set_grad(None);
                Ok(())
            }
            Value::Tensor(g) => {
                if g.shape() != t.shape() {
                    return Err("RuntimeError: assigned grad has data of a different size".into());
                }
                t.set_grad(Some(g));
                Ok(())
            }
            other => Err(format!(
                "TypeError: assigned grad expected to be a Tensor or None but got grad of type {}",
                other.type_name()
            )),
        },
        (Value::Tensor(t), "requires_grad") => match value {
            Value::Bool(b) => t
                .set_requires_grad(b)
                .map_err(|e| format!("RuntimeError: {e}")),
            other => Err(format!(
                "TypeError: requires_grad must be a bool, not {}",
                other.type_name()
            )),
        },
        (other, _) => Err(format!(
            "AttributeError: attribute '{attr}' of '{}' objects is not writable in scenarios",
            other.type_name()
        )),
    }
}

const TENSOR_METHODS: &[&str] = &[
    "backward",
    "register_hook",
    "detach",
    "item",
    "cpu",
    "cuda",
    "to",
    "sum",
    "mean",
    "argmax",
    "relu",
    "relu_",
    "add_",
    "mul_",
    "sub_",
    "zero_",
    "clone",
    "float",
    "long",
    "pow",
    "t",
    "numel",
    "size",
    "dim",
    "requires_grad_",
    "fill_",
];
const MODULE_METHODS: [&str; 7] = [
    "to",
    "cuda",
    "cpu",
    "parameters",
    "train",
    "eval",
    "zero_grad",
];
const OPTIMIZER_METHODS: [&str; 2] = ["step", "zero_grad"];

/// Whether `obj.name(...)` is a method of the subset.
pub(super) fn has_method(obj: &Value, name: &str) -> bool {
    match obj {
        Value::Tensor(_) => {
            TENSOR_METHODS.contains(&name)
                || TORCH_AND_METHOD.contains(&name)
                || METHOD_ONLY.contains(&name)
        }
        Value::Module(_) => MODULE_METHODS.contains(&name),
        Value::Optimizer(_) => OPTIMIZER_METHODS.contains(&name),
        Value::List(_) => is_list_method(name),
        _ => false,
    }
}

fn bind(
    it: &Interp<'_>,
    args: &CallArgs,
    func: &str,
    params: &'static [&'static str],
    required: usize,
    span: Span,
) -> R<Bound> {
    args.bind(func, params, required)
        .map_err(|m| it.fail(span, m))
}

fn expect_tensor(it: &Interp<'_>, v: Option<&Value>, what: &str, span: Span) -> R<Tensor> {
    match v {
        Some(Value::Tensor(t)) => Ok(t.clone()),
        Some(other) => Err(it.fail(
            span,
            format!(
                "TypeError: {what} must be Tensor, not {}",
                other.type_name()
            ),
        )),
        None => Err(it.fail(span, format!("TypeError: missing argument {what}"))),
    }
}

fn expect_int(it: &Interp<'_>, v: &Value, what: &str, span: Span) -> R<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(*b as i64),
        other => Err(it.fail(
            span,
            format!("TypeError: {what} must be int, not {}", other.type_name()),
        )),
    }
}

fn expect_float(it: &Interp<'_>, v: &Value, what: &str, span: Span) -> R<f64> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::Bool(b) => Ok(*b as i64 as f64),
        other => Err(it.fail(
            span,
            format!(
                "TypeError: {what} must be a number, not {}",
                other.type_name()
            ),
        )),
    }
}

fn expect_bool(
    it: &Interp<'_>,
    v: Option<&Value>,
    default: bool,
    what: &str,
    span: Span,
) -> R<bool> {
    match v {
        None | Some(Value::None) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Int(i)) => Ok(*i != 0),
        Some(other) => Err(it.fail(
            span,
            format!("TypeError: {what} must be bool, not {}", other.type_name()),
        )),
    }
}

fn device_arg(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<Device> {
    match v {
        None | Some(Value::None) => Ok(Device::Cpu),
        Some(Value::Device(d)) => Ok(*d),
        Some(Value::Str(s)) => device_named(s).ok_or_else(|| {
            it.fail(span, format!("RuntimeError: Expected one of cpu, cuda device type at start of device string: {s}"))
        }),
        Some(other) => Err(it.fail(span, format!("TypeError: device must be a string or torch.device, not {}", other.type_name()))),
    }
}

fn dtype_arg(it: &Interp<'_>, v: Option<&Value>, default: DType, span: Span) -> R<DType> {
    match v {
        None | Some(Value::None) => Ok(default),
        Some(Value::DType(d)) => Ok(*d),
        Some(other) => Err(it.fail(
            span,
            format!(
                "TypeError: dtype must be torch.dtype, not {}",
                other.type_name()
            ),
        )),
    }
}

fn reduction_arg(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<Reduction> {
    match v {
        None => Ok(Reduction::Mean),
        Some(Value::Str(s)) => match s.as_ref() {
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            "none" => Ok(Reduction::None),
            other => Err(it.fail(
                span,
                format!("ValueError: {other} is not a valid value for reduction"),
            )),
        },
        Some(other) => Err(it.fail(
            span,
            format!(
                "TypeError: reduction must be str, not {}",
                other.type_name()
            ),
        )),
    }
}

/// A shape given as `f(2, 3)` or `f((2, 3))` / `f([2, 3])`.
fn shape_of(it: &Interp<'_>, values: &[Value], span: Span) -> R<Vec<usize>> {
    let items: Vec<Value> = match values {
        [Value::Tuple(t)] => t.as_ref().clone(),
        [Value::List(l)] => l.borrow().iter().map(|s| s.value.clone()).collect(),
        many => many.to_vec(),
    };
    items
        .iter()
        .map(|v| {
            let n = expect_int(it, v, "size", span)?;
            usize::try_from(n).map_err(|_| {
                it.fail(
                    span,
                    format!("RuntimeError: Trying to create tensor with negative dimension {n}"),
                )
            })
        })
        .collect()
}

fn check_rt(it: &Interp<'_>, r: Result<Tensor, TensorError>, span: Span) -> R<Value> {
    r.map(Value::Tensor).map_err(|e| it.tensor_error(span, e))
}

/// A factory call: `torch.randn(*size, device=, dtype=, requires_grad=)` and friends.
fn factory(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
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
    let device = device_arg(it, args.keyword("device"), span)?;
    let float_default = if name == "randint" {
        DType::I64
    } else {
        DType::F32
    };
    let dtype = dtype_arg(it, args.keyword("dtype"), float_default, span)?;
    let requires_grad = expect_bool(
        it,
        args.keyword("requires_grad"),
        false,
        "requires_grad",
        span,
    )?;
    let rt = it.rt.clone();
    let t = match name {
        "randn" | "rand" if dtype != DType::F32 => {
            return Err(it.fail(
                span,
                format!(
                    "RuntimeError: \"normal_kernel_cpu\" not implemented for '{}'",
                    dtype
                ),
            ))
        }
        "randn" => rt.randn(&shape, device),
        "rand" => rt.rand(&shape, device),
        "zeros" => rt.zeros(&shape, dtype, device),
        "ones" => rt.ones(&shape, dtype, device),
        "empty" => rt.empty(&shape, dtype, device),
        _ => rt.randint(low, high, &shape, device),
    };
    let t = t.map_err(|e| it.tensor_error(span, e))?;
    if requires_grad {
        t.set_requires_grad(true)
            .map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Tensor(t))
}

/// `torch.tensor(data, dtype=, device=, requires_grad=)` from (nested) lists of numbers.
fn tensor_from_data(it: &mut Interp<'_>, args: CallArgs, span: Span) -> R<Value> {
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
    let dtype = dtype_arg(
        it,
        b.get("dtype"),
        if all_int { DType::I64 } else { DType::F32 },
        span,
    )?;
    let rt = it.rt.clone();
    let t = match dtype {
        DType::I64 => rt.tensor_i64(
            &values.iter().map(|&v| v as i64).collect::<Vec<_>>(),
            &shape,
            device,
        ),
        DType::F32 => rt.tensor(
            &values.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            &shape,
            device,
        ),
        DType::Bool => Err(TensorError::Unsupported(
            "torch.tensor(..., dtype=torch.bool); compare tensors instead".into(),
        )),
    }
    .map_err(|e| it.tensor_error(span, e))?;
    if expect_bool(it, b.get("requires_grad"), false, "requires_grad", span)? {
        t.set_requires_grad(true)
            .map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Tensor(t))
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

/// Calls a torch function or class by its dotted path.
pub(super) fn call_path(it: &mut Interp<'_>, path: &str, args: CallArgs, span: Span) -> R<Value> {
    let rt = it.rt.clone();
    let (module, name) = path.rsplit_once('.').unwrap_or(("", path));
    match (module, name) {
        ("torch", "randn" | "rand" | "zeros" | "ones" | "empty" | "randint") => {
            factory(it, name, args, span)
        }
        ("torch", "tensor") => tensor_from_data(it, args, span),
        ("torch", "no_grad" | "enable_grad") => {
            bind(it, &args, name, &[], 0, span)?;
            Ok(Value::GradMode(name == "enable_grad"))
        }
        ("torch", "manual_seed") => {
            let b = bind(it, &args, "manual_seed", &["seed"], 1, span)?;
            let seed = expect_int(it, b.raw("seed").unwrap_or(&Value::None), "seed", span)?;
            rt.manual_seed(seed as u64);
            Ok(Value::None)
        }
        ("torch", "device") => {
            let b = bind(it, &args, "device", &["type"], 1, span)?;
            Ok(Value::Device(device_arg(it, b.raw("type"), span)?))
        }
        ("torch.cuda", _) => cuda(it, name, args, span),
        ("torch._C", "_cuda_clearCublasWorkspaces") => {
            bind(it, &args, path, &[], 0, span)?;
            it.rt
                .clear_blas_workspaces()
                .map_err(|e| it.tensor_error(span, e))?;
            Ok(Value::None)
        }
        ("torch.nn", _) => module_class(it, name, args, span),
        ("torch.nn.functional", "mse_loss" | "cross_entropy" | "l1_loss" | "nll_loss") => {
            let b = bind(it, &args, name, &["input", "target", "reduction"], 2, span)?;
            let input = expect_tensor(it, b.raw("input"), "input", span)?;
            let target = expect_tensor(it, b.raw("target"), "target", span)?;
            let reduction = reduction_arg(it, b.get("reduction"), span)?;
            let r = match name {
                "mse_loss" => input.mse_loss(&target, reduction),
                "l1_loss" => input.l1_loss(&target, reduction),
                "nll_loss" => input.nll_loss(&target, reduction),
                _ => input.cross_entropy(&target, reduction),
            };
            check_rt(it, r, span)
        }
        ("torch.nn.functional", "relu") => {
            let b = bind(it, &args, "relu", &["input", "inplace"], 1, span)?;
            let input = expect_tensor(it, b.raw("input"), "input", span)?;
            let r = if expect_bool(it, b.get("inplace"), false, "inplace", span)? {
                input.relu_()
            } else {
                input.relu()
            };
            check_rt(it, r, span)
        }
        ("torch.optim", _) => optimizer(it, name, args, span),
        ("torch.nn.utils", _) => clip(it, name, args, span),
        ("torch", op) if TORCH_JOINS.contains(&op) => {
            let b = bind(it, &args, name, &["tensors", "dim"], 1, span)?;
            let items: Vec<Value> = match b.raw("tensors") {
                Some(Value::List(l)) => l.borrow().iter().map(|s| s.value.clone()).collect(),
                Some(Value::Tuple(t)) => t.as_ref().clone(),
                _ => {
                    return Err(it.fail(
                        span,
                        format!("TypeError: {name}(): argument 'tensors' must be a tuple or list of Tensors"),
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
        ("torch", op) if TORCH_AND_METHOD.contains(&op) => {
            let (input, rest) = split_input(it, name, args, span)?;
            tensor_op(it, &input, name, rest, span)
        }
        ("torch.nn.functional", op) if FUNCTIONAL.contains(&op) => {
            let (input, rest) = split_input(it, name, args, span)?;
            tensor_op(it, &input, name, rest, span)
        }
        _ => Err(it
            .fail(span, format!("{path} is not supported in scenarios"))
            .with_help("see docs/scenarios.md for the supported torch API")),
    }
}

/// `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.
fn clip(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let norm = name == "clip_grad_norm_";
    let params: &'static [&'static str] = if norm {
        &[
            "parameters",
            "max_norm",
            "norm_type",
            "error_if_nonfinite",
            "foreach",
        ]
    } else {
        &["parameters", "clip_value", "foreach"]
    };
    let b = bind(it, &args, name, params, 2, span)?;
    let tensors: Vec<Tensor> = match b.raw("parameters") {
        Some(Value::Tensor(t)) => vec![t.clone()],
        Some(Value::List(l)) => l
            .borrow()
            .iter()
            .map(|s| expect_tensor(it, Some(&s.value), "parameters", span))
            .collect::<R<_>>()?,
        Some(Value::Tuple(t)) => t
            .iter()
            .map(|v| expect_tensor(it, Some(v), "parameters", span))
            .collect::<R<_>>()?,
        Some(other) => {
            return Err(it.fail(
                span,
                format!(
                    "TypeError: {name}() expects a tensor or a list of tensors, not {}",
                    other.type_name()
                ),
            ))
        }
        None => Vec::new(),
    };
    let value = params[1];
    let limit = expect_float(it, b.raw(value).unwrap_or(&Value::None), value, span)?;
    if norm {
        if let Some(v) = b.get("norm_type") {
            if expect_float(it, v, "norm_type", span)? != 2.0 {
                return Err(it
                    .fail(span, "clip_grad_norm_ with a norm_type other than 2 is not supported in scenarios")
                    .with_help("use the default norm_type=2.0"));
            }
        }
        if expect_bool(
            it,
            b.get("error_if_nonfinite"),
            false,
            "error_if_nonfinite",
            span,
        )? {
            return Err(it.fail(
                span,
                "clip_grad_norm_(error_if_nonfinite=True) is not supported in scenarios",
            ));
        }
        if tensors.is_empty() {
            return check_rt(it, it.rt.tensor(&[0.0], &[], Device::Cpu), span);
        }
        check_rt(it, crate::nn::clip_grad_norm_(&tensors, limit), span)
    } else {
        crate::nn::clip_grad_value_(&tensors, limit).map_err(|e| it.tensor_error(span, e))?;
        Ok(Value::None)
    }
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
        "memory_reserved" => Value::Int(rt.memory_reserved() as i64),
        "max_memory_allocated" => Value::Int(rt.allocator().max_memory_allocated() as i64),
        "max_memory_reserved" => Value::Int(rt.allocator().max_memory_reserved() as i64),
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

fn module_class(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let rt = it.rt.clone();
    let kind = match name {
        "Linear" => {
            let b = bind(
                it,
                &args,
                "Linear",
                &["in_features", "out_features", "bias", "device"],
                2,
                span,
            )?;
            let fin = expect_int(
                it,
                b.raw("in_features").unwrap_or(&Value::None),
                "in_features",
                span,
            )?;
            let fout = expect_int(
                it,
                b.raw("out_features").unwrap_or(&Value::None),
                "out_features",
                span,
            )?;
            let (Ok(fin), Ok(fout)) = (usize::try_from(fin), usize::try_from(fout)) else {
                return Err(it.fail(
                    span,
                    "RuntimeError: Trying to create tensor with negative dimension",
                ));
            };
            let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
            let device = device_arg(it, b.get("device"), span)?;
            let layer = Linear::new(&rt, fin, fout, bias).map_err(|e| it.tensor_error(span, e))?;
            let m = ModuleRef::new(ModuleKind::Linear(layer));
            if device == Device::Cuda {
                m.to(device).map_err(|e| it.tensor_error(span, e))?;
            }
            return Ok(Value::Module(m));
        }
        "ReLU" => {
            let b = bind(it, &args, "ReLU", &["inplace"], 0, span)?;
            let inplace = expect_bool(it, b.get("inplace"), false, "inplace", span)?;
            ModuleKind::ReLU(ReLU::new(inplace), inplace)
        }
        "Sequential" => {
            args.only_keywords("Sequential", &[])
                .map_err(|m| it.fail(span, m))?;
            let children = args
                .pos
                .iter()
                .map(|v| match v {
                    Value::Module(m) => Ok(m.clone()),
                    other => Err(it.fail(
                        span,
                        format!("TypeError: {} is not a Module subclass", other.type_name()),
                    )),
                })
                .collect::<R<Vec<_>>>()?;
            ModuleKind::Sequential(children)
        }
        "MSELoss" | "CrossEntropyLoss" => {
            let b = bind(it, &args, name, &["reduction"], 0, span)?;
            let reduction = reduction_arg(it, b.get("reduction"), span)?;
            if name == "MSELoss" {
                ModuleKind::MseLoss(MSELoss { reduction })
            } else {
                ModuleKind::CrossEntropyLoss(CrossEntropyLoss { reduction })
            }
        }
        _ => {
            return Err(it.fail(
                span,
                format!("torch.nn.{name} is not supported in scenarios"),
            ))
        }
    };
    Ok(Value::Module(ModuleRef::new(kind)))
}

/// `module(x)` or `criterion(input, target)`.
pub(super) fn call_module(
    it: &mut Interp<'_>,
    m: &ModuleRef,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    args.only_keywords(module_name(m), &[])
        .map_err(|msg| it.fail(span, msg))?;
    let result = match args.pos.as_slice() {
        [Value::Tensor(x)] => m.forward(x),
        [Value::Tensor(input), Value::Tensor(target)] => m.loss(input, target),
        _ => None,
    };
    match result {
        Some(r) => check_rt(it, r, span),
        None => {
            let expected = if m
                .forward(
                    &it.rt
                        .empty(&[0], DType::F32, Device::Cpu)
                        .map_err(|e| it.tensor_error(span, e))?,
                )
                .is_some()
            {
                "one tensor"
            } else {
                "an input and a target tensor"
            };
            Err(it.fail(
                span,
                format!("TypeError: {}() takes {expected}", module_name(m)),
            ))
        }
    }
}

/// `receiver.name(args)` for tensors, modules and optimizers.
pub(super) fn call_method(
    it: &mut Interp<'_>,
    recv: Value,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    match &recv {
        Value::Tensor(t) => tensor_method(it, t, name, args, span),
        Value::Module(m) => module_method(it, m, name, args, span),
        Value::Optimizer(o) => {
            let o = o.clone();
            match name {
                "step" => {
                    bind(it, &args, "step", &["closure"], 0, span)?;
                    o.inner
                        .borrow_mut()
                        .step()
                        .map_err(|e| it.tensor_error(span, e))?;
                    Ok(Value::None)
                }
                _ => {
                    let b = bind(it, &args, "zero_grad", &["set_to_none"], 0, span)?;
                    let set_to_none =
                        expect_bool(it, b.get("set_to_none"), true, "set_to_none", span)?;
                    o.inner
                        .borrow_mut()
                        .zero_grad(set_to_none)
                        .map_err(|e| it.tensor_error(span, e))?;
                    Ok(Value::None)
                }
            }
        }
        other => Err(it.fail(
            span,
            format!(
                "AttributeError: '{}' object has no attribute '{name}'",
                other.type_name()
            ),
        )),
    }
}

fn module_method(
    it: &mut Interp<'_>,
    m: &ModuleRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let this = Value::Module(m.clone());
    match name {
        "to" | "cuda" | "cpu" => {
            let device = match name {
                "cuda" => Device::Cuda,
                "cpu" => Device::Cpu,
                _ => {
                    let b = bind(it, &args, "to", &["device"], 1, span)?;
                    device_arg(it, b.raw("device"), span)?
                }
            };
            if name != "to" {
                bind(it, &args, name, &["device"], 0, span)?;
            }
            m.to(device).map_err(|e| it.tensor_error(span, e))?;
            Ok(this)
        }
        "parameters" => {
            bind(it, &args, "parameters", &["recurse"], 0, span)?;
            Ok(new_list(
                m.parameters().into_iter().map(Value::Tensor).collect(),
                span,
            ))
        }
        "train" => {
            let b = bind(it, &args, "train", &["mode"], 0, span)?;
            m.train(expect_bool(it, b.get("mode"), true, "mode", span)?);
            Ok(this)
        }
        "eval" => {
            bind(it, &args, "eval", &[], 0, span)?;
            m.train(false);
            Ok(this)
        }
        _ => {
            let b = bind(it, &args, "zero_grad", &["set_to_none"], 0, span)?;
            let set_to_none = expect_bool(it, b.get("set_to_none"), true, "set_to_none", span)?;
            m.zero_grad(set_to_none)
                .map_err(|e| it.tensor_error(span, e))?;
            Ok(Value::None)
        }
    }
}

fn dim_arg(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<Option<isize>> {
    match v {
        None => Ok(None),
        Some(v) => Ok(Some(expect_int(it, v, "dim", span)? as isize)),
    }
}

fn tensor_method(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let r = match name {
        "item" => {
            bind(it, &args, "item", &[], 0, span)?;
            return item_value(t).map_err(|e| it.tensor_error(span, e));
        }
        "numel" => {
            bind(it, &args, "numel", &[], 0, span)?;
            return Ok(Value::Int(t.numel() as i64));
        }
        "dim" => {
            bind(it, &args, "dim", &[], 0, span)?;
            return Ok(Value::Int(t.dim() as i64));
        }
        "size" => {
            let b = bind(it, &args, "size", &["dim"], 0, span)?;
            return match dim_arg(it, b.get("dim"), span)? {
                None => Ok(Value::size(t.shape())),
                Some(d) => {
                    let n = t.dim() as isize;
                    let j = if d < 0 { d + n } else { d };
                    if !(0..n).contains(&j) {
                        return Err(it.fail(span, format!("IndexError: Dimension out of range (expected to be in range of [{}, {}], but got {d})", -n, n - 1)));
                    }
                    Ok(Value::Int(t.shape()[j as usize] as i64))
                }
            };
        }
        "detach" | "clone" | "float" | "long" | "relu" | "relu_" | "zero_" | "t" | "cpu"
        | "cuda" => {
            bind(it, &args, name, &[], 0, span)?;
            match name {
                "detach" => Ok(t.detach()),
                "clone" => t.clone_tensor(),
                "float" => t.float(),
                "long" => t.to_dtype(DType::I64),
                "relu" => t.relu(),
                "relu_" => t.relu_(),
                "zero_" => t.zero_(),
                "t" => t.t(),
                "cpu" => t.cpu(),
                _ => t.cuda(),
            }
        }
        "to" => {
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
            Ok(out)
        }
        "sum" | "mean" => {
            let b = bind(it, &args, name, &["dim", "keepdim"], 0, span)?;
            let keepdim = expect_bool(it, b.get("keepdim"), false, "keepdim", span)?;
            match (dim_arg(it, b.get("dim"), span)?, name) {
                (None, "sum") => t.sum(),
                (None, _) => t.mean(),
                (Some(d), "sum") => t.sum_dim(&[d], keepdim),
                (Some(d), _) => t.mean_dim(&[d], keepdim),
            }
        }
        "argmax" => {
            let b = bind(it, &args, "argmax", &["dim", "keepdim"], 0, span)?;
            let keepdim = expect_bool(it, b.get("keepdim"), false, "keepdim", span)?;
            match dim_arg(it, b.get("dim"), span)? {
                Some(d) => t.argmax(d, keepdim),
                None => {
                    return Err(it
                        .fail(span, "argmax() without dim is not supported in scenarios")
                        .with_help("pass dim="))
                }
            }
        }
        "pow" => {
            let b = bind(it, &args, "pow", &["exponent"], 1, span)?;
            let e = expect_float(
                it,
                b.raw("exponent").unwrap_or(&Value::None),
                "exponent",
                span,
            )?;
            t.pow(e)
        }
        "add_" | "sub_" | "mul_" | "fill_" => {
            let b = bind(it, &args, name, &["other", "alpha"], 1, span)?;
            let other = b.raw("other").cloned().unwrap_or(Value::None);
            let alpha = match b.get("alpha") {
                Some(v) => Some(expect_float(it, v, "alpha", span)?),
                None => None,
            };
            match (name, &other, alpha) {
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
            }
        }
        "requires_grad_" => {
            let b = bind(it, &args, "requires_grad_", &["requires_grad"], 0, span)?;
            let flag = expect_bool(it, b.get("requires_grad"), true, "requires_grad", span)?;
            t.set_requires_grad(flag).map(|()| t.clone())
        }
        op if TORCH_AND_METHOD.contains(&op) || METHOD_ONLY.contains(&op) => {
            return tensor_op(it, t, name, args, span)
        }
        _ => {
            return Err(it.fail(
                span,
                format!("AttributeError: 'Tensor' object has no attribute '{name}'"),
            ))
        }
    };
    check_rt(it, r, span)
}

/// The tensor a `torch.NAME(input, ...)` call is about, and the arguments after it.
fn split_input(
    it: &Interp<'_>,
    name: &str,
    mut args: CallArgs,
    span: Span,
) -> R<(Tensor, CallArgs)> {
    let input = if args.pos.is_empty() {
        match args.kw.iter().position(|(k, _)| k == "input") {
            Some(i) => Some(args.kw.remove(i).1),
            None => None,
        }
    } else {
        Some(args.pos.remove(0))
    };
    let input = expect_tensor(
        it,
        input.as_ref(),
        &format!("{name}(): argument 'input'"),
        span,
    )?;
    Ok((input, args))
}

/// Integers given as `f(1, 0)` or `f((1, 0))` / `f([1, 0])`, negative ones included.
fn ints_of(it: &Interp<'_>, values: &[Value], what: &str, span: Span) -> R<Vec<isize>> {
    let items: Vec<Value> = match values {
        [Value::Tuple(t)] => t.as_ref().clone(),
        [Value::List(l)] => l.borrow().iter().map(|s| s.value.clone()).collect(),
        many => many.to_vec(),
    };
    items
        .iter()
        .map(|v| expect_int(it, v, what, span).map(|i| i as isize))
        .collect()
}

fn required_dim(it: &Interp<'_>, b: &Bound, name: &str, span: Span) -> R<isize> {
    match dim_arg(it, b.get("dim"), span)? {
        Some(d) => Ok(d),
        None => Err(it
            .fail(
                span,
                format!("{name}() without dim is not supported in scenarios"),
            )
            .with_help("pass dim= (PyTorch deprecates choosing it implicitly)")),
    }
}

/// An operation of [`TORCH_AND_METHOD`], [`FUNCTIONAL`] or [`METHOD_ONLY`] on `t`, with the
/// arguments that follow the tensor.
fn tensor_op(it: &mut Interp<'_>, t: &Tensor, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let r = match name {
        "exp" | "log" | "sqrt" | "tanh" | "sigmoid" | "abs" | "gelu" | "silu" | "contiguous" => {
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
            match name {
                "exp" => t.exp(),
                "log" => t.log(),
                "sqrt" => t.sqrt(),
                "tanh" => t.tanh(),
                "sigmoid" => t.sigmoid(),
                "abs" => t.abs(),
                "gelu" => t.gelu(),
                "silu" => t.silu(),
                _ => t.contiguous(),
            }
        }
        "transpose" => {
            let b = bind(it, &args, name, &["dim0", "dim1"], 2, span)?;
            let d0 = expect_int(it, b.raw("dim0").unwrap_or(&Value::None), "dim0", span)?;
            let d1 = expect_int(it, b.raw("dim1").unwrap_or(&Value::None), "dim1", span)?;
            t.transpose(d0 as isize, d1 as isize)
        }
        "permute" | "view" | "reshape" => {
            let what = if name == "permute" { "dims" } else { "shape" };
            args.only_keywords(name, &[what])
                .map_err(|m| it.fail(span, m))?;
            let given: Vec<Value> = match args.keyword(what) {
                Some(v) => vec![v.clone()],
                None => args.pos.clone(),
            };
            let ints = ints_of(it, &given, what, span)?;
            match name {
                "permute" => t.permute(&ints),
                "view" => t.view(&ints),
                _ => t.reshape(&ints),
            }
        }
        "squeeze" => {
            let b = bind(it, &args, name, &["dim"], 0, span)?;
            t.squeeze(dim_arg(it, b.get("dim"), span)?)
        }
        "unsqueeze" => {
            let b = bind(it, &args, name, &["dim"], 1, span)?;
            let d = expect_int(it, b.raw("dim").unwrap_or(&Value::None), "dim", span)?;
            // unsqueeze wraps against dim() + 1: -1 appends a dimension.
            let n = t.dim() as i64 + 1;
            if d < -n || d >= n {
                return Err(it.fail(span, format!("IndexError: Dimension out of range (expected to be in range of [{}, {}], but got {d})", -n, n - 1)));
            }
            t.unsqueeze(if d < 0 { d + n } else { d } as usize)
        }
        "flatten" => {
            let b = bind(it, &args, name, &["start_dim", "end_dim"], 0, span)?;
            let start = dim_arg(it, b.get("start_dim"), span)?.unwrap_or(0);
            let end = match b.get("end_dim") {
                Some(v) => expect_int(it, v, "end_dim", span)? as isize,
                None => -1,
            };
            t.flatten(start, end)
        }
        "softmax" | "log_softmax" => {
            let b = bind(it, &args, name, &["dim", "dtype"], 0, span)?;
            if b.get("dtype").is_some() {
                return Err(it.fail(
                    span,
                    format!("{name}(dtype=...) is not supported in scenarios"),
                ));
            }
            let d = required_dim(it, &b, name, span)?;
            if name == "softmax" {
                t.softmax(d)
            } else {
                t.log_softmax(d)
            }
        }
        "max" | "min" => {
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
            return Ok(Value::Tuple(Rc::new(vec![
                Value::Tensor(values),
                Value::Tensor(indices),
            ])));
        }
        "narrow" => {
            let b = bind(it, &args, name, &["dim", "start", "length"], 3, span)?;
            let int = |it: &Interp<'_>, p: &str| {
                expect_int(it, b.raw(p).unwrap_or(&Value::None), p, span)
            };
            let (d, start, length) = (int(it, "dim")?, int(it, "start")?, int(it, "length")?);
            t.narrow(d as isize, start, length)
        }
        "select" => {
            let b = bind(it, &args, name, &["dim", "index"], 2, span)?;
            let d = expect_int(it, b.raw("dim").unwrap_or(&Value::None), "dim", span)?;
            let i = expect_int(it, b.raw("index").unwrap_or(&Value::None), "index", span)?;
            t.select_dim(d as isize, i)
        }
        "dropout" => {
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
            t.dropout(p, training)
        }
        "layer_norm" => {
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
            t.layer_norm(&shape, weight.as_ref(), bias.as_ref(), eps)
        }
        "matmul" | "bmm" => {
            let param = if name == "bmm" { "mat2" } else { "other" };
            let params: &'static [&'static str] =
                if name == "bmm" { &["mat2"] } else { &["other"] };
            let b = bind(it, &args, name, params, 1, span)?;
            let other = expect_tensor(it, b.raw(param), param, span)?;
            if name == "bmm" {
                t.bmm(&other)
            } else {
                t.matmul(&other)
            }
        }
        _ => {
            return Err(it.fail(
                span,
                format!("AttributeError: 'Tensor' object has no attribute '{name}'"),
            ))
        }
    };
    check_rt(it, r, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The torch API table of docs/scenarios.md names every operation the dispatch tables hold.
    #[test]
    fn the_docs_list_every_operation_of_the_tables() {
        let docs = include_str!("../../../docs/scenarios.md");
        let surface = &docs[docs.find("## The torch API that runs").unwrap()..];
        for name in TORCH_AND_METHOD
            .iter()
            .chain(FUNCTIONAL)
            .chain(METHOD_ONLY)
            .chain(TORCH_JOINS)
        {
            let forms = [
                format!("`{name}"),
                format!("`F.{name}"),
                format!("`torch.{name}"),
                format!(".{name}("),
            ];
            assert!(
                forms.iter().any(|f| surface.contains(f.as_str())),
                "docs/scenarios.md does not document `{name}`"
            );
        }
    }

    /// Validation accepts exactly the names dispatch runs.
    #[test]
    fn validation_knows_every_operation_of_the_tables() {
        for name in TORCH_AND_METHOD.iter().chain(TORCH_JOINS) {
            assert!(attribute_of_path("torch", name).is_some(), "torch.{name}");
        }
        for name in FUNCTIONAL {
            assert!(
                attribute_of_path("torch.nn.functional", name).is_some(),
                "F.{name}"
            );
        }
        assert!(attribute_of_path("torch", "gelu").is_none());
        assert!(attribute_of_path("torch.nn.functional", "permute").is_none());
    }
}
