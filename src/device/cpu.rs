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
    /// Address-space reservations (expandable segments): start → (length, bytes mapped in it).
    reservations: HashMap<u64, (u64, u64)>,
}

impl CpuDevice {
    /// A cpu device of `capacity` bytes, 80 GiB by default whatever the host has, so that the
    /// same scenario gives the same report (device name, out-of-memory point) on every machine.
    /// The host still backs every segment: one it cannot give is refused as out of memory.
    pub fn new(capacity: Option<u64>) -> Result<Self, DeviceError> {
        Ok(CpuDevice {
            capacity: Capacity::new(capacity.unwrap_or(DEFAULT_SIMULATED_CAPACITY))?,
            segments: HashMap::new(),
            reservations: HashMap::new(),
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

    fn reserve(&mut self, size: u64) -> Result<DevicePtr, DeviceError> {
        let len = usize::try_from(size).map_err(|_| DeviceError::OutOfMemory { size })?;
        // Inaccessible and not counted against the host's commit limit until pages are mapped:
        // the host's equivalent of cuMemAddressReserve.
        // SAFETY: an anonymous mapping at an address the kernel picks touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(DeviceError::OutOfMemory { size });
        }
        self.reservations.insert(ptr as u64, (size, 0));
        Ok(DevicePtr(ptr as u64))
    }

    fn map(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.capacity.check_room(size)?;
        if host_available().is_some_and(|available| size > available) {
            return Err(DeviceError::OutOfMemory { size });
        }
        let reservation = self.reservation_of(ptr, size)?;
        // SAFETY: the range lies inside a reservation of this device (checked above); pages
        // become readable and writable, zero-filled on first touch.
        let rc = unsafe {
            libc::mprotect(
                ptr.0 as *mut libc::c_void,
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if rc != 0 {
            return Err(DeviceError::OutOfMemory { size });
        }
        self.capacity.take(size);
        if let Some(r) = self.reservations.get_mut(&reservation) {
            r.1 += size;
        }
        Ok(())
    }

    fn unmap(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        let reservation = self.reservation_of(ptr, size)?;
        // SAFETY: the range lies inside a reservation of this device and no block in it is
        // live (the caching allocator unmaps only free pages); the pages go back to the host.
        let rc = unsafe {
            let p = ptr.0 as *mut libc::c_void;
            libc::madvise(p, size as usize, libc::MADV_DONTNEED)
                | libc::mprotect(p, size as usize, libc::PROT_NONE)
        };
        if rc != 0 {
            return Err(DeviceError::Driver {
                call: "unmap",
                message: std::io::Error::last_os_error().to_string(),
            });
        }
        self.capacity.give_back(size);
        if let Some(r) = self.reservations.get_mut(&reservation) {
            r.1 -= size;
        }
        Ok(())
    }

    fn unreserve(&mut self, ptr: DevicePtr, _size: u64) -> Result<(), DeviceError> {
        let (len, mapped) =
            self.reservations
                .remove(&ptr.0)
                .ok_or_else(|| DeviceError::Driver {
                    call: "unreserve",
                    message: format!("{ptr} is not a reservation of this device"),
                })?;
        // SAFETY: the reservation was made by `reserve` with this length and is removed from
        // the table, so it is unmapped exactly once.
        unsafe { libc::munmap(ptr.0 as *mut libc::c_void, len as usize) };
        self.capacity.give_back(mapped);
        Ok(())
    }
}

impl CpuDevice {
    /// The reservation holding `[ptr, ptr + size)`.
    fn reservation_of(&self, ptr: DevicePtr, size: u64) -> Result<u64, DeviceError> {
        self.reservations
            .iter()
            .find(|&(&start, &(len, _))| ptr.0 >= start && ptr.0 + size <= start + len)
            .map(|(&start, _)| start)
            .ok_or_else(|| DeviceError::Driver {
                call: "map",
                message: format!("{ptr} is not inside a reservation of this device"),
            })
    }
}

impl Drop for CpuDevice {
    fn drop(&mut self) {
        for (ptr, layout) in self.segments.drain() {
            // SAFETY: every entry is a live allocation made with its layout.
            unsafe { dealloc(ptr as *mut u8, layout) };
        }
        for (ptr, (len, _)) in self.reservations.drain() {
            // SAFETY: every entry is a live mapping made by `reserve` with this length.
            unsafe { libc::munmap(ptr as *mut libc::c_void, len as usize) };
        }
    }
}
