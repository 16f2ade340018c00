//! `group_norm` as PyTorch runs it on CUDA (aten/src/ATen/native/group_norm.cpp and
//! aten/src/ATen/native/cuda/group_norm_kernel.cu; docs/autograd.md has the allocation order):
//! `native_group_norm` allocates the output, then the per-(sample, group) mean and reciprocal
//! standard deviation (`result1`, `result2`, each N × G), and with a weight or a bias two N × C
//! scratch buffers of fused scale and shift that its kernel frees before returning.
//! NativeGroupNormBackward0 saves `input`, `weight`, `result1` and `result2`; its backward makes
//! the gradient contiguous, allocates the gradients asked for, and its kernel allocates N × C
//! partial sums and N × G (plus, with a weight, N × C) coefficients that it frees again.

use super::batchnorm::AffineSlots;
use super::kernel::{Buf, Cx};
use super::layer_node::{read, run, write};
use super::{format_shape, LayerKernel, LayerNode, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};
use crate::base::DType;

/// The sizes of a group norm over an `(N, C, *)` input and its epsilon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GroupNormDims {
    n: usize,
    c: usize,
    /// Positions per channel and sample (the product of the spatial sizes).
    hxw: usize,
    groups: usize,
    eps: f64,
}

impl GroupNormDims {
    /// Elements of one (sample, group) row: the group's channels times their positions.
    fn row(&self) -> usize {
        self.c / self.groups * self.hxw
    }

    /// The channel of element `j` of row `r`.
    fn channel(&self, r: usize, j: usize) -> usize {
        (r % self.groups) * (self.c / self.groups) + j / self.hxw
    }
}

/// What NativeGroupNormBackward0 keeps besides its saved tensors.
#[derive(Debug, Clone)]
pub(crate) struct GroupNormNode {
    dims: GroupNormDims,
    has_weight: bool,
    has_bias: bool,
}

