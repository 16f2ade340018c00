//! Optimizers with the state and temporaries of PyTorch's implementations in
//! `torch/optim/sgd.py`, `adam.py`, `rmsprop.py` and `adagrad.py`: state is created lazily at
//! the first step (Adagrad's by its constructor), and each step allocates the temporaries of
//! the path PyTorch takes: the for-loop (`_single_tensor_*`, `foreach=False`) or the
//! `_multi_tensor_*` path (`foreach=True`), whose `torch._foreach_*` ops allocate one output
//! per parameter at once. Left unset, `foreach` follows PyTorch's default
//! (`_default_to_fused_or_foreach`): on when every parameter with a gradient is on the device.
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
mod grad_scaler;
mod rmsprop;
mod sgd;

pub use adagrad::{Adagrad, AdagradOptions};
pub use adam::{Adam, AdamOptions, AdamW};
pub use grad_scaler::{gradients_of, GradScaler, GradScalerOptions};
pub use rmsprop::{Rmsprop, RmspropOptions};
pub use sgd::{Sgd, SgdOptions};

use std::any::Any;

use crate::alloc::Purpose;
use crate::base::{DType, Device, Result, TensorError};
use crate::tensor::Tensor;

/// One parameter's state as `optimizer.state_dict()["state"][i]` names it (`step`,
/// `exp_avg`, `momentum_buffer`, ...).
pub type ParamState = Vec<(&'static str, Tensor)>;

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

    /// Each parameter's state by PyTorch's names, `None` for a parameter without any yet.
    /// The tensors are the optimizer's own, not copies: `state_dict()` holds references.
    fn state(&self) -> Vec<Option<ParamState>>;

    /// `load_state_dict`: parameter `index`'s state becomes these tensors, shared and not
    /// copied (PyTorch's `.to(param.dtype, param.device)` returns the same tensor when they
    /// already match). A name the optimizer needs and `state` lacks is a `KeyError`.
    fn load_state(&mut self, index: usize, state: &[(&str, Tensor)]) -> Result<()>;

    /// Its hyper-parameters (`SgdOptions`, `AdamOptions`, ...), for the bindings that keep
    /// them in step with a Python `param_groups` dict.
    fn options_mut(&mut self) -> &mut dyn Any;

    /// Optimizer state tensors alive on the device now (momentum buffers, moments, and the
    /// `step` counters of a capturable or fused optimizer), without the host ones.
    fn state_tensors(&self) -> Vec<Tensor> {
        self.state()
            .into_iter()
            .flatten()
            .flatten()
            .filter(|(_, t)| t.device() == Device::Cuda)
            .map(|(_, t)| t)
            .collect()
    }
}

/// The tensor named `name` in a loaded state, or PyTorch's `KeyError`.
pub(crate) fn state_entry(state: &[(&str, Tensor)], name: &str) -> Result<Tensor> {
    state
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.clone())
        .ok_or_else(|| TensorError::Invalid(format!("KeyError: '{name}'")))
}

/// Checks the index `load_state` was given.
pub(crate) fn state_index(index: usize, len: usize) -> Result<usize> {
    if index < len {
        Ok(index)
    } else {
        Err(TensorError::Invalid(format!(
            "loaded state dict has state for parameter {index}, but the group has {len}"
        )))
    }
}

/// The parameters one `step()` updates (those with a gradient, in order), their gradients and
/// their state: what `_init_group` hands to `_single_tensor_*` or `_multi_tensor_*`.
pub(crate) struct Group<'a, S> {
    pub(crate) params: Vec<&'a Tensor>,
    pub(crate) grads: Vec<Tensor>,
    pub(crate) states: Vec<&'a mut S>,
}

impl<S> Group<'_, S> {
    /// Runs `single` per parameter, as the for-loop implementations do. What `single`
    /// returns is the loop body's local that outlives its iteration (Adam's `denom`, RMSprop's
    /// `avg`, Adagrad's `std`): Python rebinds it only once the next parameter's is computed,
    /// so two are alive at once, and the last one until the function returns.
    pub(crate) fn each(
        &mut self,
        mut single: impl FnMut(&Tensor, Tensor, &mut S) -> Result<Option<Tensor>>,
    ) -> Result<()> {
        let mut _kept = None;
        for ((param, grad), state) in self.params.iter().zip(&self.grads).zip(&mut self.states) {
            _kept = single(param, grad.clone(), state)?;
        }
        Ok(())
    }

    /// L2 weight decay on the foreach path, `torch._foreach_add(grads, params,
    /// alpha=weight_decay)`: every `grad + wd * param` allocated at once, alive while the list
    /// is; `None` without weight decay, when the update reads the gradients themselves.
    pub(crate) fn decayed_grads(&self, weight_decay: f64) -> Result<Option<TensorList>> {
        if weight_decay == 0.0 {
            return Ok(None);
        }
        TensorList::map(&self.grads, |i, g| {
            g.add_alpha(self.params[i], weight_decay)
        })
        .map(Some)
    }
}

