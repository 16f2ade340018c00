use std::sync::Arc;

use cudarc::driver::{result, sys, CudaContext, DriverError};

use super::{Backend, DeviceError, DeviceMemory, DevicePtr, MemInfo};

/// A real GPU through the CUDA driver, loaded at run time: the crate builds and runs on machines
/// without CUDA, where this backend is simply unavailable.
#[derive(Debug)]
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    name: String,
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
        Ok(CudaDevice { ctx, name })
    }

    /// The driver context, for the kernels and cuBLAS handles of the runtime.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
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
}
