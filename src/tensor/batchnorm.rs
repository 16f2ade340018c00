//! `batch_norm` with running statistics, as `native_batch_norm` runs it: the output, then the
//! per-channel batch mean and reciprocal standard deviation (`save_mean`, `save_invstd`; empty
//! outside training), the running statistics updated in place (no version bump: ATen's kernel
//! writes them, autograd records no in-place operation), and NativeBatchNormBackward0 saving
//! `input`, `weight`, `running_mean`, `running_var`, `result1` and `result2`.

use super::kernel::{Buf, Cx};
use super::layer_node::{operand, read, run, write};
use super::{format_shape, LayerKernel, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};

/// Channels, and positions per channel (batch × spatial), of a `(N, C, *)` input.
fn channel_layout(shape: &[usize]) -> (usize, usize, usize) {
    let c = shape[1];
    let inner: usize = shape[2..].iter().product();
    (shape[0], c, inner)
}

/// What NativeBatchNormBackward0 keeps besides its saved tensors.
#[derive(Debug, Clone)]
pub(crate) struct BatchNormNode {
    training: bool,
    eps: f64,
    has_weight: bool,
    has_bias: bool,
}

/// Options of [`Tensor::batch_norm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormOptions {
    /// Batch statistics (and running statistics updated) rather than the running ones.
    pub training: bool,
    /// Weight of the batch statistics in the running ones.
    pub momentum: f64,
    /// Added to the variance.
    pub eps: f64,
}

impl Tensor {
    /// `F.batch_norm(self, running_mean, running_var, weight, bias, training, momentum, eps)`
    /// over the channels of a `(N, C, *)` input.
    pub fn batch_norm(
        &self,
        running: [Option<&Tensor>; 2],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        options: BatchNormOptions,
    ) -> Result<Tensor> {
        let [running_mean, running_var] = running;
        if self.dim() < 2 {
            return Err(TensorError::Invalid(format!(
                "batch_norm expects an input of at least 2 dimensions (N, C, ...), but got input of size {}",
                format_shape(self.shape())
            )));
        }
        if !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "\"batch_norm\" not implemented for '{}'",
                self.dtype().short_name()
            )));
        }
        let (n, c, inner) = channel_layout(self.shape());
        for (name, t) in [
            ("weight", weight),
            ("bias", bias),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ] {
            if let Some(t) = t {
                super::ops::common_device(self, t)?;
                if t.numel() != c {
                    return Err(TensorError::Invalid(format!(
                        "{name} should contain {c} elements not {}",
                        t.numel()
                    )));
                }
            }
        }
        if options.training && n * inner == 1 {
            return Err(TensorError::Invalid(format!(
                "Expected more than 1 value per channel when training, got input size {}",
                format_shape(self.shape())
            )));
        }
        let (Some(rm), Some(rv)) = (running_mean, running_var) else {
            if !options.training {
                return Err(TensorError::Invalid(
                    "running_mean must be defined in evaluation mode".into(),
                ));
            }
            if running_mean.is_some() != running_var.is_some() {
                return Err(TensorError::Invalid(
                    "running_mean and running_var must either both be None or neither be None"
                        .into(),
                ));
            }
            return self.batch_norm_values(None, weight, bias, options, (n, c, inner));
        };
        self.batch_norm_values(Some([rm, rv]), weight, bias, options, (n, c, inner))
    }

    fn batch_norm_values(
        &self,
        running: Option<[&Tensor; 2]>,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        options: BatchNormOptions,
        (n, c, inner): (usize, usize, usize),
    ) -> Result<Tensor> {
        let rt = self.runtime();
        let out = Tensor::empty_on(rt, self.shape(), self.float_result_type(), self.device())?;
        let stat = if options.training { c } else { 0 };
        let save_mean = Tensor::empty_on(rt, &[stat], self.float_result_type(), self.device())?;
        let save_invstd = Tensor::empty_on(rt, &[stat], self.float_result_type(), self.device())?;
        let [rm, rv] = running.map_or([None, None], |[m, v]| [Some(m), Some(v)]);
        run(
            &out,
            &LayerKernel::BatchNorm(BatchNormStats {
                layout: (n, c, inner),
                training: options.training,
                momentum: options.momentum,
                eps: options.eps,
            }),
            &[Some(&out), Some(&save_mean), Some(&save_invstd)],
            &[Some(self), weight, bias, rm, rv],
        )?;
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        if let Some(mut b) = NodeBuilder::new(&inputs) {
            b.save("input", self);
            if let Some(w) = weight {
                b.save("weight", w);
            }
            if let Some([rm, rv]) = running {
                b.save("running_mean", rm);
                b.save("running_var", rv);
            }
            b.save("result1", &save_mean);
            b.save("result2", &save_invstd);
            b.finish(
                Formula::Layer(super::LayerNode::BatchNorm(BatchNormNode {
                    training: options.training,
                    eps: options.eps,
                    has_weight: weight.is_some(),
                    has_bias: bias.is_some(),
                })),
                &out,
            );
        }
        Ok(out)
    }
}

