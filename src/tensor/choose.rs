//! Element-wise choices between values: `clamp`, `clamp_min`, `clamp_max`, `maximum`,
//! `minimum` and `where`. Each forward allocates one output; the nodes save what
//! `tools/autograd/derivatives.yaml` reads (lines in `docs/autograd.md`), and the backward
//! formulas allocate what `FunctionsManual.cpp` and the generated code allocate: masks of bool,
//! a 0-dim zero on the gradient's device, the `where` output.

use super::kernel::Bin;
use super::ops::{broadcast_shapes, common_device};
use super::{DType, Device, Result, Scalar, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::device::kernels::TernaryCode;

/// Which of two values `maximum` / `minimum` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extremum {
    Maximum,
    Minimum,
}

fn float_only(t: &Tensor, op: &str) -> Result<()> {
    if t.dtype() == DType::F32 {
        Ok(())
    } else {
        Err(TensorError::Unsupported(format!(
            "{op} of {} tensors (scenarios support it on float32)",
            t.dtype()
        )))
    }
}

impl Tensor {
    /// `torch.clamp(self, min, max)` with numbers: ClampBackward1 (the Scalar overload) saves
    /// `self`.
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if min.is_none() && max.is_none() {
            return Err(TensorError::Invalid(
                "torch.clamp: At least one of 'min' or 'max' must not be None".into(),
            ));
        }
        float_only(self, "clamp")?;
        // One output: the lower bound into it, then the upper bound in place, as the
        // structured kernel writes `min(max(x, min), max)` once.
        let out = match (min, max) {
            (Some(lo), hi) => {
                let out = self.binary_scalar(Scalar::Float(lo), Bin::Max)?;
                if let Some(hi) = hi {
                    out.inplace_scalar(Scalar::Float(hi), Bin::Min)?;
                }
                out
            }
            (None, Some(hi)) => self.binary_scalar(Scalar::Float(hi), Bin::Min)?,
            (None, None) => unreachable!("checked above"),
        };
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("self", self);
            b.finish(Formula::Clamp { min, max }, &out);
        }
        Ok(out)
    }

    /// `tensor.clamp_(min, max)` with numbers, in place (one version bump). ClampBackward1
    /// reads the values from before the write: see [`Tensor::overwrite_keeping_original`]
    /// (checked on 2.15: `_saved_self` holds the old values, with `grad_fn=<CloneBackward0>`).
    /// Without autograd (`p.data.clamp_(-c, c)`, the WGAN weight clip), nothing is allocated.
    pub fn clamp_(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if min.is_none() && max.is_none() {
            return Err(TensorError::Invalid(
                "torch.clamp: At least one of 'min' or 'max' must not be None".into(),
            ));
        }
        float_only(self, "clamp_")?;
        self.overwrite_keeping_original(
            || {
                for (bound, op) in [(min, Bin::Max), (max, Bin::Min)] {
                    if let Some(v) = bound {
                        let s = Scalar::Float(v);
                        let (compute, _) = self.scalar_result_type(s, op);
                        self.scalar_kernel(s, op, compute, self)?;
                    }
                }
                Ok(())
            },
            Formula::Clamp { min, max },
        )
    }

    /// `torch.clamp_min(self, min)`: ClampMinBackward0 saves `self`.
    pub fn clamp_min(&self, min: f64) -> Result<Tensor> {
        float_only(self, "clamp_min")?;
        let out = self.binary_scalar(Scalar::Float(min), Bin::Max)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("self", self);
            b.finish(Formula::ClampMin { min }, &out);
        }
        Ok(out)
    }

    /// `torch.clamp_max(self, max)`: ClampMaxBackward0 saves `self`.
    pub fn clamp_max(&self, max: f64) -> Result<Tensor> {
        float_only(self, "clamp_max")?;
        let out = self.binary_scalar(Scalar::Float(max), Bin::Min)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("self", self);
            b.finish(Formula::ClampMax { max }, &out);
        }
        Ok(out)
    }

    /// `torch.maximum(self, other)`, broadcasting: MaximumBackward0 saves `self` and `other`.
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        self.extremum(other, Extremum::Maximum)
    }

    /// `torch.minimum(self, other)`: MinimumBackward0 saves `self` and `other`.
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        self.extremum(other, Extremum::Minimum)
    }

    fn extremum(&self, other: &Tensor, which: Extremum) -> Result<Tensor> {
        let name = match which {
            Extremum::Maximum => "maximum",
            Extremum::Minimum => "minimum",
        };
        float_only(self, name)?;
        float_only(other, name)?;
        let out = self.binary(
            other,
            match which {
                Extremum::Maximum => Bin::Max,
                Extremum::Minimum => Bin::Min,
            },
        )?;
        if let Some(mut b) = NodeBuilder::new(&[self, other]) {
            b.save("self", self);
            b.save("other", other);
            b.finish(Formula::Extremum(which), &out);
        }
        Ok(out)
    }

    /// `torch.where(condition, self, other)`, broadcasting all three: WhereBackward0 saves
    /// `condition`. A Python number for `self` or `other` is a 0-dim host tensor, as PyTorch
    /// wraps it.
    pub fn r#where(condition: &Tensor, input: &Tensor, other: &Tensor) -> Result<Tensor> {
        if condition.dtype() != DType::Bool {
            return Err(TensorError::Invalid(format!(
                "where expected condition to be a boolean tensor, but got a tensor with dtype {}",
                condition.dtype()
            )));
        }
        float_only(input, "where")?;
        float_only(other, "where")?;
        let out = where_values(condition, input, other)?;
        if let Some(mut b) = NodeBuilder::new(&[input, other]) {
            b.save("condition", condition);
            b.finish(Formula::Where, &out);
        }
        Ok(out)
    }

    /// `self.masked_fill_(mask, value)` with no node (backward formulas only).
    pub(crate) fn masked_fill_values_(&self, mask: &Tensor, value: f64) -> Result<()> {
        let mask = mask.broadcast_view(self.shape());
        let (k, cx) = self.kernels();
        let operands = [&self.buf(), &mask.buf(), &mask.buf()];
        k.ternary(
            cx,
            &self.buf(),
            operands,
            TernaryCode::MaskedFill,
            (value, 0.0),
        )?;
        self.bump_version();
        Ok(())
    }

    /// `a.logical_and_(b)` of bool masks, in place (backward formulas only).
    pub(super) fn logical_and_(&self, other: &Tensor) -> Result<()> {
        self.inplace_binary(other, Bin::Mul)
    }

    /// `a.logical_or_(b)` of bool masks, in place (backward formulas only): bools add as
    /// int64 and store as `sum != 0`.
    pub(super) fn logical_or_(&self, other: &Tensor) -> Result<()> {
        self.inplace_binary(other, Bin::Add(1.0))
    }
}

