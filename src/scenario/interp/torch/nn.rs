//! `torch.nn` classes, `torch.nn.functional`, `torch.nn.utils`, and the methods of the
//! built-in modules.

use super::super::args::CallArgs;
use super::super::builtins::new_list;
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R, X};
use super::args::{
    bind, check_rt, device_arg, expect_bool, expect_float, expect_int, expect_tensor, reduction_arg,
};
use super::values::module_name;
use super::{entry, layers, tensor, Entry, Function, ModuleMethodFn, Run};
use crate::base::{DType, Device};
use crate::nn::{CrossEntropyLoss, LayerFn, Linear, MSELoss, ReLU, Stateless};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `torch.nn` classes.
pub(super) const MODULES: &[Function] = &[
    entry("Linear", Run::Call(module_class)),
    entry("ReLU", Run::Call(module_class)),
    entry("Sequential", Run::Python(sequential)),
    entry("MSELoss", Run::Call(module_class)),
    entry("CrossEntropyLoss", Run::Call(module_class)),
    entry("BCELoss", Run::Call(super::losses::module)),
    entry("BCEWithLogitsLoss", Run::Call(super::losses::module)),
    entry("KLDivLoss", Run::Call(super::losses::module)),
    entry("L1Loss", Run::Call(super::losses::module)),
    entry("NLLLoss", Run::Call(super::losses::module)),
    entry("SmoothL1Loss", Run::Call(super::losses::module)),
    entry("Identity", Run::Call(stateless_module)),
    entry("Flatten", Run::Call(stateless_module)),
    entry("GELU", Run::Call(stateless_module)),
    entry("SiLU", Run::Call(stateless_module)),
    entry("Tanh", Run::Call(stateless_module)),
    entry("Sigmoid", Run::Call(stateless_module)),
    entry("Softmax", Run::Call(stateless_module)),
    entry("Dropout", Run::Call(stateless_module)),
    entry("Dropout2d", Run::Call(stateless_module)),
    entry("Upsample", Run::Call(super::interpolate::upsample_module)),
    entry("ReflectionPad1d", Run::Call(stateless_module)),
    entry("ReflectionPad2d", Run::Call(stateless_module)),
    entry("ZeroPad2d", Run::Call(stateless_module)),
    entry(
        "UpsamplingNearest2d",
        Run::Call(super::interpolate::upsample_module),
    ),
    entry(
        "UpsamplingBilinear2d",
        Run::Call(super::interpolate::upsample_module),
    ),
    entry("Softplus", Run::Call(layers::activation_class)),
    entry("LeakyReLU", Run::Call(layers::activation_class)),
    entry("ELU", Run::Call(layers::activation_class)),
    entry("Conv1d", Run::Call(layers::layer_class)),
    entry("Conv2d", Run::Call(layers::layer_class)),
    entry("ConvTranspose2d", Run::Call(super::conv_transpose::module)),
    entry("MaxPool2d", Run::Call(layers::layer_class)),
    entry("AvgPool2d", Run::Call(layers::layer_class)),
    entry("AdaptiveAvgPool2d", Run::Call(layers::layer_class)),
    entry("MaxPool1d", Run::Call(super::pool1d::module)),
    entry("AvgPool1d", Run::Call(super::pool1d::module)),
    entry("AdaptiveAvgPool1d", Run::Call(super::pool1d::module)),
    entry("BatchNorm1d", Run::Call(layers::layer_class)),
    entry("BatchNorm2d", Run::Call(layers::layer_class)),
    entry("LayerNorm", Run::Call(layers::layer_class)),
    entry("GroupNorm", Run::Call(layers::layer_class)),
    entry("InstanceNorm1d", Run::Call(super::instance_norm::module)),
    entry("InstanceNorm2d", Run::Call(super::instance_norm::module)),
    entry("Embedding", Run::Call(layers::layer_class)),
    entry("RNN", Run::Call(super::layers::recurrent_module)),
    entry("LSTM", Run::Call(super::layers::recurrent_module)),
    entry("GRU", Run::Call(super::layers::recurrent_module)),
    entry("RNNCell", Run::Call(super::cells::cell_class)),
    entry("LSTMCell", Run::Call(super::cells::cell_class)),
    entry("GRUCell", Run::Call(super::cells::cell_class)),
    entry(
        "MultiheadAttention",
        Run::Call(super::transformer::multihead_attention),
    ),
    entry(
        "TransformerEncoderLayer",
        Run::Call(super::transformer::transformer_encoder_layer),
    ),
    entry(
        "TransformerEncoder",
        Run::Call(super::transformer::transformer_stack),
    ),
    entry(
        "TransformerDecoderLayer",
        Run::Call(super::transformer::transformer_encoder_layer),
    ),
    entry(
        "TransformerDecoder",
        Run::Call(super::transformer::transformer_stack),
    ),
    entry("Transformer", Run::Call(super::transformer::transformer)),
];

