//! `torch.amp.GradScaler` (`torch.cuda.amp.GradScaler`), with the tensors and temporaries of
//! torch/amp/grad_scaler.py (2.15):
//!
//! - the first `scale(loss)` creates `_scale` (`torch.full((), init_scale)`, float32) and
//!   `_growth_tracker` (`torch.full((), 0)`, int32 in PyTorch); both live as long as the scaler;
//!   `scale(loss)` itself is `loss * _scale`, a new 0-dim tensor whose MulBackward0 saves
//!   `_scale` (no new memory);
//! - `unscale_(optimizer)` (called by `step` when the program did not) computes
//!   `inv_scale = _scale.double().reciprocal().float()` (three 0-dim temporaries, two alive at
//!   once; the first two float64, 8 bytes requested each) and `found_inf = torch.full((), 0.0)`, copies both to the gradients' device (`.to(copy=True)`:
//!   two more 0-dim tensors, found_inf's first), then multiplies every gradient by the inverse
//!   scale in place and sets the copy of `found_inf` where a gradient holds an inf or a NaN
//!   (`_amp_foreach_non_finite_check_and_unscale_`). The copy of `found_inf` is kept in the
//!   optimizer's state until `update()`; the rest is freed when `unscale_` returns;
//! - `step(optimizer)` runs `optimizer.step()` only when `found_inf.item()` is 0;
//! - `update()` grows or backs off the scale in place (`_amp_update_scale_`) and forgets the
//!   per-optimizer states (their `found_inf`).
//!
//! Both are 0-dim: 4 bytes requested each, a 512-byte block each. On meta there are no values:
//! `found_inf` reads as 0 (the step always runs) and the scale does not change.

use super::Optimizer;
use crate::base::{DType, Device, Result, TensorError};
use crate::tensor::{Scalar, Tensor};

/// `GradScaler(device, init_scale, growth_factor, backoff_factor, growth_interval, enabled)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradScalerOptions {
    /// `init_scale` (2**16).
    pub init_scale: f64,
    /// `growth_factor` (2.0), > 1.
    pub growth_factor: f64,
    /// `backoff_factor` (0.5), < 1.
    pub backoff_factor: f64,
    /// `growth_interval` (2000): steps without inf/NaN before the scale grows.
    pub growth_interval: i64,
    /// `enabled` (True): when false every method passes through.
    pub enabled: bool,
}

impl Default for GradScalerOptions {
    fn default() -> Self {
        GradScalerOptions {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
            enabled: true,
        }
    }
}

/// Where an optimizer is between two `update()`s (`OptState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ready,
    Unscaled,
    Stepped,
}

/// One optimizer's state since the last `update()`: its stage and `found_inf_per_device`.
#[derive(Debug)]
struct PerOptimizer {
    id: usize,
    stage: Stage,
    found_inf: Option<Tensor>,
}

/// A gradient scaler.
#[derive(Debug)]
pub struct GradScaler {
    options: GradScalerOptions,
    scale: Option<Tensor>,
    growth_tracker: Option<Tensor>,
    per_optimizer: Vec<PerOptimizer>,
}

fn fail(message: &str) -> TensorError {
    TensorError::Invalid(message.to_string())
}

impl GradScaler {
    /// A scaler with `options`; nothing is allocated until the first [`scale`](Self::scale).
    pub fn new(options: GradScalerOptions) -> Result<GradScaler> {
        if options.enabled && options.growth_factor <= 1.0 {
            return Err(fail("The growth factor must be > 1.0."));
        }
        if options.enabled && options.backoff_factor >= 1.0 {
            return Err(fail("The backoff factor must be < 1.0."));
        }
        Ok(GradScaler {
            options,
            scale: None,
            growth_tracker: None,
            per_optimizer: Vec::new(),
        })
    }

    /// `is_enabled()`.
    pub fn is_enabled(&self) -> bool {
        self.options.enabled
    }

    /// The options it was made with.
    pub fn options(&self) -> GradScalerOptions {
        self.options
    }

