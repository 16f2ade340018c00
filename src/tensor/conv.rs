//! `conv1d` and `conv2d`, as PyTorch runs them on CUDA (`cudnn_convolution`): one output
//! allocation, the bias added into it in place, and ConvolutionBackward0 saving `input` and
//! `weight` (derivatives.yaml's `convolution` entry). The host computes through im2col and the
//! `gemm` crate; a one-dimensional convolution is the two-dimensional one over a height of 1,
//! as cuDNN runs it. The arithmetic is one `Kernels::layer` call ([`LayerKernel::Conv`]).
//!
//! Not modelled: the cuDNN workspace PyTorch takes from its caching allocator for the length of
//! each convolution call (its size depends on the algorithm cuDNN picks on the card), so a
//! peak inside a convolution can be higher on a GPU than here; see `docs/fidelity.md`.

use super::kernel::{Buf, Cx};
use super::layer_node::{operand, read, run, write};
use super::{format_shape, LayerKernel, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};

/// `padding=` of a convolution.
#[derive(Debug, Clone, PartialEq)]
pub enum ConvPadding {
    /// Zeros on both sides of each spatial dimension (one value per dimension).
    Explicit(Vec<usize>),
    /// `'same'`: the output has the input's spatial size (stride 1 only).
    Same,
    /// `'valid'`: no padding.
    Valid,
}

/// Stride, padding, dilation and groups of a convolution, one value per spatial dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvOptions {
    /// `stride=`.
    pub stride: Vec<usize>,
    /// `padding=`.
    pub padding: ConvPadding,
    /// `dilation=`.
    pub dilation: Vec<usize>,
    /// `groups=`.
    pub groups: usize,
}

impl ConvOptions {
    /// PyTorch's defaults for `dims` spatial dimensions: stride 1, no padding, dilation 1,
    /// one group.
    pub fn new(dims: usize) -> ConvOptions {
        ConvOptions {
            stride: vec![1; dims],
            padding: ConvPadding::Explicit(vec![0; dims]),
            dilation: vec![1; dims],
            groups: 1,
        }
    }
}

/// A convolution's sizes, two-dimensional (a 1-d convolution has `h = kh = 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geometry {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    groups: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    oh: usize,
    ow: usize,
}

impl Geometry {
    fn cin_g(&self) -> usize {
        self.cin / self.groups
    }

    fn cout_g(&self) -> usize {
        self.cout / self.groups
    }

    /// Rows of one group's column matrix: `cin / groups × kh × kw`.
    fn k(&self) -> usize {
        self.cin_g() * self.kh * self.kw
    }

    /// Output positions per image.
    fn p(&self) -> usize {
        self.oh * self.ow
    }

    /// The columns of image `img`'s group `g`: row `(c, ki, kj)`, column `(oy, ox)`, zero where
    /// the kernel reads padding.
    fn im2col(&self, x: &[f32], img: usize, g: usize) -> Vec<f32> {
        let (cin_g, p) = (self.cin_g(), self.p());
        let plane = self.h * self.w;
        let base = (img * self.cin + g * cin_g) * plane;
        let mut cols = vec![0f32; self.k() * p];
        self.for_each_tap(|row, c, pos, src| cols[row * p + pos] = x[base + c * plane + src]);
        cols
    }

    /// Adds columns back into image `img`'s group `g` of `dx` (the adjoint of `im2col`).
    fn col2im(&self, cols: &[f32], dx: &mut [f32], img: usize, g: usize) {
        let (cin_g, p) = (self.cin_g(), self.p());
        let plane = self.h * self.w;
        let base = (img * self.cin + g * cin_g) * plane;
        self.for_each_tap(|row, c, pos, src| dx[base + c * plane + src] += cols[row * p + pos]);
    }

    /// Calls `f(column row, channel in group, output position, input offset in the plane)` for
    /// every kernel tap that reads the input rather than padding.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize, usize)) {
        for c in 0..self.cin_g() {
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let row = (c * self.kh + ki) * self.kw + kj;
                    for oy in 0..self.oh {
                        let iy = (oy * self.stride[0] + ki * self.dilation[0]) as isize
                            - self.pad[0] as isize;
                        if iy < 0 || iy >= self.h as isize {
                            continue;
                        }
                        for ox in 0..self.ow {
                            let ix = (ox * self.stride[1] + kj * self.dilation[1]) as isize
                                - self.pad[1] as isize;
                            if ix < 0 || ix >= self.w as isize {
                                continue;
                            }
                            f(
                                row,
                                c,
                                oy * self.ow + ox,
                                iy as usize * self.w + ix as usize,
                            );
                        }
                    }
                }
            }
        }
    }
}