/// `nn.Transformer`'s static methods.
pub(super) const TRANSFORMER_STATIC: &[Function] = &[entry(
    "generate_square_subsequent_mask",
    Run::Call(super::transformer::generate_square_subsequent_mask),
)];

/// The modules without parameters (`crate::nn::Stateless`), with their constructors'
/// parameters.
fn stateless_module(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let function = match name {
        "Identity" => {
            // nn.Identity(*args, **kwargs) accepts and ignores any argument.
            LayerFn::Identity
        }
        "Flatten" => {
            let b = bind(it, &args, name, &["start_dim", "end_dim"], 0, span)?;
            let dim = |it: &Interp<'_>, p: &str, default: isize| match b.get(p) {
                Some(v) => expect_int(it, v, p, span).map(|d| d as isize),
                None => Ok(default),
            };
            LayerFn::Flatten {
                start_dim: dim(it, "start_dim", 1)?,
                end_dim: dim(it, "end_dim", -1)?,
            }
        }
        "GELU" => {
            let b = bind(it, &args, name, &["approximate"], 0, span)?;
            if b.get("approximate")
                .is_some_and(|v| !matches!(v, Value::Str(s) if s.as_ref() == "none"))
            {
                return Err(it
                    .fail(
                        span,
                        "nn.GELU(approximate='tanh') is not supported in scenarios",
                    )
                    .with_help("use the default approximate='none'"));
            }
            LayerFn::Gelu
        }
        "SiLU" => {
            let b = bind(it, &args, name, &["inplace"], 0, span)?;
            if expect_bool(it, b.get("inplace"), false, "inplace", span)? {
                return Err(it.fail(span, "nn.SiLU(inplace=True) is not supported in scenarios"));
            }
            LayerFn::Silu
        }
        "ReflectionPad1d" | "ReflectionPad2d" | "ZeroPad2d" => {
            let b = bind(it, &args, name, &["padding"], 1, span)?;
            let len = if name == "ReflectionPad1d" { 2 } else { 4 };
            let given = super::args::ints_of(
                it,
                &[b.raw("padding").cloned().unwrap_or(Value::None)],
                "padding",
                span,
            )?;
            let mut pad = [0i64; 4];
            match given.as_slice() {
                [one] => pad[..len].fill(*one as i64),
                sides if sides.len() == len => {
                    for (slot, &side) in pad.iter_mut().zip(sides) {
                        *slot = side as i64;
                    }
                }
                _ => {
                    return Err(it.fail(
                        span,
                        format!(
                            "TypeError: {name} takes an int or a tuple of {len} ints as padding"
                        ),
                    ))
                }
            }
            LayerFn::Pad {
                pad,
                len,
                reflect: name != "ZeroPad2d",
                class: match name {
                    "ReflectionPad1d" => "ReflectionPad1d",
                    "ReflectionPad2d" => "ReflectionPad2d",
                    _ => "ZeroPad2d",
                },
            }
        }
        "Tanh" | "Sigmoid" => {
            bind(it, &args, name, &[], 0, span)?;
            if name == "Tanh" {
                LayerFn::Tanh
            } else {
                LayerFn::Sigmoid
            }
        }
        "Softmax" => {
            let b = bind(it, &args, name, &["dim"], 0, span)?;
            match b.get("dim") {
                Some(v) => LayerFn::Softmax {
                    dim: expect_int(it, v, "dim", span)? as isize,
                },
                None => {
                    return Err(it
                        .fail(
                            span,
                            "nn.Softmax() without dim is not supported in scenarios",
                        )
                        .with_help("pass dim= (PyTorch deprecates choosing it implicitly)"))
                }
            }
        }
        _ => {
            let b = bind(it, &args, name, &["p", "inplace"], 0, span)?;
            let p = match b.get("p") {
                Some(v) => expect_float(it, v, "p", span)?,
                None => 0.5,
            };
            if !(0.0..=1.0).contains(&p) {
                return Err(it.fail(
                    span,
                    format!(
                        "ValueError: dropout probability has to be between 0 and 1, but got {p}"
                    ),
                ));
            }
            if expect_bool(it, b.get("inplace"), false, "inplace", span)? {
                return Err(it
                    .fail(
                        span,
                        format!("nn.{name}(inplace=True) is not supported in scenarios"),
                    )
                    .with_help("use the default inplace=False"));
            }
            if name == "Dropout2d" {
                LayerFn::Dropout2d { p }
            } else {
                LayerFn::Dropout { p }
            }
        }
    };
    Ok(Value::Module(ModuleRef::new(ModuleKind::Stateless(
        Stateless::new(function),
    ))))
}

