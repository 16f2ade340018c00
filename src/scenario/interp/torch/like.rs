//! Tensors made after another one: `torch.zeros_like(x)` and its family (the shape, dtype and
//! device of `x`), and `x.new_zeros(size)` and its family (the dtype and device of `x`, a shape
//! of their own). Each is one fresh allocation, as `empty_like` / `new_empty` and a fill are in
//! ATen; none has a `grad_fn`.

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{check_rt, device_arg, dtype_arg, expect_bool, shape_of};
use crate::base::{DType, Device};
use crate::scenario::Span;
use crate::tensor::{Scalar, Tensor};

/// What a new tensor starts out holding.
#[derive(Clone, Copy)]
pub(super) enum Fill {
    Zeros,
    Ones,
    Empty,
    Value(Scalar),
    Normal,
    Uniform,
    /// `randint`'s integers in `[low, high)`.
    Integers(i64, i64),
}

impl Fill {
    /// The fill `kind` (`zeros`, `full`, ...) of the function `func` asks for; `full` reads
    /// its value.
    pub(super) fn of(
        it: &Interp<'_>,
        func: &str,
        kind: &str,
        value: Option<&Value>,
        span: Span,
    ) -> R<Fill> {
        Ok(match kind {
            "zeros" => Fill::Zeros,
            "ones" => Fill::Ones,
            "empty" => Fill::Empty,
            "randn" => Fill::Normal,
            "rand" => Fill::Uniform,
            _ => match value {
                Some(Value::Float(f)) => Fill::Value(Scalar::Float(*f)),
                Some(Value::Int(i)) => Fill::Value(Scalar::Int(*i)),
                Some(Value::Bool(b)) => Fill::Value(Scalar::Int(i64::from(*b))),
                Some(other) => {
                    return Err(it.fail(
                        span,
                        format!(
                            "TypeError: {func}(): argument 'fill_value' must be Number, not {}",
                            other.type_name()
                        ),
                    ))
                }
                None => {
                    return Err(it.fail(
                        span,
                        format!("TypeError: {func}() missing required argument 'fill_value'"),
                    ))
                }
            },
        })
    }

    /// A new tensor of `shape`, `dtype` and `device` holding this fill.
    fn make(
        self,
        it: &Interp<'_>,
        shape: &[usize],
        dtype: DType,
        device: Device,
        span: Span,
    ) -> R<Tensor> {
        let rt = it.rt.clone();
        let r = match self {
            Fill::Normal | Fill::Uniform if !dtype.is_floating_point() => {
                return Err(it.fail(
                    span,
                    format!("RuntimeError: \"normal_kernel_cpu\" not implemented for '{dtype}'"),
                ))
            }
            Fill::Zeros => rt.zeros(shape, dtype, device),
            Fill::Ones => rt.ones(shape, dtype, device),
            Fill::Empty => rt.empty(shape, dtype, device),
            Fill::Value(v) => rt.empty(shape, dtype, device).and_then(|t| t.fill_(v)),
            Fill::Normal => rt.randn_of(shape, dtype, device),
            Fill::Uniform => rt.rand_of(shape, dtype, device),
            Fill::Integers(low, high) => rt.randint_of(low, high, shape, dtype, device),
        };
        r.map_err(|e| it.tensor_error(span, e))
    }
}

/// The keywords every member of both families takes: `dtype=`, `device=`, `requires_grad=`
/// (and the layout keywords, accepted: every tensor here is strided and dense).
const KEYWORDS: &[&str] = &[
    "dtype",
    "device",
    "requires_grad",
    "layout",
    "memory_format",
    "pin_memory",
];

