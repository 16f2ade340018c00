//! `dropout` and `layer_norm`, as PyTorch runs them on CUDA: `native_dropout` (the output and a
//! bool mask, the mask saved) and `native_layer_norm` (the output and the per-row mean and
//! reciprocal standard deviation, all three saved with the input).

use super::kernel::Draw;
use super::{format_shape, DType, Device, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::runtime::Philox;

/// Rows and row length of `shape` normalized over its last `normalized` dimensions.
fn rows(shape: &[usize], normalized: usize) -> (usize, usize) {
    let axis = shape.len() - normalized;
    (
        shape[..axis].iter().product(),
        shape[axis..].iter().product(),
    )
}

impl Tensor {
    /// `F.dropout(self, p, training)`. In training with `0 < p < 1` on the device, PyTorch's
    /// fused `native_dropout`: the output, then a bool mask of the input's shape, which
    /// NativeDropoutBackward0 saves (`result1`). On host tensors, PyTorch's unfused path: a float
    /// noise tensor and `self * noise` (MulBackward0 saves the noise). Outside training, or
    /// with `p == 0`, the input itself.
    pub fn dropout(&self, p: f64, training: bool) -> Result<Tensor> {
        check_probability(p)?;
        if !training || p == 0.0 || self.numel() == 0 {
            return Ok(self.clone());
        }
        if !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(
                "dropout is only implemented for floating point tensors".into(),
            ));
        }
        let keep = 1.0 - p;
        // `p == 1` zeroes everything; PyTorch scales by 0 then.
        let scale = if keep == 0.0 {
            0.0
        } else {
            (1.0 / keep) as f32
        };
        let rt = self.runtime();
        let mut stream = rt.random_stream(self.device(), self.numel());
        if self.device() == Device::Cpu || keep == 0.0 {
            let noise = self.scaled_bernoulli(self.shape(), keep, scale, &mut stream)?;
            return self.mul(&noise);
        }
        let out = Tensor::empty_on(rt, self.shape(), self.float_result_type(), self.device())?;
        let mask = Tensor::empty_on(rt, self.shape(), DType::Bool, self.device())?;
        let (k, cx) = out.kernels();
        let factors = (keep as f32, scale);
        k.dropout(
            cx,
            [&out.buf(), &mask.buf()],
            &self.buf(),
            factors,
            &mut stream,
        )?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("result1", &mask);
            b.finish(Formula::NativeDropout { scale }, &out);
        }
        Ok(out)
    }

    /// `F.dropout2d(self, p, training)` on an (N, C, H, W) input: whole channels zeroed.
    /// ATen's `feature_dropout`: the noise is `new_empty((N, C, 1, 1))`, drawn by
    /// `bernoulli_(1 - p)` and scaled by `div_(1 - p)` in place, then `self * noise` (the
    /// output, MulBackward0 keeping the noise); `p == 1` multiplies by a 0-dim zero.
    pub fn dropout2d(&self, p: f64, training: bool) -> Result<Tensor> {
        check_probability(p)?;
        if !training || p == 0.0 {
            return Ok(self.clone());
        }
        if self.dim() != 4 {
            return Err(TensorError::Unsupported(format!(
                "dropout2d of a {}-D input (an (N, C, H, W) input is modelled)",
                self.dim()
            )));
        }
        let rt = self.runtime();
        let dtype = self.float_result_type();
        if p == 1.0 {
            let zero = Tensor::empty_on(rt, &[], dtype, self.device())?;
            zero.fill_values(super::Scalar::Float(0.0))?;
            return self.mul(&zero);
        }
        let keep = 1.0 - p;
        let shape = [self.shape()[0], self.shape()[1], 1, 1];
        let mut stream = rt.random_stream(self.device(), shape[0] * shape[1]);
        let noise = self.scaled_bernoulli(&shape, keep, (1.0 / keep) as f32, &mut stream)?;
        self.mul(&noise)
    }

    /// A new float tensor of `shape` on this tensor's device: `bernoulli_(keep)` scaled by
    /// `scale` in place (`div_(keep)`), the noise both dropouts multiply by.
    fn scaled_bernoulli(
        &self,
        shape: &[usize],
        keep: f64,
        scale: f32,
        stream: &mut Philox,
    ) -> Result<Tensor> {
        let noise = Tensor::empty_on(
            self.runtime(),
            shape,
            self.float_result_type(),
            self.device(),
        )?;
        let (k, cx) = noise.kernels();
        let draw = Draw::Bernoulli {
            keep: keep as f32,
            scale,
        };
        k.random(cx, &noise.buf(), draw, stream)?;
        Ok(noise)
    }

    /// `F.layer_norm(self, normalized_shape, weight, bias, eps)`: allocates the output, then the
    /// mean and the reciprocal standard deviation (the input's shape with the normalized
    /// dimensions set to 1). NativeLayerNormBackward0 saves `input`, `result1` (mean),
    /// `result2` (rstd), and `weight` and `bias` when given.
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        if let Some(c) = Tensor::autocast(
            super::autocast::AutocastOp::LayerNorm,
            &[Some(self), weight, bias],
        )? {
            return c
                .arg(0)
                .layer_norm(normalized_shape, c.opt(1), c.opt(2), eps);
        }
        let k = normalized_shape.len();
        if k == 0 || k > self.dim() || self.shape()[self.dim() - k..] != *normalized_shape {
            return Err(TensorError::Invalid(format!(
                "Given normalized_shape={}, expected input with shape [*, {}], but got input of size{}",
                format_shape(normalized_shape),
                normalized_shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                format_shape(self.shape())
            )));
        }
        for (name, p) in [("weight", weight), ("bias", bias)] {
            if let Some(p) = p {
                super::ops::common_device(self, p)?;
                if p.shape() != normalized_shape {
                    return Err(TensorError::Invalid(format!(
                        "Expected {name} to be of same shape as normalized_shape, but got {name} of shape {} and normalized_shape = {}",
                        format_shape(p.shape()),
                        format_shape(normalized_shape)
                    )));
                }
            }
        }
        let rt = self.runtime();
        let mut stat_shape = self.shape().to_vec();
        let axis = self.dim() - k;
        stat_shape[axis..].iter_mut().for_each(|s| *s = 1);
        let out = Tensor::empty_on(rt, self.shape(), self.float_result_type(), self.device())?;
        let mean = Tensor::empty_on(rt, &stat_shape, self.float_result_type(), self.device())?;
        let rstd = Tensor::empty_on(rt, &stat_shape, self.float_result_type(), self.device())?;
        let (m, n) = rows(self.shape(), k);
        let (kernels, cx) = out.kernels();
        let (w, bi) = (weight.map(Tensor::buf), bias.map(Tensor::buf));
        kernels.layer_norm(
            cx,
            [&out.buf(), &mean.buf(), &rstd.buf()],
            &self.buf(),
            [w.as_ref(), bi.as_ref()],
            (m, n),
            eps,
        )?;
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        if let Some(mut b) = NodeBuilder::new(&inputs) {
            b.save("input", self);
            b.save("result1", &mean);
            b.save("result2", &rstd);
            if let Some(w) = weight {
                b.save("weight", w);
            }
            if let Some(bi) = bias {
                b.save("bias", bi);
            }
            b.finish(
                Formula::NativeLayerNorm {
                    normalized: k,
                    has_weight: weight.is_some(),
                    has_bias: bias.is_some(),
                },
                &out,
            );
        }
        Ok(out)
    }
}