/// `torch.nn.functional`: losses, and tensor ops whose `F.*` form is the only one here.
pub(super) const FUNCTIONAL: &[Function] = &[
    entry("mse_loss", Run::Call(loss)),
    entry("cross_entropy", Run::Call(loss)),
    entry("l1_loss", Run::Call(loss)),
    entry("nll_loss", Run::Call(loss)),
    entry("smooth_l1_loss", Run::Call(smooth_l1_loss)),
    entry("binary_cross_entropy", Run::Call(super::losses::functional)),
    entry(
        "binary_cross_entropy_with_logits",
        Run::Call(super::losses::functional),
    ),
    entry("kl_div", Run::Call(super::losses::functional)),
    entry("relu", Run::Call(relu)),
    entry("linear", Run::OnInput(tensor::linear)),
    entry("gelu", Run::OnInput(tensor::unary)),
    entry("silu", Run::OnInput(tensor::unary)),
    entry("tanh", Run::OnInput(tensor::unary)),
    entry("sigmoid", Run::OnInput(tensor::unary)),
    entry("softmax", Run::OnInput(tensor::softmax)),
    entry("log_softmax", Run::OnInput(tensor::softmax)),
    entry("dropout", Run::OnInput(tensor::dropout)),
    entry("dropout2d", Run::OnInput(tensor::dropout)),
    entry("softplus", Run::OnInput(super::math::softplus)),
    entry("pad", Run::OnInput(super::math::pad)),
    entry("layer_norm", Run::OnInput(tensor::layer_norm)),
    entry("group_norm", Run::Call(group_norm)),
    entry("instance_norm", Run::Call(super::instance_norm::functional)),
    entry("interpolate", Run::Call(super::interpolate::interpolate)),
    entry("cosine_similarity", Run::Call(cosine_similarity)),
    entry("upsample", Run::Call(super::interpolate::interpolate)),
    entry("conv1d", Run::Call(layers::conv)),
    entry("conv2d", Run::Call(layers::conv)),
    entry(
        "conv_transpose2d",
        Run::Call(super::conv_transpose::functional),
    ),
    entry("max_pool2d", Run::Call(layers::pool)),
    entry("avg_pool2d", Run::Call(layers::pool)),
    entry("adaptive_avg_pool2d", Run::Call(layers::pool)),
    entry("max_pool1d", Run::Call(super::pool1d::functional)),
    entry("avg_pool1d", Run::Call(super::pool1d::functional)),
    entry("adaptive_avg_pool1d", Run::Call(super::pool1d::functional)),
    entry("batch_norm", Run::Call(layers::batch_norm)),
    entry("embedding", Run::Call(layers::embedding)),
    entry("leaky_relu", Run::Call(layers::activation)),
    entry("elu", Run::Call(layers::activation)),
    entry("one_hot", Run::Call(super::encoding::one_hot)),
    entry("normalize", Run::Call(super::spellings::normalize)),
    entry(
        "scaled_dot_product_attention",
        Run::Call(super::layers::scaled_dot_product_attention),
    ),
];

