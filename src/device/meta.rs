use super::capacity::Capacity;
use super::{Backend, DeviceError, DeviceMemory, DevicePtr, MemInfo};
use crate::base::format_size;

/// A simulated device with no memory behind it: segments are address ranges in a made-up
/// address space, so a program "allocating" 80 GiB costs nothing.
#[derive(Debug)]
pub struct MetaDevice {
    capacity: Capacity,
    next: u64,
}

/// Made-up addresses start here, far from zero, so they never look like null or small ints.
const META_BASE: u64 = 0x7f00_0000_0000;

impl MetaDevice {
    /// A meta device of `capacity` bytes.
    pub fn new(capacity: u64) -> Result<Self, DeviceError> {
        Ok(MetaDevice {
            capacity: Capacity::new(capacity)?,
            next: META_BASE,
        })
    }
}

impl DeviceMemory for MetaDevice {
    fn backend(&self) -> Backend {
        Backend::Meta
    }

    fn name(&self) -> String {
        format!("meta (simulated, {})", format_size(self.capacity.total()))
    }

    fn alloc_segment(&mut self, size: u64) -> Result<DevicePtr, DeviceError> {
        self.capacity.check_room(size)?;
        // Addresses are never reused: a fresh range per segment keeps a stale pointer from
        // silently aliasing a new segment. 2 MiB alignment, like the driver's.
        let ptr = self.next;
        self.next = ptr
            .checked_add(size.div_ceil(2 << 20) * (2 << 20))
            .ok_or(DeviceError::OutOfMemory { size })?;
        self.capacity.take(size);
        Ok(DevicePtr(ptr))
    }

    fn free_segment(&mut self, _ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.capacity.give_back(size);
        Ok(())
    }

    fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        Ok(self.capacity.mem_info())
    }

    fn reserve(&mut self, size: u64) -> Result<DevicePtr, DeviceError> {
        let ptr = self.next;
        self.next = ptr
            .checked_add(size.div_ceil(2 << 20) * (2 << 20))
            .ok_or(DeviceError::OutOfMemory { size })?;
        Ok(DevicePtr(ptr))
    }

    fn map(&mut self, _ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.capacity.check_room(size)?;
        self.capacity.take(size);
        Ok(())
    }

    fn unmap(&mut self, _ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.capacity.give_back(size);
        Ok(())
    }

    fn unreserve(&mut self, _ptr: DevicePtr, _size: u64) -> Result<(), DeviceError> {
        // The caching allocator unmaps every page before it gives a reservation back, except
        // when it is dropped, and then this device is being dropped with it.
        Ok(())
    }
}