    /// Every tensor the scaler holds, by attribute: `_scale`, `_growth_tracker`, and each
    /// optimizer's `found_inf` (in `_per_optimizer_states`) until `update()`.
    pub fn named_tensors(&self) -> Vec<(&'static str, Tensor)> {
        let scale = self.scale.iter().map(|t| ("_scale", t.clone()));
        let tracker = self
            .growth_tracker
            .iter()
            .map(|t| ("_growth_tracker", t.clone()));
        let found = self
            .per_optimizer
            .iter()
            .filter_map(|s| s.found_inf.clone());
        scale
            .chain(tracker)
            .chain(found.map(|t| ("_per_optimizer_states", t)))
            .collect()
    }

    /// `scale(outputs)`: `outputs * _scale`, creating `_scale` and `_growth_tracker` on
    /// `outputs`' device the first time.
    pub fn scale(&mut self, outputs: &Tensor) -> Result<Tensor> {
        if !self.options.enabled {
            return Ok(outputs.clone());
        }
        if self.scale.is_none() {
            let rt = outputs.runtime();
            let scale = rt.empty(&[], DType::F32, outputs.device())?;
            scale.fill_(self.options.init_scale)?;
            let tracker = rt.zeros(&[], DType::I32, outputs.device())?;
            self.scale = Some(scale);
            self.growth_tracker = Some(tracker);
        }
        let scale = self.scale.as_ref().expect("created above");
        outputs.mul(&scale.to(outputs.device())?)
    }

    fn state_of(&mut self, optimizer: usize) -> &mut PerOptimizer {
        match self.per_optimizer.iter().position(|s| s.id == optimizer) {
            Some(i) => &mut self.per_optimizer[i],
            None => {
                self.per_optimizer.push(PerOptimizer {
                    id: optimizer,
                    stage: Stage::Ready,
                    found_inf: None,
                });
                self.per_optimizer.last_mut().expect("just pushed")
            }
        }
    }

    fn scale_tensor(&self, method: &str) -> Result<Tensor> {
        self.scale.clone().ok_or_else(|| {
            fail(&format!(
                "Attempted {method} but _scale is None.  This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."
            ))
        })
    }

    /// `unscale_(optimizer)` for the optimizer identified by `optimizer` whose parameters'
    /// gradients are `grads`: divides them by the scale in place and records whether any
    /// holds an inf or a NaN.
    pub fn unscale_(&mut self, optimizer: usize, grads: &[Tensor]) -> Result<()> {
        if !self.options.enabled {
            return Ok(());
        }
        let scale = self.scale_tensor("unscale_")?;
        match self.state_of(optimizer).stage {
            Stage::Unscaled => {
                return Err(fail(
                    "unscale_() has already been called on this optimizer since the last update().",
                ))
            }
            Stage::Stepped => return Err(fail("unscale_() is being called after step().")),
            Stage::Ready => {}
        }
        let rt = scale.runtime().clone();
        let _no_grad = rt.no_grad();
        // `_scale.double().reciprocal().float()`: each temporary is freed once the next
        // exists.
        let inv_scale = {
            let double = scale.to_dtype(DType::F64)?;
            let reciprocal = double.reciprocal()?;
            drop(double);
            reciprocal.float()?
        };
        let found_inf = rt.zeros(&[], DType::F32, scale.device())?;
        if grads.iter().any(|g| g.dtype() == DType::F16) {
            return Err(fail("Attempting to unscale FP16 gradients."));
        }
        let mut device_found_inf = None;
        if !grads.is_empty() {
            // `_MultiDeviceReplicator.get`: `found_inf`'s copy, then `inv_scale`'s.
            let found = found_inf.clone_tensor()?;
            let inv = inv_scale.clone_tensor()?;
            let factor = inv.read_f32().map(|v| v[0]);
            let mut non_finite = false;
            for g in grads {
                if let Some(values) = g.read_f32() {
                    non_finite |= values.iter().any(|v| !v.is_finite());
                }
                if let Some(factor) = factor {
                    g.mul_scalar_(factor)?;
                }
            }
            if non_finite {
                found.fill_(1.0)?;
            }
            device_found_inf = Some(found);
        }
        let state = self.state_of(optimizer);
        state.found_inf = device_found_inf;
        state.stage = Stage::Unscaled;
        Ok(())
    }

