//! The differentiable element-wise functions of one tensor, each declared once: its name, the
//! operation code (whose arithmetic `kernel::arith` and the `.cu` case give), what its node
//! saves and its backward, all from
//! PyTorch's `tools/autograd/derivatives.yaml` (lines cited in `docs/autograd.md`). The forward
//! allocates one output of the input's shape; the node saves `self` or `result`.

use super::{Result, Tensor};
use crate::autograd::{Formula, NodeBuilder};
use crate::device::kernels::{BinaryCode, UnaryCode};

/// What a node of a [`Pointwise`] function keeps for backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keeps {
    /// The input, saved as `self`.
    Input,
    /// The output, saved as `result`.
    Result,
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
        }
    }

    /// What the node saves (derivatives.yaml: the formula uses `self` or `result`).
    pub(crate) fn keeps(self) -> Keeps {
        match self {
            Pointwise::Exp
            | Pointwise::Sqrt
            | Pointwise::Tanh
            | Pointwise::Sigmoid
            | Pointwise::Reciprocal => Keeps::Result,
            Pointwise::Log | Pointwise::Abs | Pointwise::Gelu | Pointwise::Silu => Keeps::Input,
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
        }
    }

    /// The gradient of the input, with the tensor operations derivatives.yaml names (so
    /// backward allocates what PyTorch's does): `saved` is `self` or `result` per [`keeps`].
    ///
    /// [`keeps`]: Self::keeps
    pub(crate) fn backward(self, grad: &Tensor, saved: &Tensor) -> Result<Tensor> {
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
            Pointwise::Abs => grad.mul(&saved.sign()?),
            // self: gelu_backward(grad, self, approximate)
            Pointwise::Gelu => grad.binary_code(saved, BinaryCode::GeluBackward, 1.0),
            // self: silu_backward(grad, self) (grad mode is off in backward)
            Pointwise::Silu => grad.binary_code(saved, BinaryCode::SiluBackward, 1.0),
            // self: -grad * (result * result).conj() (C++ leaves the order of the two
            // operands open; both are the gradient's size)
            Pointwise::Reciprocal => grad.neg()?.mul(&saved.mul(saved)?),
        }
    }
}

impl Tensor {
    /// Applies a [`Pointwise`] function and records its node.
    pub(crate) fn pointwise(&self, f: Pointwise) -> Result<Tensor> {
        let out = self.unary_f32(f.code(), 0.0)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            match f.keeps() {
                Keeps::Input => b.save("self", self),
                Keeps::Result => b.save_output("result"),
            }
            b.finish(Formula::Pointwise(f), &out);
        }
        Ok(out)
    }

    /// `torch.exp`. ExpBackward0 saves the result.
    pub fn exp(&self) -> Result<Tensor> {
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Exp, &[Some(self)])? {
            return c.arg(0).exp();
        }
        self.pointwise(Pointwise::Exp)
    }

    /// `torch.log`. LogBackward0 saves `self`.
    pub fn log(&self) -> Result<Tensor> {
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Log, &[Some(self)])? {
            return c.arg(0).log();
        }
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

    /// `torch.sign` (`sgn` for real tensors): not differentiable here (its gradient is zero).
    pub(crate) fn sign(&self) -> Result<Tensor> {
        self.unary_f32(UnaryCode::Sign, 0.0)
    }
}