impl Geometry {
    /// The convolution of `x` (n × cin × h × w) by `w`: per image and group, the weight times
    /// the columns.
    fn convolve(&self, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (k, p, cout_g) = (self.k(), self.p(), self.cout_g());
        let mut y = vec![0f32; self.n * self.cout * p];
        for img in 0..self.n {
            for grp in 0..self.groups {
                let cols = self.im2col(x, img, grp);
                gemm_into(
                    &mut y[(img * self.cout + grp * cout_g) * p..][..cout_g * p],
                    (cout_g, p, k),
                    Mat::rows(&w[grp * cout_g * k..][..cout_g * k], k),
                    Mat::rows(&cols, p),
                    false,
                );
            }
        }
        y
    }

    /// The gradient of the input for an output gradient `dy`: the weight's transpose times
    /// `dy`, folded back into the input's positions (what a transposed convolution computes).
    fn input_grad(&self, dy: &[f32], w: &[f32]) -> Vec<f32> {
        let (k, p, cout_g) = (self.k(), self.p(), self.cout_g());
        let mut gx = vec![0f32; self.n * self.cin * self.h * self.w];
        for img in 0..self.n {
            for grp in 0..self.groups {
                let mut cols = vec![0f32; k * p];
                gemm_into(
                    &mut cols,
                    (k, p, cout_g),
                    Mat::transposed(&w[grp * cout_g * k..][..cout_g * k], k),
                    Mat::rows(&dy[(img * self.cout + grp * cout_g) * p..][..cout_g * p], p),
                    false,
                );
                self.col2im(&cols, &mut gx, img, grp);
            }
        }
        gx
    }

    /// The gradient of the weight: the output gradient times the input's columns, summed
    /// over the images.
    fn weight_grad(&self, dy: &[f32], x: &[f32]) -> Vec<f32> {
        let (k, p, cout_g) = (self.k(), self.p(), self.cout_g());
        let mut gw = vec![0f32; self.cout * k];
        for img in 0..self.n {
            for grp in 0..self.groups {
                let cols = self.im2col(x, img, grp);
                gemm_into(
                    &mut gw[grp * cout_g * k..][..cout_g * k],
                    (cout_g, k, p),
                    Mat::rows(&dy[(img * self.cout + grp * cout_g) * p..][..cout_g * p], p),
                    Mat::transposed(&cols, p),
                    true,
                );
            }
        }
        gw
    }

    /// `[y]` from `[x, weight, bias?]`: the convolution, or (`transposed`) the transposed
    /// convolution this geometry is the adjoint of (`self.cin` channels of h × w out,
    /// `self.cout` channels of oh × ow in), which is the convolution's input gradient.
    pub(super) fn host_forward(
        &self,
        transposed: bool,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(x), Some(w)) = (read(ins, 0, cx), read(ins, 1, cx)) else {
            return Ok(());
        };
        let mut y = if transposed {
            self.input_grad(&x, &w)
        } else {
            self.convolve(&x, &w)
        };
        let (channels, plane) = self.output_channels(transposed);
        add_bias(&mut y, read(ins, 2, cx), channels, plane);
        write(outs, 0, cx, &y);
        Ok(())
    }

    /// `[dx?, dw?, db?]` from `[dy, x, weight]`. A transposed convolution's input gradient is
    /// the convolution of `dy`, its weight gradient the convolution's with the roles of input
    /// and output gradient exchanged.
    pub(super) fn host_backward(
        &self,
        transposed: bool,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(dy), Some(x), Some(w)) = (read(ins, 0, cx), read(ins, 1, cx), read(ins, 2, cx))
        else {
            return Ok(());
        };
        if operand(outs, 0).is_some() {
            let dx = if transposed {
                self.convolve(&dy, &w)
            } else {
                self.input_grad(&dy, &w)
            };
            write(outs, 0, cx, &dx);
        }
        if operand(outs, 1).is_some() {
            let dw = if transposed {
                self.weight_grad(&x, &dy)
            } else {
                self.weight_grad(&dy, &x)
            };
            write(outs, 1, cx, &dw);
        }
        if operand(outs, 2).is_some() {
            let (channels, plane) = self.output_channels(transposed);
            write(outs, 2, cx, &channel_sums(&dy, channels, plane));
        }
        Ok(())
    }

    /// The output's channels and positions per channel and image.
    fn output_channels(&self, transposed: bool) -> (usize, usize) {
        if transposed {
            (self.cin, self.h * self.w)
        } else {
            (self.cout, self.p())
        }
    }
}

