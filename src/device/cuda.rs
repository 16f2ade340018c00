use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{result, sys, CudaContext, DriverError};

use super::{Backend, DeviceError, DeviceMemory, DevicePtr, MemInfo};

/// A real GPU through the CUDA driver, loaded at run time: the crate builds and runs on machines
/// without CUDA, where this backend is simply unavailable.
#[derive(Debug)]
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    name: String,
    ordinal: i32,
    /// Physical allocations mapped into reservations (expandable segments), by address.
    handles: HashMap<u64, (sys::CUmemGenericAllocationHandle, u64)>,
}

fn driver_error(call: &'static str, e: DriverError) -> DeviceError {
    if e.0 == sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY {
        return DeviceError::OutOfMemory { size: 0 };
    }
    DeviceError::Driver {
        call,
        message: e.to_string(),
    }
}

/// Number of CUDA devices, or why there are none. Safe to call on any machine: cudarc panics
/// when libcuda is missing, so its presence is checked before any other call.
pub fn cuda_device_count() -> Result<usize, DeviceError> {
    // SAFETY: only tries to load the library.
    if !unsafe { sys::is_culib_present() } {
        return Err(DeviceError::NoDriver);
    }
    let n = CudaContext::device_count().map_err(|e| driver_error("cuDeviceGetCount", e))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The CUDA version the installed driver supports (`cuDriverGetVersion`), as (major, minor).
pub fn cuda_driver_version() -> Result<(u32, u32), DeviceError> {
    // SAFETY: only tries to load the library.
    if !unsafe { sys::is_culib_present() } {
        return Err(DeviceError::NoDriver);
    }
    let mut version = 0;
    // SAFETY: the library is present and the pointer is valid for the call.
    unsafe { sys::cuDriverGetVersion(&mut version) }
        .result()
        .map_err(|e| driver_error("cuDriverGetVersion", e))?;
    let version = u32::try_from(version).unwrap_or(0);
    Ok((version / 1000, version % 1000 / 10))
}

impl CudaDevice {
    /// Opens device `ordinal` and binds its primary context to this thread.
    pub fn new(ordinal: usize) -> Result<Self, DeviceError> {
        if cuda_device_count()? <= ordinal {
            return Err(DeviceError::NoDevice);
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_error("cuCtxRetain", e))?;
        let name = ctx.name().map_err(|e| driver_error("cuDeviceGetName", e))?;
        Ok(CudaDevice {
            ctx,
            name,
            ordinal: i32::try_from(ordinal).map_err(|_| DeviceError::NoDevice)?,
            handles: HashMap::new(),
        })
    }

    /// The driver context, for the kernels and cuBLAS handles of the runtime.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    fn location(&self) -> sys::CUmemLocation {
        sys::CUmemLocation {
            type_: sys::CUmemLocationType::CU_MEM_LOCATION_TYPE_DEVICE,
            id: self.ordinal,
        }
    }

    fn release_mapping(&mut self, ptr: u64) -> Result<(), DeviceError> {
        if let Some((handle, size)) = self.handles.remove(&ptr) {
            // SAFETY: the range was mapped by `map` with this handle; the context is current.
            unsafe { sys::cuMemUnmap(ptr, size as usize) }
                .result()
                .map_err(|e| driver_error("cuMemUnmap", e))?;
            // SAFETY: the handle is no longer mapped anywhere.
            unsafe { sys::cuMemRelease(handle) }
                .result()
                .map_err(|e| driver_error("cuMemRelease", e))?;
        }
        Ok(())
    }

    fn bind(&self) -> Result<(), DeviceError> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| driver_error("cuCtxSetCurrent", e))
    }
}

