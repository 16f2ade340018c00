//! The cuda backend's side of each operation: tensors become kernel operands (block address,
//! shape, strides) and operations become launches on the runtime's stream (see
//! [`Gpu`](crate::device::Gpu)). Nothing here allocates: every output was allocated by the
//! operation through the caching allocator exactly as on cpu and meta, which keeps the three
//! backends' allocator traces identical.
//!
//! Operation codes are the enums of [`crate::device::kernels`], from which the kernels'
//! `#define`s are generated.

use super::{DType, Result, Scalar, Tensor, TensorError};
use crate::device::kernels::{BinaryCode, TernaryCode, UnaryCode};
use crate::device::{Arg, BlasMatrix, DTypeCode, Gpu, Grid, Operand, MAX_DIMS};

fn code(dtype: DType) -> DTypeCode {
    match dtype {
        DType::F32 => DTypeCode::F32,
        DType::I64 => DTypeCode::I64,
        DType::Bool => DTypeCode::Bool,
    }
}

fn too_many_dims() -> TensorError {
    TensorError::Unsupported(format!(
        "tensors of more than {MAX_DIMS} dimensions on the cuda backend"
    ))
}

fn n(t: &Tensor) -> i64 {
    t.numel() as i64
}

impl Tensor {
    /// The GPU this tensor's values live on: `Some` for device tensors of a cuda runtime with
    /// kernels, `None` for host tensors and on cpu and meta.
    pub(crate) fn gpu(&self) -> Option<&Gpu> {
        if self.0.storage.borrow().gpu_ptr().is_some() {
            self.runtime().gpu()
        } else {
            None
        }
    }

    /// This tensor as a kernel operand: its view of the block, or for a host tensor (a 0-dim
    /// cpu tensor combined with device tensors, possibly broadcast) its one value.
    pub(crate) fn operand(&self) -> Result<Operand> {
        if let Some(ptr) = self.0.storage.borrow().gpu_ptr() {
            return Operand::view(
                ptr,
                code(self.dtype()),
                self.0.offset,
                self.shape(),
                self.strides(),
            )
            .ok_or_else(too_many_dims);
        }
        let single = self
            .shape()
            .iter()
            .zip(self.strides())
            .all(|(&size, &stride)| size == 1 || stride == 0);
        let one = self.view_raw(Vec::new(), Vec::new(), self.0.offset);
        let value = match (single, self.dtype()) {
            (false, _) => None,
            (true, DType::F32) => one
                .read_f32()
                .map(|v| Operand::constant(DTypeCode::F32, v[0] as f64, 0)),
            (true, dtype) => one
                .read_i64()
                .map(|v| Operand::constant(code(dtype), 0.0, v[0])),
        };
        value.ok_or_else(|| {
            TensorError::Invalid(format!(
                "a host tensor of shape {} cannot be an operand of a cuda kernel",
                super::format_shape(self.shape())
            ))
        })
    }

    /// The tensor as a flat operand of `numel` elements; it must be contiguous (outputs are).
    fn flat_operand(&self) -> Result<Operand> {
        let ptr = self
            .0
            .storage
            .borrow()
            .gpu_ptr()
            .ok_or_else(|| TensorError::Invalid("not a cuda tensor".into()))?;
        Operand::view(
            ptr,
            code(self.dtype()),
            self.0.offset,
            &[self.numel()],
            &[1],
        )
        .ok_or_else(too_many_dims)
    }

    /// The operand with its dimensions reordered by `order` (a permutation).
    fn permuted_operand(&self, order: &[usize]) -> Result<Operand> {
        let shape: Vec<usize> = order.iter().map(|&d| self.shape()[d]).collect();
        let strides: Vec<usize> = order.iter().map(|&d| self.strides()[d]).collect();
        self.view_raw(shape, strides, self.0.offset).operand()
    }
}

/// `out = a op b` element-wise (`op`, `alpha` as in `ew_binary_*`), computed in `compute`.
pub(crate) fn binary(
    gpu: &Gpu,
    out: &Tensor,
    a: &Tensor,
    b: &Tensor,
    compute: DType,
    (op, alpha): (BinaryCode, f64),
) -> Result<()> {
    let b = b.operand()?;
    binary_with(gpu, out, a, b, compute, (op, alpha))
}

