//! `torch.arange`, `torch.linspace` and `torch.eye`: tensors whose values follow from their
//! arguments, each one fresh allocation of the size and dtype PyTorch computes
//! (`RangeFactories.cpp`, `TensorFactories.cpp`).

use super::super::args::{Bound, CallArgs};
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::{bind, check_rt, device_arg, dtype_arg, expect_bool, expect_float, expect_int};
use crate::base::DType;
use crate::scenario::Span;

/// `arange`'s parameters when only the end is given, and when the start is.
const ARANGE_END: &[&str] = &["end", "dtype", "device", "requires_grad"];
const ARANGE: &[&str] = &["start", "end", "step", "dtype", "device", "requires_grad"];
const LINSPACE: &[&str] = &["start", "end", "steps", "dtype", "device", "requires_grad"];
const EYE: &[&str] = &["n", "m", "dtype", "device", "requires_grad"];
/// Values are computed and written this many at a time, so a large tensor never needs a host
/// copy of all its values at once.
const CHUNK: usize = 1 << 16;

/// `torch.arange(end)`, `torch.arange(start, end, step=1)`: int64 when every bound is an int,
/// else the default float32; `ceil((end - start) / step)` elements, `start + i * step` each.
pub(super) fn arange(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let params = if args.pos.len() >= 2 || args.keyword("start").is_some() {
        ARANGE
    } else {
        ARANGE_END
    };
    let b = bind(it, &args, name, params, 1, span)?;
    let number = |v: Option<&Value>, default: f64, what: &str| -> R<(f64, bool)> {
        match v {
            None => Ok((default, true)),
            Some(Value::Int(i)) => Ok((*i as f64, true)),
            Some(v) => Ok((expect_float(it, v, what, span)?, false)),
        }
    };
    let (start, start_int) = number(b.get("start"), 0.0, "start")?;
    let (end, end_int) = number(b.get("end"), 0.0, "end")?;
    let (step, step_int) = number(b.get("step"), 1.0, "step")?;
    if step == 0.0 {
        return Err(it.fail(span, "RuntimeError: step must be nonzero"));
    }
    if (step > 0.0 && end < start) || (step < 0.0 && end > start) {
        return Err(it.fail(
            span,
            "RuntimeError: upper bound and lower bound inconsistent with step sign",
        ));
    }
    let inferred = if start_int && end_int && step_int {
        DType::I64
    } else {
        DType::F32
    };
    let n = ((end - start) / step).ceil();
    if !n.is_finite() || n > (1u64 << 53) as f64 {
        return Err(it.fail(
            span,
            format!("RuntimeError: invalid size, possible overflow? (start={start}, end={end}, step={step})"),
        ));
    }
    made(it, &b, &[n as usize], inferred, span, |i| {
        start + i as f64 * step
    })
}

/// `torch.linspace(start, end, steps)`: float32 unless given; the first half counted up from
/// `start` and the second down from `end`, as ATen's kernel does, so both ends are exact.
pub(super) fn linspace(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, LINSPACE, 3, span)?;
    let start = expect_float(it, b.raw("start").unwrap_or(&Value::None), "start", span)?;
    let end = expect_float(it, b.raw("end").unwrap_or(&Value::None), "end", span)?;
    let steps = expect_int(it, b.raw("steps").unwrap_or(&Value::None), "steps", span)?;
    if steps < 0 {
        return Err(it.fail(span, "RuntimeError: number of steps must be non-negative"));
    }
    let steps = steps as usize;
    let step = if steps > 1 {
        (end - start) / (steps - 1) as f64
    } else {
        0.0
    };
    made(it, &b, &[steps], DType::F32, span, |i| {
        // One step is `start` (ATen fills it); else the halves meet in the middle.
        if i < steps / 2 || steps == 1 {
            start + step * i as f64
        } else {
            end - step * (steps - 1 - i) as f64
        }
    })
}

/// `torch.eye(n, m=None)`: an `n × m` float32 identity unless `dtype=` says otherwise.
pub(super) fn eye(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> R<Value> {
    let b = bind(it, &args, name, EYE, 1, span)?;
    let n = expect_int(it, b.raw("n").unwrap_or(&Value::None), "n", span)?;
    let m = match b.get("m") {
        Some(v) => expect_int(it, v, "m", span)?,
        None => n,
    };
    if n < 0 || m < 0 {
        let bad = if n < 0 { n } else { m };
        return Err(it.fail(
            span,
            format!("RuntimeError: n must be greater or equal to 0, got {bad}"),
        ));
    }
    let (n, m) = (n as usize, m as usize);
    made(it, &b, &[n, m], DType::F32, span, |i| {
        f64::from(u8::from(i / m == i % m))
    })
}

/// A new tensor of `shape` in the `dtype=` given (else `inferred`), on the `device=` given,
/// with `requires_grad=`, element `i` (row-major) being `value(i)`. It is allocated before any
/// value is computed, so a size the device cannot hold is its out-of-memory error, and written
/// a chunk of rows at a time; on meta, where tensors hold no values, nothing is computed.
fn made(
    it: &mut Interp<'_>,
    b: &Bound,
    shape: &[usize],
    inferred: DType,
    span: Span,
    value: impl Fn(usize) -> f64,
) -> R<Value> {
    let dtype = dtype_arg(it, b.get("dtype"), inferred, span)?;
    let device = device_arg(it, b.get("device"), span)?;
    let requires_grad = expect_bool(it, b.get("requires_grad"), false, "requires_grad", span)?;
    let t = it
        .rt
        .empty(shape, dtype, device)
        .map_err(|e| it.tensor_error(span, e))?;
    let rows = shape.first().copied().unwrap_or(1);
    let row_len = shape.iter().skip(1).product::<usize>().max(1);
    if t.has_data() && rows > 0 {
        let chunk_rows = (CHUNK / row_len).max(1);
        for first in (0..rows).step_by(chunk_rows) {
            let len = chunk_rows.min(rows - first);
            let values: Vec<f64> = (first * row_len..(first + len) * row_len)
                .map(&value)
                .collect();
            let part = t.narrow(0, first as i64, len as i64);
            part.map(|p| p.write_f64(&values))
                .map_err(|e| it.tensor_error(span, e))?;
        }
    }
    check_rt(it, t.requires_grad_(requires_grad), span)
}
