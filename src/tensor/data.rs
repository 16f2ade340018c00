//! Reading and writing elements. Kernels gather their operands into vectors in row-major order
//! and write results back; operands are never borrowed while the output is written, which keeps
//! in-place operations on aliasing views sound.
//!
//! On a cuda runtime the same functions copy between the GPU and the host (`item()`,
//! `to_vec`, `.cpu()`, `torch.tensor(...)`), on the runtime's stream, through host buffers only:
//! no device memory is allocated for a copy. A failed copy (a driver error, which CUDA keeps
//! sticky, so the next kernel launch reports it) reads as no values, as on meta.

use super::{gpu, DType, Result, Scalar, Tensor, TensorError};

/// The lowest and highest of non-empty storage offsets.
fn span(offsets: &[usize]) -> (usize, usize) {
    let lo = offsets.iter().copied().min().unwrap_or(0);
    let hi = offsets.iter().copied().max().unwrap_or(0);
    (lo, hi)
}

impl Tensor {
    /// Storage offsets (in elements) of every element, in row-major order.
    fn element_offsets(&self) -> Vec<usize> {
        let numel = self.numel();
        let shape = &self.0.shape;
        let strides = &self.0.strides;
        let mut out = Vec::with_capacity(numel);
        if numel == 0 {
            return out;
        }
        let mut index = vec![0usize; shape.len()];
        let mut pos = self.0.offset;
        for _ in 0..numel {
            out.push(pos);
            for d in (0..shape.len()).rev() {
                index[d] += 1;
                pos += strides[d];
                if index[d] < shape[d] {
                    break;
                }
                pos -= strides[d] * shape[d];
                index[d] = 0;
            }
        }
        out
    }

    /// Elements as stored, when the storage has data. `T` must be the storage's element type.
    fn gather<T: Copy + Default>(&self) -> Option<Vec<T>> {
        debug_assert_eq!(std::mem::size_of::<T>(), self.dtype().size());
        let numel = self.numel();
        if numel == 0 {
            return Some(Vec::new());
        }
        let storage = self.storage();
        if let Some(dev) = storage.gpu_ptr() {
            let gpu = self.runtime().gpu()?;
            let offsets = self.element_offsets();
            let (lo, hi) = span(&offsets);
            let mut buf = vec![T::default(); hi - lo + 1];
            gpu.download(dev.offset((lo * std::mem::size_of::<T>()) as u64), &mut buf)
                .ok()?;
            return Some(offsets.into_iter().map(|o| buf[o - lo]).collect());
        }
        let base = storage.ptr()?.as_ptr() as *const T;
        if self.is_contiguous() {
            // SAFETY: the storage holds at least offset + numel elements of T (a contiguous
            // view never reaches past its storage), aligned because blocks and host storages
            // are 64-aligned; nothing writes to it while this slice lives.
            let slice = unsafe { std::slice::from_raw_parts(base.add(self.0.offset), numel) };
            return Some(slice.to_vec());
        }
        Some(
            self.element_offsets()
                .into_iter()
                // SAFETY: every offset of a valid view lies inside its storage.
                .map(|o| unsafe { base.add(o).read() })
                .collect(),
        )
    }

