//! Two-dimensional pooling as PyTorch runs it on CUDA: `max_pool2d` (an output and int64
//! indices, MaxPool2DWithIndicesBackward0 saving `self` and `result1`), `avg_pool2d`
//! (AvgPool2DBackward0 saving `self`) and `adaptive_avg_pool2d` (a mean over the last two
//! dimensions for a 1×1 output, else AdaptiveAvgPool2DBackward0 saving `self`). Each backward
//! allocates the input's gradient once.

use super::kernel::{Buf, Cx};
use super::layer_node::{forward_saving_self, input_grad, operand, read, run, write};
use super::{format_shape, DType, Device, LayerKernel, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};

/// Planes (batch × channels) and the sizes of a pooling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    planes: usize,
    h: usize,
    w: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    oh: usize,
    ow: usize,
}

/// Options of `max_pool2d` and `avg_pool2d`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolOptions {
    /// `kernel_size=`.
    pub kernel: [usize; 2],
    /// `stride=`; `None` is the kernel size.
    pub stride: Option<[usize; 2]>,
    /// `padding=`.
    pub padding: [usize; 2],
    /// `dilation=` (max pooling only).
    pub dilation: [usize; 2],
    /// `ceil_mode=`.
    pub ceil_mode: bool,
}

impl PoolOptions {
    /// A `kernel`-sized window with PyTorch's defaults (stride = kernel, no padding).
    pub fn new(kernel: [usize; 2]) -> PoolOptions {
        PoolOptions {
            kernel,
            stride: None,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }
}

/// `pooling_output_shape`: with `ceil_mode`, the last window must start inside the input or
/// its left padding.
pub(super) fn output_size(
    input: usize,
    kernel: usize,
    pad: usize,
    stride: usize,
    dilation: usize,
    ceil: bool,
) -> i64 {
    let (i, k, p, s, d) = (
        input as i64,
        kernel as i64,
        pad as i64,
        stride as i64,
        dilation as i64,
    );
    let num = i + 2 * p - d * (k - 1) - 1 + if ceil { s - 1 } else { 0 };
    let mut out = num.div_euclid(s) + 1;
    if ceil && (out - 1) * s >= i + p {
        out -= 1;
    }
    out
}

impl Tensor {
    /// The (planes, height, width) of a 3-D or 4-D input to `op`.
    fn pool_input(&self, op: &str) -> Result<(usize, usize, usize)> {
        let d = self.dim();
        if !(d == 3 || d == 4) || self.shape()[d - 3..].contains(&0) {
            return Err(TensorError::Invalid(format!(
                "{op}: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: {}",
                format_shape(self.shape())
            )));
        }
        if !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "\"{op}\" not implemented for '{}'",
                self.dtype().short_name()
            )));
        }
        let s = self.shape();
        Ok((s[..d - 2].iter().product(), s[d - 2], s[d - 1]))
    }

    fn pool_window(&self, options: &PoolOptions, op: &str) -> Result<Window> {
        let (planes, h, w) = self.pool_input(op)?;
        let kernel = options.kernel;
        let stride = options.stride.unwrap_or(kernel);
        if kernel.contains(&0) {
            return Err(TensorError::Invalid(format!(
                "kernel size should be greater than zero, but got kH: {} kW: {}",
                kernel[0], kernel[1]
            )));
        }
        if stride.contains(&0) {
            return Err(TensorError::Invalid(format!(
                "stride should be greater than zero, but got dH: {} dW: {}",
                stride[0], stride[1]
            )));
        }
        if options.dilation.contains(&0) {
            return Err(TensorError::Invalid(format!(
                "dilation should be greater than zero, but got dilationH: {} dilationW: {}",
                options.dilation[0], options.dilation[1]
            )));
        }
        for ((&pad, &k), &dilation) in options.padding.iter().zip(&kernel).zip(&options.dilation) {
            if pad > k / 2 {
                return Err(TensorError::Invalid(format!(
                    "pad should be at most half of effective kernel size, but got pad={pad}, kernel_size={k} and dilation={dilation}"
                )));
            }
        }
        let size = |d: usize, input: usize| {
            output_size(
                input,
                kernel[d],
                options.padding[d],
                stride[d],
                options.dilation[d],
                options.ceil_mode,
            )
        };
        let (oh, ow) = (size(0, h), size(1, w));
        if oh < 1 || ow < 1 {
            return Err(TensorError::Invalid(format!(
                "Given input size: ({}x{h}x{w}). Calculated output size: ({}x{oh}x{ow}). Output size is too small",
                self.shape()[self.dim() - 3],
                self.shape()[self.dim() - 3]
            )));
        }
        Ok(Window {
            planes,
            h,
            w,
            kernel,
            stride,
            pad: options.padding,
            dilation: options.dilation,
            oh: oh as usize,
            ow: ow as usize,
        })
    }

    fn pooled_shape(&self, oh: usize, ow: usize) -> Vec<usize> {
        let mut shape = self.shape()[..self.dim() - 2].to_vec();
        shape.extend([oh, ow]);
        shape
    }

    /// `F.max_pool2d(self, kernel_size, stride, padding, dilation, ceil_mode)`: on the device,
    /// or whenever a gradient is wanted, PyTorch runs `max_pool2d_with_indices`, allocating the
    /// output and then the int64 indices (the flat position in each input plane), which
    /// MaxPool2DWithIndicesBackward0 saves as `result1` along with `self`. A host tensor that
    /// needs no gradient gets the output alone.
    pub fn max_pool2d(&self, options: &PoolOptions) -> Result<Tensor> {
        let win = self.pool_window(options, "max_pool2d")?;
        let shape = self.pooled_shape(win.oh, win.ow);
        let rt = self.runtime();
        let out = Tensor::empty_on(rt, &shape, self.float_result_type(), self.device())?;
        // ATen's test is `self.requires_grad() || !self.device().is_cpu()`, grad mode aside.
        let indices = if self.device() == Device::Cuda || self.requires_grad() {
            Some(Tensor::empty_on(rt, &shape, DType::I64, self.device())?)
        } else {
            None
        };
        run(
            &out,
            &LayerKernel::MaxPool(win),
            &[Some(&out), indices.as_ref()],
            &[Some(self)],
        )?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("self", self);
            if let Some(i) = &indices {
                b.save("result1", i);
            }
            b.finish(Formula::Layer(super::LayerNode::MaxPool2d(win)), &out);
        }
        Ok(out)
    }

    /// `F.avg_pool2d(self, kernel_size, stride, padding, ceil_mode, count_include_pad,
    /// divisor_override)`: one output; AvgPool2DBackward0 saves `self`.
    pub fn avg_pool2d(
        &self,
        options: &PoolOptions,
        count_include_pad: bool,
        divisor_override: Option<usize>,
    ) -> Result<Tensor> {
        if options.dilation != [1, 1] {
            return Err(TensorError::Invalid("avg_pool2d has no dilation".into()));
        }
        if divisor_override == Some(0) {
            return Err(TensorError::Invalid("divisor must be not zero".into()));
        }
        let win = self.pool_window(options, "avg_pool2d")?;
        let avg = AvgPool {
            window: win,
            count_include_pad,
            divisor_override,
        };
        forward_saving_self(
            self,
            &self.pooled_shape(win.oh, win.ow),
            &LayerKernel::AvgPool(avg),
            super::LayerNode::AvgPool2d(avg),
        )
    }

    /// `F.adaptive_avg_pool2d(self, output_size)`: for a 1×1 output PyTorch takes
    /// `self.mean((-1, -2), keepdim=True)` (MeanBackward1); otherwise `_adaptive_avg_pool2d`,
    /// one output, AdaptiveAvgPool2DBackward0 saving `self`. Window `o` of `n` over `i`
    /// inputs covers `[floor(o·i/n), ceil((o+1)·i/n))`.
    pub fn adaptive_avg_pool2d(&self, output_size: [usize; 2]) -> Result<Tensor> {
        let (planes, h, w) = self.pool_input("adaptive_avg_pool2d")?;
        if output_size == [1, 1] {
            return self.mean_dim(&[-1, -2], true);
        }
        let [oh, ow] = output_size;
        let adaptive = Adaptive {
            planes,
            h,
            w,
            oh,
            ow,
        };
        forward_saving_self(
            self,
            &self.pooled_shape(oh, ow),
            &LayerKernel::AdaptiveAvgPool(adaptive),
            super::LayerNode::AdaptiveAvgPool2d(adaptive),
        )
    }
}

