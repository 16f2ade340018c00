//! Element-wise arithmetic and comparisons, and what every operation shares: type promotion,
//! broadcasting, dimension wrapping, the device two operands compute on. Each operation
//! allocates what the PyTorch kernel it mirrors allocates (usually just its output), makes one
//! [`Kernels`](super::kernel::Kernels) call, then records the autograd node PyTorch records,
//! saving the tensors PyTorch saves.

use super::kernel::Bin;
use super::{DType, Device, Result, Scalar, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::device::kernels::{BinaryCode, UnaryCode};

/// PyTorch's type promotion (`torch.promote_types`): float beats int beats bool, and two
/// different float types meet at float32.
pub(super) fn promote(a: DType, b: DType) -> DType {
    DType::promote_types(a, b)
}

/// The type a kernel computes a result of type `result` in: f64 for float64, f32 for the other
/// float types (half types are widened, computed and rounded once, as PyTorch's `opmath_t`),
/// else the result's.
pub(super) fn compute_type(result: DType) -> DType {
    if result == DType::F64 {
        DType::F64
    } else if result.is_floating_point() {
        DType::F32
    } else {
        result
    }
}

/// The shape two shapes broadcast to (`infer_size`).
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in (0..n).rev() {
        let offset = n - 1 - i;
        let sa = if offset < a.len() {
            a[a.len() - 1 - offset]
        } else {
            1
        };
        let sb = if offset < b.len() {
            b[b.len() - 1 - offset]
        } else {
            1
        };
        if sa != sb && sa != 1 && sb != 1 {
            return Err(TensorError::Broadcast {
                a: sa,
                b: sb,
                dim: i,
            });
        }
        out[i] = if sa == 1 { sb } else { sa };
    }
    Ok(out)
}

/// Normalizes a possibly negative dimension (`maybe_wrap_dim`).
pub(crate) fn wrap_dim(dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as isize;
    if dim < -n || dim >= n {
        return Err(TensorError::Invalid(format!(
            "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
            -n,
            n - 1
        )));
    }
    Ok(if dim < 0 {
        (dim + n) as usize
    } else {
        dim as usize
    })
}

fn check_runtime(a: &Tensor, b: &Tensor) -> Result<()> {
    if a.runtime().same(b.runtime()) {
        Ok(())
    } else {
        Err(TensorError::Invalid(
            "tensors of two different runtimes cannot be combined".into(),
        ))
    }
}

/// The device two operands compute on. A 0-dim host tensor combines with device tensors, as
/// PyTorch lets cpu scalars do.
pub(crate) fn common_device(a: &Tensor, b: &Tensor) -> Result<Device> {
    check_runtime(a, b)?;
    let (da, db) = (a.device(), b.device());
    if da == db || (db == Device::Cpu && b.dim() == 0) {
        Ok(da)
    } else if da == Device::Cpu && a.dim() == 0 {
        Ok(db)
    } else {
        Err(TensorError::DeviceMismatch {
            a: da.to_string(),
            b: db.to_string(),
        })
    }
}

pub(super) fn same_device(a: &Tensor, b: &Tensor) -> Result<Device> {
    check_runtime(a, b)?;
    if a.device() != b.device() {
        return Err(TensorError::DeviceMismatch {
            a: a.device().to_string(),
            b: b.device().to_string(),
        });
    }
    Ok(a.device())
}

impl Tensor {
    pub(super) fn new_like(&self, shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        Tensor::empty_on(self.runtime(), shape, dtype, device)
    }

