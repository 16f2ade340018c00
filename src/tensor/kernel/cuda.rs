//! The cuda kernels: operands become kernel arguments (block address, shape, strides) and
//! operations launches on the runtime's stream (see [`Gpu`]). Operation codes are the enums of
//! [`crate::device::kernels`], from which the kernels' `#define`s are generated.

use super::{Bin, Buf, Cx, Draw, Kernels, LossReduction, Split, Stat};
use crate::device::kernels::{TernaryCode, UnaryCode};
use crate::device::{Arg, BlasMatrix, DTypeCode, DevicePtr, Gpu, Grid, Operand, MAX_DIMS};
use crate::runtime::Philox;
use crate::tensor::{format_shape, DType, LayerKernel, Result, Scalar, TensorError};

pub(crate) struct CudaKernels;

fn code(dtype: DType) -> DTypeCode {
    match dtype {
        DType::F32 => DTypeCode::F32,
        DType::F16 => DTypeCode::F16,
        DType::BF16 => DTypeCode::BF16,
        DType::I64 => DTypeCode::I64,
        DType::I32 => DTypeCode::I32,
        DType::F64 => DTypeCode::F64,
        DType::Bool => DTypeCode::Bool,
    }
}

fn too_many_dims() -> TensorError {
    TensorError::Unsupported(format!(
        "tensors of more than {MAX_DIMS} dimensions on the cuda backend"
    ))
}

fn gpu<'a>(cx: Cx<'a>) -> Result<&'a Gpu> {
    cx.gpu
        .ok_or_else(|| TensorError::Invalid("cuda kernels on a runtime without a GPU".into()))
}

fn n(b: &Buf) -> i64 {
    b.numel() as i64
}

impl Buf<'_> {
    /// The operand of a view of a block, or for host memory (a 0-dim cpu tensor combined with
    /// device tensors, possibly broadcast) its one value.
    fn operand(&self, cx: Cx) -> Result<Operand> {
        self.operand_as(cx, self.shape, self.strides)
    }

    fn operand_as(&self, cx: Cx, shape: &[usize], strides: &[usize]) -> Result<Operand> {
        let ptr = self.storage.gpu_ptr();
        if let Some(ptr) = ptr.or_else(|| (self.numel() == 0).then_some(DevicePtr(0))) {
            return Operand::view(ptr, code(self.dtype), self.offset, shape, strides)
                .ok_or_else(too_many_dims);
        }
        let single = shape
            .iter()
            .zip(strides)
            .all(|(&size, &stride)| size == 1 || stride == 0);
        let one = Buf {
            storage: self.storage.clone(),
            shape: &[],
            strides: &[],
            offset: self.offset,
            dtype: self.dtype,
        };
        let value = match (single, self.dtype) {
            (false, _) => None,
            // A float (a wrapped Python float is a float64) goes by value as a double.
            (true, dtype) if dtype.is_floating_point() => one
                .read_f64(cx)
                .map(|v| Operand::constant(DTypeCode::F32, v[0], 0)),
            (true, dtype) => one
                .read_i64(cx)
                .map(|v| Operand::constant(code(dtype), 0.0, v[0])),
        };
        value.ok_or_else(|| {
            TensorError::Invalid(format!(
                "a host tensor of shape {} cannot be an operand of a cuda kernel",
                format_shape(shape)
            ))
        })
    }

    /// The view as a flat operand of `numel` elements; it must be contiguous (outputs are).
    fn flat_operand(&self, cx: Cx) -> Result<Operand> {
        self.operand_as(cx, &[self.numel()], &[1])
    }

    /// The operand with its dimensions reordered by `order` (a permutation).
    fn permuted_operand(&self, cx: Cx, order: &[usize]) -> Result<Operand> {
        let shape: Vec<usize> = order.iter().map(|&d| self.shape[d]).collect();
        let strides: Vec<usize> = order.iter().map(|&d| self.strides[d]).collect();
        self.operand_as(cx, &shape, &strides)
    }

    fn blas_matrix(&self) -> Option<BlasMatrix> {
        let ptr = self.storage.gpu_ptr()?;
        let at = ptr.offset((self.offset * self.dtype.size()) as u64);
        BlasMatrix::new(
            at,
            [self.shape[0], self.shape[1]],
            [self.strides[0], self.strides[1]],
        )
    }
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