impl DeviceMemory for CudaDevice {
    fn backend(&self) -> Backend {
        Backend::Cuda
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn alloc_segment(&mut self, size: u64) -> Result<DevicePtr, DeviceError> {
        self.bind()?;
        let bytes = usize::try_from(size).map_err(|_| DeviceError::OutOfMemory { size })?;
        // SAFETY: the context is current; the pointer is owned by the caching allocator and
        // returned through free_segment.
        match unsafe { result::malloc_sync(bytes) } {
            Ok(ptr) => Ok(DevicePtr(ptr)),
            Err(e) => match driver_error("cuMemAlloc", e) {
                DeviceError::OutOfMemory { .. } => Err(DeviceError::OutOfMemory { size }),
                other => Err(other),
            },
        }
    }

    fn free_segment(&mut self, ptr: DevicePtr, _size: u64) -> Result<(), DeviceError> {
        self.bind()?;
        // Freeing a segment whose blocks kernels may still use is only safe once the stream is
        // idle, as in PyTorch's release_cached_blocks.
        self.ctx
            .synchronize()
            .map_err(|e| driver_error("cuCtxSynchronize", e))?;
        // SAFETY: ptr came from malloc_sync and the allocator frees each segment once.
        unsafe { result::free_sync(ptr.0) }.map_err(|e| driver_error("cuMemFree", e))
    }

    fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        self.bind()?;
        let (free, total) = self
            .ctx
            .mem_get_info()
            .map_err(|e| driver_error("cuMemGetInfo", e))?;
        Ok(MemInfo {
            total: total as u64,
            free: free as u64,
        })
    }

    // Expandable segments use the driver's virtual memory calls as PyTorch's ExpandableSegment
    // does. Not yet run on a GPU (docs/allocator.md).
    fn reserve(&mut self, size: u64) -> Result<DevicePtr, DeviceError> {
        self.bind()?;
        let mut ptr: sys::CUdeviceptr = 0;
        // SAFETY: the context is current and `ptr` is valid for the call.
        unsafe { sys::cuMemAddressReserve(&mut ptr, size as usize, 0, 0, 0) }
            .result()
            .map_err(|e| driver_error("cuMemAddressReserve", e))?;
        Ok(DevicePtr(ptr))
    }

    fn map(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.bind()?;
        // SAFETY: an all-zero CUmemAllocationProp is the documented starting point.
        let mut prop: sys::CUmemAllocationProp = unsafe { std::mem::zeroed() };
        prop.type_ = sys::CUmemAllocationType::CU_MEM_ALLOCATION_TYPE_PINNED;
        prop.location = self.location();
        let mut handle: sys::CUmemGenericAllocationHandle = 0;
        // SAFETY: `prop` and `handle` are valid for the call; the context is current.
        unsafe { sys::cuMemCreate(&mut handle, size as usize, &prop, 0) }
            .result()
            .map_err(|e| match driver_error("cuMemCreate", e) {
                DeviceError::OutOfMemory { .. } => DeviceError::OutOfMemory { size },
                other => other,
            })?;
        // SAFETY: `ptr` lies in a reservation of this device and nothing is mapped there.
        let mapped = unsafe { sys::cuMemMap(ptr.0, size as usize, 0, handle, 0) }.result();
        if let Err(e) = mapped {
            // SAFETY: the handle was just created and is mapped nowhere.
            let _ = unsafe { sys::cuMemRelease(handle) };
            return Err(driver_error("cuMemMap", e));
        }
        self.handles.insert(ptr.0, (handle, size));
        let desc = sys::CUmemAccessDesc {
            location: self.location(),
            flags: sys::CUmemAccess_flags::CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
        };
        // SAFETY: the range was just mapped; `desc` is valid for the call.
        unsafe { sys::cuMemSetAccess(ptr.0, size as usize, &desc, 1) }
            .result()
            .map_err(|e| driver_error("cuMemSetAccess", e))
    }

    fn unmap(&mut self, ptr: DevicePtr, _size: u64) -> Result<(), DeviceError> {
        self.bind()?;
        // Unlike cuMemFree, unmapping does not wait for kernels that may still use the pages.
        self.ctx
            .synchronize()
            .map_err(|e| driver_error("cuCtxSynchronize", e))?;
        self.release_mapping(ptr.0)
    }

    fn unreserve(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError> {
        self.bind()?;
        self.ctx
            .synchronize()
            .map_err(|e| driver_error("cuCtxSynchronize", e))?;
        let inside: Vec<u64> = self
            .handles
            .keys()
            .copied()
            .filter(|&p| p >= ptr.0 && p < ptr.0 + size)
            .collect();
        for p in inside {
            self.release_mapping(p)?;
        }
        // SAFETY: the reservation came from cuMemAddressReserve and nothing is mapped in it.
        unsafe { sys::cuMemAddressFree(ptr.0, size as usize) }
            .result()
            .map_err(|e| driver_error("cuMemAddressFree", e))
    }
}