    /// Broadcasts both operands and applies `op` element by element into a new tensor.
    pub(super) fn binary(&self, other: &Tensor, op: Bin) -> Result<Tensor> {
        let device = common_device(self, other)?;
        let shape = broadcast_shapes(self.shape(), other.shape())?;
        let common = DType::result_type(
            self.dtype(),
            self.dim() == 0,
            other.dtype(),
            other.dim() == 0,
        );
        let result = if op.is_float_only() && !common.is_floating_point() {
            DType::F32
        } else {
            common
        };
        let compute = compute_type(result);
        let out_dtype = if op.is_comparison() {
            DType::Bool
        } else {
            result
        };
        let out = self.new_like(&shape, out_dtype, device)?;
        let (a, b) = (self.broadcast_view(&shape), other.broadcast_view(&shape));
        let (k, cx) = out.kernels();
        k.binary(cx, &out.buf(), [&a.buf(), &b.buf()], compute, op)?;
        Ok(out)
    }

    pub(super) fn scalar_result_type(&self, s: Scalar, op: Bin) -> (DType, DType) {
        let common = self
            .dtype()
            .result_type_scalar(matches!(s, Scalar::Float(_)));
        let result = if common.is_floating_point() {
            common
        } else if op.is_float_only() {
            DType::F32
        } else {
            // An integer tensor keeps its type (int32 + 1 is int32); a bool one became int64.
            common
        };
        let out = if op.is_comparison() {
            DType::Bool
        } else {
            result
        };
        (compute_type(result), out)
    }

    pub(super) fn binary_scalar(&self, s: Scalar, op: Bin) -> Result<Tensor> {
        let (compute, out_dtype) = self.scalar_result_type(s, op);
        let out = self.new_like(self.shape(), out_dtype, self.device())?;
        self.scalar_kernel(s, op, compute, &out)?;
        Ok(out)
    }

    /// `out = self op s` into an output of this tensor's shape (`self` itself in place).
    pub(super) fn scalar_kernel(
        &self,
        s: Scalar,
        op: Bin,
        compute: DType,
        out: &Tensor,
    ) -> Result<()> {
        let (k, cx) = out.kernels();
        k.binary_scalar(cx, &out.buf(), &self.buf(), s, compute, op)
    }

    /// A view of this tensor broadcast to `shape` (which it must broadcast to).
    pub(super) fn broadcast_view(&self, shape: &[usize]) -> Tensor {
        if self.shape() == shape {
            return self.clone();
        }
        let lead = shape.len() - self.dim();
        let strides = shape
            .iter()
            .enumerate()
            .map(|(i, _)| {
                if i < lead || self.shape()[i - lead] == 1 {
                    0
                } else {
                    self.strides()[i - lead]
                }
            })
            .collect();
        self.view_raw(shape.to_vec(), strides, self.0.offset)
    }

    /// `self op other` for a backward kernel or element-wise loss (`code` with `alpha`),
    /// broadcasting; no node.
    pub(crate) fn binary_code(
        &self,
        other: &Tensor,
        code: BinaryCode,
        alpha: f64,
    ) -> Result<Tensor> {
        self.binary(other, Bin::Code(code, alpha))
    }

    /// `op(self; p)` element by element into a new float tensor (of this tensor's type when
    /// it is a float, else float32); no node.
    pub(crate) fn unary_f32(&self, op: UnaryCode, p: f64) -> Result<Tensor> {
        self.unary_into(self.float_result_type(), op, p)
    }

    /// The type of a float operation's result on this tensor: its own type when it is a
    /// float, else float32 (the default dtype), as for `torch.exp(int_tensor)`.
    pub(crate) fn float_result_type(&self) -> DType {
        if self.dtype().is_floating_point() {
            self.dtype()
        } else {
            DType::F32
        }
    }

    /// `op(self; p)` into a new tensor of `dtype`; no node.
    pub(super) fn unary_into(&self, dtype: DType, op: UnaryCode, p: f64) -> Result<Tensor> {
        let out = self.new_like(self.shape(), dtype, self.device())?;
        let (k, cx) = out.kernels();
        k.unary(cx, &out.buf(), &self.buf(), op, p)?;
        Ok(out)
    }

    // ---- arithmetic -------------------------------------------------------------------------

