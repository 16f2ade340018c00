//! Operations that move or accumulate values along dimensions: `flip`, `roll`, `repeat`,
//! `cumsum` and `F.pad`'s constant mode (`constant_pad_nd`: one output filled with the value, the
//! input copied into it; ConstantPadNdBackward0 keeps the pads and its backward pads the
//! gradient by their negation, one allocation). Each forward allocates its one output (ATen's `flip`, `repeat`: `empty` of the
//! target size, then a copy from the expanded input; `cumsum`); their nodes save no tensor
//! (derivatives.yaml `flip`: `self: grad.flip(dims)`, `repeat`: `self: repeat_backward(grad,
//! repeats, self.sym_sizes())`, `cumsum`: `self: cumsum_backward(grad.to(self.scalar_type()),
//! dim)`). The backward formulas are FunctionsManual.cpp's, whose operations 2.15's dispatch
//! trace shows: `cumsum_backward` is `grad.flip(dim).cumsum(dim).flip(dim)` (three
//! allocations) unless the dimension has one element; `repeat_backward` sums the leading
//! dimensions `repeat` added one at a time, then views the gradient as (repeat, size) pairs and
//! sums the repeats in one reduction.

use super::layer_node::{operand, run, LayerKernel, LayerNode};
use super::ops::wrap_dim;
use super::{DType, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::tensor::kernel::{Buf, Cx};

/// The kernels of this file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RearrangeKernel {
    /// `[out]` from `[x]`: the dimensions marked reversed.
    Flip(Vec<bool>),
    /// `[out]` from `[x]`: `x` (its shape padded with leading ones) tiled to `out`'s shape.
    Repeat,
    /// `[out]` from `[x]`: running sums along the dimension.
    Cumsum(usize),
    /// `[out]` from `[x]`: each listed dimension rotated by its shift.
    Roll(Vec<(usize, i64)>),
}

/// The nodes of this file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RearrangeNode {
    /// FlipBackward0 (the wrapped dimensions).
    Flip(Vec<usize>),
    /// RepeatBackward0: the repeats and the input's sizes.
    Repeat {
        repeats: Vec<usize>,
        self_sizes: Vec<usize>,
    },
    /// CumsumBackward0 (the wrapped dimension).
    Cumsum(usize),
    /// ConstantPadNdBackward0 (the pads).
    ConstantPad(Vec<i64>),
    /// RollBackward0: the shifts and the dimensions as given (none: the flattened tensor).
    Roll { shifts: Vec<i64>, dims: Vec<isize> },
}

impl RearrangeNode {
    pub(crate) fn node_name(&self) -> &'static str {
        match self {
            RearrangeNode::Flip(_) => "FlipBackward0",
            RearrangeNode::Repeat { .. } => "RepeatBackward0",
            RearrangeNode::Cumsum(_) => "CumsumBackward0",
            RearrangeNode::ConstantPad(_) => "ConstantPadNdBackward0",
            RearrangeNode::Roll { .. } => "RollBackward0",
        }
    }

    /// The input's gradient, with the operations of FunctionsManual.cpp.
    pub(crate) fn backward(&self, grad: &Tensor) -> Result<Tensor> {
        match self {
            RearrangeNode::Flip(dims) => grad.flip(&to_isize(dims)),
            RearrangeNode::Cumsum(dim) => {
                if grad.numel() <= 1 || grad.shape()[*dim] == 1 {
                    return Ok(grad.clone());
                }
                let d = *dim as isize;
                grad.flip(&[d])?.cumsum(d)?.flip(&[d])
            }
            RearrangeNode::Repeat {
                repeats,
                self_sizes,
            } => repeat_backward(grad, repeats, self_sizes),
            RearrangeNode::ConstantPad(pad) => {
                let negated: Vec<i64> = pad.iter().map(|p| -p).collect();
                grad.constant_pad(&negated, 0.0)
            }
            // roll_backward: the negated shifts (2.15 lists the pairs in reverse order, which
            // rotates the same way).
            RearrangeNode::Roll { shifts, dims } => {
                let negated: Vec<i64> = shifts.iter().rev().map(|s| -s).collect();
                let dims: Vec<isize> = dims.iter().rev().copied().collect();
                grad.roll(&negated, &dims)
            }
        }
    }
}

