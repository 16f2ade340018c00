//! The host kernels: the cpu backend's device memory is host memory, so these compute on it
//! directly, as they do for every host tensor. Products go through the `gemm` crate.

use std::time::{Duration, Instant};

use super::arith::UnaryLoop;
use super::strided::{self, Map, MapScalar, Plan, Zip, Zip3, ELEMENTS_PER_TIME_CHECK};
use super::{arith, host64, Bin, Buf, Cx, Draw, Kernels, LossReduction, Split, Stat};
use crate::device::kernels::{TernaryCode, UnaryCode};
use crate::runtime::Philox;
use crate::tensor::{contiguous_strides, DType, LayerKernel, Result, Scalar, TensorError};

pub(crate) struct HostKernels;

/// Products at least this large (multiply-adds) use rayon's threads: below it, handing work to
/// threads costs more than it saves.
const PARALLEL_GEMM_FLOPS: usize = 1 << 20;

/// How long one block of a product may take between two looks at the clock: after the first
/// block, each is sized to take about half of it at the rate the one before ran (at most eight
/// times longer), so a product stops soon after the runtime's deadline whatever the machine and
/// build, and large products still run in blocks big enough for `gemm` to run at speed.
const GEMM_BLOCK_TIME: Duration = Duration::from_millis(50);

/// Multiply-adds in the first block of a product: about a millisecond of `gemm` on one core of
/// the development machine, so a small product (every product of the 784-1024-1024-10 bench
/// MLP) is one call. Each block repacks the operand the blocks share, and blocks of a few rows
/// spent more time packing than multiplying.
const FIRST_GEMM_BLOCK: usize = 1 << 26;

/// A matrix where it lives: its first element and its row and column strides, in elements.
#[derive(Clone, Copy)]
pub(super) struct Mat<T = f32> {
    at: *mut T,
    rows: isize,
    cols: isize,
}

impl<T> Mat<T> {
    /// A row-major matrix of `cols` columns from `at` on.
    pub(super) fn dense(at: *mut T, cols: usize) -> Mat<T> {
        Mat {
            at,
            rows: cols as isize,
            cols: 1,
        }
    }

    /// The matrix from row `r` and column `c` on.
    fn from(self, r: usize, c: usize) -> Mat<T> {
        // `wrapping_offset`: computing the address is safe; `matmul_gemm`'s callers promise
        // that what is read and written from it lies inside the matrix.
        let at = self
            .at
            .wrapping_offset(r as isize * self.rows + c as isize * self.cols);
        Mat { at, ..self }
    }
}