    /// `self + other`, broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        self.add_alpha(other, 1.0)
    }

    /// `torch.add(self, other, alpha=alpha)`.
    pub fn add_alpha(&self, other: &Tensor, alpha: f64) -> Result<Tensor> {
        let out = self.binary(other, Bin::Add(alpha))?;
        if let Some(b) = NodeBuilder::new(&[self, other]) {
            b.finish(Formula::Add { alpha }, &out);
        }
        Ok(out)
    }

    /// `self + s`.
    pub fn add_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let out = self.binary_scalar(s.into(), Bin::Add(1.0))?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::AddScalar, &out);
        }
        Ok(out)
    }

    /// `self - other`, broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.sub_alpha(other, 1.0)
    }

    /// `torch.sub(self, other, alpha=alpha)`: SubBackward0 keeps `alpha`, no tensor.
    pub fn sub_alpha(&self, other: &Tensor, alpha: f64) -> Result<Tensor> {
        let out = self.binary(other, Bin::Sub(alpha))?;
        if let Some(b) = NodeBuilder::new(&[self, other]) {
            b.finish(Formula::Sub { alpha }, &out);
        }
        Ok(out)
    }

    /// `self - s`.
    pub fn sub_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let out = self.binary_scalar(s.into(), Bin::Sub(1.0))?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::SubScalar, &out);
        }
        Ok(out)
    }

    /// `s - self` (`torch.rsub(self, s)`, Python's `s - t`): one output, written as
    /// `-self` and then `+ s` in place. RsubBackward1 saves nothing.
    pub fn rsub_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        let (compute, out_dtype) = self.scalar_result_type(s, Bin::Sub(1.0));
        let out = self.new_like(self.shape(), out_dtype, self.device())?;
        self.scalar_kernel(Scalar::Int(-1), Bin::Mul, compute, &out)?;
        out.scalar_kernel(s, Bin::Add(1.0), compute, &out)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::RsubScalar, &out);
        }
        Ok(out)
    }

    /// `self * other`, broadcasting. MulBackward0 saves `other` when `self` needs a gradient
    /// and `self` when `other` does.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        let out = self.binary(other, Bin::Mul)?;
        if let Some(mut b) = NodeBuilder::new(&[self, other]) {
            if b.needs(0) {
                b.save("other", other);
            }
            if b.needs(1) {
                b.save("self", self);
            }
            b.finish(Formula::Mul, &out);
        }
        Ok(out)
    }

    /// `self * s`. MulBackward1 keeps the number only; called from Python, MulBackward0
    /// saves it as `other`, wrapped in a 0-dim host tensor (`src/tensor/wrapped.rs`).
    pub fn mul_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        self.scaled(s, Bin::Mul, Formula::MulScalar { other: s.as_f64() })
    }

    /// `self / other` (true division), broadcasting. DivBackward0 saves `other`, and `self`
    /// when `other` needs a gradient.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        let out = self.binary(other, Bin::Div)?;
        if let Some(mut b) = NodeBuilder::new(&[self, other]) {
            if b.needs(1) {
                b.save("self", self);
            }
            b.save("other", other);
            b.finish(Formula::Div, &out);
        }
        Ok(out)
    }

    /// `self / s`. DivBackward1 keeps the number only; called from Python, DivBackward0
    /// saves it as `other`, wrapped as `mul_scalar`'s.
    pub fn div_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        self.scaled(s, Bin::Div, Formula::DivScalar { other: s.as_f64() })
    }

    /// `self * s` or `self / s` (`bin`) with its node (`formula`), which saves the number
    /// wrapped when called from Python.
    fn scaled(&self, s: Scalar, bin: Bin, formula: Formula) -> Result<Tensor> {
        let out = self.binary_scalar(s, bin)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            self.save_number(&mut b, "other", s)?;
            b.finish(formula, &out);
        }
        Ok(out)
    }

    /// `self ** exponent`; the result is float. PowBackward0 saves `self`.
    pub fn pow(&self, exponent: f64) -> Result<Tensor> {
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Pow, &[Some(self)])? {
            return c.arg(0).pow(exponent);
        }
        let out = self.unary_f32(UnaryCode::Pow, exponent)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("self", self);
            b.finish(Formula::Pow { exponent }, &out);
        }
        Ok(out)
    }

    /// `-self`.
    pub fn neg(&self) -> Result<Tensor> {
        let out = self.binary_scalar(Scalar::Int(-1), Bin::Mul)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::Neg, &out);
        }
        Ok(out)
    }

    // ---- comparisons ------------------------------------------------------------------------

    fn compare(&self, other: &Tensor, op: Bin) -> Result<Tensor> {
        self.binary(other, op)
    }

    /// `self == other` (bool result).
    pub fn eq(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Bin::Eq)
    }

    /// `self != other`.
    pub fn ne(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Bin::Ne)
    }

    /// `self < other`.
    pub fn lt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Bin::Lt)
    }

    /// `self <= other`.
    pub fn le(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Bin::Le)
    }

    /// `self > other`.
    pub fn gt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Bin::Gt)
    }

    /// `self >= other`.
    pub fn ge(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Bin::Ge)
    }

    /// `self == s`.
    pub fn eq_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        self.binary_scalar(s.into(), Bin::Eq)
    }

    /// `self != s`.
    pub fn ne_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        self.binary_scalar(s.into(), Bin::Ne)
    }

    /// `self < s`.
    pub fn lt_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        self.binary_scalar(s.into(), Bin::Lt)
    }

    /// `self <= s`.
    pub fn le_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        self.binary_scalar(s.into(), Bin::Le)
    }

    /// `self > s`.
    pub fn gt_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        self.binary_scalar(s.into(), Bin::Gt)
    }

    /// `self >= s`.
    pub fn ge_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        self.binary_scalar(s.into(), Bin::Ge)
    }

    // ---- activations ------------------------------------------------------------------------

    /// `torch.relu`. ReluBackward0 saves the result.
    pub fn relu(&self) -> Result<Tensor> {
        let out = self.unary_into(self.dtype(), UnaryCode::Relu, 0.0)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save_output("result");
            b.finish(Formula::Relu, &out);
        }
        Ok(out)
    }

    /// `tensor.relu_()`: in place; the history is rebased onto a ReluBackward0 that saves the
    /// result.
    pub fn relu_(&self) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self])?;
        let (k, cx) = self.kernels();
        k.unary(cx, &self.buf(), &self.buf(), UnaryCode::Relu, 0.0)?;
        self.bump_version();
        if let Some(mut b) = builder {
            b.save_output("result");
            b.finish(Formula::Relu, self);
        }
        Ok(self.clone())
    }

    /// `threshold_backward(grad, result, threshold)`: the gradient where the result is above
    /// the threshold, zero elsewhere.
    pub(crate) fn threshold_backward(&self, result: &Tensor, threshold: f32) -> Result<Tensor> {
        self.binary_code(result, BinaryCode::ThresholdBackward, threshold as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_from_the_right() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2, 2]).unwrap(), vec![2, 2]);
        assert_eq!(
            broadcast_shapes(&[2, 3], &[4, 1, 2]).unwrap_err(),
            TensorError::Broadcast { a: 3, b: 2, dim: 2 }
        );
    }

    #[test]
    fn dimensions_wrap_like_maybe_wrap_dim() {
        assert_eq!(wrap_dim(-1, 3).unwrap(), 2);
        assert_eq!(wrap_dim(0, 0).unwrap(), 0);
        assert!(wrap_dim(3, 3).is_err());
        assert!(wrap_dim(-4, 3).is_err());
    }

    #[test]
    fn promotion_prefers_float_then_int() {
        assert_eq!(promote(DType::Bool, DType::I64), DType::I64);
        assert_eq!(promote(DType::I64, DType::F32), DType::F32);
        assert_eq!(promote(DType::Bool, DType::Bool), DType::Bool);
    }
}
