//! The GPU executor of a cuda runtime: one stream, the kernels of `kernels/*.cu` loaded into the
//! device's context, and a cuBLAS handle on that stream.
//!
//! Tensor memory never comes from here: kernels receive the caching allocator's block
//! addresses as raw device pointers, and nothing in this module allocates device memory
//! (no cudarc-owned buffers, and cuBLAS is given no workspace), so the allocator stays the only
//! source of device memory and the driver's free memory moves only with its segments.
//!
//! Every kernel and copy runs on the runtime's one stream, in program order. That is what makes
//! the allocator's immediate reuse of a freed block safe, as in PyTorch: a block freed on the
//! host while a kernel still reads it can only be handed to work queued after that kernel on
//! the same stream. Segments go back to the driver only after a context synchronize (see
//! [`CudaDevice`](super::CudaDevice)), and reads to the host synchronize the stream.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::cublas::{self, CudaBlas};
use cudarc::driver::{
    result, sys, CudaContext, CudaFunction, CudaModule, CudaStream, DeviceRepr, DriverError,
    LaunchConfig, PushKernelArg,
};

use super::kernels::{self, KERNEL_NAMES};
use super::{DeviceError, DevicePtr};

/// Most dimensions a kernel operand has (`MAX_DIMS` in kernels/prelude.cuh).
pub const MAX_DIMS: usize = 8;

/// Threads per block of every launch; `REDUCE_THREADS` in kernels/reduce.cu must be the same,
/// since its shared arrays are that long.
const THREADS: u32 = 256;

/// Grid-stride kernels cover any element count, so grids are capped well under the limit.
const MAX_BLOCKS: u64 = 65_535;

/// Element type codes (`DT_*` in kernels/prelude.cuh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum DTypeCode {
    /// float32.
    F32 = 0,
    /// int64.
    I64 = 1,
    /// bool, one byte.
    Bool = 2,
    /// float16 (`__half`'s bits), two bytes.
    F16 = 3,
    /// bfloat16 (`__nv_bfloat16`'s bits), two bytes.
    BF16 = 4,
    /// int32.
    I32 = 5,
    /// float64, eight bytes.
    F64 = 6,
}

/// A kernel operand: a strided view of a block, or a number passed by value. Field for field
/// the `Operand` struct of kernels/prelude.cuh.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Operand {
    ptr: u64,
    offset: i64,
    shape: [i64; MAX_DIMS],
    strides: [i64; MAX_DIMS],
    ndim: i32,
    dtype: i32,
    is_const: i32,
    pad: i32,
    const_f: f64,
    const_i: i64,
}

// SAFETY: `Operand` is `repr(C)` plain data with the same layout as the CUDA struct, and is
// passed by value as a kernel parameter.
unsafe impl DeviceRepr for Operand {}

impl Operand {
    /// A view at `ptr` (the block's address) with `shape` and `strides` in elements; `None`
    /// when it has more than [`MAX_DIMS`] dimensions.
    pub fn view(
        ptr: DevicePtr,
        dtype: DTypeCode,
        offset: usize,
        shape: &[usize],
        strides: &[usize],
    ) -> Option<Operand> {
        if shape.len() > MAX_DIMS || strides.len() != shape.len() {
            return None;
        }
        let mut op = Operand::constant(dtype, 0.0, 0);
        op.is_const = 0;
        op.ptr = ptr.0;
        op.offset = offset as i64;
        op.ndim = shape.len() as i32;
        for (d, (&s, &st)) in shape.iter().zip(strides).enumerate() {
            op.shape[d] = s as i64;
            op.strides[d] = st as i64;
        }
        Some(op)
    }

    /// A number every element reads as: `value_f` for f32, `value_i` for int64 and bool.
    pub fn constant(dtype: DTypeCode, value_f: f64, value_i: i64) -> Operand {
        Operand {
            ptr: 0,
            offset: 0,
            shape: [1; MAX_DIMS],
            strides: [0; MAX_DIMS],
            ndim: 0,
            dtype: dtype as i32,
            is_const: 1,
            pad: 0,
            const_f: value_f,
            const_i: value_i,
        }
    }
}

