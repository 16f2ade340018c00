//! Loss functions, decomposed as PyTorch decomposes them, so that their intermediate
//! allocations (the element-wise loss before reduction, log_softmax's output, nll_loss's
//! total_weight) are the ones PyTorch makes.

use super::gpu;
use super::ops::{broadcast_shapes, wrap_dim};
use super::{format_shape, DType, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::device::kernels::{BinaryCode, TernaryCode, UnaryCode};

/// How a loss reduces over elements (`reduction=` in PyTorch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// One loss per element.
    None,
    /// The mean (PyTorch's default).
    #[default]
    Mean,
    /// The sum.
    Sum,
}

/// A loss computed element by element before its reduction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PointwiseLoss {
    /// `(x - y)^2`.
    Mse,
    /// `0.5 (x - y)^2 / beta` within beta, `|x - y| - 0.5 beta` beyond.
    SmoothL1 { beta: f64 },
}

impl PointwiseLoss {
    /// The `ew_binary_f32` code and alpha of the element-wise loss.
    fn code(self) -> (BinaryCode, f64) {
        match self {
            PointwiseLoss::Mse => (BinaryCode::SquaredDiff, 1.0),
            PointwiseLoss::SmoothL1 { beta } => (BinaryCode::SmoothL1, beta),
        }
    }

    /// The host arithmetic, the same expression as the kernel's case.
    fn host(self, x: f32, y: f32) -> f32 {
        match self {
            PointwiseLoss::Mse => (x - y) * (x - y),
            PointwiseLoss::SmoothL1 { beta } => {
                let (d, beta) = ((x - y).abs(), beta as f32);
                if d < beta {
                    0.5 * d * d / beta
                } else {
                    d - 0.5 * beta
                }
            }
        }
    }

    /// The gradient of one element: `g` the incoming gradient, `norm` the reduction's factor.
    fn host_backward(self, g: f32, x: f32, y: f32, norm: f32) -> f32 {
        match self {
            PointwiseLoss::Mse => norm * (x - y) * g,
            PointwiseLoss::SmoothL1 { beta } => {
                let (d, beta) = (x - y, beta as f32);
                if d < -beta {
                    -norm * g
                } else if d > beta {
                    norm * g
                } else {
                    norm * d * g / beta
                }
            }
        }
    }
}