impl Window {
    /// Calls `f(flat position in the plane)` for every input element the window at (oy, ox)
    /// reads (padding is skipped).
    fn for_each_in_window(&self, oy: usize, ox: usize, mut f: impl FnMut(usize)) {
        for ki in 0..self.kernel[0] {
            let iy = (oy * self.stride[0] + ki * self.dilation[0]) as isize - self.pad[0] as isize;
            if iy < 0 || iy >= self.h as isize {
                continue;
            }
            for kj in 0..self.kernel[1] {
                let ix =
                    (ox * self.stride[1] + kj * self.dilation[1]) as isize - self.pad[1] as isize;
                if ix < 0 || ix >= self.w as isize {
                    continue;
                }
                f(iy as usize * self.w + ix as usize);
            }
        }
    }

    /// `max_pool2d_with_indices_backward`: a zero gradient of the input's shape, each output
    /// gradient added at its saved index.
    pub(crate) fn max_backward(&self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let input = node.unpack("self")?;
        let indices = node.unpack("result1")?;
        input_grad(
            &input,
            grad,
            &LayerKernel::MaxPoolBackward(*self),
            &[Some(grad), Some(&indices)],
        )
    }

    /// `[y, indices?]` from `[x]`: each window's first maximum and its flat position in the
    /// plane.
    pub(super) fn host_max(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let Some(x) = read(ins, 0, cx) else {
            return Ok(());
        };
        let win = self;
        let per = win.oh * win.ow;
        let mut y = vec![0f32; win.planes * per];
        let mut at = vec![0i64; win.planes * per];
        for plane in 0..win.planes {
            let xp = &x[plane * win.h * win.w..][..win.h * win.w];
            for oy in 0..win.oh {
                for ox in 0..win.ow {
                    let (mut best, mut best_at) = (f32::NEG_INFINITY, -1i64);
                    win.for_each_in_window(oy, ox, |pos| {
                        let v = xp[pos];
                        // The first maximum wins, and the first NaN over any number, as
                        // ATen's kernels compare.
                        if best_at < 0 || v > best || (v.is_nan() && !best.is_nan()) {
                            (best, best_at) = (v, pos as i64);
                        }
                    });
                    y[plane * per + oy * win.ow + ox] = best;
                    at[plane * per + oy * win.ow + ox] = best_at;
                }
            }
        }
        write(outs, 0, cx, &y);
        if let Some(i) = operand(outs, 1) {
            i.write_i64(cx, &at);
        }
        Ok(())
    }

