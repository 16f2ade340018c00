use std::any::Any;

use super::{state_entry, state_index, Group, Optimizer, ParamState, TensorList};
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
    /// The `_multi_tensor_adagrad` path (`Some(true)`), the for-loop (`Some(false)`), or
    /// PyTorch's default (`None`: foreach when every parameter is on the device).
    pub foreach: Option<bool>,
}

impl Default for AdagradOptions {
    fn default() -> Self {
        AdagradOptions {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            foreach: None,
        }
    }
}

#[derive(Debug)]
struct AdagradState {
    /// A 0-dim float32 host tensor.
    step: Tensor,
    sum: Tensor,
}

/// `torch.optim.Adagrad(params)`. Unlike SGD, Adam and RMSprop, its state is
/// made by the constructor, for every parameter.
#[derive(Debug)]
pub struct Adagrad {
    params: Vec<Tensor>,
    options: AdagradOptions,
    state: Vec<Option<AdagradState>>,
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
            state.push(Some(AdagradState {
                step: p.runtime().zeros(&[], DType::F32, Device::Cpu)?,
                sum,
            }));
        }
        Ok(Adagrad {
            params,
            options,
            state,
        })
    }
}

impl Optimizer for Adagrad {
    fn step(&mut self) -> Result<()> {
        let o = self.options;
        super::step(
            &self.params,
            &mut self.state,
            o.foreach,
            // The constructor made every parameter's state.
            |_| Err(TensorError::Invalid("Adagrad state missing".into())),
            |group, foreach| {
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
                s.as_ref()
                    .map(|s| vec![("step", s.step.clone()), ("sum", s.sum.clone())])
            })
            .collect()
    }

    fn load_state(&mut self, index: usize, state: &[(&str, Tensor)]) -> Result<()> {
        let i = state_index(index, self.state.len())?;
        self.state[i] = Some(AdagradState {
            step: state_entry(state, "step")?,
            sum: state_entry(state, "sum")?,
        });
        Ok(())
    }

    fn options_mut(&mut self) -> &mut dyn Any {
        &mut self.options
    }
}

/// `_single_tensor_adagrad` for one parameter: `state_sum.addcmul_(grad, grad)`, then `std =
/// state_sum.sqrt().add_(eps)` (one temporary, kept until the next parameter's exists; the
/// out-of-place `+ eps` is only for `differentiable=True`), `param.addcdiv_(grad, std,
/// value=-clr)`; weight decay allocates `grad.add(param)`.
fn single_tensor(
    param: &Tensor,
    mut grad: Tensor,
    state: &mut AdagradState,
    o: AdagradOptions,
) -> Result<Option<Tensor>> {
    state.step.add_scalar_(1.0)?;
    let step = state.step.item()?;
    if o.weight_decay != 0.0 {
        grad = grad.add_alpha(param, o.weight_decay)?;
    }
    let clr = o.lr / (1.0 + (step - 1.0) * o.lr_decay);
    state.sum.addcmul_(&grad, &grad, 1.0)?;
    let std = state.sum.sqrt()?;
    std.add_scalar_(o.eps)?;
    param.addcdiv_(&grad, &std, -clr)?;
    Ok(Some(std))
}

/// `_multi_tensor_adagrad` (dense gradients): weight decay allocates every `grad + wd *
/// param` at once; `std = torch._foreach_sqrt(state_sums)` one per parameter (`add_(eps)` in
/// place); the numerator `torch._foreach_mul(grads, minus_clr)` one more per parameter, or,
/// with weight decay, the decayed gradients scaled in place. Everything lives until the
/// function returns: the decayed gradients, `std`, then the numerator are freed in that order.
fn multi_tensor(group: &mut Group<'_, AdagradState>, o: AdagradOptions) -> Result<()> {
    for s in &group.states {
        s.step.add_scalar_(1.0)?;
    }
    let decayed = group.decayed_grads(o.weight_decay)?;
    let minus_clr = group
        .states
        .iter()
        .map(|s| Ok(-o.lr / (1.0 + (s.step.item()? - 1.0) * o.lr_decay)))
        .collect::<Result<Vec<f64>>>()?;
    let grads = decayed.as_ref().map_or(&group.grads, |l| &l.0);
    for (s, g) in group.states.iter().zip(grads) {
        s.sum.addcmul_(g, g, 1.0)?;
    }
    let std = TensorList::map(group.states.iter().map(|s| &s.sum), |_, t| t.sqrt())?;
    for t in &std.0 {
        t.add_scalar_(o.eps)?;
    }
    let numerator = match &decayed {
        Some(d) => {
            for (g, c) in d.0.iter().zip(&minus_clr) {
                g.mul_scalar_(*c)?;
            }
            None
        }
        None => Some(TensorList::map(grads, |i, g| g.mul_scalar(minus_clr[i]))?),
    };
    let numerators = numerator.as_ref().map_or(grads, |l| &l.0);
    for ((p, n), s) in group.params.iter().zip(numerators).zip(&std.0) {
        p.addcdiv_(n, s, 1.0)?;
    }
    drop(decayed);
    drop(std);
    drop(numerator);
    Ok(())
}
