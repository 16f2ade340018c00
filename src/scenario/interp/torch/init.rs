//! `torch.nn.init`: the in-place initializers custom modules call in `reset_parameters()`, as
//! 2.15's `torch/nn/init.py` computes them. Each runs under `no_grad` on the tensor itself (a
//! parameter keeps its identity and allocates nothing) and returns it. The uniform ones draw
//! and normal ones draw from the runtime's generator (the same memory as PyTorch, other
//! values): `normal_`, `xavier_normal_` and `kaiming_normal_` are one in-place `normal_` with
//! the standard deviation 2.15 computes (`gain * sqrt(2 / (fan_in + fan_out))`,
//! `gain / sqrt(fan)`), and `eye_` zeros the matrix and writes its diagonal in place.

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, expect_float, expect_tensor};
use super::values::scalar;
use super::{entry, Function, Run};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `torch.nn.init` functions.
pub(super) const INIT: &[Function] = &[
    entry("zeros_", Run::Call(init)),
    entry("ones_", Run::Call(init)),
    entry("constant_", Run::Call(init)),
    entry("uniform_", Run::Call(init)),
    entry("xavier_uniform_", Run::Call(init)),
    entry("kaiming_uniform_", Run::Call(init)),
    entry("normal_", Run::Call(init)),
    entry("xavier_normal_", Run::Call(init)),
    entry("kaiming_normal_", Run::Call(init)),
    entry("eye_", Run::Call(init)),
    entry("calculate_gain", Run::Call(calculate_gain)),
];

fn params(name: &str) -> &'static [&'static str] {
    match name {
        "constant_" => &["tensor", "val"],
        "uniform_" => &["tensor", "a", "b", "generator"],
        "normal_" => &["tensor", "mean", "std", "generator"],
        "xavier_uniform_" | "xavier_normal_" => &["tensor", "gain", "generator"],
        "kaiming_uniform_" | "kaiming_normal_" => {
            &["tensor", "a", "mode", "nonlinearity", "generator"]
        }
        _ => &["tensor"],
    }
}

/// The number argument `p`, `default` when not given.
fn number(it: &Interp<'_>, v: Option<&Value>, p: &str, default: f64, span: Span) -> R<f64> {
    match v {
        Some(v) => expect_float(it, v, p, span),
        None => Ok(default),
    }
}

/// The string argument `p`, `default` when not given.
fn text(it: &Interp<'_>, v: Option<&Value>, p: &str, default: &str, span: Span) -> R<String> {
    match v {
        None => Ok(default.to_string()),
        Some(Value::Str(s)) => Ok(s.to_string()),
        Some(other) => Err(it.fail(
            span,
            format!("TypeError: {p} must be a str, not {}", other.type_name()),
        )),
    }
}

/// `_calculate_fan_in_and_fan_out`: input and output feature maps times the receptive field.
fn fans(it: &Interp<'_>, t: &Tensor, span: Span) -> R<(f64, f64)> {
    let shape = t.shape();
    if shape.len() < 2 {
        return Err(it.fail(
            span,
            "ValueError: Fan in and fan out can not be computed for tensor with fewer than 2 dimensions",
        ));
    }
    let receptive: usize = shape[2..].iter().product();
    Ok(((shape[1] * receptive) as f64, (shape[0] * receptive) as f64))
}

/// `calculate_gain(nonlinearity, param)`.
fn gain(it: &Interp<'_>, nonlinearity: &str, param: Option<f64>, span: Span) -> R<f64> {
    Ok(match nonlinearity {
        "linear" | "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d" | "conv_transpose2d"
        | "conv_transpose3d" | "sigmoid" => 1.0,
        "tanh" => 5.0 / 3.0,
        "relu" => 2f64.sqrt(),
        "leaky_relu" => {
            let slope = param.unwrap_or(0.01);
            (2.0 / (1.0 + slope * slope)).sqrt()
        }
        "selu" => 3.0 / 4.0,
        other => {
            return Err(it.fail(
                span,
                format!("ValueError: Unsupported nonlinearity {other}"),
            ))
        }
    })
}

