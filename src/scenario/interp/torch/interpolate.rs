//! `F.interpolate` (and its old name `F.upsample`), `nn.Upsample`, `nn.UpsamplingNearest2d`
//! and `nn.UpsamplingBilinear2d`, with the checks torch/nn/functional.py makes before it calls
//! ATen, in its order and with its `ValueError` messages.

use super::super::args::{Bound, CallArgs};
use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, expect_bool, expect_float, expect_int, expect_tensor};
use crate::nn::{LayerFn, Stateless};
use crate::scenario::Span;
use crate::tensor::{Interpolate, InterpolateMode, Resize, Spelled};

const INTERPOLATE: &[&str] = &[
    "input",
    "size",
    "scale_factor",
    "mode",
    "align_corners",
    "recompute_scale_factor",
    "antialias",
];

/// `F.interpolate(input, size=None, scale_factor=None, mode='nearest', align_corners=None,
/// recompute_scale_factor=None, antialias=False)`.
pub(super) fn interpolate(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, INTERPOLATE, 1, span)?;
    let input = expect_tensor(it, b.raw("input"), "input", span)?;
    let spatial: Vec<usize> = input.shape().iter().skip(2).copied().collect();
    let how = settings(it, &b, Some(&spatial), span)?;
    check_rt(it, input.interpolate(&how), span)
}

/// `nn.Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None,
/// recompute_scale_factor=None)`, and its subclasses, which fix the mode (and, for bilinear,
/// `align_corners=True`).
pub(super) fn upsample_module(
    it: &mut Interp<'_>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let (how, class) = if name == "Upsample" {
        let params = &INTERPOLATE[1..6];
        let b = bind(it, &args, name, params, 0, span)?;
        (settings(it, &b, None, span)?, "Upsample")
    } else {
        let b = bind(it, &args, name, &["size", "scale_factor"], 0, span)?;
        let mut how = settings(it, &b, None, span)?;
        if name == "UpsamplingBilinear2d" {
            how.mode = InterpolateMode::Bilinear {
                align_corners: true,
            };
            (how, "UpsamplingBilinear2d")
        } else {
            (how, "UpsamplingNearest2d")
        }
    };
    let function = LayerFn::Upsample { how, class };
    Ok(Value::Module(ModuleRef::new(ModuleKind::Stateless(
        Stateless::new(function),
    ))))
}

/// The mode, size or factors and options, checked as functional.py checks them; `spatial` is
/// the input's spatial sizes when known (F.interpolate), `None` for a module, which is
/// modelled for two spatial dimensions.
fn settings(it: &Interp<'_>, b: &Bound, spatial: Option<&[usize]>, span: Span) -> R<Interpolate> {
    let mode = match b.get("mode") {
        Some(Value::Str(s)) => s.to_string(),
        Some(v) => {
            return Err(it.fail(
                span,
                format!("TypeError: mode must be a string, not {}", v.type_name()),
            ))
        }
        None => "nearest".to_string(),
    };
    let align_corners = b
        .get("align_corners")
        .map(|v| expect_bool(it, Some(v), false, "align_corners", span))
        .transpose()?;
    let mode = match mode.as_str() {
        "nearest" | "area" | "nearest-exact" if align_corners.is_some() => {
            return Err(it.fail(span, "ValueError: align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"));
        }
        "nearest" => InterpolateMode::Nearest,
        "area" => InterpolateMode::Area,
        "bilinear" => InterpolateMode::Bilinear {
            align_corners: align_corners.unwrap_or(false),
        },
        "linear" | "bicubic" | "trilinear" | "nearest-exact" => {
            return Err(it
                .fail(
                    span,
                    format!("F.interpolate(mode='{mode}') is not supported in scenarios"),
                )
                .with_help("modes 'nearest', 'bilinear' and 'area' of 4-D input are modelled"));
        }
        other => {
            let dims = spatial.map_or(4, |s| s.len() + 2);
            return Err(it.fail(span, format!("NotImplementedError: Input Error: Only 3D, 4D and 5D input Tensors supported (got {dims}D) for the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {other})")));
        }
    };
    let (size, scale) = (b.get("size"), b.get("scale_factor"));
    let resize = match (size, scale) {
        (Some(_), Some(_)) => {
            return Err(it.fail(
                span,
                "ValueError: only one of size or scale_factor should be defined",
            ));
        }
        (None, None) => {
            return Err(it.fail(
                span,
                "ValueError: either size or scale_factor should be defined",
            ));
        }
        (Some(v), None) => {
            let (values, spelled) = pair(it, v, |it, v| expect_int(it, v, "size", span), span)?;
            let sizes = values
                .iter()
                .map(|&s| usize::try_from(s).unwrap_or(0))
                .collect::<Vec<_>>();
            check_rank(it, &sizes, spelled, "output size", spatial, span)?;
            Resize::Size([sizes[0], sizes[sizes.len() - 1]], spelled)
        }
        (None, Some(v)) => {
            let (values, spelled) = pair(
                it,
                v,
                |it, v| expect_float(it, v, "scale_factor", span),
                span,
            )?;
            check_rank(it, &values, spelled, "scale_factor", spatial, span)?;
            Resize::Scale([values[0], values[values.len() - 1]], spelled)
        }
    };
    let recompute = match b.get("recompute_scale_factor") {
        Some(v) => expect_bool(it, Some(v), false, "recompute_scale_factor", span)?,
        None => false,
    };
    if recompute && size.is_some() {
        return Err(it.fail(
            span,
            "ValueError: recompute_scale_factor is not meaningful with an explicit size.",
        ));
    }
    if b.get("antialias")
        .is_some_and(|v| !matches!(v, Value::Bool(false)))
    {
        return Err(it.fail(
            span,
            "F.interpolate(antialias=True) is not supported in scenarios",
        ));
    }
    Ok(Interpolate {
        resize,
        mode,
        recompute_scale_factor: recompute,
    })
}

