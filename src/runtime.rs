//! The runtime: one device behind a caching allocator, plus everything PyTorch keeps per thread
//! (grad mode, random generators, autograd bookkeeping). A scenario runs on one runtime; tests
//! run many runtimes side by side, so nothing here is global.
//!
//! ```
//! use leakharness::device::Backend;
//! use leakharness::runtime::{Runtime, RuntimeOptions};
//! use leakharness::tensor::Device;
//!
//! let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
//! let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
//! assert_eq!(rt.memory_allocated(), 32 * 64 * 4);
//! {
//!     let _g = rt.no_grad();
//!     assert!(!rt.is_grad_enabled());
//! }
//! assert!(rt.is_grad_enabled());
//! drop(x);
//! assert_eq!(rt.memory_allocated(), 0);
//! ```

use std::any::Any;
use std::cell::{Cell, OnceCell, Ref, RefCell, RefMut};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::alloc::{AllocatorConfig, CachingAllocator, Purpose, StackCapture};
#[cfg(feature = "planted-bugs")]
pub use crate::base::PlantedBug;
use crate::base::{BlockId, Device, Result, TensorError};
use crate::device::{self, Backend, CudaDevice, DeviceMemory, DevicePtr, Gpu};

/// How a runtime is set up.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RuntimeOptions {
    /// Capacity of a simulated device (cpu, meta); `None` for the backend's default.
    pub device_memory: Option<u64>,
    /// Seed of both random generators (`torch.manual_seed`).
    pub seed: u64,
    /// Stack capture for allocations; `None` keeps the allocator's default.
    pub stack_capture: Option<StackCapture>,
    /// The caching allocator's `PYTORCH_CUDA_ALLOC_CONF` options; the default is PyTorch's
    /// with the variable unset.
    pub allocator_config: AllocatorConfig,
    /// Name and save as PyTorch called from Python, which wraps a number operand in a 0-dim
    /// host tensor (`x + 1` has `AddBackward0`, `x * 2` a MulBackward0 saving the 8-byte
    /// number), rather than as the Rust API's scalar overloads; device memory is the same.
    pub python_scalar_names: bool,
    /// The cuBLAS workspaces PyTorch takes from its caching allocator at the first matrix
    /// product of each thread; `None` models none (the runtime's own unit tests count only
    /// what operations allocate). The leak checker turns them on, as PyTorch has them.
    pub blas_workspaces: Option<BlasWorkspaces>,
    /// A deliberate runtime bug, switched on for this runtime only, so that tests can check
    /// that the property tests catch it.
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<PlantedBug>,
}

/// The sizes of the workspaces PyTorch allocates for cuBLAS (`CublasHandlePool.cpp`): one
/// cuBLAS workspace per (handle, stream), where handles are per thread, so the thread a
/// program runs on and the autograd engine's device thread that runs backward each get one at
/// their first product; and one cuBLASLt workspace per (handle, stream) at the first product
/// that takes the cuBLASLt path (`addmm` with a 1-D bias: every `nn.Linear`). Both live until
/// the process ends or `torch._C._cuda_clearCublasWorkspaces()`; `empty_cache()` keeps them.
///
/// ```
/// use leakharness::runtime::BlasWorkspaces;
///
/// // PyTorch's defaults on an H100 or H200 (compute capability 9.0) and on an A100 (8.0).
/// assert_eq!(BlasWorkspaces::pytorch_default(9, 0).cublas, 32 << 20);
/// assert_eq!(BlasWorkspaces::pytorch_default(8, 0).cublas, (8 << 20) + (128 << 10));
/// assert_eq!(BlasWorkspaces::pytorch_default(8, 0).cublaslt, 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlasWorkspaces {
    /// Bytes of each cuBLAS workspace (`CUBLAS_WORKSPACE_CONFIG`).
    pub cublas: u64,
    /// Bytes of each cuBLASLt workspace (`CUBLASLT_WORKSPACE_SIZE`).
    pub cublaslt: u64,
}

