//! `torch.autocast`: mixed precision as PyTorch's autocast dispatch keys run it
//! (aten/src/ATen/autocast_mode.h and .cpp, torch/amp/autocast_mode.py, 2.15).
//!
//! Inside an enabled region, an operation of a device's lists first casts its floating-point
//! operands on that device: to the region's dtype for the `lower_precision_fp` list (matrix
//! products, convolutions, `linear`), to float32 for the `fp32` list (pointwise functions prone
//! to overflow, losses, norms, softmax), to the widest operand type for the `promote` list.
//! Each cast is a real `_to_copy` (a `ToCopyBackward0` node and a new allocation), and the
//! operation then runs with autocast excluded, so its own inner operations cast nothing again.
//!
//! **The weight-cast cache.** A float32 leaf that requires grad (a parameter) cast to the
//! lower-precision dtype is cached (`cached_cast`) and reused by later operations of the
//! region; the cache holds the cast copies until the outermost autocast region exits
//! (`clear_cache` when the nesting count returns to 0). Their memory, and the graph edges into
//! them, live until then.
//!
//! The state is per runtime (PyTorch keeps it per thread): the modes of the two device types,
//! the nesting count, whether caching is on, and the cache. Backward runs without autocast (on
//! the engine's thread, whose autocast state is off).

use std::rc::{Rc, Weak};

use super::{DType, Device, Result, Tensor, TensorError, TensorImpl};
use crate::runtime::Runtime;

/// autocast_mode.cpp's `binary_cross_entropy_banned`, word for word.
const BCE_BANNED: &str = "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\nMany models use a sigmoid layer right before the binary cross entropy layer.\nIn this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\nor torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\nsafe to autocast.";

/// Which list of its device an operation is on: how autocast casts its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CastPolicy {
    /// `lower_precision_fp`: to the region's dtype (float16 or bfloat16).
    Lower,
    /// `fp32` (and `fp32_set_opt_dtype` where that is a cast): to float32.
    Fp32,
    /// `promote`: to the widest floating type among the operands.
    Promote,
    /// Refused under autocast (`binary_cross_entropy` on cuda): the op raises.
    Banned,
}

/// The operations autocast casts for, by device type; anything else runs as called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutocastOp {
    Linear,
    Matmul,
    Mm,
    Bmm,
    Addmm,
    Conv,
    Exp,
    Log,
    /// `expm1`, `log1p`, `reciprocal`, `rsqrt`, `softplus`: on cuda's `fp32` list, on no cpu
    /// list.
    Fp32Pointwise,
    Pow,
    LayerNorm,
    MseLoss,
    L1Loss,
    SmoothL1Loss,
    NllLoss,
    CrossEntropy,
    Logsumexp,
    KlDiv,
    BceWithLogits,
    Bce,
    Cat,
    Stack,
    /// `gru_cell`, `lstm_cell`, `rnn_tanh_cell`, `rnn_relu_cell` (`src/nn/rnn_cells.rs`).
    RnnCell,
}

impl AutocastOp {
    /// The op's policy on `device` (`Autocast` for cuda, `AutocastCPU` for cpu, whose lists
    /// differ: on the cpu, exp, log, pow, softmax and layer_norm are not cast and cat and
    /// stack promote; cross_entropy_loss is fp32 there and composite on cuda). The cuda
    /// `promote` list (addcmul, addcdiv, ...) has no out-of-place operation here yet.
    pub(crate) fn policy(self, device: Device) -> Option<CastPolicy> {
        use AutocastOp::*;
        match (self, device) {
            (Linear | Matmul | Mm | Bmm | Addmm | Conv, _) => Some(CastPolicy::Lower),
            (MseLoss | L1Loss | SmoothL1Loss | NllLoss | KlDiv | BceWithLogits, _) => {
                Some(CastPolicy::Fp32)
            }
            (Logsumexp, Device::Cuda) | (Bce, Device::Cpu) => Some(CastPolicy::Fp32),
            (Bce, Device::Cuda) => Some(CastPolicy::Banned),
            (Exp | Log | Fp32Pointwise | Pow | LayerNorm, Device::Cuda) => Some(CastPolicy::Fp32),
            (CrossEntropy, Device::Cpu) => Some(CastPolicy::Fp32),
            (Cat | Stack, Device::Cpu) => Some(CastPolicy::Promote),
            (RnnCell, Device::Cuda) => Some(CastPolicy::Lower),
            _ => None,
        }
    }
}

/// One device type's autocast mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    enabled: bool,
    dtype: DType,
}