/// `dst (n×m) = a (n×k) · b (k×m)`, plus `dst`'s own values with `read_dst`, through the
/// `gemm` crate, which takes each matrix with its strides (a transposed view is read as it
/// lies, with no copy), in blocks with a look at the deadline before each. A block is a run of
/// rows of `a` when `n ≥ m`, else a run of columns of `b`: `gemm` packs the operand that every
/// block shares again for each call, so the blocks cut the larger side and the repacked
/// operand is the smaller one (a 256×4096 · 4096×4096 product cut by rows repacked 64 MiB per
/// block and ran about ten times slower).
///
/// # Safety
/// Each matrix must be valid for its extent (reads of `a` and `b`, reads and writes of
/// `dst`), `dst` must give each element its own address and overlap neither operand, and
/// `n`, `k`, `m` must all be non-zero.
/// `out (n×m) = a (n×k) · b (k×m)` (plus `out` with `accumulate`) through `gemm`, on dense
/// copies of the operands read and written as `T` (the f32 and f64 paths differ only there).
fn dense_matmul<T: arith::Real>(
    cx: Cx,
    out: &Buf,
    [a, b]: [&Buf; 2],
    accumulate: bool,
    read: impl Fn(&Buf, Cx<'_>) -> Option<Vec<T>>,
    write: impl Fn(&Buf, Cx<'_>, &[T]),
) -> Result<()> {
    let (Some(x), Some(y)) = (read(a, cx), read(b, cx)) else {
        return Ok(());
    };
    let (n, k, m) = (a.shape[0], a.shape[1], b.shape[1]);
    let mut product = match accumulate.then(|| read(out, cx)).flatten() {
        Some(acc) => acc,
        None => vec![T::zero(); n * m],
    };
    if n * k * m != 0 {
        // SAFETY: `x`, `y` and `product` are dense n×k, k×m and n×m matrices of their own,
        // and no dimension is zero.
        unsafe {
            matmul_gemm(
                cx,
                Mat::dense(product.as_mut_ptr(), m),
                [
                    Mat::dense(x.as_ptr().cast_mut(), k),
                    Mat::dense(y.as_ptr().cast_mut(), m),
                ],
                (n, k, m),
                accumulate,
            )?;
        }
    }
    write(out, cx, &product);
    Ok(())
}

pub(super) unsafe fn matmul_gemm<T: arith::Real>(
    cx: Cx,
    dst: Mat<T>,
    [a, b]: [Mat<T>; 2],
    (n, k, m): (usize, usize, usize),
    read_dst: bool,
) -> Result<()> {
    let by_rows = n >= m;
    let side = if by_rows { n } else { m };
    let per_line = k * if by_rows { m } else { n };
    let (mut first, mut block) = (0, (FIRST_GEMM_BLOCK / per_line).max(1));
    while first < side {
        cx.check_time()?;
        let len = block.min(side - first);
        let (rows, cols) = if by_rows { (len, m) } else { (n, len) };
        let parallelism = if rows * k * cols >= PARALLEL_GEMM_FLOPS {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        };
        // A block of rows starts `first` rows into `dst` and `a`; a block of columns `first`
        // columns into `dst` and `b`.
        let (d, lhs, rhs) = if by_rows {
            (dst.from(first, 0), a.from(first, 0), b)
        } else {
            (dst.from(0, first), a, b.from(0, first))
        };
        let started = Instant::now();
        // SAFETY: the block lies inside the three matrices (the caller's promise); `dst =
        // dst + lhs·rhs` with `read_dst`, else `dst = lhs·rhs`.
        unsafe {
            gemm::gemm(
                rows,
                cols,
                k,
                d.at,
                d.cols,
                d.rows,
                read_dst,
                lhs.at.cast_const(),
                lhs.cols,
                lhs.rows,
                rhs.at.cast_const(),
                rhs.cols,
                rhs.rows,
                T::one(),
                T::one(),
                false,
                false,
                false,
                parallelism,
            );
        }
        first += len;
        let rate = len as f64 / started.elapsed().as_secs_f64().max(1e-9);
        block = ((rate * GEMM_BLOCK_TIME.as_secs_f64() / 2.0) as usize).clamp(1, len * 8);
    }
    Ok(())
}

/// A 2-D host f32 operand as a [`Mat`], with its byte range.
fn host_mat(b: &Buf) -> Option<(Mat, (usize, usize))> {
    let at = strided::host_f32(b)?;
    let mat = Mat {
        at,
        rows: b.strides[0] as isize,
        cols: b.strides[1] as isize,
    };
    Some((mat, strided::byte_range(at, b)))
}

/// [`matmul_gemm`] on the operands where they live, when all three are f32 in host memory
/// (with elements) and the output, a fresh block, overlaps neither operand.
fn matmul_in_place(cx: Cx, out: &Buf, [a, b]: [&Buf; 2], accumulate: bool) -> Option<Result<()>> {
    let (dst, dst_range) = host_mat(out)?;
    let (lhs, lhs_range) = host_mat(a)?;
    let (rhs, rhs_range) = host_mat(b)?;
    let apart = out.strides[1] == 1 && out.strides[0] >= out.shape[1]
        || out.strides[0] == 1 && out.strides[1] >= out.shape[0];
    if !apart || strided::overlap(dst_range, lhs_range) || strided::overlap(dst_range, rhs_range) {
        return None;
    }
    let dims = (a.shape[0], a.shape[1], b.shape[1]);
    // SAFETY: each matrix is a view inside its storage, `dst` has distinct addresses for its
    // elements and overlaps neither operand (checked above), and no dimension is zero (each
    // operand has elements).
    Some(unsafe { matmul_gemm(cx, dst, [lhs, rhs], dims, accumulate) })
}

/// `f(0), f(1), …, f(n - 1)`, looking at the deadline every [`ELEMENTS_PER_TIME_CHECK`].
pub(super) fn map_within_time<T>(
    cx: Cx,
    n: usize,
    mut f: impl FnMut(usize) -> T,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(n);
    for first in (0..n).step_by(ELEMENTS_PER_TIME_CHECK) {
        cx.check_time()?;
        out.extend((first..n.min(first + ELEMENTS_PER_TIME_CHECK)).map(&mut f));
    }
    Ok(out)
}

/// For each element in row-major order, its position in the result of reducing the marked
/// dimensions (laid out as the shape with those dimensions set to 1), and the result's length.
fn reduce_positions(shape: &[usize], reduce: &[bool]) -> (Vec<usize>, usize) {
    let kept: Vec<usize> = shape
        .iter()
        .zip(reduce)
        .map(|(&s, &r)| if r { 1 } else { s })
        .collect();
    let out_strides = contiguous_strides(&kept);
    let numel: usize = shape.iter().product();
    let mut positions = Vec::with_capacity(numel);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..numel {
        positions.push(
            index
                .iter()
                .zip(&out_strides)
                .zip(reduce)
                .map(|((&i, &s), &r)| if r { 0 } else { i * s })
                .sum(),
        );
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    (positions, kept.iter().product())
}

/// (outer, size, inner) around `dim`.
fn split(shape: &[usize], dim: usize) -> Split {
    (
        shape[..dim].iter().product(),
        shape[dim],
        shape[dim + 1..].iter().product(),
    )
}

/// The index of the first extreme of each (outer, inner) row of `x` along the middle axis.
fn first_extremes<T: PartialOrd + Copy>(
    x: &[T],
    (outer, size, inner): Split,
    is_min: bool,
) -> Vec<usize> {
    let mut idx = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| x[(o * size + k) * inner + i];
            let mut best = 0;
            for k in 1..size {
                let better = if is_min {
                    at(k) < at(best)
                } else {
                    at(k) > at(best)
                };
                if better {
                    best = k;
                }
            }
            idx.push(best);
        }
    }
    idx
}

/// `log_softmax` of one row of `size` elements `x(k)`, written through `y(k, value)`: the max,
/// then the log of the sum of exponentials in f64.
#[inline(always)]
fn log_softmax_row(size: usize, x: impl Fn(usize) -> f32, mut y: impl FnMut(usize, f32)) {
    let max = (0..size).map(&x).fold(f32::NEG_INFINITY, f32::max);
    let lse = (0..size)
        .map(|k| ((x(k) - max) as f64).exp())
        .sum::<f64>()
        .ln() as f32
        + max;
    for k in 0..size {
        y(k, x(k) - lse);
    }
}

/// `_log_softmax_backward_data` of one row: `gr(k)` is (grad, result) at `k`.
#[inline(always)]
fn log_softmax_backward_row(
    size: usize,
    gr: impl Fn(usize) -> (f32, f32),
    mut v: impl FnMut(usize, f32),
) {
    let s: f32 = (0..size).map(|k| gr(k).0).sum();
    for k in 0..size {
        let (g, r) = gr(k);
        v(k, g - r.exp() * s);
    }
}

/// `_softmax_backward_data` of one row: `gr(k)` is (grad, result) at `k`.
#[inline(always)]
fn softmax_backward_row(
    size: usize,
    gr: impl Fn(usize) -> (f32, f32),
    mut v: impl FnMut(usize, f32),
) {
    let s: f32 = (0..size).map(|k| gr(k).0 * gr(k).1).sum();
    for k in 0..size {
        let (g, r) = gr(k);
        v(k, r * (g - s));
    }
}

/// Which softmax a backward row is of.
#[derive(Clone, Copy)]
enum SoftmaxGrad {
    Log,
    Plain,
}

impl SoftmaxGrad {
    /// The backward of one row: `gr(k)` is (grad, result) at `k`, written through `v(k, value)`.
    #[inline(always)]
    fn row(self, size: usize, gr: impl Fn(usize) -> (f32, f32), v: impl FnMut(usize, f32)) {
        match self {
            SoftmaxGrad::Log => log_softmax_backward_row(size, gr, v),
            SoftmaxGrad::Plain => softmax_backward_row(size, gr, v),
        }
    }
}

/// `_log_softmax_backward_data` or `_softmax_backward_data` of every row along the split's
/// middle axis: contiguous rows (`inner == 1`) in parallel, any other layout on this thread.
fn softmax_backward_rows(
    cx: Cx,
    out: &Buf,
    [grad, result]: [&Buf; 2],
    (outer, size, inner): Split,
    kind: SoftmaxGrad,
) -> Result<()> {
    if inner == 1 {
        let done = strided::rows(cx, out, [grad, result], size, |v, [g, r]| {
            kind.row(size, |k| (g[k], r[k]), |k, x| v[k] = x)
        });
        if let Some(done) = done {
            return done;
        }
    }
    if let (Some(g), Some(r)) = (grad.read_f32(cx), result.read_f32(cx)) {
        let mut v = vec![0f32; g.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * size + k) * inner + i;
                kind.row(size, |k| (g[at(k)], r[at(k)]), |k, x| v[at(k)] = x);
            }
        }
        out.write_f32(cx, &v);
    }
    Ok(())
}