/// `torch.nn.init.calculate_gain(nonlinearity, param=None)`.
fn calculate_gain(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(
        it,
        &args,
        "calculate_gain",
        &["nonlinearity", "param"],
        1,
        span,
    )?;
    let nonlinearity = text(it, b.get("nonlinearity"), "nonlinearity", "", span)?;
    let param = match b.get("param") {
        None | Some(Value::None) => None,
        Some(v) => Some(expect_float(it, v, "param", span)?),
    };
    Ok(Value::Float(gain(it, &nonlinearity, param, span)?))
}

/// `torch.nn.init.<name>_(tensor, ...)`.
fn init(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, params(name), 1, span)?;
    let t = expect_tensor(it, b.raw("tensor"), "tensor", span)?;
    let rt = it.rt.clone();
    let _no_grad = rt.set_grad_enabled(false);
    let uniform = |low: f64, high: f64| rt.uniform_(&t, low, high).map(|()| t.clone());
    let normal = |mean: f64, std: f64| rt.normal_(&t, mean, std).map(|()| t.clone());
    let r = match name {
        "zeros_" => t.zero_(),
        "ones_" => t.fill_(1.0),
        "constant_" => match b.raw("val").and_then(scalar) {
            Some(v) => t.fill_(v),
            None => {
                return Err(it.fail(span, "TypeError: constant_() expects a number as val"));
            }
        },
        "uniform_" => uniform(
            number(it, b.get("a"), "a", 0.0, span)?,
            number(it, b.get("b"), "b", 1.0, span)?,
        ),
        "normal_" => normal(
            number(it, b.get("mean"), "mean", 0.0, span)?,
            number(it, b.get("std"), "std", 1.0, span)?,
        ),
        "eye_" => eye(it, &t, span)?,
        // A tensor without elements is left as it is (PyTorch warns).
        _ if t.numel() == 0 => Ok(t.clone()),
        "xavier_uniform_" | "xavier_normal_" => {
            let (fan_in, fan_out) = fans(it, &t, span)?;
            let g = number(it, b.get("gain"), "gain", 1.0, span)?;
            let std = g * (2.0 / (fan_in + fan_out)).sqrt();
            if name == "xavier_normal_" {
                normal(0.0, std)
            } else {
                let bound = 3f64.sqrt() * std;
                uniform(-bound, bound)
            }
        }
        _ => {
            let a = number(it, b.get("a"), "a", 0.0, span)?;
            let mode = text(it, b.get("mode"), "mode", "fan_in", span)?;
            let nonlinearity = text(
                it,
                b.get("nonlinearity"),
                "nonlinearity",
                "leaky_relu",
                span,
            )?;
            let (fan_in, fan_out) = fans(it, &t, span)?;
            let fan = match mode.as_str() {
                "fan_in" => fan_in,
                "fan_out" => fan_out,
                other => {
                    return Err(it.fail(
                        span,
                        format!(
                        "ValueError: Mode {other} not supported, please use one of fan_in, fan_out"
                    ),
                    ))
                }
            };
            let std = gain(it, &nonlinearity, Some(a), span)? / fan.sqrt();
            if name == "kaiming_normal_" {
                normal(0.0, std)
            } else {
                let bound = 3f64.sqrt() * std;
                uniform(-bound, bound)
            }
        }
    };
    check_rt(it, r, span)
}

/// `eye_(tensor)`: `torch.eye(n, m, out=tensor)`, which zeros the matrix and fills its
/// diagonal with ones in place (views of the tensor, no allocation).
fn eye(it: &Interp<'_>, t: &Tensor, span: Span) -> R<Result<Tensor, crate::tensor::TensorError>> {
    if t.dim() != 2 {
        return Err(it.fail(
            span,
            "ValueError: Only tensors with 2 dimensions are supported",
        ));
    }
    let fill = || {
        t.zero_()?;
        for i in 0..t.shape()[0].min(t.shape()[1]) {
            t.select(i as i64)?.select(i as i64)?.fill_(1.0)?;
        }
        Ok(t.clone())
    };
    Ok(fill())
}