/// One number (for every spatial dimension) or a tuple or list of them.
fn pair<T: Copy>(
    it: &Interp<'_>,
    v: &Value,
    one: impl Fn(&Interp<'_>, &Value) -> R<T>,
    span: Span,
) -> R<(Vec<T>, Spelled)> {
    let (items, spelled) = match v {
        Value::Tuple(t) => (t.to_vec(), Spelled::Tuple),
        Value::List(l) => (
            l.borrow().iter().map(|s| s.value.clone()).collect(),
            Spelled::List,
        ),
        v => (vec![v.clone()], Spelled::One),
    };
    let values = items.iter().map(|v| one(it, v)).collect::<R<Vec<T>>>()?;
    if values.is_empty() {
        return Err(it.fail(span, "ValueError: size or scale_factor must not be empty"));
    }
    Ok((values, spelled))
}

/// functional.py's check that a tuple or list has one entry per spatial dimension (with the
/// input known), or that a module's has two, the dimensions modelled.
fn check_rank<T: std::fmt::Debug>(
    it: &Interp<'_>,
    values: &[T],
    spelled: Spelled,
    what: &str,
    spatial: Option<&[usize]>,
    span: Span,
) -> R<()> {
    if spelled == Spelled::One {
        return Ok(());
    }
    let written = match spelled {
        Spelled::Tuple if values.len() == 1 => format!("({:?},)", values[0]),
        Spelled::Tuple => format!("({})", join(values)),
        _ => format!("[{}]", join(values)),
    };
    match spatial {
        Some(dims) if dims.len() != values.len() => {
            let (lead, format) = if what == "output size" {
                (
                    "Input and output must have",
                    "output size in (o1, o2, ...,oK)",
                )
            } else {
                (
                    "Input and scale_factor must have",
                    "scale_factor in (s1, s2, ...,sK)",
                )
            };
            let shape = if what == "output size" {
                "output size of"
            } else {
                "scale_factor of shape"
            };
            Err(it.fail(span, format!("ValueError: {lead} the same number of spatial dimensions, but got input with spatial dimensions of [{}] and {shape} {written}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and {format} format.", join(dims))))
        }
        None if values.len() != 2 => Err(it
            .fail(
                span,
                format!("nn.Upsample with {what} {written} is not supported in scenarios"),
            )
            .with_help("two spatial dimensions (4-D input) are modelled")),
        _ => Ok(()),
    }
}

fn join<T: std::fmt::Debug>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
