//! `nn.InstanceNorm1d`, `nn.InstanceNorm2d` and `F.instance_norm` (style transfer, CycleGAN's
//! generators), without running statistics, with the checks of torch/nn/functional.py.

use super::super::args::CallArgs;
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, device_arg, expect_bool, expect_tensor};
use super::layers::{count, float_or, opt_tensor, refuse_non_default};
use crate::base::Device;
use crate::nn::InstanceNorm;
use crate::scenario::Span;

const MODULE: &[&str] = &[
    "num_features",
    "eps",
    "momentum",
    "affine",
    "track_running_stats",
    "device",
    "dtype",
    "bias",
];
const FUNCTIONAL: &[&str] = &[
    "input",
    "running_mean",
    "running_var",
    "weight",
    "bias",
    "use_input_stats",
    "momentum",
    "eps",
];

/// `nn.InstanceNorm{1,2}d(num_features, eps=1e-05, momentum=0.1, affine=False,
/// track_running_stats=False, bias=True)`.
pub(super) fn module(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, MODULE, 1, span)?;
    refuse_non_default(it, &b, name, span)?;
    if expect_bool(
        it,
        b.get("track_running_stats"),
        false,
        "track_running_stats",
        span,
    )? {
        return Err(it
            .fail(
                span,
                format!("nn.{name}(track_running_stats=True) is not supported in scenarios"),
            )
            .with_help("the default, statistics of each input, is modelled"));
    }
    let features = count(it, &b, "num_features", span)?;
    let eps = float_or(it, &b, "eps", 1e-5, span)?;
    let momentum = float_or(it, &b, "momentum", 0.1, span)?;
    let affine = expect_bool(it, b.get("affine"), false, "affine", span)?;
    let bias = expect_bool(it, b.get("bias"), true, "bias", span)?;
    let device = device_arg(it, b.get("device"), span)?;
    let dims = if name == "InstanceNorm1d" { 1 } else { 2 };
    let layer = InstanceNorm::new(
        &it.rt.clone(),
        dims,
        features,
        (eps, momentum),
        [affine, bias],
    )
    .map_err(|e| it.tensor_error(span, e))?;
    let m = ModuleRef::new(ModuleKind::Layer(Box::new(layer)));
    if device == Device::Cuda {
        m.to(device).map_err(|e| it.tensor_error(span, e))?;
    }
    Ok(Value::Module(m))
}

/// `F.instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
/// use_input_stats=True, momentum=0.1, eps=1e-05)`.
pub(super) fn functional(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, FUNCTIONAL, 1, span)?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    if b.get("running_mean").is_some()
        || b.get("running_var").is_some()
        || !expect_bool(it, b.get("use_input_stats"), true, "use_input_stats", span)?
    {
        return Err(it
            .fail(
                span,
                "F.instance_norm with running statistics is not supported in scenarios",
            )
            .with_help("the default, statistics of each input, is modelled"));
    }
    let shape = input.shape();
    // `_verify_spatial_size`: at least one spatial dimension holds more than one element.
    if shape.len() >= 2 && shape[2..].iter().product::<usize>() == 1 {
        let sizes: Vec<String> = shape.iter().map(usize::to_string).collect();
        return Err(it.fail(
            span,
            format!(
                "ValueError: Expected more than 1 spatial element when training, got input size torch.Size([{}])",
                sizes.join(", ")
            ),
        ));
    }
    let weight = opt_tensor(it, &b, "weight", span)?;
    let bias = opt_tensor(it, &b, "bias", span)?;
    let eps = float_or(it, &b, "eps", 1e-5, span)?;
    check_rt(
        it,
        input.instance_norm(weight.as_ref(), bias.as_ref(), eps),
        span,
    )
}
