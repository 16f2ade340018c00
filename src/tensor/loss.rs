//! Loss functions, decomposed as PyTorch decomposes them, so that their intermediate
//! allocations (the element-wise loss before reduction, log_softmax's output, nll_loss's
//! total_weight) are the ones PyTorch makes.

use super::kernel::LossReduction;
use super::ops::{broadcast_shapes, wrap_dim};
use super::{format_shape, DType, Device, Result, Tensor, TensorError};
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
        if let Some(c) = Tensor::autocast(
            super::autocast::AutocastOp::MseLoss,
            &[Some(self), Some(target)],
        )? {
            return c.arg(0).mse_loss(c.arg(1), reduction);
        }
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
        let args = [Some(self), Some(target)];
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::SmoothL1Loss, &args)? {
            return c.arg(0).smooth_l1_loss(c.arg(1), reduction, beta);
        }
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
                let dtype = DType::promote_types(input.dtype(), target.dtype());
                let result = Tensor::empty_on(self.runtime(), &shape, dtype, device)?;
                let squared = input.elementwise_loss(&target, kind)?;
                let scalar = Tensor::from_parts(
                    self.runtime(),
                    result.storage(),
                    Vec::new(),
                    Vec::new(),
                    0,
                    dtype,
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
        if let Some(c) = Tensor::autocast(
            super::autocast::AutocastOp::L1Loss,
            &[Some(self), Some(target)],
        )? {
            return c.arg(0).l1_loss(c.arg(1), reduction);
        }
        let loss = self.sub(target)?.abs()?;
        match reduction {
            Reduction::None => Ok(loss),
            Reduction::Mean => loss.mean(),
            Reduction::Sum => loss.sum(),
        }
    }

    /// The element-wise loss of `kind` before any reduction: one allocation.
    fn elementwise_loss(&self, target: &Tensor, kind: PointwiseLoss) -> Result<Tensor> {
        let (code, alpha) = kind.code();
        self.binary_code(target, code, alpha)
    }

    /// Sum or mean of all elements into the 0-dim `out`, without autograd.
    fn reduce_all_into(&self, out: &Tensor, mean: bool) -> Result<()> {
        let (k, cx) = out.kernels();
        k.reduce_sum(cx, &out.buf(), &self.buf(), &vec![true; self.dim()], mean)
    }

    /// `F.log_softmax(self, dim)`. LogSoftmaxBackward0 saves the result. Under cuda autocast
    /// it is `log_softmax(self, dim, dtype=torch.float32)` (`fp32_set_opt_dtype`).
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        self.log_softmax_dtype(dim, self.autocast_opt_dtype())
    }

    /// `F.log_softmax(self, dim, dtype=dtype)` as `SoftMax.cpp` runs it: a float16 cuda input
    /// asked for float32 goes straight into a float32 result (`half_to_float`: no copy, and the
    /// backward returns float16); any other `dtype` converts the input first (`_to_copy`, a
    /// ToCopyBackward0 node). An explicit `dtype` is left alone by autocast.
    pub fn log_softmax_dtype(&self, dim: isize, dtype: Option<DType>) -> Result<Tensor> {
        self.softmax_family(dim, dtype, true)
    }

    /// `F.softmax(self, dim)`: one output, computed as `exp(log_softmax)` in place so that the
    /// host and the GPU round alike. SoftmaxBackward0 saves the result. Under cuda autocast it
    /// is `softmax(self, dim, dtype=torch.float32)`.
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_dtype(dim, self.autocast_opt_dtype())
    }

    /// `F.softmax(self, dim, dtype=dtype)`, with `log_softmax_dtype`'s dtype rules.
    pub fn softmax_dtype(&self, dim: isize, dtype: Option<DType>) -> Result<Tensor> {
        self.softmax_family(dim, dtype, false)
    }

    fn softmax_family(&self, dim: isize, dtype: Option<DType>, log: bool) -> Result<Tensor> {
        let half_to_float = dtype == Some(DType::F32)
            && self.device() == Device::Cuda
            && self.dtype() == DType::F16;
        let converted = match dtype {
            Some(d) if !half_to_float && d != self.dtype() => Some(self.to_dtype(d)?),
            _ => None,
        };
        let input = converted.as_ref().unwrap_or(self);
        let d = wrap_dim(dim, input.dim())?;
        if !input.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "\"{}\" not implemented for '{}'",
                if log { "log_softmax" } else { "softmax" },
                match input.dtype() {
                    DType::I64 => "Long",
                    _ => "Bool",
                }
            )));
        }
        let out_dtype = if half_to_float {
            DType::F32
        } else {
            input.float_result_type()
        };
        let out = Tensor::empty_on(self.runtime(), input.shape(), out_dtype, input.device())?;
        let (k, cx) = out.kernels();
        k.log_softmax(cx, &out.buf(), &input.buf(), split_at_dim(input.shape(), d))?;
        if !log {
            k.unary(cx, &out.buf(), &out.buf(), UnaryCode::Exp, 0.0)?;
        }
        if let Some(mut b) = NodeBuilder::new(&[input]) {
            b.save_output("result");
            let input_dtype = input.dtype();
            let formula = if log {
                Formula::LogSoftmax {
                    dim: d,
                    input_dtype,
                }
            } else {
                Formula::Softmax {
                    dim: d,
                    input_dtype,
                }
            };
            b.finish(formula, &out);
        }
        Ok(out)
    }

    /// `F.nll_loss(self, target, reduction)` for `self` of shape (N, C) and int64 class
    /// indices `target` of shape (N), ignore_index -100. Allocates the output, then the 0-dim
    /// `total_weight`; NllLossBackward0 saves `self`, `target` and `total_weight`.
    pub fn nll_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        if let Some(c) = Tensor::autocast(
            super::autocast::AutocastOp::NllLoss,
            &[Some(self), Some(target)],
        )? {
            return c.arg(0).nll_loss(c.arg(1), reduction);
        }
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
        let n = self.shape()[0];
        let out_shape: Vec<usize> = if reduction == Reduction::None {
            vec![n]
        } else {
            vec![]
        };
        let out = Tensor::empty_on(self.runtime(), &out_shape, self.dtype(), device)?;
        let total_weight = Tensor::empty_on(self.runtime(), &[], self.dtype(), device)?;
        let (k, cx) = out.kernels();
        k.nll_loss(
            cx,
            [&out.buf(), &total_weight.buf()],
            [&self.buf(), &target.buf()],
            reduction_code(reduction),
            ignore_index,
        )?;
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
        if let Some(c) = Tensor::autocast(
            super::autocast::AutocastOp::CrossEntropy,
            &[Some(self), Some(target)],
        )? {
            return c.arg(0).cross_entropy(c.arg(1), reduction);
        }
        if self.dim() != 2 {
            return Err(TensorError::Unsupported(format!(
                "cross_entropy on a {}-D input (only (N, C) inputs with class indices)",
                self.dim()
            )));
        }
        // `cross_entropy_loss` asks for the input's own dtype, which autocast leaves alone: on
        // cuda a float16 input gets a float16 log_softmax, and nll_loss (fp32 list) casts it.
        self.log_softmax_dtype(1, Some(self.dtype()))?
            .nll_loss(target, reduction)
    }
}

