//! `nn.ConvTranspose2d` and `F.conv_transpose2d` (GAN generators, U-Net decoders), with the
//! checks `_ConvTransposeNd` makes when the module is made.

use super::super::args::{Bound, CallArgs};
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, device_arg, expect_bool, expect_int, expect_tensor};
use super::layers::{count, opt_tensor, pair, refuse_non_default};
use crate::base::Device;
use crate::nn::Conv;
use crate::scenario::Span;
use crate::tensor::{ConvOptions, ConvPadding, ConvTransposeOptions};

const MODULE: &[&str] = &[
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "bias",
    "dilation",
    "padding_mode",
    "device",
    "dtype",
];
const FUNCTIONAL: &[&str] = &[
    "input",
    "weight",
    "bias",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "dilation",
];

/// `nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
/// output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros')`: parameters made
/// on the host (weight, then bias) and moved when `device='cuda'`.
pub(super) fn module(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, MODULE, 3, span)?;
    refuse_non_default(it, &b, name, span)?;
    let channels = (
        count(it, &b, "in_channels", span)?,
        count(it, &b, "out_channels", span)?,
    );
    let kernel = pair(
        it,
        b.raw("kernel_size").unwrap_or(&Value::None),
        "kernel_size",
        span,
    )?;
    let o = options(it, &b, span)?;
    let g = o.groups;
    for (which, c) in [("in_channels", channels.0), ("out_channels", channels.1)] {
        if g == 0 || c % g != 0 {
            let message = if g == 0 {
                "ValueError: groups must be a positive integer".to_string()
            } else {
                format!("ValueError: {which} must be divisible by groups")
            };
            return Err(it.fail(span, message));
        }
    }
    let conv_options = ConvOptions {
        stride: o.stride.to_vec(),
        padding: ConvPadding::Explicit(o.padding.to_vec()),
        dilation: o.dilation.to_vec(),
        groups: g,
    };
    let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
    let device = device_arg(it, b.get("device"), span)?;
    let conv = Conv::transposed(
        &it.rt.clone(),
        channels,
        kernel,
        conv_options,
        o.output_padding,
        bias,
    )
    .map_err(|e| it.tensor_error(span, e))?;
    let m = ModuleRef::new(ModuleKind::Layer(Box::new(conv)));
    if device == Device::Cuda {
        m.to(device).map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Module(m))
}

/// `F.conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
/// groups=1, dilation=1)`.
pub(super) fn functional(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, FUNCTIONAL, 2, span)?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let weight = expect_tensor(it, b.raw("weight"), "weight", span)?;
    let bias = opt_tensor(it, &b, "bias", span)?;
    let o = options(it, &b, span)?;
    check_rt(it, input.conv_transpose2d(&weight, bias.as_ref(), &o), span)
}

/// Stride, padding, output padding, dilation (each an int or a pair) and groups.
fn options(it: &Interp<'_>, b: &Bound, span: Span) -> R<ConvTransposeOptions> {
    let mut o = ConvTransposeOptions::default();
    let slots = [
        ("stride", &mut o.stride),
        ("padding", &mut o.padding),
        ("output_padding", &mut o.output_padding),
        ("dilation", &mut o.dilation),
    ];
    for (name, slot) in slots {
        match b.get(name) {
            Some(Value::Str(_)) => {
                return Err(it.fail(
                    span,
                    format!("conv_transpose2d({name}=<string>) is not supported in scenarios"),
                ))
            }
            Some(v) => *slot = pair(it, v, name, span)?,
            None => {}
        }
    }
    if let Some(v) = b.get("groups") {
        let g = expect_int(it, v, "groups", span)?;
        o.groups = usize::try_from(g)
            .map_err(|_| it.fail(span, "RuntimeError: non-positive groups is not supported"))?;
    }
    Ok(o)
}
