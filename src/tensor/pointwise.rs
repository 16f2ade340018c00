//! The differentiable element-wise functions of one tensor, each declared once: its name, the
//! operation code (whose arithmetic `kernel::arith` and the `.cu` case give), what its node
//! saves and its backward, all from
//! PyTorch's `tools/autograd/derivatives.yaml` (lines cited in `docs/autograd.md`). The forward
//! allocates one output of the input's shape; the node saves `self`, `result` or nothing.

use super::autocast::AutocastOp;
use super::{Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::device::kernels::{BinaryCode, UnaryCode};

/// What a node of a [`Pointwise`] function keeps for backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keeps {
    /// The input, saved as `self`.
    Input,
    /// The output, saved as `result`.
    Result,
    /// Nothing: the rounding functions, whose gradient is zero (`zeros_like(grad)`).
    Nothing,
}

/// A differentiable element-wise function of one float tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pointwise {
    Exp,
    Log,
    Sqrt,
    Tanh,
    Sigmoid,
    Abs,
    Gelu,
    Silu,
    Reciprocal,
    Sin,
    Cos,
    Log1p,
    Expm1,
    Rsqrt,
    Floor,
    Ceil,
    Round,
    /// `round(decimals=d)` (any `d`, 0 included: the keyword picks the overload).
    RoundDecimals(i32),
    Trunc,
    Sign,
}

impl Pointwise {
    /// The operation code of `ew_unary_f32`.
    pub(crate) fn code(self) -> UnaryCode {
        match self {
            Pointwise::Exp => UnaryCode::Exp,
            Pointwise::Log => UnaryCode::Log,
            Pointwise::Sqrt => UnaryCode::Sqrt,
            Pointwise::Tanh => UnaryCode::Tanh,
            Pointwise::Sigmoid => UnaryCode::Sigmoid,
            Pointwise::Abs => UnaryCode::Abs,
            Pointwise::Gelu => UnaryCode::Gelu,
            Pointwise::Silu => UnaryCode::Silu,
            Pointwise::Reciprocal => UnaryCode::Reciprocal,
            Pointwise::Sin => UnaryCode::Sin,
            Pointwise::Cos => UnaryCode::Cos,
            Pointwise::Log1p => UnaryCode::Log1p,
            Pointwise::Expm1 => UnaryCode::Expm1,
            Pointwise::Rsqrt => UnaryCode::Rsqrt,
            Pointwise::Floor => UnaryCode::Floor,
            Pointwise::Ceil => UnaryCode::Ceil,
            Pointwise::Round => UnaryCode::Round,
            Pointwise::RoundDecimals(_) => UnaryCode::RoundDecimals,
            Pointwise::Trunc => UnaryCode::Trunc,
            Pointwise::Sign => UnaryCode::Sign,
        }
    }

    /// The operation's parameter (the decimals of a rounding).
    fn param(self) -> f64 {
        match self {
            Pointwise::RoundDecimals(d) => f64::from(d),
            _ => 0.0,
        }
    }

    /// What the node saves (derivatives.yaml: the formula uses `self` or `result`).
    pub(crate) fn keeps(self) -> Keeps {
        match self {
            Pointwise::Exp
            | Pointwise::Sqrt
            | Pointwise::Tanh
            | Pointwise::Sigmoid
            | Pointwise::Reciprocal
            | Pointwise::Expm1
            | Pointwise::Rsqrt => Keeps::Result,
            Pointwise::Log
            | Pointwise::Abs
            | Pointwise::Gelu
            | Pointwise::Silu
            | Pointwise::Sin
            | Pointwise::Cos
            | Pointwise::Log1p => Keeps::Input,
            Pointwise::Floor
            | Pointwise::Ceil
            | Pointwise::Round
            | Pointwise::RoundDecimals(_)
            | Pointwise::Trunc
            | Pointwise::Sign => Keeps::Nothing,
        }
    }