/// [`binary`] with `b` given as an operand (a number, for the scalar operations).
pub(crate) fn binary_with(
    gpu: &Gpu,
    out: &Tensor,
    a: &Tensor,
    b: Operand,
    compute: DType,
    (op, alpha): (BinaryCode, f64),
) -> Result<()> {
    let op = op.code();
    let grid = Grid::Elements(out.numel() as u64);
    let (o, a) = (out.operand()?, a.operand()?);
    if compute == DType::F32 {
        let args = [
            Arg::Op(o),
            Arg::Op(a),
            Arg::Op(b),
            Arg::I32(op),
            Arg::F32(alpha as f32),
            Arg::I64(n(out)),
        ];
        gpu.launch("ew_binary_f32", grid, &args)?;
    } else {
        let args = [
            Arg::Op(o),
            Arg::Op(a),
            Arg::Op(b),
            Arg::I32(op),
            Arg::I64(alpha as i64),
            Arg::I64(n(out)),
        ];
        gpu.launch("ew_binary_i64", grid, &args)?;
    }
    Ok(())
}

/// The operand a Python number is in an operation computed in `compute`, converted as the
/// host converts it.
pub(crate) fn scalar_operand(s: Scalar, compute: DType) -> Operand {
    if compute == DType::F32 {
        Operand::constant(DTypeCode::F32, s.as_f64(), 0)
    } else {
        let q = match s {
            Scalar::Int(i) => i,
            Scalar::Float(f) => f as i64,
        };
        Operand::constant(DTypeCode::I64, 0.0, q)
    }
}

/// `out = op(a; p)` element-wise, through f32.
pub(crate) fn unary(gpu: &Gpu, out: &Tensor, a: &Tensor, (op, p): (UnaryCode, f32)) -> Result<()> {
    let args = [
        Arg::Op(out.operand()?),
        Arg::Op(a.operand()?),
        Arg::I32(op.code()),
        Arg::F32(p),
        Arg::I64(n(out)),
    ];
    gpu.launch("ew_unary_f32", Grid::Elements(out.numel() as u64), &args)?;
    Ok(())
}

/// `out = op(a, b, c; v)` element-wise in f32 (see `ew_ternary_f32`).
pub(crate) fn ternary(
    gpu: &Gpu,
    out: &Tensor,
    operands: [&Tensor; 3],
    op: TernaryCode,
    v: f64,
) -> Result<()> {
    ternary_with(gpu, out, operands, op, (v, 0.0))
}

/// [`ternary`] for the operations that take a second number `w`.
pub(crate) fn ternary_with(
    gpu: &Gpu,
    out: &Tensor,
    [a, b, c]: [&Tensor; 3],
    op: TernaryCode,
    (v, w): (f64, f64),
) -> Result<()> {
    let args = [
        Arg::Op(out.operand()?),
        Arg::Op(a.operand()?),
        Arg::Op(b.operand()?),
        Arg::Op(c.operand()?),
        Arg::I32(op.code()),
        Arg::F32(v as f32),
        Arg::F32(w as f32),
        Arg::I64(n(out)),
    ];
    gpu.launch("ew_ternary_f32", Grid::Elements(out.numel() as u64), &args)?;
    Ok(())
}

/// `out.copy_(src)` with `copy_values_from`'s conversions (same number of elements).
pub(crate) fn copy(gpu: &Gpu, out: &Tensor, src: &Tensor) -> Result<()> {
    if src.shape() != out.shape() {
        return Err(TensorError::Invalid(format!(
            "copy from shape {} into shape {}",
            super::format_shape(src.shape()),
            super::format_shape(out.shape())
        )));
    }
    let via_i64 = out.dtype() == DType::I64 || src.dtype() == DType::I64;
    let args = [
        Arg::Op(out.operand()?),
        Arg::Op(src.operand()?),
        Arg::I32(via_i64 as i32),
        Arg::I64(n(out)),
    ];
    gpu.launch("ew_copy", Grid::Elements(out.numel() as u64), &args)?;
    Ok(())
}