fn one_dim(ndim: usize, dim: usize) -> Vec<bool> {
    (0..ndim).map(|d| d == dim).collect()
}

/// A weight or bias operand, or a constant when there is none (1 for the weight, 0 for the
/// bias).
fn optional_operand(cx: Cx, t: Option<&Buf>, absent: f64) -> Result<Operand> {
    match t {
        Some(t) => t.operand(cx),
        None => Ok(Operand::constant(DTypeCode::F32, absent, 0)),
    }
}

/// `out = a op b` with `b` given as an operand (a number, for the scalar operations).
fn binary_with(cx: Cx, out: &Buf, a: &Buf, b: Operand, compute: DType, op: Bin) -> Result<()> {
    let (op, alpha) = op.gpu_code();
    let grid = Grid::Elements(out.numel() as u64);
    let (o, a) = (out.operand(cx)?, a.operand(cx)?);
    // float64 computes in f32 on the device until the kernels have an f64 loop (the host
    // computes it in f64: docs/fidelity.md).
    let alpha = if compute.is_floating_point() {
        Arg::F32(alpha as f32)
    } else {
        Arg::I64(alpha as i64)
    };
    let name = if compute.is_floating_point() {
        "ew_binary_f32"
    } else {
        "ew_binary_i64"
    };
    let args = [
        Arg::Op(o),
        Arg::Op(a),
        Arg::Op(b),
        Arg::I32(op.code()),
        alpha,
        Arg::I64(n(out)),
    ];
    gpu(cx)?.launch(name, grid, &args)?;
    Ok(())
}

fn fill(cx: Cx, out: &Buf, value: Scalar) -> Result<()> {
    let (f, i, is_int) = match value {
        Scalar::Int(i) => (0.0, i, 1),
        Scalar::Float(f) => (f, 0, 0),
    };
    let args = [
        Arg::Op(out.operand(cx)?),
        Arg::F64(f),
        Arg::I64(i),
        Arg::I32(is_int),
        Arg::I64(n(out)),
    ];
    gpu(cx)?.launch("ew_fill", Grid::Elements(out.numel() as u64), &args)?;
    Ok(())
}

fn split_args((outer, size, inner): Split) -> [Arg; 3] {
    [
        Arg::I64(outer as i64),
        Arg::I64(size as i64),
        Arg::I64(inner as i64),
    ]
}

impl Kernels for CudaKernels {
    fn binary(&self, cx: Cx, out: &Buf, [a, b]: [&Buf; 2], compute: DType, op: Bin) -> Result<()> {
        binary_with(cx, out, a, b.operand(cx)?, compute, op)
    }

    fn binary_scalar(
        &self,
        cx: Cx,
        out: &Buf,
        a: &Buf,
        s: Scalar,
        compute: DType,
        op: Bin,
    ) -> Result<()> {
        // The number converted as the host converts it.
        let b = if compute.is_floating_point() {
            Operand::constant(DTypeCode::F32, s.as_f64(), 0)
        } else {
            let q = match s {
                Scalar::Int(i) => i,
                Scalar::Float(f) => f as i64,
            };
            Operand::constant(DTypeCode::I64, 0.0, q)
        };
        binary_with(cx, out, a, b, compute, op)
    }

    fn unary(&self, cx: Cx, out: &Buf, a: &Buf, op: UnaryCode, p: f64) -> Result<()> {
        let args = [
            Arg::Op(out.operand(cx)?),
            Arg::Op(a.operand(cx)?),
            Arg::I32(op.code()),
            Arg::F32(p as f32),
            Arg::I64(n(out)),
        ];
        gpu(cx)?.launch("ew_unary_f32", Grid::Elements(out.numel() as u64), &args)?;
        Ok(())
    }

