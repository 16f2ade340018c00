//! Values of the scenario language: Python's objects, with reference semantics where Python has
//! them (lists, tensors, modules, optimizers are shared by every name that holds them).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::objects::{ModuleRef, OptimizerRef};
use crate::base::{DType, Device};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// A list element, with the statement that stored it: the retaining statement of a leak that
/// goes through this element.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The element.
    pub value: Value,
    /// The statement that put it in the list (`losses.append(loss)`, a list literal, ...).
    pub stored_at: Span,
}

/// A Python list, shared between the names that hold it.
pub type ListRef = Rc<RefCell<Vec<Slot>>>;

/// A torch function or namespace, named by its dotted path (`torch.randn`, `torch.nn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(pub Rc<str>);

/// A value.
#[derive(Clone)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// A Python `int` (64-bit here; overflow is an error, not a bignum).
    Int(i64),
    /// A Python `float`.
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// A list.
    List(ListRef),
    /// A tuple (also `torch.Size`).
    Tuple(Rc<Vec<Value>>),
    /// A tensor.
    Tensor(Tensor),
    /// An `nn` module.
    Module(ModuleRef),
    /// An optimizer.
    Optimizer(OptimizerRef),
    /// `torch.float32`, `torch.long`, ...
    DType(DType),
    /// `torch.device("cuda")`.
    Device(Device),
    /// A module or function of torch, or a builtin (`print`, `len`).
    Path(Path),
    /// A method bound to its receiver (`x.append`), made when an attribute is read but not
    /// called at once.
    Method(Box<Value>, Rc<str>),
    /// `torch.no_grad()` / `torch.enable_grad()`: a context manager setting grad mode.
    GradMode(bool),
}

impl Value {
    /// Python's type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Tensor(_) => "Tensor",
            Value::Module(_) => "Module",
            Value::Optimizer(_) => "Optimizer",
            Value::DType(_) => "torch.dtype",
            Value::Device(_) => "torch.device",
            Value::Path(_) => "function",
            Value::Method(..) => "method",
            Value::GradMode(_) => "context manager",
        }
    }

    /// Python's truth value; tensors and others are handled by the interpreter.
    pub fn truthy(&self) -> Option<bool> {
        Some(match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.borrow().is_empty(),
            Value::Tuple(t) => !t.is_empty(),
            Value::Tensor(_) => return None,
            _ => true,
        })
    }

    /// A shape tuple (`torch.Size`).
    pub fn size(shape: &[usize]) -> Value {
        Value::Tuple(Rc::new(
            shape.iter().map(|&d| Value::Int(d as i64)).collect(),
        ))
    }
}

fn fmt_float(f: f64, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    if f.is_nan() {
        out.write_str("nan")
    } else if f.is_infinite() {
        out.write_str(if f > 0.0 { "inf" } else { "-inf" })
    } else if f == f.trunc() && f.abs() < 1e16 {
        write!(out, "{f:.1}")
    } else {
        // Rust's shortest round-trip form is Python's repr for these magnitudes.
        write!(out, "{f}")
    }
}

/// Python's `str()` of a value, as `print` shows it.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => fmt_float(*x, f),
            Value::Str(s) => f.write_str(s),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, s) in l.borrow().iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_repr(&s.value, f)?;
                }
                f.write_str("]")
            }
            Value::Tuple(t) => {
                f.write_str("(")?;
                for (i, v) in t.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_repr(v, f)?;
                }
                if t.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            Value::Tensor(t) => f.write_str(&super::torch::display(&Value::Tensor(t.clone()))),
            Value::Module(m) => write!(f, "{m}"),
            Value::Optimizer(o) => write!(f, "{o}"),
            Value::DType(d) => write!(f, "{d}"),
            Value::Device(Device::Cuda) => f.write_str("cuda"),
            Value::Device(Device::Cpu) => f.write_str("cpu"),
            Value::Path(p) => write!(f, "<function {}>", p.0),
            Value::Method(_, name) => write!(f, "<bound method {name}>"),
            Value::GradMode(on) => f.write_str(if *on {
                "<torch.enable_grad>"
            } else {
                "<torch.no_grad>"
            }),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_repr(self, f)
    }
}

fn write_repr(v: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match v {
        Value::Str(s) => write!(f, "'{s}'"),
        other => write!(f, "{other}"),
    }
}
