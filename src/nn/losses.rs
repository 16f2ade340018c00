//! `nn.BCELoss`, `nn.BCEWithLogitsLoss` and `nn.KLDivLoss`: loss modules called as
//! `criterion(input, target)`. `weight` and `pos_weight` are buffers (`register_buffer` in
//! `torch/nn/modules/loss.py`): moved by `.to()`, listed by `state_dict()` when given.

use std::cell::Cell;

use super::{Buffers, Layer, Module};
use crate::base::{Result, TensorError};
use crate::tensor::{KlDivReduction, Reduction, Tensor};

/// Which loss, with its options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossKind {
    /// `nn.BCELoss(weight, reduction)`.
    Bce(Reduction),
    /// `nn.BCEWithLogitsLoss(weight, reduction, pos_weight)`.
    BceWithLogits(Reduction),
    /// `nn.KLDivLoss(reduction, log_target)`.
    KlDiv(KlDivReduction, bool),
    /// `nn.L1Loss(reduction)`.
    L1(Reduction),
    /// `nn.NLLLoss(reduction)` (no class weights, `ignore_index=-100`).
    Nll(Reduction),
    /// `nn.SmoothL1Loss(reduction, beta)`.
    SmoothL1(Reduction, f64),
}

/// A loss module of two inputs with optional weight buffers.
#[derive(Debug)]
pub struct Loss {
    kind: LossKind,
    buffers: Buffers,
    training: Cell<bool>,
}

impl Loss {
    /// The module; `weight` and `pos_weight` (BCE losses only) become its buffers.
    pub fn new(kind: LossKind, weight: Option<Tensor>, pos_weight: Option<Tensor>) -> Result<Loss> {
        let mut buffers = Vec::new();
        match kind {
            LossKind::KlDiv(..) | LossKind::L1(_) | LossKind::Nll(_) | LossKind::SmoothL1(..)
                if weight.is_some() || pos_weight.is_some() =>
            {
                return Err(TensorError::Invalid(format!(
                    "{} takes no weight here",
                    Loss::name(kind)
                )))
            }
            LossKind::Bce(_) if pos_weight.is_some() => {
                return Err(TensorError::Invalid("BCELoss takes no pos_weight".into()))
            }
            _ => {}
        }
        if let Some(w) = weight {
            buffers.push(("weight", w));
        }
        if let Some(p) = pos_weight {
            buffers.push(("pos_weight", p));
        }
        Ok(Loss {
            kind,
            buffers: Buffers::new(buffers),
            training: Cell::new(true),
        })
    }
}

impl Loss {
    fn name(kind: LossKind) -> &'static str {
        match kind {
            LossKind::Bce(_) => "BCELoss",
            LossKind::BceWithLogits(_) => "BCEWithLogitsLoss",
            LossKind::KlDiv(..) => "KLDivLoss",
            LossKind::L1(_) => "L1Loss",
            LossKind::Nll(_) => "NLLLoss",
            LossKind::SmoothL1(..) => "SmoothL1Loss",
        }
    }
}

impl Module for Loss {
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(TensorError::Invalid(format!(
            "{}.forward() missing 1 required positional argument: 'target'",
            self.class_name()
        )))
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn buffers(&self) -> Option<&Buffers> {
        Some(&self.buffers)
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for Loss {
    fn class_name(&self) -> &'static str {
        Loss::name(self.kind)
    }

    fn repr(&self) -> String {
        // Their `extra_repr` is empty: PyTorch prints `BCELoss()` whatever the options.
        format!("{}()", self.class_name())
    }

    fn with_tensors(&self, _params: Vec<Tensor>, buffers: Vec<Tensor>) -> Box<dyn Layer> {
        Box::new(Loss {
            kind: self.kind,
            buffers: self.buffers.with_tensors(buffers),
            training: Cell::new(self.training.get()),
        })
    }

    fn loss(&self, input: &Tensor, target: &Tensor) -> Option<Result<Tensor>> {
        let weight = self.buffers.get("weight");
        Some(match self.kind {
            LossKind::Bce(r) => input.binary_cross_entropy(target, weight.as_ref(), r),
            LossKind::BceWithLogits(r) => input.binary_cross_entropy_with_logits(
                target,
                weight.as_ref(),
                self.buffers.get("pos_weight").as_ref(),
                r,
            ),
            LossKind::KlDiv(r, log_target) => input.kl_div(target, r, log_target),
            LossKind::L1(r) => input.l1_loss(target, r),
            LossKind::Nll(r) => input.nll_loss(target, r),
            LossKind::SmoothL1(r, beta) => input.smooth_l1_loss(target, r, beta),
        })
    }
}
