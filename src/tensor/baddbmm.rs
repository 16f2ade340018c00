//! `torch.baddbmm(self, batch1, batch2)`: `self + batch1 @ batch2` in one output, what
//! `multi_head_attention_forward` runs to add a mask to the attention scores. The output is
//! the product's one allocation with `self` broadcast into it; BaddbmmBackward0 saves `batch2`
//! when `batch1` needs a gradient and `batch1` when `batch2` does (derivatives.yaml,
//! `baddbmm`).

use super::{Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

impl Tensor {
    /// `torch.baddbmm(self, batch1, batch2)` with `beta = alpha = 1`.
    pub fn baddbmm(&self, batch1: &Tensor, batch2: &Tensor) -> Result<Tensor> {
        let out = {
            let _no_grad = self.runtime().no_grad();
            let out = batch1.bmm(batch2)?;
            if self.broadcast_shape_to(out.shape()).is_none() {
                return Err(TensorError::Invalid(format!(
                    "The expanded size of the tensor ({:?}) must match the existing size ({:?})",
                    out.shape(),
                    self.shape()
                )));
            }
            out.add_(self)?;
            out
        };
        if let Some(mut node) = NodeBuilder::new(&[self, batch1, batch2]) {
            if node.needs(2) {
                node.save("batch1", batch1);
            }
            if node.needs(1) {
                node.save("batch2", batch2);
            }
            node.finish(Formula::Baddbmm, &out);
        }
        Ok(out)
    }

    /// Whether `self` broadcasts to `shape` (trailing dimensions equal or 1).
    fn broadcast_shape_to(&self, shape: &[usize]) -> Option<()> {
        if self.dim() > shape.len() {
            return None;
        }
        self.shape()
            .iter()
            .rev()
            .zip(shape.iter().rev())
            .all(|(&a, &b)| a == b || a == 1)
            .then_some(())
    }
}
