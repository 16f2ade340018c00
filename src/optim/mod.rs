//! Optimizers with the state and temporaries of PyTorch's single-tensor (`foreach=False`)
//! implementations in `torch/optim/sgd.py`, `adam.py`, `rmsprop.py` and `adagrad.py`: state
//! is created lazily at the first step (Adagrad's by its constructor), and each step
//! allocates the temporaries those loops allocate.
//!
//! ```
//! use leakharness::device::Backend;
//! use leakharness::nn::{Linear, Module};
//! use leakharness::optim::{Adam, AdamOptions, Optimizer};
//! use leakharness::runtime::{Runtime, RuntimeOptions};
//! use leakharness::tensor::Device;
//!
//! let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
//! let layer = Linear::new(&rt, 128, 128, true).unwrap();
//! layer.to(Device::Cuda).unwrap();
//! let mut opt = Adam::new(layer.parameters(), AdamOptions::default());
//! let x = rt.randn(&[4, 128], Device::Cuda).unwrap();
//! layer.forward(&x).unwrap().sum().unwrap().backward(None, false).unwrap();
//! let before = rt.memory_allocated();
//! opt.step().unwrap();
//! // exp_avg and exp_avg_sq for the weight (64 KiB) and the bias (512 bytes after rounding)
//! assert_eq!(rt.memory_allocated() - before, 2 * (65536 + 512));
//! ```

mod adagrad;
mod adam;
mod rmsprop;
mod sgd;

pub use adagrad::{Adagrad, AdagradOptions};
pub use adam::{Adam, AdamOptions, AdamW};
pub use rmsprop::{Rmsprop, RmspropOptions};
pub use sgd::{Sgd, SgdOptions};

use crate::base::Result;
use crate::tensor::Tensor;

/// What every optimizer does.
pub trait Optimizer {
    /// `optimizer.step()` (under no_grad, as PyTorch's step decorator runs it).
    fn step(&mut self) -> Result<()>;

    /// The parameters it updates.
    fn params(&self) -> &[Tensor];

    /// `optimizer.zero_grad(set_to_none)`; PyTorch's default is `set_to_none=True`.
    fn zero_grad(&mut self, set_to_none: bool) -> Result<()> {
        crate::nn::zero_grads(self.params(), set_to_none)
    }

    /// Optimizer state tensors alive now (momentum buffers, moments), for reports.
    fn state_tensors(&self) -> Vec<Tensor>;
}
