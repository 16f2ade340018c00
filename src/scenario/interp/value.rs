//! Values of the scenario language: Python's objects, with reference semantics where Python has
//! them (lists, dicts, objects, tensors, modules, optimizers are shared by every name that holds
//! them, and freed when the last reference goes, as CPython's reference counting frees them).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::dict::DictRef;
use super::objects::{ModuleRef, OptimizerRef};
use super::pyobj::{BoundMethod, Class, ExcObj, Function, Instance, IterRef, Native};
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

/// A builtin function, type or module, or a torch function or namespace, named by its dotted
/// path (`print`, `int`, `torch.randn`, `torch.nn`, `collections.deque`).
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
    /// A dict (also `defaultdict`, `OrderedDict`, `Counter`).
    Dict(DictRef),
    /// A set.
    Set(DictRef),
    /// `range(start, stop, step)`.
    Range(i64, i64, i64),
    /// A tensor.
    Tensor(Tensor),
    /// A library `nn` module (`nn.Linear`, `nn.Sequential`, ...).
    Module(ModuleRef),
    /// An optimizer.
    Optimizer(OptimizerRef),
    /// A learning-rate scheduler (`torch.optim.lr_scheduler`).
    Scheduler(super::torch::sched::SchedulerRef),
    /// `torch.float32`, `torch.long`, ...
    DType(DType),
    /// `torch.device("cuda")`.
    Device(Device),
    /// A builtin or library function, type or module.
    Path(Path),
    /// A builtin method bound to its receiver (`x.append`, `d.items`), made when an attribute is
    /// read but not called at once.
    Method(Box<Value>, Rc<str>),
    /// `torch.no_grad()` / `torch.enable_grad()`: a context manager setting grad mode.
    GradMode(bool),
    /// A function written in the scenario (`def`, `lambda`).
    Function(Rc<Function>),
    /// A class written in the scenario.
    Class(Rc<Class>),
    /// An object of a class written in the scenario (including `nn.Module` subclasses).
    Instance(Rc<Instance>),
    /// An exception object.
    Exception(Rc<ExcObj>),
    /// A scenario function bound to an object (`self.forward`).
    BoundMethod(Rc<BoundMethod>),
    /// An iterator: `iter(x)`, `enumerate`, `zip`, `map`, a generator expression.
    Iterator(IterRef),
    /// An object of a library module that is not a torch object (`deque`, a logger, a
    /// namedtuple class, `functools.partial`, a `DataLoader`).
    Native(Rc<Native>),
}

