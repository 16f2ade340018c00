use std::any::Any;

use super::{state_entry, state_index, Group, Optimizer, ParamState, TensorList};
use crate::alloc::Purpose;
use crate::base::{DType, Result};
use crate::tensor::Tensor;

/// `torch.optim.Adam`'s and `AdamW`'s hyper-parameters.
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
    /// Keep `max_exp_avg_sq`, the running maximum of `exp_avg_sq`, and divide by it.
    pub amsgrad: bool,
    /// The step counter lives on the parameter's device (a 0-dim float32 tensor) and the bias
    /// corrections are device tensors, as CUDA graph capture needs.
    pub capturable: bool,
    /// `_fused_adam_`/`_fused_adamw_`: one kernel updates every parameter, with no
    /// temporaries; the step counter lives on the device, as with `capturable`.
    pub fused: bool,
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
            amsgrad: false,
            capturable: false,
            fused: false,
            foreach: None,
        }
    }
}

#[derive(Debug)]
struct State {
    /// A 0-dim float32 tensor: on the host (`torch.tensor(0.0)`), or on the parameter's
    /// device when capturable or fused (`torch.zeros((), device=p.device)`).
    step: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    /// With amsgrad.
    max_exp_avg_sq: Option<Tensor>,
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
                // `_init_group`, in its order: step, exp_avg, exp_avg_sq, max_exp_avg_sq.
                let on_device = o.capturable || o.fused;
                Ok(State {
                    step: super::step_counter(p, on_device)?,
                    exp_avg: p.zeros_like_for(Purpose::OptimizerState)?,
                    exp_avg_sq: p.zeros_like_for(Purpose::OptimizerState)?,
                    max_exp_avg_sq: o
                        .amsgrad
                        .then(|| p.zeros_like_for(Purpose::OptimizerState))
                        .transpose()?,
                })
            },
            |group, foreach| {
                if o.capturable && !o.fused {
                    super::check_capturable(&group.params)?;
                }
                step_group(group, o, decoupled, foreach)
            },
        )
    }
}

/// Runs the implementation PyTorch picks: fused, foreach, or the for-loop (capturable or not).
fn step_group(
    group: &mut Group<'_, State>,
    o: AdamOptions,
    decoupled: bool,
    foreach: bool,
) -> Result<()> {
    match (o.fused, foreach, o.capturable) {
        (true, _, _) => fused(group, o, decoupled),
        (false, true, _) => multi_tensor(group, o, decoupled),
        (false, false, true) => single_tensor_capturable(group, o, decoupled),
        (false, false, false) => {
            group.each(|param, grad, state| single_tensor(param, grad, state, o, decoupled))
        }
    }
}

impl Adam {
    fn state_list(&self) -> Vec<Option<ParamState>> {
        self.state
            .iter()
            .map(|s| {
                s.as_ref().map(|s| {
                    let mut v = vec![
                        ("step", s.step.clone()),
                        ("exp_avg", s.exp_avg.clone()),
                        ("exp_avg_sq", s.exp_avg_sq.clone()),
                    ];
                    v.extend(s.max_exp_avg_sq.clone().map(|t| ("max_exp_avg_sq", t)));
                    v
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
            max_exp_avg_sq: self
                .options
                .amsgrad
                .then(|| state_entry(state, "max_exp_avg_sq"))
                .transpose()?,
        });
        Ok(())
    }
}

/// The head of `_single_tensor_adam`'s loop body, capturable or not: `step_t += 1`, weight
/// decay (in place for AdamW; `grad.add(param, alpha=wd)` for Adam, a new tensor), then the
/// moments in place. Returns the gradient used, which the caller keeps through its update as
/// the loop's `grad` local.
fn update_moments(
    param: &Tensor,
    mut grad: Tensor,
    state: &State,
    o: AdamOptions,
    decoupled: bool,
) -> Result<Tensor> {
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
    Ok(grad)
}

/// `_single_tensor_adam` for one parameter: `denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)`
/// allocates two temporaries (the first freed at once; `denom` is kept until the next
/// parameter's exists), and weight decay allocates `grad.add(param, alpha=wd)`, alive through
/// the update. amsgrad's `torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)`
/// writes in place, and `denom` is then made from `max_exp_avg_sq`.
fn single_tensor(
    param: &Tensor,
    grad: Tensor,
    state: &mut State,
    o: AdamOptions,
    decoupled: bool,
) -> Result<Option<Tensor>> {
    let (beta1, beta2) = o.betas;
    let _grad = update_moments(param, grad, state, o, decoupled)?;
    let step = state.step.item()?;
    let bias_correction1 = 1.0 - beta1.powf(step);
    let bias_correction2 = 1.0 - beta2.powf(step);
    let step_size = o.lr / bias_correction1;
    let second = match &state.max_exp_avg_sq {
        Some(max) => {
            max.maximum_(&state.exp_avg_sq)?;
            max
        }
        None => &state.exp_avg_sq,
    };
    let denom = second
        .sqrt()?
        .div_scalar(bias_correction2.sqrt())?
        .add_scalar_(o.eps)?;
    param.addcdiv_(&state.exp_avg, &denom, -step_size)?;
    Ok(Some(denom))
}

/// What the update divides by: `max_exp_avg_sq` with amsgrad, else `exp_avg_sq`.
fn second_moment<'a>(s: &'a &mut State) -> &'a Tensor {
    s.max_exp_avg_sq.as_ref().unwrap_or(&s.exp_avg_sq)
}

