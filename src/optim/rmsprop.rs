use super::Optimizer;
use crate::alloc::Purpose;
use crate::base::{DType, Device, Result, TensorError};
use crate::tensor::Tensor;

/// `torch.optim.RMSprop`'s hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmspropOptions {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average.
    pub alpha: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty, added to the gradient.
    pub weight_decay: f64,
    /// Momentum factor; above 0 keeps a momentum buffer per parameter.
    pub momentum: f64,
    /// Normalize by the gradient's variance estimate; refused for now (its in-place `sqrt_`
    /// is not in the runtime, and an out-of-place one would not allocate what PyTorch does).
    pub centered: bool,
}

impl Default for RmspropOptions {
    fn default() -> Self {
        RmspropOptions {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

#[derive(Debug)]
struct RmspropState {
    /// A 0-dim float32 host tensor, as PyTorch keeps `step` off the device.
    step: Tensor,
    square_avg: Tensor,
    momentum_buffer: Option<Tensor>,
}

/// `torch.optim.RMSprop(params, foreach=False)`.
#[derive(Debug)]
pub struct Rmsprop {
    params: Vec<Tensor>,
    options: RmspropOptions,
    state: Vec<Option<RmspropState>>,
}

impl Rmsprop {
    /// An optimizer over `params`; negative hyper-parameters are PyTorch's `ValueError`s.
    pub fn new(params: Vec<Tensor>, options: RmspropOptions) -> Result<Rmsprop> {
        for (name, v) in [
            ("learning rate", options.lr),
            ("epsilon value", options.eps),
            ("momentum value", options.momentum),
            ("weight_decay value", options.weight_decay),
            ("alpha value", options.alpha),
        ] {
            if v < 0.0 {
                return Err(TensorError::Invalid(format!("Invalid {name}: {v}")));
            }
        }
        if options.centered {
            return Err(TensorError::Unsupported("RMSprop(centered=True)".into()));
        }
        let n = params.len();
        Ok(Rmsprop {
            params,
            options,
            state: (0..n).map(|_| None).collect(),
        })
    }
}

impl Optimizer for Rmsprop {
    /// `_init_group` then `_single_tensor_rmsprop` (`torch/optim/rmsprop.py`): state at the
    /// first step of a parameter with a gradient (`square_avg`, and `momentum_buffer` with
    /// momentum); per step `avg = square_avg.sqrt()` is one temporary (`add_(eps)` is in
    /// place), plus `grad.add(param, alpha=wd)` with weight decay.
    fn step(&mut self) -> Result<()> {
        let Some(first) = self.params.first() else {
            return Ok(());
        };
        let rt = first.runtime().clone();
        let _no_grad = rt.no_grad();
        let o = self.options;
        for (p, slot) in self.params.iter().zip(self.state.iter_mut()) {
            if p.grad().is_none() || slot.is_some() {
                continue;
            }
            *slot = Some(RmspropState {
                step: p.runtime().zeros(&[], DType::F32, Device::Cpu)?,
                square_avg: p.zeros_like_for(Purpose::OptimizerState)?,
                momentum_buffer: (o.momentum > 0.0)
                    .then(|| p.zeros_like_for(Purpose::OptimizerState))
                    .transpose()?,
            });
        }
        for (param, state) in self.params.iter().zip(&self.state) {
            let (Some(mut grad), Some(state)) = (param.grad(), state) else {
                continue;
            };
            state.step.add_scalar_(1.0)?;
            if o.weight_decay != 0.0 {
                grad = grad.add_alpha(param, o.weight_decay)?;
            }
            state.square_avg.mul_scalar_(o.alpha)?;
            state.square_avg.addcmul_(&grad, &grad, 1.0 - o.alpha)?;
            let avg = state.square_avg.sqrt()?;
            avg.add_scalar_(o.eps)?;
            match &state.momentum_buffer {
                Some(buf) => {
                    buf.mul_scalar_(o.momentum)?;
                    buf.addcdiv_(&grad, &avg, 1.0)?;
                    param.add_alpha_(buf, -o.lr)?;
                }
                None => param.addcdiv_(&grad, &avg, -o.lr)?,
            }
        }
        Ok(())
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn state_tensors(&self) -> Vec<Tensor> {
        self.state
            .iter()
            .flatten()
            .flat_map(|s| std::iter::once(s.square_avg.clone()).chain(s.momentum_buffer.clone()))
            .collect()
    }
}
