//! `upsample_nearest2d` and `upsample_bilinear2d` (what `F.interpolate` and `nn.Upsample` call
//! for 4-D input) as aten/src/ATen/native/cuda/UpSampleNearest2d.cu and UpSampleBilinear2d.cu
//! run them: the forward reads the input made contiguous into one new output; the node saves
//! no tensor, only sizes and scales; the backward allocates the input's gradient and reads the
//! gradient made contiguous (a copy when it is an expansion), except when the sizes are equal,
//! where it copies the gradient over.

use super::kernel::{Buf, Cx};
use super::layer_node::{read, run, write};
use super::{format_shape, LayerKernel, LayerNode, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

/// How output positions take input values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UpsampleMode {
    /// The value at the position the output maps back to, rounded down.
    Nearest,
    /// The four neighbours, weighted by distance; `align_corners` maps the corner pixels'
    /// centres onto each other.
    Bilinear {
        /// PyTorch's `align_corners`.
        align_corners: bool,
    },
}

/// How `F.interpolate` (and `nn.Upsample`) resizes an `(N, C, H, W)` input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interpolate {
    /// The output's `(H, W)`, or the factors that scale the input's.
    pub resize: Resize,
    /// `mode=`.
    pub mode: InterpolateMode,
    /// `recompute_scale_factor=True`: the size computed from the factors, which are then not
    /// passed on.
    pub recompute_scale_factor: bool,
}

/// `size=` or `scale_factor=`, with how the script spelled it (for `nn.Upsample`'s repr).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resize {
    /// `size=`.
    Size([usize; 2], Spelled),
    /// `scale_factor=`.
    Scale([f64; 2], Spelled),
}

/// One number for both dimensions, a tuple or a list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spelled {
    /// `2`.
    One,
    /// `(2, 3)`.
    Tuple,
    /// `[2, 3]`.
    List,
}

/// The modes of `F.interpolate` modelled for 4-D input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InterpolateMode {
    /// `'nearest'`: `upsample_nearest2d`.
    Nearest,
    /// `'bilinear'`: `upsample_bilinear2d`.
    Bilinear {
        /// `align_corners=` (False when not given).
        align_corners: bool,
    },
    /// `'area'`: `adaptive_avg_pool2d` to the computed size.
    Area,
}

/// One upsampling: the input's `(N, C, H, W)`, the output's `(H, W)`, the mode and the scale
/// factors the caller gave (which, as in ATen, choose the mapping when given).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Upsample {
    input: [usize; 4],
    output: [usize; 2],
    mode: UpsampleMode,
    scales: Option<[f64; 2]>,
}

impl Tensor {
    /// `upsample_nearest2d` / `upsample_bilinear2d` of an `(N, C, H, W)` tensor to `size`
    /// `(H', W')`, with the scale factors `F.interpolate` passes when the size came from them.
    pub fn upsample2d(
        &self,
        size: [usize; 2],
        mode: UpsampleMode,
        scales: Option<[f64; 2]>,
    ) -> Result<Tensor> {
        let &[n, c, h, w] = self.shape() else {
            return Err(TensorError::Invalid(format!(
                "Expected 4D input tensor, but got a tensor of size {}",
                format_shape(self.shape())
            )));
        };
        if h == 0 || w == 0 || size.contains(&0) {
            return Err(TensorError::Invalid(format!(
                "Input and output sizes should be greater than 0, but got input (H: {h}, W: {w}) output (H: {}, W: {})",
                size[0], size[1]
            )));
        }
        let op = Upsample {
            input: [n, c, h, w],
            output: size,
            mode,
            scales,
        };
        let x = self.contiguous()?;
        let out = Tensor::empty_on(
            x.runtime(),
            &[n, c, size[0], size[1]],
            x.float_result_type(),
            x.device(),
        )?;
        run(&out, &LayerKernel::Upsample(op), &[Some(&out)], &[Some(&x)])?;
        if let Some(b) = NodeBuilder::new(&[&x]) {
            b.finish(Formula::Layer(LayerNode::Upsample(op)), &out);
        }
        Ok(out)
    }
}

impl Tensor {
    /// `F.interpolate(self, ...)` of an `(N, C, H, W)` tensor: the output size from `size=` or
    /// from `floor(input * scale_factor)` (as ATen's `compute_output_size` truncates), then the
    /// operation the mode names, given the factors unless they were recomputed into the size.
    pub fn interpolate(&self, how: &Interpolate) -> Result<Tensor> {
        let &[_, _, h, w] = self.shape() else {
            return Err(TensorError::Invalid(format!(
                "interpolate is modelled for 4-D input (N, C, H, W), but got input of size {}",
                format_shape(self.shape())
            )));
        };
        let (size, scales) = match how.resize {
            Resize::Size(size, _) => (size, None),
            Resize::Scale(f, _) => {
                let size = [(h as f64 * f[0]) as usize, (w as f64 * f[1]) as usize];
                let recomputed = how.recompute_scale_factor || how.mode == InterpolateMode::Area;
                (size, (!recomputed).then_some(f))
            }
        };
        match how.mode {
            InterpolateMode::Nearest => self.upsample2d(size, UpsampleMode::Nearest, scales),
            InterpolateMode::Bilinear { align_corners } => {
                self.upsample2d(size, UpsampleMode::Bilinear { align_corners }, scales)
            }
            InterpolateMode::Area => self.adaptive_avg_pool2d(size),
        }
    }
}

