//! Converting a tensor's element type in place of its storage: what `module.half()` and
//! `module.to(torch.bfloat16)` do to parameters, buffers and gradients
//! (`param.data = param.half()` in `nn.Module._apply`, under no_grad).

use super::{DType, Result, Tensor};
use crate::alloc::Purpose;

impl Tensor {
    /// Replaces this tensor's storage by a copy converted to `dtype` (its memory tagged with
    /// `purpose`), keeping its identity, `requires_grad` and gradient; the old storage is
    /// freed when nothing else uses it. No autograd history.
    pub fn convert_data(&self, dtype: DType, purpose: Purpose) -> Result<()> {
        let out = Tensor::empty_for(self.runtime(), self.shape(), dtype, self.device(), purpose)?;
        out.copy_values_from(self)?;
        self.set_data(&out)
    }
}
