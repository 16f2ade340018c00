//! [`Buf`]: what a kernel sees of a tensor (its storage, layout and dtype), and the reads and
//! writes of its elements. Reads gather into vectors in row-major order and writes scatter
//! back; operands are never borrowed while the output is written, which keeps in-place
//! operations on aliasing views sound.
//!
//! Device values on a cuda runtime are reached by copies on the runtime's stream, through host
//! buffers only: no device memory is allocated for a copy. A failed copy (a driver error, which
//! CUDA keeps sticky, so the next kernel launch reports it) reads as no values, as on meta.

use std::rc::Rc;

use super::strided::ELEMENTS_PER_TIME_CHECK;
use super::{half, Cx};
use crate::tensor::storage::Storage;
use crate::tensor::{DType, Result, Tensor};

/// A strided view of a storage: the operand of a kernel.
pub(crate) struct Buf<'a> {
    pub(crate) storage: Rc<Storage>,
    pub(crate) shape: &'a [usize],
    /// In elements.
    pub(crate) strides: &'a [usize],
    /// In elements.
    pub(crate) offset: usize,
    pub(crate) dtype: DType,
}

impl Tensor {
    /// This tensor as a kernel operand.
    pub(crate) fn buf(&self) -> Buf<'_> {
        Buf {
            storage: self.storage(),
            shape: &self.0.shape,
            strides: &self.0.strides,
            offset: self.0.offset,
            dtype: self.dtype(),
        }
    }
}

/// The lowest and highest of non-empty storage offsets.
fn span(offsets: &[usize]) -> (usize, usize) {
    let lo = offsets.iter().copied().min().unwrap_or(0);
    let hi = offsets.iter().copied().max().unwrap_or(0);
    (lo, hi)
}

