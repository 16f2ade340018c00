//! The meta kernels: a meta device has sizes but no values, so every kernel is done as soon as
//! its outputs are allocated, which the operation did before calling it.

use super::{Bin, Buf, Cx, Draw, Kernels, LossReduction, Split};
use crate::device::kernels::{TernaryCode, UnaryCode};
use crate::runtime::Philox;
use crate::tensor::{DType, LayerKernel, Result, Scalar};

pub(crate) struct MetaKernels;

impl Kernels for MetaKernels {
    fn binary(&self, _: Cx, _: &Buf, _: [&Buf; 2], _: DType, _: Bin) -> Result<()> {
        Ok(())
    }

    fn binary_scalar(&self, _: Cx, _: &Buf, _: &Buf, _: Scalar, _: DType, _: Bin) -> Result<()> {
        Ok(())
    }

    fn unary(&self, _: Cx, _: &Buf, _: &Buf, _: UnaryCode, _: f32) -> Result<()> {
        Ok(())
    }

    fn ternary(&self, _: Cx, _: &Buf, _: [&Buf; 3], _: TernaryCode, _: (f64, f64)) -> Result<()> {
        Ok(())
    }

    fn copy(&self, _: Cx, _: &Buf, _: &Buf) -> Result<()> {
        Ok(())
    }

    fn fill(&self, _: Cx, _: &Buf, _: Scalar) -> Result<()> {
        Ok(())
    }

    fn reduce_sum(&self, _: Cx, _: &Buf, _: &Buf, _: &[bool], _: bool) -> Result<()> {
        Ok(())
    }

    fn arg_extreme(&self, _: Cx, _: &Buf, _: &Buf, _: usize, _: bool) -> Result<()> {
        Ok(())
    }

    fn extreme(&self, _: Cx, _: [&Buf; 2], _: &Buf, _: usize, _: bool) -> Result<()> {
        Ok(())
    }

    fn norm2(&self, _: Cx, _: &Buf, _: &Buf) -> Result<()> {
        Ok(())
    }

    fn scatter_selected(&self, _: Cx, _: &Buf, _: [&Buf; 2], _: Split) -> Result<()> {
        Ok(())
    }

    fn matmul(&self, _: Cx, _: &Buf, _: [&Buf; 2], _: bool) -> Result<()> {
        Ok(())
    }

    fn log_softmax(&self, _: Cx, _: &Buf, _: &Buf, _: Split) -> Result<()> {
        Ok(())
    }

    fn log_softmax_backward(&self, _: Cx, _: &Buf, _: [&Buf; 2], _: Split) -> Result<()> {
        Ok(())
    }

    fn softmax_backward(&self, _: Cx, _: &Buf, _: [&Buf; 2], _: Split) -> Result<()> {
        Ok(())
    }

    fn nll_loss(&self, _: Cx, _: [&Buf; 2], _: [&Buf; 2], _: LossReduction, _: i64) -> Result<()> {
        Ok(())
    }

    fn nll_loss_backward(
        &self,
        _: Cx,
        _: &Buf,
        _: [&Buf; 3],
        _: LossReduction,
        _: i64,
    ) -> Result<()> {
        Ok(())
    }

    fn dropout(&self, _: Cx, _: [&Buf; 2], _: &Buf, _: (f32, f32), _: &mut Philox) -> Result<()> {
        Ok(())
    }

    fn layer_norm(
        &self,
        _: Cx,
        _: [&Buf; 3],
        _: &Buf,
        _: [Option<&Buf>; 2],
        _: (usize, usize),
        _: f64,
    ) -> Result<()> {
        Ok(())
    }

    fn layer_norm_backward(
        &self,
        _: Cx,
        _: [Option<&Buf>; 3],
        _: [&Buf; 4],
        _: Option<&Buf>,
        _: (usize, usize),
    ) -> Result<()> {
        Ok(())
    }

    fn random(&self, _: Cx, _: &Buf, _: Draw, _: &mut Philox) -> Result<()> {
        Ok(())
    }

    fn layer(&self, _: Cx, _: &LayerKernel, _: &[Option<&Buf>], _: &[Option<&Buf>]) -> Result<()> {
        Ok(())
    }
}