impl BlasWorkspaces {
    /// PyTorch's default sizes (2.11) on a device of compute capability `major.minor`:
    /// `:4096:8` (32 MiB) on sm_90, `:4096:2:16:8` (8 MiB + 128 KiB) elsewhere; 1 MiB for
    /// cuBLASLt, which PyTorch keeps apart from the cuBLAS one unless
    /// `TORCH_CUBLASLT_UNIFIED_WORKSPACE=1`.
    pub fn pytorch_default(major: u32, minor: u32) -> BlasWorkspaces {
        let cublas = if (major, minor) == (9, 0) {
            4096 * 8 * 1024
        } else {
            4096 * 1024 * 2 + 16 * 1024 * 8
        };
        BlasWorkspaces {
            cublas,
            cublaslt: 1024 * 1024,
        }
    }
}

/// Which cuBLAS entry point a product goes through, for its workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlasCall {
    /// `cublasSgemm` and friends: the cuBLAS workspace.
    Gemm,
    /// `cublasLtMatmul` with a bias epilogue: the cuBLAS workspace (taken when the handle is
    /// fetched), then the cuBLASLt one.
    GemmLt,
}

/// Marks a backward pass; see [`Runtime::enter_autograd_thread`].
pub(crate) struct AutogradThread {
    rt: Runtime,
    before: bool,
}

impl Drop for AutogradThread {
    fn drop(&mut self) {
        self.rt.inner.on_autograd_thread.set(self.before);
    }
}

/// One workspace block, held by the runtime as PyTorch's handle pool holds it.
#[derive(Debug, Clone, Copy)]
struct Workspace {
    /// On the autograd engine's thread (backward) rather than the program's.
    autograd_thread: bool,
    lt: bool,
    block: BlockId,
    ptr: DevicePtr,
    bytes: u64,
}

struct Inner {
    allocator: RefCell<CachingAllocator>,
    backend: Backend,
    /// Whose kernels compute on device tensors, chosen once here (see `tensor::kernel`).
    compute_backend: Backend,
    /// When long host kernels stop (the interpreter's time limit); `None`: never.
    deadline: Cell<Option<Instant>>,
    /// Set by whoever owns the run (the CLI's signal handler) to stop it; kernels and the
    /// interpreter look at it where they look at the deadline. Set once, so that kernels can
    /// borrow it for as long as they borrow the runtime.
    interrupt: OnceCell<Arc<AtomicBool>>,
    /// Meta kernels counted since the last look at the clock (they cost nanoseconds, a clock
    /// read tens: see `Cx::poll`).
    kernel_ticks: Cell<u32>,
    python_scalar_names: bool,
    grad_enabled: Cell<bool>,
    seed: Cell<u64>,
    host_offset: Cell<u64>,
    device_offset: Cell<u64>,
    live_nodes: Cell<usize>,
    /// `torch.autograd.graph.saved_tensors_hooks` in effect, innermost last: autograd's hook
    /// objects (`autograd::SavedHook`, typed there, above this layer).
    saved_tensor_hooks: RefCell<Vec<Rc<dyn Any>>>,
    /// `torch.autograd.graph.disable_saved_tensors_hooks(message)` in effect: pushing hooks
    /// raises `message` (PyTorch's thread-local `disabled_error_message`).
    saved_tensor_hooks_disabled: RefCell<Option<Rc<str>>>,
    /// Saved tensors whose program pack hook has not run yet (autograd's pending packs, typed
    /// there): the program runs the hooks when the operation returns to it.
    pending_packs: RefCell<Vec<Rc<dyn Any>>>,
    next_sequence_nr: Cell<u64>,
    /// Blocks of storages dropped while the allocator was borrowed (a caller holding
    /// [`Runtime::allocator`]'s guard); freed at the next access.
    deferred_frees: RefCell<Vec<BlockId>>,
    blas_workspaces: Cell<Option<BlasWorkspaces>>,
    workspaces: RefCell<Vec<Workspace>>,
    /// Whether the autograd engine is running backward: PyTorch runs it on a thread of its own,
    /// whose cuBLAS handle has workspaces of its own.
    on_autograd_thread: Cell<bool>,
    /// What the tensor layer keeps per runtime and this layer cannot name: `torch.autocast`'s
    /// modes and weight-cast cache (`tensor::autocast`), which hold tensors. Per runtime, as
    /// PyTorch keeps them per thread.
    autocast: RefCell<Option<Box<dyn std::any::Any>>>,
    #[cfg(feature = "planted-bugs")]
    planted_bug: Option<PlantedBug>,
    /// The kernels, stream and cuBLAS handle of a cuda runtime. Declared after the allocator
    /// so that it is dropped after it: segments are freed while the stream still exists.
    gpu: Option<Gpu>,
}

