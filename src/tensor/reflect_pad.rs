//! `F.pad(..., mode='reflect')` of the last one or two dimensions (`reflection_pad1d`,
//! `reflection_pad2d`; aten/src/ATen/native/ReflectionPad.cpp and cuda/ReflectionPad.cu): one
//! output; ReflectionPad1DBackward0 / ReflectionPad2DBackward0 save `self` (derivatives.yaml
//! `reflection_pad2d`: `self: reflection_pad2d_backward_symint(grad, self, padding)`), so the
//! input lives as long as the graph; the backward allocates the input's gradient as zeros and
//! reads the gradient made contiguous.

use super::kernel::{Buf, Cx};
use super::layer_node::{read, run, write};
use super::{format_shape, LayerKernel, LayerNode, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};

/// A reflection padding of the last `dims` (1 or 2) dimensions of a tensor of `shape`:
/// `pad` is (left, right) for the last dimension, then (top, bottom).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReflectPad {
    shape: Vec<usize>,
    pad: [i64; 4],
    dims: usize,
}

impl ReflectPad {
    pub(crate) fn node_name(&self) -> &'static str {
        if self.dims == 1 {
            "ReflectionPad1DBackward0"
        } else {
            "ReflectionPad2DBackward0"
        }
    }

    /// The padded shape.
    fn out_shape(&self) -> Vec<usize> {
        let mut shape = self.shape.clone();
        let n = shape.len();
        for d in 0..self.dims {
            let at = n - 1 - d;
            shape[at] = (shape[at] as i64 + self.pad[2 * d] + self.pad[2 * d + 1]) as usize;
        }
        shape
    }

    /// For each output index along padded dimension `d` (0: last), the input index it reads:
    /// ATen's reflection index arithmetic, negative paddings cropping.
    fn sources(&self, d: usize) -> Vec<usize> {
        let input = self.shape[self.shape.len() - 1 - d] as i64;
        let (before, after) = (self.pad[2 * d], self.pad[2 * d + 1]);
        let (i_start, o_start) = ((-before).max(0), before.max(0));
        (0..input + before + after)
            .map(|j| {
                let p = if j < before {
                    before * 2 - j
                } else if j >= before + input {
                    (input + before - 1) * 2 - j
                } else {
                    j
                };
                (p - o_start + i_start) as usize
            })
            .collect()
    }

    /// Calls `f(output offset, input offset)` for every output element.
    fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        let out = self.out_shape();
        let n = self.shape.len();
        let (w, ow) = (self.shape[n - 1], out[n - 1]);
        let (h, oh) = if self.dims == 2 {
            (self.shape[n - 2], out[n - 2])
        } else {
            (1, 1)
        };
        let cols = self.sources(0);
        let rows = if self.dims == 2 {
            self.sources(1)
        } else {
            vec![0]
        };
        let planes: usize = self.shape[..n - self.dims].iter().product();
        for plane in 0..planes {
            for (r, &sr) in rows.iter().enumerate() {
                for (q, &sq) in cols.iter().enumerate() {
                    f((plane * oh + r) * ow + q, (plane * h + sr) * w + sq);
                }
            }
        }
    }

    /// `[y]` from `[x]`.
    pub(super) fn host_forward(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let Some(x) = read(ins, 0, cx) else {
            return;
        };
        let mut y = vec![0f32; self.out_shape().iter().product()];
        self.for_each(|o, i| y[o] = x[i]);
        write(outs, 0, cx, &y);
    }

    /// `[dx]` from `[dy]`: each output's gradient added to the input element it copied.
    pub(super) fn host_backward(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let Some(dy) = read(ins, 0, cx) else {
            return;
        };
        let mut dx = vec![0f32; self.shape.iter().product()];
        self.for_each(|o, i| dx[i] += dy[o]);
        write(outs, 0, cx, &dx);
    }

    /// `reflection_pad{1,2}d_backward`: zeros of the input's shape, the gradient made
    /// contiguous, the sums.
    pub(crate) fn backward(&self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let input = node.unpack("self")?;
        let dx = input.zeros_like()?;
        let dy = grad.contiguous()?;
        run(
            &dx,
            &LayerKernel::ReflectionPadBackward(self.clone()),
            &[Some(&dx)],
            &[Some(&dy)],
        )?;
        Ok(dx)
    }
}

impl Tensor {
    /// `F.pad(self, pad, mode='reflect')` with 2 (the last dimension of a 2-D or 3-D tensor)
    /// or 4 (the last two of a 3-D or 4-D one) paddings, as (left, right, top, bottom).
    pub fn reflection_pad(&self, pad: &[i64]) -> Result<Tensor> {
        let dims = pad.len() / 2;
        let n = self.dim();
        let fits = matches!((pad.len(), n), (2, 2 | 3) | (4, 3 | 4));
        if !fits {
            return Err(TensorError::Unsupported(format!(
                "Padding size {} is not supported for {n}D input tensor.\nSupported combinations for non-constant padding:\n  - 2D or 3D input: padding size = 2 (pads last dimension)\n  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)",
                pad.len()
            )));
        }
        let mut padding = [0i64; 4];
        padding[..pad.len()].copy_from_slice(pad);
        for d in 0..dims {
            let size = self.shape()[n - 1 - d] as i64;
            let (a, b) = (padding[2 * d], padding[2 * d + 1]);
            if a >= size || b >= size {
                return Err(TensorError::Invalid(format!(
                    "Argument #4: Padding size should be less than the corresponding input dimension, but got: padding ({a}, {b}) at dimension {} of input {}",
                    n - 1 - d,
                    format_shape(self.shape())
                )));
            }
            if size + a + b < 1 {
                return Err(TensorError::Invalid(format!(
                    "input (H: {size}) is too small. Calculated output H: {}",
                    size + a + b
                )));
            }
        }
        let op = ReflectPad {
            shape: self.shape().to_vec(),
            pad: padding,
            dims,
        };
        let x = self.contiguous()?;
        let out = Tensor::empty_on(x.runtime(), &op.out_shape(), x.dtype(), x.device())?;
        run(
            &out,
            &LayerKernel::ReflectionPad(op.clone()),
            &[Some(&out)],
            &[Some(&x)],
        )?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("self", self);
            b.finish(Formula::Layer(LayerNode::ReflectionPad(op)), &out);
        }
        Ok(out)
    }
}
