//! Copies (`clone`, `to`, `zeros_like`) and in-place operations (`add_`, `mul_`, `fill_`, the
//! optimizers' `lerp_`, `addcmul_`, `addcdiv_`), with PyTorch's checks on what may be changed
//! in place.

use super::kernel::Bin;
use super::ops::{broadcast_shapes, common_device, promote, same_device};
use super::{format_shape, DType, Device, Result, Scalar, Tensor, TensorError};
use crate::alloc::Purpose;
use crate::autograd::{self, Formula, NodeBuilder};
use crate::device::kernels::{BinaryCode, TernaryCode, UnaryCode};

impl Tensor {
    // ---- copies -----------------------------------------------------------------------------

    /// `tensor.clone()`: a copy with CloneBackward0 (named so because `Clone` gives handles).
    pub fn clone_tensor(&self) -> Result<Tensor> {
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        out.copy_values_from(self)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::Clone, &out);
        }
        Ok(out)
    }

    /// `tensor.to(dtype)`: `self` when the type is already right, else a converted copy.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        self.copy_to(dtype, self.device())
    }

    /// `tensor.float()`.
    pub fn float(&self) -> Result<Tensor> {
        self.to_dtype(DType::F32)
    }

    /// `tensor.to(device)`: `self` when it is there already, else a copy (allocating on the
    /// device when moving there).
    pub fn to(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        self.copy_to(self.dtype(), device)
    }

    /// `tensor.cuda()`.
    pub fn cuda(&self) -> Result<Tensor> {
        self.to(Device::Cuda)
    }

    /// `tensor.cpu()`: on the meta backend the host copy of a device tensor holds zeros.
    pub fn cpu(&self) -> Result<Tensor> {
        self.to(Device::Cpu)
    }

    fn copy_to(&self, dtype: DType, device: Device) -> Result<Tensor> {
        let out = self.new_like(self.shape(), dtype, device)?;
        out.copy_values_from(self)?;
        if dtype.is_floating_point() {
            if let Some(b) = NodeBuilder::new(&[self]) {
                b.finish(
                    Formula::ToCopy {
                        dtype: self.dtype(),
                        device: self.device(),
                    },
                    &out,
                );
            }
        }
        Ok(out)
    }

    /// A copy on `device` whose memory is tagged with `purpose`, without history (for
    /// `module.to`, which runs under no_grad).
    pub(crate) fn copy_for(&self, device: Device, purpose: Purpose) -> Result<Tensor> {
        let out = Tensor::empty_for(self.runtime(), self.shape(), self.dtype(), device, purpose)?;
        out.copy_values_from(self)?;
        Ok(out)
    }

    /// `torch.zeros_like(self)` tagged with `purpose` (optimizer state).
    pub(crate) fn zeros_like_for(&self, purpose: Purpose) -> Result<Tensor> {
        let out = Tensor::empty_for(
            self.runtime(),
            self.shape(),
            self.dtype(),
            self.device(),
            purpose,
        )?;
        out.fill_values(Scalar::Float(0.0))?;
        Ok(out)
    }

    /// `torch.zeros_like(self)`.
    pub fn zeros_like(&self) -> Result<Tensor> {
        self.new_zeros(self.shape())
    }

    /// `self.new_zeros(sizes)`: zeros of this tensor's dtype and device, one allocation (what
    /// the backward formulas' `at::zeros(sizes, grad.options())` make).
    pub(crate) fn new_zeros(&self, sizes: &[usize]) -> Result<Tensor> {
        let out = self.new_like(sizes, self.dtype(), self.device())?;
        out.fill_values(Scalar::Float(0.0))?;
        Ok(out)
    }

    /// `torch.ones_like(self)`.
    pub fn ones_like(&self) -> Result<Tensor> {
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        out.fill_values(Scalar::Float(1.0))?;
        Ok(out)
    }

    // ---- in place ---------------------------------------------------------------------------

    /// Checks an in-place operation on `self` (with these inputs, `self` first) and prepares
    /// its node when one is needed.
    ///
    /// On a view, the node is PyTorch's CopySlices: the base's history wraps the operation's
    /// node (`NodeBuilder::rebasing`), as `rebase_history` does.
    pub(super) fn begin_inplace(&self, inputs: &[&Tensor]) -> Result<Option<NodeBuilder>> {
        let rt = self.runtime();
        let base = self.view_base();
        // check_inplace (VariableTypeUtils.h): a view of a leaf that requires grad first.
        if rt.is_grad_enabled()
            && self.requires_grad()
            && base
                .as_ref()
                .is_some_and(|b| b.is_leaf() && b.requires_grad())
        {
            return Err(TensorError::InplaceOnViewOfLeaf);
        }
        if rt.is_grad_enabled() && self.is_leaf() && self.requires_grad() {
            return Err(TensorError::InplaceOnLeaf);
        }
        let builder = NodeBuilder::new(inputs);
        match (builder, base) {
            (Some(b), Some(base)) => Ok(Some(b.rebasing(self, base)?)),
            (Some(_), None) if self.0.is_view => Err(TensorError::Unsupported(
                "in-place operations with grad on a tensor that shares its storage without being a view to autograd (detach()), or on a view whose base no longer exists".into(),
            )),
            (builder, _) => Ok(builder),
        }
    }

    /// An in-place `write` whose backward formula reads `self` from before it: with autograd
    /// recording, `self` is first cloned (`original_self`: a CloneBackward0 and one allocation
    /// of `self`'s size, kept by the node), as the in-place kernels PyTorch generates do;
    /// without autograd nothing is allocated. One version bump.
    pub(super) fn overwrite_keeping_original(
        &self,
        write: impl FnOnce() -> Result<()>,
        formula: Formula,
    ) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self])?;
        let original = match builder {
            Some(_) => Some(self.clone_tensor()?),
            None => None,
        };
        write()?;
        self.bump_version();
        if let (Some(mut b), Some(original)) = (builder, original) {
            b.save("self", &original);
            b.finish(formula, self);
        }
        Ok(self.clone())
    }

    /// `tensor.pow_(exponent)` with a number: PowBackward0 saves the values from before the
    /// write (checked on 2.15: `_saved_self` is not the tensor's storage).
    pub fn pow_(&self, exponent: f64) -> Result<Tensor> {
        if !self.dtype().is_floating_point() {
            return Err(TensorError::Unsupported(format!(
                "in-place pow_ of a {} tensor",
                self.dtype()
            )));
        }
        self.overwrite_keeping_original(
            || {
                let (k, cx) = self.kernels();
                k.unary(cx, &self.buf(), &self.buf(), UnaryCode::Pow, exponent)
            },
            Formula::Pow { exponent },
        )
    }

    fn check_inplace_operand(&self, other: &Tensor) -> Result<(DType, Vec<usize>)> {
        common_device(self, other)?;
        let shape = broadcast_shapes(self.shape(), other.shape())?;
        if shape != self.shape() {
            return Err(TensorError::Invalid(format!(
                "output with shape {} doesn't match the broadcast shape {}",
                format_shape(self.shape()),
                format_shape(&shape)
            )));
        }
        let result = promote(self.dtype(), other.dtype());
        let compute = super::ops::compute_type(result);
        if result.is_floating_point() && !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "result type {} can't be cast to the desired output type {}",
                result.short_name(),
                self.dtype().short_name()
            )));
        }
        Ok((compute, shape))
    }

    pub(super) fn inplace_binary(&self, other: &Tensor, op: Bin) -> Result<()> {
        let (compute, shape) = self.check_inplace_operand(other)?;
        let b = other.broadcast_view(&shape);
        let (k, cx) = self.kernels();
        k.binary(cx, &self.buf(), [&self.buf(), &b.buf()], compute, op)?;
        self.bump_version();
        Ok(())
    }

    pub(super) fn inplace_scalar(&self, s: Scalar, op: Bin) -> Result<()> {
        let (compute, _) = self.scalar_result_type(s, op);
        if compute == DType::F32 && !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(format!(
                "result type Float can't be cast to the desired output type {}",
                self.dtype().short_name()
            )));
        }
        self.scalar_kernel(s, op, compute, self)?;
        self.bump_version();
        Ok(())
    }

    /// `tensor.add_(other)`.
    pub fn add_(&self, other: &Tensor) -> Result<Tensor> {
        self.add_alpha_(other, 1.0)
    }

    /// `tensor.add_(other, alpha=alpha)`.
    pub fn add_alpha_(&self, other: &Tensor, alpha: f64) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self, other])?;
        self.inplace_binary(other, Bin::Add(alpha))?;
        if let Some(b) = builder {
            b.finish(Formula::Add { alpha }, self);
        }
        Ok(self.clone())
    }

    /// `tensor.add_(s)`.
    pub fn add_scalar_(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self])?;
        self.inplace_scalar(s.into(), Bin::Add(1.0))?;
        if let Some(b) = builder {
            b.finish(Formula::AddScalar, self);
        }
        Ok(self.clone())
    }

    /// `tensor.sub_(other)`.
    pub fn sub_(&self, other: &Tensor) -> Result<Tensor> {
        self.sub_alpha_(other, 1.0)
    }

    /// `tensor.sub_(other, alpha=alpha)`: SubBackward0, as out of place.
    pub fn sub_alpha_(&self, other: &Tensor, alpha: f64) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self, other])?;
        self.inplace_binary(other, Bin::Sub(alpha))?;
        if let Some(b) = builder {
            b.finish(Formula::Sub { alpha }, self);
        }
        Ok(self.clone())
    }

    /// `tensor.sub_(s)`.
    pub fn sub_scalar_(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self])?;
        self.inplace_scalar(s.into(), Bin::Sub(1.0))?;
        if let Some(b) = builder {
            b.finish(Formula::SubScalar, self);
        }
        Ok(self.clone())
    }

    /// `tensor.mul_(other)`. MulBackward0 saves `other` when `self` needs a gradient and,
    /// when `other` does, `original_self = self.clone()` made before the write (the in-place
    /// code VariableType generates for `mul_`), a copy the graph keeps.
    pub fn mul_(&self, other: &Tensor) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self, other])?;
        let original = match &builder {
            Some(b) if b.needs(1) => {
                let _no_grad = self.runtime().no_grad();
                Some(self.clone_tensor()?)
            }
            _ => None,
        };
        let saved_other = builder
            .as_ref()
            .filter(|b| b.needs(0))
            .map(|_| other.clone());
        self.inplace_binary(other, Bin::Mul)?;
        if let Some(mut b) = builder {
            if let Some(o) = &saved_other {
                b.save("other", o);
            }
            if let Some(s) = &original {
                b.save("self", s);
            }
            b.finish(Formula::Mul, self);
        }
        Ok(self.clone())
    }

    /// `tensor.mul_(s)`.
    pub fn mul_scalar_(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        self.scale_(s, Bin::Mul, Formula::MulScalar { other: s.as_f64() })
    }

    /// `tensor.div_(s)` (Python's `t /= s`). DivBackward1 keeps the number; called from
    /// Python, DivBackward0 saves it wrapped, as [`div_scalar`](Self::div_scalar)'s.
    pub fn div_scalar_(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        self.scale_(s, Bin::Div, Formula::DivScalar { other: s.as_f64() })
    }

    /// `self *= s` or `self /= s` (`bin`) with its node (`formula`), which saves the number
    /// wrapped when called from Python.
    fn scale_(&self, s: Scalar, bin: Bin, formula: Formula) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self])?;
        self.inplace_scalar(s, bin)?;
        if let Some(mut b) = builder {
            self.save_number(&mut b, "other", s)?;
            b.finish(formula, self);
        }
        Ok(self.clone())
    }

    /// `tensor.zero_()`.
    pub fn zero_(&self) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self])?;
        self.fill_values(Scalar::Float(0.0))?;
        self.bump_version();
        if let Some(b) = builder {
            b.finish(Formula::Zero, self);
        }
        Ok(self.clone())
    }

    /// `tensor.fill_(s)`.
    pub fn fill_(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        let builder = self.begin_inplace(&[self])?;
        self.fill_values(s)?;
        self.bump_version();
        if let Some(b) = builder {
            b.finish(Formula::Fill, self);
        }
        Ok(self.clone())
    }

    fn check_no_graph(&self, inputs: &[&Tensor], op: &str) -> Result<()> {
        if NodeBuilder::new(inputs).is_some() {
            return Err(TensorError::Unsupported(format!(
                "{op} on tensors that require grad (optimizer math runs under no_grad)"
            )));
        }
        if self.is_leaf() && self.requires_grad() && self.runtime().is_grad_enabled() {
            return Err(TensorError::InplaceOnLeaf);
        }
        Ok(())
    }

    /// `torch.clamp(self, max=max)` for code that runs under no_grad (clip_grad_norm_).
    pub(crate) fn clamp_max_scalar(&self, max: f64) -> Result<Tensor> {
        self.check_no_graph(&[self], "clamp")?;
        self.binary_scalar(Scalar::Float(max), Bin::Min)
    }

    /// `self.lerp_(end, weight)`: `self += weight * (end - self)`.
    pub(crate) fn lerp_(&self, end: &Tensor, weight: f64) -> Result<()> {
        self.check_no_graph(&[self, end], "lerp_")?;
        same_device(self, end)?;
        let (k, cx) = self.kernels();
        let lerp = Bin::Code(BinaryCode::Lerp, weight);
        k.binary(cx, &self.buf(), [&self.buf(), &end.buf()], DType::F32, lerp)?;
        self.bump_version();
        Ok(())
    }

    /// `torch.maximum(self, other, out=self)` and `torch._foreach_maximum_` for optimizer
    /// math (amsgrad): written in place, nothing allocated.
    pub(crate) fn maximum_(&self, other: &Tensor) -> Result<()> {
        self.check_no_graph(&[self, other], "maximum_")?;
        same_device(self, other)?;
        let (k, cx) = self.kernels();
        k.binary(
            cx,
            &self.buf(),
            [&self.buf(), &other.buf()],
            DType::F32,
            Bin::Max,
        )?;
        self.bump_version();
        Ok(())
    }

    /// `self.addcmul_(t1, t2, value)`: `self += value * t1 * t2`.
    pub(crate) fn addcmul_(&self, t1: &Tensor, t2: &Tensor, value: f64) -> Result<()> {
        self.addc(t1, t2, value, TernaryCode::AddcMul, "addcmul_")
    }

    /// `self.addcdiv_(t1, t2, value)`: `self += value * t1 / t2`.
    pub(crate) fn addcdiv_(&self, t1: &Tensor, t2: &Tensor, value: f64) -> Result<()> {
        self.addc(t1, t2, value, TernaryCode::AddcDiv, "addcdiv_")
    }

    fn addc(
        &self,
        t1: &Tensor,
        t2: &Tensor,
        value: f64,
        code: TernaryCode,
        op: &str,
    ) -> Result<()> {
        self.check_no_graph(&[self, t1, t2], op)?;
        same_device(self, t1)?;
        same_device(self, t2)?;
        let (k, cx) = self.kernels();
        let operands = [&self.buf(), &t1.buf(), &t2.buf()];
        k.ternary(cx, &self.buf(), operands, code, (value, 0.0))?;
        self.bump_version();
        Ok(())
    }

    // ---- autograd entry point ---------------------------------------------------------------

    /// `tensor.backward(gradient, retain_graph)`: gradients of this tensor with respect to
    /// every leaf that requires grad, accumulated into their `.grad`. Without
    /// `retain_graph`, saved tensors are freed as the pass goes.
    pub fn backward(&self, gradient: Option<&Tensor>, retain_graph: bool) -> Result<()> {
        autograd::run_backward(self, gradient, retain_graph)
    }
}