fn out_of_bounds(class: i64) -> TensorError {
    TensorError::Invalid(format!("Target {class} is out of bounds."))
}

impl Kernels for HostKernels {
    fn binary(&self, cx: Cx, out: &Buf, [a, b]: [&Buf; 2], compute: DType, op: Bin) -> Result<()> {
        if compute == DType::F32 {
            if let Some(plan) = Plan::new([out, a, b]) {
                return op.with(Zip(&plan, cx));
            }
            if let (Some(x), Some(y)) = (a.read_f32(cx), b.read_f32(cx)) {
                let v = map_within_time(cx, x.len(), |i| op.at(x[i], y[i]))?;
                out.write_f32(cx, &v);
            }
        } else if compute == DType::F64 {
            return host64::binary(cx, out, [a, b], op);
        } else if let (Some(x), Some(y)) = (a.read_i64(cx), b.read_i64(cx)) {
            let v = map_within_time(cx, x.len(), |i| op.i64(x[i], y[i]))?;
            out.write_i64(cx, &v);
        }
        Ok(())
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
        if compute == DType::F32 {
            let q = s.as_f64() as f32;
            if let Some(plan) = Plan::new([out, a]) {
                return op.with(MapScalar(&plan, cx, q));
            }
            if let Some(x) = a.read_f32(cx) {
                out.write_f32(cx, &map_within_time(cx, x.len(), |i| op.at(x[i], q))?);
            }
        } else if compute == DType::F64 {
            return host64::binary_scalar(cx, out, a, s.as_f64(), op);
        } else if let Some(x) = a.read_i64(cx) {
            let q = match s {
                Scalar::Int(i) => i,
                Scalar::Float(f) => f as i64,
            };
            out.write_i64(cx, &map_within_time(cx, x.len(), |i| op.i64(x[i], q))?);
        }
        Ok(())
    }

