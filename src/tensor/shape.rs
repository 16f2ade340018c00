//! Operations that join, slice and pick: `cat`, `stack`, `narrow`, `select`. Joins allocate
//! their output and copy each input into its place; slices are views. Backward follows
//! derivatives.yaml: a join's node saves no tensor and hands each input a view of the
//! gradient; a slice's node allocates a zero gradient of the input's sizes and copies the
//! incoming one into its place (`slice_backward`, `select_backward`).

use super::ops::wrap_dim;
use super::{format_shape, DType, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

/// One element of a basic index (`t[1, :, None, ...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorIndex {
    /// An integer: selects (the dimension goes away).
    Int(i64),
    /// `start:end:step`, each bound optional as in Python.
    Slice(Option<i64>, Option<i64>, i64),
    /// `None`: a new dimension of size 1.
    None,
    /// `...`: as many whole dimensions as the other indices leave.
    Ellipsis,
}

/// Checks the inputs of `cat`/`stack` and returns the dtype and device they share.
fn check_join(op: &str, tensors: &[Tensor]) -> Result<()> {
    let Some(first) = tensors.first() else {
        return Err(TensorError::Invalid(format!(
            "{op}(): expected a non-empty list of Tensors"
        )));
    };
    for t in &tensors[1..] {
        super::ops::common_device(first, t)?;
        if t.device() != first.device() {
            return Err(TensorError::DeviceMismatch {
                a: first.device().to_string(),
                b: t.device().to_string(),
            });
        }
        if t.dtype() != first.dtype() {
            return Err(TensorError::Unsupported(format!(
                "{op}() of tensors of different dtypes ({} and {}); convert them first",
                first.dtype(),
                t.dtype()
            )));
        }
    }
    Ok(())
}

impl Tensor {
    /// A view of `length` elements of dimension `dim` from `start`, without history.
    fn narrow_raw(&self, dim: usize, start: usize, length: usize) -> Tensor {
        let mut shape = self.shape().to_vec();
        shape[dim] = length;
        let offset = self.0.offset + start * self.strides()[dim];
        self.view_raw(shape, self.strides().to_vec(), offset)
    }

    /// Every `step`-th element of `start..end` along `dim`, a view without history.
    fn slice_raw(&self, dim: usize, start: usize, end: usize, step: usize) -> Tensor {
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        shape[dim] = (end - start).div_ceil(step);
        let offset = self.0.offset + start * strides[dim];
        // ATen multiplies in int64 and lets it wrap: `t[::2**62]` of an 8-wide row has stride
        // 0 (a fuzzer's find). A step past the size leaves one element, read at `offset`.
        strides[dim] = strides[dim].wrapping_mul(step);
        self.view_raw(shape, strides, offset)
    }

    /// The sub-tensor at `index` of dimension `dim`, a view without history.
    fn select_raw(&self, dim: usize, index: usize) -> Tensor {
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        let offset = self.0.offset + index * strides[dim];
        shape.remove(dim);
        strides.remove(dim);
        self.view_raw(shape, strides, offset)
    }

