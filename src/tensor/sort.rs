//! `topk`, `sort` and `argsort`: values and int64 indices along one dimension. Each forward
//! allocates the values, then the indices (`topk_out` and `sort_out` make both outputs before
//! the kernel runs); TopkBackward0 and SortBackward0 save `indices` (derivatives.yaml `topk`,
//! `sort.stable`: `self: value_selecting_reduction_backward_symint(grad, dim, indices,
//! self.sym_sizes(), true)`), whose backward is `at::zeros(sizes).scatter_(dim, indices, grad)`:
//! one allocation (see [`Tensor::value_selecting_backward`]). `argsort` is `sort(...)[1]`: the
//! values are allocated, then freed with the call.
//!
//! The order follows ATen's CPU kernels: NaN counts as greater than every number, and `sort`
//! keeps ties in index order (ATen sorts stably on the CPU). Among equal values `topk` takes
//! the first; ATen's CPU `topk` selects with `std::nth_element`, so which of two equal values
//! it returns depends on the order that leaves (the values are the same either way).

use std::cmp::Ordering;

use super::index::Along;
use super::layer_node::{operand, run, LayerKernel, LayerNode};
use super::ops::wrap_dim;
use super::{DType, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};
use crate::tensor::kernel::{Buf, Cx};

/// What a sort kernel computes along `dim`: the first `k` of each slice in the order asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SortKernel {
    dim: usize,
    k: usize,
    descending: bool,
}

/// TopkBackward0, SortBackward0 or SortBackward1 (`sort.stable`, the overload a `stable=`
/// keyword picks): the node's name, the input's sizes and the dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortNode {
    name: &'static str,
    dim: usize,
    self_sizes: Vec<usize>,
}

impl SortNode {
    pub(crate) fn node_name(&self) -> &'static str {
        self.name
    }

    /// `value_selecting_reduction_backward(grad, dim, indices, sizes, keepdim=true)`:
    /// `at::zeros(sizes).scatter_(dim, indices, grad)`, one allocation. The indices of a slice
    /// are distinct, so adding into the zeros is the scatter.
    pub(crate) fn backward(&self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let indices = node.unpack("indices")?;
        let out = grad.new_zeros(&self.self_sizes)?;
        if self.self_sizes.is_empty() {
            // A 0-dim input sorts its one element: the index is 0 and the gradient lands there.
            out.copy_values_from(grad)?;
            return Ok(out);
        }
        let along = Along::new(self.dim, self.self_sizes.clone());
        run(
            &out,
            &LayerKernel::ScatterAdd(along),
            &[Some(&out)],
            &[Some(grad), Some(&indices)],
        )?;
        Ok(out)
    }
}

impl Tensor {
    /// `torch.topk(self, k, dim=-1, largest=True, sorted=True)`: the `k` largest (or
    /// smallest) values along `dim` and their indices. The result is always sorted, which
    /// `sorted=False` allows.
    pub fn topk(&self, k: i64, dim: isize, largest: bool) -> Result<(Tensor, Tensor)> {
        let d = self.sort_dim(dim)?;
        let size = self.shape().get(d).copied().unwrap_or(1);
        if k < 0 || k as usize > size {
            return Err(TensorError::Invalid("selected index k out of range".into()));
        }
        self.sorted(
            SortKernel {
                dim: d,
                k: k as usize,
                descending: largest,
            },
            "TopkBackward0",
        )
    }

    /// `torch.sort(self, dim=-1, descending=False)`: the values in order and their indices
    /// (stable: equal values keep their order).
    pub fn sort(&self, dim: isize, descending: bool) -> Result<(Tensor, Tensor)> {
        self.sort_as(dim, descending, "SortBackward0")
    }

    /// `torch.sort(self, dim, descending, stable=...)`: as [`sort`](Self::sort), through the
    /// `sort.stable` overload, whose node is SortBackward1.
    pub fn sort_stable(&self, dim: isize, descending: bool) -> Result<(Tensor, Tensor)> {
        self.sort_as(dim, descending, "SortBackward1")
    }

    fn sort_as(
        &self,
        dim: isize,
        descending: bool,
        node: &'static str,
    ) -> Result<(Tensor, Tensor)> {
        let d = self.sort_dim(dim)?;
        let k = self.shape().get(d).copied().unwrap_or(1);
        self.sorted(
            SortKernel {
                dim: d,
                k,
                descending,
            },
            node,
        )
    }

    /// `torch.argsort(self, dim=-1, descending=False)`: `sort`'s indices (its values are
    /// allocated and freed here, as `at::argsort` runs `sort`).
    pub fn argsort(&self, dim: isize, descending: bool) -> Result<Tensor> {
        Ok(self.sort(dim, descending)?.1)
    }

    /// The dimension a sort runs along (a 0-dim tensor sorts along its one element).
    fn sort_dim(&self, dim: isize) -> Result<usize> {
        if self.dim() == 0 {
            wrap_dim(dim, 1)?;
            return Ok(0);
        }
        wrap_dim(dim, self.dim())
    }

    /// Values then indices, each of the input's shape with `k` along the dimension, and the
    /// node that saves the indices.
    fn sorted(&self, kernel: SortKernel, node: &'static str) -> Result<(Tensor, Tensor)> {
        if self.dtype() == DType::Bool {
            return Err(TensorError::Unsupported("sorting a bool tensor".into()));
        }
        let mut shape = self.shape().to_vec();
        if !shape.is_empty() {
            shape[kernel.dim] = kernel.k;
        }
        let rt = self.runtime();
        let values = Tensor::empty_on(rt, &shape, self.dtype(), self.device())?;
        let indices = Tensor::empty_on(rt, &shape, DType::I64, self.device())?;
        run(
            &values,
            &LayerKernel::Sort(kernel),
            &[Some(&values), Some(&indices)],
            &[Some(self)],
        )?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("indices", &indices);
            let node = SortNode {
                name: node,
                dim: kernel.dim,
                self_sizes: self.shape().to_vec(),
            };
            b.finish(Formula::Layer(LayerNode::Sort(node)), &values);
        }
        Ok((values, indices))
    }
}

impl SortKernel {
    /// `[values, indices]` from `[x]`.
    pub(super) fn host(self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let (Some(x), Some(values), Some(indices)) =
            (operand(ins, 0), operand(outs, 0), operand(outs, 1))
        else {
            return;
        };
        let Some(v) = x.read_f64(cx) else { return };
        let size = x.shape.get(self.dim).copied().unwrap_or(1);
        let inner: usize = x
            .shape
            .get(self.dim + 1..)
            .map_or(1, |s| s.iter().product());
        let outer = v.len().checked_div(size * inner).unwrap_or(0);
        let (mut out_v, mut out_i) = (Vec::new(), Vec::new());
        out_v.resize(outer * self.k * inner, 0.0);
        out_i.resize(outer * self.k * inner, 0i64);
        let mut order: Vec<usize> = Vec::with_capacity(size);
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| v[(o * size + j) * inner + i];
                order.clear();
                order.extend(0..size);
                order.sort_by(|&a, &b| {
                    let c = nan_greatest(at(a), at(b));
                    if self.descending {
                        c.reverse()
                    } else {
                        c
                    }
                });
                for (r, &j) in order.iter().take(self.k).enumerate() {
                    let dst = (o * self.k + r) * inner + i;
                    out_v[dst] = at(j);
                    out_i[dst] = j as i64;
                }
            }
        }
        values.write_f64(cx, &out_v);
        indices.write_i64(cx, &out_i);
    }
}

/// The order of ATen's sorts: numbers by value, NaN after every number.
fn nan_greatest(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}