    fn ternary(
        &self,
        cx: Cx,
        out: &Buf,
        [a, b, c]: [&Buf; 3],
        op: TernaryCode,
        (v, w): (f64, f64),
    ) -> Result<()> {
        let args = [
            Arg::Op(out.operand(cx)?),
            Arg::Op(a.operand(cx)?),
            Arg::Op(b.operand(cx)?),
            Arg::Op(c.operand(cx)?),
            Arg::I32(op.code()),
            Arg::F32(v as f32),
            Arg::F32(w as f32),
            Arg::I64(n(out)),
        ];
        gpu(cx)?.launch("ew_ternary_f32", Grid::Elements(out.numel() as u64), &args)?;
        Ok(())
    }

    fn copy(&self, cx: Cx, dst: &Buf, src: &Buf) -> Result<()> {
        if src.storage.gpu_ptr().is_none() {
            // From host memory: a copy to the device through the host kernels' conversions.
            return super::HOST.copy(cx, dst, src);
        }
        if src.shape != dst.shape {
            return Err(TensorError::Invalid(format!(
                "copy from shape {} into shape {}",
                format_shape(src.shape),
                format_shape(dst.shape)
            )));
        }
        // `ew_copy`'s `via`, the type `Buf::copy_converted` copies through on the host.
        let via = if dst.dtype == DType::F64 || src.dtype == DType::F64 {
            2
        } else if dst.dtype.is_integer() || src.dtype.is_integer() {
            1
        } else {
            0
        };
        let args = [
            Arg::Op(dst.operand(cx)?),
            Arg::Op(src.operand(cx)?),
            Arg::I32(via),
            Arg::I64(n(dst)),
        ];
        gpu(cx)?.launch("ew_copy", Grid::Elements(dst.numel() as u64), &args)?;
        Ok(())
    }

    fn fill(&self, cx: Cx, out: &Buf, value: Scalar) -> Result<()> {
        fill(cx, out, value)
    }

    fn reduce_sum(&self, cx: Cx, out: &Buf, src: &Buf, reduce: &[bool], mean: bool) -> Result<()> {
        let (order, n_out, count) = kept_then_reduced(src.shape, reduce);
        let args = [
            Arg::Op(out.flat_operand(cx)?),
            Arg::Op(src.permuted_operand(cx, &order)?),
            Arg::I64(n_out as i64),
            Arg::I64(count as i64),
            Arg::I32(mean as i32),
            Arg::I32((out.dtype == DType::I64) as i32),
        ];
        gpu(cx)?.launch("reduce_sum", Grid::Blocks(n_out as u64), &args)?;
        Ok(())
    }

    fn reduce_stat(&self, cx: Cx, out: &Buf, src: &Buf, reduce: &[bool], stat: Stat) -> Result<()> {
        let (order, n_out, count) = kept_then_reduced(src.shape, reduce);
        let (code, param) = stat.code();
        let args = [
            Arg::Op(out.flat_operand(cx)?),
            Arg::Op(src.permuted_operand(cx, &order)?),
            Arg::I64(n_out as i64),
            Arg::I64(count as i64),
            Arg::I32(code),
            Arg::F64(param),
        ];
        gpu(cx)?.launch("reduce_stat", Grid::Elements(n_out as u64), &args)?;
        Ok(())
    }

    fn arg_extreme(&self, cx: Cx, out: &Buf, src: &Buf, dim: usize, is_min: bool) -> Result<()> {
        let (order, n_out, count) = kept_then_reduced(src.shape, &one_dim(src.dim(), dim));
        let args = [
            Arg::Op(out.flat_operand(cx)?),
            Arg::Op(src.permuted_operand(cx, &order)?),
            Arg::I64(n_out as i64),
            Arg::I64(count as i64),
            Arg::I32(is_min as i32),
        ];
        gpu(cx)?.launch("reduce_argmax", Grid::Elements(n_out as u64), &args)?;
        Ok(())
    }

