//! Kernels: the arithmetic behind every tensor operation, once per backend.
//!
//! An operation in `src/tensor` is four steps: its shape and dtype rule, its allocations
//! through the caching allocator (which is what makes the allocator traces of the three
//! backends identical), one call to a [`Kernels`] method, and its autograd node. The kernel
//! sees [`Buf`]s (a storage, its layout and its dtype), never a tensor, and allocates nothing.
//!
//! Which implementation runs is decided once, when the [`Runtime`] is made (its
//! [`compute_backend`](Runtime::compute_backend)): [`HOST`] for the cpu backend (device memory
//! is host memory), [`META`] for meta and for a cuda device opened without kernels (there are
//! no values, so kernels do nothing) and [`CUDA`] for a cuda runtime with kernels (launches on
//! its stream). Host tensors (`device="cpu"`) always run on [`HOST`]. [`Tensor::kernels`]
//! hands an operation the implementation for its output's device.

mod arith;
mod cuda;
mod half;
mod host;
mod host64;
mod layout;
mod meta;
mod strided;

pub(crate) use arith::Bin;
pub(crate) use layout::Buf;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{DType, Device, LayerKernel, Result, Scalar, Tensor, TensorError};
use crate::device::kernels::{TernaryCode, UnaryCode};
use crate::device::{Backend, Gpu};
use crate::runtime::{Philox, Runtime};

/// What a kernel may use besides its operands: the runtime's GPU (for copies between host and
/// device memory), its deadline and its interrupt flag.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'a> {
    pub(crate) gpu: Option<&'a Gpu>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) interrupt: Option<&'a AtomicBool>,
    /// Cheap kernels counted since the last clock read ([`Cx::poll`]).
    pub(crate) ticks: &'a Cell<u32>,
}

/// How many cheap kernels run between two reads of the clock in [`Cx::poll`]: a meta kernel
/// costs a few nanoseconds and a clock read about twenty, so reading it on every call would
/// slow a meta training step by several percent, while 256 meta kernels take microseconds.
const KERNELS_PER_CLOCK_READ: u32 = 256;

impl Cx<'_> {
    /// What kernels of `rt` may use.
    pub(crate) fn of(rt: &Runtime) -> Cx<'_> {
        Cx {
            gpu: rt.gpu(),
            deadline: rt.deadline(),
            interrupt: rt.interrupt_flag(),
            ticks: rt.kernel_ticks(),
        }
    }

    /// [`TensorError::Interrupted`] once the run's interrupt flag is set, else
    /// [`TensorError::OutOfTime`] once the runtime's deadline has passed: long host kernels
    /// call this between blocks of their work.
    pub(crate) fn check_time(&self) -> Result<()> {
        self.check_interrupt()?;
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(TensorError::OutOfTime),
            _ => Ok(()),
        }
    }

    /// [`TensorError::Interrupted`] once the run's interrupt flag is set (one relaxed load).
    fn check_interrupt(&self) -> Result<()> {
        match self.interrupt {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(TensorError::Interrupted),
            _ => Ok(()),
        }
    }

    /// The check of a kernel too cheap to read the clock every time (meta's, which compute
    /// nothing): the interrupt flag on every call, the deadline on every
    /// [`KERNELS_PER_CLOCK_READ`]th. One statement can run any number of them (`sum()` over a
    /// long list of tensors, a backward through a long graph), so they are where such a
    /// statement stops.
    pub(crate) fn poll(&self) -> Result<()> {
        self.check_interrupt()?;
        let ticks = self.ticks.get() + 1;
        if ticks < KERNELS_PER_CLOCK_READ {
            self.ticks.set(ticks);
            return Ok(());
        }
        self.ticks.set(0);
        self.check_time()
    }
}

/// A dimension split as (outer, size, inner): `size` elements `inner` apart, `outer` times.
pub(crate) type Split = (usize, usize, usize);

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
    /// `scale` where a uniform is below `keep`, else 0 (dropout's noise on the host).
    Bernoulli { keep: f32, scale: f32 },
}

/// A statistic of a reduction (`reduce_stat` in kernels/reduce.cu).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stat {
    /// The variance with Bessel's `correction` (`var`).
    Var { correction: f64 },
    /// Its square root (`std`).
    Std { correction: f64 },
    /// The vector `ord`-norm, `(Σ |x|^ord)^(1/ord)` (`linalg.vector_norm`, `norm`).
    Norm { ord: f64 },
    /// The largest value, NaN if any is (`max()` without `dim`).
    Max,
    /// The smallest value, NaN if any is (`min()` without `dim`).
    Min,
}

