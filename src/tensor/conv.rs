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
    /// `[y]` from `[x, weight, bias?]`: per image and group, the weight times the columns.
    pub(super) fn host_forward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(x), Some(wv)) = (read(ins, 0, cx), read(ins, 1, cx)) else {
            return Ok(());
        };
        let g = self;
        let (k, p, cout_g) = (g.k(), g.p(), g.cout_g());
        let mut y = vec![0f32; g.n * g.cout * p];
        for img in 0..g.n {
            for grp in 0..g.groups {
                let cols = g.im2col(&x, img, grp);
                gemm_into(
                    &mut y[(img * g.cout + grp * cout_g) * p..][..cout_g * p],
                    (cout_g, p, k),
                    Mat::rows(&wv[grp * cout_g * k..][..cout_g * k], k),
                    Mat::rows(&cols, p),
                    false,
                );
            }
        }
        if let Some(b) = read(ins, 2, cx) {
            for (i, v) in y.iter_mut().enumerate() {
                *v += b[(i / p) % g.cout];
            }
        }
        write(outs, 0, cx, &y);
        Ok(())
    }

    /// `[dx?, dw?, db?]` from `[dy, x, weight]`: the columns' gradient folded back into the
    /// input, the output gradient times the columns, and its sum per channel.
    pub(super) fn host_backward(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(dy), Some(x), Some(w)) = (read(ins, 0, cx), read(ins, 1, cx), read(ins, 2, cx))
        else {
            return Ok(());
        };
        let g = self;
        let (want_dx, want_dw) = (operand(outs, 0).is_some(), operand(outs, 1).is_some());
        let (k, p, cout_g) = (g.k(), g.p(), g.cout_g());
        let mut gx = vec![0f32; if want_dx { x.len() } else { 0 }];
        let mut gw = vec![0f32; if want_dw { w.len() } else { 0 }];
        for img in 0..g.n {
            for grp in 0..g.groups {
                let dy_g = &dy[(img * g.cout + grp * cout_g) * p..][..cout_g * p];
                let w_g = &w[grp * cout_g * k..][..cout_g * k];
                if want_dx {
                    let mut cols = vec![0f32; k * p];
                    gemm_into(
                        &mut cols,
                        (k, p, cout_g),
                        Mat::transposed(w_g, k),
                        Mat::rows(dy_g, p),
                        false,
                    );
                    g.col2im(&cols, &mut gx, img, grp);
                }
                if want_dw {
                    let cols = g.im2col(&x, img, grp);
                    gemm_into(
                        &mut gw[grp * cout_g * k..][..cout_g * k],
                        (cout_g, k, p),
                        Mat::rows(dy_g, p),
                        Mat::transposed(&cols, p),
                        true,
                    );
                }
            }
        }
        write(outs, 0, cx, &gx);
        write(outs, 1, cx, &gw);
        if operand(outs, 2).is_some() {
            let mut gb = vec![0f32; g.cout];
            for (i, v) in dy.iter().enumerate() {
                gb[(i / p) % g.cout] += v;
            }
            write(outs, 2, cx, &gb);
        }
        Ok(())
    }
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
        let db = alloc(self.has_bias && need(2), &[g.cout])?;
        run(
            grad,
            &LayerKernel::ConvBackward(g),
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
        let out = Tensor::empty_on(
            self.runtime(),
            &out_shape,
            self.float_result_type(),
            self.device(),
        )?;
        run(
            &out,
            &LayerKernel::Conv(geometry),
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
                })),
                &out,
            );
        }
        Ok(out)
    }
}
