//! Arguments of torch calls: binding them to PyTorch's parameter names and reading each as
//! the type PyTorch expects, with PyTorch's errors.

use super::super::args::{Bound, CallArgs};
use super::super::value::Value;
use super::super::{Interp, R};
use super::values::device_named;
use crate::base::{DType, Device, TensorError};
use crate::nn::Reduction;
use crate::scenario::Span;
use crate::tensor::Tensor;

/// One call of a tensor-method handler, its arguments bound to PyTorch's parameter names: what
/// [`method!`] hands the handler's body.
pub(super) struct Call<'a, 'i> {
    pub(super) it: &'a mut Interp<'i>,
    /// The receiver, or the `input` of the `torch.*` and `F.*` forms.
    pub(super) t: &'a Tensor,
    /// The name called: one handler may serve several.
    pub(super) name: &'a str,
    pub(super) b: Bound,
    pub(super) span: Span,
}

impl<'a, 'i> Call<'a, 'i> {
    /// Binds `args` to `params`, of which the first `required` must be given, with Python's
    /// `TypeError` for a call that does not fit.
    pub(super) fn bind(
        it: &'a mut Interp<'i>,
        t: &'a Tensor,
        name: &'a str,
        args: &CallArgs,
        params: &'static [&'static str],
        required: usize,
        span: Span,
    ) -> R<Self> {
        let b = bind(it, args, name, params, required, span)?;
        Ok(Call {
            it,
            t,
            name,
            b,
            span,
        })
    }

    /// The int parameter `p`; `None`, given or not, is the `TypeError` of any other non-int.
    pub(super) fn int(&self, p: &str) -> R<i64> {
        expect_int(self.it, self.b.raw(p).unwrap_or(&Value::None), p, self.span)
    }

    /// The number parameter `p`; `None`, given or not, is the `TypeError` of any other
    /// non-number.
    pub(super) fn float(&self, p: &str) -> R<f64> {
        expect_float(self.it, self.b.raw(p).unwrap_or(&Value::None), p, self.span)
    }

    /// The tensor parameter `p` (`None` given is a `TypeError` naming `NoneType`).
    pub(super) fn tensor(&self, p: &str) -> R<Tensor> {
        expect_tensor(self.it, self.b.raw(p), p, self.span)
    }

    /// The bool parameter `p`, `default` when not given or `None`.
    pub(super) fn flag(&self, p: &str, default: bool) -> R<bool> {
        expect_bool(self.it, self.b.get(p), default, p, self.span)
    }

    /// The optional dimension parameter `p` (its `TypeError` calls it `dim`, whatever `p` is).
    pub(super) fn dim(&self, p: &str) -> R<Option<isize>> {
        dim_arg(self.it, self.b.get(p), self.span)
    }

    /// The handler's result as the program sees it: the tensor, or the runtime's error at the
    /// call.
    pub(super) fn done(&self, r: Result<Tensor, TensorError>) -> R<Value> {
        check_rt(self.it, r, self.span)
    }
}

/// Defines a tensor-method handler, a `pub(super) fn` of the `MethodFn` shape that the method
/// tables and the `torch.*`/`F.*` tables (`Run::OnInput`) all point at, from the parameters
/// PyTorch names (the first `required` of them required) and a body that reads them through a
/// [`Call`]. Each handler declares its parameters once, here, instead of opening with the same
/// signature and binding: `method!(transpose, ["dim0", "dim1"], 2, |c| ...)`. Where the
/// parameters depend on the name called, they are `|name| ...`.
macro_rules! method {
    ($handler:ident, [$($param:literal),*], $required:literal, $body:expr) => {
        method!($handler, |_name| &[$($param),*], $required, $body);
    };
    ($handler:ident, |$name:ident| $params:expr, $required:literal, $body:expr) => {
        pub(super) fn $handler(
            it: &mut $crate::scenario::interp::Interp<'_>,
            t: &$crate::tensor::Tensor,
            name: &str,
            args: $crate::scenario::interp::CallArgs,
            span: $crate::scenario::Span,
        ) -> $crate::scenario::interp::R<$crate::scenario::interp::value::Value> {
            let params: &'static [&'static str] = {
                let $name = name;
                $params
            };
            let body: fn(super::args::Call<'_, '_>) -> $crate::scenario::interp::R<_> = $body;
            body(super::args::Call::bind(
                it, t, name, &args, params, $required, span,
            )?)
        }
    };
}
pub(super) use method;

pub(super) fn bind(
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

pub(super) fn expect_tensor(
    it: &Interp<'_>,
    v: Option<&Value>,
    what: &str,
    span: Span,
) -> R<Tensor> {
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

pub(super) fn expect_int(it: &Interp<'_>, v: &Value, what: &str, span: Span) -> R<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(*b as i64),
        other => Err(it.fail(
            span,
            format!("TypeError: {what} must be int, not {}", other.type_name()),
        )),
    }
}

pub(super) fn expect_float(it: &Interp<'_>, v: &Value, what: &str, span: Span) -> R<f64> {
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

pub(super) fn expect_bool(
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

pub(super) fn device_arg(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<Device> {
    match v {
        None | Some(Value::None) => Ok(Device::Cpu),
        Some(Value::Device(d)) => Ok(*d),
        Some(Value::Str(s)) => device_named(s).ok_or_else(|| {
            it.fail(span, format!("RuntimeError: Expected one of cpu, cuda device type at start of device string: {s}"))
        }),
        Some(other) => Err(it.fail(span, format!("TypeError: device must be a string or torch.device, not {}", other.type_name()))),
    }
}

pub(super) fn dtype_arg(
    it: &Interp<'_>,
    v: Option<&Value>,
    default: DType,
    span: Span,
) -> R<DType> {
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

pub(super) fn reduction_arg(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<Reduction> {
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
pub(super) fn shape_of(it: &Interp<'_>, values: &[Value], span: Span) -> R<Vec<usize>> {
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

pub(super) fn check_rt(it: &Interp<'_>, r: Result<Tensor, TensorError>, span: Span) -> R<Value> {
    r.map(Value::Tensor).map_err(|e| it.tensor_error(span, e))
}

pub(super) fn dim_arg(it: &Interp<'_>, v: Option<&Value>, span: Span) -> R<Option<isize>> {
    match v {
        None => Ok(None),
        Some(v) => Ok(Some(expect_int(it, v, "dim", span)? as isize)),
    }
}
pub(super) fn split_input(
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

/// The sizes or dimensions of `name(*what)`: given as `f(2, 3)`, `f((2, 3))` or `f(what=(2,
/// 3))`, negative ones included; no other keyword.
pub(super) fn ints_or_keyword(
    it: &Interp<'_>,
    name: &str,
    args: &CallArgs,
    what: &str,
    span: Span,
) -> R<Vec<isize>> {
    args.only_keywords(name, &[what])
        .map_err(|m| it.fail(span, m))?;
    let given: Vec<Value> = match args.keyword(what) {
        Some(v) => vec![v.clone()],
        None => args.pos.clone(),
    };
    ints_of(it, &given, what, span)
}

/// Integers given as `f(1, 0)` or `f((1, 0))` / `f([1, 0])`, negative ones included.
pub(super) fn ints_of(it: &Interp<'_>, values: &[Value], what: &str, span: Span) -> R<Vec<isize>> {
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

pub(super) fn required_dim(it: &Interp<'_>, b: &Bound, name: &str, span: Span) -> R<isize> {
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