    fn unary(&self, cx: Cx, out: &Buf, a: &Buf, op: UnaryCode, p: f64) -> Result<()> {
        if let Some(plan) = Plan::new([out, a]) {
            return arith::with_unary(op, p, Map(&plan, cx));
        }
        if out.dtype == DType::F64 {
            return host64::unary(cx, out, a, op, p);
        }
        if let Some(x) = a.read_f32(cx) {
            let v = map_within_time(cx, x.len(), |i| arith::unary(op, p, x[i]))?;
            out.write_f32(cx, &v);
        }
        Ok(())
    }

    fn ternary(
        &self,
        cx: Cx,
        out: &Buf,
        [a, b, c]: [&Buf; 3],
        op: TernaryCode,
        vw: (f64, f64),
    ) -> Result<()> {
        if let Some(plan) = Plan::new([out, a, b, c]) {
            return arith::with_ternary(op, vw, Zip3(&plan, cx));
        }
        if out.dtype == DType::F64 {
            return host64::ternary(cx, out, [a, b, c], op, vw);
        }
        if let (Some(a), Some(b), Some(c)) = (a.read_f32(cx), b.read_f32(cx), c.read_f32(cx)) {
            let v = map_within_time(cx, a.len(), |i| arith::ternary(op, vw, a[i], b[i], c[i]))?;
            out.write_f32(cx, &v);
        }
        Ok(())
    }