impl Tensor {
    /// `F.mse_loss(self, target, reduction)`. MseLossBackward0 saves `self` and `target`.
    ///
    /// With `mean` or `sum` the result is allocated with the input's size first, then the
    /// element-wise loss; the reduction is written into the result, which becomes 0-dim but
    /// keeps its storage, and the element-wise loss is freed. So a kept 32×10 loss holds
    /// 1,280 bytes (1,536 rounded), not 4: measured on PyTorch 2.11 (CUDA) and 2.15 (CPU),
    /// see docs/fidelity.md.
    pub fn mse_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        self.pointwise_loss(target, reduction, PointwiseLoss::Mse)
    }

    /// `F.smooth_l1_loss(self, target, reduction, beta)`: the same allocations as
    /// [`mse_loss`](Self::mse_loss) (the reduced result is a 0-dim tensor over a storage of the
    /// input's size, measured on 2.11 cuda and 2.15 cpu, docs/fidelity.md).
    /// SmoothL1LossBackward0 saves `self` and `target`.
    pub fn smooth_l1_loss(
        &self,
        target: &Tensor,
        reduction: Reduction,
        beta: f64,
    ) -> Result<Tensor> {
        if beta <= 0.0 {
            return Err(TensorError::Unsupported(
                "smooth_l1_loss with beta <= 0 (PyTorch computes l1_loss then); use F.l1_loss"
                    .into(),
            ));
        }
        self.pointwise_loss(target, reduction, PointwiseLoss::SmoothL1 { beta })
    }

    /// A loss that is an element-wise function of input and target, then reduced: for a
    /// reduction, the result's storage (the input's size) first, then the element-wise loss,
    /// reduced into a 0-dim view of the first and freed.
    fn pointwise_loss(
        &self,
        target: &Tensor,
        reduction: Reduction,
        kind: PointwiseLoss,
    ) -> Result<Tensor> {
        let shape = broadcast_shapes(self.shape(), target.shape())?;
        // broadcast_tensors returns the operands themselves when no expansion is needed.
        let input = if self.shape() == shape.as_slice() {
            self.clone()
        } else {
            self.expand(&shape)?
        };
        let target = if target.shape() == shape.as_slice() {
            target.clone()
        } else {
            target.expand(&shape)?
        };
        let out = match reduction {
            Reduction::None => input.elementwise_loss(&target, kind)?,
            Reduction::Mean | Reduction::Sum => {
                let device = super::ops::common_device(&input, &target)?;
                let result = Tensor::empty_on(self.runtime(), &shape, DType::F32, device)?;
                let squared = input.elementwise_loss(&target, kind)?;
                let scalar = Tensor::from_parts(
                    self.runtime(),
                    result.storage(),
                    Vec::new(),
                    Vec::new(),
                    0,
                    DType::F32,
                    false,
                );
                squared.reduce_all_into(&scalar, reduction == Reduction::Mean)?;
                scalar
            }
        };
        if let Some(mut b) = NodeBuilder::new(&[&input, &target]) {
            b.save("self", &input);
            b.save("target", &target);
            let formula = match kind {
                PointwiseLoss::Mse => Formula::MseLoss { reduction },
                PointwiseLoss::SmoothL1 { beta } => Formula::SmoothL1Loss { reduction, beta },
            };
            b.finish(formula, &out);
        }
        Ok(out)
    }

    /// `F.l1_loss(self, target, reduction)`: PyTorch's composite `(self - target).abs()` then
    /// the reduction, so its nodes are SubBackward0, AbsBackward0 and MeanBackward0 (or
    /// SumBackward0), and a kept loss holds 4 bytes (measured on 2.11 CUDA and 2.15 CPU).
    pub fn l1_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        let loss = self.sub(target)?.abs()?;
        match reduction {
            Reduction::None => Ok(loss),
            Reduction::Mean => loss.mean(),
            Reduction::Sum => loss.sum(),
        }
    }

    /// The element-wise loss of `kind` before any reduction: one allocation.
    fn elementwise_loss(&self, target: &Tensor, kind: PointwiseLoss) -> Result<Tensor> {
        let device = super::ops::common_device(self, target)?;
        let out = Tensor::empty_on(self.runtime(), self.shape(), DType::F32, device)?;
        if let Some(g) = out.gpu() {
            gpu::binary(g, &out, self, target, DType::F32, kind.code())?;
        } else if let (Some(x), Some(y)) = (self.read_f32(), target.read_f32()) {
            out.write_f32(
                &x.iter()
                    .zip(&y)
                    .map(|(&a, &b)| kind.host(a, b))
                    .collect::<Vec<_>>(),
            );
        }
        Ok(out)
    }

    /// Sum or mean of all elements into the 0-dim `out`, without autograd.
    fn reduce_all_into(&self, out: &Tensor, mean: bool) -> Result<()> {
        if let Some(g) = out.gpu() {
            gpu::reduce_sum(g, out, self, &vec![true; self.dim()], mean)?;
        } else if let Some(x) = self.read_f32() {
            let s: f64 = x.iter().map(|&v| v as f64).sum();
            let s = if mean { s / self.numel() as f64 } else { s };
            out.write_f32(&[s as f32]);
        }
        Ok(())
    }

    /// `F.log_softmax(self, dim)`. LogSoftmaxBackward0 saves the result.
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        let d = wrap_dim(dim, self.dim())?;
        if self.dtype() != DType::F32 {
            return Err(TensorError::Invalid(format!(
                "\"log_softmax\" not implemented for '{}'",
                match self.dtype() {
                    DType::I64 => "Long",
                    _ => "Bool",
                }
            )));
        }
        let out = Tensor::empty_on(self.runtime(), self.shape(), DType::F32, self.device())?;
        if let Some(g) = out.gpu() {
            gpu::log_softmax(g, &out, self, None, split_at_dim(self.shape(), d))?;
        } else if let Some(x) = self.read_f32() {
            let (outer, size, inner) = split_at_dim(self.shape(), d);
            let mut y = vec![0f32; x.len()];
            for o in 0..outer {
                for i in 0..inner {
                    let at = |k: usize| (o * size + k) * inner + i;
                    let max = (0..size)
                        .map(|k| x[at(k)])
                        .fold(f32::NEG_INFINITY, f32::max);
                    let lse = (0..size)
                        .map(|k| ((x[at(k)] - max) as f64).exp())
                        .sum::<f64>()
                        .ln() as f32
                        + max;
                    for k in 0..size {
                        y[at(k)] = x[at(k)] - lse;
                    }
                }
            }
            out.write_f32(&y);
        }
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save_output("result");
            b.finish(Formula::LogSoftmax { dim: d }, &out);
        }
        Ok(out)
    }

    /// `F.softmax(self, dim)`: one output, computed as `exp(log_softmax)` in place so that the
    /// host and the GPU round alike. SoftmaxBackward0 saves the result.
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        let d = wrap_dim(dim, self.dim())?;
        let out = {
            let _no_grad = self.runtime().no_grad();
            self.log_softmax(dim)?
        };
        if let Some(g) = out.gpu() {
            gpu::unary(g, &out, &out, (UnaryCode::Exp, 0.0))?;
        } else if let Some(y) = out.read_f32() {
            out.write_f32(&y.into_iter().map(f32::exp).collect::<Vec<_>>());
        }
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save_output("result");
            b.finish(Formula::Softmax { dim: d }, &out);
        }
        Ok(out)
    }

    /// `F.nll_loss(self, target, reduction)` for `self` of shape (N, C) and int64 class
    /// indices `target` of shape (N), ignore_index -100. Allocates the output, then the 0-dim
    /// `total_weight`; NllLossBackward0 saves `self`, `target` and `total_weight`.
    pub fn nll_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        let ignore_index = -100;
        if self.dim() != 2 {
            return Err(TensorError::Unsupported(format!(
                "nll_loss on a {}-D input (only (N, C) inputs)",
                self.dim()
            )));
        }
        if target.dtype() != DType::I64 {
            return Err(TensorError::Invalid(format!(
                "expected scalar type Long but found {}",
                match target.dtype() {
                    DType::F32 => "Float",
                    _ => "Bool",
                }
            )));
        }
        if target.dim() != 1 || target.shape()[0] != self.shape()[0] {
            return Err(TensorError::Invalid(format!(
                "Expected input batch_size ({}) to match target batch_size ({}).",
                self.shape()[0],
                target.shape().first().copied().unwrap_or(0)
            )));
        }
        let device = super::ops::common_device(self, target)?;
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let out_shape: Vec<usize> = if reduction == Reduction::None {
            vec![n]
        } else {
            vec![]
        };
        let out = Tensor::empty_on(self.runtime(), &out_shape, DType::F32, device)?;
        let total_weight = Tensor::empty_on(self.runtime(), &[], DType::F32, device)?;
        if let Some(g) = out.gpu() {
            // PyTorch checks target bounds with a device-side assert; here the targets (N
            // integers) are read back first so that a bad one is an error, as on the host.
            for &class in target.read_i64().unwrap_or_default().iter() {
                if class != ignore_index && (class < 0 || class as usize >= c) {
                    return Err(TensorError::Invalid(format!(
                        "Target {class} is out of bounds."
                    )));
                }
            }
            let tensors = [&out, &total_weight, self, target];
            gpu::nll_loss_forward(g, tensors, reduction_code(reduction), ignore_index)?;
        } else if let (Some(x), Some(t)) = (self.read_f32(), target.read_i64()) {
            let mut losses = vec![0f32; n];
            let mut count = 0usize;
            for (i, &class) in t.iter().enumerate() {
                if class == ignore_index {
                    continue;
                }
                if class < 0 || class as usize >= c {
                    return Err(TensorError::Invalid(format!(
                        "Target {class} is out of bounds."
                    )));
                }
                losses[i] = -x[i * c + class as usize];
                count += 1;
            }
            total_weight.write_f32(&[count as f32]);
            let sum: f64 = losses.iter().map(|&v| v as f64).sum();
            match reduction {
                Reduction::None => out.write_f32(&losses),
                Reduction::Sum => out.write_f32(&[sum as f32]),
                Reduction::Mean => out.write_f32(&[(sum / count as f64) as f32]),
            }
        }
        if let Some(mut b) = NodeBuilder::new(&[self, target]) {
            b.save("self", self);
            b.save("target", target);
            b.save("total_weight", &total_weight);
            b.finish(
                Formula::NllLoss {
                    reduction,
                    ignore_index,
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `F.cross_entropy(self, target, reduction)` with class-index targets: `log_softmax`
    /// over dimension 1, then `nll_loss`, as `cross_entropy_loss` runs them.
    pub fn cross_entropy(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        if self.dim() != 2 {
            return Err(TensorError::Unsupported(format!(
                "cross_entropy on a {}-D input (only (N, C) inputs with class indices)",
                self.dim()
            )));
        }
        self.log_softmax(1)?.nll_loss(target, reduction)
    }
}

/// `RED_*` of kernels/loss.cu.
fn reduction_code(reduction: Reduction) -> i32 {
    match reduction {
        Reduction::None => 0,
        Reduction::Mean => 1,
        Reduction::Sum => 2,
    }
}

/// (outer, size, inner) around dimension `d`; a 0-dim tensor is one row of one element, as
/// PyTorch's softmax kernels treat it.
fn split_at_dim(shape: &[usize], d: usize) -> (usize, usize, usize) {
    if shape.is_empty() {
        return (1, 1, 1);
    }
    (
        shape[..d].iter().product(),
        shape[d],
        shape[d + 1..].iter().product(),
    )
}

/// `mse_loss_backward(grad, input, target, reduction)`: one allocation of the input's shape.
pub(crate) fn mse_loss_backward(
    grad: &Tensor,
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
) -> Result<Tensor> {
    pointwise_loss_backward(grad, input, target, reduction, PointwiseLoss::Mse)
}

/// `smooth_l1_loss_backward(grad, input, target, reduction, beta)`: one allocation of the
/// input's shape (`zeros_like(input)` written by the kernel).
pub(crate) fn smooth_l1_loss_backward(
    grad: &Tensor,
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
    beta: f64,
) -> Result<Tensor> {
    pointwise_loss_backward(
        grad,
        input,
        target,
        reduction,
        PointwiseLoss::SmoothL1 { beta },
    )
}

fn pointwise_loss_backward(
    grad: &Tensor,
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
    kind: PointwiseLoss,
) -> Result<Tensor> {
    let out = Tensor::empty_on(input.runtime(), input.shape(), DType::F32, input.device())?;
    let scale = match kind {
        PointwiseLoss::Mse => 2.0,
        PointwiseLoss::SmoothL1 { .. } => 1.0,
    };
    let norm = if reduction == Reduction::Mean {
        scale / input.numel() as f32
    } else {
        scale
    };
    let name = match kind {
        PointwiseLoss::Mse => "mse_loss_backward",
        PointwiseLoss::SmoothL1 { .. } => "smooth_l1_loss_backward",
    };
    let bad_grad = || {
        TensorError::Invalid(format!(
            "{name}: grad of shape {} for input of shape {}",
            format_shape(grad.shape()),
            format_shape(input.shape())
        ))
    };
    if let Some(gpu) = out.gpu() {
        let g = if grad.dim() == 0 {
            grad.view_raw(input.shape().to_vec(), vec![0; input.dim()], grad.0.offset)
        } else if grad.shape() == input.shape() {
            grad.clone()
        } else {
            return Err(bad_grad());
        };
        let (op, w) = match kind {
            PointwiseLoss::Mse => (TernaryCode::MseBackward, 0.0),
            PointwiseLoss::SmoothL1 { beta } => (TernaryCode::SmoothL1Backward, beta),
        };
        gpu::ternary_with(gpu, &out, [&g, input, target], op, (norm as f64, w))?;
        return Ok(out);
    }
    let g = if grad.dim() == 0 {
        grad.read_f32().map(|v| vec![v[0]; input.numel()])
    } else if grad.shape() == input.shape() {
        grad.read_f32()
    } else {
        return Err(bad_grad());
    };
    if let (Some(g), Some(x), Some(y)) = (g, input.read_f32(), target.read_f32()) {
        let v: Vec<f32> = g
            .iter()
            .zip(x.iter().zip(&y))
            .map(|(&g, (&x, &y))| kind.host_backward(g, x, y, norm))
            .collect();
        out.write_f32(&v);
    }
    Ok(out)
}

/// `_log_softmax_backward_data`: `grad - exp(result) * grad.sum(dim, keepdim)`, one
/// allocation.
pub(crate) fn log_softmax_backward(grad: &Tensor, result: &Tensor, dim: usize) -> Result<Tensor> {
    let out = Tensor::empty_on(grad.runtime(), grad.shape(), DType::F32, grad.device())?;
    if let Some(gpu) = out.gpu() {
        let split = split_at_dim(grad.shape(), dim);
        gpu::log_softmax(gpu, &out, grad, Some(result), split)?;
    } else if let (Some(g), Some(r)) = (grad.read_f32(), result.read_f32()) {
        let (outer, size, inner) = split_at_dim(grad.shape(), dim);
        let mut v = vec![0f32; g.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * size + k) * inner + i;
                let s: f32 = (0..size).map(|k| g[at(k)]).sum();
                for k in 0..size {
                    v[at(k)] = g[at(k)] - r[at(k)].exp() * s;
                }
            }
        }
        out.write_f32(&v);
    }
    Ok(out)
}

