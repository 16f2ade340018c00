//! `tensor.retain_grad()` (`VariableHooks::retain_grad`, `torch/csrc/autograd/variable.cpp`):
//! a non-leaf asks its `grad_fn` to hand it the gradient of its output. The node holds the
//! tensor weakly (a strong hold would make tensor → node → tensor a cycle); when backward
//! computes that output's gradient, after the output's own hooks (`call_tensor_pre_hooks` runs
//! `retains_grad_hooks` last), the tensor's `.grad` becomes a contiguous clone of it (one
//! allocation, kept as long as the tensor), or, when it has one, `.grad + grad` (a new tensor
//! replacing the old).

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::Node;
use crate::base::{Result, TensorError};
use crate::tensor::{Tensor, TensorImpl};

/// What a node keeps for `retain_grad`: `(output number, tensor)` pairs.
pub(super) type Retained = RefCell<Vec<(usize, Weak<TensorImpl>)>>;

impl Tensor {
    /// `tensor.retain_grad()`: a no-op on a leaf (its `.grad` is kept anyway) and on a tensor
    /// that already retains; PyTorch's error on a tensor that does not require grad.
    pub fn retain_grad(&self) -> Result<()> {
        if !self.requires_grad() {
            return Err(TensorError::Invalid(
                "can't retain_grad on Tensor that has requires_grad=False".into(),
            ));
        }
        let Some(node) = self.grad_fn() else {
            return Ok(());
        };
        if !self.retains_grad() {
            let entry = (self.output_nr(), Rc::downgrade(&self.0));
            node.retained.borrow_mut().push(entry);
        }
        Ok(())
    }

    /// `tensor.retains_grad`: whether `retain_grad()` was called on this non-leaf.
    pub fn retains_grad(&self) -> bool {
        self.grad_fn().is_some_and(|node| {
            node.retained
                .borrow()
                .iter()
                .any(|(_, t)| std::ptr::eq(t.as_ptr(), Rc::as_ptr(&self.0)))
        })
    }
}

impl Node {
    /// Backward has `grad` for output `nr`: each live tensor that retains it gets it as its
    /// `.grad` (a contiguous clone, or the sum with the `.grad` it has).
    pub(super) fn retain_output_grad(&self, nr: usize, grad: &Tensor) -> Result<()> {
        let targets: Vec<Tensor> = self
            .retained
            .borrow()
            .iter()
            .filter(|(n, _)| *n == nr)
            .filter_map(|(_, t)| t.upgrade().map(Tensor))
            .collect();
        for t in targets {
            let new = match t.grad() {
                None => grad.clone_tensor()?,
                Some(old) => old.add(grad)?,
            };
            t.set_grad(Some(new));
        }
        Ok(())
    }
}
