//! `F.binary_cross_entropy`, `F.binary_cross_entropy_with_logits` and `F.kl_div`, with the
//! allocations of PyTorch 2.15's implementations (aten/src/ATen/native/Loss.cpp, Loss.cu and
//! torch/nn/functional.py):
//!
//! - **binary_cross_entropy** is one node (BinaryCrossEntropyBackward0 saving `self`,
//!   `target` and `weight`). The loss is `empty_like(input)`; a reduction is computed into a
//!   new 0-dim tensor, then the loss is `resize_`d to 0-dim (keeping its storage) and the
//!   reduction copied in. So a kept mean loss holds a storage of the input's size, as
//!   `mse_loss`'s does (1,280 B for 32×10, measured on 2.15).
//! - **binary_cross_entropy_with_logits** is one node (BinaryCrossEntropyWithLogitsBackward0
//!   saving `self`, `target`, `weight`, `pos_weight`) over `log_sigmoid(input)`,
//!   `(1 - target).mul_(input).sub_(log_sigmoid)` and `apply_loss_reduction`: a kept mean loss
//!   holds 4 bytes.
//! - **kl_div** is composite: `xlogy(target, target) - target * input` (or
//!   `exp(target) * (target - input)` with `log_target`), then the reduction; `batchmean` is
//!   `sum` divided by the batch size in Python.

use super::kernel::{Buf, Cx};
use super::layer_node::{operand, read, run, write};
use super::{DType, LayerKernel, Reduction, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};

/// ATen's clamp of `log` in binary_cross_entropy: `max(log(x), -100)`.
const LOG_FLOOR: f32 = -100.0;
/// ATen's `EPSILON` in binary_cross_entropy_backward's denominator.
const BCE_EPSILON: f32 = 1e-12;

/// `F.kl_div`'s `reduction`, which has `batchmean` besides the usual three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KlDivReduction {
    /// One loss per element.
    None,
    /// The mean over elements (PyTorch's default, which it warns about).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// The sum divided by the batch size: the mathematical KL divergence.
    BatchMean,
}

/// Which binary cross-entropy, as its node and kernels keep it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bce {
    /// On logits (`binary_cross_entropy_with_logits`) rather than probabilities.
    logits: bool,
    reduction: Reduction,
    /// Whether the node saved a `weight`.
    weight: bool,
    /// Whether the node saved a `pos_weight` (logits only).
    pos_weight: bool,
}

impl Bce {
    pub(crate) fn node_name(self) -> &'static str {
        if self.logits {
            "BinaryCrossEntropyWithLogitsBackward0"
        } else {
            "BinaryCrossEntropyBackward0"
        }
    }

    /// Forward: `[loss]` from `[input, target, weight?, pos_weight?]` (weights already
    /// expanded to the input's shape), the element-wise loss times the weight.
    pub(super) fn host_forward(self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let (Some(x), Some(y)) = (read(ins, 0, cx), read(ins, 1, cx)) else {
            return;
        };
        let w = read(ins, 2, cx);
        let pw = read(ins, 3, cx);
        let loss: Vec<f32> = (0..x.len())
            .map(|i| {
                let (x, y) = (x[i], y[i]);
                let l = if self.logits {
                    // log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), as ATen computes it.
                    let log_sig = x.min(0.0) - (-x.abs()).exp().ln_1p();
                    let log_weight = pw.as_ref().map_or(1.0, |p| (p[i] - 1.0) * y + 1.0);
                    (1.0 - y) * x - log_sig * log_weight
                } else {
                    (y - 1.0) * (-x).ln_1p().max(LOG_FLOOR) - y * x.ln().max(LOG_FLOOR)
                };
                l * w.as_ref().map_or(1.0, |w| w[i])
            })
            .collect();
        write(outs, 0, cx, &loss);
    }

    /// Backward: `[dx]` from `[grad, input, target, weight?, pos_weight?]`, every operand at
    /// the input's shape.
    pub(super) fn host_backward(self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let (Some(g), Some(x), Some(y)) = (read(ins, 0, cx), read(ins, 1, cx), read(ins, 2, cx))
        else {
            return;
        };
        let w = read(ins, 3, cx);
        let pw = read(ins, 4, cx);
        let norm = if self.reduction == Reduction::Mean {
            x.len() as f32
        } else {
            1.0
        };
        let dx: Vec<f32> = (0..x.len())
            .map(|i| {
                let (x, y) = (x[i], y[i]);
                let d = if self.logits {
                    let s = 1.0 / (1.0 + (-x).exp());
                    match &pw {
                        Some(p) => {
                            let t = p[i] * y;
                            (t + 1.0 - y) * s - t
                        }
                        None => s - y,
                    }
                } else {
                    (x - y) / ((1.0 - x) * x).max(BCE_EPSILON)
                };
                d * g[i] * w.as_ref().map_or(1.0, |w| w[i]) / norm
            })
            .collect();
        write(outs, 0, cx, &dx);
    }

    /// The gradient of the input: one allocation of its shape (for logits with a
    /// `pos_weight`, `t = pos_weight * target` first and `input.sigmoid()` in between, freed
    /// once the gradient exists).
    pub(crate) fn backward(self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let input = node.unpack("self")?;
        let target = node.unpack("target")?;
        let weight = self.weight.then(|| node.unpack("weight")).transpose()?;
        let pos_weight = self
            .pos_weight
            .then(|| node.unpack("pos_weight"))
            .transpose()?;
        let (rt, device, shape) = (input.runtime(), input.device(), input.shape());
        let t = match &pos_weight {
            Some(_) => Some(Tensor::empty_on(rt, shape, DType::F32, device)?),
            None => None,
        };
        let dx = Tensor::empty_on(rt, shape, DType::F32, device)?;
        let sigmoid = match &pos_weight {
            Some(_) => Some(Tensor::empty_on(rt, shape, DType::F32, device)?),
            None => None,
        };
        let expand = |t: &Tensor| t.expand(shape);
        let grad = expand(grad)?;
        let weight = weight.as_ref().map(expand).transpose()?;
        let pos_weight = pos_weight.as_ref().map(expand).transpose()?;
        run(
            &dx,
            &LayerKernel::BceBackward(self),
            &[Some(&dx)],
            &[
                Some(&grad),
                Some(&input),
                Some(&target),
                weight.as_ref(),
                pos_weight.as_ref(),
            ],
        )?;
        drop(sigmoid);
        drop(t);
        Ok(dx)
    }
}

