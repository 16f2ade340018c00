//! Errors of the tensor runtime, worded as PyTorch words them so that a scenario failing here
//! fails with the message its author would see under PyTorch.

use crate::alloc::AllocError;
use crate::device::DeviceError;

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
    /// Valid PyTorch that this runtime does not implement (yet), saying what instead.
    #[error("not supported by the leakharness runtime: {0}")]
    Unsupported(String),
}

/// Result of the runtime's operations.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;
