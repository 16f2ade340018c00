//! `tensor * number` and `tensor / number` as PyTorch's C++ calls them (`mul.Scalar`,
//! `div.Scalar`): the backward formulas of tools/autograd/derivatives.yaml and ATen's composite
//! ops pass a Scalar, so under `create_graph=True` their nodes are MulBackward1 and
//! DivBackward1, keeping the number only, whatever a Python call of the same operation would
//! record (MulBackward0 with a wrapped number, `src/tensor/wrapped.rs`).

use super::{Result, Tensor};
use crate::autograd::{Formula, NodeBuilder};

impl Tensor {
    /// `self * s` as ATen's C++ multiplies by a number: MulBackward1, saving nothing.
    pub(crate) fn mul_scalar_aten(&self, s: f64) -> Result<Tensor> {
        let out = {
            let _no_grad = self.runtime().no_grad();
            self.mul_scalar(s)?
        };
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::MulScalarAten { other: s }, &out);
        }
        Ok(out)
    }

    /// `self / s` as ATen's C++ divides by a number: DivBackward1, saving nothing.
    pub(crate) fn div_scalar_aten(&self, s: f64) -> Result<Tensor> {
        let out = {
            let _no_grad = self.runtime().no_grad();
            self.div_scalar(s)?
        };
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::DivScalarAten { other: s }, &out);
        }
        Ok(out)
    }
}
