//! Reading and writing a tensor's elements from the host (`item()`, `to_vec`,
//! `torch.tensor(...)`), through [`Buf`](super::kernel::Buf)'s reads and writes: on a cuda
//! runtime they are copies between the GPU and the host on the runtime's stream.

use super::kernel::Cx;
use super::{DType, Result, Scalar, Tensor, TensorError};

impl Tensor {
    /// What kernels and copies of this tensor's runtime may use.
    fn cx(&self) -> Cx<'_> {
        Cx::of(self.runtime())
    }

    /// Values converted to f32; `None` on meta.
    pub(crate) fn read_f32(&self) -> Option<Vec<f32>> {
        self.buf().read_f32(self.cx())
    }

    /// Values converted to f64; `None` on meta.
    pub(crate) fn read_f64(&self) -> Option<Vec<f64>> {
        self.buf().read_f64(self.cx())
    }

    /// Values converted to i64 (floats truncate toward zero, as `.long()` does); `None` on meta.
    pub(crate) fn read_i64(&self) -> Option<Vec<i64>> {
        self.buf().read_i64(self.cx())
    }

    /// Values converted to bool (non-zero is true); `None` on meta.
    pub(crate) fn read_bool(&self) -> Option<Vec<bool>> {
        self.buf().read_bool(self.cx())
    }

    /// Writes f32 values, converted to the storage's type; a no-op on meta.
    pub(crate) fn write_f32(&self, values: &[f32]) {
        self.buf().write_f32(self.cx(), values)
    }

    /// Writes f64 values, converted to the storage's type; a no-op on meta.
    pub(crate) fn write_f64(&self, values: &[f64]) {
        self.buf().write_f64(self.cx(), values)
    }

    /// Writes i64 values, converted to the storage's type; a no-op on meta.
    pub(crate) fn write_i64(&self, values: &[i64]) {
        self.buf().write_i64(self.cx(), values)
    }

    /// Copies `src`'s values into this tensor (same number of elements), through the widest
    /// type of the two so integers survive: a kernel when both are on the GPU, a copy between
    /// host and GPU when one is.
    pub(crate) fn copy_values_from(&self, src: &Tensor) -> Result<()> {
        let (k, cx) = self.kernels();
        k.copy(cx, &self.buf(), &src.buf())
    }

    /// Sets every element to `value` (`fill_`, `zeros`, `ones`) where it lives.
    pub(crate) fn fill_values(&self, value: Scalar) -> Result<()> {
        let (k, cx) = self.kernels();
        k.fill(cx, &self.buf(), value)
    }

    /// The values as f32 in row-major order. Where device values do not exist (see
    /// [`has_data`](Self::has_data)) this returns zeros, a placeholder like
    /// [`item`](Self::item)'s.
    pub fn to_vec_f32(&self) -> Vec<f32> {
        self.read_f32().unwrap_or_else(|| vec![0.0; self.numel()])
    }

    /// The values as f64 in row-major order (a float64 tensor's exactly); zeros on meta.
    pub fn to_vec_f64(&self) -> Vec<f64> {
        self.read_f64().unwrap_or_else(|| vec![0.0; self.numel()])
    }

    /// The values as i64 in row-major order; zeros on meta.
    pub fn to_vec_i64(&self) -> Vec<i64> {
        self.read_i64().unwrap_or_else(|| vec![0; self.numel()])
    }

    /// `tensor.item()`: the one element as a Python number would hold it (bools as 0 or 1).
    /// Allocates nothing. Where a device tensor has no value (the meta backend; see
    /// [`has_data`](Self::has_data)) this returns 0.0, so programs that log their loss run
    /// unchanged.
    pub fn item(&self) -> Result<f64> {
        let n = self.numel();
        if n != 1 {
            return Err(TensorError::ItemNotScalar(n));
        }
        Ok(match self.dtype() {
            DType::F32 | DType::F16 | DType::BF16 => self.read_f32().map_or(0.0, |v| v[0] as f64),
            DType::I64 | DType::I32 => self.read_i64().map_or(0.0, |v| v[0] as f64),
            DType::F64 => self.read_f64().map_or(0.0, |v| v[0]),
            DType::Bool => self.read_bool().map_or(0.0, |v| v[0] as u8 as f64),
        })
    }
}
