//! Storages: the memory behind tensors. Device storages own one allocator block and give it back
//! when the last tensor (view or not) using them is dropped, which is how every PyTorch
//! reference-counting effect on memory shows up in the allocator's statistics.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::Cell;
use std::ptr::NonNull;

use super::{DType, Device, Result};
use crate::alloc::Purpose;
use crate::base::BlockId;
use crate::device::DevicePtr;
use crate::runtime::Runtime;

/// Host storages are aligned like device blocks so that every dtype can be read in place.
const HOST_ALIGN: usize = 64;
/// The alignment the system allocator gives a zeroed allocation through `calloc` (glibc on
/// 64-bit targets); a larger one goes through `posix_memalign` and a `memset`.
const CALLOC_ALIGN: usize = 16;

enum Owner {
    /// No memory: zero bytes.
    Nothing,
    /// Host memory, not counted by the allocator: the allocation's start and layout (the
    /// storage begins at the first 64-byte boundary inside it).
    Host { base: NonNull<u8>, layout: Layout },
    /// A device block.
    Device { rt: Runtime, block: BlockId },
}

pub(crate) struct Storage {
    /// Where the bytes are; `None` for empty storages and for device storages on meta.
    ptr: Option<NonNull<u8>>,
    /// The block's address on a cuda runtime with kernels: values live there, reached by
    /// kernels and copies on the runtime's stream.
    gpu_ptr: Option<DevicePtr>,
    nbytes: usize,
    device: Device,
    version: Cell<u64>,
    owner: Owner,
}

/// PyTorch's error when the host cannot give a tensor its memory: c10's DefaultCPUAllocator on
/// Linux (c10/core/impl/alloc_cpu.cpp, checked with torch 2.15.0 under `ulimit -v`; see
/// docs/reliability.md).
fn host_out_of_memory(nbytes: usize) -> super::TensorError {
    super::TensorError::Invalid(format!(
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate \
         memory: you tried to allocate {nbytes} bytes. Error code 12 (Cannot allocate memory)"
    ))
}

impl Storage {
    /// Zero-filled on the host; uninitialized (as `torch.empty`) on the device.
    pub(crate) fn new(
        rt: &Runtime,
        device: Device,
        numel: usize,
        dtype: DType,
        purpose: Purpose,
    ) -> Result<Self> {
        let nbytes = numel.checked_mul(dtype.size()).ok_or_else(|| {
            super::TensorError::Invalid(format!("a tensor of {numel} elements is too large"))
        })?;
        let mut gpu_ptr = None;
        let (ptr, owner) = if nbytes == 0 {
            (None, Owner::Nothing)
        } else {
            match device {
                Device::Cpu => {
                    // A size past what a layout can describe fails in PyTorch's posix_memalign
                    // too: the same error either way.
                    // Zeroed through `calloc`, which maps a large block from zero pages as they
                    // are first touched, and over-allocated to start on a 64-byte boundary: an
                    // allocation aligned to 64 is zeroed by a `memset` that touches every page at
                    // once, 10 s for `nn.Linear(128, 12222228)`'s 6 GB weight, where no time
                    // limit can stop it (tests/fixtures/fuzz/scenario-9ca7dc4292e0ce43.py).
                    let layout = nbytes
                        .checked_add(HOST_ALIGN - CALLOC_ALIGN)
                        .and_then(|size| Layout::from_size_align(size, CALLOC_ALIGN).ok())
                        .ok_or_else(|| host_out_of_memory(nbytes))?;
                    // SAFETY: the layout has a non-zero size.
                    let base = NonNull::new(unsafe { alloc_zeroed(layout) })
                        .ok_or_else(|| host_out_of_memory(nbytes))?;
                    // SAFETY: `base` is at least 16-aligned, so the next 64-byte boundary is at
                    // most 48 bytes in, and `nbytes` from there lie inside the allocation.
                    let ptr = unsafe { base.add(base.as_ptr().align_offset(HOST_ALIGN)) };
                    (Some(ptr), Owner::Host { base, layout })
                }
                Device::Cuda => {
                    let mut allocator = rt.try_allocator_mut()?;
                    let a = allocator.allocate(nbytes as u64, purpose)?;
                    let ptr = allocator.host_address(a.ptr).and_then(NonNull::new);
                    if ptr.is_none() && rt.gpu().is_some() {
                        gpu_ptr = Some(a.ptr);
                    }
                    (
                        ptr,
                        Owner::Device {
                            rt: rt.clone(),
                            block: a.id,
                        },
                    )
                }
            }
        };
        Ok(Storage {
            ptr,
            gpu_ptr,
            nbytes,
            device,
            version: Cell::new(0),
            owner,
        })
    }