impl BatchNormNode {
    /// `native_batch_norm_backward`: the input's gradient, the weight's and the bias's, each
    /// only when needed, in that order. In training the batch statistics the node saved are
    /// used, in evaluation the running ones.
    pub(crate) fn backward(
        &self,
        node: &Node,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let input = node.unpack("input")?;
        let weight = self.has_weight.then(|| node.unpack("weight")).transpose()?;
        let (n, c, inner) = channel_layout(input.shape());
        let slots = AffineSlots {
            has_weight: self.has_weight,
            has_bias: self.has_bias,
        };
        let [dx, dw, db] = slots.allocate(&input, needs, &[c])?;
        let stats = if self.training {
            [node.unpack("result1")?, node.unpack("result2")?]
        } else {
            [node.unpack("running_mean")?, node.unpack("running_var")?]
        };
        run(
            grad,
            &LayerKernel::BatchNormBackward(BatchNormStats {
                layout: (n, c, inner),
                training: self.training,
                momentum: 0.0,
                eps: self.eps,
            }),
            &[dx.as_ref(), dw.as_ref(), db.as_ref()],
            &[
                Some(grad),
                Some(&input),
                weight.as_ref(),
                Some(&stats[0]),
                Some(&stats[1]),
            ],
        )?;
        Ok(slots.place(needs, [dx, dw, db]))
    }
}

/// The inputs `(input, weight?, bias?)` of a normalization node (batch and group norm): the
/// bias's slot follows the weight's.
#[derive(Debug, Clone, Copy)]
pub(super) struct AffineSlots {
    pub(super) has_weight: bool,
    pub(super) has_bias: bool,
}

impl AffineSlots {
    fn bias_slot(&self) -> usize {
        1 + self.has_weight as usize
    }

    /// The gradients backward asks for, in the order ATen allocates them: the input's (its
    /// shape), the weight's, the bias's (each `param_shape`), in the input's float dtype.
    pub(super) fn allocate(
        &self,
        input: &Tensor,
        needs: &[bool],
        param_shape: &[usize],
    ) -> Result<[Option<Tensor>; 3]> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let (rt, dtype, device) = (input.runtime(), input.float_result_type(), input.device());
        let alloc = |on: bool, shape: &[usize]| -> Result<Option<Tensor>> {
            on.then(|| Tensor::empty_on(rt, shape, dtype, device))
                .transpose()
        };
        Ok([
            alloc(need(0), input.shape())?,
            alloc(self.has_weight && need(1), param_shape)?,
            alloc(self.has_bias && need(self.bias_slot()), param_shape)?,
        ])
    }

    /// The node's gradients, one per input.
    pub(super) fn place(
        &self,
        needs: &[bool],
        [dx, dw, db]: [Option<Tensor>; 3],
    ) -> Vec<Option<Tensor>> {
        let mut out = vec![None; needs.len()];
        out[0] = dx;
        if self.has_weight {
            out[1] = dw;
        }
        if self.has_bias {
            out[self.bias_slot()] = db;
        }
        out
    }
}

/// The sizes and options of a batch norm kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BatchNormStats {
    /// Batch, channels, positions per channel and image.
    layout: (usize, usize, usize),
    training: bool,
    momentum: f64,
    eps: f64,
}

