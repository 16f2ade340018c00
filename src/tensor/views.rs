//! Views: operations that give another geometry over the same storage (`t`, `expand`,
//! `view`, `reshape` when it can, `transpose`, `permute`, `squeeze`, `unsqueeze`, `detach`).
//! No kernel runs; the nodes keep sizes, never tensors.

use super::ops::wrap_dim;
use super::{contiguous_strides, format_shape, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

/// The strides that view a tensor of `old_shape` and `old_strides` as `new_shape` without a
/// copy, or `None` when none exist (ATen's `computeStride`): dimensions are matched in
/// chunks that are contiguous among themselves.
pub(crate) fn compute_stride(
    old_shape: &[usize],
    old_strides: &[usize],
    new_shape: &[usize],
) -> Option<Vec<usize>> {
    if old_shape.is_empty() {
        return Some(vec![1; new_shape.len()]);
    }
    let numel: usize = old_shape.iter().product();
    if numel == 0 {
        if old_shape == new_shape {
            return Some(old_strides.to_vec());
        }
        return Some(contiguous_strides(new_shape));
    }
    let mut new_strides = vec![0usize; new_shape.len()];
    let mut view_d = new_shape.len() as isize - 1;
    let mut chunk_base_stride = *old_strides.last()?;
    let mut tensor_numel = 1usize;
    let mut view_numel = 1usize;
    for tensor_d in (0..old_shape.len()).rev() {
        tensor_numel *= old_shape[tensor_d];
        let chunk_ends = tensor_d == 0
            || (old_shape[tensor_d - 1] != 1
                && old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride);
        if chunk_ends {
            while view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d as usize] == 1) {
                new_strides[view_d as usize] = view_numel * chunk_base_stride;
                view_numel *= new_shape[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if tensor_d > 0 {
                chunk_base_stride = old_strides[tensor_d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if view_d != -1 {
        return None;
    }
    Some(new_strides)
}

impl Tensor {
    // ---- views ------------------------------------------------------------------------------

    /// `tensor.t()`: a transposed view (no copy). TBackward0 saves nothing.
    pub fn t(&self) -> Result<Tensor> {
        if self.dim() > 2 {
            return Err(TensorError::Invalid(format!(
                "t() expects a tensor with <= 2 dimensions, but self is {}D",
                self.dim()
            )));
        }
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        shape.reverse();
        strides.reverse();
        let out = self.view_raw(shape, strides, self.0.offset);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::T, &out);
        }
        Ok(out)
    }

    pub(super) fn check_expand(&self, sizes: &[usize]) -> Result<()> {
        let mismatch = |i: usize, existing: usize| {
            TensorError::Invalid(format!(
                "The expanded size of the tensor ({}) must match the existing size ({existing}) at non-singleton dimension {i}.  Target sizes: {}.  Tensor sizes: {}",
                sizes[i],
                format_shape(sizes),
                format_shape(self.shape())
            ))
        };
        if sizes.len() < self.dim() {
            return Err(self.too_few_sizes(&format_shape(sizes), sizes.len()));
        }
        let lead = sizes.len() - self.dim();
        for (i, &s) in self.shape().iter().enumerate() {
            if s != 1 && s != sizes[lead + i] {
                return Err(mismatch(lead + i, s));
            }
        }
        Ok(())
    }

    /// PyTorch's error for an `expand` to fewer dimensions than the tensor has.
    fn too_few_sizes(&self, sizes: &str, given: usize) -> TensorError {
        TensorError::Invalid(format!(
            "expand({}{{{}}}, size={sizes}): the number of sizes provided ({given}) must be greater or equal to the number of dimensions in the tensor ({})",
            self.legacy_type(),
            format_shape(self.shape()),
            self.dim()
        ))
    }

    /// `tensor.expand(*sizes)` as Python calls it: `-1` keeps an existing dimension's size,
    /// and new dimensions may only be added in front.
    pub fn expand_sizes(&self, sizes: &[isize]) -> Result<Tensor> {
        let Some(lead) = sizes.len().checked_sub(self.dim()) else {
            let listed: Vec<String> = sizes.iter().map(isize::to_string).collect();
            return Err(self.too_few_sizes(&format!("[{}]", listed.join(", ")), sizes.len()));
        };
        let target = sizes
            .iter()
            .enumerate()
            .map(|(i, &s)| match (s, i.checked_sub(lead)) {
                (-1, Some(j)) => Ok(self.shape()[j]),
                (s, _) if s >= 0 => Ok(s as usize),
                (s, Some(_)) => Err(TensorError::Invalid(format!(
                    "The expanded size of the tensor ({s}) isn't allowed. Target sizes: {sizes:?}."
                ))),
                (s, None) => Err(TensorError::Invalid(format!(
                    "The expanded size of the tensor ({s}) isn't allowed in a leading, non-existing dimension {i}"
                ))),
            })
            .collect::<Result<Vec<usize>>>()?;
        self.expand(&target)
    }

    /// `tensor.expand(sizes)`: a broadcast view (no copy). ExpandBackward0 sums the gradient
    /// back.
    pub fn expand(&self, sizes: &[usize]) -> Result<Tensor> {
        self.check_expand(sizes)?;
        let out = self.broadcast_view(sizes);
        let out = if out.is_same(self) {
            self.view_raw(
                self.shape().to_vec(),
                self.strides().to_vec(),
                self.0.offset,
            )
        } else {
            out
        };
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Expand {
                    self_sizes: self.shape().to_vec(),
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.unsqueeze(dim)`: a view with a new dimension of size 1.
    pub fn unsqueeze(&self, dim: usize) -> Result<Tensor> {
        if dim > self.dim() {
            return Err(TensorError::Invalid(format!(
                "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
                -(self.dim() as isize) - 1,
                self.dim()
            )));
        }
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        let stride = if dim < self.dim() {
            strides[dim] * shape[dim]
        } else {
            1
        };
        shape.insert(dim, 1);
        strides.insert(dim, stride);
        let out = self.view_raw(shape, strides, self.0.offset);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::Unsqueeze { dim }, &out);
        }
        Ok(out)
    }

    /// Resolves a shape with at most one -1 against this tensor's element count.
    fn infer_shape(&self, shape: &[isize]) -> Result<Vec<usize>> {
        let numel = self.numel();
        let invalid = || {
            let dims: Vec<String> = shape.iter().map(isize::to_string).collect();
            TensorError::Invalid(format!(
                "shape '[{}]' is invalid for input of size {numel}",
                dims.join(", ")
            ))
        };
        let mut inferred = None;
        let mut known = 1usize;
        for (i, &d) in shape.iter().enumerate() {
            if d == -1 {
                if inferred.replace(i).is_some() {
                    return Err(TensorError::Invalid(
                        "only one dimension can be inferred".into(),
                    ));
                }
            } else if d < 0 {
                return Err(TensorError::Invalid(format!("invalid shape dimension {d}")));
            } else {
                known = known.checked_mul(d as usize).ok_or_else(invalid)?;
            }
        }
        let mut out: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        match inferred {
            Some(i) => {
                if known == 0 || numel % known != 0 {
                    return Err(invalid());
                }
                out[i] = numel / known;
            }
            None if known != numel => return Err(invalid()),
            None => {}
        }
        Ok(out)
    }

    /// `tensor.view(shape)` (one dimension may be -1): a view, or PyTorch's error when the
    /// strides do not allow one. ViewBackward0 saves nothing.
    pub fn view(&self, shape: &[isize]) -> Result<Tensor> {
        let shape = self.infer_shape(shape)?;
        let Some(strides) = compute_stride(self.shape(), self.strides(), &shape) else {
            return Err(TensorError::Invalid(
                "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.".into(),
            ));
        };
        Ok(self.view_with_history(
            shape,
            strides,
            Formula::View {
                self_sizes: self.shape().to_vec(),
            },
        ))
    }

    pub(super) fn view_with_history(
        &self,
        shape: Vec<usize>,
        strides: Vec<usize>,
        formula: Formula,
    ) -> Tensor {
        let out = self.view_raw(shape, strides, self.0.offset);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(formula, &out);
        }
        out
    }

    /// `tensor.reshape(shape)`: a view when the strides allow one, else a contiguous copy
    /// (CloneBackward0, then UnsafeViewBackward0), as `reshape` decides.
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let shape = self.infer_shape(shape)?;
        if let Some(strides) = compute_stride(self.shape(), self.strides(), &shape) {
            return Ok(self.view_with_history(
                shape,
                strides,
                Formula::View {
                    self_sizes: self.shape().to_vec(),
                },
            ));
        }
        let copy = self.clone_tensor()?;
        let strides = contiguous_strides(&shape);
        Ok(copy.view_with_history(
            shape,
            strides,
            Formula::UnsafeView {
                self_sizes: copy.shape().to_vec(),
            },
        ))
    }

    /// `tensor.flatten(start_dim, end_dim)`: `reshape` merging those dimensions.
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Tensor> {
        if self.dim() == 0 {
            return self.reshape(&[1]);
        }
        let start = wrap_dim(start_dim, self.dim())?;
        let end = wrap_dim(end_dim, self.dim())?;
        if start > end {
            return Err(TensorError::Invalid(
                "flatten() has invalid args: start_dim cannot come after end_dim".into(),
            ));
        }
        if start == end {
            return Ok(self.clone());
        }
        let merged: usize = self.shape()[start..=end].iter().product();
        let shape: Vec<isize> = self.shape()[..start]
            .iter()
            .chain(std::iter::once(&merged))
            .chain(&self.shape()[end + 1..])
            .map(|&d| d as isize)
            .collect();
        self.reshape(&shape)
    }

    /// `tensor.transpose(dim0, dim1)`: a view with two dimensions swapped. TransposeBackward0
    /// saves only the two dimensions.
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor> {
        let (a, b) = (wrap_dim(dim0, self.dim())?, wrap_dim(dim1, self.dim())?);
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        if self.dim() > 0 {
            shape.swap(a, b);
            strides.swap(a, b);
        }
        Ok(self.view_with_history(shape, strides, Formula::Transpose { dim0: a, dim1: b }))
    }

    /// `tensor.permute(dims)`: a view with the dimensions reordered. PermuteBackward0 saves
    /// only `dims`.
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        if dims.len() != self.dim() {
            return Err(TensorError::Invalid(format!(
                "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {} is not equal to len(dims) = {}",
                self.dim(),
                dims.len()
            )));
        }
        let order = self.wrap_dims(dims)?;
        if order.len() != self.dim() {
            return Err(TensorError::Invalid(
                "permute(): duplicate dims are not allowed.".into(),
            ));
        }
        let shape = order.iter().map(|&d| self.shape()[d]).collect();
        let strides = order.iter().map(|&d| self.strides()[d]).collect();
        Ok(self.view_with_history(shape, strides, Formula::Permute { dims: order }))
    }

    /// `tensor.squeeze(dim)` (every dimension of size 1 when `dim` is `None`): a view.
    /// SqueezeBackward0/1 keep the input's sizes.
    pub fn squeeze(&self, dim: Option<isize>) -> Result<Tensor> {
        let drop: Vec<bool> = match dim {
            None => self.shape().iter().map(|&s| s == 1).collect(),
            Some(d) => {
                let d = wrap_dim(d, self.dim())?;
                (0..self.dim())
                    .map(|i| i == d && self.shape()[i] == 1)
                    .collect()
            }
        };
        let keep = |i: &usize| !drop[*i];
        let shape = (0..self.dim())
            .filter(keep)
            .map(|i| self.shape()[i])
            .collect();
        let strides = (0..self.dim())
            .filter(keep)
            .map(|i| self.strides()[i])
            .collect();
        Ok(self.view_with_history(
            shape,
            strides,
            Formula::Squeeze {
                self_sizes: self.shape().to_vec(),
                all: dim.is_none(),
            },
        ))
    }

    /// `tensor.contiguous()`: `self` when it already is, else a row-major copy (CloneBackward0,
    /// as `clone(memory_format=contiguous)` records).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.clone_tensor()
    }

    /// Removes dimension `dim` of size 1 (a view; only backward uses it).
    pub(crate) fn squeeze_dim(&self, dim: usize) -> Tensor {
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        if dim < shape.len() && shape[dim] == 1 {
            shape.remove(dim);
            strides.remove(dim);
        }
        self.view_raw(shape, strides, self.0.offset)
    }

    /// What `BackwardHookFunction.apply(t)` returns for a tensor that requires grad: a view of
    /// all of it (a custom Function returning its input gets one) whose node,
    /// BackwardHookFunctionBackward, hands the gradient on unchanged. A module's full backward
    /// hooks sit on it. Allocates nothing.
    pub fn backward_hook_view(&self) -> Tensor {
        let out = self.view_raw(
            self.shape().to_vec(),
            self.strides().to_vec(),
            self.0.offset,
        );
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Layer(super::LayerNode::Passthrough(
                    "BackwardHookFunctionBackward",
                )),
                &out,
            );
        }
        out
    }

    /// `tensor.detach()`: shares storage and version counter, without history.
    pub fn detach(&self) -> Tensor {
        // Planted bug: the "detached" tensor is the tensor itself, with its grad_fn.
        #[cfg(feature = "planted-bugs")]
        if self
            .runtime()
            .planted(crate::base::PlantedBug::DetachKeepsGraph)
        {
            return self.clone();
        }
        let out = self.view_raw(
            self.shape().to_vec(),
            self.strides().to_vec(),
            self.0.offset,
        );
        // Not a view to autograd: an in-place operation on it does not touch `self`'s history.
        *out.0.view_base.borrow_mut() = std::rc::Weak::new();
        out
    }

    /// `tensor.data`: the same storage without history, as `detach` gives, but with a version
    /// counter of its own (`variable_data()` in PyTorch's `TensorImpl`), so in-place writes
    /// through it (`p.data.add_(...)`, the old manual-update idiom) are not seen by the
    /// autograd nodes that saved the tensor.
    pub fn variable_data(&self) -> Tensor {
        let out = self.detach();
        *out.0.own_version.borrow_mut() = Some(Default::default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_exist_where_aten_finds_strides() {
        assert_eq!(compute_stride(&[2, 3], &[3, 1], &[6]), Some(vec![1]));
        assert_eq!(compute_stride(&[2, 3], &[3, 1], &[3, 2]), Some(vec![2, 1]));
        // A transpose cannot be flattened without a copy.
        assert_eq!(compute_stride(&[3, 2], &[1, 3], &[6]), None);
        // An expanded gradient keeps its zero strides.
        assert_eq!(compute_stride(&[6], &[0], &[2, 3]), Some(vec![0, 0]));
        assert_eq!(compute_stride(&[], &[], &[1, 1]), Some(vec![1, 1]));
    }
}