impl Stat {
    /// The kernel's `stat` code and `param`.
    pub(crate) fn code(self) -> (i32, f64) {
        match self {
            Stat::Var { correction } => (0, correction),
            Stat::Std { correction } => (1, correction),
            Stat::Norm { ord } => (2, ord),
            Stat::Max => (3, 0.0),
            Stat::Min => (4, 0.0),
        }
    }

    /// The statistic of one group of values, in f64 and in order, as the kernel computes it
    /// (float32 values are widened exactly; the caller rounds the result to its output's type).
    pub(crate) fn of(self, values: impl Iterator<Item = f64> + Clone) -> f64 {
        match self {
            Stat::Max | Stat::Min => {
                let pick: fn(f64, f64) -> f64 = if self == Stat::Max {
                    f64::max
                } else {
                    f64::min
                };
                // f64::max skips a NaN; PyTorch's max propagates it.
                values
                    .fold(None, |acc: Option<f64>, x| match acc {
                        None => Some(x),
                        Some(a) if a.is_nan() || x.is_nan() => Some(f64::NAN),
                        Some(a) => Some(pick(a, x)),
                    })
                    .unwrap_or(f64::NAN)
            }
            Stat::Norm { ord } => {
                let s: f64 = values
                    .map(|x| {
                        let x = x.abs();
                        if ord == 2.0 {
                            x * x
                        } else if ord == 1.0 {
                            x
                        } else {
                            x.powf(ord)
                        }
                    })
                    .sum();
                if ord == 2.0 {
                    s.sqrt()
                } else if ord == 1.0 {
                    s
                } else {
                    s.powf(1.0 / ord)
                }
            }
            Stat::Var { correction } | Stat::Std { correction } => {
                let count = values.clone().count() as f64;
                let mean = values.clone().sum::<f64>() / count;
                let var = values
                    .map(|x| {
                        let d = x - mean;
                        d * d
                    })
                    .sum::<f64>()
                    / (count - correction);
                if matches!(self, Stat::Std { .. }) {
                    var.sqrt()
                } else {
                    var
                }
            }
        }
    }
}

/// The reduction of a loss kernel (`RED_*` of kernels/loss.cu).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LossReduction {
    None = 0,
    Mean = 1,
    Sum = 2,
}

