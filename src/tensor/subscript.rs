//! `x[index]` and `x[index] = value` with tensor indices, as `THPVariable_getitem` /
//! `THPVariable_setitem` and `applySlicing` dispatch them: integers and slices first (views),
//! then the tensor indices in one `at::index` (or, assigning, one in-place write). Checked on
//! PyTorch 2.15 (`docs/autograd.md`, "Indexing"):
//!
//! - `x[idx]`, `x[[0, 2]]`, `x[mask]`, `x[:, idx]`, `x[1:, idx]`, `x[idx, 1]`: IndexBackward0,
//!   whose edge goes to the view the basic items made (SliceBackward0, SelectBackward0).
//! - `x[i] = v`, `x[:, 0] = v`: `copy_` (or `fill_` for a number) on the view.
//! - `x[idx] = number` with one int64 index of at most one dimension: `index_fill_`;
//!   `x[mask] = number` with one bool mask: `masked_fill_`; anything else with a tensor index:
//!   `index_put_`.
//!
//! A list of integers becomes an int64 tensor on the indexed tensor's device
//! (`indexing_tensor_from_data`), which IndexBackward0 then saves.

use super::index::{Indexer, SetValue};
use super::{DType, Result, Scalar, Tensor, TensorError, TensorIndex};
use crate::autograd::Formula;

/// What the basic items of a subscript made, and the tensor indices left for `at::index`.
struct Sliced {
    view: Tensor,
    indices: Vec<Option<Tensor>>,
}

/// How many dimensions an index list entry covers: a bool mask one per dimension of its own.
fn covered(indices: &[Option<Tensor>]) -> usize {
    indices
        .iter()
        .map(|t| match t {
            Some(t) if t.dtype() == DType::Bool => t.dim(),
            _ => 1,
        })
        .sum()
}

impl Tensor {
    /// `applySlicing`: integers select and slices slice (a slice taking a whole dimension is
    /// skipped), `None` unsqueezes, `...` skips what the other items do not name, and tensor
    /// items are set aside at the dimension they index. The view is `self` when nothing
    /// changed it.
    fn apply_slicing(&self, items: &[Indexer]) -> Result<Sliced> {
        let names = |i: &Indexer| match i {
            Indexer::Basic(TensorIndex::Int(_) | TensorIndex::Slice(..)) => 1,
            Indexer::Tensor(t) if t.dtype() == DType::Bool => t.dim(),
            Indexer::Tensor(_) => 1,
            Indexer::Basic(_) => 0,
        };
        let specified: usize = items.iter().map(names).sum();
        if specified > self.dim() {
            return Err(TensorError::Invalid(format!(
                "too many indices for tensor of dimension {}",
                self.dim()
            )));
        }
        let ellipses = items
            .iter()
            .filter(|i| matches!(i, Indexer::Basic(TensorIndex::Ellipsis)))
            .count();
        if ellipses > 1 {
            return Err(TensorError::Invalid(
                "an index can only have a single ellipsis ('...')".into(),
            ));
        }
        let mut view = self.clone();
        let mut indices: Vec<Option<Tensor>> = Vec::new();
        let mut dim = 0usize;
        for item in items {
            match item {
                Indexer::Basic(TensorIndex::Int(i)) => view = view.select_dim(dim as isize, *i)?,
                Indexer::Basic(TensorIndex::Slice(a, b, c)) => {
                    let size = view.shape()[dim] as i64;
                    let whole = a.unwrap_or(0) == 0 && b.is_none_or(|e| e >= size) && *c == 1;
                    if !whole {
                        view = view.slice(dim as isize, *a, *b, *c)?;
                    }
                    dim += 1;
                }
                Indexer::Basic(TensorIndex::None) => {
                    view = view.unsqueeze(dim)?;
                    dim += 1;
                }
                Indexer::Basic(TensorIndex::Ellipsis) => dim += self.dim() - specified,
                Indexer::Tensor(t) => {
                    while covered(&indices) < dim {
                        indices.push(None);
                    }
                    indices.push(Some(t.clone()));
                    dim += names(item);
                }
            }
        }
        Ok(Sliced { view, indices })
    }