    fn copy(&self, cx: Cx, dst: &Buf, src: &Buf) -> Result<()> {
        // A copy is a read then a write, each at memory speed: one look at the clock before.
        cx.check_time()?;
        if let Some(plan) = Plan::new([dst, src]) {
            return Map(&plan, cx).run(|x| x);
        }
        dst.copy_converted(cx, src);
        Ok(())
    }

    fn fill(&self, cx: Cx, out: &Buf, value: Scalar) -> Result<()> {
        // Values are set where they live: a vector of them first would cost a second tensor's
        // worth of host memory. The conversions are `write_f32`'s and `write_i64`'s.
        match (out.dtype, value) {
            (DType::F32, Scalar::Int(i)) => out.fill_with(cx, i as f32),
            (DType::F32, Scalar::Float(f)) => out.fill_with(cx, f as f32),
            (DType::F16 | DType::BF16, value) => {
                out.fill_with(cx, super::half::from_f32(out.dtype, value.as_f64() as f32))
            }
            (DType::I64, Scalar::Int(i)) => out.fill_with(cx, i),
            (DType::I64, Scalar::Float(f)) => out.fill_with(cx, f as f32 as i64),
            (DType::I32, Scalar::Int(i)) => out.fill_with(cx, i as i32),
            (DType::I32, Scalar::Float(f)) => out.fill_with(cx, f as f32 as i32),
            (DType::F64, value) => out.fill_with(cx, value.as_f64()),
            (DType::Bool, Scalar::Int(i)) => out.fill_with(cx, u8::from(i != 0)),
            (DType::Bool, Scalar::Float(f)) => out.fill_with(cx, u8::from(f as f32 != 0.0)),
        }
    }

    fn reduce_sum(&self, cx: Cx, out: &Buf, src: &Buf, reduce: &[bool], mean: bool) -> Result<()> {
        let count: usize = src
            .shape
            .iter()
            .zip(reduce)
            .filter(|&(_, &r)| r)
            .map(|(&s, _)| s)
            .product();
        if out.dtype == DType::I64 {
            if let Some(x) = src.read_i64(cx) {
                let (positions, len) = reduce_positions(src.shape, reduce);
                let mut sums = vec![0i64; len];
                for (i, (&v, &p)) in x.iter().zip(&positions).enumerate() {
                    if i % ELEMENTS_PER_TIME_CHECK == 0 {
                        cx.check_time()?;
                    }
                    sums[p] = sums[p].wrapping_add(v);
                }
                out.write_i64(cx, &sums);
            }
        } else {
            let mut sums = vec![0f64; out.numel()];
            if let Some(done) = strided::reduce_sum_f32(cx, src, reduce, &mut sums) {
                done?;
            } else {
                let Some(x) = src.read_f64(cx) else {
                    return Ok(());
                };
                let (positions, _) = reduce_positions(src.shape, reduce);
                for (i, (&v, &p)) in x.iter().zip(&positions).enumerate() {
                    if i % ELEMENTS_PER_TIME_CHECK == 0 {
                        cx.check_time()?;
                    }
                    sums[p] += v;
                }
            }
            let div = if mean { count as f64 } else { 1.0 };
            // `write_f64` rounds once to the output's type: a float32 sum as before, a float64
            // one keeps its accumulator's precision.
            out.write_f64(cx, &sums.iter().map(|&s| s / div).collect::<Vec<_>>());
        }
        Ok(())
    }