/// `at::where(condition, a, b)` with no node: one f32 output of the three shapes broadcast.
fn where_values(condition: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    // A 0-dim host operand (a wrapped number) computes on the others' device.
    let devices = [
        common_device(condition, a)?,
        common_device(condition, b)?,
        common_device(a, b)?,
    ];
    let device = devices
        .into_iter()
        .find(|d| *d == Device::Cuda)
        .unwrap_or(Device::Cpu);
    let shape = broadcast_shapes(&broadcast_shapes(condition.shape(), a.shape())?, b.shape())?;
    let out = condition.new_like(&shape, DType::F32, device)?;
    let (c, x, y) = (
        condition.broadcast_view(&shape),
        a.broadcast_view(&shape),
        b.broadcast_view(&shape),
    );
    let (k, cx) = out.kernels();
    let operands = [&c.buf(), &x.buf(), &y.buf()];
    k.ternary(cx, &out.buf(), operands, TernaryCode::Where, (0.0, 0.0))?;
    Ok(out)
}

/// `at::scalar_tensor(0., grad.options())`: a 0-dim zero on the gradient's device (a block of
/// its own on cuda).
fn zero_like_scalar(grad: &Tensor) -> Result<Tensor> {
    let zero = grad.new_like(&[], DType::F32, grad.device())?;
    zero.fill_values(Scalar::Float(0.0))?;
    Ok(zero)
}

/// `clamp_backward(grad, self, min, max)` (FunctionsManual.cpp): the zero, then the masks
/// (`self >= min`, `self <= max`, and-ed in place), then `where(mask, grad, zero)`; the masks
/// and the zero die when it returns.
pub(crate) fn clamp_backward(
    grad: &Tensor,
    self_: &Tensor,
    min: Option<f64>,
    max: Option<f64>,
) -> Result<Tensor> {
    let zero = zero_like_scalar(grad)?;
    match (min, max) {
        (Some(lo), Some(hi)) => {
            let ge = self_.ge_scalar(lo)?;
            let le = self_.le_scalar(hi)?;
            ge.logical_and_(&le)?;
            where_values(&ge, grad, &zero)
        }
        (Some(lo), None) => where_values(&self_.ge_scalar(lo)?, grad, &zero),
        (None, Some(hi)) => where_values(&self_.le_scalar(hi)?, grad, &zero),
        (None, None) => Ok(grad.clone()),
    }
}

/// ClampMinBackward0 / ClampMaxBackward0: `where(self > min, grad, scalar_tensor(0.))` (or
/// `self < max`).
pub(crate) fn clamp_bound_backward(
    grad: &Tensor,
    self_: &Tensor,
    bound: f64,
    is_min: bool,
) -> Result<Tensor> {
    let zero = zero_like_scalar(grad)?;
    let mask = if is_min {
        self_.gt_scalar(bound)?
    } else {
        self_.lt_scalar(bound)?
    };
    where_values(&mask, grad, &zero)
}

/// The gradient of one input of MaximumBackward0 / MinimumBackward0:
/// `masked_fill_inplace_if_safe(where(self == other, grad / 2, grad), losing, 0)` where
/// `losing` is where the other input won. Every temporary of the expression (the equality
/// mask, `grad / 2`, the losing mask) lives until it returns.
pub(crate) fn extremum_backward(
    grad: &Tensor,
    self_: &Tensor,
    other: &Tensor,
    which: Extremum,
    for_self: bool,
) -> Result<Tensor> {
    let eq = self_.eq(other)?;
    let half = grad.div_scalar(2.0)?;
    let out = where_values(&eq, &half, grad)?;
    // maximum: self loses where self < other, other where self > other; minimum reversed.
    let losing = match (which, for_self) {
        (Extremum::Maximum, true) | (Extremum::Minimum, false) => self_.lt(other)?,
        (Extremum::Maximum, false) | (Extremum::Minimum, true) => self_.gt(other)?,
    };
    out.masked_fill_values_(&losing, 0.0)?;
    Ok(out)
}

/// WhereBackward0: `where(condition, grad, 0)` for `self`, `where(condition, 0, grad)` for
/// `other`; the 0 is a wrapped host number, no device memory.
pub(crate) fn where_backward(grad: &Tensor, condition: &Tensor, for_self: bool) -> Result<Tensor> {
    let zero = grad.runtime().tensor(&[0.0], &[], Device::Cpu)?;
    if for_self {
        where_values(condition, grad, &zero)
    } else {
        where_values(condition, &zero, grad)
    }
}