    pub(crate) fn device(&self) -> Device {
        self.device
    }

    pub(crate) fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// Base pointer, when the bytes exist (not on meta).
    pub(crate) fn ptr(&self) -> Option<NonNull<u8>> {
        self.ptr
    }

    /// Device address of the bytes on a cuda runtime with kernels.
    pub(crate) fn gpu_ptr(&self) -> Option<DevicePtr> {
        self.gpu_ptr
    }

    /// Whether reads and writes reach real memory (host memory, or GPU memory that kernels
    /// compute on). Empty storages count as real: there is nothing to compute, so results are
    /// exact.
    pub(crate) fn has_data(&self) -> bool {
        self.ptr.is_some() || self.gpu_ptr.is_some() || self.nbytes == 0
    }

    pub(crate) fn block(&self) -> Option<BlockId> {
        match &self.owner {
            Owner::Device { block, .. } => Some(*block),
            _ => None,
        }
    }

    pub(crate) fn version(&self) -> u64 {
        self.version.get()
    }

    pub(crate) fn bump_version(&self) {
        self.version.set(self.version.get() + 1);
    }

    /// Tags the block with `purpose`, only where it is still a temporary: a parameter saved
    /// by a node stays a parameter.
    pub(crate) fn promote_purpose(&self, purpose: Purpose) {
        self.retag(purpose, true);
    }

    /// Tags the block with `purpose` whatever it was.
    pub(crate) fn set_purpose(&self, purpose: Purpose) {
        self.retag(purpose, false);
    }

    fn retag(&self, purpose: Purpose, only_temporary: bool) {
        if let Owner::Device { rt, block } = &self.owner {
            // Tags only feed reports: while a caller holds the allocator the retag is skipped
            // rather than failing the operation.
            let Ok(mut allocator) = rt.try_allocator_mut() else {
                return;
            };
            let current = allocator.tag(*block).map(|t| t.purpose);
            if !only_temporary || current == Some(Purpose::Temporary) {
                // The block is live while this storage is, so this cannot fail.
                let _ = allocator.set_purpose(*block, purpose);
            }
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        match &self.owner {
            Owner::Nothing => {}
            // SAFETY: allocated by `alloc_zeroed` with this layout, freed once here.
            Owner::Host { base, layout } => unsafe { dealloc(base.as_ptr(), *layout) },
            Owner::Device { rt, block } => rt.free_block(*block),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Backend;
    use crate::runtime::RuntimeOptions;

    #[test]
    fn host_storages_start_on_a_64_byte_boundary_and_are_zero() {
        let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
        // Sizes around calloc's small-bin and mmap thresholds, odd ones included: each storage
        // starts 0 to 48 bytes into its allocation and must still hold all of its bytes.
        for numel in [1, 3, 17, 1000, 4097, 300_000] {
            for dtype in [DType::Bool, DType::F16, DType::F32, DType::F64] {
                let s = Storage::new(&rt, Device::Cpu, numel, dtype, Purpose::Temporary).unwrap();
                let ptr = s.ptr().expect("a host storage has memory");
                assert_eq!(ptr.as_ptr() as usize % HOST_ALIGN, 0, "{numel} × {dtype:?}");
                let nbytes = numel * dtype.size();
                // SAFETY: the storage owns `nbytes` bytes from `ptr`, alive for this read.
                let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), nbytes) };
                assert!(bytes.iter().all(|&b| b == 0), "{numel} × {dtype:?}");
            }
        }
    }
}