impl BatchNormStats {
    /// `[y, save_mean, save_invstd]` from `[x, weight?, bias?, running_mean?, running_var?]`:
    /// batch statistics in training (the running ones updated in place with the unbiased
    /// variance), the running statistics otherwise.
    pub(super) fn host_forward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let Some(x) = read(ins, 0, cx) else {
            return Ok(());
        };
        let (n, c, inner) = self.layout;
        let eps = self.eps as f32;
        let at = |b: usize, ch: usize, i: usize| (b * c + ch) * inner + i;
        let (mean, invstd): (Vec<f32>, Vec<f32>) = if self.training {
            let count = (n * inner) as f64;
            let mut mean = vec![0f32; c];
            let mut var = vec![0f32; c];
            for ch in 0..c {
                let values = || (0..n).flat_map(move |b| (0..inner).map(move |i| (b, i)));
                let m = values().map(|(b, i)| x[at(b, ch, i)] as f64).sum::<f64>() / count;
                let v = values()
                    .map(|(b, i)| (x[at(b, ch, i)] as f64 - m).powi(2))
                    .sum::<f64>()
                    / count;
                (mean[ch], var[ch]) = (m as f32, v as f32);
            }
            if let (Some(old_m), Some(old_v)) = (read(ins, 3, cx), read(ins, 4, cx)) {
                let mo = self.momentum as f32;
                let unbias = (count / (count - 1.0)) as f32;
                let new_m: Vec<f32> = (0..c)
                    .map(|ch| (1.0 - mo) * old_m[ch] + mo * mean[ch])
                    .collect();
                let new_v: Vec<f32> = (0..c)
                    .map(|ch| (1.0 - mo) * old_v[ch] + mo * var[ch] * unbias)
                    .collect();
                write(ins, 3, cx, &new_m);
                write(ins, 4, cx, &new_v);
            }
            let invstd = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
            (mean, invstd)
        } else {
            let (Some(mean), Some(var)) = (read(ins, 3, cx), read(ins, 4, cx)) else {
                return Ok(());
            };
            (mean, var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect())
        };
        let (w, b) = (read(ins, 1, cx), read(ins, 2, cx));
        let y: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                let ch = (k / inner) % c;
                let mut h = (v - mean[ch]) * invstd[ch];
                if let Some(w) = &w {
                    h *= w[ch];
                }
                if let Some(b) = &b {
                    h += b[ch];
                }
                h
            })
            .collect();
        write(outs, 0, cx, &y);
        if self.training {
            write(outs, 1, cx, &mean);
            write(outs, 2, cx, &invstd);
        }
        Ok(())
    }

    /// `[dx?, dw?, db?]` from `[dy, x, weight?, mean, invstd]` in training, or
    /// `[dy, x, weight?, running_mean, running_var]` in evaluation.
    pub(super) fn host_backward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(dy), Some(x), Some(mean), Some(second)) = (
            read(ins, 0, cx),
            read(ins, 1, cx),
            read(ins, 3, cx),
            read(ins, 4, cx),
        ) else {
            return Ok(());
        };
        let invstd: Vec<f32> = if self.training {
            second
        } else {
            second
                .iter()
                .map(|v| 1.0 / (v + self.eps as f32).sqrt())
                .collect()
        };
        let (n, c, inner) = self.layout;
        let w = read(ins, 2, cx);
        let count = (n * inner) as f32;
        let ch_of = |k: usize| (k / inner) % c;
        let (mut sum_dy, mut sum_dy_xhat) = (vec![0f32; c], vec![0f32; c]);
        for (k, (&g, &v)) in dy.iter().zip(&x).enumerate() {
            let ch = ch_of(k);
            sum_dy[ch] += g;
            sum_dy_xhat[ch] += g * (v - mean[ch]) * invstd[ch];
        }
        if operand(outs, 0).is_some() {
            let gx: Vec<f32> = dy
                .iter()
                .zip(&x)
                .enumerate()
                .map(|(k, (&g, &v))| {
                    let ch = ch_of(k);
                    let scale = invstd[ch] * w.as_ref().map_or(1.0, |w| w[ch]);
                    if self.training {
                        let xhat = (v - mean[ch]) * invstd[ch];
                        scale * (g - sum_dy[ch] / count - xhat * sum_dy_xhat[ch] / count)
                    } else {
                        scale * g
                    }
                })
                .collect();
            write(outs, 0, cx, &gx);
        }
        write(outs, 1, cx, &sum_dy_xhat);
        write(outs, 2, cx, &sum_dy);
        Ok(())
    }
}

impl Tensor {
    /// `F.instance_norm(self, weight=weight, bias=bias, use_input_stats=True, eps=eps)` without
    /// running statistics, as ATen's `instance_norm` composes it: the weight and bias
    /// repeated once per sample, the input made contiguous and viewed as one sample of
    /// N × C channels, a batch norm in training mode, and the result viewed back
    /// (ViewBackward0 over NativeBatchNormBackward0).
    pub fn instance_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        if self.dim() < 2 {
            return Err(TensorError::Invalid(format!(
                "instance_norm expects an input of at least 2 dimensions (N, C, ...), but got input of size {}",
                format_shape(self.shape())
            )));
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let repeat = |t: Option<&Tensor>| t.map(|t| t.repeat(&[n as i64])).transpose();
        let (weight, bias) = (repeat(weight)?, repeat(bias)?);
        let mut shape: Vec<isize> = self.shape().iter().map(|&s| s as isize).collect();
        shape[0] = 1;
        shape[1] = (n * c) as isize;
        let x = self.contiguous()?.view(&shape)?;
        let options = BatchNormOptions {
            training: true,
            momentum: 0.1,
            eps,
        };
        let out = x.batch_norm([None, None], weight.as_ref(), bias.as_ref(), options)?;
        let back: Vec<isize> = self.shape().iter().map(|&s| s as isize).collect();
        out.view(&back)
    }
}