/// A handle to one runtime; clones share it. Not `Send`: a runtime lives on one thread, which
/// is what makes a per-runtime grad mode equivalent to PyTorch's thread-local one.
#[derive(Clone)]
pub struct Runtime {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("backend", &self.inner.backend)
            .field("grad_enabled", &self.inner.grad_enabled.get())
            .field("live_nodes", &self.inner.live_nodes.get())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime on a freshly opened device of `backend`.
    /// On cuda this also compiles the kernels (once per process) and loads them; it fails
    /// with an error, never a panic, when the driver, a device, NVRTC or cuBLAS is missing.
    pub fn new(backend: Backend, options: RuntimeOptions) -> Result<Runtime> {
        if backend == Backend::Cuda {
            let device = CudaDevice::new(0)?;
            let gpu = Gpu::new(device.context())?;
            return Ok(Runtime::build(Box::new(device), options, Some(gpu)));
        }
        let device = device::open(backend, options.device_memory)?;
        Ok(Runtime::with_device(device, options))
    }

    /// A runtime over a device opened by the caller (a fault-injecting one, say).
    /// `options.device_memory` is ignored: the device already has its capacity. A cuda device
    /// opened this way gets no kernels: its tensors have memory but no values, as on meta.
    pub fn with_device(device: Box<dyn DeviceMemory>, options: RuntimeOptions) -> Runtime {
        Runtime::build(device, options, None)
    }

    fn build(device: Box<dyn DeviceMemory>, options: RuntimeOptions, gpu: Option<Gpu>) -> Runtime {
        let backend = device.backend();
        let mut allocator = CachingAllocator::new(device);
        if let Some(capture) = options.stack_capture {
            allocator.set_stack_capture(capture);
        }
        allocator.set_config(options.allocator_config);
        #[cfg(feature = "planted-bugs")]
        allocator.set_planted_bug(options.planted_bug);
        // A cuda device without kernels has memory but no values, as meta.
        let compute_backend = match (backend, &gpu) {
            (Backend::Cuda, None) => Backend::Meta,
            (backend, _) => backend,
        };
        Runtime {
            inner: Rc::new(Inner {
                allocator: RefCell::new(allocator),
                backend,
                compute_backend,
                deadline: Cell::new(None),
                interrupt: OnceCell::new(),
                kernel_ticks: Cell::new(0),
                python_scalar_names: options.python_scalar_names,
                grad_enabled: Cell::new(true),
                seed: Cell::new(options.seed),
                host_offset: Cell::new(0),
                device_offset: Cell::new(0),
                live_nodes: Cell::new(0),
                saved_tensor_hooks: RefCell::new(Vec::new()),
                saved_tensor_hooks_disabled: RefCell::new(None),
                pending_packs: RefCell::new(Vec::new()),
                next_sequence_nr: Cell::new(0),
                deferred_frees: RefCell::new(Vec::new()),
                blas_workspaces: Cell::new(options.blas_workspaces),
                workspaces: RefCell::new(Vec::new()),
                on_autograd_thread: Cell::new(false),
                autocast: RefCell::new(None),
                #[cfg(feature = "planted-bugs")]
                planted_bug: options.planted_bug,
                gpu,
            }),
        }
    }

    /// The backend of the device.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The backend whose kernels compute on device tensors: the device's own, except meta's
    /// for a cuda device opened without kernels ([`Runtime::with_device`]).
    pub fn compute_backend(&self) -> Backend {
        self.inner.compute_backend
    }

    /// Until the guard drops, host kernels stop with [`TensorError::OutOfTime`] once `deadline`
    /// has passed: they look at the clock between blocks of rows of a matrix product and
    /// chunks of element-wise work, so that one long operation cannot outlast a time limit.
    /// The scenario interpreter sets it to the end of its time limit.
    #[must_use = "the deadline is lifted when the guard is dropped"]
    pub fn set_deadline(&self, deadline: Instant) -> DeadlineGuard {
        let previous = self.inner.deadline.replace(Some(deadline));
        DeadlineGuard {
            rt: self.clone(),
            previous,
        }
    }

