//! The tensors CopySlices' and AsStridedBackward0's backward make (`src/autograd/copy_slices.rs`):
//! a gradient in a given geometry, a contiguous copy without history, a 1-D run of zeros.

use super::{checked_numel, Result, Scalar, Tensor};
use crate::alloc::Purpose;

impl Tensor {
    /// Where this tensor starts in its storage, in elements (`storage_offset()`).
    pub fn storage_offset(&self) -> usize {
        self.0.offset
    }

    /// `self.new_empty_strided(shape, strides)`: a fresh storage just large enough for the
    /// geometry (every element of a contiguous one), viewed with it from offset 0.
    pub(crate) fn empty_strided_like(&self, shape: &[usize], strides: &[usize]) -> Result<Tensor> {
        checked_numel(shape)?;
        let len = if shape.contains(&0) {
            0
        } else {
            1 + shape
                .iter()
                .zip(strides)
                .map(|(&n, &s)| (n - 1) * s)
                .sum::<usize>()
        };
        let storage = Tensor::empty_for(
            self.runtime(),
            &[len],
            self.dtype(),
            self.device(),
            Purpose::Temporary,
        )?;
        Ok(storage.as_strided_view(shape, strides, 0))
    }

    /// `self.as_strided(shape, strides, offset)` with no history: the same storage in another
    /// geometry, `offset` elements from the storage's start.
    pub(crate) fn as_strided_view(
        &self,
        shape: &[usize],
        strides: &[usize],
        offset: usize,
    ) -> Tensor {
        self.view_raw(shape.to_vec(), strides.to_vec(), offset)
    }

    /// `self.clone(memory_format=contiguous)` with no history.
    pub(crate) fn contiguous_copy(&self) -> Result<Tensor> {
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        out.copy_values_from(self)?;
        Ok(out)
    }

    /// `self.new_zeros([len])`.
    pub(crate) fn zeros_with_len(&self, len: usize) -> Result<Tensor> {
        let out = self.new_like(&[len], self.dtype(), self.device())?;
        out.fill_values(Scalar::Float(0.0))?;
        Ok(out)
    }
}