/// `out.fill_(value)`, on any view.
pub(crate) fn fill(gpu: &Gpu, out: &Tensor, value: Scalar) -> Result<()> {
    let (f, i, is_int) = match value {
        Scalar::Int(i) => (0.0, i, 1),
        Scalar::Float(f) => (f, 0, 0),
    };
    let args = [
        Arg::Op(out.operand()?),
        Arg::F64(f),
        Arg::I64(i),
        Arg::I32(is_int),
        Arg::I64(n(out)),
    ];
    gpu.launch("ew_fill", Grid::Elements(out.numel() as u64), &args)?;
    Ok(())
}

/// The dimensions kept, then the reduced ones, and the element counts of both groups.
fn kept_then_reduced(shape: &[usize], reduce: &[bool]) -> (Vec<usize>, usize, usize) {
    let mut order: Vec<usize> = (0..shape.len()).filter(|&d| !reduce[d]).collect();
    order.extend((0..shape.len()).filter(|&d| reduce[d]));
    let kept = (0..shape.len())
        .filter(|&d| !reduce[d])
        .map(|d| shape[d])
        .product();
    let count = (0..shape.len())
        .filter(|&d| reduce[d])
        .map(|d| shape[d])
        .product();
    (order, kept, count)
}

/// Sum (or mean) of `src` over the marked dimensions into the contiguous `out`; integers
/// when `out` is int64.
pub(crate) fn reduce_sum(
    gpu: &Gpu,
    out: &Tensor,
    src: &Tensor,
    reduce: &[bool],
    mean: bool,
) -> Result<()> {
    let (order, n_out, count) = kept_then_reduced(src.shape(), reduce);
    let args = [
        Arg::Op(out.flat_operand()?),
        Arg::Op(src.permuted_operand(&order)?),
        Arg::I64(n_out as i64),
        Arg::I64(count as i64),
        Arg::I32(mean as i32),
        Arg::I32((out.dtype() == DType::I64) as i32),
    ];
    gpu.launch("reduce_sum", Grid::Blocks(n_out as u64), &args)?;
    Ok(())
}

/// Index of the first maximum of `src` along `dim` into the contiguous int64 `out`.
pub(crate) fn argmax(
    gpu: &Gpu,
    out: &Tensor,
    src: &Tensor,
    dim: usize,
    is_min: bool,
) -> Result<()> {
    let mut reduce = vec![false; src.dim()];
    reduce[dim] = true;
    let (order, n_out, count) = kept_then_reduced(src.shape(), &reduce);
    let args = [
        Arg::Op(out.flat_operand()?),
        Arg::Op(src.permuted_operand(&order)?),
        Arg::I64(n_out as i64),
        Arg::I64(count as i64),
        Arg::I32(is_min as i32),
    ];
    gpu.launch("reduce_argmax", Grid::Elements(n_out as u64), &args)?;
    Ok(())
}

/// The first maximum (or minimum) of `src` along `dim` and its index, into the contiguous
/// `values` and `indices`.
pub(crate) fn extreme(
    gpu: &Gpu,
    [values, indices, src]: [&Tensor; 3],
    dim: usize,
    is_min: bool,
) -> Result<()> {
    let mut reduce = vec![false; src.dim()];
    reduce[dim] = true;
    let (order, n_out, count) = kept_then_reduced(src.shape(), &reduce);
    let args = [
        Arg::Op(values.flat_operand()?),
        Arg::Op(indices.flat_operand()?),
        Arg::Op(src.permuted_operand(&order)?),
        Arg::I64(n_out as i64),
        Arg::I64(count as i64),
        Arg::I32(is_min as i32),
    ];
    gpu.launch("reduce_extreme", Grid::Elements(n_out as u64), &args)?;
    Ok(())
}

/// The 2-norm of all of `src` into the 0-dim `out`.
pub(crate) fn norm2(gpu: &Gpu, out: &Tensor, src: &Tensor) -> Result<()> {
    let args = [
        Arg::Op(out.flat_operand()?),
        Arg::Op(src.operand()?),
        Arg::I64(n(src)),
    ];
    gpu.launch("reduce_norm2", Grid::Single, &args)?;
    Ok(())
}