    /// `[dx]` from `[dy, indices]`.
    pub(super) fn host_max_backward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(dy), Some(at)) = (
            read(ins, 0, cx),
            operand(ins, 1).and_then(|b| b.read_i64(cx)),
        ) else {
            return Ok(());
        };
        let (plane, per) = (self.h * self.w, self.oh * self.ow);
        let mut g = vec![0f32; self.planes * plane];
        for (i, (v, &pos)) in dy.iter().zip(&at).enumerate() {
            if pos >= 0 {
                g[(i / per) * plane + pos as usize] += v;
            }
        }
        write(outs, 0, cx, &g);
        Ok(())
    }
}

/// What AvgPool2DBackward0 keeps besides `self`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AvgPool {
    window: Window,
    count_include_pad: bool,
    divisor_override: Option<usize>,
}

impl AvgPool {
    /// ATen's divisor for the window at (oy, ox): the override, or the window's size clipped
    /// to the padded input (`count_include_pad`), or to the input itself.
    fn divisor(&self, oy: usize, ox: usize) -> usize {
        if let Some(d) = self.divisor_override {
            return d;
        }
        let w = &self.window;
        let span = |o: usize, d: usize, size: usize| {
            let start = (o * w.stride[d]) as isize - w.pad[d] as isize;
            let end = (start + w.kernel[d] as isize).min((size + w.pad[d]) as isize);
            let padded = (end - start) as usize;
            let inside = (end.min(size as isize) - start.max(0)) as usize;
            (padded, inside)
        };
        let (ph, ih) = span(oy, 0, w.h);
        let (pw, iw) = span(ox, 1, w.w);
        if self.count_include_pad {
            ph * pw
        } else {
            ih * iw
        }
    }