fn to_isize(dims: &[usize]) -> Vec<isize> {
    dims.iter().map(|&d| d as isize).collect()
}

/// FunctionsManual.cpp's `repeat_backward`.
fn repeat_backward(grad: &Tensor, repeats: &[usize], self_sizes: &[usize]) -> Result<Tensor> {
    if repeats.contains(&0) {
        return grad.new_zeros(self_sizes);
    }
    let mut grad = grad.clone();
    let unsqueezed = grad.dim() - self_sizes.len();
    for _ in 0..unsqueezed {
        grad = grad.sum_dim(&[0], false)?;
    }
    let mut grad_size: Vec<isize> = Vec::new();
    let mut sum_dims: Vec<isize> = Vec::new();
    for (d, &size) in self_sizes.iter().enumerate() {
        let repeat = repeats[d + unsqueezed];
        if repeat != 1 {
            grad_size.push(repeat as isize);
            sum_dims.push(grad_size.len() as isize - 1);
        }
        grad_size.push(size as isize);
    }
    if !sum_dims.is_empty() {
        grad = grad.reshape(&grad_size)?.sum_dim(&sum_dims, false)?;
    }
    Ok(grad)
}

impl Tensor {
    /// `torch.flip(self, dims)`: the values in reverse order along `dims`, one new tensor.
    pub fn flip(&self, dims: &[isize]) -> Result<Tensor> {
        let dims = self.wrap_dims(dims)?;
        let mut reversed = vec![false; self.dim()];
        for &d in &dims {
            reversed[d] = true;
        }
        self.rearranged(
            self.shape(),
            self.dtype(),
            RearrangeKernel::Flip(reversed),
            RearrangeNode::Flip(dims),
        )
    }

    /// `torch.roll(self, shifts, dims)`: each dimension of `dims` rotated by its shift (no
    /// `dims`: the flattened tensor by one shift, then viewed in the input's shape, as ATen's
    /// `roll` flattens, which copies a non-contiguous input first). One output.
    pub fn roll(&self, shifts: &[i64], dims: &[isize]) -> Result<Tensor> {
        if dims.is_empty() && shifts.len() != 1 {
            return Err(TensorError::Invalid(format!(
                "shifts and dimensions must align. shifts: {}, dims:0",
                shifts.len()
            )));
        }
        if !dims.is_empty() && shifts.len() != dims.len() {
            return Err(TensorError::Invalid(format!(
                "shifts and dimensions must align. shifts: {}, dims:{}",
                shifts.len(),
                dims.len()
            )));
        }
        let source = if dims.is_empty() {
            self.detach().reshape(&[-1])?
        } else {
            self.detach()
        };
        let pairs: Vec<(usize, i64)> = if dims.is_empty() {
            vec![(0, shifts[0])]
        } else if self.dim() == 0 {
            return Err(TensorError::Invalid(format!(
                "Dimension specified as {} but tensor has no dimensions",
                dims[0]
            )));
        } else {
            let wrapped = dims
                .iter()
                .map(|&d| wrap_dim(d, self.dim().max(1)))
                .collect::<Result<Vec<_>>>()?;
            wrapped.into_iter().zip(shifts.iter().copied()).collect()
        };
        let rolled = Tensor::empty_on(self.runtime(), source.shape(), self.dtype(), self.device())?;
        run(
            &rolled,
            &LayerKernel::Rearrange(RearrangeKernel::Roll(pairs)),
            &[Some(&rolled)],
            &[Some(&source)],
        )?;
        drop(source);
        let out = if dims.is_empty() {
            let shape: Vec<isize> = self.shape().iter().map(|&d| d as isize).collect();
            rolled.view(&shape)?
        } else {
            rolled
        };
        if let Some(b) = NodeBuilder::new(&[self]) {
            let node = RearrangeNode::Roll {
                shifts: shifts.to_vec(),
                dims: dims.to_vec(),
            };
            b.finish(Formula::Layer(LayerNode::Rearrange(node)), &out);
        }
        Ok(out)
    }

