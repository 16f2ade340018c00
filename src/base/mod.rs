//! The ground floor: the vocabulary every layer shares, importing nothing else of the crate.
//!
//! Planted-bug switches, byte sizes (formatting and parsing), element types and devices, the
//! runtime's errors from the device up to a tensor operation, and what a run concludes and a
//! scenario expects. Anything here may be imported from anywhere; nothing here imports from the
//! rest of the crate, so that moving it never creates a cycle.

mod dtype;
mod error;
#[cfg(feature = "planted-bugs")]
mod planted;
mod size;
mod verdict;

pub use dtype::{DType, Device};
pub use error::{AllocError, BlockId, DeviceError, KernelError, OutOfMemory, Result, TensorError};
#[cfg(feature = "planted-bugs")]
pub use planted::PlantedBug;
pub use size::{format_size, header_size, parse_size, SizeError};
pub use verdict::{Expect, LeakKind, UnknownLeakKind, Verdict};