/// Writes `grad` (the reduced shape) into the zero-filled, contiguous `out` at `indices`
/// along a dimension split as (outer, size, inner).
pub(crate) fn scatter_selected(
    gpu: &Gpu,
    [out, grad, indices]: [&Tensor; 3],
    (outer, size, inner): (usize, usize, usize),
) -> Result<()> {
    let args = [
        Arg::Op(out.flat_operand()?),
        Arg::Op(grad.operand()?),
        Arg::Op(indices.operand()?),
        Arg::I64(outer as i64),
        Arg::I64(size as i64),
        Arg::I64(inner as i64),
    ];
    gpu.launch(
        "scatter_selected",
        Grid::Elements((outer * inner) as u64),
        &args,
    )?;
    Ok(())
}

fn blas_matrix(t: &Tensor) -> Option<BlasMatrix> {
    let ptr = t.0.storage.borrow().gpu_ptr()?;
    let at = ptr.offset((t.0.offset * t.dtype().size()) as u64);
    BlasMatrix::new(
        at,
        [t.shape()[0], t.shape()[1]],
        [t.strides()[0], t.strides()[1]],
    )
}

/// `out (n×m) = a (n×k) · b (k×m)`, plus `out`'s current values when `accumulate` (addmm,
/// whose bias the caller has copied into `out`). cuBLAS when both operands can be read in
/// place, else the strided kernel. `out` is contiguous.
pub(crate) fn matmul(
    gpu: &Gpu,
    out: &Tensor,
    a: &Tensor,
    b: &Tensor,
    accumulate: bool,
) -> Result<()> {
    let (rows, k, cols) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    if out.numel() == 0 {
        return Ok(());
    }
    if k == 0 {
        // An empty sum: cuBLAS would not write C at all when k is 0.
        if !accumulate {
            fill(gpu, out, Scalar::Float(0.0))?;
        }
        return Ok(());
    }
    let c = out
        .0
        .storage
        .borrow()
        .gpu_ptr()
        .ok_or_else(|| TensorError::Invalid("not a cuda tensor".into()))?
        .offset((out.0.offset * 4) as u64);
    if let (Some(ma), Some(mb)) = (blas_matrix(a), blas_matrix(b)) {
        let beta = if accumulate { 1.0 } else { 0.0 };
        gpu.gemm(ma, mb, c, [rows, k, cols], beta)?;
        return Ok(());
    }
    let args = [
        Arg::Op(out.flat_operand()?),
        Arg::Op(a.operand()?),
        Arg::Op(b.operand()?),
        Arg::I64(rows as i64),
        Arg::I64(k as i64),
        Arg::I64(cols as i64),
        Arg::I32(accumulate as i32),
    ];
    gpu.launch("matmul_strided", Grid::Elements(out.numel() as u64), &args)?;
    Ok(())
}

/// `log_softmax` forward (`backward` = None) or backward (`Some(result)`, with `x` the
/// gradient) along a dimension split as (outer, size, inner). `out` is contiguous.
pub(crate) fn log_softmax(
    gpu: &Gpu,
    out: &Tensor,
    x: &Tensor,
    backward: Option<&Tensor>,
    (outer, size, inner): (usize, usize, usize),
) -> Result<()> {
    let grid = Grid::Elements((outer * inner) as u64);
    let dims = [
        Arg::I64(outer as i64),
        Arg::I64(size as i64),
        Arg::I64(inner as i64),
    ];
    match backward {
        None => {
            let args = [Arg::Op(out.operand()?), Arg::Op(x.operand()?)];
            gpu.launch(
                "log_softmax_forward",
                grid,
                &[&args[..], &dims[..]].concat(),
            )?;
        }
        Some(result) => {
            let args = [
                Arg::Op(out.operand()?),
                Arg::Op(x.operand()?),
                Arg::Op(result.operand()?),
            ];
            gpu.launch(
                "log_softmax_backward",
                grid,
                &[&args[..], &dims[..]].concat(),
            )?;
        }
    }
    Ok(())
}

