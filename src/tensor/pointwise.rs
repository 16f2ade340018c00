//! The differentiable element-wise functions of one tensor, each declared once: its name, the
//! GPU operation code, the host arithmetic, what its node saves and its backward, all from
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
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.5 * std::f32::consts::FRAC_2_SQRT_PI * FRAC_1_SQRT_2;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
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
        }
    }

    /// The host arithmetic, the same expression as the kernel's case.
    pub(crate) fn host(self, x: f32) -> f32 {
        match self {
            Pointwise::Exp => x.exp(),
            Pointwise::Log => x.ln(),
            Pointwise::Sqrt => x.sqrt(),
            Pointwise::Tanh => x.tanh(),
            Pointwise::Sigmoid => sigmoid(x),
            Pointwise::Abs => x.abs(),
            Pointwise::Gelu => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
            Pointwise::Silu => x / (1.0 + (-x).exp()),
        }
    }

    /// What the node saves (derivatives.yaml: the formula uses `self` or `result`).
    pub(crate) fn keeps(self) -> Keeps {
        match self {
            Pointwise::Exp | Pointwise::Sqrt | Pointwise::Tanh | Pointwise::Sigmoid => {
                Keeps::Result
            }
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
            Pointwise::Sqrt => grad.div(&saved.mul_scalar(2.0)?),
            // self: tanh_backward(grad, result)
            Pointwise::Tanh => grad.binary_code(saved, BinaryCode::TanhBackward),
            // self: sigmoid_backward(grad, result)
            Pointwise::Sigmoid => grad.binary_code(saved, BinaryCode::SigmoidBackward),
            // self: grad * self.sgn()
            Pointwise::Abs => grad.mul(&saved.sign()?),
            // self: gelu_backward(grad, self, approximate)
            Pointwise::Gelu => grad.binary_code(saved, BinaryCode::GeluBackward),
            // self: silu_backward(grad, self) (grad mode is off in backward)
            Pointwise::Silu => grad.binary_code(saved, BinaryCode::SiluBackward),
        }
    }

    /// The host arithmetic of the backward kernels [`Pointwise::backward`] launches: `g` the
    /// gradient, `s` the saved tensor.
    pub(crate) fn host_backward(code: BinaryCode, g: f32, s: f32) -> f32 {
        match code {
            BinaryCode::TanhBackward => g * (1.0 - s * s),
            BinaryCode::SigmoidBackward => g * ((1.0 - s) * s),
            BinaryCode::GeluBackward => {
                let cdf = 0.5 * (1.0 + libm::erff(s * FRAC_1_SQRT_2));
                let pdf = (-0.5 * s * s).exp() * FRAC_1_SQRT_2PI;
                g * (cdf + s * pdf)
            }
            BinaryCode::SiluBackward => {
                let sig = sigmoid(s);
                g * sig * (1.0 + s * (1.0 - sig))
            }
            other => unreachable!("{other:?} is not a pointwise backward"),
        }
    }
}

impl Tensor {
    /// Applies a [`Pointwise`] function and records its node.
    pub(crate) fn pointwise(&self, f: Pointwise) -> Result<Tensor> {
        let out = self.unary_f32((f.code(), 0.0), |x| f.host(x))?;
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

    /// `torch.sign` (`sgn` for real tensors): not differentiable here (its gradient is zero).
    pub(crate) fn sign(&self) -> Result<Tensor> {
        self.unary_f32((UnaryCode::Sign, 0.0), |x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        })
    }
}
