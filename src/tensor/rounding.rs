//! `div(other, rounding_mode=...)` (`torch.div`, `Tensor.div`, `Tensor.div_`): one output, as
//! `x / y`, its quotient truncated (`'trunc'`) or floored (`'floor'`, ATen's
//! `div_floor_floating`), or left alone (`None`, spelled out). Any of them is `div.Tensor_mode`
//! called from Python: DivBackward2 saves `other` (a Python number wrapped as `x / 2` wraps it)
//! and, when `other` needs a gradient, `self` (derivatives.yaml: `self: rounding_mode.has_value()
//! ? grad.new_zeros(grad.sym_sizes()) : grad / other`). A rounded quotient's gradient is zeros
//! of the gradient's size, one allocation per input that needs one.

use super::kernel::Bin;
use super::{Result, Scalar, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::device::kernels::BinaryCode;

/// `rounding_mode=` of `div`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingMode {
    /// `'trunc'`: toward zero.
    Trunc,
    /// `'floor'`: toward negative infinity.
    Floor,
}

impl RoundingMode {
    /// `'trunc'`, `'floor'`; any other string is PyTorch's error.
    pub fn parse(s: &str) -> Result<RoundingMode> {
        match s {
            "trunc" => Ok(RoundingMode::Trunc),
            "floor" => Ok(RoundingMode::Floor),
            other => Err(TensorError::Invalid(format!(
                "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found \
                 '{other}'"
            ))),
        }
    }

    fn bin(mode: Option<RoundingMode>) -> Bin {
        match mode {
            None => Bin::Div,
            Some(RoundingMode::Trunc) => Bin::Code(BinaryCode::DivTrunc, 1.0),
            Some(RoundingMode::Floor) => Bin::Code(BinaryCode::DivFloor, 1.0),
        }
    }
}

/// An integer tensor's rounded quotient by a tensor is refused: the meta backend cannot see
/// a zero divisor, which PyTorch refuses (`ZeroDivisionError`) and a kernel cannot divide by.
fn float_only(t: &Tensor, mode: Option<RoundingMode>) -> Result<()> {
    if mode.is_some() && !t.dtype().is_floating_point() {
        return Err(TensorError::Unsupported(format!(
            "div(tensor, rounding_mode=) of a {} tensor (divide by a number)",
            t.dtype()
        )));
    }
    Ok(())
}

/// An integer tensor divided by the integer zero with rounding: PyTorch's error.
fn nonzero_divisor(t: &Tensor, s: Scalar, mode: Option<RoundingMode>) -> Result<()> {
    if mode.is_some() && !t.dtype().is_floating_point() && s == Scalar::Int(0) {
        return Err(TensorError::Invalid("ZeroDivisionError".into()));
    }
    Ok(())
}

impl Tensor {
    /// `torch.div(self, other, rounding_mode=mode)`: DivBackward2 saves `other`, and `self`
    /// when `other` needs a gradient.
    pub fn div_mode(&self, other: &Tensor, mode: Option<RoundingMode>) -> Result<Tensor> {
        float_only(self, mode)?;
        let out = self.binary(other, RoundingMode::bin(mode))?;
        if let Some(mut b) = NodeBuilder::new(&[self, other]) {
            if b.needs(1) {
                b.save("self", self);
            }
            b.save("other", other);
            b.finish(Formula::DivMode { mode, number: None }, &out);
        }
        Ok(out)
    }

    /// `torch.div(self, s, rounding_mode=mode)`: DivBackward3 keeps the number; called from
    /// Python it is DivBackward2 saving the number wrapped, as `self / s` saves it.
    pub fn div_scalar_mode(
        &self,
        s: impl Into<Scalar>,
        mode: Option<RoundingMode>,
    ) -> Result<Tensor> {
        let s = s.into();
        nonzero_divisor(self, s, mode)?;
        let out = self.binary_scalar(s, RoundingMode::bin(mode))?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            self.save_number(&mut b, "other", s)?;
            b.finish(
                Formula::DivMode {
                    mode,
                    number: Some(s.as_f64()),
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.div_(s, rounding_mode=mode)` in place; the node as
    /// [`div_scalar_mode`](Self::div_scalar_mode)'s.
    pub fn div_scalar_mode_(
        &self,
        s: impl Into<Scalar>,
        mode: Option<RoundingMode>,
    ) -> Result<Tensor> {
        let s = s.into();
        nonzero_divisor(self, s, mode)?;
        let builder = self.begin_inplace(&[self])?;
        self.inplace_scalar(s, RoundingMode::bin(mode))?;
        if let Some(mut b) = builder {
            self.save_number(&mut b, "other", s)?;
            b.finish(
                Formula::DivMode {
                    mode,
                    number: Some(s.as_f64()),
                },
                self,
            );
        }
        Ok(self.clone())
    }
}