/// The dtype ATen's CUDA kernels accumulate in: float for half and bfloat16 inputs.
fn accumulate_type(dtype: DType) -> DType {
    match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

impl Tensor {
    /// `F.group_norm(self, num_groups, weight, bias, eps)`: normalizes each sample's channels
    /// in `num_groups` groups, then scales and shifts each channel by `weight` and `bias`.
    pub fn group_norm(
        &self,
        num_groups: usize,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        if self.dim() < 2 {
            return Err(TensorError::Invalid(format!(
                "Expected at least 2 dimensions for input tensor but received {}",
                self.dim()
            )));
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let dims = GroupNormDims {
            n,
            c,
            hxw: self.shape()[2..].iter().product(),
            groups: num_groups,
            eps,
        };
        self.check_group_norm(dims, weight, bias)?;
        // group_norm makes the input and the parameters contiguous before native_group_norm,
        // whose node records what it was given.
        let x = self.contiguous()?;
        let weight = weight.map(Tensor::contiguous).transpose()?;
        let bias = bias.map(Tensor::contiguous).transpose()?;
        let rt = x.runtime();
        let dtype = x.float_result_type();
        let out = Tensor::empty_on(rt, x.shape(), dtype, x.device())?;
        let mean = Tensor::empty_on(rt, &[n, num_groups], dtype, x.device())?;
        let rstd = Tensor::empty_on(rt, &[n, num_groups], dtype, x.device())?;
        let fused = if n > 0 && dims.hxw != 1 && (weight.is_some() || bias.is_some()) {
            let scale = Tensor::empty_on(rt, &[n, c], accumulate_type(dtype), x.device())?;
            let shift = Tensor::empty_on(rt, &[n, c], accumulate_type(dtype), x.device())?;
            Some([scale, shift])
        } else {
            None
        };
        run(
            &out,
            &LayerKernel::GroupNorm(dims),
            &[Some(&out), Some(&mean), Some(&rstd)],
            &[Some(&x), weight.as_ref(), bias.as_ref()],
        )?;
        // C++ destroys the kernel's locals in reverse: the shift, then the scale.
        if let Some([scale, shift]) = fused {
            drop(shift);
            drop(scale);
        }
        let mut inputs = vec![&x];
        inputs.extend(weight.as_ref());
        inputs.extend(bias.as_ref());
        if let Some(mut b) = NodeBuilder::new(&inputs) {
            b.save("input", &x);
            if let Some(w) = &weight {
                b.save("weight", w);
            }
            b.save("result1", &mean);
            b.save("result2", &rstd);
            b.finish(
                Formula::Layer(LayerNode::GroupNorm(GroupNormNode {
                    dims,
                    has_weight: weight.is_some(),
                    has_bias: bias.is_some(),
                })),
                &out,
            );
        }
        // group_norm keeps the first of native_group_norm's three results; the tuple's
        // destructor releases the others in order.
        drop(mean);
        drop(rstd);
        Ok(out)
    }

    /// `check_group_norm_inputs` (group_norm.h), with its messages.
    fn check_group_norm(
        &self,
        dims: GroupNormDims,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
    ) -> Result<()> {
        if !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "\"GroupNormKernelImpl\" not implemented for '{}'",
                self.dtype().short_name()
            )));
        }
        if dims.groups == 0 {
            return Err(TensorError::Invalid(
                "Expected num groups to be greater than 0, got 0".into(),
            ));
        }
        if dims.c % dims.groups != 0 {
            return Err(TensorError::Invalid(format!(
                "Expected number of channels in input to be divisible by num_groups, but got input of shape {} and num_groups={}",
                format_shape(self.shape()),
                dims.groups
            )));
        }
        for (name, p) in [("weight", weight), ("bias", bias)] {
            let Some(p) = p else { continue };
            super::ops::common_device(self, p)?;
            if p.dim() != 1 || p.numel() != dims.c {
                // ATen's bias message prints the weight's shape (its copy of the weight check).
                let shown = if name == "bias" {
                    weight.unwrap_or(p)
                } else {
                    p
                };
                return Err(TensorError::Invalid(format!(
                    "Expected {name} to be a vector of size equal to the number of channels in input, but got {name} of shape {} and input of shape {}",
                    format_shape(shown.shape()),
                    format_shape(self.shape())
                )));
            }
        }
        Ok(())
    }
}

impl GroupNormNode {
    /// `native_group_norm_backward`: the gradient made contiguous, the input's gradient, the
    /// weight's and the bias's (each only when needed, in that order), then the CUDA kernel's
    /// scratch: N × C sums of `dy * x` and `dy`, and for the input's gradient N × G
    /// coefficients and, with a weight, N × C of `rstd * weight`.
    pub(crate) fn backward(
        &self,
        node: &Node,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let input = node.unpack("input")?;
        let weight = self.has_weight.then(|| node.unpack("weight")).transpose()?;
        let (mean, rstd) = (node.unpack("result1")?, node.unpack("result2")?);
        let GroupNormDims {
            n, c, hxw, groups, ..
        } = self.dims;
        let dy = grad.contiguous()?;
        let slots = AffineSlots {
            has_weight: self.has_weight,
            has_bias: self.has_bias,
        };
        let [dx, dw, db] = slots.allocate(&input, needs, &[c])?;
        let (rt, dtype, device) = (grad.runtime(), input.float_result_type(), input.device());
        let scratch = |shape: &[usize]| Tensor::empty_on(rt, shape, accumulate_type(dtype), device);
        let sums = if n > 0 {
            Some([scratch(&[n, c])?, scratch(&[n, c])?])
        } else {
            None
        };
        let coefficients = if n > 0 && dx.is_some() {
            let c2 = scratch(&[n, groups])?;
            let c3 = scratch(&[n, groups])?;
            // Only the kernel for positions (HxW > 1) materializes `rstd * weight`, as the
            // output a TensorIterator resizes from an empty tensor.
            let c1 = (hxw != 1 && weight.is_some())
                .then(|| scratch(&[n, c]))
                .transpose()?;
            Some((c1, c2, c3))
        } else {
            None
        };
        run(
            grad,
            &LayerKernel::GroupNormBackward(self.dims),
            &[dx.as_ref(), dw.as_ref(), db.as_ref()],
            &[
                Some(&dy),
                Some(&input),
                Some(&mean),
                Some(&rstd),
                weight.as_ref(),
            ],
        )?;
        // Released as C++ destroys them: the coefficients' scope in reverse, then the sums.
        if let Some((c1, c2, c3)) = coefficients {
            drop(c3);
            drop(c2);
            drop(c1);
        }
        if let Some([ds, dbias]) = sums {
            drop(dbias);
            drop(ds);
        }
        Ok(slots.place(needs, [dx, dw, db]))
    }
}

