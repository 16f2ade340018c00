//! The element-wise math functions past the basic ones: `sin`, `cos`, `log1p`, `expm1`,
//! `rsqrt`, and the rounding functions `floor`, `ceil`, `round`, `trunc` (`fix`) and `sign`;
//! the sorts, `topk`, `sort`, `argsort`; `cumsum`, `flip` and `repeat`; as tensor methods and
//! `torch.*` functions (`repeat` is a method only); `roll`; and `F.softplus` and `F.pad`. Each
//! element-wise function is one kernel and one node (SinBackward0 and CosBackward0 save
//! `self`, Log1PBackward0 `self`, Expm1Backward0 and RsqrtBackward0 `result`, the rounding
//! nodes nothing); TopkBackward0 and SortBackward0 save `indices`.

use std::rc::Rc;

use super::args::method;
use crate::scenario::interp::pyobj::Native;
use crate::scenario::interp::value::Value;
use crate::scenario::interp::{CallArgs, Interp, R};
use crate::scenario::Span;
use crate::tensor::{Tensor, TensorError};

// `sin()`, `cos()`, `log1p()`, `expm1()`, `rsqrt()`, `floor()`, `ceil()`, `round(decimals=0)`,
// `trunc()`, `fix()`, `sign()`.
method!(
    elementwise,
    |name| if name == "round" { &["decimals"] } else { &[] },
    0,
    |c| {
        let t = c.t;
        if c.b.get("decimals").is_some() {
            let decimals = c.int("decimals")?;
            let Ok(decimals) = i32::try_from(decimals) else {
                return Err(c.it.fail(
                    c.span,
                    format!("OverflowError: round(): decimals {decimals} is out of range"),
                ));
            };
            return c.done(t.round_decimals(decimals));
        }
        let r = match c.name {
            "sin" => t.sin(),
            "cos" => t.cos(),
            "log1p" => t.log1p(),
            "expm1" => t.expm1(),
            "rsqrt" => t.rsqrt(),
            "floor" => t.floor(),
            "ceil" => t.ceil(),
            "round" => t.round(),
            "trunc" | "fix" => t.trunc(),
            _ => t.sign(),
        };
        c.done(r)
    }
);

// `topk(k, dim=-1, largest=True, sorted=True)`: the values and indices, as a tuple.
method!(topk, ["k", "dim", "largest", "sorted"], 1, |c| {
    let k = c.int("k")?;
    let dim = c.dim("dim")?.unwrap_or(-1);
    let largest = c.flag("largest", true)?;
    c.flag("sorted", true)?;
    let r = c.t.topk(k, dim, largest);
    values_and_indices(c, "topk", r)
});

// `sort(dim=-1, descending=False, stable=False)` and `argsort(...)` (always stable here, which
// `stable=False` allows).
method!(sort, ["dim", "descending", "stable"], 0, |c| {
    let dim = c.dim("dim")?.unwrap_or(-1);
    let descending = c.flag("descending", false)?;
    if c.name == "argsort" {
        c.flag("stable", false)?;
        return c.done(c.t.argsort(dim, descending));
    }
    // Any `stable=` (None too) picks the `sort.stable` overload.
    let r = match c.b.raw("stable") {
        Some(Value::None) => c.t.sort_stable(dim, descending),
        Some(_) => {
            c.flag("stable", false)?;
            c.t.sort_stable(dim, descending)
        }
        None => c.t.sort(dim, descending),
    };
    values_and_indices(c, "sort", r)
});

/// `(values, indices)` as the scenario receives them: a `torch.return_types.<op>`, a tuple
/// whose fields are also `.values` and `.indices`.
pub(super) fn values_and_indices(
    c: super::args::Call<'_, '_>,
    op: &str,
    r: Result<(Tensor, Tensor), TensorError>,
) -> R<Value> {
    let (values, indices) = r.map_err(|e| c.it.tensor_error(c.span, e))?;
    let class = Native::NamedTupleType(
        format!("torch.return_types.{op}").into(),
        vec!["values".into(), "indices".into()],
    );
    Ok(Value::Native(Rc::new(Native::NamedTuple(
        Rc::new(class),
        Rc::new(vec![Value::Tensor(values), Value::Tensor(indices)]),
    ))))
}