/// The autocast state of one runtime.
struct State {
    cuda: Mode,
    cpu: Mode,
    /// Entered regions (enabled or not), as `autocast_increment_nesting` counts them.
    nesting: usize,
    cache_enabled: bool,
    /// Operations running with autocast excluded (an autocast-wrapped op's inner calls).
    excluded: usize,
    /// Source (held weakly, as PyTorch's weakref) and its cast copy.
    cache: Vec<(Weak<TensorImpl>, Tensor)>,
}

impl Default for State {
    /// autocast_mode.cpp's defaults: off, float16 on cuda, bfloat16 on cpu, caching on.
    fn default() -> State {
        State {
            cuda: Mode {
                enabled: false,
                dtype: DType::F16,
            },
            cpu: Mode {
                enabled: false,
                dtype: DType::BF16,
            },
            nesting: 0,
            cache_enabled: true,
            excluded: 0,
            cache: Vec::new(),
        }
    }
}

impl State {
    fn mode(&mut self, device: Device) -> &mut Mode {
        match device {
            Device::Cuda => &mut self.cuda,
            Device::Cpu => &mut self.cpu,
        }
    }
}

fn with_state<T>(rt: &Runtime, f: impl FnOnce(&mut State) -> T) -> T {
    let mut slot = rt.autocast_slot().borrow_mut();
    let any = slot.get_or_insert_with(|| Box::new(State::default()));
    let state = any
        .downcast_mut::<State>()
        .expect("the autocast slot holds the autocast state");
    f(state)
}

/// What entering an autocast region replaced; leaving (dropping this) restores it, and the
/// outermost exit clears the weight-cast cache. Hold it for the region's length.
#[must_use = "the autocast region ends when the guard drops"]
pub struct AutocastGuard {
    rt: Runtime,
    device: Device,
    previous: Mode,
    previous_cache_enabled: bool,
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        let cleared = with_state(&self.rt, |s| {
            s.nesting = s.nesting.saturating_sub(1);
            *s.mode(self.device) = self.previous;
            s.cache_enabled = self.previous_cache_enabled;
            if s.nesting == 0 {
                std::mem::take(&mut s.cache)
            } else {
                Vec::new()
            }
        });
        // Freed after the state is released: dropping a tensor frees its block.
        drop(cleared);
    }
}

/// Operations run with autocast excluded while this lives (an autocast-wrapped operation's
/// own calls, as `ExcludeDispatchKeyGuard` makes them).
pub(crate) struct Excluded(Runtime);

impl Drop for Excluded {
    fn drop(&mut self) {
        with_state(&self.0, |s| s.excluded -= 1);
    }
}

/// The operands an autocast-wrapped operation runs on, cast, with autocast excluded while
/// this lives.
pub(crate) struct Cast {
    args: Vec<Option<Tensor>>,
    _excluded: Excluded,
}

impl Cast {
    /// Operand `i` (which was present).
    pub(crate) fn arg(&self, i: usize) -> &Tensor {
        self.args[i].as_ref().expect("a present operand")
    }

    /// Operand `i`, which may be absent (an optional bias).
    pub(crate) fn opt(&self, i: usize) -> Option<&Tensor> {
        self.args[i].as_ref()
    }

    /// All operands (which were all present).
    pub(crate) fn all(&self) -> Vec<Tensor> {
        self.args.iter().flatten().cloned().collect()
    }
}

impl Runtime {
    /// Enters `torch.autocast(device_type, dtype, enabled, cache_enabled)` (its `__enter__`):
    /// `dtype` `None` keeps the device's current autocast dtype, `cache_enabled` `None` the
    /// current setting.
    pub fn autocast(
        &self,
        device: Device,
        dtype: Option<DType>,
        enabled: bool,
        cache_enabled: Option<bool>,
    ) -> AutocastGuard {
        with_state(self, |s| {
            let previous = *s.mode(device);
            let previous_cache_enabled = s.cache_enabled;
            *s.mode(device) = Mode {
                enabled,
                dtype: dtype.unwrap_or(previous.dtype),
            };
            s.nesting += 1;
            s.cache_enabled = cache_enabled.unwrap_or(previous_cache_enabled);
            AutocastGuard {
                rt: self.clone(),
                device,
                previous,
                previous_cache_enabled,
            }
        })
    }

    /// `torch.is_autocast_enabled(device_type)`.
    pub fn is_autocast_enabled(&self, device: Device) -> bool {
        with_state(self, |s| s.mode(device).enabled)
    }

