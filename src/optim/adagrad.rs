use super::Optimizer;
use crate::alloc::Purpose;
use crate::base::{DType, Device, Result, TensorError};
use crate::tensor::Tensor;

/// `torch.optim.Adagrad`'s hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdagradOptions {
    /// Learning rate.
    pub lr: f64,
    /// Learning-rate decay per step.
    pub lr_decay: f64,
    /// L2 penalty, added to the gradient.
    pub weight_decay: f64,
    /// The value every `sum` starts at.
    pub initial_accumulator_value: f64,
    /// Added to the denominator.
    pub eps: f64,
}

impl Default for AdagradOptions {
    fn default() -> Self {
        AdagradOptions {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

#[derive(Debug)]
struct AdagradState {
    /// A 0-dim float32 host tensor.
    step: Tensor,
    sum: Tensor,
}

/// `torch.optim.Adagrad(params, foreach=False)`. Unlike SGD, Adam and RMSprop, its state is
/// made by the constructor, for every parameter.
#[derive(Debug)]
pub struct Adagrad {
    params: Vec<Tensor>,
    options: AdagradOptions,
    state: Vec<AdagradState>,
}

impl Adagrad {
    /// `Adagrad.__init__` (`torch/optim/adagrad.py`): `state["sum"] = torch.full_like(p,
    /// initial_accumulator_value)` for every parameter, now.
    pub fn new(params: Vec<Tensor>, options: AdagradOptions) -> Result<Adagrad> {
        for (name, v) in [
            ("learning rate", options.lr),
            ("lr_decay value", options.lr_decay),
            ("weight_decay value", options.weight_decay),
            (
                "initial_accumulator_value value",
                options.initial_accumulator_value,
            ),
            ("epsilon value", options.eps),
        ] {
            if v < 0.0 {
                return Err(TensorError::Invalid(format!("Invalid {name}: {v}")));
            }
        }
        let mut state = Vec::with_capacity(params.len());
        for p in &params {
            let sum = p.zeros_like_for(Purpose::OptimizerState)?;
            if options.initial_accumulator_value != 0.0 {
                sum.fill_(options.initial_accumulator_value)?;
            }
            state.push(AdagradState {
                step: p.runtime().zeros(&[], DType::F32, Device::Cpu)?,
                sum,
            });
        }
        Ok(Adagrad {
            params,
            options,
            state,
        })
    }
}

impl Optimizer for Adagrad {
    /// `_single_tensor_adagrad`: `state_sum.addcmul_(grad, grad)`, then `std =
    /// state_sum.sqrt() + eps` (two temporaries, the first freed once the second exists),
    /// `param.addcdiv_(grad, std, value=-clr)`; weight decay allocates `grad.add(param)`.
    fn step(&mut self) -> Result<()> {
        let Some(first) = self.params.first() else {
            return Ok(());
        };
        let rt = first.runtime().clone();
        let _no_grad = rt.no_grad();
        let o = self.options;
        for (param, state) in self.params.iter().zip(&self.state) {
            let Some(mut grad) = param.grad() else {
                continue;
            };
            state.step.add_scalar_(1.0)?;
            let step = state.step.item()?;
            if o.weight_decay != 0.0 {
                grad = grad.add_alpha(param, o.weight_decay)?;
            }
            let clr = o.lr / (1.0 + (step - 1.0) * o.lr_decay);
            state.sum.addcmul_(&grad, &grad, 1.0)?;
            let std = state.sum.sqrt()?.add_scalar(o.eps)?;
            param.addcdiv_(&grad, &std, -clr)?;
        }
        Ok(())
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn state_tensors(&self) -> Vec<Tensor> {
        self.state.iter().map(|s| s.sum.clone()).collect()
    }
}
