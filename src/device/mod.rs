//! Device memory: where the caching allocator gets its raw segments.
//!
//! Three backends hand out and take back segments and report total and free memory:
//! [`cuda`](CudaDevice) (a real GPU through the CUDA driver), [`cpu`](CpuDevice) (host memory
//! standing in for device memory) and [`meta`](MetaDevice) (address ranges only, no memory
//! touched). The allocator never knows which one it talks to, which is what makes the allocator
//! traces of the three backends identical for the same program.

mod capacity;
mod cpu;
mod cuda;
mod fault;
mod gpu;
pub mod kernels;
mod meta;

use std::fmt;
use std::str::FromStr;

pub use crate::base::DeviceError;
pub use cpu::CpuDevice;
pub use cuda::{cuda_device_count, cuda_driver_version, CudaDevice};
pub use fault::FaultInjector;
pub use gpu::{Arg, BlasMatrix, DTypeCode, Gpu, Grid, Operand, MAX_DIMS};
pub use meta::MetaDevice;

/// 80 GiB: the simulated capacity of the meta device, and the ceiling of the cpu device, so that
/// numbers read like those of the cards people train on.
pub const DEFAULT_SIMULATED_CAPACITY: u64 = 80 << 30;

/// An address in device memory. On cpu it is a host address; on meta a made-up one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DevicePtr(pub u64);

impl DevicePtr {
    /// The address `bytes` further on.
    pub fn offset(self, bytes: u64) -> DevicePtr {
        DevicePtr(self.0 + bytes)
    }
}

impl fmt::Display for DevicePtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Which backend a runtime runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A real GPU through the CUDA driver.
    Cuda,
    /// Host memory standing in for device memory, with real arithmetic.
    Cpu,
    /// Address ranges only: shapes, sizes and memory effects, no arithmetic.
    Meta,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cuda => "cuda",
            Backend::Cpu => "cpu",
            Backend::Meta => "meta",
        })
    }
}

/// The backend a user asked for: a concrete one, or `auto` (cuda when a device is present,
/// else cpu).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendChoice {
    /// cuda when a CUDA device is present, else cpu.
    #[default]
    Auto,
    /// Exactly this backend.
    Exactly(Backend),
}

impl FromStr for BackendChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "cuda" => Ok(BackendChoice::Exactly(Backend::Cuda)),
            "cpu" => Ok(BackendChoice::Exactly(Backend::Cpu)),
            "meta" => Ok(BackendChoice::Exactly(Backend::Meta)),
            other => Err(DeviceError::UnknownBackend(other.to_string())),
        }
    }
}

impl BackendChoice {
    /// The concrete backend this choice means on this machine, and for `auto` falling back to
    /// cpu, the reason it did.
    pub fn resolve(self) -> (Backend, Option<String>) {
        match self {
            BackendChoice::Exactly(b) => (b, None),
            BackendChoice::Auto => match cuda_device_count() {
                Ok(n) if n > 0 => (Backend::Cuda, None),
                Ok(_) => (
                    Backend::Cpu,
                    Some("no CUDA device found; using the cpu backend".into()),
                ),
                Err(e) => (Backend::Cpu, Some(format!("{e}; using the cpu backend"))),
            },
        }
    }
}

/// Total and free memory of a device, in bytes, as `cudaMemGetInfo` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemInfo {
    /// Capacity of the device.
    pub total: u64,
    /// What a new segment could still take.
    pub free: u64,
}

/// Raw device memory: segments in, segments out. The caching allocator is its only client.
pub trait DeviceMemory {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// A short human description ("NVIDIA H100 80GB HBM3", "cpu (simulated, 80.00 GiB)").
    fn name(&self) -> String;
    /// Allocates a segment of exactly `size` bytes, aligned to at least 512 bytes.
    fn alloc_segment(&mut self, size: u64) -> Result<DevicePtr, DeviceError>;
    /// Returns a segment handed out by [`alloc_segment`](Self::alloc_segment).
    fn free_segment(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError>;
    /// Total and free memory now.
    fn mem_info(&self) -> Result<MemInfo, DeviceError>;
    /// Reserves `size` bytes of address space with no memory behind them
    /// (`cuMemAddressReserve`), for an expandable segment; [`map`](Self::map) then backs pages
    /// of it. Takes nothing from the capacity.
    fn reserve(&mut self, size: u64) -> Result<DevicePtr, DeviceError>;
    /// Backs `size` bytes at `ptr`, inside a reservation, with memory (`cuMemCreate`,
    /// `cuMemMap`, `cuMemSetAccess`): one physical allocation per call, which
    /// [`unmap`](Self::unmap) returns whole.
    fn map(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError>;
    /// Returns the memory that one [`map`](Self::map) call put at `ptr` (`cuMemUnmap`,
    /// `cuMemRelease`); the addresses stay reserved.
    fn unmap(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError>;
    /// Returns a reservation, and any memory still mapped in it (`cuMemAddressFree`).
    fn unreserve(&mut self, ptr: DevicePtr, size: u64) -> Result<(), DeviceError>;
    /// Host address of device memory when the device is host memory (cpu backend), so that
    /// the runtime can compute on it; `None` elsewhere.
    fn host_address(&self, ptr: DevicePtr) -> Option<*mut u8> {
        let _ = ptr;
        None
    }
}

/// Opens a device for `backend`. `capacity` overrides the simulated capacity of cpu and meta
/// (the real card's size is what it is; use the allocator's limit to shrink it).
pub fn open(backend: Backend, capacity: Option<u64>) -> Result<Box<dyn DeviceMemory>, DeviceError> {
    Ok(match backend {
        Backend::Cpu => Box::new(CpuDevice::new(capacity)?),
        Backend::Meta => Box::new(MetaDevice::new(
            capacity.unwrap_or(DEFAULT_SIMULATED_CAPACITY),
        )?),
        Backend::Cuda => Box::new(CudaDevice::new(0)?),
    })
}
