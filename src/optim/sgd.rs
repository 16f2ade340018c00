use super::Optimizer;
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
}

impl Default for SgdOptions {
    fn default() -> Self {
        SgdOptions {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

/// `torch.optim.SGD(params, foreach=False)`.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<Tensor>,
    options: SgdOptions,
    momentum_buffers: Vec<Option<Tensor>>,
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
    /// `_single_tensor_sgd`: `grad.add(param, alpha=wd)` allocates a temporary; the momentum
    /// buffer is `clone(grad).detach()` at the first step and updated in place after; nesterov
    /// allocates `grad.add(buf, alpha=momentum)`.
    fn step(&mut self) -> Result<()> {
        let Some(first) = self.params.first() else {
            return Ok(());
        };
        let rt = first.runtime().clone();
        let _no_grad = rt.no_grad();
        let o = self.options;
        for (param, slot) in self.params.iter().zip(self.momentum_buffers.iter_mut()) {
            let Some(mut grad) = param.grad() else {
                continue;
            };
            if o.weight_decay != 0.0 {
                grad = grad.add_alpha(param, o.weight_decay)?;
            }
            if o.momentum != 0.0 {
                let buf = match slot {
                    None => {
                        let buf = grad.copy_for(grad.device(), Purpose::OptimizerState)?;
                        *slot = Some(buf.clone());
                        buf
                    }
                    Some(buf) => {
                        buf.mul_scalar_(o.momentum)?;
                        buf.add_alpha_(&grad, 1.0 - o.dampening)?;
                        buf.clone()
                    }
                };
                grad = if o.nesterov {
                    grad.add_alpha(&buf, o.momentum)?
                } else {
                    buf
                };
            }
            param.add_alpha_(&grad, -o.lr)?;
        }
        Ok(())
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn state_tensors(&self) -> Vec<Tensor> {
        self.momentum_buffers.iter().flatten().cloned().collect()
    }
}
