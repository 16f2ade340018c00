//! The runtime's errors, from the device up to a tensor operation, worded as PyTorch words them
//! so that a scenario failing here fails with the message its author would see under PyTorch.
//! They live on the ground floor because every layer above the device returns them.

/// Everything a tensor operation, a backward pass, a module or an optimizer can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    /// The device allocator failed; out-of-memory carries PyTorch's full message.
    #[error(transparent)]
    Alloc(#[from] AllocError),
    /// The device could not be opened.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Inner dimensions of a matrix product differ.
    #[error("mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})", .mat1[0], .mat1[1], .mat2[0], .mat2[1])]
    MatmulShape {
        /// Shape of the left operand.
        mat1: [usize; 2],
        /// Shape of the right operand.
        mat2: [usize; 2],
    },
    /// Two shapes do not broadcast.
    #[error("The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton dimension {dim}")]
    Broadcast {
        /// Size of the first operand in that dimension.
        a: usize,
        /// Size of the second operand in that dimension.
        b: usize,
        /// The dimension, counted in the broadcast result.
        dim: usize,
    },
    /// Operands live on different devices.
    #[error("Expected all tensors to be on the same device, but found at least two devices, {a} and {b}!")]
    DeviceMismatch {
        /// The first device found.
        a: String,
        /// The other one.
        b: String,
    },
    /// A backward pass reached a node whose saved tensors were already released.
    #[error("Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.")]
    BackwardTwice,
    /// An in-place operation on a leaf that requires grad, with grad mode on.
    #[error("a leaf Variable that requires grad is being used in an in-place operation.")]
    InplaceOnLeaf,
    /// The same on a view of such a leaf (`w[0].mul_(2)`, `w[0] = 1.0`): `check_inplace` in
    /// torch/csrc/autograd/VariableTypeUtils.h.
    #[error(
        "a view of a leaf Variable that requires grad is being used in an in-place operation."
    )]
    InplaceOnViewOfLeaf,
    /// A tensor saved for backward was modified in place afterwards; the text after
    /// "modified by an inplace operation: " in PyTorch's message.
    #[error("one of the variables needed for gradient computation has been modified by an inplace operation: {0}")]
    VersionMismatch(String),
    /// `backward()` on a tensor outside any graph.
    #[error("element 0 of tensors does not require grad and does not have a grad_fn")]
    NoGradFn,
    /// `backward()` without a gradient on a tensor of more than one element.
    #[error("grad can be implicitly created only for scalar outputs")]
    ImplicitGradNotScalar,
    /// `item()` on a tensor that is not one element.
    #[error("a Tensor with {0} elements cannot be converted to Scalar")]
    ItemNotScalar(usize),
    /// Any other invalid argument, with PyTorch's message.
    #[error("{0}")]
    Invalid(String),
    /// The runtime's deadline ([`Runtime::set_deadline`](crate::runtime::Runtime::set_deadline))
    /// passed while an operation ran: its kernel stopped before the end, and the output holds
    /// partial values.
    #[error("the time limit was reached inside an operation")]
    OutOfTime,
    /// The run's interrupt flag ([`Runtime::stop_on`](crate::runtime::Runtime::stop_on)) was
    /// set (Ctrl-C or SIGTERM) while an operation ran: its kernel stopped before the end, and
    /// the output holds partial values.
    #[error("interrupted inside an operation")]
    Interrupted,
    /// Valid PyTorch that this runtime does not implement (yet), saying what instead.
    #[error("not supported by the leakharness runtime: {0}")]
    Unsupported(String),
}

/// Result of the runtime's operations.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;

/// Errors of the caching allocator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// A request for zero bytes (empty tensors take no device memory).
    #[error("cannot allocate 0 bytes: empty tensors take no device memory")]
    ZeroSize,
    /// A request so large that rounding it overflows.
    #[error("cannot allocate {requested} bytes: the size overflows when rounded")]
    TooLarge {
        /// The size asked for.
        requested: u64,
    },
    /// The device is full even after releasing the cache.
    #[error("{}", .0.message)]
    OutOfMemory(Box<OutOfMemory>),
    /// A handle that is not a live block of this allocator (freed already, or never its own).
    #[error("block {0:?} is not allocated by this allocator (double free?)")]
    InvalidBlock(BlockId),
    /// A limit below the memory that is in use.
    #[error("cannot limit device memory to {limit} bytes: {in_use} bytes are in use")]
    LimitBelowUsage {
        /// The limit asked for.
        limit: u64,
        /// Bytes reserved that cannot be released.
        in_use: u64,
    },
    /// The device failed for another reason than lack of memory.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// The details of an out-of-memory error, and PyTorch's message for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutOfMemory {
    /// The rounded size asked for.
    pub size: u64,
    /// The segment size that could not be had ("Tried to allocate ...").
    pub alloc_size: u64,
    /// Device capacity.
    pub total: u64,
    /// Device free memory.
    pub free: u64,
    /// Bytes allocated at the time.
    pub allocated: u64,
    /// Bytes reserved at the time.
    pub reserved: u64,
    /// The allocator's limit, when one is set.
    pub limit: Option<u64>,
    /// The message, worded as PyTorch words it.
    pub message: String,
}

/// A block handle. The generation makes a handle of a freed block invalid even when its slot is
/// reused, so a double free is an error instead of freeing someone else's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct BlockId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Errors of the device layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The device has no room for the segment (cudaErrorMemoryAllocation).
    #[error("device out of memory allocating a {size}-byte segment")]
    OutOfMemory {
        /// Size of the segment that was asked for.
        size: u64,
    },
    /// No CUDA driver library could be loaded.
    #[error("the CUDA driver (libcuda) could not be loaded")]
    NoDriver,
    /// The driver loaded but there is no device.
    #[error("no CUDA device is present")]
    NoDevice,
    /// A call into the CUDA driver failed.
    #[error("CUDA driver error in {call}: {message}")]
    Driver {
        /// The driver call.
        call: &'static str,
        /// The driver's message.
        message: String,
    },
    /// cuBLAS could not be loaded.
    #[error("cuBLAS (libcublas) could not be loaded; put CUDA's lib directory on LD_LIBRARY_PATH")]
    NoCublas,
    /// A cuBLAS call failed.
    #[error("cuBLAS error: {0}")]
    Cublas(String),
    /// The kernels could not be compiled.
    #[error(transparent)]
    Kernels(#[from] KernelError),
    /// A backend name that is not auto, cuda, cpu or meta.
    #[error("unknown backend `{0}` (expected auto, cuda, cpu or meta)")]
    UnknownBackend(String),
    /// A capacity of zero bytes.
    #[error("device capacity must be more than 0 bytes")]
    ZeroCapacity,
}

/// Why kernels could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// libnvrtc could not be loaded.
    #[error("NVRTC (libnvrtc) could not be loaded; put CUDA's lib directory (or the nvidia-cuda-nvrtc Python package's nvidia/cu13/lib) on LD_LIBRARY_PATH")]
    NoNvrtc,
    /// NVRTC rejected a source; `log` is its compiler output.
    #[error("NVRTC could not compile {file} for {arch}: {log}")]
    Compile {
        /// The source file (`all` for the whole program).
        file: String,
        /// The virtual architecture, e.g. `compute_90`.
        arch: String,
        /// NVRTC's log, or its error code when there is no log.
        log: String,
    },
}
