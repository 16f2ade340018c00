use super::Optimizer;
use crate::alloc::Purpose;
use crate::base::{DType, Device, Result};
use crate::tensor::Tensor;

/// `torch.optim.Adam`'s and `AdamW`'s hyper-parameters (amsgrad is not supported).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamOptions {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moments.
    pub betas: (f64, f64),
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty (Adam) or decoupled decay (AdamW).
    pub weight_decay: f64,
}

impl Default for AdamOptions {
    /// Adam's defaults; AdamW's weight decay default is 1e-2 (see [`AdamW::default_options`]).
    fn default() -> Self {
        AdamOptions {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

#[derive(Debug)]
struct State {
    /// A 0-dim host tensor, as PyTorch keeps it when not capturable or fused.
    step: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// `torch.optim.Adam(params, foreach=False)`.
#[derive(Debug)]
pub struct Adam {
    params: Vec<Tensor>,
    options: AdamOptions,
    decoupled: bool,
    state: Vec<Option<State>>,
}

/// `torch.optim.AdamW(params, foreach=False)`: Adam with decoupled weight decay
/// (`param.mul_(1 - lr * weight_decay)`, in place).
#[derive(Debug)]
pub struct AdamW(Adam);

impl Adam {
    /// An optimizer over `params`.
    pub fn new(params: Vec<Tensor>, options: AdamOptions) -> Adam {
        let n = params.len();
        Adam {
            params,
            options,
            decoupled: false,
            state: (0..n).map(|_| None).collect(),
        }
    }

    /// `_init_group`: state for every parameter with a gradient and none yet, before any
    /// update (exp_avg then exp_avg_sq per parameter).
    fn init_group(&mut self) -> Result<()> {
        for (p, slot) in self.params.iter().zip(self.state.iter_mut()) {
            if p.grad().is_none() || slot.is_some() {
                continue;
            }
            let rt = p.runtime();
            *slot = Some(State {
                step: rt.zeros(&[], DType::F32, Device::Cpu)?,
                exp_avg: p.zeros_like_for(Purpose::OptimizerState)?,
                exp_avg_sq: p.zeros_like_for(Purpose::OptimizerState)?,
            });
        }
        Ok(())
    }

    fn step_impl(&mut self) -> Result<()> {
        let Some(first) = self.params.first() else {
            return Ok(());
        };
        let rt = first.runtime().clone();
        let _no_grad = rt.no_grad();
        self.init_group()?;
        let o = self.options;
        let (beta1, beta2) = o.betas;
        for (param, state) in self.params.iter().zip(&self.state) {
            let (Some(mut grad), Some(state)) = (param.grad(), state) else {
                continue;
            };
            state.step.add_scalar_(1.0)?;
            if o.weight_decay != 0.0 {
                if self.decoupled {
                    param.mul_scalar_(1.0 - o.lr * o.weight_decay)?;
                } else {
                    grad = grad.add_alpha(param, o.weight_decay)?;
                }
            }
            state.exp_avg.lerp_(&grad, 1.0 - beta1)?;
            state.exp_avg_sq.mul_scalar_(beta2)?;
            state.exp_avg_sq.addcmul_(&grad, &grad, 1.0 - beta2)?;
            let step = state.step.item()?;
            let bias_correction1 = 1.0 - beta1.powf(step);
            let bias_correction2 = 1.0 - beta2.powf(step);
            let step_size = o.lr / bias_correction1;
            let denom = state
                .exp_avg_sq
                .sqrt()?
                .div_scalar(bias_correction2.sqrt())?
                .add_scalar_(o.eps)?;
            param.addcdiv_(&state.exp_avg, &denom, -step_size)?;
        }
        Ok(())
    }

    fn state_list(&self) -> Vec<Tensor> {
        self.state
            .iter()
            .flatten()
            .flat_map(|s| [s.exp_avg.clone(), s.exp_avg_sq.clone()])
            .collect()
    }
}

impl Optimizer for Adam {
    /// `_single_tensor_adam`: per parameter, `denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)`
    /// allocates two temporaries (the first freed at once), and weight decay allocates
    /// `grad.add(param, alpha=wd)`.
    fn step(&mut self) -> Result<()> {
        self.step_impl()
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn state_tensors(&self) -> Vec<Tensor> {
        self.state_list()
    }
}

impl AdamW {
    /// AdamW's defaults: Adam's, with weight decay 1e-2.
    pub fn default_options() -> AdamOptions {
        AdamOptions {
            weight_decay: 1e-2,
            ..AdamOptions::default()
        }
    }

    /// An optimizer over `params`.
    pub fn new(params: Vec<Tensor>, options: AdamOptions) -> AdamW {
        let mut adam = Adam::new(params, options);
        adam.decoupled = true;
        AdamW(adam)
    }
}

impl Optimizer for AdamW {
    fn step(&mut self) -> Result<()> {
        self.0.step_impl()
    }

    fn params(&self) -> &[Tensor] {
        &self.0.params
    }

    fn state_tensors(&self) -> Vec<Tensor> {
        self.0.state_list()
    }
}