/// Adds `bias[c]` to every value of channel `c` (planes of `plane` values).
fn add_bias(y: &mut [f32], bias: Option<Vec<f32>>, channels: usize, plane: usize) {
    if let Some(b) = bias {
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[(i / plane) % channels];
        }
    }
}

/// The sum of each channel's values over the batch and the positions.
fn channel_sums(dy: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    let mut sums = vec![0f32; channels];
    for (i, v) in dy.iter().enumerate() {
        sums[(i / plane) % channels] += v;
    }
    sums
}

/// A matrix operand of [`gemm_into`]: values and (row stride, column stride), so a transposed
/// operand is the same values with its strides swapped.
struct Mat<'a> {
    v: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    fn rows(v: &'a [f32], cols: usize) -> Mat<'a> {
        Mat { v, rs: cols, cs: 1 }
    }

    fn transposed(v: &'a [f32], cols: usize) -> Mat<'a> {
        Mat { v, rs: 1, cs: cols }
    }

    /// Whether every element of an `r × c` matrix lies inside the values.
    fn covers(&self, r: usize, c: usize) -> bool {
        r == 0 || c == 0 || (r - 1) * self.rs + (c - 1) * self.cs < self.v.len()
    }
}

/// Products at least this large (multiply-adds) use rayon's threads, as the matmul ops do.
const PARALLEL_GEMM_FLOPS: usize = 1 << 20;

/// `dst (m×n, row-major) = a (m×k) · b (k×n)`, or `dst += a · b` when `accumulate`, through
/// the `gemm` crate.
fn gemm_into(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    assert!(
        dst.len() >= m * n && a.covers(m, k) && b.covers(k, n),
        "gemm operand sizes"
    );
    let parallelism = if m * n * k >= PARALLEL_GEMM_FLOPS {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `dst` holds m×n row-major elements and every element of `a` (m×k) and `b`
    // (k×n) at their strides lies inside their slices (checked above); `dst` is a buffer of
    // its own that aliases neither operand. `dst = alpha·dst + 1·a·b`, reading `dst` only when
    // accumulating.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.v.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.v.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// What ConvolutionBackward0 keeps besides its saved tensors.
#[derive(Debug, Clone)]
pub(crate) struct ConvNode {
    geometry: Geometry,
    has_bias: bool,
    /// A transposed convolution, whose geometry is that of the convolution it is the adjoint
    /// of.
    transposed: bool,
}

impl ConvNode {
    /// `convolution_backward`: the input's gradient, then the weight's, then the bias's (the
    /// sum of the output gradient over batch and positions), each only when needed, in the
    /// order PyTorch's cuDNN path allocates them.
    pub(crate) fn backward(
        &self,
        node: &Node,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let input = node.unpack("input")?;
        let weight = node.unpack("weight")?;
        let g = self.geometry;
        let rt = grad.runtime();
        let alloc = |on: bool, shape: &[usize]| -> Result<Option<Tensor>> {
            on.then(|| Tensor::empty_on(rt, shape, input.float_result_type(), input.device()))
                .transpose()
        };
        let dx = alloc(need(0), input.shape())?;
        let dw = alloc(need(1), weight.shape())?;
        let kernel = if self.transposed {
            LayerKernel::ConvTransposeBackward(g)
        } else {
            LayerKernel::ConvBackward(g)
        };
        let db = alloc(
            self.has_bias && need(2),
            &[g.output_channels(self.transposed).0],
        )?;
        run(
            grad,
            &kernel,
            &[dx.as_ref(), dw.as_ref(), db.as_ref()],
            &[Some(grad), Some(&input), Some(&weight)],
        )?;
        let mut out = vec![dx, dw];
        if self.has_bias {
            out.push(db);
        }
        out.resize(needs.len(), None);
        Ok(out)
    }
}

/// Options of [`Tensor::conv_transpose2d`]: per spatial dimension (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTransposeOptions {
    /// `stride=`.
    pub stride: [usize; 2],
    /// `padding=`: removed from each side of the output.
    pub padding: [usize; 2],
    /// `output_padding=`: added to one side of the output.
    pub output_padding: [usize; 2],
    /// `dilation=`.
    pub dilation: [usize; 2],
    /// `groups=`.
    pub groups: usize,
}

impl Default for ConvTransposeOptions {
    /// PyTorch's defaults: stride 1, no padding, dilation 1, one group.
    fn default() -> ConvTransposeOptions {
        ConvTransposeOptions {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// A per-dimension option as the two-dimensional one: a 1-d convolution's height gets
/// `height` (1 for stride and dilation, 0 for padding).
fn spatial_list(name: &str, v: &[usize], dims: usize, height: usize) -> Result<[usize; 2]> {
    match (dims, v) {
        (1, [a]) => Ok([height, *a]),
        (2, [a, b]) => Ok([*a, *b]),
        _ => Err(TensorError::Invalid(format!(
            "expected {name} to be a single integer value or a list of {dims} values to match the convolution dimensions, but got {name}={}",
            format_shape(v)
        ))),
    }
}

impl Tensor {
    /// `F.conv1d(self, weight, bias, stride, padding, dilation, groups)`: `self` is
    /// (N, C, L) or unbatched (C, L).
    pub fn conv1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: &ConvOptions,
    ) -> Result<Tensor> {
        let args = [Some(self), Some(weight), bias];
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Conv, &args)? {
            return c.arg(0).conv1d(c.arg(1), c.opt(2), options);
        }
        self.convolution(weight, bias, options, 1, "conv1d")
    }

    /// `F.conv2d(self, weight, bias, stride, padding, dilation, groups)`: `self` is
    /// (N, C, H, W) or unbatched (C, H, W).
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: &ConvOptions,
    ) -> Result<Tensor> {
        let args = [Some(self), Some(weight), bias];
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Conv, &args)? {
            return c.arg(0).conv2d(c.arg(1), c.opt(2), options);
        }
        self.convolution(weight, bias, options, 2, "conv2d")
    }

    fn convolution(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: &ConvOptions,
        dims: usize,
        op: &str,
    ) -> Result<Tensor> {
        if self.dim() == dims + 1 {
            // An unbatched input runs as a batch of one: UnsqueezeBackward0 before the
            // convolution and SqueezeBackward1 after, as PyTorch records them.
            return self
                .unsqueeze(0)?
                .convolution(weight, bias, options, dims, op)?
                .squeeze(Some(0));
        }
        if self.dim() != dims + 2 {
            return Err(TensorError::Invalid(format!(
                "Expected {}D (unbatched) or {}D (batched) input to {op}, but got input of size: {}",
                dims + 1,
                dims + 2,
                format_shape(self.shape())
            )));
        }
        super::ops::common_device(self, weight)?;
        if weight.dim() != dims + 2 {
            return Err(TensorError::Invalid(format!(
                "Expected {}-dimensional input for {}-dimensional weight {}, but got {}-dimensional input of size {} instead",
                weight.dim(),
                weight.dim(),
                format_shape(weight.shape()),
                self.dim(),
                format_shape(self.shape())
            )));
        }
        if !self.dtype().is_floating_point() || !weight.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "Input type ({}) and weight type ({}) should be the same",
                self.describe(),
                weight.describe()
            )));
        }
        let groups = options.groups;
        let cout = weight.shape()[0];
        if groups == 0 {
            return Err(TensorError::Invalid(
                "non-positive groups is not supported".into(),
            ));
        }
        if cout % groups != 0 {
            return Err(TensorError::Invalid(format!(
                "Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size {} instead",
                format_shape(weight.shape())
            )));
        }
        let cin = self.shape()[1];
        if weight.shape()[1] * groups != cin {
            return Err(TensorError::Invalid(format!(
                "Given groups={groups}, weight of size {}, expected input{} to have {} channels, but got {cin} channels instead",
                format_shape(weight.shape()),
                format_shape(self.shape()),
                weight.shape()[1] * groups
            )));
        }
        if let Some(b) = bias {
            super::ops::common_device(self, b)?;
            if b.shape() != [cout] {
                return Err(TensorError::Invalid(format!(
                    "Given weight of size {}, expected bias to be 1-dimensional with {cout} elements, but got bias of size {} instead",
                    format_shape(weight.shape()),
                    format_shape(b.shape())
                )));
            }
        }
        let stride = spatial_list("stride", &options.stride, dims, 1)?;
        let dilation = spatial_list("dilation", &options.dilation, dims, 1)?;
        check_stride_and_dilation(stride, dilation)?;
        let kernel = if dims == 1 {
            [1, weight.shape()[2]]
        } else {
            [weight.shape()[2], weight.shape()[3]]
        };
        if kernel.contains(&0) {
            return Err(TensorError::Invalid(format!(
                "weight of size {} has a zero-sized kernel",
                format_shape(weight.shape())
            )));
        }
        let pad = match &options.padding {
            ConvPadding::Explicit(p) => spatial_list("padding", p, dims, 0)?,
            ConvPadding::Valid => [0, 0],
            ConvPadding::Same => {
                if stride != [1, 1] {
                    return Err(TensorError::Invalid(
                        "padding='same' is not supported for strided convolutions".into(),
                    ));
                }
                let total = [0, 1].map(|d| dilation[d] * (kernel[d] - 1));
                if total.iter().any(|t| t % 2 == 1) {
                    // PyTorch pads a copy of the input first (ConstantPadNdBackward0), an
                    // operation not modelled yet.
                    return Err(TensorError::Unsupported(
                        "padding='same' with an even kernel extent (dilation × (kernel - 1) odd), which pads a copy of the input".into(),
                    ));
                }
                total.map(|t| t / 2)
            }
        };
        let (h, w) = if dims == 1 {
            (1, self.shape()[2])
        } else {
            (self.shape()[2], self.shape()[3])
        };
        let padded = [h + 2 * pad[0], w + 2 * pad[1]];
        let extent = [0, 1].map(|d| dilation[d] * (kernel[d] - 1) + 1);
        if padded[0] < extent[0] || padded[1] < extent[1] {
            let show = |v: [usize; 2]| {
                if dims == 1 {
                    format!("({})", v[1])
                } else {
                    format!("({} x {})", v[0], v[1])
                }
            };
            return Err(TensorError::Invalid(format!(
                "Calculated padded input size per channel: {}. Kernel size: {}. Kernel size can't be greater than actual input size",
                show(padded),
                show(extent)
            )));
        }
        let geometry = Geometry {
            n: self.shape()[0],
            cin,
            h,
            w,
            cout,
            groups,
            kh: kernel[0],
            kw: kernel[1],
            stride,
            pad,
            dilation,
            oh: (padded[0] - extent[0]) / stride[0] + 1,
            ow: (padded[1] - extent[1]) / stride[1] + 1,
        };
        let mut out_shape = vec![geometry.n, cout];
        if dims == 2 {
            out_shape.push(geometry.oh);
        }
        out_shape.push(geometry.ow);
        self.run_convolution(weight, bias, geometry, &out_shape, false)
    }

    /// A convolution's (or a transposed one's) output of `out_shape`, its kernel, and
    /// ConvolutionBackward0 saving `input` and `weight`.
    fn run_convolution(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        geometry: Geometry,
        out_shape: &[usize],
        transposed: bool,
    ) -> Result<Tensor> {
        let out = Tensor::empty_on(
            self.runtime(),
            out_shape,
            self.float_result_type(),
            self.device(),
        )?;
        let kernel = if transposed {
            LayerKernel::ConvTranspose(geometry)
        } else {
            LayerKernel::Conv(geometry)
        };
        run(
            &out,
            &kernel,
            &[Some(&out)],
            &[Some(self), Some(weight), bias],
        )?;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        if let Some(mut b) = NodeBuilder::new(&inputs) {
            b.save("input", self);
            b.save("weight", weight);
            b.finish(
                Formula::Layer(super::LayerNode::Conv(ConvNode {
                    geometry,
                    has_bias: bias.is_some(),
                    transposed,
                })),
                &out,
            );
        }
        Ok(out)
    }
}

