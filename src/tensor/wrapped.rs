//! Python numbers as PyTorch hands them to a tensor operation. Called from Python, `x * 2.0`
//! does not run the Scalar overload (`mul.Scalar`): the argument parser wraps the number in a
//! 0-dim tensor (`wrapped_scalar_tensor`, aten/src/ATen/ScalarOps.h: float64 for a float,
//! int64 for an int, on the CPU whatever the other operand's device, marked
//! `is_wrapped_number` so that it promotes like a number, c10/core/TensorImpl.h) and runs the
//! Tensor overload (`mul.Tensor`). Its node saves the wrapped tensor as any other operand
//! (`MulBackward0._saved_other`, `DivBackward0._saved_other`): 8 bytes on the host for as
//! long as the node keeps it, nothing on the device.

use super::{DType, Device, Result, Scalar, Tensor};
use crate::autograd::NodeBuilder;
use crate::runtime::Runtime;

impl Tensor {
    /// The 0-dim host tensor PyTorch wraps the number `s` in: float64 for a float, int64 for
    /// an int.
    pub(crate) fn wrapped_number(rt: &Runtime, s: Scalar) -> Result<Tensor> {
        let dtype = match s {
            Scalar::Float(_) => DType::F64,
            Scalar::Int(_) => DType::I64,
        };
        let t = Tensor::empty_on(rt, &[], dtype, Device::Cpu)?;
        t.fill_values(s)?;
        t.0.is_wrapped_number.set(true);
        Ok(t)
    }

    /// The 0-dim host bool tensor PyTorch wraps a Python `True`/`False` in (1 byte): `x * True`
    /// runs `mul.Tensor` with it, so the result keeps the tensor's type (a bool tensor stays
    /// bool) and MulBackward0 saves it as `other`.
    pub(crate) fn wrapped_bool(rt: &Runtime, b: bool) -> Result<Tensor> {
        let t = Tensor::empty_on(rt, &[], DType::Bool, Device::Cpu)?;
        t.fill_values(Scalar::Int(i64::from(b)))?;
        t.0.is_wrapped_number.set(true);
        Ok(t)
    }

    /// Saves the number operand `s` of an operation on this tensor under `name` in `b` as
    /// PyTorch called from Python does, as its wrapped tensor, when this runtime names nodes
    /// as Python calls make them ([`RuntimeOptions::python_scalar_names`]); the Scalar
    /// overloads the Rust API stands for keep the number only, in the node's formula.
    ///
    /// [`RuntimeOptions::python_scalar_names`]: crate::runtime::RuntimeOptions::python_scalar_names
    pub(super) fn save_number(
        &self,
        b: &mut NodeBuilder,
        name: &'static str,
        s: Scalar,
    ) -> Result<()> {
        if self.runtime().python_scalar_names() {
            b.save(name, &Tensor::wrapped_number(self.runtime(), s)?);
        }
        Ok(())
    }
}