    fn scatter<T: Copy + Default>(&self, values: &[T]) {
        debug_assert_eq!(std::mem::size_of::<T>(), self.dtype().size());
        debug_assert_eq!(values.len(), self.numel());
        let storage = self.storage();
        if let (Some(dev), Some(gpu)) = (storage.gpu_ptr(), self.runtime().gpu()) {
            if values.is_empty() {
                return;
            }
            let size = std::mem::size_of::<T>();
            if self.is_contiguous() {
                let _ = gpu.upload(dev.offset((self.0.offset * size) as u64), values);
                return;
            }
            // A strided view: read the span it covers, place the values, write the span back
            // (the stream is idle after the read, so nothing runs in between).
            let offsets = self.element_offsets();
            let (lo, hi) = span(&offsets);
            let at = dev.offset((lo * size) as u64);
            let mut buf = vec![T::default(); hi - lo + 1];
            if gpu.download(at, &mut buf).is_ok() {
                for (o, v) in offsets.into_iter().zip(values) {
                    buf[o - lo] = *v;
                }
                let _ = gpu.upload(at, &buf);
            }
            return;
        }
        let Some(ptr) = storage.ptr() else { return };
        let base = ptr.as_ptr() as *mut T;
        if self.is_contiguous() {
            // SAFETY: as in `gather`; `values` is an owned vector, never the storage itself.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    values.as_ptr(),
                    base.add(self.0.offset),
                    values.len(),
                )
            };
            return;
        }
        for (o, v) in self.element_offsets().into_iter().zip(values) {
            // SAFETY: every offset of a valid view lies inside its storage.
            unsafe { base.add(o).write(*v) };
        }
    }

    /// Values converted to f32; `None` on meta.
    pub(crate) fn read_f32(&self) -> Option<Vec<f32>> {
        Some(match self.dtype() {
            DType::F32 => self.gather::<f32>()?,
            DType::I64 => self
                .gather::<i64>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            DType::Bool => self
                .gather::<u8>()?
                .into_iter()
                .map(|v| if v != 0 { 1.0 } else { 0.0 })
                .collect(),
        })
    }

    /// Values converted to i64 (floats truncate toward zero, as `.long()` does); `None` on meta.
    pub(crate) fn read_i64(&self) -> Option<Vec<i64>> {
        Some(match self.dtype() {
            DType::F32 => self
                .gather::<f32>()?
                .into_iter()
                .map(|v| v as i64)
                .collect(),
            DType::I64 => self.gather::<i64>()?,
            DType::Bool => self
                .gather::<u8>()?
                .into_iter()
                .map(|v| (v != 0) as i64)
                .collect(),
        })
    }

    /// Values converted to bool (non-zero is true); `None` on meta.
    pub(crate) fn read_bool(&self) -> Option<Vec<bool>> {
        Some(match self.dtype() {
            DType::F32 => self
                .gather::<f32>()?
                .into_iter()
                .map(|v| v != 0.0)
                .collect(),
            DType::I64 => self.gather::<i64>()?.into_iter().map(|v| v != 0).collect(),
            DType::Bool => self.gather::<u8>()?.into_iter().map(|v| v != 0).collect(),
        })
    }

    /// Writes f32 values, converted to the storage's type; a no-op on meta.
    pub(crate) fn write_f32(&self, values: &[f32]) {
        match self.dtype() {
            DType::F32 => self.scatter(values),
            DType::I64 => self.scatter(&values.iter().map(|&v| v as i64).collect::<Vec<_>>()),
            DType::Bool => {
                self.scatter(&values.iter().map(|&v| (v != 0.0) as u8).collect::<Vec<_>>())
            }
        }
    }

    /// Writes i64 values, converted to the storage's type; a no-op on meta.
    pub(crate) fn write_i64(&self, values: &[i64]) {
        match self.dtype() {
            DType::F32 => self.scatter(&values.iter().map(|&v| v as f32).collect::<Vec<_>>()),
            DType::I64 => self.scatter(values),
            DType::Bool => {
                self.scatter(&values.iter().map(|&v| (v != 0) as u8).collect::<Vec<_>>())
            }
        }
    }

    /// Writes bool values, converted to the storage's type; a no-op on meta.
    pub(crate) fn write_bool(&self, values: &[bool]) {
        match self.dtype() {
            DType::F32 => self.scatter(
                &values
                    .iter()
                    .map(|&v| if v { 1.0f32 } else { 0.0 })
                    .collect::<Vec<_>>(),
            ),
            DType::I64 => self.scatter(&values.iter().map(|&v| v as i64).collect::<Vec<_>>()),
            DType::Bool => self.scatter(&values.iter().map(|&v| v as u8).collect::<Vec<_>>()),
        }
    }

    /// Copies `src`'s values into this tensor (same number of elements), through the widest
    /// type of the two so integers survive: a kernel when both are on the GPU, a copy between
    /// host and GPU when one is.
    pub(crate) fn copy_values_from(&self, src: &Tensor) -> Result<()> {
        if let (Some(g), Some(_)) = (self.gpu(), src.gpu()) {
            return gpu::copy(g, self, src);
        }
        match (self.dtype(), src.dtype()) {
            (DType::I64, _) | (_, DType::I64) => {
                if let Some(v) = src.read_i64() {
                    self.write_i64(&v)
                }
            }
            (DType::Bool, DType::Bool) => {
                if let Some(v) = src.read_bool() {
                    self.write_bool(&v)
                }
            }
            _ => {
                if let Some(v) = src.read_f32() {
                    self.write_f32(&v)
                }
            }
        }
        Ok(())
    }

    /// Sets every element to `value` (`fill_`, `zeros`, `ones`): a kernel on the GPU.
    pub(crate) fn fill_values(&self, value: Scalar) -> Result<()> {
        if let Some(g) = self.gpu() {
            return gpu::fill(g, self, value);
        }
        // Values are set where they live: a vector of them first would cost a second tensor's
        // worth of host memory, and on meta, which has no values, a full-size buffer for nothing.
        if !self.has_data() {
            return Ok(());
        }
        // The conversions `write_f32` and `write_i64` make.
        match (self.dtype(), value) {
            (DType::F32, Scalar::Int(i)) => self.fill_with(i as f32),
            (DType::F32, Scalar::Float(f)) => self.fill_with(f as f32),
            (DType::I64, Scalar::Int(i)) => self.fill_with(i),
            (DType::I64, Scalar::Float(f)) => self.fill_with(f as f32 as i64),
            (DType::Bool, Scalar::Int(i)) => self.fill_with(u8::from(i != 0)),
            (DType::Bool, Scalar::Float(f)) => self.fill_with(u8::from(f as f32 != 0.0)),
        }
        Ok(())
    }

    /// Writes `value` to every element of a host-addressable storage. `T` must be the
    /// storage's element type.
    fn fill_with<T: Copy>(&self, value: T) {
        debug_assert_eq!(std::mem::size_of::<T>(), self.dtype().size());
        let numel = self.numel();
        let storage = self.storage();
        let Some(ptr) = storage.ptr() else { return };
        let base = ptr.as_ptr() as *mut T;
        if self.is_contiguous() {
            // SAFETY: as in `gather`: the storage holds offset + numel aligned elements of T,
            // and no other reference to them lives while this one does.
            unsafe { std::slice::from_raw_parts_mut(base.add(self.0.offset), numel) }.fill(value);
            return;
        }
        for o in self.element_offsets() {
            // SAFETY: every offset of a valid view lies inside its storage.
            unsafe { base.add(o).write(value) };
        }
    }

    /// The values as f32 in row-major order. Where device values do not exist (see
    /// [`has_data`](Self::has_data)) this returns zeros, a placeholder like
    /// [`item`](Self::item)'s.
    pub fn to_vec_f32(&self) -> Vec<f32> {
        self.read_f32().unwrap_or_else(|| vec![0.0; self.numel()])
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
            DType::F32 => self.read_f32().map_or(0.0, |v| v[0] as f64),
            DType::I64 => self.read_i64().map_or(0.0, |v| v[0] as f64),
            DType::Bool => self.read_bool().map_or(0.0, |v| v[0] as u8 as f64),
        })
    }
}