/// A new tensor of `shape` holding `fill`, in the `dtype=` and on the `device=` of `args` (else
/// `dtype` and `device`), with `requires_grad=`: what every factory here ends in.
pub(super) fn filled(
    it: &mut Interp<'_>,
    fill: Fill,
    shape: &[usize],
    (dtype, device): (DType, Device),
    args: &CallArgs,
    span: Span,
) -> R<Value> {
    let dtype = dtype_arg(it, args.keyword("dtype"), dtype, span)?;
    let device = match args.keyword("device") {
        None | Some(Value::None) => device,
        v => device_arg(it, v, span)?,
    };
    let requires_grad = expect_bool(
        it,
        args.keyword("requires_grad"),
        false,
        "requires_grad",
        span,
    )?;
    let t = fill.make(it, shape, dtype, device, span)?;
    check_rt(it, t.requires_grad_(requires_grad), span)
}

/// `torch.zeros_like(input, *, dtype=None, device=None, requires_grad=False)`, and `ones_`,
/// `empty_`, `randn_`, `rand_`, `full_like(input, fill_value, ...)`: the input's shape, and its
/// dtype and device unless given.
pub(super) fn like(
    it: &mut Interp<'_>,
    input: &Tensor,
    name: &str,
    mut args: CallArgs,
    span: Span,
) -> R<Value> {
    let kind = name.trim_end_matches("_like");
    let value = if kind == "full" {
        let i = args.kw.iter().position(|(k, _)| k == "fill_value");
        match i {
            Some(i) => Some(args.kw.remove(i).1),
            None if !args.pos.is_empty() => Some(args.pos.remove(0)),
            None => None,
        }
    } else {
        None
    };
    if !args.pos.is_empty() {
        return Err(it.fail(
            span,
            format!(
                "TypeError: {name}() takes {} positional argument{} but {} were given",
                1 + usize::from(kind == "full"),
                if kind == "full" { "s" } else { "" },
                args.pos.len() + 1 + usize::from(kind == "full"),
            ),
        ));
    }
    args.only_keywords(name, KEYWORDS)
        .map_err(|m| it.fail(span, m))?;
    let fill = Fill::of(it, name, kind, value.as_ref(), span)?;
    filled(
        it,
        fill,
        input.shape(),
        (input.dtype(), input.device()),
        &args,
        span,
    )
}

/// `x.new_zeros(*size)`, `new_ones`, `new_empty`, and `x.new_full(size, fill_value)`: the
/// receiver's dtype and device unless given, the shape given.
pub(super) fn new_filled(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    mut args: CallArgs,
    span: Span,
) -> R<Value> {
    let kind = name.trim_start_matches("new_");
    args.only_keywords(name, &[KEYWORDS, &["size", "fill_value"]].concat())
        .map_err(|m| it.fail(span, m))?;
    let value = match args.kw.iter().position(|(k, _)| k == "fill_value") {
        Some(i) => Some(args.kw.remove(i).1),
        None if kind == "full" => args.pos.pop(),
        None => None,
    };
    let sizes = match args.kw.iter().position(|(k, _)| k == "size") {
        Some(i) => vec![args.kw.remove(i).1],
        None => std::mem::take(&mut args.pos),
    };
    let shape = shape_of(it, &sizes, span)?;
    let fill = Fill::of(it, name, kind, value.as_ref(), span)?;
    filled(it, fill, &shape, (t.dtype(), t.device()), &args, span)
}

/// `x.new_tensor(data, dtype=None, device=None, requires_grad=False)`: `torch.tensor(data)` in
/// the receiver's dtype and device unless given (the data's own type is not inferred).
pub(super) fn new_tensor(
    it: &mut Interp<'_>,
    t: &Tensor,
    _name: &str,
    mut args: CallArgs,
    span: Span,
) -> R<Value> {
    if args.keyword("dtype").is_none() {
        args.kw.push(("dtype".into(), Value::DType(t.dtype())));
    }
    if args.keyword("device").is_none() {
        args.kw.push(("device".into(), Value::Device(t.device())));
    }
    super::functions::tensor_from_data(it, "new_tensor", args, span)
}
