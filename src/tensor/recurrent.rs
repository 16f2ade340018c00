//! The tensor operations PyTorch's recurrent layers call on their way through a sequence
//! (`aten/src/ATen/native/RNN.cpp`): `F.linear` as 2.15 dispatches it for the 2-D and 3-D
//! inputs the layers pass, `_unsafe_view`, and the in-place `sigmoid_`/`tanh_` the LSTM cell
//! applies to its gates. An in-place function's node saves the modified tensor as `result`,
//! as its out-of-place form does.

use super::pointwise::{Keeps, Pointwise};
use super::{contiguous_strides, Result, Tensor, TensorError};
use crate::autograd::Formula;

impl Tensor {
    /// `F.linear(self, weight, bias)` (aten's `linear`): `addmm(bias, self, weight.t())` for
    /// a 2-D input with a bias; for a contiguous 3-D input with a bias, the same `addmm` on
    /// `self.view(-1, in)` and an `_unsafe_view` back to 3-D; else `matmul(self, weight.t())`
    /// and, with a bias, an out-of-place `add`.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let args = [Some(self), Some(weight), bias];
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Linear, &args)? {
            return c.arg(0).linear(c.arg(1), c.opt(2));
        }
        match bias {
            Some(b) if self.dim() == 2 => b.addmm(self, &weight.t()?),
            Some(b) if self.dim() == 3 && self.is_contiguous() => {
                let s = self.shape().to_vec();
                let flat = self.view(&[(s[0] * s[1]) as isize, s[2] as isize])?;
                let out = b.addmm(&flat, &weight.t()?)?;
                let cols = out.shape()[1];
                Ok(out.unsafe_view(&[s[0], s[1], cols]))
            }
            Some(b) => self.matmul(&weight.t()?)?.add(b),
            None => self.matmul(&weight.t()?),
        }
    }

    /// `_unsafe_view(self, shape)` of a contiguous tensor: a view whose node
    /// (UnsafeViewBackward0) keeps the input's sizes.
    pub(crate) fn unsafe_view(&self, shape: &[usize]) -> Tensor {
        self.view_with_history(
            shape.to_vec(),
            contiguous_strides(shape),
            Formula::UnsafeView {
                self_sizes: self.shape().to_vec(),
            },
        )
    }

    /// Applies a [`Pointwise`] function in place; its node saves the result (the modified
    /// tensor itself, without its history), so only functions whose backward reads the
    /// result have an in-place form here.
    fn pointwise_(&self, f: Pointwise) -> Result<Tensor> {
        if f.keeps() != Keeps::Result || !self.dtype().is_floating_point() {
            return Err(TensorError::Unsupported(format!(
                "in-place {} of a {} tensor",
                f.node_name(),
                self.dtype()
            )));
        }
        let builder = self.begin_inplace(&[self])?;
        let (k, cx) = self.kernels();
        k.unary(cx, &self.buf(), &self.buf(), f.code(), 0.0)?;
        self.bump_version();
        if let Some(mut b) = builder {
            b.save_output("result");
            b.finish(Formula::Pointwise(f), self);
        }
        Ok(self.clone())
    }

    /// `tensor.sigmoid_()`: SigmoidBackward0 saves the result.
    pub fn sigmoid_(&self) -> Result<Tensor> {
        self.pointwise_(Pointwise::Sigmoid)
    }

    /// `tensor.tanh_()`: TanhBackward0 saves the result.
    pub fn tanh_(&self) -> Result<Tensor> {
        self.pointwise_(Pointwise::Tanh)
    }

    /// `tensor.exp_()`: ExpBackward0 saves the result (the tensor itself, at its new version).
    pub fn exp_(&self) -> Result<Tensor> {
        self.pointwise_(Pointwise::Exp)
    }

    /// `tensor.sqrt_()`: SqrtBackward0 saves the result.
    pub fn sqrt_(&self) -> Result<Tensor> {
        self.pointwise_(Pointwise::Sqrt)
    }

    /// `tensor.reciprocal_()`: ReciprocalBackward0 saves the result.
    pub fn reciprocal_(&self) -> Result<Tensor> {
        self.pointwise_(Pointwise::Reciprocal)
    }
}
