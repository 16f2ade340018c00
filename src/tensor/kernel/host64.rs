//! The host kernels' float64 paths: a float64 result computes in f64, as PyTorch's CPU kernels
//! do (`(torch.tensor([1e8], dtype=torch.float64) + 1) - 1e8` is 1.0; in f32 it would be 0).
//! The arithmetic is `arith`'s, one generic expression per code, run here over operands read
//! into f64 vectors (any layout; a float32 operand of a mixed operation is widened exactly, as
//! PyTorch promotes it). The f32 kernels in `host.rs` go here only after their own fast path
//! has declined, so the float32 path gains no branch per element.

use super::arith::{self, Bin, BinaryLoop, TernaryLoop, UnaryLoop};
use super::host::map_within_time;
use super::{Buf, Cx};
use crate::device::kernels::{TernaryCode, UnaryCode};
use crate::tensor::Result;

/// Operands read into vectors, looped over with a look at the deadline now and then.
struct Read<'a, T>(Cx<'a>, T);

impl BinaryLoop<f64> for Read<'_, (&[f64], &[f64])> {
    type Output = Result<Vec<f64>>;
    fn run<F: Fn(f64, f64) -> f64 + Copy + Send + Sync>(self, f: F) -> Self::Output {
        let Read(cx, (x, y)) = self;
        map_within_time(cx, x.len(), |i| f(x[i], y[i]))
    }
}

/// One operand and a number: `x[i] op q`.
impl BinaryLoop<f64> for Read<'_, (&[f64], f64)> {
    type Output = Result<Vec<f64>>;
    fn run<F: Fn(f64, f64) -> f64 + Copy + Send + Sync>(self, f: F) -> Self::Output {
        let Read(cx, (x, q)) = self;
        map_within_time(cx, x.len(), |i| f(x[i], q))
    }
}

impl UnaryLoop<f64> for Read<'_, &[f64]> {
    type Output = Result<Vec<f64>>;
    fn run<F: Fn(f64) -> f64 + Copy + Send + Sync>(self, f: F) -> Self::Output {
        let Read(cx, x) = self;
        map_within_time(cx, x.len(), |i| f(x[i]))
    }
}

impl TernaryLoop<f64> for Read<'_, [&[f64]; 3]> {
    type Output = Result<Vec<f64>>;
    fn run<F: Fn(f64, f64, f64) -> f64 + Copy + Send + Sync>(self, f: F) -> Self::Output {
        let Read(cx, [a, b, c]) = self;
        map_within_time(cx, a.len(), |i| f(a[i], b[i], c[i]))
    }
}

/// `out = a op b` in f64 (both broadcast to `out`'s shape).
pub(super) fn binary(cx: Cx, out: &Buf, [a, b]: [&Buf; 2], op: Bin) -> Result<()> {
    if let (Some(x), Some(y)) = (a.read_f64(cx), b.read_f64(cx)) {
        out.write_f64(cx, &op.with(Read(cx, (&x[..], &y[..])))?);
    }
    Ok(())
}

/// `out = a op q` in f64: the Python number keeps its double precision.
pub(super) fn binary_scalar(cx: Cx, out: &Buf, a: &Buf, q: f64, op: Bin) -> Result<()> {
    if let Some(x) = a.read_f64(cx) {
        out.write_f64(cx, &op.with(Read(cx, (&x[..], q)))?);
    }
    Ok(())
}

/// `out = op(a; p)` in f64.
pub(super) fn unary(cx: Cx, out: &Buf, a: &Buf, op: UnaryCode, p: f64) -> Result<()> {
    if let Some(x) = a.read_f64(cx) {
        out.write_f64(cx, &arith::with_unary(op, p, Read(cx, &x[..]))?);
    }
    Ok(())
}

/// `out = op(a, b, c; v, w)` in f64.
pub(super) fn ternary(
    cx: Cx,
    out: &Buf,
    [a, b, c]: [&Buf; 3],
    op: TernaryCode,
    vw: (f64, f64),
) -> Result<()> {
    if let (Some(a), Some(b), Some(c)) = (a.read_f64(cx), b.read_f64(cx), c.read_f64(cx)) {
        out.write_f64(
            cx,
            &arith::with_ternary(op, vw, Read(cx, [&a[..], &b[..], &c[..]]))?,
        );
    }
    Ok(())
}