/// A kernel argument, typed as the kernel declares it.
#[derive(Debug, Clone, Copy)]
pub enum Arg {
    /// `Operand`.
    Op(Operand),
    /// `int`.
    I32(i32),
    /// `i64` (`long long`).
    I64(i64),
    /// `u32`.
    U32(u32),
    /// `u64`.
    U64(u64),
    /// `float`.
    F32(f32),
    /// `double`.
    F64(f64),
}

/// How a launch spreads over the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    /// Grid-stride over `n` items, `THREADS` per block.
    Elements(u64),
    /// One block of `THREADS` per item, for block reductions.
    Blocks(u64),
    /// One thread, for short sequential loops that must keep the host's order.
    Single,
}

fn driver(call: &'static str) -> impl Fn(DriverError) -> DeviceError {
    move |e| DeviceError::Driver {
        call,
        message: e.to_string(),
    }
}

/// The executor: see the module documentation.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    functions: HashMap<&'static str, CudaFunction>,
    blas: CudaBlas,
    arch: String,
    _module: Arc<CudaModule>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("arch", &self.arch)
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Compiles (once per process) and loads the kernels into `ctx`, and makes the stream and
    /// the cuBLAS handle. Errors, never panics, when NVRTC or cuBLAS cannot be loaded.
    pub fn new(ctx: &Arc<CudaContext>) -> Result<Gpu, DeviceError> {
        // SAFETY: only tries to open the shared library; cudarc panics on first use without it.
        if !unsafe { cublas::sys::is_culib_present() } {
            return Err(DeviceError::NoCublas);
        }
        ctx.bind_to_thread().map_err(driver("cuCtxSetCurrent"))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(driver("cuDeviceGetAttribute"))?;
        let arch = format!("compute_{major}{minor}");
        let ptx = kernels::cached_ptx(&arch)?;
        let module = ctx.load_module(ptx).map_err(driver("cuModuleLoadData"))?;
        // Every function is fetched now: with CUDA's lazy loading that is when its code is
        // placed in device memory, which must happen before a scenario's baseline so that the
        // driver cross-check sees only the allocator's segments.
        let mut functions = HashMap::new();
        for &name in KERNEL_NAMES {
            let f = module
                .load_function(name)
                .map_err(driver("cuModuleGetFunction"))?;
            functions.insert(name, f);
        }
        let stream = ctx.new_stream().map_err(driver("cuStreamCreate"))?;
        let blas = CudaBlas::new(stream.clone()).map_err(|e| DeviceError::Cublas(e.to_string()))?;
        // SAFETY: the handle is live; a null workspace of 0 bytes tells cuBLAS to allocate no
        // workspace of its own, which would be device memory outside the allocator.
        unsafe { cublas::sys::cublasSetWorkspace_v2(*blas.handle(), std::ptr::null_mut(), 0) }
            .result()
            .map_err(|e| DeviceError::Cublas(e.to_string()))?;
        Ok(Gpu {
            ctx: ctx.clone(),
            stream,
            functions,
            blas,
            arch,
            _module: module,
        })
    }

    /// The virtual architecture the kernels were compiled for (`compute_90`).
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// Launches kernel `name` with `args` on the stream. Nothing is launched for no work.
    pub fn launch(&self, name: &'static str, grid: Grid, args: &[Arg]) -> Result<(), DeviceError> {
        let (blocks, threads) = match grid {
            Grid::Elements(0) | Grid::Blocks(0) => return Ok(()),
            Grid::Elements(n) => (n.div_ceil(THREADS as u64).min(MAX_BLOCKS), THREADS),
            Grid::Blocks(n) => (n.min(MAX_BLOCKS), THREADS),
            Grid::Single => (1, 1),
        };
        let f = self
            .functions
            .get(name)
            .ok_or_else(|| DeviceError::Driver {
                call: "cuModuleGetFunction",
                message: format!("kernel `{name}` is not in kernels::KERNEL_NAMES"),
            })?;
        let mut builder = self.stream.launch_builder(f);
        for a in args {
            match a {
                Arg::Op(v) => builder.arg(v),
                Arg::I32(v) => builder.arg(v),
                Arg::I64(v) => builder.arg(v),
                Arg::U32(v) => builder.arg(v),
                Arg::U64(v) => builder.arg(v),
                Arg::F32(v) => builder.arg(v),
                Arg::F64(v) => builder.arg(v),
            };
        }
        let cfg = LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments match the kernel's parameter list (each launch site mirrors the
        // `extern "C"` signature in kernels/*.cu); operand pointers are live allocator blocks
        // owned by storages that outlive the enqueue, and later reuse of those blocks is
        // ordered after this kernel on the same stream.
        unsafe { builder.launch(cfg) }.map_err(driver("cuLaunchKernel"))?;
        Ok(())
    }

    /// Copies `src` to device address `dst` on the stream, and waits: the host buffer may go
    /// as soon as this returns.
    pub fn upload<T: Copy>(&self, dst: DevicePtr, src: &[T]) -> Result<(), DeviceError> {
        if src.is_empty() {
            return Ok(());
        }
        self.ctx
            .bind_to_thread()
            .map_err(driver("cuCtxSetCurrent"))?;
        // SAFETY: dst is inside a live allocator block with room for src's bytes (the caller's
        // tensor view); src is a host slice that lives until the synchronize below.
        unsafe { result::memcpy_htod_async(dst.0, src, self.stream.cu_stream()) }
            .map_err(driver("cuMemcpyHtoDAsync"))?;
        self.stream
            .synchronize()
            .map_err(driver("cuStreamSynchronize"))
    }

    /// Fills `dst` from device address `src`, after every kernel queued before it. `T` is a
    /// plain number type (f32, i64, u8), valid for any bytes.
    pub fn download<T: Copy>(&self, src: DevicePtr, dst: &mut [T]) -> Result<(), DeviceError> {
        if dst.is_empty() {
            return Ok(());
        }
        self.ctx
            .bind_to_thread()
            .map_err(driver("cuCtxSetCurrent"))?;
        // SAFETY: src is inside a live allocator block with dst's bytes readable; dst is written
        // by the copy, which is complete when the synchronize below returns, and every bit
        // pattern is a valid T for the number types this is called with.
        unsafe { result::memcpy_dtoh_async(dst, src.0, self.stream.cu_stream()) }
            .map_err(driver("cuMemcpyDtoHAsync"))?;
        self.stream
            .synchronize()
            .map_err(driver("cuStreamSynchronize"))
    }

    /// Waits for everything queued on the stream.
    pub fn synchronize(&self) -> Result<(), DeviceError> {
        self.stream
            .synchronize()
            .map_err(driver("cuStreamSynchronize"))
    }

    /// Hands cuBLAS the workspace it may use for the next products: a block of the caching
    /// allocator, as PyTorch's `setWorkspaceForHandle` does, so cuBLAS takes no device memory
    /// of its own.
    pub fn set_blas_workspace(&self, ptr: DevicePtr, bytes: u64) -> Result<(), DeviceError> {
        let bytes = usize::try_from(bytes)
            .map_err(|_| DeviceError::Cublas(format!("workspace of {bytes} bytes")))?;
        // SAFETY: the handle is live; the block stays allocated until the runtime clears its
        // workspaces, which first points cuBLAS back at no workspace.
        unsafe { cublas::sys::cublasSetWorkspace_v2(*self.blas.handle(), ptr.0 as *mut _, bytes) }
            .result()
            .map_err(|e| DeviceError::Cublas(e.to_string()))
    }

    /// Row-major `c (n×m) = a (n×k) · b (k×m) + beta · c` through cuBLAS, which is
    /// column-major: a row-major matrix is its transpose in column-major order, so the product
    /// is computed as `cᵀ = bᵀ · aᵀ` (operands swapped, `m` and `n` swapped). Each operand is
    /// described by [`BlasMatrix`]: a row-major one is passed untransposed, a column-major one
    /// (a transposed view) with `CUBLAS_OP_T`. `c` is contiguous row-major.
    pub fn gemm(
        &self,
        a: BlasMatrix,
        b: BlasMatrix,
        c: DevicePtr,
        [n, k, m]: [usize; 3],
        beta: f32,
    ) -> Result<(), DeviceError> {
        let int = |v: usize| {
            i32::try_from(v).map_err(|_| {
                DeviceError::Cublas(format!(
                    "matrix dimension {v} exceeds cuBLAS's 32-bit sizes"
                ))
            })
        };
        let op = |col_major: bool| {
            if col_major {
                cublas::sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                cublas::sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let alpha = 1.0f32;
        self.ctx
            .bind_to_thread()
            .map_err(driver("cuCtxSetCurrent"))?;
        // SAFETY: the handle is bound to this runtime's stream; a, b and c are live allocator
        // blocks holding the matrices their leading dimensions describe (checked by
        // BlasMatrix::new), and alpha and beta are host scalars (the default pointer mode).
        unsafe {
            cublas::result::sgemm(
                *self.blas.handle(),
                op(b.col_major),
                op(a.col_major),
                int(m)?,
                int(n)?,
                int(k)?,
                &alpha,
                b.ptr.0 as *const f32,
                int(b.ld)?,
                a.ptr.0 as *const f32,
                int(a.ld)?,
                &beta,
                c.0 as *mut f32,
                int(m.max(1))?,
            )
        }
        .map_err(|e| DeviceError::Cublas(e.to_string()))
    }

    /// Free and total device memory (`cuMemGetInfo`).
    pub fn mem_get_info(&self) -> Result<(u64, u64), DeviceError> {
        self.ctx
            .bind_to_thread()
            .map_err(driver("cuCtxSetCurrent"))?;
        let (free, total) = result::mem_get_info().map_err(driver("cuMemGetInfo"))?;
        Ok((free as u64, total as u64))
    }

    /// The raw stream, for benchmarks that time driver calls next to the runtime's own.
    pub fn cu_stream(&self) -> sys::CUstream {
        self.stream.cu_stream()
    }
}

/// A matrix operand of [`Gpu::gemm`]: its address (element `[0][0]`), whether it is stored
/// column-major (a transposed view), and its leading dimension in elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlasMatrix {
    ptr: DevicePtr,
    col_major: bool,
    ld: usize,
}