    /// The deadline of [`set_deadline`](Self::set_deadline), if one is set.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline.get()
    }

    /// From now on, kernels stop with [`TensorError::Interrupted`] and the scenario
    /// interpreter stops before its next statement once `flag` is set: how a run owner (the
    /// CLI, on SIGINT or SIGTERM) stops a long operation from another thread. The flag belongs
    /// to the run, not the process, so parallel runs stop independently. A runtime takes one
    /// flag for its life; `false` when it already had one (which stays).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use leakharness::device::Backend;
    /// use leakharness::runtime::{Runtime, RuntimeOptions};
    ///
    /// let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    /// let stop = Arc::new(AtomicBool::new(false));
    /// assert!(rt.stop_on(stop.clone()));
    /// assert!(!rt.interrupted());
    /// stop.store(true, Ordering::Relaxed); // what a signal handler does
    /// assert!(rt.interrupted());
    /// ```
    pub fn stop_on(&self, flag: Arc<AtomicBool>) -> bool {
        self.inner.interrupt.set(flag).is_ok()
    }

    /// Whether the flag of [`stop_on`](Self::stop_on) is set.
    pub fn interrupted(&self) -> bool {
        self.interrupt_flag()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// The flag of [`stop_on`](Self::stop_on), for kernels to look at.
    pub(crate) fn interrupt_flag(&self) -> Option<&AtomicBool> {
        self.inner.interrupt.get().map(|f| &**f)
    }

    /// The meta kernels' count since their last look at the clock.
    pub(crate) fn kernel_ticks(&self) -> &Cell<u32> {
        &self.inner.kernel_ticks
    }

    /// The GPU executor, on a cuda runtime opened by [`Runtime::new`].
    pub fn gpu(&self) -> Option<&Gpu> {
        self.inner.gpu.as_ref()
    }

    /// The allocator, as a cell, for [`LocationGuard`](crate::alloc::LocationGuard).
    pub fn allocator_cell(&self) -> &RefCell<CachingAllocator> {
        self.flush_deferred_frees();
        &self.inner.allocator
    }

    /// The allocator, for statistics, snapshots and the history. Tensors dropped while the
    /// guard lives are freed when the allocator is next reached, not while it is borrowed.
    ///
    /// # Panics
    ///
    /// When a guard from [`allocator_mut`](Self::allocator_mut) is alive.
    pub fn allocator(&self) -> Ref<'_, CachingAllocator> {
        self.flush_deferred_frees();
        self.inner.allocator.borrow()
    }

    /// The allocator, for `empty_cache()`, limits and peak resets.
    ///
    /// # Panics
    ///
    /// When another guard from [`allocator`](Self::allocator) or this method is alive.
    pub fn allocator_mut(&self) -> RefMut<'_, CachingAllocator> {
        self.flush_deferred_frees();
        self.inner.allocator.borrow_mut()
    }

    /// The allocator for a tensor operation; an error rather than a panic when the caller
    /// holds a guard on it.
    pub(crate) fn try_allocator_mut(&self) -> Result<RefMut<'_, CachingAllocator>> {
        self.flush_deferred_frees();
        self.inner.allocator.try_borrow_mut().map_err(|_| {
            TensorError::Invalid(
                "the allocator is borrowed: drop the guard from Runtime::allocator() before running tensor operations".into(),
            )
        })
    }

    /// Gives a dropped storage's block back, now if the allocator is free, else at the next
    /// access.
    pub(crate) fn free_block(&self, block: BlockId) {
        match self.inner.allocator.try_borrow_mut() {
            // The block belongs to this allocator and is freed once; an error cannot happen.
            Ok(mut a) => {
                let _ = a.free(block);
            }
            Err(_) => self.inner.deferred_frees.borrow_mut().push(block),
        }
    }

    fn flush_deferred_frees(&self) {
        if self.inner.deferred_frees.borrow().is_empty() {
            return;
        }
        if let Ok(mut a) = self.inner.allocator.try_borrow_mut() {
            for block in self.inner.deferred_frees.borrow_mut().drain(..) {
                let _ = a.free(block);
            }
        }
    }

    /// Models PyTorch's cuBLAS workspaces from now on (or stops, with `None`).
    pub fn set_blas_workspaces(&self, sizes: Option<BlasWorkspaces>) {
        self.inner.blas_workspaces.set(sizes);
    }

    /// The compute capability of a cuda runtime's device, from the architecture its kernels
    /// were compiled for.
    pub fn compute_capability(&self) -> Option<(u32, u32)> {
        let digits = self.gpu()?.arch().strip_prefix("compute_")?;
        let value: u32 = digits.parse().ok()?;
        Some((value / 10, value % 10))
    }

    /// Takes the workspaces a product through `call` needs on the current thread, the first
    /// time, from the caching allocator (after the product's output, as PyTorch allocates the
    /// output before it fetches the handle), and points cuBLAS at the cuBLAS one.
    pub(crate) fn blas_workspace(&self, call: BlasCall) -> Result<()> {
        let Some(sizes) = self.inner.blas_workspaces.get() else {
            return Ok(());
        };
        let cublas = self.workspace(false, sizes.cublas)?;
        if call == BlasCall::GemmLt {
            self.workspace(true, sizes.cublaslt)?;
        }
        if let Some(gpu) = self.gpu() {
            gpu.set_blas_workspace(cublas.ptr, cublas.bytes)?;
        }
        Ok(())
    }

    fn workspace(&self, lt: bool, bytes: u64) -> Result<Workspace> {
        let autograd_thread = self.inner.on_autograd_thread.get();
        let existing = self
            .inner
            .workspaces
            .borrow()
            .iter()
            .copied()
            .find(|w| w.autograd_thread == autograd_thread && w.lt == lt);
        if let Some(w) = existing {
            return Ok(w);
        }
        let a = self
            .try_allocator_mut()?
            .allocate(bytes, Purpose::Workspace)?;
        let w = Workspace {
            autograd_thread,
            lt,
            block: a.id,
            ptr: a.ptr,
            bytes,
        };
        self.inner.workspaces.borrow_mut().push(w);
        Ok(w)
    }

    /// `torch._C._cuda_clearCublasWorkspaces()`: gives every cuBLAS workspace back to the
    /// caching allocator (as cached blocks; `empty_cache()` then returns their segments).
    pub fn clear_blas_workspaces(&self) -> Result<()> {
        if let Some(gpu) = self.gpu() {
            gpu.set_blas_workspace(DevicePtr(0), 0)?;
        }
        let cleared: Vec<Workspace> = self.inner.workspaces.borrow_mut().drain(..).collect();
        for w in cleared {
            self.free_block(w.block);
        }
        Ok(())
    }

    /// Bytes held by cuBLAS workspaces.
    pub fn blas_workspace_bytes(&self) -> u64 {
        let allocator = self.allocator();
        self.inner
            .workspaces
            .borrow()
            .iter()
            .filter_map(|w| allocator.block_size(w.block))
            .sum()
    }

    /// The tensor layer's autocast state (see `tensor::autocast`).
    pub(crate) fn autocast_slot(&self) -> &RefCell<Option<Box<dyn std::any::Any>>> {
        &self.inner.autocast
    }

    /// Whether the autograd engine is running backward (see
    /// [`enter_autograd_thread`](Self::enter_autograd_thread)).
    pub(crate) fn on_autograd_thread(&self) -> bool {
        self.inner.on_autograd_thread.get()
    }

    /// Until the guard drops, operations run as on the autograd engine's thread, whose cuBLAS
    /// handle (and so workspace) is its own.
    pub(crate) fn enter_autograd_thread(&self) -> AutogradThread {
        let before = self.inner.on_autograd_thread.replace(true);
        AutogradThread {
            rt: self.clone(),
            before,
        }
    }

    /// Whether `bug` is switched on for this runtime.
    #[cfg(feature = "planted-bugs")]
    pub fn planted(&self, bug: PlantedBug) -> bool {
        self.inner.planted_bug == Some(bug)
    }

    /// `torch.cuda.memory_allocated()`.
    pub fn memory_allocated(&self) -> u64 {
        self.allocator().memory_allocated()
    }

    /// `torch.cuda.memory_reserved()`.
    pub fn memory_reserved(&self) -> u64 {
        self.allocator().memory_reserved()
    }

    /// `torch.is_grad_enabled()`.
    pub fn is_grad_enabled(&self) -> bool {
        self.inner.grad_enabled.get()
    }

    /// `torch.set_grad_enabled(mode)` as a statement: grad mode stays `enabled` until set
    /// again.
    pub fn set_grad_mode(&self, enabled: bool) {
        self.inner.grad_enabled.set(enabled);
    }

    /// `torch.no_grad()`: grad mode is off until the guard is dropped.
    #[must_use = "grad mode is restored when the guard is dropped"]
    pub fn no_grad(&self) -> GradModeGuard {
        self.set_grad_enabled(false)
    }

    /// `torch.enable_grad()`: grad mode is on until the guard is dropped.
    #[must_use = "grad mode is restored when the guard is dropped"]
    pub fn enable_grad(&self) -> GradModeGuard {
        self.set_grad_enabled(true)
    }

    /// `torch.set_grad_enabled(mode)`, restored when the guard is dropped.
    #[must_use = "grad mode is restored when the guard is dropped"]
    pub fn set_grad_enabled(&self, enabled: bool) -> GradModeGuard {
        let previous = self.inner.grad_enabled.replace(enabled);
        GradModeGuard {
            rt: self.clone(),
            previous,
        }
    }

    /// `torch.manual_seed(seed)`: reseeds and rewinds both generators.
    pub fn manual_seed(&self, seed: u64) {
        self.inner.seed.set(seed);
        self.inner.host_offset.set(0);
        self.inner.device_offset.set(0);
    }

    /// Both generators' state (`torch.get_rng_state()` and the device's), for
    /// `torch.utils.checkpoint`'s `preserve_rng_state`.
    pub fn rng_state(&self) -> RngState {
        RngState {
            seed: self.inner.seed.get(),
            host_offset: self.inner.host_offset.get(),
            device_offset: self.inner.device_offset.get(),
        }
    }

    /// Restores a state [`rng_state`](Self::rng_state) returned.
    pub fn set_rng_state(&self, s: RngState) {
        self.inner.seed.set(s.seed);
        self.inner.host_offset.set(s.host_offset);
        self.inner.device_offset.set(s.device_offset);
    }

    /// Whether nodes are named as PyTorch names them when called from Python
    /// ([`RuntimeOptions::python_scalar_names`]).
    pub fn python_scalar_names(&self) -> bool {
        self.inner.python_scalar_names
    }

    /// Autograd nodes alive now, AccumulateGrad nodes included (see `docs/autograd.md`):
    /// a graph kept alive shows here even when it holds no memory.
    pub fn live_nodes(&self) -> usize {
        self.inner.live_nodes.get()
    }

    /// The innermost saved-tensor hook, if any.
    pub(crate) fn saved_tensor_hook(&self) -> Option<Rc<dyn Any>> {
        self.inner.saved_tensor_hooks.borrow().last().cloned()
    }

    /// Puts `hook` in effect until [`Runtime::pop_saved_tensor_hook`].
    pub(crate) fn push_saved_tensor_hook(&self, hook: Rc<dyn Any>) {
        self.inner.saved_tensor_hooks.borrow_mut().push(hook);
    }

    /// Ends the innermost saved-tensor hook.
    pub(crate) fn pop_saved_tensor_hook(&self) {
        let hook = self.inner.saved_tensor_hooks.borrow_mut().pop();
        drop(hook);
    }

    /// How many saved-tensor hooks are in effect.
    pub(crate) fn saved_tensor_hook_depth(&self) -> usize {
        self.inner.saved_tensor_hooks.borrow().len()
    }

    /// The message of `disable_saved_tensors_hooks` in effect, if any.
    pub(crate) fn saved_tensor_hooks_disabled(&self) -> Option<Rc<str>> {
        self.inner.saved_tensor_hooks_disabled.borrow().clone()
    }

    /// Disables saved-tensor hooks with `message`, or enables them again with `None`.
    pub(crate) fn set_saved_tensor_hooks_disabled(&self, message: Option<Rc<str>>) {
        *self.inner.saved_tensor_hooks_disabled.borrow_mut() = message;
    }

    /// Queues a saved tensor for the program's pack hook.
    pub(crate) fn defer_pack(&self, pending: Rc<dyn Any>) {
        self.inner.pending_packs.borrow_mut().push(pending);
    }

    /// Whether saved tensors wait for the program's pack hook: checked after every expression
    /// a scenario evaluates, so it costs one borrow.
    pub fn has_pending_packs(&self) -> bool {
        !self.inner.pending_packs.borrow().is_empty()
    }

    /// The saved tensors waiting for the program's pack hook, in the order they were saved.
    pub(crate) fn take_pending_packs(&self) -> Vec<Rc<dyn Any>> {
        std::mem::take(&mut *self.inner.pending_packs.borrow_mut())
    }

    pub(crate) fn node_created(&self) -> u64 {
        self.inner.live_nodes.set(self.inner.live_nodes.get() + 1);
        let seq = self.inner.next_sequence_nr.get();
        self.inner.next_sequence_nr.set(seq + 1);
        seq
    }

    pub(crate) fn node_dropped(&self) {
        self.inner.live_nodes.set(self.inner.live_nodes.get() - 1);
    }

    /// Reserves `n` 32-bit random numbers of `device`'s generator and returns a stream over
    /// them. Each draw starts on a fresh Philox block, so a kernel drawing element `i` of a
    /// tensor needs only the offset this returns and `i`.
    pub(crate) fn random_stream(&self, device: Device, n: usize) -> Philox {
        let offset = match device {
            Device::Cpu => &self.inner.host_offset,
            Device::Cuda => &self.inner.device_offset,
        };
        let start = offset.get();
        offset.set(start + (n as u64).div_ceil(4));
        Philox::new(self.inner.seed.get(), start)
    }

    pub(crate) fn same(&self, other: &Runtime) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

