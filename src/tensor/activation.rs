//! `leaky_relu`, `elu` and `softplus`: one output each, the node saving `self`
//! (LeakyReluBackward0, EluBackward0, SoftplusBackward0, derivatives.yaml), and a backward of
//! one allocation (`softplus_backward(grad, self, beta, threshold)`).

use super::kernel::{Buf, Cx};
use super::layer_node::{forward_saving_self, input_grad, read, write};
use super::{LayerKernel, Result, Tensor, TensorError};
use crate::autograd::Node;

/// Which activation, with its parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Activation {
    /// `leaky_relu(x, negative_slope)`.
    LeakyRelu(f32),
    /// `elu(x, alpha)` (scale and input scale 1).
    Elu(f32),
    /// `softplus(x, beta, threshold)`: `log(1 + exp(beta * x)) / beta`, `x` itself where
    /// `beta * x > threshold`.
    Softplus { beta: f32, threshold: f32 },
}

impl Activation {
    fn forward(self, x: f32) -> f32 {
        match self {
            Activation::Softplus { beta, threshold } if x * beta <= threshold => {
                (x * beta).exp().ln_1p() / beta
            }
            Activation::LeakyRelu(slope) if x <= 0.0 => x * slope,
            Activation::Elu(alpha) if x <= 0.0 => alpha * x.exp_m1(),
            _ => x,
        }
    }

    /// d/dx at `x`, as ATen's backward kernels branch (`x > 0`; softplus `beta * x >
    /// threshold`).
    fn derivative(self, x: f32) -> f32 {
        match self {
            Activation::Softplus { beta, threshold } => {
                if x * beta > threshold {
                    1.0
                } else {
                    let z = (x * beta).exp();
                    z / (z + 1.0)
                }
            }
            _ if x > 0.0 => 1.0,
            Activation::LeakyRelu(slope) => slope,
            Activation::Elu(alpha) => alpha * x.exp(),
        }
    }

    pub(crate) fn node_name(self) -> &'static str {
        match self {
            Activation::LeakyRelu(_) => "LeakyReluBackward0",
            Activation::Elu(_) => "EluBackward0",
            Activation::Softplus { .. } => "SoftplusBackward0",
        }
    }

    fn apply(self, input: &Tensor) -> Result<Tensor> {
        if !input.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "\"{}\" not implemented for '{}'",
                match self {
                    Activation::LeakyRelu(_) => "leaky_relu",
                    Activation::Elu(_) => "elu",
                    Activation::Softplus { .. } => "softplus",
                },
                input.dtype().short_name()
            )));
        }
        forward_saving_self(
            input,
            input.shape(),
            &LayerKernel::Activation(self),
            super::LayerNode::Activation(self),
        )
    }

    /// `leaky_relu_backward` / `elu_backward`: the gradient times the derivative at the saved
    /// input, one allocation.
    pub(crate) fn backward(self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let input = node.unpack("self")?;
        input_grad(
            &input,
            grad,
            &LayerKernel::ActivationBackward(self),
            &[Some(grad), Some(&input)],
        )
    }
}

impl Activation {
    /// `[y]` from `[x]`.
    pub(super) fn host_forward(
        self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        if let Some(x) = read(ins, 0, cx) {
            let y: Vec<f32> = x.iter().map(|&v| self.forward(v)).collect();
            write(outs, 0, cx, &y);
        }
        Ok(())
    }

    /// `[dx]` from `[dy, x]`: the gradient times the derivative at the input.
    pub(super) fn host_backward(
        self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        if let (Some(g), Some(x)) = (read(ins, 0, cx), read(ins, 1, cx)) {
            let v: Vec<f32> = g
                .iter()
                .zip(&x)
                .map(|(&g, &x)| g * self.derivative(x))
                .collect();
            write(outs, 0, cx, &v);
        }
        Ok(())
    }
}

impl Tensor {
    /// `F.leaky_relu(self, negative_slope)`.
    pub fn leaky_relu(&self, negative_slope: f64) -> Result<Tensor> {
        Activation::LeakyRelu(negative_slope as f32).apply(self)
    }

    /// `F.elu(self, alpha)`.
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        Activation::Elu(alpha as f32).apply(self)
    }

    /// `F.softplus(self, beta, threshold)`; on cuda's autocast `fp32` list.
    pub fn softplus(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        let op = super::autocast::AutocastOp::Fp32Pointwise;
        if let Some(c) = Tensor::autocast(op, &[Some(self)])? {
            return c.arg(0).softplus(beta, threshold);
        }
        Activation::Softplus {
            beta: beta as f32,
            threshold: threshold as f32,
        }
        .apply(self)
    }
}
