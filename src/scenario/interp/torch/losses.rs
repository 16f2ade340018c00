//! `F.binary_cross_entropy`, `F.binary_cross_entropy_with_logits`, `F.kl_div` and their
//! modules `nn.BCELoss`, `nn.BCEWithLogitsLoss`, `nn.KLDivLoss`, with PyTorch's parameters; and
//! the modules `nn.L1Loss`, `nn.NLLLoss`, `nn.SmoothL1Loss` of `F.l1_loss`, `F.nll_loss`,
//! `F.smooth_l1_loss`.

use super::super::args::{Bound, CallArgs};
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{
    bind, check_rt, expect_bool, expect_float, expect_int, expect_tensor, reduction_arg,
};
use crate::nn::{Loss, LossKind};
use crate::scenario::Span;
use crate::tensor::{KlDivReduction, Tensor};

const BCE: &[&str] = &[
    "input",
    "target",
    "weight",
    "size_average",
    "reduce",
    "reduction",
];
const BCE_LOGITS: &[&str] = &[
    "input",
    "target",
    "weight",
    "size_average",
    "reduce",
    "reduction",
    "pos_weight",
];
const KL_DIV: &[&str] = &[
    "input",
    "target",
    "size_average",
    "reduce",
    "reduction",
    "log_target",
];

const L1: &[&str] = &["size_average", "reduce", "reduction"];
const NLL: &[&str] = &[
    "weight",
    "size_average",
    "ignore_index",
    "reduce",
    "reduction",
];
const SMOOTH_L1: &[&str] = &["size_average", "reduce", "reduction", "beta"];

/// The legacy `size_average` and `reduce` must stay `None`.
fn refuse_legacy(it: &Interp<'_>, b: &Bound, name: &str, span: Span) -> R<()> {
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
    Ok(())
}

/// An optional tensor argument (`weight=None`).
fn optional_tensor(it: &Interp<'_>, b: &Bound, name: &str, span: Span) -> R<Option<Tensor>> {
    match b.get(name) {
        None | Some(Value::None) => Ok(None),
        v => expect_tensor(it, v, name, span).map(Some),
    }
}

/// `reduction=` of kl_div: `'batchmean'` besides the usual three.
fn kl_reduction(it: &Interp<'_>, b: &Bound, span: Span) -> R<KlDivReduction> {
    if let Some(Value::Str(s)) = b.get("reduction") {
        if &**s == "batchmean" {
            return Ok(KlDivReduction::BatchMean);
        }
    }
    Ok(match reduction_arg(it, b.get("reduction"), span)? {
        crate::tensor::Reduction::None => KlDivReduction::None,
        crate::tensor::Reduction::Mean => KlDivReduction::Mean,
        crate::tensor::Reduction::Sum => KlDivReduction::Sum,
    })
}

/// `F.binary_cross_entropy`, `F.binary_cross_entropy_with_logits`, `F.kl_div`.
pub(super) fn functional(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let params = match name {
        "binary_cross_entropy" => BCE,
        "binary_cross_entropy_with_logits" => BCE_LOGITS,
        _ => KL_DIV,
    };
    let b = bind(it, &args, name, params, 2, span)?;
    refuse_legacy(it, &b, name, span)?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let target = expect_tensor(it, b.raw("target"), "target", span)?;
    let r = match name {
        "kl_div" => {
            let reduction = kl_reduction(it, &b, span)?;
            let log_target = expect_bool(it, b.get("log_target"), false, "log_target", span)?;
            input.kl_div(&target, reduction, log_target)
        }
        _ => {
            let reduction = reduction_arg(it, b.get("reduction"), span)?;
            let weight = optional_tensor(it, &b, "weight", span)?;
            if name == "binary_cross_entropy" {
                input.binary_cross_entropy(&target, weight.as_ref(), reduction)
            } else {
                let pos_weight = optional_tensor(it, &b, "pos_weight", span)?;
                input.binary_cross_entropy_with_logits(
                    &target,
                    weight.as_ref(),
                    pos_weight.as_ref(),
                    reduction,
                )
            }
        }
    };
    check_rt(it, r, span)
}

/// `nn.BCELoss(weight=None, size_average=None, reduce=None, reduction='mean')`,
/// `nn.BCEWithLogitsLoss(..., pos_weight=None)`,
/// `nn.KLDivLoss(size_average=None, reduce=None, reduction='mean', log_target=False)`,
/// `nn.L1Loss(size_average=None, reduce=None, reduction='mean')`,
/// `nn.NLLLoss(weight=None, size_average=None, ignore_index=-100, reduce=None,
/// reduction='mean')` (class weights and another `ignore_index` refused: `F.nll_loss` here
/// takes neither), `nn.SmoothL1Loss(size_average=None, reduce=None, reduction='mean',
/// beta=1.0)`.
pub(super) fn module(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    // The module's parameters are the functional's without input and target.
    let params = match name {
        "BCELoss" => &BCE[2..],
        "BCEWithLogitsLoss" => &BCE_LOGITS[2..],
        "L1Loss" => L1,
        "NLLLoss" => NLL,
        "SmoothL1Loss" => SMOOTH_L1,
        _ => &KL_DIV[2..],
    };
    let b = bind(it, &args, name, params, 0, span)?;
    refuse_legacy(it, &b, name, span)?;
    let (kind, weight, pos_weight) = match name {
        "KLDivLoss" => {
            let reduction = kl_reduction(it, &b, span)?;
            let log_target = expect_bool(it, b.get("log_target"), false, "log_target", span)?;
            (LossKind::KlDiv(reduction, log_target), None, None)
        }
        "L1Loss" => (
            LossKind::L1(reduction_arg(it, b.get("reduction"), span)?),
            None,
            None,
        ),
        "SmoothL1Loss" => {
            let reduction = reduction_arg(it, b.get("reduction"), span)?;
            let beta = match b.get("beta") {
                Some(v) => expect_float(it, v, "beta", span)?,
                None => 1.0,
            };
            (LossKind::SmoothL1(reduction, beta), None, None)
        }
        "NLLLoss" => {
            if optional_tensor(it, &b, "weight", span)?.is_some() {
                return Err(it
                    .fail(span, "NLLLoss(weight=...) is not supported in scenarios")
                    .with_help("class weights are not modelled; leave weight=None"));
            }
            if let Some(v) = b.get("ignore_index") {
                if expect_int(it, v, "ignore_index", span)? != -100 {
                    return Err(it
                        .fail(
                            span,
                            "NLLLoss(ignore_index=...) is not supported in scenarios",
                        )
                        .with_help("only the default ignore_index=-100 is modelled"));
                }
            }
            (
                LossKind::Nll(reduction_arg(it, b.get("reduction"), span)?),
                None,
                None,
            )
        }
        _ => {
            let reduction = reduction_arg(it, b.get("reduction"), span)?;
            let weight = optional_tensor(it, &b, "weight", span)?;
            if name == "BCELoss" {
                (LossKind::Bce(reduction), weight, None)
            } else {
                let pos_weight = optional_tensor(it, &b, "pos_weight", span)?;
                (LossKind::BceWithLogits(reduction), weight, pos_weight)
            }
        }
    };
    let loss = Loss::new(kind, weight, pos_weight).map_err(|e| it.tensor_error(span, e))?;
    Ok(Value::Module(ModuleRef::new(ModuleKind::Layer(Box::new(
        loss,
    )))))
}