impl Value {
    /// Python's type name, for error messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::None => "NoneType".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::List(_) => "list".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::Dict(d) => d.borrow().kind_name().into(),
            Value::Set(_) => "set".into(),
            Value::Range(..) => "range".into(),
            Value::Tensor(_) => "Tensor".into(),
            Value::Module(_) => "Module".into(),
            Value::Optimizer(_) => "Optimizer".into(),
            Value::Scheduler(s) => s.0.borrow().class.into(),
            Value::DType(_) => "torch.dtype".into(),
            Value::Device(_) => "torch.device".into(),
            Value::Path(p) if super::builtins::is_type_name(&p.0) => "type".into(),
            Value::Path(p) if super::stdlib::is_module(&p.0) => "module".into(),
            Value::Path(_) => "builtin_function_or_method".into(),
            Value::Method(..) => "builtin_function_or_method".into(),
            Value::GradMode(_) => "no_grad".into(),
            Value::Function(_) => "function".into(),
            Value::Class(_) => "type".into(),
            Value::Instance(i) => i.class.name.to_string(),
            Value::Exception(e) => e.type_name().to_string(),
            Value::BoundMethod(_) => "method".into(),
            Value::Iterator(i) => i.borrow().type_name().into(),
            Value::Native(n) => n.type_name(),
        }
    }

    /// Python's truth value of values that need no method call; `None` for tensors and objects
    /// that may define `__bool__`/`__len__`.
    pub fn truthy(&self) -> Option<bool> {
        Some(match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.borrow().is_empty(),
            Value::Tuple(t) => !t.is_empty(),
            Value::Dict(d) | Value::Set(d) => !d.borrow().is_empty(),
            Value::Range(..) => super::builtins::range_len(self) > 0,
            Value::Tensor(_) | Value::Instance(_) | Value::Native(_) => return None,
            _ => true,
        })
    }

    /// A shape tuple (`torch.Size`).
    pub fn size(shape: &[usize]) -> Value {
        Value::Tuple(Rc::new(
            shape.iter().map(|&d| Value::Int(d as i64)).collect(),
        ))
    }

    /// The identity of a heap value, as Python's `id()` and `is` see it; `None` for values that
    /// are compared by value.
    pub fn identity(&self) -> Option<usize> {
        Some(match self {
            Value::List(l) => Rc::as_ptr(l) as *const () as usize,
            Value::Tuple(t) => Rc::as_ptr(t) as *const () as usize,
            Value::Dict(d) | Value::Set(d) => Rc::as_ptr(d) as *const () as usize,
            Value::Tensor(t) => t.id(),
            Value::Module(m) => Rc::as_ptr(&m.0) as *const () as usize,
            Value::Optimizer(o) => Rc::as_ptr(&o.inner) as *const () as usize,
            Value::Scheduler(s) => Rc::as_ptr(&s.0) as *const () as usize,
            Value::Function(f) => Rc::as_ptr(f) as *const () as usize,
            Value::Class(c) => Rc::as_ptr(c) as *const () as usize,
            Value::Instance(i) => Rc::as_ptr(i) as *const () as usize,
            Value::Exception(e) => Rc::as_ptr(e) as *const () as usize,
            Value::BoundMethod(b) => Rc::as_ptr(b) as *const () as usize,
            Value::Iterator(i) => Rc::as_ptr(i) as *const () as usize,
            Value::Native(n) => Rc::as_ptr(n) as *const () as usize,
            _ => return None,
        })
    }
}

pub(super) fn fmt_float(f: f64, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    if f.is_nan() {
        out.write_str("nan")
    } else if f.is_infinite() {
        out.write_str(if f > 0.0 { "inf" } else { "-inf" })
    } else if f == f.trunc() && f.abs() < 1e16 {
        write!(out, "{f:.1}")
    } else {
        // Python's repr: the shortest round-trip digits (Rust's too), written with an exponent
        // of at least two digits when the decimal exponent is below -4 or from 16 on
        // (`1e-08`, `1.5e+16`), and positionally between.
        let sci = format!("{f:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        if (-4..16).contains(&exp) {
            write!(out, "{f}")
        } else {
            let sign = if exp < 0 { '-' } else { '+' };
            write!(out, "{mantissa}e{sign}{:02}", exp.abs())
        }
    }
}

/// Writes `items` between `open` and `close`, each as its `repr`.
fn seq(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    items: impl Iterator<Item = Value>,
    close: &str,
    one_comma: bool,
    seen: &mut Vec<usize>,
) -> fmt::Result {
    f.write_str(open)?;
    let mut n = 0;
    for (i, v) in items.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_value(&v, f, true, seen)?;
        n += 1;
    }
    if one_comma && n == 1 {
        f.write_str(",")?;
    }
    f.write_str(close)
}

