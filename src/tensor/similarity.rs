//! `F.cosine_similarity` as aten/src/ATen/native/Distance.cpp composes it (its op list in 2.15's
//! profiler: `linalg_vector_norm`, `clone`, twice; `scalar_tensor`; `clamp_min_` twice;
//! `div`, `div`, `mul`, `sum`): each operand's norm along `dim` (kept by
//! LinalgVectorNormBackward0 as `result`) cloned, the clones clamped to `eps` in place
//! without grad, then `(x1 / n1 * (x2 / n2)).sum(dim)`, whose nodes keep the quotients and
//! the clamped norms.

use super::ops::broadcast_shapes;
use super::{Result, Tensor, TensorError};
use crate::base::DType;

impl Tensor {
    /// `F.cosine_similarity(self, other, dim=1, eps=1e-8)`, the two operands broadcast.
    pub fn cosine_similarity(&self, other: &Tensor, dim: isize, eps: f64) -> Result<Tensor> {
        let common = DType::promote_types(self.dtype(), other.dtype());
        if !common.is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "expected common dtype to be floating point, yet common dtype is {}",
                common.short_name()
            )));
        }
        // An integer operand beside a floating one is converted to the common type first.
        let float = |t: &Tensor| -> Result<Tensor> {
            if t.dtype() == common {
                Ok(t.clone())
            } else {
                t.to_dtype(common)
            }
        };
        let (x1, x2) = (float(self)?, float(other)?);
        let shape = broadcast_shapes(x1.shape(), x2.shape())?;
        let (x1, x2) = (x1.expand(&shape)?, x2.expand(&shape)?);
        let n1 = x1.vector_norm(2.0, Some(&[dim]), true)?.clone_tensor()?;
        let n2 = x2.vector_norm(2.0, Some(&[dim]), true)?.clone_tensor()?;
        {
            let _no_grad = self.runtime().no_grad();
            // The bound is a 0-dim tensor on the norms' device while the clamps run.
            let bound = Tensor::empty_on(self.runtime(), &[], n1.dtype(), n1.device())?;
            n1.clamp_(Some(eps), None)?;
            n2.clamp_(Some(eps), None)?;
            drop(bound);
        }
        // One expression, as in C++: the quotients and the product are freed after the sum,
        // the product first.
        x1.div(&n1)?.mul(&x2.div(&n2)?)?.sum_dim(&[dim], false)
    }
}