/// amsgrad's `torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)`: in place.
fn maximum_into_max(group: &Group<'_, State>) -> Result<()> {
    for s in &group.states {
        if let Some(max) = &s.max_exp_avg_sq {
            max.maximum_(&s.exp_avg_sq)?;
        }
    }
    Ok(())
}

/// A 0-dim float32 tensor on `like`'s device holding `value`: one of capturable's bias
/// corrections, whose device arithmetic PyTorch does in 0-dim tensors (4 bytes requested,
/// a 512-byte block each).
fn device_scalar(like: &Tensor, value: f64) -> Result<Tensor> {
    let t = like.runtime().empty(&[], DType::F32, like.device())?;
    t.fill_(value)?;
    Ok(t)
}

/// `_multi_tensor_adam`: L2 weight decay allocates every `grad + wd * param` at once
/// (`torch._foreach_add`), deleted once the moments are updated (`del device_grads`); then
/// `exp_avg_sq_sqrt = torch._foreach_sqrt(exp_avg_sqs)` (of `max_exp_avg_sqs` with amsgrad,
/// after an in-place `_foreach_maximum_`) is one temporary per parameter, alive until the
/// function returns, divided and offset in place. Its peak is the sum of the parameters'
/// sizes, where the for-loop's is twice the largest. Capturable first makes
/// `bias_correction1 = torch._foreach_pow(beta1, steps)` and `bias_correction2` likewise: two
/// lists of 0-dim device tensors, turned into `-step_size` and `bias_correction2_sqrt` in place
/// and freed, in that order, before the square roots when the function returns.
fn multi_tensor(group: &mut Group<'_, State>, o: AdamOptions, decoupled: bool) -> Result<()> {
    let (beta1, beta2) = o.betas;
    for s in &group.states {
        s.step.add_scalar_(1.0)?;
    }
    let mut decayed = None;
    if decoupled {
        if o.weight_decay != 0.0 {
            for p in &group.params {
                p.mul_scalar_(1.0 - o.lr * o.weight_decay)?;
            }
        }
    } else {
        decayed = group.decayed_grads(o.weight_decay)?;
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
    // Capturable's lists hold their final values from the start: the in-place `_foreach_sub_`,
    // `neg_`, `div_`, `reciprocal_` and `sqrt_` that PyTorch applies allocate nothing.
    let corrections = if o.capturable {
        let bc1 = TensorList::map(group.states.iter().map(|s| &s.step), |i, t| {
            device_scalar(t, o.lr / (beta1.powf(steps[i]) - 1.0))
        })?;
        let bc2 = TensorList::map(group.states.iter().map(|s| &s.step), |i, t| {
            device_scalar(t, (1.0 - beta2.powf(steps[i])).sqrt())
        })?;
        Some((bc1, bc2))
    } else {
        None
    };
    maximum_into_max(group)?;
    let sqrt = TensorList::map(group.states.iter().map(second_moment), |_, t| t.sqrt())?;
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
    drop(corrections);
    drop(sqrt);
    Ok(())
}

/// The locals of `_single_tensor_adam`'s capturable branch that outlive an iteration, in the
/// order the frame clears them when the function returns (their first binding): each is
/// rebound only once the next parameter's value exists, so the old one is freed then.
#[derive(Default)]
struct CapturableLocals {
    bias_correction1: Option<Tensor>,
    bias_correction2: Option<Tensor>,
    step_size: Option<Tensor>,
    step_size_neg: Option<Tensor>,
    bias_correction2_sqrt: Option<Tensor>,
    denom: Option<Tensor>,
}

/// `_single_tensor_adam` with `capturable=True`: the bias corrections are 0-dim device
/// tensors. Per parameter: `1 - beta1 ** step` (the power, then `rsub`; the power freed at
/// once), the same for beta2, `lr / bias_correction1` (`Tensor.__rdiv__`: a reciprocal, then
/// the product), `step_size.neg()`, `bias_correction2.sqrt()`; amsgrad's
/// `max_exp_avg_sq.copy_(torch.maximum(max_exp_avg_sq, exp_avg_sq))` (a full-size temporary);
/// `denom = (sqrt / (bias_correction2_sqrt * step_size_neg)).add_(eps / step_size_neg)`: the
/// square root, the 0-dim product and `denom`, the first two freed at once, then `eps /
/// step_size_neg` (a reciprocal and a product, freed after the `add_`). Torch 2.15 (CPU, with
/// CPU admitted as a capturable device) makes exactly these allocations in this order.
fn single_tensor_capturable(
    group: &mut Group<'_, State>,
    o: AdamOptions,
    decoupled: bool,
) -> Result<()> {
    let (beta1, beta2) = o.betas;
    let mut locals = CapturableLocals::default();
    for ((param, grad), state) in group.params.iter().zip(&group.grads).zip(&group.states) {
        let _grad = update_moments(param, grad.clone(), state, o, decoupled)?;
        let step = state.step.item()?;
        let dev = &state.step;
        let pow1 = device_scalar(dev, beta1.powf(step))?;
        let bc1 = device_scalar(dev, 1.0 - beta1.powf(step))?;
        drop(pow1);
        locals.bias_correction1 = Some(bc1);
        let pow2 = device_scalar(dev, beta2.powf(step))?;
        let bc2 = 1.0 - beta2.powf(step);
        let bc2_t = device_scalar(dev, bc2)?;
        drop(pow2);
        locals.bias_correction2 = Some(bc2_t);
        let bc1 = 1.0 - beta1.powf(step);
        let reciprocal = device_scalar(dev, 1.0 / bc1)?;
        let step_size = o.lr / bc1;
        let step_size_t = device_scalar(dev, step_size)?;
        drop(reciprocal);
        locals.step_size = Some(step_size_t);
        locals.step_size_neg = Some(device_scalar(dev, -step_size)?);
        locals.bias_correction2_sqrt = Some(device_scalar(dev, bc2.sqrt())?);
        let second = match &state.max_exp_avg_sq {
            Some(max) => {
                let m = max.maximum(&state.exp_avg_sq)?;
                max.copy_(&m)?;
                drop(m);
                max
            }
            None => &state.exp_avg_sq,
        };
        let sqrt = second.sqrt()?;
        let product = device_scalar(dev, -bc2.sqrt() * step_size)?;
        let denom = sqrt.div(&product)?;
        drop(sqrt);
        drop(product);
        let reciprocal = device_scalar(dev, -1.0 / step_size)?;
        let offset = device_scalar(dev, -o.eps / step_size)?;
        drop(reciprocal);
        denom.add_(&offset)?;
        drop(offset);
        param.addcdiv_(&state.exp_avg, &denom, 1.0)?;
        locals.denom = Some(denom);
    }
    Ok(())
}

/// `_fused_adam` (`_fused_adamw_` when decoupled): `torch._foreach_add_(steps, 1)` on the
/// device steps, then one fused kernel that updates every parameter and its moments in place
/// and allocates nothing. Its arithmetic is done here on the values where they live (on cuda
/// through copies to the host, as the runtime's layer ops are), in f32 as the kernel's
/// `opmath_t`.
fn fused(group: &mut Group<'_, State>, o: AdamOptions, decoupled: bool) -> Result<()> {
    let (beta1, beta2) = o.betas;
    for s in &group.states {
        s.step.add_scalar_(1.0)?;
    }
    for ((param, grad), s) in group.params.iter().zip(&group.grads).zip(&group.states) {
        let (Some(mut p), Some(g), Some(mut m), Some(mut v)) = (
            param.read_f32(),
            grad.read_f32(),
            s.exp_avg.read_f32(),
            s.exp_avg_sq.read_f32(),
        ) else {
            // Meta: no values, and the kernel allocates nothing.
            continue;
        };
        let mut max = s.max_exp_avg_sq.as_ref().and_then(Tensor::read_f32);
        let step = s.step.item()?;
        let bc1 = 1.0 - beta1.powf(step);
        let bc2_sqrt = (1.0 - beta2.powf(step)).sqrt();
        let step_size = (o.lr / bc1) as f32;
        let (b1, b2, lr, wd, eps) = (
            beta1 as f32,
            beta2 as f32,
            o.lr as f32,
            o.weight_decay as f32,
            o.eps as f32,
        );
        for i in 0..p.len() {
            let mut gi = g[i];
            if wd != 0.0 {
                if decoupled {
                    p[i] -= lr * wd * p[i];
                } else {
                    gi += p[i] * wd;
                }
            }
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            let second = match &mut max {
                Some(max) => {
                    max[i] = max[i].max(v[i]);
                    max[i]
                }
                None => v[i],
            };
            let denom = second.sqrt() / bc2_sqrt as f32 + eps;
            p[i] -= step_size * m[i] / denom;
        }
        param.write_f32(&p);
        s.exp_avg.write_f32(&m);
        s.exp_avg_sq.write_f32(&v);
        if let (Some(t), Some(max)) = (&s.max_exp_avg_sq, &max) {
            t.write_f32(max);
        }
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