    /// PyTorch's node class.
    pub(crate) fn node_name(self) -> &'static str {
        match self {
            Pointwise::Exp => "ExpBackward0",
            Pointwise::Log => "LogBackward0",
            Pointwise::Sqrt => "SqrtBackward0",
            Pointwise::Tanh => "TanhBackward0",
            Pointwise::Sigmoid => "SigmoidBackward0",
            Pointwise::Abs => "AbsBackward0",
            Pointwise::Gelu => "GeluBackward0",
            Pointwise::Silu => "SiluBackward0",
            Pointwise::Reciprocal => "ReciprocalBackward0",
            Pointwise::Sin => "SinBackward0",
            Pointwise::Cos => "CosBackward0",
            Pointwise::Log1p => "Log1PBackward0",
            Pointwise::Expm1 => "Expm1Backward0",
            Pointwise::Rsqrt => "RsqrtBackward0",
            Pointwise::Floor => "FloorBackward0",
            Pointwise::Ceil => "CeilBackward0",
            Pointwise::Round => "RoundBackward0",
            Pointwise::RoundDecimals(_) => "RoundBackward1",
            Pointwise::Trunc => "TruncBackward0",
            Pointwise::Sign => "SignBackward0",
        }
    }

    /// The autocast list the function is on (its cast happens before the forward; the `fp32`
    /// list of cuda names `exp`, `expm1`, `log`, `log1p`, `reciprocal` and `rsqrt`).
    fn autocast_op(self) -> Option<AutocastOp> {
        match self {
            Pointwise::Exp => Some(AutocastOp::Exp),
            Pointwise::Log => Some(AutocastOp::Log),
            Pointwise::Expm1 | Pointwise::Log1p | Pointwise::Reciprocal | Pointwise::Rsqrt => {
                Some(AutocastOp::Fp32Pointwise)
            }
            _ => None,
        }
    }

    /// The gradient of the input, with the tensor operations derivatives.yaml names (so
    /// backward allocates what PyTorch's does): `saved` is `self` or `result` per [`keeps`]
    /// (`None` for the functions that keep nothing).
    ///
    /// [`keeps`]: Self::keeps
    pub(crate) fn backward(self, grad: &Tensor, saved: Option<&Tensor>) -> Result<Tensor> {
        let Some(saved) = saved else {
            // floor, ceil, round, trunc, sign: `self: zeros_like(grad)`
            return grad.zeros_like();
        };
        match self {
            // self: grad * result.conj()
            Pointwise::Exp => grad.mul(saved),
            // self: grad.div(self.conj())
            Pointwise::Log => grad.div(saved),
            // self: grad / (2 * result.conj())
            Pointwise::Sqrt => grad.div(&saved.mul_scalar_aten(2.0)?),
            // self: tanh_backward(grad, result)
            Pointwise::Tanh => grad.binary_code(saved, BinaryCode::TanhBackward, 1.0),
            // self: sigmoid_backward(grad, result)
            Pointwise::Sigmoid => grad.binary_code(saved, BinaryCode::SigmoidBackward, 1.0),
            // self: grad * self.sgn()
            Pointwise::Abs => grad.mul(&saved.sign_values()?),
            // self: gelu_backward(grad, self, approximate)
            Pointwise::Gelu => grad.binary_code(saved, BinaryCode::GeluBackward, 1.0),
            // self: silu_backward(grad, self) (grad mode is off in backward)
            Pointwise::Silu => grad.binary_code(saved, BinaryCode::SiluBackward, 1.0),
            // self: -grad * (result * result).conj(); the right operand is evaluated first
            // (2.15's dispatch trace: mul, neg, mul)
            Pointwise::Reciprocal => {
                let squared = saved.mul(saved)?;
                grad.neg()?.mul(&squared)
            }
            // self: grad * self.cos().conj()
            Pointwise::Sin => grad.mul(&saved.cos()?),
            // self: grad * -self.sin().conj()
            Pointwise::Cos => grad.mul(&saved.sin()?.neg()?),
            // self: log1p_backward(grad, self), which is `grad / (self + 1)`
            Pointwise::Log1p => grad.div(&saved.add_scalar(1.0)?),
            // self: grad * (result.conj() + 1)
            Pointwise::Expm1 => grad.mul(&saved.add_scalar(1.0)?),
            // self: -0.5 * grad * result.pow(3).conj(); the right operand first (2.15's
            // dispatch trace: pow, mul by -0.5, mul)
            Pointwise::Rsqrt => {
                let cubed = saved.pow(3.0)?;
                grad.mul_scalar_aten(-0.5)?.mul(&cubed)
            }
            Pointwise::Floor
            | Pointwise::Ceil
            | Pointwise::Round
            | Pointwise::RoundDecimals(_)
            | Pointwise::Trunc
            | Pointwise::Sign => grad.zeros_like(),
        }
    }
}