// `cumsum(dim, dtype=None)`.
method!(cumsum, ["dim", "dtype"], 1, |c| {
    if c.b.get("dtype").is_some() {
        return Err(c
            .it
            .fail(c.span, "cumsum(dtype=...) is not supported in scenarios")
            .with_help("convert the input first: x.double().cumsum(dim)"));
    }
    let dim = c.dim("dim")?.unwrap_or(0);
    c.done(c.t.cumsum(dim))
});

/// `flip(*dims)` (also `torch.flip(input, dims)`) and `repeat(*repeats)`: the integers given
/// one by one, as one list or tuple, or by keyword.
pub(super) fn flip_or_repeat(
    it: &mut Interp<'_>,
    t: &Tensor,
    name: &str,
    args: CallArgs,
    span: Span,
) -> R<Value> {
    let what = if name == "flip" { "dims" } else { "repeats" };
    let ints = super::args::ints_or_keyword(it, name, &args, what, span)?;
    let r = if name == "flip" {
        t.flip(&ints)
    } else {
        t.repeat(&ints.iter().map(|&i| i as i64).collect::<Vec<_>>())
    };
    super::args::check_rt(it, r, span)
}

// `F.softplus(input, beta=1.0, threshold=20.0)`.
method!(softplus, ["beta", "threshold"], 0, |c| {
    let beta = c.b.get("beta").map_or(Ok(1.0), |_| c.float("beta"))?;
    let threshold =
        c.b.get("threshold")
            .map_or(Ok(20.0), |_| c.float("threshold"))?;
    c.done(c.t.softplus(beta, threshold))
});

// `F.pad(input, pad, mode='constant', value=None)`: the constant mode (a missing value pads
// with 0) and the reflect mode of the last one or two dimensions.
method!(pad, ["pad", "mode", "value"], 1, |c| {
    let mode = match c.b.get("mode") {
        None => "constant".to_string(),
        Some(Value::Str(s)) if matches!(s.as_ref(), "constant" | "reflect") => s.to_string(),
        Some(mode) => {
            return Err(c
                .it
                .fail(
                    c.span,
                    format!(
                        "F.pad(mode={}) is not supported in scenarios",
                        crate::scenario::interp::value::repr(mode)
                    ),
                )
                .with_help("the constant and reflect modes are modelled"));
        }
    };
    let pad = super::args::ints_of(
        c.it,
        &[c.b.raw("pad").cloned().unwrap_or(Value::None)],
        "pad",
        c.span,
    )?;
    let pad: Vec<i64> = pad.iter().map(|&p| p as i64).collect();
    let value = c.b.get("value").map_or(Ok(0.0), |_| c.float("value"))?;
    if mode == "constant" {
        return c.done(c.t.constant_pad(&pad, value));
    }
    if value != 0.0 {
        return Err(c.it.fail(
            c.span,
            "RuntimeError: Padding mode \"reflect\" doesn't take in value argument",
        ));
    }
    let n = c.t.dim();
    if matches!((pad.len(), n), (6, 4 | 5)) {
        return Err(c
            .it
            .fail(
                c.span,
                "F.pad(mode='reflect') of three dimensions is not supported in scenarios",
            )
            .with_help("reflection of the last one or two dimensions is modelled"));
    }
    if pad.len() % 2 == 0 && !matches!((pad.len(), n), (2, 2 | 3) | (4, 3 | 4)) {
        return Err(c.it.fail(
            c.span,
            format!("NotImplementedError: Padding size {} is not supported for {n}D input tensor.\nSupported combinations for non-constant padding:\n  - 2D or 3D input: padding size = 2 (pads last dimension)\n  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)", pad.len()),
        ));
    }
    c.done(c.t.reflection_pad(&pad))
});

// `roll(shifts, dims=None)`: each an int or a tuple or list of ints.
method!(roll, ["shifts", "dims"], 1, |c| {
    let ints = |p: &str| -> R<Vec<isize>> {
        match c.b.get(p) {
            None => Ok(Vec::new()),
            Some(v) => super::args::ints_of(c.it, std::slice::from_ref(v), p, c.span),
        }
    };
    let shifts: Vec<i64> = ints("shifts")?.into_iter().map(|s| s as i64).collect();
    let dims = ints("dims")?;
    c.done(c.t.roll(&shifts, &dims))
});
