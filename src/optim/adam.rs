use std::any::Any;

use super::{state_entry, state_index, Group, Optimizer, ParamState, TensorList};
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
    /// The `_multi_tensor_adam` path (`Some(true)`), the for-loop (`Some(false)`), or
    /// PyTorch's default (`None`: foreach when every parameter is on the device).
    pub foreach: Option<bool>,
}

impl Default for AdamOptions {
    /// Adam's defaults; AdamW's weight decay default is 1e-2 (see [`AdamW::default_options`]).
    fn default() -> Self {
        AdamOptions {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            foreach: None,
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

/// `torch.optim.Adam(params)`.
#[derive(Debug)]
pub struct Adam {
    params: Vec<Tensor>,
    options: AdamOptions,
    decoupled: bool,
    state: Vec<Option<State>>,
}

/// `torch.optim.AdamW(params)`: Adam with decoupled weight decay
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

    fn step_impl(&mut self) -> Result<()> {
        let o = self.options;
        let decoupled = self.decoupled;
        super::step(
            &self.params,
            &mut self.state,
            o.foreach,
            |p| {
                Ok(State {
                    step: p.runtime().zeros(&[], DType::F32, Device::Cpu)?,
                    exp_avg: p.zeros_like_for(Purpose::OptimizerState)?,
                    exp_avg_sq: p.zeros_like_for(Purpose::OptimizerState)?,
                })
            },
            |group, foreach| {
                if foreach {
                    multi_tensor(group, o, decoupled)
                } else {
                    group.each(|param, grad, state| single_tensor(param, grad, state, o, decoupled))
                }
            },
        )
    }

    fn state_list(&self) -> Vec<Option<ParamState>> {
        self.state
            .iter()
            .map(|s| {
                s.as_ref().map(|s| {
                    vec![
                        ("step", s.step.clone()),
                        ("exp_avg", s.exp_avg.clone()),
                        ("exp_avg_sq", s.exp_avg_sq.clone()),
                    ]
                })
            })
            .collect()
    }

    fn load(&mut self, index: usize, state: &[(&str, Tensor)]) -> Result<()> {
        let i = state_index(index, self.state.len())?;
        self.state[i] = Some(State {
            step: state_entry(state, "step")?,
            exp_avg: state_entry(state, "exp_avg")?,
            exp_avg_sq: state_entry(state, "exp_avg_sq")?,
        });
        Ok(())
    }
}

/// `_single_tensor_adam` for one parameter: `denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)`
/// allocates two temporaries (the first freed at once; `denom` is kept until the next
/// parameter's exists), and weight decay allocates `grad.add(param, alpha=wd)`, alive through
/// the update.
fn single_tensor(
    param: &Tensor,
    mut grad: Tensor,
    state: &mut State,
    o: AdamOptions,
    decoupled: bool,
) -> Result<Option<Tensor>> {
    let (beta1, beta2) = o.betas;
    state.step.add_scalar_(1.0)?;
    if o.weight_decay != 0.0 {
        if decoupled {
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
    Ok(Some(denom))
}

/// `_multi_tensor_adam` (capturable off): L2 weight decay allocates every
/// `grad + wd * param` at once (`torch._foreach_add`), deleted once the moments are updated
/// (`del device_grads`); then `exp_avg_sq_sqrt = torch._foreach_sqrt(exp_avg_sqs)` is one
/// temporary per parameter, alive until the function returns, divided and offset in place.
/// Its peak is the sum of the parameters' sizes, where the for-loop's is twice the largest.
fn multi_tensor(group: &mut Group<'_, State>, o: AdamOptions, decoupled: bool) -> Result<()> {
    let (beta1, beta2) = o.betas;
    for s in &group.states {
        s.step.add_scalar_(1.0)?;
    }
    let mut decayed = None;
    if o.weight_decay != 0.0 {
        if decoupled {
            for p in &group.params {
                p.mul_scalar_(1.0 - o.lr * o.weight_decay)?;
            }
        } else {
            decayed = Some(TensorList::map(&group.grads, |i, g| {
                g.add_alpha(group.params[i], o.weight_decay)
            })?);
        }
    }
    let grads = decayed.as_ref().map_or(&group.grads, |l| &l.0);
    for (s, g) in group.states.iter().zip(grads) {
        s.exp_avg.lerp_(g, 1.0 - beta1)?;
    }
    for s in &group.states {
        s.exp_avg_sq.mul_scalar_(beta2)?;
    }
    for (s, g) in group.states.iter().zip(grads) {
        s.exp_avg_sq.addcmul_(g, g, 1.0 - beta2)?;
    }
    drop(decayed);
    let steps = group
        .states
        .iter()
        .map(|s| s.step.item())
        .collect::<Result<Vec<f64>>>()?;
    let sqrt = TensorList::map(group.states.iter().map(|s| &s.exp_avg_sq), |_, t| t.sqrt())?;
    // `_foreach_div_(exp_avg_sq_sqrt, bias_correction2_sqrt)`, in place; the runtime's
    // in-place scalar ops are add and mul, so it multiplies by the reciprocal.
    for (t, step) in sqrt.0.iter().zip(&steps) {
        t.mul_scalar_(1.0 / (1.0 - beta2.powf(*step)).sqrt())?;
    }
    for t in &sqrt.0 {
        t.add_scalar_(o.eps)?;
    }
    for (i, step) in steps.iter().enumerate() {
        let step_size = -o.lr / (1.0 - beta1.powf(*step));
        group.params[i].addcdiv_(&group.states[i].exp_avg, &sqrt.0[i], step_size)?;
    }
    Ok(())
}

impl Optimizer for Adam {
    fn step(&mut self) -> Result<()> {
        self.step_impl()
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn state(&self) -> Vec<Option<ParamState>> {
        self.state_list()
    }

    fn load_state(&mut self, index: usize, state: &[(&str, Tensor)]) -> Result<()> {
        self.load(index, state)
    }

    fn options_mut(&mut self) -> &mut dyn Any {
        &mut self.options
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

    fn state(&self) -> Vec<Option<ParamState>> {
        self.0.state_list()
    }

    fn load_state(&mut self, index: usize, state: &[(&str, Tensor)]) -> Result<()> {
        self.0.load(index, state)
    }

    fn options_mut(&mut self) -> &mut dyn Any {
        &mut self.0.options
    }
}