    /// `avg_pool2d_backward`: each output gradient spread evenly over its window.
    pub(crate) fn backward(&self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let input = node.unpack("self")?;
        input_grad(
            &input,
            grad,
            &LayerKernel::AvgPoolBackward(*self),
            &[Some(grad)],
        )
    }

    /// `[y]` from `[x]`: each window's sum over its divisor.
    pub(super) fn host_forward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let Some(x) = read(ins, 0, cx) else {
            return Ok(());
        };
        let win = &self.window;
        let per = win.oh * win.ow;
        let mut y = vec![0f32; win.planes * per];
        for plane in 0..win.planes {
            let xp = &x[plane * win.h * win.w..][..win.h * win.w];
            for oy in 0..win.oh {
                for ox in 0..win.ow {
                    let mut sum = 0f32;
                    win.for_each_in_window(oy, ox, |pos| sum += xp[pos]);
                    y[plane * per + oy * win.ow + ox] = sum / self.divisor(oy, ox) as f32;
                }
            }
        }
        write(outs, 0, cx, &y);
        Ok(())
    }

    /// `[dx]` from `[dy]`.
    pub(super) fn host_backward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let Some(dy) = read(ins, 0, cx) else {
            return Ok(());
        };
        let w = &self.window;
        let (plane, per) = (w.h * w.w, w.oh * w.ow);
        let mut g = vec![0f32; w.planes * plane];
        for p in 0..w.planes {
            for oy in 0..w.oh {
                for ox in 0..w.ow {
                    let v = dy[p * per + oy * w.ow + ox] / self.divisor(oy, ox) as f32;
                    w.for_each_in_window(oy, ox, |pos| g[p * plane + pos] += v);
                }
            }
        }
        write(outs, 0, cx, &g);
        Ok(())
    }
}

/// What AdaptiveAvgPool2DBackward0 keeps besides `self`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Adaptive {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Adaptive {
    fn ranges(&self, oy: usize, ox: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let range = |o: usize, n: usize, i: usize| (o * i / n)..((o + 1) * i).div_ceil(n);
        (range(oy, self.oh, self.h), range(ox, self.ow, self.w))
    }

    /// `_adaptive_avg_pool2d_backward`: each output gradient spread evenly over its window.
    pub(crate) fn backward(&self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let input = node.unpack("self")?;
        input_grad(
            &input,
            grad,
            &LayerKernel::AdaptiveAvgPoolBackward(*self),
            &[Some(grad)],
        )
    }

    /// `[y]` from `[x]`: each window's mean.
    pub(super) fn host_forward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let Some(x) = read(ins, 0, cx) else {
            return Ok(());
        };
        let (h, w, oh, ow) = (self.h, self.w, self.oh, self.ow);
        let mut y = vec![0f32; self.planes * oh * ow];
        for plane in 0..self.planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (ys, xs) = self.ranges(oy, ox);
                    let mut sum = 0f32;
                    for iy in ys.clone() {
                        for ix in xs.clone() {
                            sum += x[(plane * h + iy) * w + ix];
                        }
                    }
                    y[(plane * oh + oy) * ow + ox] = sum / (ys.len() * xs.len()) as f32;
                }
            }
        }
        write(outs, 0, cx, &y);
        Ok(())
    }

    /// `[dx]` from `[dy]`.
    pub(super) fn host_backward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let Some(dy) = read(ins, 0, cx) else {
            return Ok(());
        };
        let mut g = vec![0f32; self.planes * self.h * self.w];
        for p in 0..self.planes {
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    let (ys, xs) = self.ranges(oy, ox);
                    let v = dy[(p * self.oh + oy) * self.ow + ox] / (ys.len() * xs.len()) as f32;
                    for iy in ys {
                        for ix in xs.clone() {
                            g[(p * self.h + iy) * self.w + ix] += v;
                        }
                    }
                }
            }
        }
        write(outs, 0, cx, &g);
        Ok(())
    }
}