    /// `torch.cat(tensors, dim)`: one output; CatBackward0 saves no tensor (the inputs'
    /// sizes along `dim`).
    pub fn cat(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let args: Vec<Option<&Tensor>> = tensors.iter().map(Some).collect();
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Cat, &args)? {
            return Tensor::cat(&c.all(), dim);
        }
        check_join("cat", tensors)?;
        // Legacy rule kept by PyTorch: 1-D empty tensors are skipped.
        let parts: Vec<&Tensor> = tensors
            .iter()
            .filter(|t| !(t.dim() == 1 && t.numel() == 0))
            .collect();
        let Some(first) = parts.first() else {
            return tensors[0].clone_tensor();
        };
        let d = wrap_dim(dim, first.dim())?;
        if first.dim() == 0 {
            return Err(TensorError::Invalid(
                "zero-dimensional tensor (at position 0) cannot be concatenated".into(),
            ));
        }
        let mut shape = first.shape().to_vec();
        shape[d] = 0;
        for (i, t) in parts.iter().enumerate() {
            let same = t.dim() == first.dim()
                && (0..t.dim()).all(|k| k == d || t.shape()[k] == first.shape()[k]);
            if !same {
                return Err(TensorError::Invalid(format!(
                    "Sizes of tensors must match except in dimension {d}. Expected size {} but got size {} for tensor number {i} in the list.",
                    format_shape(first.shape()),
                    format_shape(t.shape())
                )));
            }
            shape[d] += t.shape()[d];
        }
        let out = Tensor::empty_on(first.runtime(), &shape, first.dtype(), first.device())?;
        let mut at = 0;
        for t in &parts {
            out.narrow_raw(d, at, t.shape()[d]).copy_values_from(t)?;
            at += t.shape()[d];
        }
        if let Some(b) = NodeBuilder::new(&parts) {
            let sizes = parts.iter().map(|t| t.shape()[d]).collect();
            b.finish(Formula::Cat { dim: d, sizes }, &out);
        }
        Ok(out)
    }

    /// `torch.stack(tensors, dim)`: one output; StackBackward0 saves no tensor and gives each
    /// input a view of the gradient (`unbind`).
    pub fn stack(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let args: Vec<Option<&Tensor>> = tensors.iter().map(Some).collect();
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Stack, &args)? {
            return Tensor::stack(&c.all(), dim);
        }
        check_join("stack", tensors)?;
        let first = &tensors[0];
        for (i, t) in tensors.iter().enumerate() {
            if t.shape() != first.shape() {
                return Err(TensorError::Invalid(format!(
                    "stack expects each tensor to be equal size, but got {} at entry 0 and {} at entry {i}",
                    format_shape(first.shape()),
                    format_shape(t.shape())
                )));
            }
        }
        let d = wrap_dim(dim, first.dim() + 1)?;
        let mut shape = first.shape().to_vec();
        shape.insert(d, tensors.len());
        let out = Tensor::empty_on(first.runtime(), &shape, first.dtype(), first.device())?;
        for (i, t) in tensors.iter().enumerate() {
            out.select_raw(d, i).copy_values_from(t)?;
        }
        let refs: Vec<&Tensor> = tensors.iter().collect();
        if let Some(b) = NodeBuilder::new(&refs) {
            b.finish(Formula::Stack { dim: d }, &out);
        }
        Ok(out)
    }

    /// `tensor.narrow(dim, start, length)`: a view. SliceBackward0 keeps the input's sizes.
    pub fn narrow(&self, dim: isize, start: i64, length: i64) -> Result<Tensor> {
        if self.dim() == 0 {
            return Err(TensorError::Invalid(
                "narrow() cannot be applied to a 0-dim tensor.".into(),
            ));
        }
        let d = wrap_dim(dim, self.dim())?;
        let size = self.shape()[d] as i64;
        let start = if start < 0 { start + size } else { start };
        if start < 0 || start > size || length < 0 || start + length > size {
            return Err(TensorError::Invalid(format!(
                "start ({start}) + length ({length}) exceeds dimension size ({size})."
            )));
        }
        let (start, length) = (start as usize, length as usize);
        let out = self.narrow_raw(d, start, length);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Slice {
                    self_sizes: self.shape().to_vec(),
                    dim: d,
                    start,
                    end: start + length,
                    step: 1,
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.select(dim, index)` (`t[i]` is dimension 0): a view. SelectBackward0 keeps the
    /// input's sizes.
    pub fn select_dim(&self, dim: isize, index: i64) -> Result<Tensor> {
        if self.dim() == 0 {
            return Err(TensorError::Invalid(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a number".into(),
            ));
        }
        let d = wrap_dim(dim, self.dim())?;
        let len = self.shape()[d] as i64;
        let i = if index < 0 { index + len } else { index };
        if !(0..len).contains(&i) {
            return Err(TensorError::Invalid(format!(
                "index {index} is out of bounds for dimension {d} with size {len}"
            )));
        }
        let out = self.select_raw(d, i as usize);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Select {
                    self_sizes: self.shape().to_vec(),
                    dim: d,
                    index: i as usize,
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.slice(dim, start, end, step)` (`t[start:end:step]`): a view. Bounds are
    /// Python's (negative counts from the end, out-of-range clamps); SliceBackward0 keeps the
    /// input's sizes, dim, start, end and step.
    pub fn slice(
        &self,
        dim: isize,
        start: Option<i64>,
        end: Option<i64>,
        step: i64,
    ) -> Result<Tensor> {
        if self.dim() == 0 {
            return Err(TensorError::Invalid(
                "slice() cannot be applied to a 0-dim tensor.".into(),
            ));
        }
        if step <= 0 {
            return Err(TensorError::Invalid("slice step must be positive".into()));
        }
        let d = wrap_dim(dim, self.dim())?;
        let size = self.shape()[d] as i64;
        let bound = |v: i64| (if v < 0 { v + size } else { v }).clamp(0, size) as usize;
        let start = start.map_or(0, bound);
        let end = end.map_or(size as usize, bound).max(start);
        let step = step as usize;
        let out = self.slice_raw(d, start, end, step);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Slice {
                    self_sizes: self.shape().to_vec(),
                    dim: d,
                    start,
                    end,
                    step,
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `torch.alias(self)`: a view of all of it, what `x[...]` and `x[:, :]` return.
    /// AliasBackward0 saves nothing.
    pub fn alias(&self) -> Tensor {
        let out = self.view_raw(
            self.shape().to_vec(),
            self.strides().to_vec(),
            self.0.offset,
        );
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::Alias, &out);
        }
        out
    }

    /// `self[index]` for basic indices (integers, slices, `None`, `...`), as
    /// `THPVariable_getitem` and `applySlicing` do it: an integer selects, a slice slices
    /// (skipped inside a tuple when it takes the whole dimension), `None` unsqueezes, and an
    /// index that changed nothing returns an alias. Every result is a view.
    pub fn index(&self, index: &[TensorIndex], is_tuple: bool) -> Result<Tensor> {
        if !is_tuple {
            match index {
                [TensorIndex::None] => return self.unsqueeze(0),
                [TensorIndex::Ellipsis] => return Ok(self.alias()),
                [TensorIndex::Int(i)] => return self.select(*i),
                [TensorIndex::Slice(a, b, c)] => return self.slice(0, *a, *b, *c),
                _ => {}
            }
        }
        let specified = index
            .iter()
            .filter(|i| matches!(i, TensorIndex::Int(_) | TensorIndex::Slice(..)))
            .count();
        if specified > self.dim() {
            return Err(TensorError::Invalid(format!(
                "too many indices for tensor of dimension {}",
                self.dim()
            )));
        }
        if index
            .iter()
            .filter(|i| **i == TensorIndex::Ellipsis)
            .count()
            > 1
        {
            return Err(TensorError::Invalid(
                "an index can only have a single ellipsis ('...')".into(),
            ));
        }
        let mut result = self.clone();
        let mut dim = 0usize;
        for item in index {
            match *item {
                TensorIndex::Int(i) => result = result.select_dim(dim as isize, i)?,
                TensorIndex::Slice(a, b, c) => {
                    let size = result.shape()[dim] as i64;
                    let whole = a.unwrap_or(0) == 0 && b.is_none_or(|e| e >= size) && c == 1;
                    if !whole {
                        result = result.slice(dim as isize, a, b, c)?;
                    }
                    dim += 1;
                }
                TensorIndex::None => {
                    result = result.unsqueeze(dim)?;
                    dim += 1;
                }
                TensorIndex::Ellipsis => dim += self.dim() - specified,
            }
        }
        if result.is_same(self) {
            return Ok(self.alias());
        }
        Ok(result)
    }

    /// `self[index]`: [`select_dim`](Self::select_dim) of dimension 0.
    pub fn select(&self, index: i64) -> Result<Tensor> {
        self.select_dim(0, index)
    }

    /// `tensor.max(dim, keepdim)` (or `min` with `is_min`): the values, then the int64 indices
    /// of the first extreme. MaxBackward0/MinBackward0 save `indices`.
    pub fn max_dim(&self, dim: isize, keepdim: bool, is_min: bool) -> Result<(Tensor, Tensor)> {
        let name = if is_min { "min" } else { "max" };
        if self.dim() == 0 {
            return Err(TensorError::Unsupported(format!(
                "{name}(dim) of a 0-dim tensor"
            )));
        }
        let d = wrap_dim(dim, self.dim())?;
        if self.shape()[d] == 0 {
            return Err(TensorError::Invalid(format!(
                "{name}(): Expected reduction dim {d} to have non-zero size."
            )));
        }
        if !self.dtype().is_floating_point() {
            return Err(TensorError::Unsupported(format!(
                "{name}(dim) of a {} tensor",
                self.dtype()
            )));
        }
        let mut shape = self.shape().to_vec();
        if keepdim {
            shape[d] = 1;
        } else {
            shape.remove(d);
        }
        let rt = self.runtime();
        let values = Tensor::empty_on(rt, &shape, self.float_result_type(), self.device())?;
        let indices = Tensor::empty_on(rt, &shape, DType::I64, self.device())?;
        let (k, cx) = values.kernels();
        k.extreme(cx, [&values.buf(), &indices.buf()], &self.buf(), d, is_min)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("indices", &indices);
            b.finish(
                Formula::SelectExtreme {
                    self_sizes: self.shape().to_vec(),
                    dim: d,
                    keepdim,
                    is_min,
                },
                &values,
            );
        }
        Ok((values, indices))
    }

    /// `value_selecting_reduction_backward`: zeros of `sizes` with this gradient at `indices`
    /// along `dim`, one index per slice: `at::zeros(sizes).scatter_(dim, indices, grad)`, one
    /// allocation (ReduceOps.cpp; the profiler's op list of 2.15's backward: `zeros`,
    /// `scatter_`). Under a `TorchDispatchMode` ATen takes its tensor-subclass branch, an
    /// out-of-place `scatter` that allocates twice, which is not what a script runs.
    pub(crate) fn value_selecting_backward(
        &self,
        sizes: &[usize],
        dim: usize,
        indices: &Tensor,
    ) -> Result<Tensor> {
        let out = self.new_zeros(sizes)?;
        let size = sizes[dim];
        let inner: usize = sizes[dim + 1..].iter().product();
        let outer: usize = sizes[..dim].iter().product();
        let (k, cx) = out.kernels();
        let split = (outer, size, inner);
        k.scatter_selected(cx, &out.buf(), [&self.buf(), &indices.buf()], split)?;
        Ok(out)
    }

    /// `slice_backward` / `select_backward`: zeros of `sizes` with this gradient copied into
    /// the place `place` picks; one allocation.
    pub(crate) fn scatter_into_zeros(
        &self,
        sizes: &[usize],
        place: impl Fn(&Tensor) -> Tensor,
    ) -> Result<Tensor> {
        let out = self.new_zeros(sizes)?;
        place(&out).copy_values_from(self)?;
        Ok(out)
    }

    /// The gradient views `cat`'s backward hands out: `grad.narrow(dim, offset, size)`.
    pub(crate) fn narrow_view(&self, dim: usize, start: usize, length: usize) -> Tensor {
        self.narrow_raw(dim, start, length)
    }

    /// Where `slice_backward` copies the gradient: `zeros.slice(dim, start, end, step)`.
    pub(crate) fn slice_view(&self, dim: usize, start: usize, end: usize, step: usize) -> Tensor {
        self.slice_raw(dim, start, end, step)
    }

    /// The gradient views `stack`'s backward hands out: `grad.select(dim, i)`.
    pub(crate) fn select_view(&self, dim: usize, index: usize) -> Tensor {
        self.select_raw(dim, index)
    }
}