    /// `tensor.repeat(*repeats)`: the tensor tiled `repeats` times along each dimension (the
    /// tensor's shape padded with leading ones to as many dimensions).
    pub fn repeat(&self, repeats: &[i64]) -> Result<Tensor> {
        if repeats.len() < self.dim() {
            return Err(TensorError::Invalid(
                "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor".into(),
            ));
        }
        if let Some(r) = repeats.iter().find(|&&r| r < 0) {
            return Err(TensorError::Invalid(format!(
                "Trying to create tensor with negative dimension {r}: {repeats:?}"
            )));
        }
        let repeats: Vec<usize> = repeats.iter().map(|&r| r as usize).collect();
        let pad = repeats.len() - self.dim();
        let shape: Vec<usize> = repeats
            .iter()
            .enumerate()
            .map(|(d, &r)| r * if d < pad { 1 } else { self.shape()[d - pad] })
            .collect();
        self.rearranged(
            &shape,
            self.dtype(),
            RearrangeKernel::Repeat,
            RearrangeNode::Repeat {
                repeats,
                self_sizes: self.shape().to_vec(),
            },
        )
    }

    /// `torch.cumsum(self, dim)`: running sums along `dim`; integer and bool tensors sum into
    /// int64, as PyTorch promotes them.
    pub fn cumsum(&self, dim: isize) -> Result<Tensor> {
        let d = wrap_dim(dim, self.dim().max(1))?;
        let dtype = if self.dtype().is_floating_point() {
            self.dtype()
        } else {
            DType::I64
        };
        let along = if self.dim() == 0 { 0 } else { d };
        self.rearranged(
            self.shape(),
            dtype,
            RearrangeKernel::Cumsum(along),
            RearrangeNode::Cumsum(along),
        )
    }

    /// `F.pad(self, pad, value=value)` in constant mode (`torch.constant_pad_nd`): `pad` gives
    /// (left, right) pairs from the last dimension backwards; negative ones crop.
    pub fn constant_pad(&self, pad: &[i64], value: f64) -> Result<Tensor> {
        // F.pad's checks (`_pad_enum`), the entry point scripts use.
        if pad.len() % 2 != 0 {
            return Err(TensorError::Invalid(
                "Padding length must be divisible by 2".into(),
            ));
        }
        let n = self.dim();
        if pad.len() / 2 > n {
            return Err(TensorError::Invalid(format!(
                "Padding length should be less than or equal to two times the input dimension but got padding length {} and input of dimension {n}",
                pad.len()
            )));
        }
        let all_non_positive = pad.iter().all(|&p| p <= 0);
        let mut shape = self.shape().to_vec();
        // Per padded dimension: (dimension, crop of the input, offset into the output).
        let mut places = Vec::new();
        for (i, lr) in pad.chunks(2).enumerate() {
            let d = n - 1 - i;
            let old = shape[d] as i64;
            let new = old + lr[0] + lr[1];
            if new < 0 && all_non_positive {
                // ATen crops with `narrow` when no pad is positive.
                return Err(TensorError::Invalid(
                    "narrow(): length must be non-negative.".into(),
                ));
            }
            if new < 0 {
                return Err(TensorError::Invalid(format!(
                    "The input size {old}, plus negative padding {} and {} resulted in a negative output size, which is invalid. Check dimension {d} of your input.",
                    lr[0], lr[1]
                )));
            }
            shape[d] = new as usize;
            places.push((d, (-lr[0]).max(0) as usize, lr[0].max(0) as usize));
        }
        let out = Tensor::empty_on(self.runtime(), &shape, self.dtype(), self.device())?;
        out.fill_values(super::Scalar::Float(value))?;
        let kept: Vec<usize> = places
            .iter()
            .map(|&(d, crop, offset)| {
                let from_input = self.shape()[d].saturating_sub(crop);
                from_input.min(shape[d].saturating_sub(offset))
            })
            .collect();
        // Nothing of the input is left when a dimension is cropped away.
        if self.numel() > 0 && !kept.contains(&0) {
            let (mut from, mut to) = (self.detach(), out.detach());
            for (&(d, crop, offset), &length) in places.iter().zip(&kept) {
                from = from.narrow_view(d, crop, length);
                to = to.narrow_view(d, offset, length);
            }
            to.copy_values_from(&from)?;
        }
        if let Some(b) = NodeBuilder::new(&[self]) {
            let node = RearrangeNode::ConstantPad(pad.to_vec());
            b.finish(Formula::Layer(LayerNode::Rearrange(node)), &out);
        }
        Ok(out)
    }