/// `(1 - target)`-style temporaries' order inside `binary_cross_entropy_with_logits`.
fn logits_forward(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    let (rt, device, shape) = (input.runtime(), input.device(), input.shape());
    // log_sigmoid's output (its CUDA buffer is empty: `at::empty({0})`).
    let log_sigmoid = Tensor::empty_on(rt, shape, DType::F32, device)?;
    if let Some(pw) = pos_weight {
        // `(pos_weight - 1).mul(target).add_(1)`: the first freed at the statement's end,
        // the second once it multiplied log_sigmoid in place.
        let minus_one = Tensor::empty_on(rt, pw.shape(), DType::F32, device)?;
        let log_weight = Tensor::empty_on(rt, shape, DType::F32, device)?;
        drop(minus_one);
        drop(log_weight);
    }
    // `(1 - target).mul_(input).sub_(log_sigmoid)`, then `mul_(weight)`.
    let loss = Tensor::empty_on(rt, shape, DType::F32, device)?;
    let expand = |t: &Tensor| t.expand(shape);
    let w = weight.map(expand).transpose()?;
    let pw = pos_weight.map(expand).transpose()?;
    let kind = Bce {
        logits: true,
        reduction,
        weight: weight.is_some(),
        pos_weight: pos_weight.is_some(),
    };
    run(
        &loss,
        &LayerKernel::Bce(kind),
        &[Some(&loss)],
        &[Some(input), Some(target), w.as_ref(), pw.as_ref()],
    )?;
    let out = reduce_all(&loss, reduction)?;
    drop(loss);
    drop(log_sigmoid);
    Ok(out)
}

/// `apply_loss_reduction` without autograd: the loss itself, or a new 0-dim sum or mean.
fn reduce_all(loss: &Tensor, reduction: Reduction) -> Result<Tensor> {
    if reduction == Reduction::None {
        return Ok(loss.clone());
    }
    let out = Tensor::empty_on(loss.runtime(), &[], DType::F32, loss.device())?;
    let (k, cx) = out.kernels();
    k.reduce_sum(
        cx,
        &out.buf(),
        &loss.buf(),
        &vec![true; loss.dim()],
        reduction == Reduction::Mean,
    )?;
    Ok(out)
}

/// `target` and `input` must have one shape (both functions check it in Python).
fn check_sizes(input: &Tensor, target: &Tensor, logits: bool) -> Result<()> {
    if input.shape() == target.shape() {
        return Ok(());
    }
    let size = |t: &Tensor| {
        let dims: Vec<String> = t.shape().iter().map(usize::to_string).collect();
        format!("torch.Size([{}])", dims.join(", "))
    };
    Err(TensorError::Invalid(if logits {
        format!(
            "Target size ({}) must be the same as input size ({})",
            size(target),
            size(input)
        )
    } else {
        format!(
            "Using a target size ({}) that is different to the input size ({}) is deprecated. \
             Please ensure they have the same size.",
            size(target),
            size(input)
        )
    }))
}

/// The loss of a target that requires a gradient is not modelled: say so.
fn check_target(target: &Tensor, name: &str) -> Result<()> {
    if target.requires_grad() && target.runtime().is_grad_enabled() {
        return Err(TensorError::Unsupported(format!(
            "{name} with a target that requires grad (the target's gradient is not modelled); \
             detach the target"
        )));
    }
    Ok(())
}

