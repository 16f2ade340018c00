use std::any::Any;

use super::{state_entry, state_index, Group, Optimizer, ParamState, TensorList};
use crate::alloc::Purpose;
use crate::base::{Result, TensorError};
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
    /// Normalize by the gradient's variance estimate: keeps `grad_avg`, the running mean of
    /// the gradient, and divides by `sqrt(square_avg - grad_avg²)`.
    pub centered: bool,
    /// The step counter lives on the parameter's device (a 0-dim float32 tensor). With a
    /// float learning rate nothing else changes: no temporaries are added.
    pub capturable: bool,
    /// The `_multi_tensor_rmsprop` path (`Some(true)`), the for-loop (`Some(false)`), or
    /// PyTorch's default (`None`: foreach when every parameter is on the device).
    pub foreach: Option<bool>,
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
            capturable: false,
            foreach: None,
        }
    }
}

#[derive(Debug)]
struct RmspropState {
    /// A 0-dim float32 host tensor, as PyTorch keeps `step` off the device.
    step: Tensor,
    square_avg: Tensor,
    momentum_buffer: Option<Tensor>,
    /// With `centered`.
    grad_avg: Option<Tensor>,
}

/// `torch.optim.RMSprop(params)`.
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
        let n = params.len();
        Ok(Rmsprop {
            params,
            options,
            state: (0..n).map(|_| None).collect(),
        })
    }
}