    /// One output of `shape` computed by `kernel`, and the node.
    fn rearranged(
        &self,
        shape: &[usize],
        dtype: DType,
        kernel: RearrangeKernel,
        node: RearrangeNode,
    ) -> Result<Tensor> {
        let out = Tensor::empty_on(self.runtime(), shape, dtype, self.device())?;
        run(
            &out,
            &LayerKernel::Rearrange(kernel),
            &[Some(&out)],
            &[Some(self)],
        )?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::Layer(LayerNode::Rearrange(node)), &out);
        }
        Ok(out)
    }
}

/// Calls `f` with each row-major coordinate of `shape`, in order.
pub(super) fn for_each_coord(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut coord = vec![0usize; shape.len()];
    loop {
        f(&coord);
        let mut d = coord.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            coord[d] += 1;
            if coord[d] < shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
}

/// The row-major offset of `coord` in `shape`.
fn offset(shape: &[usize], coord: impl Iterator<Item = usize>) -> usize {
    shape.iter().zip(coord).fold(0, |at, (&s, c)| at * s + c)
}

impl RearrangeKernel {
    pub(super) fn host(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let (Some(x), Some(out)) = (operand(ins, 0), operand(outs, 0)) else {
            return;
        };
        let Some(v) = x.read_f64(cx) else { return };
        let (in_shape, out_shape) = (x.shape, out.shape);
        let mut result = Vec::with_capacity(out.numel());
        match self {
            RearrangeKernel::Flip(reversed) => for_each_coord(out_shape, |c| {
                let from =
                    c.iter().enumerate().map(
                        |(d, &i)| {
                            if reversed[d] {
                                in_shape[d] - 1 - i
                            } else {
                                i
                            }
                        },
                    );
                result.push(v[offset(in_shape, from)]);
            }),
            RearrangeKernel::Repeat => {
                let pad = out_shape.len() - in_shape.len();
                for_each_coord(out_shape, |c| {
                    let from = c[pad..].iter().zip(in_shape).map(|(&i, &s)| i % s);
                    result.push(v[offset(in_shape, from)]);
                });
            }
            RearrangeKernel::Roll(pairs) => for_each_coord(out_shape, |c| {
                let mut from = c.to_vec();
                for &(d, shift) in pairs {
                    let size = in_shape[d] as i64;
                    from[d] = (c[d] as i64 - shift).rem_euclid(size) as usize;
                }
                result.push(v[offset(in_shape, from.into_iter())]);
            }),
            RearrangeKernel::Cumsum(dim) => {
                result.extend_from_slice(&v);
                if !in_shape.is_empty() {
                    let size = in_shape[*dim];
                    let inner: usize = in_shape[dim + 1..].iter().product();
                    for start in 0..result.len() {
                        // Each element after the first of its line adds its predecessor's sum.
                        if (start / inner) % size != 0 {
                            result[start] += result[start - inner];
                        }
                    }
                }
            }
        }
        out.write_f64(cx, &result);
    }
}