    fn reduce_stat(&self, cx: Cx, out: &Buf, src: &Buf, reduce: &[bool], stat: Stat) -> Result<()> {
        let Some(x) = src.read_f64(cx) else {
            return Ok(());
        };
        // Each output's values, grouped by where `reduce_positions` sends them.
        let (positions, len) = reduce_positions(src.shape, reduce);
        let mut groups = vec![Vec::new(); len];
        for (i, (&v, &p)) in x.iter().zip(&positions).enumerate() {
            if i % ELEMENTS_PER_TIME_CHECK == 0 {
                cx.check_time()?;
            }
            groups[p].push(v);
        }
        let v: Vec<f64> = groups.iter().map(|g| stat.of(g.iter().copied())).collect();
        // Rounded once to the output's type: float32 as the f32 result it was, float64 exact.
        out.write_f64(cx, &v);
        Ok(())
    }

    fn arg_extreme(&self, cx: Cx, out: &Buf, src: &Buf, dim: usize, is_min: bool) -> Result<()> {
        // f64 holds every value of every type exactly, so the order is the values' own.
        if let Some(x) = src.read_f64(cx) {
            let idx = first_extremes(&x, split(src.shape, dim), is_min);
            out.write_i64(cx, &idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
        }
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
        /// The first extreme of each row: its index and its value.
        fn pick<T: PartialOrd + Copy>(x: &[T], at: Split, is_min: bool) -> (Vec<i64>, Vec<T>) {
            let (_, size, inner) = at;
            let idx = first_extremes(x, at, is_min);
            let v = idx
                .iter()
                .enumerate()
                .map(|(j, &k)| x[((j / inner) * size + k) * inner + j % inner])
                .collect();
            (idx.iter().map(|&i| i as i64).collect(), v)
        }
        let at = split(src.shape, dim);
        // float64 values are picked as they are, not through f32.
        if src.dtype == DType::F64 {
            if let Some(x) = src.read_f64(cx) {
                let (idx, v) = pick(&x, at, is_min);
                values.write_f64(cx, &v);
                indices.write_i64(cx, &idx);
            }
        } else if let Some(x) = src.read_f32(cx) {
            let (idx, v) = pick(&x, at, is_min);
            values.write_f32(cx, &v);
            indices.write_i64(cx, &idx);
        }
        Ok(())
    }

    fn norm2(&self, cx: Cx, out: &Buf, src: &Buf) -> Result<()> {
        if let Some(x) = src.read_f64(cx) {
            let s: f64 = x.iter().map(|&v| v * v).sum();
            out.write_f64(cx, &[s.sqrt()]);
        }
        Ok(())
    }

    fn scatter_selected(
        &self,
        cx: Cx,
        out: &Buf,
        [grad, indices]: [&Buf; 2],
        (outer, size, inner): Split,
    ) -> Result<()> {
        if let (Some(grad), Some(idx), Some(mut v)) =
            (grad.read_f32(cx), indices.read_i64(cx), out.read_f32(cx))
        {
            for j in 0..outer * inner {
                let (o, i) = (j / inner, j % inner);
                v[(o * size + idx[j] as usize) * inner + i] = grad[j];
            }
            out.write_f32(cx, &v);
        }
        Ok(())
    }

    fn matmul(&self, cx: Cx, out: &Buf, [a, b]: [&Buf; 2], accumulate: bool) -> Result<()> {
        if let Some(done) = matmul_in_place(cx, out, [a, b], accumulate) {
            return done;
        }
        if out.dtype == DType::F64 {
            return dense_matmul(
                cx,
                out,
                [a, b],
                accumulate,
                |b, cx| b.read_f64(cx),
                |b, cx, v| b.write_f64(cx, v),
            );
        }
        dense_matmul(
            cx,
            out,
            [a, b],
            accumulate,
            |b, cx| b.read_f32(cx),
            |b, cx, v| b.write_f32(cx, v),
        )
    }

    fn log_softmax(&self, cx: Cx, out: &Buf, x: &Buf, (outer, size, inner): Split) -> Result<()> {
        if inner == 1 {
            let done = strided::rows(cx, out, [x], size, |y, [x]| {
                log_softmax_row(size, |k| x[k], |k, v| y[k] = v)
            });
            if let Some(done) = done {
                return done;
            }
        }
        let Some(x) = x.read_f32(cx) else {
            return Ok(());
        };
        let mut y = vec![0f32; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * size + k) * inner + i;
                log_softmax_row(size, |k| x[at(k)], |k, v| y[at(k)] = v);
            }
        }
        out.write_f32(cx, &y);
        Ok(())
    }

    fn log_softmax_backward(
        &self,
        cx: Cx,
        out: &Buf,
        operands: [&Buf; 2],
        split: Split,
    ) -> Result<()> {
        softmax_backward_rows(cx, out, operands, split, SoftmaxGrad::Log)
    }

    fn softmax_backward(&self, cx: Cx, out: &Buf, operands: [&Buf; 2], split: Split) -> Result<()> {
        softmax_backward_rows(cx, out, operands, split, SoftmaxGrad::Plain)
    }

    fn nll_loss(
        &self,
        cx: Cx,
        [out, total_weight]: [&Buf; 2],
        [x, target]: [&Buf; 2],
        reduction: LossReduction,
        ignore_index: i64,
    ) -> Result<()> {
        let (Some(x_values), Some(t)) = (x.read_f32(cx), target.read_i64(cx)) else {
            return Ok(());
        };
        let (n, c) = (x.shape[0], x.shape[1]);
        let mut losses = vec![0f32; n];
        let mut count = 0usize;
        for (i, &class) in t.iter().enumerate() {
            if class == ignore_index {
                continue;
            }
            if class < 0 || class as usize >= c {
                return Err(out_of_bounds(class));
            }
            losses[i] = -x_values[i * c + class as usize];
            count += 1;
        }
        total_weight.write_f32(cx, &[count as f32]);
        let sum: f64 = losses.iter().map(|&v| v as f64).sum();
        match reduction {
            LossReduction::None => out.write_f32(cx, &losses),
            LossReduction::Sum => out.write_f32(cx, &[sum as f32]),
            LossReduction::Mean => out.write_f32(cx, &[(sum / count as f64) as f32]),
        }
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
        if let (Some(g), Some(t), Some(w)) = (
            grad.read_f32(cx),
            target.read_i64(cx),
            total_weight.read_f32(cx),
        ) {
            let c = out.shape[1];
            let mut v = vec![0f32; out.numel()];
            for (i, &class) in t.iter().enumerate() {
                if class == ignore_index || class < 0 || class as usize >= c {
                    continue;
                }
                v[i * c + class as usize] = match reduction {
                    LossReduction::None => -g[i],
                    LossReduction::Sum => -g[0],
                    LossReduction::Mean => -g[0] / w[0],
                };
            }
            out.write_f32(cx, &v);
        }
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
        if let Some(x) = x.read_f32(cx) {
            let kept: Vec<bool> = (0..x.len()).map(|_| stream.uniform() < keep).collect();
            let y: Vec<f32> = x
                .iter()
                .zip(&kept)
                .map(|(&v, &k)| if k { v * scale } else { 0.0 })
                .collect();
            out.write_f32(cx, &y);
            mask.write_bool(cx, &kept);
        }
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
        let Some(x) = x.read_f32(cx) else {
            return Ok(());
        };
        let w = weight.and_then(|w| w.read_f32(cx));
        let b = bias.and_then(|b| b.read_f32(cx));
        let (mut y, mut mu, mut rs) = (vec![0f32; m * n], vec![0f32; m], vec![0f32; m]);
        for r in 0..m {
            let row = &x[r * n..(r + 1) * n];
            let mean_r = (row.iter().map(|&v| v as f64).sum::<f64>() / n as f64) as f32;
            let var = (row
                .iter()
                .map(|&v| ((v - mean_r) as f64).powi(2))
                .sum::<f64>()
                / n as f64) as f32;
            let rstd_r = 1.0 / (var + eps as f32).sqrt();
            for (j, &v) in row.iter().enumerate() {
                let mut h = (v - mean_r) * rstd_r;
                if let Some(w) = &w {
                    h *= w[j];
                }
                if let Some(b) = &b {
                    h += b[j];
                }
                y[r * n + j] = h;
            }
            (mu[r], rs[r]) = (mean_r, rstd_r);
        }
        out.write_f32(cx, &y);
        mean.write_f32(cx, &mu);
        rstd.write_f32(cx, &rs);
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
        let (Some(dy), Some(x), Some(mu), Some(rs)) = (
            dy.read_f32(cx),
            x.read_f32(cx),
            mean.read_f32(cx),
            rstd.read_f32(cx),
        ) else {
            return Ok(());
        };
        let w = weight.and_then(|w| w.read_f32(cx));
        let (mut gx, mut gw, mut gb) = (vec![0f32; m * n], vec![0f32; n], vec![0f32; n]);
        for r in 0..m {
            let xhat = |j: usize| (x[r * n + j] - mu[r]) * rs[r];
            let g = |j: usize| dy[r * n + j] * w.as_ref().map_or(1.0, |w| w[j]);
            let mean_g = (0..n).map(|j| g(j) as f64).sum::<f64>() / n as f64;
            let mean_gx = (0..n).map(|j| (g(j) * xhat(j)) as f64).sum::<f64>() / n as f64;
            for j in 0..n {
                gx[r * n + j] = rs[r] * (g(j) - mean_g as f32 - xhat(j) * mean_gx as f32);
                gw[j] += dy[r * n + j] * xhat(j);
                gb[j] += dy[r * n + j];
            }
        }
        for (t, v) in [(dx, gx), (dw, gw), (db, gb)] {
            if let Some(t) = t {
                t.write_f32(cx, &v);
            }
        }
        Ok(())
    }

    fn random(&self, cx: Cx, out: &Buf, draw: Draw, stream: &mut Philox) -> Result<()> {
        if out.storage.ptr().is_none() && out.numel() != 0 {
            return Ok(());
        }
        let n = out.numel();
        // Drawn in blocks with a look at the deadline before each: 31 million normals take
        // seconds (the fuzzer's hang, tests/fixtures/fuzz/scenario-75ebb372110899df.py).
        match draw {
            Draw::Normal => {
                let pairs = map_within_time(cx, n.div_ceil(2), |_| stream.normal_pair())?;
                out.write_f32(cx, &pairs.as_flattened()[..n]);
            }
            Draw::Uniform => out.write_f32(cx, &map_within_time(cx, n, |_| stream.uniform())?),
            Draw::Scaled(low, high) => {
                let v = map_within_time(cx, n, |_| {
                    (low + (high - low) * stream.uniform() as f64) as f32
                })?;
                out.write_f32(cx, &v);
            }
            Draw::Bernoulli { keep, scale } => {
                let v =
                    map_within_time(cx, n, |_| if stream.uniform() < keep { scale } else { 0.0 })?;
                out.write_f32(cx, &v);
            }
            Draw::Int(low, span) => {
                let v = map_within_time(cx, n, |_| {
                    low.wrapping_add((stream.next_u32() as u64 % span) as i64)
                })?;
                out.write_i64(cx, &v);
            }
        }
        Ok(())
    }

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
