//! Statistics of a reduction: `var`, `std`, the vector norm (`norm`, `linalg.vector_norm`)
//! and `max()`/`min()` of every element. Each forward allocates its result only (one kernel,
//! as ATen's `std_var_kernel`, `norm_kernel` and `max_all_kernel` on CUDA); VarBackward0 saves
//! `self`, StdBackward0, LinalgVectorNormBackward0 and MaxBackward1/MinBackward1 save `self`
//! and `result` (derivatives.yaml, lines in `docs/autograd.md`), and their backward formulas
//! allocate what `FunctionsManual.cpp`'s `var_backward`, `std_backward`, `norm_backward` and
//! `evenly_distribute_backward` allocate.

use super::kernel::Stat;
use super::{Result, Scalar, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

/// What a statistic's node keeps besides tensors.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatNode {
    pub(crate) stat: Stat,
    /// The reduced dimensions; `None` for all of them (`dim=None`).
    pub(crate) dims: Option<Vec<usize>>,
    pub(crate) keepdim: bool,
}

impl StatNode {
    /// PyTorch's node class.
    pub(crate) fn name(&self) -> &'static str {
        match self.stat {
            Stat::Var { .. } => "VarBackward0",
            Stat::Std { .. } => "StdBackward0",
            Stat::Norm { .. } => "LinalgVectorNormBackward0",
            Stat::Max => "MaxBackward1",
            Stat::Min => "MinBackward1",
        }
    }

    /// Whether the node saves `result` besides `self`.
    pub(crate) fn saves_result(&self) -> bool {
        !matches!(self.stat, Stat::Var { .. })
    }
}

impl Tensor {
    /// `tensor.var(dim, correction=c, keepdim)`; `dims` `None` reduces every dimension.
    pub fn var(&self, dims: Option<&[isize]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        self.statistic(Stat::Var { correction }, dims, keepdim, "var")
    }

    /// `tensor.std(dim, correction=c, keepdim)`.
    pub fn std(&self, dims: Option<&[isize]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        self.statistic(Stat::Std { correction }, dims, keepdim, "std")
    }

    /// `torch.linalg.vector_norm(self, ord, dim, keepdim)`, which `tensor.norm(p, dim)` calls
    /// for a number `p` and `'fro'` (the 2-norm) alike.
    pub fn vector_norm(&self, ord: f64, dims: Option<&[isize]>, keepdim: bool) -> Result<Tensor> {
        if !(ord == 1.0 || ord == 2.0) {
            return Err(TensorError::Unsupported(format!(
                "vector norms of order {ord} (supported: 1 and 2)"
            )));
        }
        self.statistic(Stat::Norm { ord }, dims, keepdim, "linalg.vector_norm")
    }

    /// `tensor.max()`: the largest element as a 0-dim tensor of the input's dtype (NaN if any
    /// element is). MaxBackward1 saves `self` and `result`.
    pub fn max(&self) -> Result<Tensor> {
        self.extreme_all(Stat::Max, "max")
    }

    /// `tensor.min()`: the smallest element; MinBackward1 saves `self` and `result`.
    pub fn min(&self) -> Result<Tensor> {
        self.extreme_all(Stat::Min, "min")
    }

    fn extreme_all(&self, stat: Stat, name: &str) -> Result<Tensor> {
        if self.numel() == 0 {
            return Err(TensorError::Invalid(format!(
                "{name}(): Expected reduction dim to be specified for input.numel() == 0. \
                 Specify the reduction dim with the 'dim' argument."
            )));
        }
        let out = self.new_like(&[], self.dtype(), self.device())?;
        let (k, cx) = out.kernels();
        k.reduce_stat(cx, &out.buf(), &self.buf(), &vec![true; self.dim()], stat)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("self", self);
            b.save_output("result");
            let node = StatNode {
                stat,
                dims: None,
                keepdim: false,
            };
            b.finish(Formula::Statistic(node), &out);
        }
        Ok(out)
    }

    fn statistic(
        &self,
        stat: Stat,
        dims: Option<&[isize]>,
        keepdim: bool,
        name: &str,
    ) -> Result<Tensor> {
        if !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "{name}: expected a floating point tensor as input. Got {}",
                self.dtype().short_name()
            )));
        }
        let wrapped = dims.map(|d| self.wrap_dims(d)).transpose()?;
        let reduce: Vec<bool> = match &wrapped {
            // An empty list reduces every dimension, as `dim=None` does.
            Some(d) if !d.is_empty() => (0..self.dim()).map(|i| d.contains(&i)).collect(),
            _ => vec![true; self.dim()],
        };
        let shape: Vec<usize> = self
            .shape()
            .iter()
            .zip(&reduce)
            .filter_map(|(&s, &r)| match (r, keepdim) {
                (false, _) => Some(s),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        let out = self.new_like(&shape, self.float_result_type(), self.device())?;
        let (k, cx) = out.kernels();
        k.reduce_stat(cx, &out.buf(), &self.buf(), &reduce, stat)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            let node = StatNode {
                stat,
                dims: wrapped.filter(|d| !d.is_empty()),
                keepdim,
            };
            b.save("self", self);
            if node.saves_result() {
                b.save_output("result");
            }
            b.finish(Formula::Statistic(node), &out);
        }
        Ok(out)
    }
}