/// The kernels' name for a reduction.
fn reduction_code(reduction: Reduction) -> LossReduction {
    match reduction {
        Reduction::None => LossReduction::None,
        Reduction::Mean => LossReduction::Mean,
        Reduction::Sum => LossReduction::Sum,
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
    let out = Tensor::empty_on(
        input.runtime(),
        input.shape(),
        input.float_result_type(),
        input.device(),
    )?;
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
    let (k, cx) = out.kernels();
    let operands = [&g.buf(), &input.buf(), &target.buf()];
    k.ternary(cx, &out.buf(), operands, op, (norm as f64, w))?;
    Ok(out)
}

/// `_log_softmax_backward_data`: `grad - exp(result) * grad.sum(dim, keepdim)`, one
/// allocation, in the forward input's dtype (float16 after a `half_to_float` forward).
pub(crate) fn log_softmax_backward(
    grad: &Tensor,
    result: &Tensor,
    dim: usize,
    input_dtype: DType,
) -> Result<Tensor> {
    softmax_family_backward(grad, result, dim, input_dtype, true)
}

/// `_softmax_backward_data`: `result * (grad - (grad * result).sum(dim, keepdim))`, one
/// allocation, in the forward input's dtype.
pub(crate) fn softmax_backward(
    grad: &Tensor,
    result: &Tensor,
    dim: usize,
    input_dtype: DType,
) -> Result<Tensor> {
    softmax_family_backward(grad, result, dim, input_dtype, false)
}

/// What the two backwards above share: the gradient's one allocation (of `grad`'s shape, in
/// `input_dtype`), filled along `dim` by the kernel of the log (`log`) or plain softmax.
fn softmax_family_backward(
    grad: &Tensor,
    result: &Tensor,
    dim: usize,
    input_dtype: DType,
    log: bool,
) -> Result<Tensor> {
    let out = Tensor::empty_on(grad.runtime(), grad.shape(), input_dtype, grad.device())?;
    let (k, cx) = out.kernels();
    let split = split_at_dim(grad.shape(), dim);
    let operands = [&grad.buf(), &result.buf()];
    if log {
        k.log_softmax_backward(cx, &out.buf(), operands, split)?;
    } else {
        k.softmax_backward(cx, &out.buf(), operands, split)?;
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
    let out = Tensor::empty_on(
        input.runtime(),
        input.shape(),
        input.float_result_type(),
        input.device(),
    )?;
    out.fill_values(super::Scalar::Float(0.0))?;
    let (k, cx) = out.kernels();
    k.nll_loss_backward(
        cx,
        &out.buf(),
        [&grad.buf(), &target.buf(), &total_weight.buf()],
        reduction_code(reduction),
        ignore_index,
    )?;
    Ok(out)
}