/// The random generators' state: the seed and how far each generator has drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngState {
    seed: u64,
    host_offset: u64,
    device_offset: u64,
}

impl RngState {
    /// Its three numbers, for a program to hold.
    pub fn parts(self) -> [u64; 3] {
        [self.seed, self.host_offset, self.device_offset]
    }

    /// The state of three numbers [`parts`](Self::parts) gave.
    pub fn from_parts(parts: &[u64]) -> Option<RngState> {
        match parts {
            [seed, host_offset, device_offset] => Some(RngState {
                seed: *seed,
                host_offset: *host_offset,
                device_offset: *device_offset,
            }),
            _ => None,
        }
    }
}

/// Restores the previous deadline when dropped; see [`Runtime::set_deadline`].
#[derive(Debug)]
pub struct DeadlineGuard {
    rt: Runtime,
    previous: Option<Instant>,
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        self.rt.inner.deadline.set(self.previous);
    }
}

/// Restores the previous grad mode when dropped.
#[derive(Debug)]
pub struct GradModeGuard {
    rt: Runtime,
    previous: bool,
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        self.rt.inner.grad_enabled.set(self.previous);
    }
}

/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"), the counter
/// based generator cuRAND and PyTorch's CUDA generator use: the numbers depend only on the
/// seed and the counter, so a CUDA kernel can reproduce the cpu backend's values.
pub(crate) struct Philox {
    key: [u32; 2],
    counter: u64,
    block: [u32; 4],
    used: usize,
}