impl BlasMatrix {
    /// A `rows × cols` f32 matrix at `ptr` with element strides `[s0, s1]`, when cuBLAS can
    /// read it in place: unit stride along one dimension and a leading dimension at least as
    /// long as that dimension. `None` otherwise (expanded or otherwise strided views), for
    /// which the runtime uses a strided kernel rather than a contiguous copy, which would be
    /// an allocation the other backends do not make.
    pub fn new(ptr: DevicePtr, [rows, cols]: [usize; 2], [s0, s1]: [usize; 2]) -> Option<Self> {
        if (cols == 1 || s1 == 1) && (rows == 1 || s0 >= cols.max(1)) {
            let ld = if rows == 1 { cols.max(1) } else { s0 };
            return Some(BlasMatrix {
                ptr,
                col_major: false,
                ld,
            });
        }
        if (rows == 1 || s0 == 1) && (cols == 1 || s1 >= rows.max(1)) {
            let ld = if cols == 1 { rows.max(1) } else { s1 };
            return Some(BlasMatrix {
                ptr,
                col_major: true,
                ld,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operand_has_the_cuda_structs_layout() {
        // kernels/prelude.cuh: u64, i64, i64[8], i64[8], 4 ints, double, i64.
        assert_eq!(std::mem::size_of::<Operand>(), 176);
        assert_eq!(std::mem::offset_of!(Operand, ndim), 144);
        assert_eq!(std::mem::offset_of!(Operand, const_f), 160);
    }

    #[test]
    fn blas_reads_row_major_and_transposed_views_in_place() {
        let p = DevicePtr(0x1000);
        let row = BlasMatrix::new(p, [3, 4], [4, 1]).unwrap();
        assert_eq!((row.col_major, row.ld), (false, 4));
        let t = BlasMatrix::new(p, [4, 3], [1, 4]).unwrap();
        assert_eq!((t.col_major, t.ld), (true, 4));
        assert_eq!(BlasMatrix::new(p, [3, 4], [0, 0]), None);
        assert_eq!(BlasMatrix::new(p, [1, 4], [0, 1]).unwrap().ld, 4);
    }
}