    fn extreme(
        &self,
        cx: Cx,
        [values, indices]: [&Buf; 2],
        src: &Buf,
        dim: usize,
        is_min: bool,
    ) -> Result<()> {
        let (order, n_out, count) = kept_then_reduced(src.shape, &one_dim(src.dim(), dim));
        let args = [
            Arg::Op(values.flat_operand(cx)?),
            Arg::Op(indices.flat_operand(cx)?),
            Arg::Op(src.permuted_operand(cx, &order)?),
            Arg::I64(n_out as i64),
            Arg::I64(count as i64),
            Arg::I32(is_min as i32),
        ];
        gpu(cx)?.launch("reduce_extreme", Grid::Elements(n_out as u64), &args)?;
        Ok(())
    }

    fn norm2(&self, cx: Cx, out: &Buf, src: &Buf) -> Result<()> {
        let args = [
            Arg::Op(out.flat_operand(cx)?),
            Arg::Op(src.operand(cx)?),
            Arg::I64(n(src)),
        ];
        gpu(cx)?.launch("reduce_norm2", Grid::Single, &args)?;
        Ok(())
    }

    fn scatter_selected(
        &self,
        cx: Cx,
        out: &Buf,
        [grad, indices]: [&Buf; 2],
        (outer, size, inner): Split,
    ) -> Result<()> {
        let args = [
            Arg::Op(out.flat_operand(cx)?),
            Arg::Op(grad.operand(cx)?),
            Arg::Op(indices.operand(cx)?),
            Arg::I64(outer as i64),
            Arg::I64(size as i64),
            Arg::I64(inner as i64),
        ];
        let grid = Grid::Elements((outer * inner) as u64);
        gpu(cx)?.launch("scatter_selected", grid, &args)?;
        Ok(())
    }

    /// cuBLAS when both operands can be read in place, else the strided kernel.
    fn matmul(&self, cx: Cx, out: &Buf, [a, b]: [&Buf; 2], accumulate: bool) -> Result<()> {
        let (rows, k, cols) = (a.shape[0], a.shape[1], b.shape[1]);
        if out.numel() == 0 {
            return Ok(());
        }
        if k == 0 {
            // An empty sum: cuBLAS would not write C at all when k is 0.
            if !accumulate {
                fill(cx, out, Scalar::Float(0.0))?;
            }
            return Ok(());
        }
        let c = out
            .storage
            .gpu_ptr()
            .ok_or_else(|| TensorError::Invalid("not a cuda tensor".into()))?
            .offset((out.offset * out.dtype.size()) as u64);
        // cuBLAS is called for f32 (sgemm); half products run the strided kernel, which
        // accumulates in f32 and rounds once, as PyTorch's cublasGemmEx path computes them.
        let all_f32 = [out.dtype, a.dtype, b.dtype]
            .iter()
            .all(|&d| d == DType::F32);
        if let (true, Some(ma), Some(mb)) = (all_f32, a.blas_matrix(), b.blas_matrix()) {
            let beta = if accumulate { 1.0 } else { 0.0 };
            gpu(cx)?.gemm(ma, mb, c, [rows, k, cols], beta)?;
            return Ok(());
        }
        let args = [
            Arg::Op(out.flat_operand(cx)?),
            Arg::Op(a.operand(cx)?),
            Arg::Op(b.operand(cx)?),
            Arg::I64(rows as i64),
            Arg::I64(k as i64),
            Arg::I64(cols as i64),
            Arg::I32(accumulate as i32),
        ];
        let grid = Grid::Elements(out.numel() as u64);
        gpu(cx)?.launch("matmul_strided", grid, &args)?;
        Ok(())
    }

    fn log_softmax(&self, cx: Cx, out: &Buf, x: &Buf, split: Split) -> Result<()> {
        let grid = Grid::Elements((split.0 * split.2) as u64);
        let args = [Arg::Op(out.operand(cx)?), Arg::Op(x.operand(cx)?)];
        let args = [&args[..], &split_args(split)[..]].concat();
        gpu(cx)?.launch("log_softmax_forward", grid, &args)?;
        Ok(())
    }

