//! Reductions: `sum` and `mean` (all or over dimensions), `sum_to` for gradients, `argmax`
//! and `argmin`.

use super::ops::wrap_dim;
use super::{contiguous_strides, DType, Result, Scalar, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

fn reduced_shape(shape: &[usize], reduce: &[bool], keepdim: bool) -> Vec<usize> {
    shape
        .iter()
        .zip(reduce)
        .filter_map(|(&s, &r)| match (r, keepdim) {
            (false, _) => Some(s),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

impl Tensor {
    // ---- reductions -------------------------------------------------------------------------

    pub(super) fn reduce(&self, dims: &[usize], keepdim: bool, mean: bool) -> Result<Tensor> {
        self.reduce_to(dims, keepdim, mean, None)
    }

    /// A sum or mean into `dtype` (`sum(dtype=...)`), or the input's own result type.
    fn reduce_to(
        &self,
        dims: &[usize],
        keepdim: bool,
        mean: bool,
        dtype: Option<DType>,
    ) -> Result<Tensor> {
        let mut reduce = vec![false; self.dim()];
        for &d in dims {
            reduce[d] = true;
        }
        let shape = reduced_shape(self.shape(), &reduce, keepdim);
        let dtype = dtype.unwrap_or(if self.dtype().is_floating_point() || mean {
            self.float_result_type()
        } else {
            DType::I64
        });
        let out = self.new_like(&shape, dtype, self.device())?;
        let (k, cx) = out.kernels();
        k.reduce_sum(cx, &out.buf(), &self.buf(), &reduce, mean)?;
        Ok(out)
    }

    pub(super) fn wrap_dims(&self, dims: &[isize]) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        for &d in dims {
            let w = wrap_dim(d, self.dim())?;
            if self.dim() == 0 {
                continue;
            }
            if out.contains(&w) {
                return Err(TensorError::Invalid(format!(
                    "dim {w} appears multiple times in the list of dims"
                )));
            }
            out.push(w);
        }
        Ok(out)
    }

    /// `tensor.sum()`: a 0-dim tensor. SumBackward0 saves only the input's sizes. Under cuda
    /// autocast it sums into float32 (`fp32_set_opt_dtype`).
    pub fn sum(&self) -> Result<Tensor> {
        let all: Vec<usize> = (0..self.dim()).collect();
        let out = self.reduce_to(&all, false, false, self.autocast_opt_dtype())?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Sum {
                    self_sizes: self.shape().to_vec(),
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.sum(dims, keepdim)`.
    pub fn sum_dim(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let dims = self.wrap_dims(dims)?;
        let out = self.reduce_to(&dims, keepdim, false, self.autocast_opt_dtype())?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::SumDim {
                    self_sizes: self.shape().to_vec(),
                    dims,
                    keepdim,
                },
                &out,
            );
        }
        Ok(out)
    }

    fn check_mean(&self) -> Result<()> {
        if !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
                self.dtype().short_name()
            )));
        }
        Ok(())
    }

    /// `tensor.mean()`.
    pub fn mean(&self) -> Result<Tensor> {
        self.check_mean()?;
        let all: Vec<usize> = (0..self.dim()).collect();
        let out = self.reduce(&all, false, true)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Mean {
                    self_sizes: self.shape().to_vec(),
                    numel: self.numel(),
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.mean(dims, keepdim)`.
    pub fn mean_dim(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.check_mean()?;
        let dims = self.wrap_dims(dims)?;
        let out = self.reduce(&dims, keepdim, true)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            let count = dims.iter().map(|&d| self.shape()[d]).product();
            b.finish(
                Formula::MeanDim {
                    self_sizes: self.shape().to_vec(),
                    dims,
                    keepdim,
                    count,
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `at::sum_to`: sums a gradient down to `shape` (leading dimensions and dimensions of size
    /// 1), one allocation.
    pub(crate) fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let lead = self.dim() - shape.len();
        let reduce: Vec<usize> = (0..self.dim())
            .filter(|&d| d < lead || (shape[d - lead] == 1 && self.shape()[d] != 1))
            .collect();
        let summed = self.reduce(&reduce, true, false)?;
        Ok(summed.view_raw(shape.to_vec(), contiguous_strides(shape), 0))
    }

    /// `tensor.argmax(dim, keepdim)`: int64 indices of the first maximum.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme(dim, keepdim, false)
    }

    /// `tensor.argmin(dim, keepdim)`: int64 indices of the first minimum; not differentiable.
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme(dim, keepdim, true)
    }

    fn arg_extreme(&self, dim: isize, keepdim: bool, is_min: bool) -> Result<Tensor> {
        let name = if is_min { "argmin" } else { "argmax" };
        let d = wrap_dim(dim, self.dim())?;
        if self.dim() == 0 {
            let out = self.new_like(&[], DType::I64, self.device())?;
            out.fill_values(Scalar::Int(0))?;
            return Ok(out);
        }
        if self.shape()[d] == 0 {
            return Err(TensorError::Invalid(format!(
                "{name}(): Expected reduction dim {d} to have non-zero size."
            )));
        }
        let mut reduce = vec![false; self.dim()];
        reduce[d] = true;
        let shape = reduced_shape(self.shape(), &reduce, keepdim);
        let out = self.new_like(&shape, DType::I64, self.device())?;
        let (k, cx) = out.kernels();
        k.arg_extreme(cx, &out.buf(), &self.buf(), d, is_min)?;
        Ok(out)
    }
}