/// One backend's arithmetic. Outputs are allocated by the caller; operands are already
/// broadcast to the output's shape where a method says so. An operand whose values do not
/// exist (a device tensor on meta) leaves the output as it is.
pub(crate) trait Kernels {
    /// `out = a op b` element by element, computed in `compute` (f32, or i64 for integers and
    /// bools); `a` and `b` have `out`'s shape.
    fn binary(&self, cx: Cx, out: &Buf, operands: [&Buf; 2], compute: DType, op: Bin)
        -> Result<()>;
    /// `out = a op s`, with the number converted to `compute`.
    fn binary_scalar(
        &self,
        cx: Cx,
        out: &Buf,
        a: &Buf,
        s: Scalar,
        compute: DType,
        op: Bin,
    ) -> Result<()>;
    /// `out = op(a; p)` through f32.
    fn unary(&self, cx: Cx, out: &Buf, a: &Buf, op: UnaryCode, p: f64) -> Result<()>;
    /// `out = op(a, b, c; v, w)` in f32; all four have `out`'s shape.
    fn ternary(
        &self,
        cx: Cx,
        out: &Buf,
        operands: [&Buf; 3],
        op: TernaryCode,
        vw: (f64, f64),
    ) -> Result<()>;
    /// `dst.copy_(src)` (same number of elements), through the wider type of the two so
    /// integers survive; either may be host memory.
    fn copy(&self, cx: Cx, dst: &Buf, src: &Buf) -> Result<()>;
    /// Every element of `out` set to `value`.
    fn fill(&self, cx: Cx, out: &Buf, value: Scalar) -> Result<()>;
    /// Sum (or mean) of `src` over the marked dimensions into the contiguous `out`; integers
    /// when `out` is int64.
    fn reduce_sum(&self, cx: Cx, out: &Buf, src: &Buf, reduce: &[bool], mean: bool) -> Result<()>;
    /// `stat` of `src` over the marked dimensions into the contiguous `out`, in f64.
    fn reduce_stat(&self, cx: Cx, out: &Buf, src: &Buf, reduce: &[bool], stat: Stat) -> Result<()>;
    /// Index of the first maximum (minimum) of `src` along `dim` into the int64 `out`.
    fn arg_extreme(&self, cx: Cx, out: &Buf, src: &Buf, dim: usize, is_min: bool) -> Result<()>;
    /// The first maximum (minimum) of `src` along `dim` and its index.
    fn extreme(&self, cx: Cx, outs: [&Buf; 2], src: &Buf, dim: usize, is_min: bool) -> Result<()>;
    /// The 2-norm of all of `src` into the 0-dim `out`.
    fn norm2(&self, cx: Cx, out: &Buf, src: &Buf) -> Result<()>;
    /// `grad` (the reduced shape) written into the zero-filled `out` at `indices` along the
    /// split dimension.
    fn scatter_selected(
        &self,
        cx: Cx,
        out: &Buf,
        grad_indices: [&Buf; 2],
        split: Split,
    ) -> Result<()>;
    /// `out (n×m) = a (n×k) · b (k×m)`, plus `out`'s values when `accumulate`.
    fn matmul(&self, cx: Cx, out: &Buf, operands: [&Buf; 2], accumulate: bool) -> Result<()>;
    /// `log_softmax` of `x` along the split dimension.
    fn log_softmax(&self, cx: Cx, out: &Buf, x: &Buf, split: Split) -> Result<()>;
    /// `_log_softmax_backward_data(grad, result)`.
    fn log_softmax_backward(
        &self,
        cx: Cx,
        out: &Buf,
        grad_result: [&Buf; 2],
        split: Split,
    ) -> Result<()>;
    /// `_softmax_backward_data(grad, result)`.
    fn softmax_backward(
        &self,
        cx: Cx,
        out: &Buf,
        grad_result: [&Buf; 2],
        split: Split,
    ) -> Result<()>;
    /// nll_loss: `out` and `total_weight` from log-probabilities `x` (N, C) and int64 targets;
    /// an error for a target out of bounds.
    fn nll_loss(
        &self,
        cx: Cx,
        outs: [&Buf; 2],
        x_target: [&Buf; 2],
        reduction: LossReduction,
        ignore_index: i64,
    ) -> Result<()>;
    /// nll_loss backward into the zero-filled `out` (N, C): `-grad` at each target class.
    fn nll_loss_backward(
        &self,
        cx: Cx,
        out: &Buf,
        grad_target_weight: [&Buf; 3],
        reduction: LossReduction,
        ignore_index: i64,
    ) -> Result<()>;
    /// `native_dropout`: `out` and the bool `mask` from `x`, element `i` kept when number `i`
    /// of `stream`, as a uniform, is below `keep`.
    fn dropout(
        &self,
        cx: Cx,
        out_mask: [&Buf; 2],
        x: &Buf,
        keep_scale: (f32, f32),
        stream: &mut Philox,
    ) -> Result<()>;
    /// `native_layer_norm` over `m` rows of `n`: `out`, `mean`, `rstd` from `x`.
    fn layer_norm(
        &self,
        cx: Cx,
        outs: [&Buf; 3],
        x: &Buf,
        weight_bias: [Option<&Buf>; 2],
        rows: (usize, usize),
        eps: f64,
    ) -> Result<()>;
    /// `native_layer_norm_backward` into the gradients asked for.
    fn layer_norm_backward(
        &self,
        cx: Cx,
        grads: [Option<&Buf>; 3],
        saved: [&Buf; 4],
        weight: Option<&Buf>,
        rows: (usize, usize),
    ) -> Result<()>;
    /// Fills `out` from `stream`, element `i` drawing its number `i` (pairs for normals).
    fn random(&self, cx: Cx, out: &Buf, draw: Draw, stream: &mut Philox) -> Result<()>;
    /// A layer operation (convolution, pooling, batch norm, embedding, leaky_relu, elu; see
    /// [`LayerKernel`]): `outs` written from `ins`, either of which may hold absent operands
    /// (an optional bias, a gradient not asked for).
    fn layer(
        &self,
        cx: Cx,
        op: &LayerKernel,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()>;
}

/// The cpu backend's kernels and those of every host tensor.
pub(crate) static HOST: host::HostKernels = host::HostKernels;
/// The meta backend's kernels: no values, nothing to compute.
pub(crate) static META: meta::MetaKernels = meta::MetaKernels;
/// The cuda backend's kernels: launches on the runtime's stream.
pub(crate) static CUDA: cuda::CudaKernels = cuda::CudaKernels;

/// The kernels for tensors on `device` of `rt`, with what they may use.
pub(crate) fn select(rt: &Runtime, device: Device) -> (&'static dyn Kernels, Cx<'_>) {
    let kernels: &'static dyn Kernels = match (device, rt.compute_backend()) {
        (Device::Cpu, _) | (Device::Cuda, Backend::Cpu) => &HOST,
        (Device::Cuda, Backend::Meta) => &META,
        (Device::Cuda, Backend::Cuda) => &CUDA,
    };
    (kernels, Cx::of(rt))
}

impl Tensor {
    /// The kernels that compute into this tensor, and what they may use.
    pub(crate) fn kernels(&self) -> (&'static dyn Kernels, Cx<'_>) {
        select(self.runtime(), self.device())
    }
}
