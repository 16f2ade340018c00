use std::any::Any;

use super::{state_index, Group, Optimizer, ParamState};
use crate::alloc::Purpose;
use crate::base::{Result, TensorError};
use crate::tensor::Tensor;

/// `torch.optim.SGD`'s hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdOptions {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor; 0 keeps no state.
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// L2 penalty, added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// The `_multi_tensor_sgd` path (`Some(true)`), the for-loop (`Some(false)`), or
    /// PyTorch's default (`None`: foreach when every parameter is on the device).
    pub foreach: Option<bool>,
}

impl Default for SgdOptions {
    fn default() -> Self {
        SgdOptions {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            foreach: None,
        }
    }
}

/// `torch.optim.SGD(params)`.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<Tensor>,
    options: SgdOptions,
    /// Per parameter: `None` until its first step, then its `momentum_buffer` if any.
    momentum_buffers: Vec<Option<Option<Tensor>>>,
}

impl Sgd {
    /// An optimizer over `params`; nesterov needs momentum and zero dampening, as in PyTorch.
    pub fn new(params: Vec<Tensor>, options: SgdOptions) -> Result<Sgd> {
        if options.nesterov && (options.momentum <= 0.0 || options.dampening != 0.0) {
            return Err(TensorError::Invalid(
                "Nesterov momentum requires a momentum and zero dampening".into(),
            ));
        }
        let n = params.len();
        Ok(Sgd {
            params,
            options,
            momentum_buffers: vec![None; n],
        })
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        let o = self.options;
        super::step(
            &self.params,
            &mut self.momentum_buffers,
            o.foreach,
            |_| Ok(None),
            |group, foreach| {
                if foreach {
                    multi_tensor(group, o)
                } else {
                    group.each(|param, grad, buf| single_tensor(param, grad, buf, o))
                }
            },
        )
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// `momentum_buffer`, kept only with momentum (PyTorch stores no `step` for SGD).
    fn state(&self) -> Vec<Option<ParamState>> {
        self.momentum_buffers
            .iter()
            .map(|b| {
                b.as_ref()
                    .and_then(|b| b.as_ref())
                    .map(|b| vec![("momentum_buffer", b.clone())])
            })
            .collect()
    }

    fn load_state(&mut self, index: usize, state: &[(&str, Tensor)]) -> Result<()> {
        let i = state_index(index, self.momentum_buffers.len())?;
        let buf = state
            .iter()
            .find(|(n, _)| *n == "momentum_buffer")
            .map(|(_, t)| t.clone());
        self.momentum_buffers[i] = Some(buf);
        Ok(())
    }

    fn options_mut(&mut self) -> &mut dyn Any {
        &mut self.options
    }
}

/// `_single_tensor_sgd` for one parameter: `grad.add(param, alpha=wd)` allocates a temporary;
/// the momentum buffer is `clone(grad).detach()` at the first step and updated in place after;
/// nesterov allocates `grad.add(buf, alpha=momentum)`.
fn single_tensor(
    param: &Tensor,
    mut grad: Tensor,
    slot: &mut Option<Tensor>,
    o: SgdOptions,
) -> Result<Option<Tensor>> {
    if o.weight_decay != 0.0 {
        grad = grad.add_alpha(param, o.weight_decay)?;
    }
    if o.momentum != 0.0 {
        let buf = momentum_update(slot, &grad, o)?;
        grad = if o.nesterov {
            grad.add_alpha(&buf, o.momentum)?
        } else {
            buf
        };
    }
    param.add_alpha_(&grad, -o.lr)?;
    // `grad` is rebound to the next gradient before anything else is allocated.
    Ok(None)
}

/// The momentum buffer after this gradient, on either path: at the first step
/// `clone(grad).detach()` (a new optimizer-state block), after that `buf.mul_(momentum).add_(grad,
/// alpha=1 - dampening)` in place.
fn momentum_update(slot: &mut Option<Tensor>, grad: &Tensor, o: SgdOptions) -> Result<Tensor> {
    match slot {
        None => {
            let buf = grad.copy_for(grad.device(), Purpose::OptimizerState)?;
            *slot = Some(buf.clone());
            Ok(buf)
        }
        Some(buf) => {
            buf.mul_scalar_(o.momentum)?;
            buf.add_alpha_(grad, 1.0 - o.dampening)?;
            Ok(buf.clone())
        }
    }
}

/// `_multi_tensor_sgd`: weight decay allocates every `grad + wd * param` at once
/// (`torch._foreach_add`), alive until the function returns; the momentum buffers are made
/// as in the for-loop (`device_grads[i].detach().clone()`) and updated in place; nesterov adds
/// the buffers into the gradients in place (`torch._foreach_add_(device_grads, bufs)`), so it
/// allocates nothing, and without weight decay it writes into `param.grad` itself.
fn multi_tensor(group: &mut Group<'_, Option<Tensor>>, o: SgdOptions) -> Result<()> {
    let decayed = group.decayed_grads(o.weight_decay)?;
    let grads = decayed.as_ref().map_or(&group.grads, |l| &l.0);
    let mut bufs = Vec::new();
    if o.momentum != 0.0 {
        for (slot, g) in group.states.iter_mut().zip(grads) {
            bufs.push(momentum_update(slot, g, o)?);
        }
        if o.nesterov {
            for (g, buf) in grads.iter().zip(&bufs) {
                g.add_alpha_(buf, o.momentum)?;
            }
        }
    }
    let update = if o.momentum != 0.0 && !o.nesterov {
        &bufs
    } else {
        grads
    };
    for (p, u) in group.params.iter().zip(update) {
        p.add_alpha_(u, -o.lr)?;
    }
    // The frame's locals are cleared in the order they were bound.
    drop(decayed);
    drop(bufs);
    Ok(())
}
