//! The meta kernels: a meta device has sizes but no values, so every kernel is done as soon as
//! its outputs are allocated, which the operation did before calling it. Each still polls the
//! run's interrupt flag and, now and then, its deadline (`Cx::poll`): a single statement can
//! run millions of them, and must stop as a host kernel does.

use super::{Bin, Buf, Cx, Draw, Kernels, LossReduction, Split, Stat};
use crate::device::kernels::{TernaryCode, UnaryCode};
use crate::runtime::Philox;
use crate::tensor::{DType, LayerKernel, Result, Scalar};

pub(crate) struct MetaKernels;

impl Kernels for MetaKernels {
    fn binary(&self, cx: Cx, _: &Buf, _: [&Buf; 2], _: DType, _: Bin) -> Result<()> {
        cx.poll()
    }

    fn binary_scalar(&self, cx: Cx, _: &Buf, _: &Buf, _: Scalar, _: DType, _: Bin) -> Result<()> {
        cx.poll()
    }

    fn unary(&self, cx: Cx, _: &Buf, _: &Buf, _: UnaryCode, _: f64) -> Result<()> {
        cx.poll()
    }

    fn ternary(&self, cx: Cx, _: &Buf, _: [&Buf; 3], _: TernaryCode, _: (f64, f64)) -> Result<()> {
        cx.poll()
    }

    fn copy(&self, cx: Cx, _: &Buf, _: &Buf) -> Result<()> {
        cx.poll()
    }

    fn fill(&self, cx: Cx, _: &Buf, _: Scalar) -> Result<()> {
        cx.poll()
    }

    fn reduce_sum(&self, cx: Cx, _: &Buf, _: &Buf, _: &[bool], _: bool) -> Result<()> {
        cx.poll()
    }

    fn reduce_stat(&self, cx: Cx, _: &Buf, _: &Buf, _: &[bool], _: Stat) -> Result<()> {
        cx.poll()
    }

    fn arg_extreme(&self, cx: Cx, _: &Buf, _: &Buf, _: usize, _: bool) -> Result<()> {
        cx.poll()
    }

    fn extreme(&self, cx: Cx, _: [&Buf; 2], _: &Buf, _: usize, _: bool) -> Result<()> {
        cx.poll()
    }

    fn norm2(&self, cx: Cx, _: &Buf, _: &Buf) -> Result<()> {
        cx.poll()
    }

    fn scatter_selected(&self, cx: Cx, _: &Buf, _: [&Buf; 2], _: Split) -> Result<()> {
        cx.poll()
    }

    fn matmul(&self, cx: Cx, _: &Buf, _: [&Buf; 2], _: bool) -> Result<()> {
        cx.poll()
    }

    fn log_softmax(&self, cx: Cx, _: &Buf, _: &Buf, _: Split) -> Result<()> {
        cx.poll()
    }

    fn log_softmax_backward(&self, cx: Cx, _: &Buf, _: [&Buf; 2], _: Split) -> Result<()> {
        cx.poll()
    }

    fn softmax_backward(&self, cx: Cx, _: &Buf, _: [&Buf; 2], _: Split) -> Result<()> {
        cx.poll()
    }

    fn nll_loss(&self, cx: Cx, _: [&Buf; 2], _: [&Buf; 2], _: LossReduction, _: i64) -> Result<()> {
        cx.poll()
    }

    fn nll_loss_backward(
        &self,
        cx: Cx,
        _: &Buf,
        _: [&Buf; 3],
        _: LossReduction,
        _: i64,
    ) -> Result<()> {
        cx.poll()
    }

    fn dropout(&self, cx: Cx, _: [&Buf; 2], _: &Buf, _: (f32, f32), _: &mut Philox) -> Result<()> {
        cx.poll()
    }

    fn layer_norm(
        &self,
        cx: Cx,
        _: [&Buf; 3],
        _: &Buf,
        _: [Option<&Buf>; 2],
        _: (usize, usize),
        _: f64,
    ) -> Result<()> {
        cx.poll()
    }

    fn layer_norm_backward(
        &self,
        cx: Cx,
        _: [Option<&Buf>; 3],
        _: [&Buf; 4],
        _: Option<&Buf>,
        _: (usize, usize),
    ) -> Result<()> {
        cx.poll()
    }

    fn random(&self, cx: Cx, _: &Buf, _: Draw, _: &mut Philox) -> Result<()> {
        cx.poll()
    }

    fn layer(&self, cx: Cx, _: &LayerKernel, _: &[Option<&Buf>], _: &[Option<&Buf>]) -> Result<()> {
        cx.poll()
    }
}