/// `_convolution`'s checks of the stride and the dilation.
fn check_stride_and_dilation(stride: [usize; 2], dilation: [usize; 2]) -> Result<()> {
    if stride.contains(&0) {
        return Err(TensorError::Invalid(
            "non-positive stride is not supported".into(),
        ));
    }
    if dilation.contains(&0) {
        return Err(TensorError::Invalid(
            "dilation should be greater than zero".into(),
        ));
    }
    Ok(())
}

impl Tensor {
    /// `F.conv_transpose2d(self, weight, bias, stride, padding, output_padding, groups,
    /// dilation)`: `self` is (N, C_in, H, W) or unbatched (C_in, H, W), `weight` (C_in,
    /// C_out / groups, kH, kW). One output allocation, and ConvolutionBackward0 saving `input`
    /// and `weight`, as for a convolution (`transposed=True`).
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        o: &ConvTransposeOptions,
    ) -> Result<Tensor> {
        let args = [Some(self), Some(weight), bias];
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Conv, &args)? {
            return c.arg(0).conv_transpose2d(c.arg(1), c.opt(2), o);
        }
        if self.dim() == 3 {
            return self
                .unsqueeze(0)?
                .conv_transpose2d(weight, bias, o)?
                .squeeze(Some(0));
        }
        let geometry = self.transposed_geometry(weight, bias, o)?;
        let out_shape = [geometry.n, geometry.cin, geometry.h, geometry.w];
        self.run_convolution(weight, bias, geometry, &out_shape, true)
    }

    /// The checks of `_convolution` for `transposed=True`, with its messages, and the
    /// geometry of the convolution the transposed one is the adjoint of: from the (larger)
    /// output to this input.
    fn transposed_geometry(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        o: &ConvTransposeOptions,
    ) -> Result<Geometry> {
        if self.dim() != 4 {
            return Err(TensorError::Invalid(format!(
                "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: {}",
                format_shape(self.shape())
            )));
        }
        super::ops::common_device(self, weight)?;
        if weight.dim() != 4 || !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "Expected 4-dimensional floating-point weight for conv_transpose2d, but got weight of size {} ({}) and input {}",
                format_shape(weight.shape()),
                weight.describe(),
                self.describe()
            )));
        }
        let (groups, cin) = (o.groups, self.shape()[1]);
        if groups == 0 {
            return Err(TensorError::Invalid(
                "non-positive groups is not supported".into(),
            ));
        }
        if weight.shape()[0] != cin {
            return Err(TensorError::Invalid(format!(
                "Given transposed=1, weight of size {}, expected input{} to have {} channels, but got {cin} channels instead",
                format_shape(weight.shape()),
                format_shape(self.shape()),
                weight.shape()[0]
            )));
        }
        if cin % groups != 0 {
            return Err(TensorError::Invalid(format!(
                "Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size {} instead",
                format_shape(weight.shape())
            )));
        }
        let cout = weight.shape()[1] * groups;
        if let Some(b) = bias {
            super::ops::common_device(self, b)?;
            if b.shape() != [cout] {
                return Err(TensorError::Invalid(format!(
                    "Given transposed=1, weight of size {}, expected bias to be 1-dimensional with {cout} elements, but got bias of size {} instead",
                    format_shape(weight.shape()),
                    format_shape(b.shape())
                )));
            }
        }
        check_stride_and_dilation(o.stride, o.dilation)?;
        let (op, s, d) = (o.output_padding, o.stride, o.dilation);
        if (0..2).any(|i| op[i] >= s[i] && op[i] >= d[i]) {
            return Err(TensorError::Invalid(format!(
                "output padding must be smaller than either stride or dilation, but got output_padding_height: {} output_padding_width: {} stride_height: {} stride_width: {} dilation_height: {} dilation_width: {}",
                op[0], op[1], s[0], s[1], d[0], d[1]
            )));
        }
        let (h, w) = (self.shape()[2], self.shape()[3]);
        let kernel = [weight.shape()[2], weight.shape()[3]];
        let size = |i: usize, input: usize| {
            (input as i64 - 1) * s[i] as i64 - 2 * o.padding[i] as i64
                + d[i] as i64 * (kernel[i] as i64 - 1)
                + op[i] as i64
                + 1
        };
        let (oh, ow) = (size(0, h), size(1, w));
        if oh < 1 || ow < 1 {
            return Err(TensorError::Invalid(format!(
                "Given input size per channel: ({h} x {w}). Calculated output size per channel: ({oh} x {ow}). Output size is too small"
            )));
        }
        Ok(Geometry {
            n: self.shape()[0],
            cin: cout,
            h: oh as usize,
            w: ow as usize,
            cout: cin,
            groups,
            kh: kernel[0],
            kw: kernel[1],
            stride: s,
            pad: o.padding,
            dilation: d,
            oh: h,
            ow: w,
        })
    }
}
