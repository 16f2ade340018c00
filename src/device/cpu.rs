use std::alloc::{alloc, dealloc, Layout};
use std::collections::HashMap;

use super::capacity::Capacity;
use super::{Backend, DeviceError, DeviceMemory, DevicePtr, MemInfo, DEFAULT_SIMULATED_CAPACITY};
use crate::base::format_size;

/// Alignment of host segments: a page, so every 512-byte block in them is aligned for any dtype.
const SEGMENT_ALIGN: usize = 4096;

/// A simulated device whose memory is host memory: real arithmetic, the same allocator and the
/// same accounting as a GPU. Segments come from the system allocator, which maps large ones
/// lazily, so reserving a 20 MiB segment costs only the pages that tensors touch.
#[derive(Debug)]
pub struct CpuDevice {
    capacity: Capacity,
    segments: HashMap<u64, Layout>,
}

impl CpuDevice {
    /// A cpu device of `capacity` bytes, 80 GiB by default whatever the host has, so that the
    /// same scenario gives the same report (device name, out-of-memory point) on every machine.
    /// The host still backs every segment: one it cannot give is refused as out of memory.
    pub fn new(capacity: Option<u64>) -> Result<Self, DeviceError> {
        Ok(CpuDevice {
            capacity: Capacity::new(capacity.unwrap_or(DEFAULT_SIMULATED_CAPACITY))?,
            segments: HashMap::new(),
        })
    }
}

/// MemAvailable from /proc/meminfo: what the host can give without swapping.
fn host_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

impl DeviceMemory for CpuDevice {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn name(&self) -> String {
        format!("cpu (simulated, {})", format_size(self.capacity.total()))
    }

    fn alloc_segment(&mut self, size: u64) -> Result<DevicePtr, DeviceError> {
        self.capacity.check_room(size)?;
        let oom = DeviceError::OutOfMemory { size };
        // A segment larger than what the host can give without swapping would only be backed
        // lazily and end in the kernel's OOM killer; refusing it keeps the failure a Python one.
        if host_available().is_some_and(|available| size > available) {
            return Err(oom);
        }
        let layout = usize::try_from(size)
            .ok()
            .and_then(|s| Layout::from_size_align(s, SEGMENT_ALIGN).ok())
            .ok_or(oom.clone())?;
        // SAFETY: the layout has a non-zero size (checked above).
        let ptr = unsafe { alloc(layout) };
        if ptr.is_null() {
            return Err(oom);
        }
        self.capacity.take(size);
        self.segments.insert(ptr as u64, layout);
        Ok(DevicePtr(ptr as u64))
    }

    fn free_segment(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        let layout = self
            .segments
            .remove(&ptr.0)
            .ok_or_else(|| DeviceError::Driver {
                call: "free_segment",
                message: format!("{ptr} is not a segment of this device"),
            })?;
        // SAFETY: ptr was returned by `alloc` with this layout and is removed from the table,
        // so it is freed exactly once.
        unsafe { dealloc(ptr.0 as *mut u8, layout) };
        self.capacity.give_back(size);
        Ok(())
    }

    fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        Ok(self.capacity.mem_info())
    }

    fn host_address(&self, ptr: DevicePtr) -> Option<*mut u8> {
        Some(ptr.0 as *mut u8)
    }
}

impl Drop for CpuDevice {
    fn drop(&mut self) {
        for (ptr, layout) in self.segments.drain() {
            // SAFETY: every entry is a live allocation made with its layout.
            unsafe { dealloc(ptr as *mut u8, layout) };
        }
    }
}
