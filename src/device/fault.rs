use std::collections::BTreeSet;

use super::{Backend, DeviceError, DeviceMemory, DevicePtr, MemInfo};

/// Wraps a device and makes chosen segment allocations (or page mappings of expandable
/// segments) fail, as `cudaMalloc` and `cuMemCreate` do when the card is full, so the allocator's free-cache-and-retry path and its OOM report can be tested on any
/// machine.
///
/// ```
/// use leakharness::device::{DeviceMemory, FaultInjector, MetaDevice};
/// let mut dev = FaultInjector::new(Box::new(MetaDevice::new(1 << 30).unwrap()), [1]);
/// assert!(dev.alloc_segment(2 << 20).is_ok());  // call 0
/// assert!(dev.alloc_segment(2 << 20).is_err()); // call 1 fails
/// ```
pub struct FaultInjector {
    inner: Box<dyn DeviceMemory>,
    fail_calls: BTreeSet<u64>,
    calls: u64,
}

impl FaultInjector {
    /// Fails the segment allocations and page mappings whose 0-based call numbers (counted
    /// together) are in `fail_calls`.
    pub fn new(inner: Box<dyn DeviceMemory>, fail_calls: impl IntoIterator<Item = u64>) -> Self {
        FaultInjector {
            inner,
            fail_calls: fail_calls.into_iter().collect(),
            calls: 0,
        }
    }

    /// How many segment allocations and page mappings were attempted so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Counts one request for device memory; an out-of-memory error when it is chosen to fail.
    fn call(&mut self, size: u64) -> Result<(), DeviceError> {
        let call = self.calls;
        self.calls += 1;
        if self.fail_calls.contains(&call) {
            return Err(DeviceError::OutOfMemory { size });
        }
        Ok(())
    }
}

impl DeviceMemory for FaultInjector {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    fn name(&self) -> String {
        self.inner.name()
    }

    fn alloc_segment(&mut self, size: u64) -> Result<DevicePtr, DeviceError> {
        self.call(size)?;
        self.inner.alloc_segment(size)
    }

    fn reserve(&mut self, size: u64) -> Result<DevicePtr, DeviceError> {
        self.inner.reserve(size)
    }

    fn map(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.call(size)?;
        self.inner.map(ptr, size)
    }

    fn unmap(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.inner.unmap(ptr, size)
    }

    fn unreserve(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.inner.unreserve(ptr, size)
    }

    fn free_segment(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.inner.free_segment(ptr, size)
    }

    fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        self.inner.mem_info()
    }

    fn host_address(&self, ptr: DevicePtr) -> Option<*mut u8> {
        self.inner.host_address(ptr)
    }
}