    /// `step(optimizer)`: `unscale_` first unless the program called it, then
    /// `optimizer.step()` (run by `step`) unless a gradient held an inf or a NaN. Returns
    /// whether the step ran.
    pub fn step(
        &mut self,
        optimizer: usize,
        grads: &[Tensor],
        step: impl FnOnce() -> Result<()>,
    ) -> Result<bool> {
        if !self.options.enabled {
            step()?;
            return Ok(true);
        }
        self.scale_tensor("step")?;
        match self.state_of(optimizer).stage {
            Stage::Stepped => {
                return Err(fail(
                    "step() has already been called since the last update().",
                ))
            }
            Stage::Ready => self.unscale_(optimizer, grads)?,
            Stage::Unscaled => {}
        }
        let state = self.state_of(optimizer);
        let Some(found_inf) = state.found_inf.clone() else {
            return Err(fail("No inf checks were recorded for this optimizer."));
        };
        let ran = found_inf.item()? == 0.0;
        if ran {
            step()?;
        }
        self.state_of(optimizer).stage = Stage::Stepped;
        Ok(ran)
    }

    /// `update()`: backs the scale off after an inf/NaN, grows it after `growth_interval`
    /// clean steps (`_amp_update_scale_`, in place), and forgets the optimizers' states.
    pub fn update(&mut self) -> Result<()> {
        if !self.options.enabled {
            return Ok(());
        }
        let scale = self.scale_tensor("update")?;
        let tracker = self.growth_tracker.clone().expect("made with the scale");
        let found: Vec<Tensor> = self
            .per_optimizer
            .iter()
            .filter_map(|s| s.found_inf.clone())
            .collect();
        let Some(combined) = found.first() else {
            return Err(fail("No inf checks were recorded prior to update."));
        };
        let _no_grad = scale.runtime().no_grad();
        for other in &found[1..] {
            combined.add_(other)?;
        }
        if let (Some(s), Some(t), Some(inf)) =
            (scale.read_f32(), tracker.read_i64(), combined.read_f32())
        {
            let o = &self.options;
            let (new_scale, new_tracker) = if inf[0] != 0.0 {
                (s[0] as f64 * o.backoff_factor, 0)
            } else if t[0] + 1 == o.growth_interval {
                (s[0] as f64 * o.growth_factor, 0)
            } else {
                (s[0] as f64, t[0] + 1)
            };
            scale.fill_values(Scalar::Float(new_scale))?;
            tracker.fill_values(Scalar::Int(new_tracker))?;
        }
        drop(found);
        self.per_optimizer.clear();
        Ok(())
    }

    /// `get_scale()`: the current scale (`init_scale` before the first `scale`, 1.0 when
    /// disabled).
    pub fn get_scale(&self) -> Result<f64> {
        if !self.options.enabled {
            return Ok(1.0);
        }
        match &self.scale {
            Some(s) => s.item(),
            None => Ok(self.options.init_scale),
        }
    }

    /// `_growth_tracker`'s value (0 before the first `scale`).
    pub fn growth_tracker(&self) -> Result<i64> {
        match &self.growth_tracker {
            Some(t) => Ok(t.item()? as i64),
            None => Ok(0),
        }
    }

    /// The device the scaler's tensors live on, once created.
    pub fn device(&self) -> Option<Device> {
        self.scale.as_ref().map(Tensor::device)
    }
}

/// The gradients `unscale_` sees: every parameter's `.grad` that exists, in order.
pub fn gradients_of(optimizers: &[&dyn Optimizer]) -> Vec<Tensor> {
    optimizers
        .iter()
        .flat_map(|o| o.params().iter().filter_map(Tensor::grad))
        .collect()
}