impl Tensor {
    /// `torch.linalg.vector_norm(self)` (the 2-norm of every element) into a new 0-dim tensor,
    /// for code that runs under no_grad (clip_grad_norm_).
    pub(crate) fn norm2_all(&self) -> Result<Tensor> {
        let out = Tensor::empty_on(self.runtime(), &[], self.float_result_type(), self.device())?;
        let (k, cx) = out.kernels();
        k.norm2(cx, &out.buf(), &self.buf())?;
        Ok(out)
    }
}

/// `native_dropout_backward(grad, mask, scale)`: `grad * mask * scale`, one allocation.
pub(crate) fn dropout_backward(grad: &Tensor, mask: &Tensor, scale: f32) -> Result<Tensor> {
    grad.mul(mask)?.mul_scalar_(scale as f64)
}

/// `native_layer_norm_backward`: the input's gradient, then the weight's and the bias's
/// (each only when needed); three allocations at most.
pub(crate) fn layer_norm_backward(
    grad: &Tensor,
    [input, mean, rstd]: [&Tensor; 3],
    weight: Option<&Tensor>,
    normalized: usize,
    needs: [bool; 3],
) -> Result<[Option<Tensor>; 3]> {
    let rt = grad.runtime();
    let (m, n) = rows(input.shape(), normalized);
    let param_shape = &input.shape()[input.dim() - normalized..];
    let alloc = |need: bool, shape: &[usize]| -> Result<Option<Tensor>> {
        need.then(|| Tensor::empty_on(rt, shape, input.float_result_type(), input.device()))
            .transpose()
    };
    let dx = alloc(needs[0], input.shape())?;
    let dw = alloc(needs[1], param_shape)?;
    let db = alloc(needs[2], param_shape)?;
    let (k, cx) = input.kernels();
    let outs = [&dx, &dw, &db].map(|t| t.as_ref().map(Tensor::buf));
    let w = weight.map(Tensor::buf);
    k.layer_norm_backward(
        cx,
        [outs[0].as_ref(), outs[1].as_ref(), outs[2].as_ref()],
        [&grad.buf(), &input.buf(), &mean.buf(), &rstd.buf()],
        w.as_ref(),
        (m, n),
    )?;
    Ok([dx, dw, db])
}

/// PyTorch's check of a dropout probability.
fn check_probability(p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(TensorError::Invalid(format!(
            "dropout probability has to be between 0 and 1, but got {p}"
        )));
    }
    Ok(())
}
