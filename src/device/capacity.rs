use super::{DeviceError, MemInfo};

/// The memory accounting of a simulated device (cpu, meta): a fixed capacity and what its
/// segments take of it, so both report `cudaMemGetInfo`'s numbers and refuse a segment the
/// same way.
#[derive(Debug)]
pub(super) struct Capacity {
    total: u64,
    in_use: u64,
}

impl Capacity {
    pub(super) fn new(total: u64) -> Result<Capacity, DeviceError> {
        if total == 0 {
            return Err(DeviceError::ZeroCapacity);
        }
        Ok(Capacity { total, in_use: 0 })
    }

    pub(super) fn total(&self) -> u64 {
        self.total
    }

    /// An out-of-memory error unless a segment of `size` bytes fits.
    pub(super) fn check_room(&self, size: u64) -> Result<(), DeviceError> {
        if size == 0 || size > self.total - self.in_use {
            return Err(DeviceError::OutOfMemory { size });
        }
        Ok(())
    }

    /// Counts a segment that was handed out.
    pub(super) fn take(&mut self, size: u64) {
        self.in_use += size;
    }

    /// Counts a segment that came back.
    pub(super) fn give_back(&mut self, size: u64) {
        self.in_use -= size;
    }

    pub(super) fn mem_info(&self) -> MemInfo {
        MemInfo {
            total: self.total,
            free: self.total - self.in_use,
        }
    }
}