/// `torch.nn.utils`.
pub(super) const UTILS: &[Function] = &[
    entry("clip_grad_norm_", Run::Call(clip)),
    entry("clip_grad_value_", Run::Call(clip)),
];

/// Methods of the built-in modules (`nn.Module` subclasses are the interpreter's own).
pub(super) const MODULE_METHODS: &[Entry<ModuleMethodFn>] = &[
    entry("to", move_to),
    entry("cuda", move_to),
    entry("cpu", move_to),
    entry("half", super::amp::module_method),
    entry("bfloat16", super::amp::module_method),
    entry("float", super::amp::module_method),
    entry("parameters", parameters),
    entry("train", train),
    entry("eval", eval),
    entry("zero_grad", zero_grad),
];

/// `F.mse_loss`, `F.cross_entropy`, `F.l1_loss`, `F.nll_loss`: `(input, target, reduction=)`.
fn loss(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
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

/// `F.smooth_l1_loss(input, target, size_average=None, reduce=None, reduction='mean',
/// beta=1.0)`; the legacy `size_average` and `reduce` must stay `None`.
fn smooth_l1_loss(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(
        it,
        &args,
        name,
        &[
            "input",
            "target",
            "size_average",
            "reduce",
            "reduction",
            "beta",
        ],
        2,
        span,
    )?;
    for legacy in ["size_average", "reduce"] {
        if b.get(legacy).is_some_and(|v| !matches!(v, Value::None)) {
            return Err(it
                .fail(
                    span,
                    format!("{name}({legacy}=...) is not supported in scenarios"),
                )
                .with_help("use reduction= (size_average and reduce are deprecated)"));
        }
    }
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let target = expect_tensor(it, b.raw("target"), "target", span)?;
    let reduction = reduction_arg(it, b.get("reduction"), span)?;
    let beta = match b.get("beta") {
        Some(v) => expect_float(it, v, "beta", span)?,
        None => 1.0,
    };
    let r = input.smooth_l1_loss(&target, reduction, beta);
    check_rt(it, r, span)
}

/// `nn.Sequential(*modules)`: the library container when every child is a library module, a
/// scenario container (`module::sequential_of`) when one is written in the scenario.
fn sequential(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> X<Value> {
    if args.pos.iter().all(|v| matches!(v, Value::Module(_))) {
        let r = module_class(it, name, args, span);
        return it.lift(r);
    }
    let r = args
        .only_keywords("Sequential", &[])
        .map_err(|m| it.fail(span, m));
    it.lift(r)?;
    super::super::module::sequential_of(it, args.pos, span)
}

/// `F.relu(input, inplace=False)`.
fn relu(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, "relu", &["input", "inplace"], 1, span)?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let r = if expect_bool(it, b.get("inplace"), false, "inplace", span)? {
        input.relu_()
    } else {
        input.relu()
    };
    check_rt(it, r, span)
}

/// `F.group_norm(input, num_groups, weight=None, bias=None, eps=1e-05)`, with the checks
/// torch/nn/functional.py makes before calling `torch.group_norm`.
fn group_norm(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let params = &["input", "num_groups", "weight", "bias", "eps"];
    let b = bind(it, &args, name, params, 2, span)?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let groups = expect_int(
        it,
        b.raw("num_groups").unwrap_or(&Value::None),
        "num_groups",
        span,
    )?;
    let weight = layers::opt_tensor(it, &b, "weight", span)?;
    let bias = layers::opt_tensor(it, &b, "bias", span)?;
    let eps = layers::float_or(it, &b, "eps", 1e-5, span)?;
    let shape = input.shape();
    if shape.len() < 2 {
        return Err(it.fail(
            span,
            format!(
                "RuntimeError: Expected at least 2 dimensions for input tensor but received {}",
                shape.len()
            ),
        ));
    }
    // `_verify_batch_size([N * C // num_groups, num_groups] + spatial)`.
    if groups == 0 {
        return Err(it.fail(
            span,
            "ZeroDivisionError: integer division or modulo by zero",
        ));
    }
    let channels = (shape[0] * shape[1]) as i64;
    // Python's `//` rounds toward negative infinity.
    let first = channels / groups - i64::from(channels % groups != 0 && groups < 0);
    let mut size = vec![first, groups];
    size.extend(shape[2..].iter().map(|&s| s as i64));
    if first * shape[2..].iter().product::<usize>() as i64 == 1 {
        let size: Vec<String> = size.iter().map(i64::to_string).collect();
        return Err(it.fail(span, format!("ValueError: Expected more than 1 value per channel when training, got input size [{}]", size.join(", "))));
    }
    let Ok(groups) = usize::try_from(groups) else {
        return Err(it.fail(
            span,
            format!("RuntimeError: Expected num groups to be greater than 0, got {groups}"),
        ));
    };
    check_rt(
        it,
        input.group_norm(groups, weight.as_ref(), bias.as_ref(), eps),
        span,
    )
}

/// `F.cosine_similarity(x1, x2, dim=1, eps=1e-08)` (also `torch.cosine_similarity`).
pub(super) fn cosine_similarity(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, name, &["x1", "x2", "dim", "eps"], 2, span)?;
    let x1 = expect_tensor(it, b.raw("x1"), "x1", span)?;
    let x2 = expect_tensor(it, b.raw("x2"), "x2", span)?;
    let dim = match b.get("dim") {
        Some(v) => expect_int(it, v, "dim", span)? as isize,
        None => 1,
    };
    let eps = layers::float_or(it, &b, "eps", 1e-8, span)?;
    check_rt(it, x1.cosine_similarity(&x2, dim, eps), span)
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
pub(in super::super) fn call_module(
    it: &mut Interp<'_>,
    m: &ModuleRef,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    if let Some(module) = m.call() {
        return super::layers::call_with_values(it, module, module_name(m), args, span);
    }
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

/// `module.to(device)`, `.cuda()`, `.cpu()`: parameters move in place.
fn move_to(it: &mut Interp<'_>, m: &ModuleRef, name: &str, args: CallArgs, span: Span) -> R<Value> {
    if super::amp::module_dtype(name, &args).is_some() {
        return super::amp::module_method(it, m, name, args, span);
    }
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
    Ok(Value::Module(m.clone()))
}

/// `module.parameters()`, as a list.
fn parameters(
    it: &mut Interp<'_>,
    m: &ModuleRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    bind(it, &args, "parameters", &["recurse"], 0, span)?;
    Ok(new_list(
        m.parameters().into_iter().map(Value::Tensor).collect(),
        span,
    ))
}

/// `module.train(mode=True)`.
fn train(it: &mut Interp<'_>, m: &ModuleRef, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, "train", &["mode"], 0, span)?;
    m.train(expect_bool(it, b.get("mode"), true, "mode", span)?);
    Ok(Value::Module(m.clone()))
}

/// `module.eval()`.
fn eval(it: &mut Interp<'_>, m: &ModuleRef, _name: &str, args: CallArgs, span: Span) -> R<Value> {
    bind(it, &args, "eval", &[], 0, span)?;
    m.train(false);
    Ok(Value::Module(m.clone()))
}

/// `module.zero_grad(set_to_none=True)`.
fn zero_grad(
    it: &mut Interp<'_>,
    m: &ModuleRef,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let b = bind(it, &args, "zero_grad", &["set_to_none"], 0, span)?;
    let set_to_none = expect_bool(it, b.get("set_to_none"), true, "set_to_none", span)?;
    m.zero_grad(set_to_none)
        .map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::None)
}