impl Tensor {
    /// Applies a [`Pointwise`] function and records its node.
    pub(crate) fn pointwise(&self, f: Pointwise) -> Result<Tensor> {
        if let Some(op) = f.autocast_op() {
            if let Some(c) = Tensor::autocast(op, &[Some(self)])? {
                return c.arg(0).pointwise(f);
            }
        }
        let out = self.unary_f32(f.code(), f.param())?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            match f.keeps() {
                Keeps::Input => b.save("self", self),
                Keeps::Result => b.save_output("result"),
                Keeps::Nothing => {}
            }
            b.finish(Formula::Pointwise(f), &out);
        }
        Ok(out)
    }

    /// `torch.exp`. ExpBackward0 saves the result.
    pub fn exp(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Exp)
    }

    /// `torch.log`. LogBackward0 saves `self`.
    pub fn log(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Log)
    }

    /// `torch.sqrt`. SqrtBackward0 saves the result.
    pub fn sqrt(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Sqrt)
    }

    /// `torch.tanh`. TanhBackward0 saves the result.
    pub fn tanh(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Tanh)
    }

    /// `torch.sigmoid`. SigmoidBackward0 saves the result.
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Sigmoid)
    }

    /// `torch.abs`. AbsBackward0 saves `self`.
    pub fn abs(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Abs)
    }

    /// `F.gelu` (the exact form, `approximate='none'`). GeluBackward0 saves `self`.
    pub fn gelu(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Gelu)
    }

    /// `F.silu`. SiluBackward0 saves `self`.
    pub fn silu(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Silu)
    }

    /// `torch.reciprocal` (`1 / x`). ReciprocalBackward0 saves the result.
    pub fn reciprocal(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Reciprocal)
    }

    /// `torch.sin`. SinBackward0 saves `self`.
    pub fn sin(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Sin)
    }

    /// `torch.cos`. CosBackward0 saves `self`.
    pub fn cos(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Cos)
    }

    /// `torch.log1p` (`log(1 + x)`). Log1PBackward0 saves `self`.
    pub fn log1p(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Log1p)
    }

    /// `torch.expm1` (`exp(x) - 1`). Expm1Backward0 saves the result.
    pub fn expm1(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Expm1)
    }

    /// `torch.rsqrt` (`1 / sqrt(x)`). RsqrtBackward0 saves the result.
    pub fn rsqrt(&self) -> Result<Tensor> {
        self.pointwise(Pointwise::Rsqrt)
    }

    /// `torch.floor`. FloorBackward0 saves nothing; an integer tensor is copied, as PyTorch
    /// rounds integers to themselves.
    pub fn floor(&self) -> Result<Tensor> {
        self.rounding(Pointwise::Floor)
    }

    /// `torch.ceil`. CeilBackward0 saves nothing.
    pub fn ceil(&self) -> Result<Tensor> {
        self.rounding(Pointwise::Ceil)
    }

    /// `torch.round` (halves to even, as `nearbyint`). RoundBackward0 saves nothing.
    pub fn round(&self) -> Result<Tensor> {
        self.rounding(Pointwise::Round)
    }

    /// `torch.round(self, decimals=decimals)`: RoundBackward1, which saves nothing. Halves
    /// go to even at the scaled value, as ATen's kernel rounds `x * 10^d` (or `x / 10^-d`).
    pub fn round_decimals(&self, decimals: i32) -> Result<Tensor> {
        if !self.dtype().is_floating_point() {
            // Unlike `round()`, the decimals kernel has no integer case.
            return Err(TensorError::Invalid(format!(
                "\"round_cpu\" not implemented for '{}'",
                self.dtype().short_name()
            )));
        }
        self.pointwise(Pointwise::RoundDecimals(decimals))
    }

    /// `torch.trunc` (`torch.fix`). TruncBackward0 saves nothing.
    pub fn trunc(&self) -> Result<Tensor> {
        self.rounding(Pointwise::Trunc)
    }

    /// `torch.sign`. SignBackward0 saves nothing.
    /// Integer and bool tensors keep their dtype (no node: they never require grad).
    pub fn sign(&self) -> Result<Tensor> {
        if !self.dtype().is_floating_point() {
            return self.unary_into(self.dtype(), UnaryCode::Sign, 0.0);
        }
        self.pointwise(Pointwise::Sign)
    }

    /// A rounding function: floats are rounded, integers copied (their dtype kept).
    fn rounding(&self, f: Pointwise) -> Result<Tensor> {
        if self.dtype().is_floating_point() {
            self.pointwise(f)
        } else {
            self.clone_tensor()
        }
    }

    /// The signs of the values (`sgn` for real tensors), recording no node: what the
    /// backward formulas that read `self.sgn()` allocate.
    pub(crate) fn sign_values(&self) -> Result<Tensor> {
        self.unary_f32(UnaryCode::Sign, 0.0)
    }
}