impl GroupNormDims {
    /// `[y, mean, rstd]` from `[x, weight?, bias?]`: each (sample, group) row's mean and
    /// biased variance summed in f64, as the layer norm's host kernel does.
    pub(super) fn host_forward(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let Some(x) = read(ins, 0, cx) else {
            return;
        };
        let (w, b) = (read(ins, 1, cx), read(ins, 2, cx));
        let (rows, len) = (self.n * self.groups, self.row());
        let (mut y, mut mean, mut rstd) = (vec![0f32; x.len()], vec![0f32; rows], vec![0f32; rows]);
        for r in 0..rows {
            let row = &x[r * len..(r + 1) * len];
            let m = (row.iter().map(|&v| v as f64).sum::<f64>() / len as f64) as f32;
            let var =
                (row.iter().map(|&v| ((v - m) as f64).powi(2)).sum::<f64>() / len as f64) as f32;
            let rs = 1.0 / (var + self.eps as f32).sqrt();
            for (j, &v) in row.iter().enumerate() {
                let ch = self.channel(r, j);
                let mut h = (v - m) * rs;
                if let Some(w) = &w {
                    h *= w[ch];
                }
                if let Some(b) = &b {
                    h += b[ch];
                }
                y[r * len + j] = h;
            }
            (mean[r], rstd[r]) = (m, rs);
        }
        write(outs, 0, cx, &y);
        write(outs, 1, cx, &mean);
        write(outs, 2, cx, &rstd);
    }

    /// `[dx?, dw?, db?]` from `[dy, x, mean, rstd, weight?]`.
    pub(super) fn host_backward(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let (Some(dy), Some(x), Some(mean), Some(rstd)) = (
            read(ins, 0, cx),
            read(ins, 1, cx),
            read(ins, 2, cx),
            read(ins, 3, cx),
        ) else {
            return;
        };
        let w = read(ins, 4, cx);
        let (rows, len) = (self.n * self.groups, self.row());
        let (mut gx, mut gw, mut gb) =
            (vec![0f32; x.len()], vec![0f32; self.c], vec![0f32; self.c]);
        for r in 0..rows {
            let at = |j: usize| r * len + j;
            let xhat = |j: usize| (x[at(j)] - mean[r]) * rstd[r];
            let g = |j: usize| dy[at(j)] * w.as_ref().map_or(1.0, |w| w[self.channel(r, j)]);
            let mean_g = (0..len).map(|j| g(j) as f64).sum::<f64>() / len as f64;
            let mean_gx = (0..len).map(|j| (g(j) * xhat(j)) as f64).sum::<f64>() / len as f64;
            for j in 0..len {
                gx[at(j)] = rstd[r] * (g(j) - mean_g as f32 - xhat(j) * mean_gx as f32);
                let ch = self.channel(r, j);
                gw[ch] += dy[at(j)] * xhat(j);
                gb[ch] += dy[at(j)];
            }
        }
        write(outs, 0, cx, &gx);
        write(outs, 1, cx, &gw);
        write(outs, 2, cx, &gb);
    }
}