    fn log_softmax_backward(
        &self,
        cx: Cx,
        out: &Buf,
        [grad, result]: [&Buf; 2],
        split: Split,
    ) -> Result<()> {
        let grid = Grid::Elements((split.0 * split.2) as u64);
        let args = [
            Arg::Op(out.operand(cx)?),
            Arg::Op(grad.operand(cx)?),
            Arg::Op(result.operand(cx)?),
        ];
        let args = [&args[..], &split_args(split)[..]].concat();
        gpu(cx)?.launch("log_softmax_backward", grid, &args)?;
        Ok(())
    }

    fn softmax_backward(
        &self,
        cx: Cx,
        out: &Buf,
        [grad, result]: [&Buf; 2],
        split: Split,
    ) -> Result<()> {
        let grid = Grid::Elements((split.0 * split.2) as u64);
        let args = [
            Arg::Op(out.operand(cx)?),
            Arg::Op(grad.operand(cx)?),
            Arg::Op(result.operand(cx)?),
        ];
        let args = [&args[..], &split_args(split)[..]].concat();
        gpu(cx)?.launch("softmax_backward", grid, &args)?;
        Ok(())
    }

    fn nll_loss(
        &self,
        cx: Cx,
        [out, total_weight]: [&Buf; 2],
        [x, target]: [&Buf; 2],
        reduction: LossReduction,
        ignore_index: i64,
    ) -> Result<()> {
        let c = x.shape[1];
        // PyTorch checks target bounds with a device-side assert; here the targets (N
        // integers) are read back first so that a bad one is an error, as on the host.
        for &class in target.read_i64(cx).unwrap_or_default().iter() {
            if class != ignore_index && (class < 0 || class as usize >= c) {
                return Err(TensorError::Invalid(format!(
                    "Target {class} is out of bounds."
                )));
            }
        }
        let args = [
            Arg::Op(out.operand(cx)?),
            Arg::Op(total_weight.operand(cx)?),
            Arg::Op(x.operand(cx)?),
            Arg::Op(target.operand(cx)?),
            Arg::I64(x.shape[0] as i64),
            Arg::I64(c as i64),
            Arg::I32(reduction as i32),
            Arg::I64(ignore_index),
        ];
        gpu(cx)?.launch("nll_loss_forward", Grid::Single, &args)?;
        Ok(())
    }

    fn nll_loss_backward(
        &self,
        cx: Cx,
        out: &Buf,
        [grad, target, total_weight]: [&Buf; 3],
        reduction: LossReduction,
        ignore_index: i64,
    ) -> Result<()> {
        let rows = out.shape[0];
        let args = [
            Arg::Op(out.operand(cx)?),
            Arg::Op(grad.operand(cx)?),
            Arg::Op(target.operand(cx)?),
            Arg::Op(total_weight.operand(cx)?),
            Arg::I64(rows as i64),
            Arg::I64(out.shape[1] as i64),
            Arg::I32(reduction as i32),
            Arg::I64(ignore_index),
        ];
        gpu(cx)?.launch("nll_loss_backward", Grid::Elements(rows as u64), &args)?;
        Ok(())
    }

    fn dropout(
        &self,
        cx: Cx,
        [out, mask]: [&Buf; 2],
        x: &Buf,
        (keep, scale): (f32, f32),
        stream: &mut Philox,
    ) -> Result<()> {
        let ([k0, k1], counter) = stream.key_and_counter();
        let args = [
            Arg::Op(out.operand(cx)?),
            Arg::Op(mask.operand(cx)?),
            Arg::Op(x.operand(cx)?),
            Arg::U32(k0),
            Arg::U32(k1),
            Arg::U64(counter),
            Arg::F32(keep),
            Arg::F32(scale),
            Arg::I64(n(out)),
        ];
        let grid = Grid::Elements(out.numel() as u64);
        gpu(cx)?.launch("dropout_forward", grid, &args)?;
        Ok(())
    }