impl Philox {
    fn new(seed: u64, counter: u64) -> Self {
        Philox {
            key: [seed as u32, (seed >> 32) as u32],
            counter,
            block: [0; 4],
            used: 4,
        }
    }

    fn round(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
        const M0: u64 = 0xD251_1F53;
        const M1: u64 = 0xCD9E_8D57;
        let p0 = M0 * ctr[0] as u64;
        let p1 = M1 * ctr[2] as u64;
        [
            (p1 >> 32) as u32 ^ ctr[1] ^ key[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ ctr[3] ^ key[1],
            p0 as u32,
        ]
    }

    fn block(counter: u64, mut key: [u32; 2]) -> [u32; 4] {
        let mut ctr = [counter as u32, (counter >> 32) as u32, 0, 0];
        for i in 0..10 {
            if i > 0 {
                key[0] = key[0].wrapping_add(0x9E37_79B9);
                key[1] = key[1].wrapping_add(0xBB67_AE85);
            }
            ctr = Self::round(ctr, key);
        }
        ctr
    }

    /// The key and the block counter the stream starts at, for kernels that draw element `i`
    /// directly (see kernels/random.cu).
    pub(crate) fn key_and_counter(&self) -> ([u32; 2], u64) {
        (self.key, self.counter)
    }

    /// The next 32-bit number.
    pub(crate) fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            self.block = Self::block(self.counter, self.key);
            self.counter += 1;
            self.used = 0;
        }
        let x = self.block[self.used];
        self.used += 1;
        x
    }

    /// Uniform in [0, 1), from the top 24 bits: every value is an exact f32.
    pub(crate) fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// The next two standard normal numbers, by Box–Muller on two uniforms in f64, then
    /// rounded.
    pub(crate) fn normal_pair(&mut self) -> [f32; 2] {
        let u1 = ((self.next_u32() >> 8) as f64 + 1.0) / 16_777_216.0;
        let u2 = (self.next_u32() >> 8) as f64 / 16_777_216.0;
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        [(r * theta.cos()) as f32, (r * theta.sin()) as f32]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_the_published_known_answer() {
        // Known-answer test from the Random123 distribution (kat_vectors, philox4x32 10 rounds):
        // counter and key all zeros.
        let block = Philox::block(0, [0, 0]);
        assert_eq!(block, [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
    }

    #[test]
    fn grad_mode_guards_nest_and_restore() {
        let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
        {
            let _a = rt.no_grad();
            {
                let _b = rt.enable_grad();
                assert!(rt.is_grad_enabled());
            }
            assert!(!rt.is_grad_enabled());
        }
        assert!(rt.is_grad_enabled());
    }

    #[test]
    fn streams_advance_by_whole_blocks_and_reseed_rewinds() {
        let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
        let a = rt.random_stream(Device::Cuda, 3).next_u32();
        let b = rt.random_stream(Device::Cuda, 1).next_u32();
        assert_ne!(a, b);
        assert_eq!(b, Philox::block(1, [0, 0])[0]);
        rt.manual_seed(0);
        assert_eq!(rt.random_stream(Device::Cuda, 1).next_u32(), a);
    }

    /// PyTorch 2.11 on an H200, measured with `benches/pytorch_trace.py` (docs/gpu.md): the
    /// first `nn.Linear` forward takes the 32 MiB cuBLAS workspace and the 1 MiB cuBLASLt one
    /// after its output; the first backward, on the autograd engine's thread, another 32 MiB;
    /// later steps take nothing more; clearing them leaves only tensors.
    #[test]
    fn blas_workspaces_are_taken_once_per_thread_as_pytorch_takes_them() {
        use crate::nn::{Linear, Module};
        let rt = Runtime::new(
            Backend::Meta,
            RuntimeOptions {
                blas_workspaces: Some(BlasWorkspaces::pytorch_default(9, 0)),
                ..RuntimeOptions::default()
            },
        )
        .unwrap();
        let layer = Linear::new_on(&rt, 64, 10, true, Device::Cuda).unwrap();
        let params = rt.memory_allocated();
        // The 10x64 f32 weight is 2560 B (five 512 B units), the bias one 512 B block.
        assert_eq!(params, 2560 + 512);
        let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
        let before_forward = rt.memory_allocated();
        let out = layer.forward(&x).unwrap();
        // The 32x10 output (1280 B, rounded to 1536), then 32 MiB and 1 MiB of workspace.
        assert_eq!(
            rt.memory_allocated() - before_forward,
            1536 + (32 << 20) + (1 << 20)
        );
        let loss = out.sum().unwrap();
        let before_backward = rt.memory_allocated();
        loss.backward(None, false).unwrap();
        let gradients = params;
        assert_eq!(
            rt.memory_allocated() - before_backward,
            gradients + (32 << 20)
        );
        assert_eq!(rt.blas_workspace_bytes(), 65 << 20);
        let again = layer.forward(&x).unwrap().sum().unwrap();
        again.backward(None, false).unwrap();
        assert_eq!(rt.blas_workspace_bytes(), 65 << 20);
        drop((again, loss, out, x));
        rt.clear_blas_workspaces().unwrap();
        assert_eq!(rt.memory_allocated(), params + gradients);
    }

    #[test]
    fn host_products_and_runtimes_without_the_model_take_no_workspace() {
        let modelled = Runtime::new(
            Backend::Meta,
            RuntimeOptions {
                blas_workspaces: Some(BlasWorkspaces::pytorch_default(8, 0)),
                ..RuntimeOptions::default()
            },
        )
        .unwrap();
        let a = modelled.randn(&[4, 4], Device::Cpu).unwrap();
        let _p = a.mm(&a).unwrap();
        assert_eq!(modelled.blas_workspace_bytes(), 0);
        let b = modelled.randn(&[4, 4], Device::Cuda).unwrap();
        let _q = b.mm(&b).unwrap();
        // A plain product takes the cuBLAS workspace only: 8 MiB + 128 KiB off sm_90.
        assert_eq!(modelled.blas_workspace_bytes(), (8 << 20) + (128 << 10));

        let plain = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
        let c = plain.randn(&[4, 4], Device::Cuda).unwrap();
        let _r = c.mm(&c).unwrap();
        assert_eq!(plain.blas_workspace_bytes(), 0);
        assert_eq!(plain.memory_allocated(), 2 * 512);
    }
}
