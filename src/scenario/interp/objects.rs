//! Modules and optimizers as scenario values: shared handles, like Python objects.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::base::{Device, Result};
use crate::nn::{
    self, CrossEntropyLoss, Layer, Linear, MSELoss, Module as _, ReLU, Rnn, Stateless,
};
use crate::tensor::Tensor;

use super::module::ModuleHooks;

/// An `nn` module held by scenario names; `model[0]` shares the child with `model`. Its hooks
/// are shared by every handle of the module, as they are the module's state.
#[derive(Clone)]
pub struct ModuleRef(pub(crate) Rc<ModuleKind>, pub(crate) ModuleHooks);

/// The modules of the subset.
pub enum ModuleKind {
    /// `nn.Linear`.
    Linear(Linear),
    /// `nn.ReLU`, and whether it is in place.
    ReLU(ReLU, bool),
    /// `nn.Sequential`.
    Sequential(Vec<ModuleRef>),
    /// `nn.MSELoss`.
    MseLoss(MSELoss),
    /// `nn.CrossEntropyLoss`.
    CrossEntropyLoss(CrossEntropyLoss),
    /// A module without parameters: `nn.Identity`, `nn.GELU`, `nn.Dropout`, ...
    Stateless(Stateless),
    /// A layer with parameters or buffers: `nn.Conv2d`, `nn.BatchNorm1d`, `nn.Embedding`,
    /// `nn.LayerNorm`, the pooling modules, ...
    Layer(Box<dyn Layer>),
    /// `nn.RNN` or `nn.LSTM`: called with a hidden state or without, returns a tuple.
    Recurrent(Rnn),
}

impl ModuleRef {
    pub(crate) fn new(kind: ModuleKind) -> ModuleRef {
        ModuleRef(Rc::new(kind), ModuleHooks::default())
    }

    /// `module(x)` for single-input modules.
    pub(crate) fn forward(&self, x: &Tensor) -> Option<Result<Tensor>> {
        Some(match &*self.0 {
            ModuleKind::Linear(l) => l.forward(x),
            ModuleKind::ReLU(r, _) => r.forward(x),
            ModuleKind::Stateless(m) => m.forward(x),
            ModuleKind::Layer(l) => l.forward(x),
            ModuleKind::Sequential(children) => {
                let mut h = x.clone();
                for c in children {
                    h = match c.forward(&h)? {
                        Ok(t) => t,
                        Err(e) => return Some(Err(e)),
                    };
                }
                Ok(h)
            }
            ModuleKind::MseLoss(_) | ModuleKind::CrossEntropyLoss(_) | ModuleKind::Recurrent(_) => {
                return None
            }
        })
    }

    /// The module's own `forward` of any arguments (`lstm(x, (h, c))`), for the modules
    /// whose call is not one tensor in, one out.
    pub(crate) fn call(&self) -> Option<&dyn nn::Module> {
        match &*self.0 {
            ModuleKind::Recurrent(r) => Some(r),
            ModuleKind::Layer(l) => l.as_call(),
            _ => None,
        }
    }

    /// `criterion(input, target)` for loss modules.
    pub(crate) fn loss(&self, input: &Tensor, target: &Tensor) -> Option<Result<Tensor>> {
        match &*self.0 {
            ModuleKind::MseLoss(l) => Some(l.forward(input, target)),
            ModuleKind::CrossEntropyLoss(l) => Some(l.forward(input, target)),
            ModuleKind::Layer(l) => l.loss(input, target),
            _ => None,
        }
    }