    /// `torch.get_autocast_dtype(device_type)`.
    pub fn autocast_dtype(&self, device: Device) -> DType {
        with_state(self, |s| s.mode(device).dtype)
    }

    /// How many cast copies the weight-cast cache holds.
    pub fn autocast_cached(&self) -> usize {
        with_state(self, |s| s.cache.len())
    }

    /// `torch.clear_autocast_cache()`.
    pub fn clear_autocast_cache(&self) {
        let cleared = with_state(self, |s| std::mem::take(&mut s.cache));
        drop(cleared);
    }
}

impl Tensor {
    /// The operands of `op` cast as autocast casts them, or `None` when autocast does not
    /// apply (off for the operands' device type, excluded, backward, or not on that
    /// device's lists). The caller reruns the operation on [`Cast`]'s operands.
    pub(crate) fn autocast(op: AutocastOp, args: &[Option<&Tensor>]) -> Result<Option<Cast>> {
        let Some(first) = args.iter().flatten().next() else {
            return Ok(None);
        };
        let rt = first.runtime().clone();
        let device = first.device();
        if rt.on_autograd_thread() {
            return Ok(None);
        }
        let Some(policy) = op.policy(device) else {
            return Ok(None);
        };
        let lower = with_state(&rt, |s| {
            let mode = *s.mode(device);
            (mode.enabled && s.excluded == 0).then_some(mode.dtype)
        });
        let Some(lower) = lower else {
            return Ok(None);
        };
        // float64 is never cast (autocast_mode.h `is_eligible`: `scalar_type() != kDouble`).
        let eligible = |t: &Tensor| {
            t.device() == device && t.dtype().is_floating_point() && t.dtype() != DType::F64
        };
        let target = match policy {
            CastPolicy::Banned => return Err(TensorError::Invalid(BCE_BANNED.into())),
            CastPolicy::Lower => lower,
            CastPolicy::Fp32 => DType::F32,
            CastPolicy::Promote => args
                .iter()
                .flatten()
                .filter(|t| eligible(t))
                .map(|t| t.dtype())
                .reduce(DType::promote_types)
                .unwrap_or(DType::F32),
        };
        let mut cast = Vec::with_capacity(args.len());
        for a in args {
            cast.push(match a {
                Some(t) if eligible(t) && t.dtype() != target => {
                    Some(cached_cast(&rt, t, target, lower)?)
                }
                other => other.cloned(),
            });
        }
        with_state(&rt, |s| s.excluded += 1);
        Ok(Some(Cast {
            args: cast,
            _excluded: Excluded(rt),
        }))
    }
}

impl Tensor {
    /// The `dtype=` autocast gives an op of the cuda `fp32_set_opt_dtype` list (`sum`,
    /// `softmax`, `log_softmax`) called without one: float32, passed to the op as its `dtype=`
    /// rather than cast first (a reduction reads the input in its type; a float16 softmax
    /// writes float32 directly), when autocast is on for cuda and this tensor is an eligible
    /// float on it; `None` otherwise.
    pub(crate) fn autocast_opt_dtype(&self) -> Option<DType> {
        let rt = self.runtime();
        let eligible = self.device() == Device::Cuda
            && self.dtype().is_floating_point()
            && self.dtype() != DType::F64;
        if !eligible || rt.on_autograd_thread() {
            return None;
        }
        let on = with_state(rt, |s| s.cuda.enabled && s.excluded == 0);
        on.then_some(DType::F32)
    }
}

/// `cached_cast`: a float32 leaf that requires grad and is not a view, cast to the
/// lower-precision dtype while caching is on, is cast once per outermost region.
fn cached_cast(rt: &Runtime, t: &Tensor, to: DType, lower: DType) -> Result<Tensor> {
    let cacheable =
        to == lower && t.dtype() == DType::F32 && t.requires_grad() && t.is_leaf() && !t.0.is_view;
    if !cacheable || !with_state(rt, |s| s.cache_enabled) {
        return t.to_dtype(to);
    }
    let key = Rc::as_ptr(&t.0);
    let hit = with_state(rt, |s| {
        s.cache
            .iter()
            .find(|(source, _)| source.as_ptr() == key && source.strong_count() > 0)
            .map(|(_, cast)| cast.clone())
    });
    if let Some(cast) = hit {
        return Ok(cast);
    }
    let cast = t.to_dtype(to)?;
    with_state(rt, |s| s.cache.push((Rc::downgrade(&t.0), cast.clone())));
    Ok(cast)
}