impl Upsample {
    pub(crate) fn node_name(&self) -> &'static str {
        match self.mode {
            UpsampleMode::Nearest => "UpsampleNearest2DBackward0",
            UpsampleMode::Bilinear { .. } => "UpsampleBilinear2DBackward0",
        }
    }

    /// `upsample_*2d_backward`: the input's gradient, then (unless the sizes are equal, where
    /// the gradient is copied over) the gradient made contiguous for the kernel.
    pub(crate) fn backward(&self, grad: &Tensor) -> Result<Tensor> {
        let dx = Tensor::empty_on(
            grad.runtime(),
            &self.input,
            grad.float_result_type(),
            grad.device(),
        )?;
        if self.output == [self.input[2], self.input[3]] {
            dx.copy_(grad)?;
            return Ok(dx);
        }
        let dy = grad.contiguous()?;
        run(
            &dx,
            &LayerKernel::UpsampleBackward(*self),
            &[Some(&dx)],
            &[Some(&dy)],
        )?;
        Ok(dx)
    }

    /// For each output index along one axis, the input indices it reads and their weights:
    /// ATen's `nearest_idx` (float arithmetic, the scale the caller gave or input / output)
    /// and `area_pixel_compute_source_index` with `align_corners`.
    fn taps(&self, axis: usize) -> Vec<Vec<(usize, f32)>> {
        let (input, output) = (self.input[2 + axis], self.output[axis]);
        let given = self.scales.map(|s| s[axis]).filter(|&s| s > 0.0);
        (0..output)
            .map(|o| match self.mode {
                UpsampleMode::Nearest => {
                    let scale = given.map_or(input as f32 / output as f32, |s| (1.0 / s) as f32);
                    let i = ((o as f32 * scale).floor() as usize).min(input - 1);
                    vec![(i, 1.0)]
                }
                UpsampleMode::Bilinear { align_corners } => {
                    let scale = if align_corners {
                        if output > 1 {
                            (input - 1) as f32 / (output - 1) as f32
                        } else {
                            0.0
                        }
                    } else {
                        given.map_or(input as f32 / output as f32, |s| (1.0 / s) as f32)
                    };
                    let src = if align_corners {
                        scale * o as f32
                    } else {
                        (scale * (o as f32 + 0.5) - 0.5).max(0.0)
                    };
                    let i = src as usize;
                    let next = if i < input - 1 { i + 1 } else { i };
                    let lambda = src - i as f32;
                    // Both neighbours even at a weight of 0, as ATen's formula reads them.
                    vec![(i, 1.0 - lambda), (next, lambda)]
                }
            })
            .collect()
    }

    /// `[y]` from `[x]`.
    pub(super) fn host_forward(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let Some(x) = read(ins, 0, cx) else {
            return;
        };
        let [n, c, h, w] = self.input;
        let [oh, ow] = self.output;
        let (rows, cols) = (self.taps(0), self.taps(1));
        let mut y = vec![0f32; n * c * oh * ow];
        for plane in 0..n * c {
            let at = |i: usize, j: usize| x[(plane * h + i) * w + j];
            for (r, row) in rows.iter().enumerate() {
                for (q, col) in cols.iter().enumerate() {
                    // ATen's order: each row's taps weighted, then the rows.
                    let v = row.iter().fold(0.0, |v, &(i, wi)| {
                        v + wi * col.iter().fold(0.0, |s, &(j, wj)| s + wj * at(i, j))
                    });
                    y[(plane * oh + r) * ow + q] = v;
                }
            }
        }
        write(outs, 0, cx, &y);
    }

    /// `[dx]` from `[dy]`: each output's gradient added back to the inputs it read.
    pub(super) fn host_backward(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let Some(dy) = read(ins, 0, cx) else {
            return;
        };
        let [n, c, h, w] = self.input;
        let [oh, ow] = self.output;
        let (rows, cols) = (self.taps(0), self.taps(1));
        let mut dx = vec![0f32; n * c * h * w];
        for plane in 0..n * c {
            for (r, row) in rows.iter().enumerate() {
                for (q, col) in cols.iter().enumerate() {
                    let g = dy[(plane * oh + r) * ow + q];
                    for &(i, wi) in row {
                        for &(j, wj) in col {
                            dx[(plane * h + i) * w + j] += wi * wj * g;
                        }
                    }
                }
            }
        }
        write(outs, 0, cx, &dx);
    }
}