impl Optimizer for Rmsprop {
    fn step(&mut self) -> Result<()> {
        let o = self.options;
        super::step(
            &self.params,
            &mut self.state,
            o.foreach,
            |p| {
                // `_init_group`, in its order.
                Ok(RmspropState {
                    step: super::step_counter(p, o.capturable)?,
                    square_avg: p.zeros_like_for(Purpose::OptimizerState)?,
                    momentum_buffer: (o.momentum > 0.0)
                        .then(|| p.zeros_like_for(Purpose::OptimizerState))
                        .transpose()?,
                    grad_avg: o
                        .centered
                        .then(|| p.zeros_like_for(Purpose::OptimizerState))
                        .transpose()?,
                })
            },
            |group, foreach| {
                if o.capturable {
                    super::check_capturable(&group.params)?;
                }
                if foreach {
                    multi_tensor(group, o)
                } else {
                    group.each(|param, grad, state| single_tensor(param, grad, state, o))
                }
            },
        )
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn state(&self) -> Vec<Option<ParamState>> {
        self.state
            .iter()
            .map(|s| {
                s.as_ref().map(|s| {
                    let mut v = vec![
                        ("step", s.step.clone()),
                        ("square_avg", s.square_avg.clone()),
                    ];
                    v.extend(s.momentum_buffer.clone().map(|b| ("momentum_buffer", b)));
                    v.extend(s.grad_avg.clone().map(|b| ("grad_avg", b)));
                    v
                })
            })
            .collect()
    }

    fn load_state(&mut self, index: usize, state: &[(&str, Tensor)]) -> Result<()> {
        let i = state_index(index, self.state.len())?;
        self.state[i] = Some(RmspropState {
            step: state_entry(state, "step")?,
            square_avg: state_entry(state, "square_avg")?,
            momentum_buffer: (self.options.momentum > 0.0)
                .then(|| state_entry(state, "momentum_buffer"))
                .transpose()?,
            grad_avg: self
                .options
                .centered
                .then(|| state_entry(state, "grad_avg"))
                .transpose()?,
        });
        Ok(())
    }

    fn options_mut(&mut self) -> &mut dyn Any {
        &mut self.options
    }
}

/// `_single_tensor_rmsprop` for one parameter (`torch/optim/rmsprop.py`): `avg =
/// square_avg.sqrt()` is one temporary (`add_(eps)` is in place), kept until the next
/// parameter's exists, plus `grad.add(param, alpha=wd)` with weight decay. Centered, `avg =
/// square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()` is that one temporary instead.
fn single_tensor(
    param: &Tensor,
    mut grad: Tensor,
    state: &mut RmspropState,
    o: RmspropOptions,
) -> Result<Option<Tensor>> {
    state.step.add_scalar_(1.0)?;
    if o.weight_decay != 0.0 {
        grad = grad.add_alpha(param, o.weight_decay)?;
    }
    state.square_avg.mul_scalar_(o.alpha)?;
    state.square_avg.addcmul_(&grad, &grad, 1.0 - o.alpha)?;
    let avg = match &state.grad_avg {
        Some(grad_avg) => {
            grad_avg.lerp_(&grad, 1.0 - o.alpha)?;
            centered_avg(&state.square_avg, grad_avg)?
        }
        None => state.square_avg.sqrt()?,
    };
    avg.add_scalar_(o.eps)?;
    match &state.momentum_buffer {
        Some(buf) => {
            buf.mul_scalar_(o.momentum)?;
            buf.addcdiv_(&grad, &avg, 1.0)?;
            param.add_alpha_(buf, -o.lr)?;
        }
        None => param.addcdiv_(&grad, &avg, -o.lr)?,
    }
    Ok(Some(avg))
}

/// `square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()`: one new tensor of
/// `square_avg`'s size (a copy, updated in place), the centered denominator before `eps`.
fn centered_avg(square_avg: &Tensor, grad_avg: &Tensor) -> Result<Tensor> {
    let avg = square_avg.clone_tensor()?;
    avg.addcmul_(grad_avg, grad_avg, -1.0)?;
    avg.sqrt_()?;
    Ok(avg)
}

/// `_multi_tensor_rmsprop`: weight decay allocates every `grad + wd * param` at
/// once (`torch._foreach_add`), then `avg = torch._foreach_sqrt(square_avgs)` one more per
/// parameter; both lists live until the function returns, the decayed gradients freed first
/// (the frame's locals are cleared in the order they were bound).
fn multi_tensor(group: &mut Group<'_, RmspropState>, o: RmspropOptions) -> Result<()> {
    for s in &group.states {
        s.step.add_scalar_(1.0)?;
    }
    let decayed = group.decayed_grads(o.weight_decay)?;
    let grads = decayed.as_ref().map_or(&group.grads, |l| &l.0);
    for s in &group.states {
        s.square_avg.mul_scalar_(o.alpha)?;
    }
    for (s, g) in group.states.iter().zip(grads) {
        s.square_avg.addcmul_(g, g, 1.0 - o.alpha)?;
    }
    for (s, g) in group.states.iter().zip(grads) {
        if let Some(grad_avg) = &s.grad_avg {
            grad_avg.lerp_(g, 1.0 - o.alpha)?;
        }
    }
    // Centered: `torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)`, then
    // `_foreach_sqrt_`, one list as the plain `_foreach_sqrt` is.
    let avg = TensorList::map(group.states.iter(), |_, s| match &s.grad_avg {
        Some(grad_avg) => centered_avg(&s.square_avg, grad_avg),
        None => s.square_avg.sqrt(),
    })?;
    for t in &avg.0 {
        t.add_scalar_(o.eps)?;
    }
    if o.momentum > 0.0 {
        let bufs: Vec<&Tensor> = group
            .states
            .iter()
            .filter_map(|s| s.momentum_buffer.as_ref())
            .collect();
        for b in &bufs {
            b.mul_scalar_(o.momentum)?;
        }
        for ((b, g), a) in bufs.iter().zip(grads).zip(&avg.0) {
            b.addcdiv_(g, a, 1.0)?;
        }
        for (p, b) in group.params.iter().zip(&bufs) {
            p.add_alpha_(b, -o.lr)?;
        }
    } else {
        for ((p, g), a) in group.params.iter().zip(grads).zip(&avg.0) {
            p.addcdiv_(g, a, -o.lr)?;
        }
    }
    drop(decayed);
    drop(avg);
    Ok(())
}
