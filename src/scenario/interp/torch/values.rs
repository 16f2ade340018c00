//! Tensors as Python values: their `str()`, truth, length, operators and attributes.

use super::super::objects::{ModuleKind, ModuleRef};
use super::super::pyobj::Native;
use super::super::value::Value;
use crate::base::{DType, Device, TensorError};
use crate::scenario::{BinOp, CmpOp, Span};
use crate::tensor::{Scalar, Tensor, TensorIndex};

/// A device named by a string (`"cuda"`, `"cuda:0"`, `"cpu"`).
pub(in super::super) fn device_named(s: &str) -> Option<Device> {
    match s {
        "cuda" | "cuda:0" => Some(Device::Cuda),
        "cpu" => Some(Device::Cpu),
        _ => None,
    }
}

/// Python's `str()` of a value, as `print` shows it; tensors as PyTorch prints them.
pub(in super::super) fn display(v: &Value) -> String {
    match v {
        Value::Tensor(t) => super::tensor_str::tensor_repr(t),
        other => other.to_string(),
    }
}

/// The Python number a one-element tensor holds (`item()`): int for integer and bool tensors.
pub(super) fn item_value(t: &Tensor) -> Result<Value, TensorError> {
    let x = t.item()?;
    Ok(match t.dtype() {
        DType::F32 | DType::F16 | DType::BF16 | DType::F64 => Value::Float(x),
        DType::I64 | DType::I32 => Value::Int(x as i64),
        DType::Bool => Value::Bool(x != 0.0),
    })
}

pub(in super::super) fn item(t: &Tensor) -> Result<f64, TensorError> {
    t.item()
}

/// `bool(tensor)`.
pub(in super::super) fn tensor_bool(t: &Tensor) -> Result<bool, TensorError> {
    if t.numel() != 1 {
        return Err(TensorError::Invalid(
            "Boolean value of Tensor with more than one value is ambiguous".into(),
        ));
    }
    Ok(t.item()? != 0.0)
}

/// `len(x)` of a tensor or a Sequential.
pub(in super::super) fn len(v: &Value) -> Result<usize, String> {
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

pub(in super::super) fn module_name(m: &ModuleRef) -> &'static str {
    match &*m.0 {
        ModuleKind::Linear(_) => "Linear",
        ModuleKind::ReLU(..) => "ReLU",
        ModuleKind::Sequential(_) => "Sequential",
        ModuleKind::MseLoss(_) => "MSELoss",
        ModuleKind::CrossEntropyLoss(_) => "CrossEntropyLoss",
        ModuleKind::Stateless(m) => m.class_name(),
        ModuleKind::Layer(l) => l.class_name(),
        ModuleKind::Recurrent(r) => r.class_name(),
    }
}

/// `model[i]` of a Sequential.
pub(in super::super) fn module_index(m: &ModuleRef, i: i64) -> Result<Value, String> {
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

pub(in super::super) fn neg(t: &Tensor) -> Result<Tensor, TensorError> {
    t.neg()
}

pub(super) fn scalar(v: &Value) -> Option<Scalar> {
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

/// Whether a Python bool operand of `t` is wrapped as PyTorch called from Python wraps it (a
/// 1-byte bool tensor, [`RuntimeOptions::python_scalar_names`]); else it is the number 1 or 0.
///
/// [`RuntimeOptions::python_scalar_names`]: crate::runtime::RuntimeOptions::python_scalar_names
fn wraps_bools(t: &Tensor) -> bool {
    t.runtime().python_scalar_names()
}

/// A binary operator with a tensor on at least one side. Errors are PyTorch's (`Ok`) or
/// Python's TypeError (`Err`).
pub(in super::super) fn binary(
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
        (Value::Tensor(a), Value::Bool(b)) | (Value::Bool(b), Value::Tensor(a))
            if wraps_bools(a)
                && (matches!(l, Value::Tensor(_)) || matches!(op, BinOp::Add | BinOp::Mul)) =>
        {
            let w = Tensor::wrapped_bool(a.runtime(), *b).map_err(Ok)?;
            match op {
                BinOp::Add => a.add(&w),
                BinOp::Sub => a.sub(&w),
                BinOp::Mul => a.mul(&w),
                BinOp::Div => a.div(&w),
                _ => return Err(unsupported_operands(l, op, r)),
            }
        }
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
                // `s - t` is torch.rsub (RsubBackward1).
                BinOp::Sub => b.rsub_scalar(s),
                // `s / t` is `t.reciprocal() * s`, as Tensor.__rdiv__ computes it.
                BinOp::Div => b.reciprocal().and_then(|rec| rec.mul_scalar(s)),
                _ => return Err(unsupported_operands(l, op, r)),
            }
        }
        _ => return Err(unsupported_operands(l, op, r)),
    };
    result.map(Value::Tensor).map_err(Ok)
}

/// `t op= rhs` on a tensor: in place, as `Tensor.__iadd__` and friends.
pub(in super::super) fn inplace_binary(
    t: &Tensor,
    op: BinOp,
    rhs: &Value,
) -> Result<(), TensorError> {
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
                BinOp::Div => t.div_scalar_(s),
                _ => return Err(unsupported()),
            }
        }
    }
    .map(|_| ())
}