/// `_softmax_backward_data` into the contiguous `out`, along a dimension split as (outer,
/// size, inner).
pub(crate) fn softmax_backward(
    gpu: &Gpu,
    out: &Tensor,
    grad: &Tensor,
    result: &Tensor,
    (outer, size, inner): (usize, usize, usize),
) -> Result<()> {
    let args = [
        Arg::Op(out.operand()?),
        Arg::Op(grad.operand()?),
        Arg::Op(result.operand()?),
        Arg::I64(outer as i64),
        Arg::I64(size as i64),
        Arg::I64(inner as i64),
    ];
    gpu.launch(
        "softmax_backward",
        Grid::Elements((outer * inner) as u64),
        &args,
    )?;
    Ok(())
}

/// nll_loss forward: `out` and `total_weight` from log-probabilities `x` (N, C) and targets
/// `t` whose bounds the caller checked. `reduction` is 0 none, 1 mean, 2 sum.
pub(crate) fn nll_loss_forward(
    gpu: &Gpu,
    [out, total_weight, x, t]: [&Tensor; 4],
    reduction: i32,
    ignore_index: i64,
) -> Result<()> {
    let args = [
        Arg::Op(out.operand()?),
        Arg::Op(total_weight.operand()?),
        Arg::Op(x.operand()?),
        Arg::Op(t.operand()?),
        Arg::I64(x.shape()[0] as i64),
        Arg::I64(x.shape()[1] as i64),
        Arg::I32(reduction),
        Arg::I64(ignore_index),
    ];
    gpu.launch("nll_loss_forward", Grid::Single, &args)?;
    Ok(())
}

/// nll_loss backward into `out` (N, C): zeros, then `-grad` at each target class.
pub(crate) fn nll_loss_backward(
    gpu: &Gpu,
    [out, grad, t, total_weight]: [&Tensor; 4],
    reduction: i32,
    ignore_index: i64,
) -> Result<()> {
    fill(gpu, out, Scalar::Float(0.0))?;
    let rows = out.shape()[0];
    let args = [
        Arg::Op(out.operand()?),
        Arg::Op(grad.operand()?),
        Arg::Op(t.operand()?),
        Arg::Op(total_weight.operand()?),
        Arg::I64(rows as i64),
        Arg::I64(out.shape()[1] as i64),
        Arg::I32(reduction),
        Arg::I64(ignore_index),
    ];
    gpu.launch("nll_loss_backward", Grid::Elements(rows as u64), &args)?;
    Ok(())
}

/// `native_dropout`: `out` and `mask` from `x`, element `i` kept when number `i` of the
/// Philox stream, as a uniform, is below `keep`.
pub(crate) fn dropout(
    gpu: &Gpu,
    [out, mask, x]: [&Tensor; 3],
    keep: f32,
    scale: f32,
    ([k0, k1], counter): ([u32; 2], u64),
) -> Result<()> {
    let args = [
        Arg::Op(out.operand()?),
        Arg::Op(mask.operand()?),
        Arg::Op(x.operand()?),
        Arg::U32(k0),
        Arg::U32(k1),
        Arg::U64(counter),
        Arg::F32(keep),
        Arg::F32(scale),
        Arg::I64(n(out)),
    ];
    gpu.launch("dropout_forward", Grid::Elements(out.numel() as u64), &args)?;
    Ok(())
}

/// A weight or bias operand, or a constant when there is none (1 for the weight, 0 for the
/// bias), with a flag saying which.
fn optional_operand(t: Option<&Tensor>, absent: f64) -> Result<Operand> {
    match t {
        Some(t) => t.operand(),
        None => Ok(Operand::constant(DTypeCode::F32, absent, 0)),
    }
}