impl Tensor {
    /// `F.binary_cross_entropy(self, target, weight, reduction)`: `self` holds probabilities.
    /// `weight` is expanded to the target's size, as `torch/nn/functional.py` does before
    /// calling ATen, and saved so.
    pub fn binary_cross_entropy(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor> {
        check_sizes(self, target, false)?;
        check_target(target, "binary_cross_entropy")?;
        if let Some(v) = self.read_f32() {
            if v.iter().any(|x| !(0.0..=1.0).contains(x)) {
                return Err(TensorError::Invalid(
                    "all elements of input should be between 0 and 1".into(),
                ));
            }
        }
        let weight = weight.map(|w| w.expand(target.shape())).transpose()?;
        let device = super::ops::common_device(self, target)?;
        let loss = Tensor::empty_on(self.runtime(), self.shape(), DType::F32, device)?;
        let kind = Bce {
            logits: false,
            reduction,
            weight: weight.is_some(),
            pos_weight: false,
        };
        run(
            &loss,
            &LayerKernel::Bce(kind),
            &[Some(&loss)],
            &[Some(self), Some(target), weight.as_ref(), None],
        )?;
        let out = if reduction == Reduction::None {
            loss
        } else {
            // The reduction into a new 0-dim tensor, copied into the loss resized to 0-dim.
            let reduced = reduce_all(&loss, reduction)?;
            let scalar = Tensor::from_parts(
                self.runtime(),
                loss.storage(),
                Vec::new(),
                Vec::new(),
                0,
                DType::F32,
                false,
            );
            let (k, cx) = scalar.kernels();
            k.copy(cx, &scalar.buf(), &reduced.buf())?;
            scalar
        };
        if let Some(mut b) = NodeBuilder::new(&[self, target]) {
            b.save("self", self);
            b.save("target", target);
            if let Some(w) = &weight {
                b.save("weight", w);
            }
            b.finish(Formula::Layer(super::LayerNode::Bce(kind)), &out);
        }
        Ok(out)
    }

    /// `F.binary_cross_entropy_with_logits(self, target, weight, reduction, pos_weight)`.
    pub fn binary_cross_entropy_with_logits(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        pos_weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor> {
        check_sizes(self, target, true)?;
        check_target(target, "binary_cross_entropy_with_logits")?;
        for w in [weight, pos_weight].into_iter().flatten() {
            w.check_expand(self.shape())?;
        }
        super::ops::common_device(self, target)?;
        let out = logits_forward(self, target, weight, pos_weight, reduction)?;
        let kind = Bce {
            logits: true,
            reduction,
            weight: weight.is_some(),
            pos_weight: pos_weight.is_some(),
        };
        if let Some(mut b) = NodeBuilder::new(&[self, target]) {
            b.save("self", self);
            b.save("target", target);
            for (name, w) in [("weight", weight), ("pos_weight", pos_weight)] {
                if let Some(w) = w {
                    b.save(name, w);
                }
            }
            b.finish(Formula::Layer(super::LayerNode::Bce(kind)), &out);
        }
        Ok(out)
    }

    /// `F.kl_div(self, target, reduction, log_target)`: `self` holds log-probabilities. Made
    /// of the ops ATen's composite `kl_div` calls, so its nodes are theirs (SubBackward0,
    /// MulBackward0, ...; `batchmean` adds DivBackward0 for Python's `/ input.size(0)`).
    pub fn kl_div(
        &self,
        target: &Tensor,
        reduction: KlDivReduction,
        log_target: bool,
    ) -> Result<Tensor> {
        if self.dtype() != DType::F32 || target.dtype() != DType::F32 {
            return Err(TensorError::Invalid(
                "kl_div: Integral inputs not supported.".into(),
            ));
        }
        let output = if log_target {
            target.exp()?.mul(&target.sub(self)?)?
        } else {
            check_target(target, "kl_div")?;
            target.xlogy_self()?.sub(&target.mul(self)?)?
        };
        match reduction {
            KlDivReduction::None => Ok(output),
            KlDivReduction::Mean => output.mean(),
            KlDivReduction::Sum => output.sum(),
            KlDivReduction::BatchMean => {
                let sum = output.sum()?;
                drop(output);
                match self.shape().first() {
                    Some(&n) => sum.div_scalar(n as i64),
                    None => Ok(sum),
                }
            }
        }
    }

    /// `xlogy(self, self)` without autograd (`x * log(x)`, 0 where `x` is 0): one allocation.
    fn xlogy_self(&self) -> Result<Tensor> {
        let out = Tensor::empty_on(self.runtime(), self.shape(), DType::F32, self.device())?;
        run(&out, &LayerKernel::XlogySelf, &[Some(&out)], &[Some(self)])?;
        Ok(out)
    }
}

/// `[out]` from `[x]`: `x * log(x)`, 0 at 0 and NaN at NaN, as `xlogy` gives.
pub(super) fn xlogy_self_host(cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
    if operand(outs, 0).is_none() {
        return;
    }
    if let Some(x) = read(ins, 0, cx) {
        let v: Vec<f32> = x
            .iter()
            .map(|&x| if x == 0.0 { 0.0 } else { x * x.ln() })
            .collect();
        write(outs, 0, cx, &v);
    }
}
