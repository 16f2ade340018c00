//! `nn.MaxPool1d`, `nn.AvgPool1d`, `nn.AdaptiveAvgPool1d` and their `F.*` forms (audio and
//! text CNNs): each size an int or a one-element tuple, as `torch.nn.modules.utils._single`
//! takes it.

use super::super::args::{Bound, CallArgs};
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, expect_bool, expect_int, expect_tensor};
use super::layers::{F_MAX_POOL, MAX_POOL};
use crate::nn::{Pool, PoolKind};
use crate::scenario::Span;
use crate::tensor::PoolOptions;

// The max poolings take the 2-D ones' parameter lists (`layers::MAX_POOL`, `F_MAX_POOL`); the
// average ones have no `divisor_override` in 1-D.
const AVG_POOL: &[&str] = &[
    "kernel_size",
    "stride",
    "padding",
    "ceil_mode",
    "count_include_pad",
];
const F_AVG_POOL: &[&str] = &[
    "input",
    "kernel_size",
    "stride",
    "padding",
    "ceil_mode",
    "count_include_pad",
];

/// `nn.MaxPool1d(...)`, `nn.AvgPool1d(...)`, `nn.AdaptiveAvgPool1d(output_size)`.
pub(super) fn module(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let kind = match name {
        "MaxPool1d" => {
            let b = bind(it, &args, name, MAX_POOL, 1, span)?;
            refuse_indices(it, &b, name, span)?;
            PoolKind::Max(options(it, &b, span)?)
        }
        "AvgPool1d" => {
            let b = bind(it, &args, name, AVG_POOL, 1, span)?;
            let (options, count_include_pad) = average(it, &b, span)?;
            PoolKind::Avg {
                options,
                count_include_pad,
                divisor_override: None,
            }
        }
        _ => {
            let b = bind(it, &args, name, &["output_size"], 1, span)?;
            let size = single(it, b.raw("output_size"), "output_size", span)?;
            PoolKind::AdaptiveAvg([1, size])
        }
    };
    let layer = Box::new(Pool::new_1d(kind));
    Ok(Value::Module(ModuleRef::new(ModuleKind::Layer(layer))))
}

/// `F.max_pool1d`, `F.avg_pool1d`, `F.adaptive_avg_pool1d`.
pub(super) fn functional(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let r = match name {
        "max_pool1d" => {
            let b = bind(it, &args, name, F_MAX_POOL, 2, span)?;
            refuse_indices(it, &b, name, span)?;
            let input = expect_tensor(it, b.raw("input"), "input", span)?;
            input.max_pool1d(&options(it, &b, span)?)
        }
        "avg_pool1d" => {
            let b = bind(it, &args, name, F_AVG_POOL, 2, span)?;
            let input = expect_tensor(it, b.raw("input"), "input", span)?;
            let (options, count_include_pad) = average(it, &b, span)?;
            input.avg_pool1d(&options, count_include_pad)
        }
        _ => {
            let b = bind(it, &args, name, &["input", "output_size"], 2, span)?;
            let input = expect_tensor(it, b.raw("input"), "input", span)?;
            let size = single(it, b.raw("output_size"), "output_size", span)?;
            input.adaptive_avg_pool1d(size)
        }
    };
    check_rt(it, r, span)
}

fn refuse_indices(it: &Interp<'_>, b: &Bound, name: &str, span: Span) -> R<()> {
    if expect_bool(it, b.get("return_indices"), false, "return_indices", span)? {
        return Err(it.fail(
            span,
            format!("{name}(return_indices=True) is not supported in scenarios"),
        ));
    }
    Ok(())
}

/// The window of a max pooling: kernel, stride (the kernel when absent or `None`), padding,
/// dilation, ceil mode.
fn options(it: &Interp<'_>, b: &Bound, span: Span) -> R<PoolOptions> {
    let kernel = single(it, b.raw("kernel_size"), "kernel_size", span)?;
    let stride = b
        .get("stride")
        .map(|v| single(it, Some(v), "stride", span))
        .transpose()?;
    let padding = b
        .get("padding")
        .map_or(Ok(0), |v| single(it, Some(v), "padding", span))?;
    let dilation = b
        .get("dilation")
        .map_or(Ok(1), |v| single(it, Some(v), "dilation", span))?;
    let ceil_mode = expect_bool(it, b.get("ceil_mode"), false, "ceil_mode", span)?;
    Ok(PoolOptions::one_d(
        kernel, stride, padding, dilation, ceil_mode,
    ))
}

/// An average pooling's window and `count_include_pad`.
fn average(it: &Interp<'_>, b: &Bound, span: Span) -> R<(PoolOptions, bool)> {
    let count_include_pad = expect_bool(
        it,
        b.get("count_include_pad"),
        true,
        "count_include_pad",
        span,
    )?;
    Ok((options(it, b, span)?, count_include_pad))
}

/// An int, or a tuple or list of one int.
fn single(it: &Interp<'_>, v: Option<&Value>, what: &str, span: Span) -> R<usize> {
    let v = match v {
        Some(Value::Tuple(t)) if t.len() == 1 => t[0].clone(),
        Some(Value::List(l)) if l.borrow().len() == 1 => l.borrow()[0].value.clone(),
        Some(v) => v.clone(),
        None => Value::None,
    };
    let n = expect_int(it, &v, what, span)?;
    usize::try_from(n).map_err(|_| {
        it.fail(
            span,
            format!("RuntimeError: {what} must be non-negative, but got {n}"),
        )
    })
}