/// `native_layer_norm` over rows of `n` elements: `out`, `mean`, `rstd` from `x`.
pub(crate) fn layer_norm_forward(
    gpu: &Gpu,
    [out, mean, rstd, x]: [&Tensor; 4],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    (m, n): (usize, usize),
    eps: f64,
) -> Result<()> {
    let args = [
        Arg::Op(out.flat_operand()?),
        Arg::Op(mean.flat_operand()?),
        Arg::Op(rstd.flat_operand()?),
        Arg::Op(x.operand()?),
        Arg::Op(optional_operand(weight, 1.0)?),
        Arg::Op(optional_operand(bias, 0.0)?),
        Arg::I64(m as i64),
        Arg::I64(n as i64),
        Arg::F32(eps as f32),
    ];
    gpu.launch("layer_norm_forward", Grid::Elements(m as u64), &args)?;
    Ok(())
}

/// `native_layer_norm_backward` into the gradients that exist (`dx`, `dw`, `db`).
pub(crate) fn layer_norm_backward(
    gpu: &Gpu,
    [dy, x, mean, rstd]: [&Tensor; 4],
    weight: Option<&Tensor>,
    [dx, dw, db]: [&Option<Tensor>; 3],
    (m, n): (usize, usize),
) -> Result<()> {
    let head = [
        Arg::Op(dy.operand()?),
        Arg::Op(x.operand()?),
        Arg::Op(mean.flat_operand()?),
        Arg::Op(rstd.flat_operand()?),
        Arg::Op(optional_operand(weight, 1.0)?),
    ];
    let dims = [Arg::I64(m as i64), Arg::I64(n as i64)];
    if let Some(dx) = dx {
        let args = [&head[..], &[Arg::Op(dx.flat_operand()?)], &dims[..]].concat();
        gpu.launch("layer_norm_backward_input", Grid::Elements(m as u64), &args)?;
    }
    if dw.is_some() || db.is_some() {
        let none = Operand::constant(DTypeCode::F32, 0.0, 0);
        let dw_op = dw.as_ref().map_or(Ok(none), |t| t.flat_operand())?;
        let db_op = db.as_ref().map_or(Ok(none), |t| t.flat_operand())?;
        let args = [&head[..], &[Arg::Op(dw_op), Arg::Op(db_op)], &dims[..]].concat();
        gpu.launch(
            "layer_norm_backward_params",
            Grid::Elements(n as u64),
            &args,
        )?;
    }
    Ok(())
}

/// What a random kernel draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Draw {
    /// U[0, 1) (`rand`).
    Uniform,
    /// U[low, high) in f64 (`uniform_`).
    Scaled(f64, f64),
    /// Standard normal (`randn`).
    Normal,
    /// `low + x % span` (`randint`).
    Int(i64, u64),
}

/// Fills `out` from the Philox stream at `key` and block `counter`, element `i` drawing the
/// stream's number `i` (pairs for normals) exactly as the host does.
pub(crate) fn random(
    gpu: &Gpu,
    out: &Tensor,
    draw: Draw,
    ([k0, k1], counter): ([u32; 2], u64),
) -> Result<()> {
    let head = [
        Arg::Op(out.operand()?),
        Arg::U32(k0),
        Arg::U32(k1),
        Arg::U64(counter),
    ];
    let grid = Grid::Elements(out.numel() as u64);
    let (name, tail) = match draw {
        Draw::Uniform => (
            "random_uniform",
            vec![Arg::I32(0), Arg::F64(0.0), Arg::F64(1.0), Arg::I64(n(out))],
        ),
        Draw::Scaled(low, high) => (
            "random_uniform",
            vec![Arg::I32(1), Arg::F64(low), Arg::F64(high), Arg::I64(n(out))],
        ),
        Draw::Normal => ("random_normal", vec![Arg::I64(n(out))]),
        Draw::Int(low, span) => (
            "random_int",
            vec![Arg::I64(low), Arg::U64(span), Arg::I64(n(out))],
        ),
    };
    gpu.launch(name, grid, &[&head[..], &tail[..]].concat())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_put_kept_dimensions_first() {
        let (order, kept, count) = kept_then_reduced(&[2, 3, 4], &[false, true, false]);
        assert_eq!(order, vec![0, 2, 1]);
        assert_eq!((kept, count), (8, 3));
        let (order, kept, count) = kept_then_reduced(&[], &[]);
        assert!(order.is_empty());
        assert_eq!((kept, count), (1, 1));
    }
}