/// A comparison with a tensor on a side: an element-wise bool tensor. `None` for `is`/`in`,
/// which compare objects.
pub(in super::super) fn compare(
    l: &Value,
    op: CmpOp,
    r: &Value,
) -> Option<Result<Value, TensorError>> {
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
pub(in super::super) fn get_attr(obj: &Value, attr: &str) -> Option<Value> {
    match obj {
        Value::Tensor(t) => Some(match attr {
            "shape" => Value::size(t.shape()),
            "grad" => t.grad().map_or(Value::None, Value::Tensor),
            "requires_grad" => Value::Bool(t.requires_grad()),
            "is_leaf" => Value::Bool(t.is_leaf()),
            "device" => Value::Device(t.device()),
            "is_cuda" => Value::Bool(t.device() == Device::Cuda),
            "is_cpu" => Value::Bool(t.device() == Device::Cpu),
            // A scenario's device tensors are cuda tensors whatever backend runs them.
            "is_meta" => Value::Bool(false),
            "dtype" => Value::DType(t.dtype()),
            "grad_fn" => t.grad_fn().map_or(Value::None, |n| {
                Value::Native(std::rc::Rc::new(super::super::pyobj::Native::GradFn(n)))
            }),
            "T" if t.dim() == 2 => return t.t().ok().map(Value::Tensor),
            "data" => Value::Tensor(t.variable_data()),
            "ndim" => Value::Int(t.dim() as i64),
            "_version" => Value::Int(t.version() as i64),
            "retains_grad" => Value::Bool(t.retains_grad()),
            _ => return None,
        }),
        Value::Module(m) if super::layer_attrs::get(m, attr).is_some() => {
            super::layer_attrs::get(m, attr)
        }
        Value::Module(m) => match (&*m.0, attr) {
            (ModuleKind::Linear(l), "weight") => Some(Value::Tensor(l.weight.clone())),
            (ModuleKind::Linear(l), "bias") => {
                Some(l.bias.clone().map_or(Value::None, Value::Tensor))
            }
            // A static method read through an instance.
            (ModuleKind::Layer(l), "generate_square_subsequent_mask")
                if l.class_name() == "Transformer" =>
            {
                Some(Value::Path(super::super::value::Path(
                    "torch.nn.Transformer.generate_square_subsequent_mask".into(),
                )))
            }
            (ModuleKind::Layer(l), _) if !matches!(attr, "training") => l
                .named_parameters()
                .into_iter()
                .chain(l.named_buffers())
                .find(|(n, _)| n == attr)
                .map(|(_, t)| Value::Tensor(t)),
            (_, "training") => Some(Value::Bool(m.is_training())),
            (ModuleKind::Recurrent(_), name) => m
                .named_parameters()
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| Value::Tensor(p)),
            _ => None,
        },
        Value::Optimizer(o) => match attr {
            "param_groups" => Some(super::super::builtins::new_list(
                super::optim::param_groups(o),
                Span::default(),
            )),
            "defaults" => Some(super::optim::defaults(o)),
            _ => None,
        },
        Value::Scheduler(s) => super::sched::get_attr(s, attr),
        _ => None,
    }
}

/// `obj.attr = value`.
pub(in super::super) fn set_attr(obj: &Value, attr: &str, value: Value) -> Result<(), String> {
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

/// The basic index `t[idx]` means (integers, slices, `None`, `...`, or a tuple of them), and
/// whether it was a tuple; `Err` with the message for an index scenarios cannot use yet.
pub(in super::super) fn tensor_index(idx: &Value) -> Result<(Vec<TensorIndex>, bool), String> {
    fn bound(v: &Value) -> Result<Option<i64>, String> {
        match v {
            Value::None => Ok(None),
            Value::Int(i) => Ok(Some(*i)),
            Value::Bool(b) => Ok(Some(*b as i64)),
            other => Err(format!(
                "TypeError: slice indices must be integers or None, not {}",
                other.type_name()
            )),
        }
    }
    fn one(v: &Value) -> Result<TensorIndex, String> {
        match v {
            Value::Int(i) => Ok(TensorIndex::Int(*i)),
            Value::None => Ok(TensorIndex::None),
            Value::Path(p) if &*p.0 == "Ellipsis" => Ok(TensorIndex::Ellipsis),
            Value::Native(n) => match &**n {
                Native::Slice(a, b, c) => Ok(TensorIndex::Slice(
                    bound(a)?,
                    bound(b)?,
                    bound(c)?.unwrap_or(1),
                )),
                _ => Err(unsupported(v)),
            },
            other => Err(unsupported(other)),
        }
    }
    fn unsupported(v: &Value) -> String {
        format!(
            "RuntimeError: indexing a tensor with {} is not supported in scenarios yet",
            v.type_name()
        )
    }
    match idx {
        Value::Tuple(items) => Ok((items.iter().map(one).collect::<Result<_, _>>()?, true)),
        other => Ok((vec![one(other)?], false)),
    }
}