/// `_softmax_backward_data`: `result * (grad - (grad * result).sum(dim, keepdim))`, one
/// allocation.
pub(crate) fn softmax_backward(grad: &Tensor, result: &Tensor, dim: usize) -> Result<Tensor> {
    let out = Tensor::empty_on(grad.runtime(), grad.shape(), DType::F32, grad.device())?;
    let (outer, size, inner) = split_at_dim(grad.shape(), dim);
    if let Some(gpu) = out.gpu() {
        gpu::softmax_backward(gpu, &out, grad, result, (outer, size, inner))?;
    } else if let (Some(g), Some(r)) = (grad.read_f32(), result.read_f32()) {
        let mut v = vec![0f32; g.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * size + k) * inner + i;
                let s: f32 = (0..size).map(|k| g[at(k)] * r[at(k)]).sum();
                for k in 0..size {
                    v[at(k)] = r[at(k)] * (g[at(k)] - s);
                }
            }
        }
        out.write_f32(&v);
    }
    Ok(out)
}

/// `nll_loss_backward`: zeros of the input's shape with `-grad` (over total_weight for the
/// mean) at each target class; one allocation.
pub(crate) fn nll_loss_backward(
    grad: &Tensor,
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
    ignore_index: i64,
    total_weight: &Tensor,
) -> Result<Tensor> {
    let out = Tensor::empty_on(input.runtime(), input.shape(), DType::F32, input.device())?;
    if let Some(gpu) = out.gpu() {
        let tensors = [&out, grad, target, total_weight];
        gpu::nll_loss_backward(gpu, tensors, reduction_code(reduction), ignore_index)?;
    } else if let (Some(g), Some(t), Some(w)) =
        (grad.read_f32(), target.read_i64(), total_weight.read_f32())
    {
        let c = input.shape()[1];
        let mut v = vec![0f32; input.numel()];
        for (i, &class) in t.iter().enumerate() {
            if class == ignore_index || class < 0 || class as usize >= c {
                continue;
            }
            v[i * c + class as usize] = match reduction {
                Reduction::None => -g[i],
                Reduction::Sum => -g[0],
                Reduction::Mean => -g[0] / w[0],
            };
        }
        out.write_f32(&v);
    }
    Ok(out)
}