    fn layer_norm(
        &self,
        cx: Cx,
        [out, mean, rstd]: [&Buf; 3],
        x: &Buf,
        [weight, bias]: [Option<&Buf>; 2],
        (m, n): (usize, usize),
        eps: f64,
    ) -> Result<()> {
        let args = [
            Arg::Op(out.flat_operand(cx)?),
            Arg::Op(mean.flat_operand(cx)?),
            Arg::Op(rstd.flat_operand(cx)?),
            Arg::Op(x.operand(cx)?),
            Arg::Op(optional_operand(cx, weight, 1.0)?),
            Arg::Op(optional_operand(cx, bias, 0.0)?),
            Arg::I64(m as i64),
            Arg::I64(n as i64),
            Arg::F32(eps as f32),
        ];
        gpu(cx)?.launch("layer_norm_forward", Grid::Elements(m as u64), &args)?;
        Ok(())
    }

    fn layer_norm_backward(
        &self,
        cx: Cx,
        [dx, dw, db]: [Option<&Buf>; 3],
        [dy, x, mean, rstd]: [&Buf; 4],
        weight: Option<&Buf>,
        (m, n): (usize, usize),
    ) -> Result<()> {
        let head = [
            Arg::Op(dy.operand(cx)?),
            Arg::Op(x.operand(cx)?),
            Arg::Op(mean.flat_operand(cx)?),
            Arg::Op(rstd.flat_operand(cx)?),
            Arg::Op(optional_operand(cx, weight, 1.0)?),
        ];
        let dims = [Arg::I64(m as i64), Arg::I64(n as i64)];
        if let Some(dx) = dx {
            let args = [&head[..], &[Arg::Op(dx.flat_operand(cx)?)], &dims[..]].concat();
            let grid = Grid::Elements(m as u64);
            gpu(cx)?.launch("layer_norm_backward_input", grid, &args)?;
        }
        if dw.is_some() || db.is_some() {
            let none = Operand::constant(DTypeCode::F32, 0.0, 0);
            let dw_op = dw.map_or(Ok(none), |t| t.flat_operand(cx))?;
            let db_op = db.map_or(Ok(none), |t| t.flat_operand(cx))?;
            let args = [&head[..], &[Arg::Op(dw_op), Arg::Op(db_op)], &dims[..]].concat();
            let grid = Grid::Elements(n as u64);
            gpu(cx)?.launch("layer_norm_backward_params", grid, &args)?;
        }
        Ok(())
    }

    fn random(&self, cx: Cx, out: &Buf, draw: Draw, stream: &mut Philox) -> Result<()> {
        let ([k0, k1], counter) = stream.key_and_counter();
        let head = [
            Arg::Op(out.operand(cx)?),
            Arg::U32(k0),
            Arg::U32(k1),
            Arg::U64(counter),
        ];
        let (name, tail) = match draw {
            Draw::Uniform => (
                "random_uniform",
                vec![Arg::I32(0), Arg::F64(0.0), Arg::F64(1.0), Arg::I64(n(out))],
            ),
            Draw::Scaled(low, high) => (
                "random_uniform",
                vec![Arg::I32(1), Arg::F64(low), Arg::F64(high), Arg::I64(n(out))],
            ),
            Draw::Bernoulli { keep, scale } => (
                "random_uniform",
                vec![
                    Arg::I32(2),
                    Arg::F64(keep as f64),
                    Arg::F64(scale as f64),
                    Arg::I64(n(out)),
                ],
            ),
            Draw::Normal => ("random_normal", vec![Arg::I64(n(out))]),
            Draw::Int(low, span) => (
                "random_int",
                vec![Arg::I64(low), Arg::U64(span), Arg::I64(n(out))],
            ),
        };
        let grid = Grid::Elements(out.numel() as u64);
        gpu(cx)?.launch(name, grid, &[&head[..], &tail[..]].concat())?;
        Ok(())
    }

    /// No device kernels yet for the layer operations: the host arithmetic, reaching the
    /// operands by copies between device and host (`Buf::read_f32`/`write_f32`), which allocate
    /// no device memory, so the allocator trace is the one cpu and meta make. Correct, and slow
    /// for large inputs.
    fn layer(
        &self,
        cx: Cx,
        op: &LayerKernel,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        op.host(cx, outs, ins)
    }
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