    /// `module.named_parameters()`, with PyTorch's dotted names (`0.weight`). A parameter
    /// reached twice (a module shared by two parents) is listed once, under its first name, as
    /// PyTorch's `remove_duplicate=True` default does.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let all: Vec<(String, Tensor)> = match &*self.0 {
            ModuleKind::Linear(l) => l.named_parameters(),
            ModuleKind::Layer(l) => l.named_parameters(),
            ModuleKind::Recurrent(r) => r.named_parameters(),
            // The scenario's own Sequential, of shared children: named as nn.Sequential names.
            ModuleKind::Sequential(children) => children
                .iter()
                .enumerate()
                .flat_map(|(i, c)| {
                    c.named_parameters()
                        .into_iter()
                        .map(move |(n, p)| (format!("{i}.{n}"), p))
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        all.into_iter()
            .filter(|(_, p)| seen.insert(p.id()))
            .collect()
    }

    /// `module.named_buffers()` of this module alone (a Sequential's are its children's).
    pub fn own_buffers(&self) -> Vec<(String, Tensor)> {
        match &*self.0 {
            ModuleKind::Layer(l) => l.named_buffers(),
            _ => Vec::new(),
        }
    }

    /// `module.named_buffers()`, with PyTorch's dotted names (`1.running_mean`).
    pub fn named_buffers(&self) -> Vec<(String, Tensor)> {
        match &*self.0 {
            ModuleKind::Sequential(children) => children
                .iter()
                .enumerate()
                .flat_map(|(i, c)| {
                    c.named_buffers()
                        .into_iter()
                        .map(move |(n, b)| (format!("{i}.{n}"), b))
                })
                .collect(),
            _ => self.own_buffers(),
        }
    }

    /// `module.parameters()`.
    pub fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// `module.to(device)`.
    pub(crate) fn to(&self, device: Device) -> Result<()> {
        match &*self.0 {
            ModuleKind::Linear(l) => l.to(device),
            ModuleKind::Layer(l) => l.to(device),
            ModuleKind::Recurrent(r) => r.to(device),
            ModuleKind::Sequential(children) => children.iter().try_for_each(|c| c.to(device)),
            _ => Ok(()),
        }
    }

    /// `module.train(mode)`.
    pub(crate) fn train(&self, mode: bool) {
        match &*self.0 {
            ModuleKind::Linear(l) => l.train(mode),
            ModuleKind::ReLU(r, _) => r.train(mode),
            ModuleKind::Stateless(m) => m.train(mode),
            ModuleKind::Layer(l) => l.train(mode),
            ModuleKind::Recurrent(r) => r.train(mode),
            ModuleKind::Sequential(children) => children.iter().for_each(|c| c.train(mode)),
            _ => {}
        }
    }

    /// `module.training`.
    pub(crate) fn is_training(&self) -> bool {
        match &*self.0 {
            ModuleKind::Linear(l) => l.is_training(),
            ModuleKind::ReLU(r, _) => r.is_training(),
            ModuleKind::Stateless(m) => m.is_training(),
            ModuleKind::Layer(l) => l.is_training(),
            ModuleKind::Recurrent(r) => r.is_training(),
            ModuleKind::Sequential(children) => children.first().is_none_or(|c| c.is_training()),
            _ => true,
        }
    }

    /// `module.zero_grad(set_to_none)`.
    pub(crate) fn zero_grad(&self, set_to_none: bool) -> Result<()> {
        nn::zero_grads(&self.parameters(), set_to_none)
    }

    /// The children of a Sequential.
    pub(crate) fn children(&self) -> Option<&[ModuleRef]> {
        match &*self.0 {
            ModuleKind::Sequential(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for ModuleRef {
    /// PyTorch's `repr` of a module.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            ModuleKind::Linear(l) => {
                let s = l.weight.shape();
                write!(
                    f,
                    "Linear(in_features={}, out_features={}, bias={})",
                    s[1],
                    s[0],
                    if l.bias.is_some() { "True" } else { "False" }
                )
            }
            ModuleKind::ReLU(_, inplace) => f.write_str(if *inplace {
                "ReLU(inplace=True)"
            } else {
                "ReLU()"
            }),
            ModuleKind::Sequential(children) => {
                writeln!(f, "Sequential(")?;
                for (i, c) in children.iter().enumerate() {
                    writeln!(f, "  ({i}): {c}")?;
                }
                f.write_str(")")
            }
            ModuleKind::MseLoss(_) => f.write_str("MSELoss()"),
            ModuleKind::CrossEntropyLoss(_) => f.write_str("CrossEntropyLoss()"),
            ModuleKind::Stateless(m) => write!(f, "{m}"),
            ModuleKind::Layer(l) => f.write_str(&l.repr()),
            ModuleKind::Recurrent(r) => write!(f, "{r}"),
        }
    }
}

/// An optimizer held by scenario names: its parameter groups, each a Python dict beside the
/// Rust optimizer that steps it.
#[derive(Clone)]
pub struct OptimizerRef {
    pub(crate) inner: Rc<RefCell<super::torch::optim::Groups>>,
}

impl OptimizerRef {
    /// Its state tensors (momentum buffers, moments, step counters), each labelled
    /// `state[i]["name"]` as `state_dict()` numbers and names them.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.inner.borrow().named_state()
    }
}

impl fmt::Display for OptimizerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.borrow().describe())
    }
}