/// One `optimizer.step()`: under no_grad (PyTorch's step decorator), state made by `init` for
/// every parameter with a gradient and no state yet, before any update (`_init_group`), then
/// `run` over the group with whether the foreach path runs (`foreach`, or PyTorch's default
/// when unset).
pub(crate) fn step<S>(
    params: &[Tensor],
    state: &mut [Option<S>],
    foreach: Option<bool>,
    mut init: impl FnMut(&Tensor) -> Result<S>,
    run: impl FnOnce(&mut Group<'_, S>, bool) -> Result<()>,
) -> Result<()> {
    let Some(first) = params.first() else {
        return Ok(());
    };
    let rt = first.runtime().clone();
    let _no_grad = rt.no_grad();
    for (p, slot) in params.iter().zip(state.iter_mut()) {
        if slot.is_none() && p.grad().is_some() {
            *slot = Some(init(p)?);
        }
    }
    let mut group = Group {
        params: Vec::new(),
        grads: Vec::new(),
        states: Vec::new(),
    };
    for (p, slot) in params.iter().zip(state.iter_mut()) {
        if let (Some(grad), Some(s)) = (p.grad(), slot.as_mut()) {
            group.params.push(p);
            group.grads.push(grad);
            group.states.push(s);
        }
    }
    let foreach = foreach.unwrap_or_else(|| default_foreach(&group.params));
    run(&mut group, foreach)
}

/// A parameter's `state["step"]` as `_init_group` makes it: `torch.tensor(0.0)` on the host,
/// or with `capturable`/`fused` `torch.zeros((), dtype=float32, device=p.device)`, a 0-dim
/// tensor on the parameter's device (4 bytes requested, a 512-byte block).
pub(crate) fn step_counter(p: &Tensor, on_device: bool) -> Result<Tensor> {
    if on_device {
        Tensor::empty_for(
            p.runtime(),
            &[],
            DType::F32,
            p.device(),
            Purpose::OptimizerState,
        )
        .and_then(|t| t.fill_(0.0))
    } else {
        p.runtime().zeros(&[], DType::F32, Device::Cpu)
    }
}

/// The check `_single_tensor_*`/`_multi_tensor_*` make with `capturable=True`, after
/// `_init_group` made the state: every parameter must be on a capturable device (CUDA here).
pub(crate) fn check_capturable(params: &[&Tensor]) -> Result<()> {
    if params.iter().all(|p| p.device() == Device::Cuda) {
        Ok(())
    } else {
        Err(TensorError::Invalid(
            "AssertionError: If capturable=True, params and state_steps must be on supported devices: ['cuda', 'xpu', 'hpu', 'privateuseone', 'xla'].".into(),
        ))
    }
}

/// `_default_to_fused_or_foreach(params, differentiable=False, use_fused=False)`: foreach
/// when every parameter with a gradient is on a device with foreach kernels (CUDA here).
pub fn default_foreach(params: &[&Tensor]) -> bool {
    params.iter().all(|p| p.device() == Device::Cuda)
}

/// A Python list of tensors that a `torch._foreach_*` op returned (one output per input,
/// allocated in order). CPython frees a list's items last to first, and so does its drop.
pub(crate) struct TensorList(pub(crate) Vec<Tensor>);

impl TensorList {
    /// `torch._foreach_<op>(inputs)`: `op` applied to each input, every output alive at once.
    pub(crate) fn map<T>(
        inputs: impl IntoIterator<Item = T>,
        mut op: impl FnMut(usize, T) -> Result<Tensor>,
    ) -> Result<TensorList> {
        let mut out = TensorList(Vec::new());
        for (i, t) in inputs.into_iter().enumerate() {
            out.0.push(op(i, t)?);
        }
        Ok(out)
    }
}

impl Drop for TensorList {
    fn drop(&mut self) {
        while let Some(t) = self.0.pop() {
            drop(t);
        }
    }
}
