//! `dropout` and `layer_norm`, as PyTorch runs them on CUDA: `native_dropout` (the output and a
//! bool mask, the mask saved) and `native_layer_norm` (the output and the per-row mean and
//! reciprocal standard deviation, all three saved with the input).

use super::{format_shape, gpu, DType, Device, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

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
        if !(0.0..=1.0).contains(&p) {
            return Err(TensorError::Invalid(format!(
                "dropout probability has to be between 0 and 1, but got {p}"
            )));
        }
        if !training || p == 0.0 || self.numel() == 0 {
            return Ok(self.clone());
        }
        if self.dtype() != DType::F32 {
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
            let noise = Tensor::empty_on(rt, self.shape(), DType::F32, self.device())?;
            if noise.has_data() {
                let v: Vec<f32> = (0..noise.numel())
                    .map(|_| {
                        if stream.uniform() < keep as f32 {
                            scale
                        } else {
                            0.0
                        }
                    })
                    .collect();
                noise.write_f32(&v);
            }
            return self.mul(&noise);
        }
        let out = Tensor::empty_on(rt, self.shape(), DType::F32, self.device())?;
        let mask = Tensor::empty_on(rt, self.shape(), DType::Bool, self.device())?;
        if let Some(g) = out.gpu() {
            gpu::dropout(
                g,
                [&out, &mask, self],
                keep as f32,
                scale,
                stream.key_and_counter(),
            )?;
        } else if let Some(x) = self.read_f32() {
            let kept: Vec<bool> = (0..x.len())
                .map(|_| stream.uniform() < keep as f32)
                .collect();
            let y: Vec<f32> = x
                .iter()
                .zip(&kept)
                .map(|(&v, &k)| if k { v * scale } else { 0.0 })
                .collect();
            out.write_f32(&y);
            mask.write_bool(&kept);
        }
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("result1", &mask);
            b.finish(Formula::NativeDropout { scale }, &out);
        }
        Ok(out)
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
        let out = Tensor::empty_on(rt, self.shape(), DType::F32, self.device())?;
        let mean = Tensor::empty_on(rt, &stat_shape, DType::F32, self.device())?;
        let rstd = Tensor::empty_on(rt, &stat_shape, DType::F32, self.device())?;
        let (m, n) = rows(self.shape(), k);
        if let Some(g) = out.gpu() {
            gpu::layer_norm_forward(g, [&out, &mean, &rstd, self], weight, bias, (m, n), eps)?;
        } else if let Some(x) = self.read_f32() {
            let w = weight.and_then(Tensor::read_f32);
            let b = bias.and_then(Tensor::read_f32);
            let (mut y, mut mu, mut rs) = (vec![0f32; m * n], vec![0f32; m], vec![0f32; m]);
            for r in 0..m {
                let row = &x[r * n..(r + 1) * n];
                let mean_r = (row.iter().map(|&v| v as f64).sum::<f64>() / n as f64) as f32;
                let var = (row
                    .iter()
                    .map(|&v| ((v - mean_r) as f64).powi(2))
                    .sum::<f64>()
                    / n as f64) as f32;
                let rstd_r = 1.0 / (var + eps as f32).sqrt();
                for (j, &v) in row.iter().enumerate() {
                    let mut h = (v - mean_r) * rstd_r;
                    if let Some(w) = &w {
                        h *= w[j];
                    }
                    if let Some(b) = &b {
                        h += b[j];
                    }
                    y[r * n + j] = h;
                }
                (mu[r], rs[r]) = (mean_r, rstd_r);
            }
            out.write_f32(&y);
            mean.write_f32(&mu);
            rstd.write_f32(&rs);
        }
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
        let out = Tensor::empty_on(self.runtime(), &[], DType::F32, self.device())?;
        if let Some(g) = out.gpu() {
            gpu::norm2(g, &out, self)?;
        } else if let Some(x) = self.read_f32() {
            let s: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
            out.write_f32(&[s.sqrt() as f32]);
        }
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
        need.then(|| Tensor::empty_on(rt, shape, DType::F32, input.device()))
            .transpose()
    };
    let dx = alloc(needs[0], input.shape())?;
    let dw = alloc(needs[1], param_shape)?;
    let db = alloc(needs[2], param_shape)?;
    if let Some(g) = input.gpu() {
        gpu::layer_norm_backward(
            g,
            [grad, input, mean, rstd],
            weight,
            [&dx, &dw, &db],
            (m, n),
        )?;
    } else if let (Some(dy), Some(x), Some(mu), Some(rs)) = (
        grad.read_f32(),
        input.read_f32(),
        mean.read_f32(),
        rstd.read_f32(),
    ) {
        let w = weight.and_then(Tensor::read_f32);
        let (mut gx, mut gw, mut gb) = (vec![0f32; m * n], vec![0f32; n], vec![0f32; n]);
        for r in 0..m {
            let xhat = |j: usize| (x[r * n + j] - mu[r]) * rs[r];
            let g = |j: usize| dy[r * n + j] * w.as_ref().map_or(1.0, |w| w[j]);
            let mean_g = (0..n).map(|j| g(j) as f64).sum::<f64>() / n as f64;
            let mean_gx = (0..n).map(|j| (g(j) * xhat(j)) as f64).sum::<f64>() / n as f64;
            for j in 0..n {
                gx[r * n + j] = rs[r] * (g(j) - mean_g as f32 - xhat(j) * mean_gx as f32);
                gw[j] += dy[r * n + j] * xhat(j);
                gb[j] += dy[r * n + j];
            }
        }
        for (t, v) in [(&dx, gx), (&dw, gw), (&db, gb)] {
            if let Some(t) = t {
                t.write_f32(&v);
            }
        }
    }
    Ok([dx, dw, db])
}