    /// `self[items]` (`is_tuple` when the subscript was a tuple): basic items give a view
    /// ([`index`](Self::index)); tensor items an `at::index` of the sliced view.
    pub fn getitem(&self, items: &[Indexer], is_tuple: bool) -> Result<Tensor> {
        if items.iter().all(|i| matches!(i, Indexer::Basic(_))) {
            let basic: Vec<TensorIndex> = items
                .iter()
                .filter_map(|i| match i {
                    Indexer::Basic(b) => Some(*b),
                    Indexer::Tensor(_) => None,
                })
                .collect();
            return self.index(&basic, is_tuple);
        }
        let sliced = self.apply_slicing(items)?;
        sliced.view.index_tensors(&sliced.indices)
    }

    /// `self[items] = value`, in place: see the module documentation for which operation
    /// each form dispatches to.
    pub fn setitem(&self, items: &[Indexer], value: &SetValue) -> Result<()> {
        let sliced = self.apply_slicing(items)?;
        let target = sliced.view;
        let tensors: Vec<&Tensor> = sliced.indices.iter().flatten().collect();
        match (value, tensors.as_slice()) {
            (SetValue::Scalar(s), []) => {
                target.fill_(*s)?;
            }
            (SetValue::Tensor(v), []) => {
                target.copy_(v)?;
            }
            (SetValue::Scalar(s), [mask])
                if mask.dtype() == DType::Bool && sliced.indices.len() == 1 =>
            {
                // The mask covers the leading dimensions; masked_fill_ broadcasts it over the
                // rest.
                let extra = target.dim().saturating_sub(mask.dim());
                let mut shape = mask.shape().to_vec();
                let mut strides = mask.strides().to_vec();
                shape.extend(std::iter::repeat_n(1, extra));
                strides.extend(std::iter::repeat_n(1, extra));
                let mask = mask.view_raw(shape, strides, mask.0.offset);
                target.masked_fill_(&mask, s.as_f64())?;
            }
            (SetValue::Scalar(s), [index]) if index.dtype() == DType::I64 && index.dim() <= 1 => {
                let dim = sliced.indices.len() - 1;
                target.index_fill_(dim as isize, index, s.as_f64())?;
            }
            (SetValue::Scalar(s), _) => {
                // A number becomes a 0-dim host tensor, as PyTorch's `valueToTensor` makes it
                // for a device tensor.
                let v = self
                    .runtime()
                    .zeros(&[], target.dtype(), super::Device::Cpu)?;
                v.fill_values(*s)?;
                target.index_put_(&sliced.indices, &v, false)?;
            }
            (SetValue::Tensor(v), _) => {
                // `slicePrefix1sSize`: leading dimensions of size 1 of the value are dropped.
                let lead = v.shape().iter().take_while(|&&d| d == 1).count();
                let v = if lead > 0 {
                    let shape: Vec<isize> = v.shape()[lead..].iter().map(|&d| d as isize).collect();
                    v.view(&shape)?
                } else {
                    v.clone()
                };
                target.index_put_(&sliced.indices, &v, false)?;
            }
        }
        Ok(())
    }

    /// `tensor.copy_(src)`: `src` broadcast into this tensor, converted to its type, at the
    /// next version; CopyBackwards gives `src` the gradient.
    pub fn copy_(&self, src: &Tensor) -> Result<Tensor> {
        let shape = super::ops::broadcast_shapes(self.shape(), src.shape())?;
        if shape != self.shape() {
            return Err(TensorError::Invalid(format!(
                "The size of tensor a ({}) must match the size of tensor b ({}) at non-singleton dimension",
                super::format_shape(self.shape()),
                super::format_shape(src.shape())
            )));
        }
        let builder = self.begin_inplace(&[self, src])?;
        self.copy_values_from(&src.broadcast_view(&shape))?;
        self.bump_version();
        if let Some(b) = builder {
            b.finish(Formula::Copy, self);
        }
        Ok(self.clone())
    }
}

/// A list of Python integers (or bools) as an index tensor on `like`'s device, as
/// `indexing_tensor_from_data` makes it: int64, or bool when every item is a bool.
pub fn list_index(like: &Tensor, values: &[i64], bools: bool) -> Result<Tensor> {
    let dtype = if bools { DType::Bool } else { DType::I64 };
    let t = Tensor::empty_on(like.runtime(), &[values.len()], dtype, like.device())?;
    t.write_i64(values);
    Ok(t)
}

impl From<Scalar> for SetValue {
    fn from(s: Scalar) -> SetValue {
        SetValue::Scalar(s)
    }
}