impl Buf<'_> {
    pub(crate) fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub(crate) fn dim(&self) -> usize {
        self.shape.len()
    }

    /// Whether elements are laid out row-major without gaps.
    pub(crate) fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&size, &stride) in self.shape.iter().zip(self.strides).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            expected *= size;
        }
        true
    }

    /// Storage offsets (in elements) of every element, in row-major order.
    pub(crate) fn element_offsets(&self) -> Vec<usize> {
        let numel = self.numel();
        let mut out = Vec::with_capacity(numel);
        if numel == 0 {
            return out;
        }
        let mut index = vec![0usize; self.shape.len()];
        let mut pos = self.offset;
        for _ in 0..numel {
            out.push(pos);
            for d in (0..self.shape.len()).rev() {
                index[d] += 1;
                pos += self.strides[d];
                if index[d] < self.shape[d] {
                    break;
                }
                pos -= self.strides[d] * self.shape[d];
                index[d] = 0;
            }
        }
        out
    }

    /// Elements as stored, when the storage has data. `T` must be the storage's element type.
    fn gather<T: Copy + Default>(&self, cx: Cx) -> Option<Vec<T>> {
        debug_assert_eq!(std::mem::size_of::<T>(), self.dtype.size());
        let numel = self.numel();
        if numel == 0 {
            return Some(Vec::new());
        }
        if let Some(dev) = self.storage.gpu_ptr() {
            let gpu = cx.gpu?;
            let offsets = self.element_offsets();
            let (lo, hi) = span(&offsets);
            let mut buf = vec![T::default(); hi - lo + 1];
            gpu.download(dev.offset((lo * std::mem::size_of::<T>()) as u64), &mut buf)
                .ok()?;
            return Some(offsets.into_iter().map(|o| buf[o - lo]).collect());
        }
        let base = self.storage.ptr()?.as_ptr() as *const T;
        if self.is_contiguous() {
            // SAFETY: the storage holds at least offset + numel elements of T (a contiguous
            // view never reaches past its storage), aligned because blocks and host storages
            // are 64-aligned; nothing writes to it while this slice lives.
            let slice = unsafe { std::slice::from_raw_parts(base.add(self.offset), numel) };
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

    fn scatter<T: Copy + Default>(&self, cx: Cx, values: &[T]) {
        debug_assert_eq!(std::mem::size_of::<T>(), self.dtype.size());
        debug_assert_eq!(values.len(), self.numel());
        if let (Some(dev), Some(gpu)) = (self.storage.gpu_ptr(), cx.gpu) {
            if values.is_empty() {
                return;
            }
            let size = std::mem::size_of::<T>();
            if self.is_contiguous() {
                let _ = gpu.upload(dev.offset((self.offset * size) as u64), values);
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
        let Some(ptr) = self.storage.ptr() else {
            return;
        };
        let base = ptr.as_ptr() as *mut T;
        if self.is_contiguous() {
            // SAFETY: as in `gather`; `values` is an owned vector, never the storage itself.
            unsafe {
                std::ptr::copy_nonoverlapping(values.as_ptr(), base.add(self.offset), values.len())
            };
            return;
        }
        for (o, v) in self.element_offsets().into_iter().zip(values) {
            // SAFETY: every offset of a valid view lies inside its storage.
            unsafe { base.add(o).write(*v) };
        }
    }

    /// Writes `value` to every element of a host-addressable storage, looking at the deadline
    /// every [`ELEMENTS_PER_TIME_CHECK`] elements: `torch.zeros(2**31)` on the host writes 8 GiB
    /// (the ninth campaign's hang). `T` must be the storage's element type.
    pub(crate) fn fill_with<T: Copy>(&self, cx: Cx, value: T) -> Result<()> {
        debug_assert_eq!(std::mem::size_of::<T>(), self.dtype.size());
        let numel = self.numel();
        let Some(ptr) = self.storage.ptr() else {
            return Ok(());
        };
        let base = ptr.as_ptr() as *mut T;
        if self.is_contiguous() {
            // SAFETY: as in `gather`: the storage holds offset + numel aligned elements of T,
            // and no other reference to them lives while this one does.
            let values = unsafe { std::slice::from_raw_parts_mut(base.add(self.offset), numel) };
            for block in values.chunks_mut(ELEMENTS_PER_TIME_CHECK) {
                cx.check_time()?;
                block.fill(value);
            }
            return Ok(());
        }
        for (i, o) in self.element_offsets().into_iter().enumerate() {
            if i % ELEMENTS_PER_TIME_CHECK == 0 {
                cx.check_time()?;
            }
            // SAFETY: every offset of a valid view lies inside its storage.
            unsafe { base.add(o).write(value) };
        }
        Ok(())
    }

    /// Values converted to f32; `None` where they do not exist (meta).
    pub(crate) fn read_f32(&self, cx: Cx) -> Option<Vec<f32>> {
        Some(match self.dtype {
            DType::F32 => self.gather::<f32>(cx)?,
            DType::F16 | DType::BF16 => self.read_half(cx)?,
            DType::I64 => self
                .gather::<i64>(cx)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            DType::I32 => self
                .gather::<i32>(cx)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            DType::F64 => self
                .gather::<f64>(cx)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            DType::Bool => self
                .gather::<u8>(cx)?
                .into_iter()
                .map(|v| if v != 0 { 1.0 } else { 0.0 })
                .collect(),
        })
    }

    /// Values converted to f64: exact for every type but int64 beyond 2^53 (`item()`, copies
    /// to and from float64). Integers are read as integers: through f32 an int32 past 2^24
    /// would round.
    pub(crate) fn read_f64(&self, cx: Cx) -> Option<Vec<f64>> {
        Some(match self.dtype {
            DType::F64 => self.gather::<f64>(cx)?,
            DType::I64 => self
                .gather::<i64>(cx)?
                .into_iter()
                .map(|v| v as f64)
                .collect(),
            DType::I32 => self.gather::<i32>(cx)?.into_iter().map(f64::from).collect(),
            _ => self.read_f32(cx)?.into_iter().map(f64::from).collect(),
        })
    }

    /// The values of a float16 or bfloat16 view, widened to f32.
    fn read_half(&self, cx: Cx) -> Option<Vec<f32>> {
        let bits = self.gather::<u16>(cx)?;
        Some(
            bits.into_iter()
                .map(|b| half::to_f32(self.dtype, b))
                .collect(),
        )
    }

    /// Values converted to i64 (floats truncate toward zero, as `.long()` does).
    pub(crate) fn read_i64(&self, cx: Cx) -> Option<Vec<i64>> {
        Some(match self.dtype {
            DType::F32 => self
                .gather::<f32>(cx)?
                .into_iter()
                .map(|v| v as i64)
                .collect(),
            DType::F16 | DType::BF16 => self.read_half(cx)?.into_iter().map(|v| v as i64).collect(),
            DType::I64 => self.gather::<i64>(cx)?,
            DType::I32 => self.gather::<i32>(cx)?.into_iter().map(i64::from).collect(),
            DType::F64 => self
                .gather::<f64>(cx)?
                .into_iter()
                .map(|v| v as i64)
                .collect(),
            DType::Bool => self
                .gather::<u8>(cx)?
                .into_iter()
                .map(|v| (v != 0) as i64)
                .collect(),
        })
    }

    /// Values converted to bool (non-zero is true).
    pub(crate) fn read_bool(&self, cx: Cx) -> Option<Vec<bool>> {
        Some(match self.dtype {
            DType::F32 => self
                .gather::<f32>(cx)?
                .into_iter()
                .map(|v| v != 0.0)
                .collect(),
            DType::F16 | DType::BF16 => self.read_half(cx)?.into_iter().map(|v| v != 0.0).collect(),
            DType::I64 => self
                .gather::<i64>(cx)?
                .into_iter()
                .map(|v| v != 0)
                .collect(),
            DType::I32 => self
                .gather::<i32>(cx)?
                .into_iter()
                .map(|v| v != 0)
                .collect(),
            DType::F64 => self
                .gather::<f64>(cx)?
                .into_iter()
                .map(|v| v != 0.0)
                .collect(),
            DType::Bool => self.gather::<u8>(cx)?.into_iter().map(|v| v != 0).collect(),
        })
    }

    /// Writes `src`'s values (as many as this view has) converted to this view's type,
    /// through the type that keeps them: f64 when a side is float64, i64 when a side is an
    /// integer (large integers survive), bools between bools, else f32.
    pub(crate) fn copy_converted(&self, cx: Cx, src: &Buf) {
        match (self.dtype, src.dtype) {
            (DType::F64, _) | (_, DType::F64) => {
                if let Some(v) = src.read_f64(cx) {
                    self.write_f64(cx, &v)
                }
            }
            (DType::I64 | DType::I32, _) | (_, DType::I64 | DType::I32) => {
                if let Some(v) = src.read_i64(cx) {
                    self.write_i64(cx, &v)
                }
            }
            (DType::Bool, DType::Bool) => {
                if let Some(v) = src.read_bool(cx) {
                    self.write_bool(cx, &v)
                }
            }
            _ => {
                if let Some(v) = src.read_f32(cx) {
                    self.write_f32(cx, &v)
                }
            }
        }
    }

    /// Writes f32 values, converted to the storage's type; nothing where there is no memory.
    pub(crate) fn write_f32(&self, cx: Cx, values: &[f32]) {
        match self.dtype {
            DType::F32 => self.scatter(cx, values),
            DType::F16 | DType::BF16 => {
                self.scatter(cx, &half::encode(self.dtype, values.iter().copied()))
            }
            DType::I64 => self.scatter(cx, &values.iter().map(|&v| v as i64).collect::<Vec<_>>()),
            DType::I32 => self.scatter(cx, &values.iter().map(|&v| v as i32).collect::<Vec<_>>()),
            DType::F64 => self.scatter(
                cx,
                &values.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            ),
            DType::Bool => self.scatter(
                cx,
                &values.iter().map(|&v| (v != 0.0) as u8).collect::<Vec<_>>(),
            ),
        }
    }

    /// Writes f64 values, converted to the storage's type (other floats round through f32,
    /// as the f32 writes they then are).
    pub(crate) fn write_f64(&self, cx: Cx, values: &[f64]) {
        match self.dtype {
            DType::F64 => self.scatter(cx, values),
            // Truncated to i64 (saturating), then to int32 as `write_i64` wraps it: what the
            // kernels' store_f64 does.
            DType::I64 | DType::I32 => {
                self.write_i64(cx, &values.iter().map(|&v| v as i64).collect::<Vec<_>>())
            }
            _ => self.write_f32(cx, &values.iter().map(|&v| v as f32).collect::<Vec<_>>()),
        }
    }

    /// Writes i64 values, converted to the storage's type.
    pub(crate) fn write_i64(&self, cx: Cx, values: &[i64]) {
        match self.dtype {
            DType::F32 => self.scatter(cx, &values.iter().map(|&v| v as f32).collect::<Vec<_>>()),
            DType::F16 | DType::BF16 => self.scatter(
                cx,
                &half::encode(self.dtype, values.iter().map(|&v| v as f32)),
            ),
            DType::I64 => self.scatter(cx, values),
            // Wraps modulo 2^32, as a C++ int64 -> int32 conversion (and PyTorch's copy) does.
            DType::I32 => self.scatter(cx, &values.iter().map(|&v| v as i32).collect::<Vec<_>>()),
            DType::F64 => self.scatter(cx, &values.iter().map(|&v| v as f64).collect::<Vec<_>>()),
            DType::Bool => self.scatter(
                cx,
                &values.iter().map(|&v| (v != 0) as u8).collect::<Vec<_>>(),
            ),
        }
    }

    /// Writes bool values, converted to the storage's type.
    pub(crate) fn write_bool(&self, cx: Cx, values: &[bool]) {
        match self.dtype {
            DType::F32 => self.scatter(
                cx,
                &values
                    .iter()
                    .map(|&v| if v { 1.0f32 } else { 0.0 })
                    .collect::<Vec<_>>(),
            ),
            DType::F16 | DType::BF16 => self.scatter(
                cx,
                &half::encode(self.dtype, values.iter().map(|&v| f32::from(u8::from(v)))),
            ),
            DType::I64 => self.scatter(cx, &values.iter().map(|&v| v as i64).collect::<Vec<_>>()),
            DType::I32 => self.scatter(cx, &values.iter().map(|&v| v as i32).collect::<Vec<_>>()),
            DType::F64 => self.scatter(
                cx,
                &values
                    .iter()
                    .map(|&v| if v { 1.0f64 } else { 0.0 })
                    .collect::<Vec<_>>(),
            ),
            DType::Bool => self.scatter(cx, &values.iter().map(|&v| v as u8).collect::<Vec<_>>()),
        }
    }
}