/// `unsqueeze_multiple(t, dims, ndim)`: `t` with the reduced dimensions back as size 1 (views).
fn unsqueeze_dims(t: &Tensor, node: &StatNode) -> Result<Tensor> {
    let mut t = t.clone();
    if let (Some(dims), false) = (&node.dims, node.keepdim) {
        let mut dims = dims.clone();
        dims.sort_unstable();
        for d in dims {
            t = t.unsqueeze(d)?;
        }
    }
    Ok(t)
}

/// `var_backward(grad, self, dim, correction, keepdim)`:
/// `(2 / (n - correction)) * grad * (self - self.mean(dim, true))`.
fn var_backward(grad: &Tensor, self_: &Tensor, node: &StatNode, correction: f64) -> Result<Tensor> {
    let (n, mean) = match &node.dims {
        None => (self_.numel(), self_.mean()?),
        Some(dims) => {
            let d: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
            let n = dims.iter().map(|&d| self_.shape()[d]).product();
            (n, self_.mean_dim(&d, true)?)
        }
    };
    let grad = unsqueeze_dims(grad, node)?;
    let scaled = grad.mul_scalar(2.0 / (n as f64 - correction))?;
    scaled.mul(&self_.sub(&mean)?)
}

/// `evenly_distribute_backward(grad, input, value)` as FunctionsManual.cpp computes it for a
/// cuda input: `input.isnan()`, `value.isnan()`, the first and-ed with the second in place,
/// `input == value` or-ed with it in place, then `mask * (grad / mask.sum())`. The two NaN
/// masks and the equality mask live until it returns; `x != x` is `isnan` (one bool each). The
/// cpu branch (a `new_zeros` filled where the mask is) is not the one a cuda scenario models.
fn evenly_distribute_backward(grad: &Tensor, input: &Tensor, value: &Tensor) -> Result<Tensor> {
    let input_isnan = input.ne(input)?;
    let value_isnan = value.ne(value)?;
    input_isnan.logical_and_(&value_isnan)?;
    let mask = input.eq(value)?;
    mask.logical_or_(&input_isnan)?;
    let count = mask.sum()?;
    let share = grad.div(&count)?;
    let out = mask.mul(&share)?;
    // The expression's temporaries die before its locals, the last made first.
    drop(share);
    drop(count);
    Ok(out)
}

/// The gradient of `self` of a [`StatNode`], from `self` and (std, norm) `result`.
pub(crate) fn statistic_backward(
    grad: &Tensor,
    self_: &Tensor,
    result: Option<&Tensor>,
    node: &StatNode,
) -> Result<Tensor> {
    let missing = || TensorError::Invalid(format!("{} saved no result", node.name()));
    match node.stat {
        Stat::Max | Stat::Min => {
            evenly_distribute_backward(grad, self_, result.ok_or_else(missing)?)
        }
        Stat::Var { correction } => var_backward(grad, self_, node, correction),
        Stat::Std { correction } => {
            // std_backward: var_backward((grad / (result * 2)).masked_fill_(result == 0, 0), ...)
            let result = result.ok_or_else(missing)?;
            let g = grad.div(&result.mul_scalar(2.0)?)?;
            g.masked_fill_values_(&result.eq_scalar(0.0)?, 0.0)?;
            var_backward(&g, self_, node, correction)
        }
        Stat::Norm { ord } => {
            let result = unsqueeze_dims(result.ok_or_else(missing)?, node)?;
            let grad = unsqueeze_dims(grad, node)?;
            if ord == 1.0 {
                // self.sgn() * grad
                self_.sign_values()?.mul(&grad)
            } else {
                // grad * (self / norm).masked_fill_(norm == 0, 0)
                let scaled = self_.div(&result)?;
                scaled.masked_fill_values_(&result.eq_scalar(Scalar::Float(0.0))?, 0.0)?;
                grad.mul(&scaled)
            }
        }
    }
}