/// Python's `str()` (or `repr()` when `repr`) of a value; `seen` holds the containers being
/// written, so that a list containing itself prints as `[[...]]`, as in Python.
fn write_value(
    v: &Value,
    f: &mut fmt::Formatter<'_>,
    repr: bool,
    seen: &mut Vec<usize>,
) -> fmt::Result {
    let container = matches!(
        v,
        Value::List(_) | Value::Dict(_) | Value::Set(_) | Value::Tuple(_)
    );
    let id = v.identity().filter(|_| container);
    if let Some(id) = id {
        if seen.contains(&id) {
            return f.write_str(match v {
                Value::List(_) => "[...]",
                Value::Dict(_) => "{...}",
                _ => "(...)",
            });
        }
        seen.push(id);
    }
    let r = match v {
        Value::Str(s) if repr => write_str_repr(s, f),
        Value::Exception(e) if repr => f.write_str(&e.repr()),
        Value::List(l) => {
            let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
            seq(f, "[", items.into_iter(), "]", false, seen)
        }
        Value::Tuple(t) => seq(f, "(", t.iter().cloned(), ")", true, seen),
        Value::Dict(d) => {
            let (items, (open, close)) = {
                let d = d.borrow();
                (d.items(), d.repr_brackets())
            };
            f.write_str(&open)?;
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_value(k, f, true, seen)?;
                f.write_str(": ")?;
                write_value(v, f, true, seen)?;
            }
            f.write_str(close)
        }
        Value::Set(d) => {
            let keys = d.borrow().keys();
            if keys.is_empty() {
                f.write_str("set()")
            } else {
                seq(f, "{", keys.into_iter(), "}", false, seen)
            }
        }
        other => write_scalar(other, f),
    };
    if id.is_some() {
        seen.pop();
    }
    r
}

fn write_str_repr(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    write!(f, "{quote}")?;
    for c in s.chars() {
        match c {
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\\' => f.write_str("\\\\")?,
            c if c == quote => write!(f, "\\{c}")?,
            c => write!(f, "{c}")?,
        }
    }
    write!(f, "{quote}")
}

/// Values that contain no other values.
fn write_scalar(v: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match v {
        Value::None => f.write_str("None"),
        Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
        Value::Int(i) => write!(f, "{i}"),
        Value::Float(x) => fmt_float(*x, f),
        Value::Str(s) => f.write_str(s),
        Value::Range(a, b, 1) => write!(f, "range({a}, {b})"),
        Value::Range(a, b, c) => write!(f, "range({a}, {b}, {c})"),
        Value::Tensor(t) => f.write_str(&super::torch::display(&Value::Tensor(t.clone()))),
        Value::Module(m) => write!(f, "{m}"),
        Value::Optimizer(o) => write!(f, "{o}"),
        Value::Scheduler(s) => write!(
            f,
            "<torch.optim.lr_scheduler.{} object>",
            s.0.borrow().class
        ),
        Value::DType(d) => write!(f, "{d}"),
        Value::Device(Device::Cuda) => f.write_str("cuda"),
        Value::Device(Device::Cpu) => f.write_str("cpu"),
        Value::Path(p) if super::builtins::is_type_name(&p.0) => {
            write!(f, "<class '{}'>", p.0)
        }
        Value::Path(p) if super::stdlib::is_module(&p.0) => write!(f, "<module '{}'>", p.0),
        Value::Path(p) => write!(f, "<function {}>", p.0),
        Value::Method(_, name) => write!(f, "<built-in method {name}>"),
        Value::GradMode(on) => f.write_str(if *on {
            "<torch.enable_grad>"
        } else {
            "<torch.no_grad>"
        }),
        Value::Function(func) => write!(f, "<function {}>", func.qualname),
        Value::Class(c) => write!(f, "<class '__main__.{}'>", c.name),
        Value::Instance(i) => write!(f, "<__main__.{} object>", i.class.name),
        Value::Exception(e) => f.write_str(&e.message()),
        Value::BoundMethod(b) => write!(f, "<bound method {}>", b.func_name()),
        Value::Iterator(i) => write!(f, "<{} object>", i.borrow().type_name()),
        Value::Native(n) => f.write_str(&n.repr()),
        Value::List(_) | Value::Tuple(_) | Value::Dict(_) | Value::Set(_) => Ok(()),
    }
}

/// Python's `str()` of a value, as `print` shows it.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(self, f, false, &mut Vec::new())
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_repr(self, f)
    }
}

/// Python's `repr()` of a value, where it differs from `str()`.
pub(super) fn write_repr(v: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write_value(v, f, true, &mut Vec::new())
}

/// Python's `repr()` of a value.
pub fn repr(v: &Value) -> String {
    struct R<'a>(&'a Value);
    impl fmt::Display for R<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_repr(self.0, f)
        }
    }
    R(v).to_string()
}
