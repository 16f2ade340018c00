//! Tensor operations. Each allocates what the PyTorch kernel it mirrors allocates (usually just
//! its output), computes on real memory where there is some (on the GPU on the cuda backend,
//! on the host for the cpu backend and host tensors) and only allocates on meta, then records the autograd node PyTorch records, saving the tensors
//! PyTorch saves.

use super::gpu;
use super::pointwise::Pointwise;
use super::{contiguous_strides, format_shape, DType, Device, Result, Scalar, Tensor, TensorError};
use crate::alloc::Purpose;
use crate::autograd::{self, Formula, NodeBuilder};
use crate::device::kernels::{BinaryCode, TernaryCode, UnaryCode};
use crate::runtime::BlasCall;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Bin {
    Add(f64),
    Sub(f64),
    Mul,
    Div,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// The backward of a [`Pointwise`] function: `a` the gradient, `b` what the node saved.
    Backward(BinaryCode),
    /// `min(a, b)`, NaN when `a` is NaN.
    Min,
    /// `max(a, b)`, NaN when `a` is NaN.
    Max,
}

impl Bin {
    /// The operation code and alpha of `ew_binary_*` in kernels/elementwise.cu.
    fn gpu_code(self) -> (BinaryCode, f64) {
        match self {
            Bin::Add(alpha) => (BinaryCode::Add, alpha),
            Bin::Sub(alpha) => (BinaryCode::Sub, alpha),
            Bin::Mul => (BinaryCode::Mul, 1.0),
            Bin::Div => (BinaryCode::Div, 1.0),
            Bin::Eq => (BinaryCode::Eq, 1.0),
            Bin::Ne => (BinaryCode::Ne, 1.0),
            Bin::Lt => (BinaryCode::Lt, 1.0),
            Bin::Le => (BinaryCode::Le, 1.0),
            Bin::Gt => (BinaryCode::Gt, 1.0),
            Bin::Ge => (BinaryCode::Ge, 1.0),
            Bin::Backward(code) => (code, 1.0),
            Bin::Min => (BinaryCode::Min, 1.0),
            Bin::Max => (BinaryCode::Max, 1.0),
        }
    }

    /// Whether the operation computes in f32 whatever its operands' types.
    fn is_float_only(self) -> bool {
        matches!(self, Bin::Div | Bin::Backward(_) | Bin::Min | Bin::Max)
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            Bin::Eq | Bin::Ne | Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge
        )
    }

    fn f32(self, a: f32, b: f32) -> f32 {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            Bin::Add(alpha) => a + alpha as f32 * b,
            Bin::Sub(alpha) => a - alpha as f32 * b,
            Bin::Mul => a * b,
            Bin::Div => a / b,
            Bin::Eq => t(a == b),
            Bin::Ne => t(a != b),
            Bin::Lt => t(a < b),
            Bin::Le => t(a <= b),
            Bin::Gt => t(a > b),
            Bin::Ge => t(a >= b),
            Bin::Backward(code) => Pointwise::host_backward(code, a, b),
            Bin::Min | Bin::Max if a.is_nan() => a,
            Bin::Min => a.min(b),
            Bin::Max => a.max(b),
        }
    }

    fn i64(self, a: i64, b: i64) -> i64 {
        match self {
            Bin::Add(alpha) => a.wrapping_add((alpha as i64).wrapping_mul(b)),
            Bin::Sub(alpha) => a.wrapping_sub((alpha as i64).wrapping_mul(b)),
            Bin::Mul => a.wrapping_mul(b),
            Bin::Div | Bin::Backward(_) | Bin::Min | Bin::Max => {
                unreachable!("{self:?} computes in f32")
            }
            Bin::Eq => (a == b) as i64,
            Bin::Ne => (a != b) as i64,
            Bin::Lt => (a < b) as i64,
            Bin::Le => (a <= b) as i64,
            Bin::Gt => (a > b) as i64,
            Bin::Ge => (a >= b) as i64,
        }
    }
}

/// PyTorch's type promotion for the three types: float beats int beats bool.
pub(super) fn promote(a: DType, b: DType) -> DType {
    if a == DType::F32 || b == DType::F32 {
        DType::F32
    } else if a == DType::I64 || b == DType::I64 {
        DType::I64
    } else {
        DType::Bool
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

fn same_device(a: &Tensor, b: &Tensor) -> Result<Device> {
    check_runtime(a, b)?;
    if a.device() != b.device() {
        return Err(TensorError::DeviceMismatch {
            a: a.device().to_string(),
            b: b.device().to_string(),
        });
    }
    Ok(a.device())
}

fn matrix_dims(t: &Tensor) -> [usize; 2] {
    [t.shape()[0], t.shape()[1]]
}

fn matrix_strides(t: &Tensor) -> [usize; 2] {
    [t.strides()[0], t.strides()[1]]
}

/// Products at least this large (multiply-adds) use rayon's threads: below it, handing work to
/// threads costs more than it saves.
const PARALLEL_GEMM_FLOPS: usize = 1 << 20;

/// `a (n×k) · b (k×m)`, both row-major, through the `gemm` crate.
fn matmul_f32(a: &[f32], b: &[f32], n: usize, k: usize, m: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n * m];
    if out.is_empty() || k == 0 {
        return out;
    }
    assert!(a.len() == n * k && b.len() == k * m, "matmul operand sizes");
    let parallelism = if n * k * m >= PARALLEL_GEMM_FLOPS {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `out` holds n×m elements, `a` n×k and `b` k×m (checked above), each row-major
    // (column stride 1, row stride its width); `out` is a fresh buffer that aliases neither.
    // With `read_dst` false, `out = 1.0 * a·b`.
    unsafe {
        gemm::gemm(
            n,
            m,
            k,
            out.as_mut_ptr(),
            1,
            m as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            m as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    out
}

/// The strides that view a tensor of `old_shape` and `old_strides` as `new_shape` without a
/// copy, or `None` when none exist (ATen's `computeStride`): dimensions are matched in
/// chunks that are contiguous among themselves.
pub(crate) fn compute_stride(
    old_shape: &[usize],
    old_strides: &[usize],
    new_shape: &[usize],
) -> Option<Vec<usize>> {
    if old_shape.is_empty() {
        return Some(vec![1; new_shape.len()]);
    }
    let numel: usize = old_shape.iter().product();
    if numel == 0 {
        if old_shape == new_shape {
            return Some(old_strides.to_vec());
        }
        return Some(contiguous_strides(new_shape));
    }
    let mut new_strides = vec![0usize; new_shape.len()];
    let mut view_d = new_shape.len() as isize - 1;
    let mut chunk_base_stride = *old_strides.last()?;
    let mut tensor_numel = 1usize;
    let mut view_numel = 1usize;
    for tensor_d in (0..old_shape.len()).rev() {
        tensor_numel *= old_shape[tensor_d];
        let chunk_ends = tensor_d == 0
            || (old_shape[tensor_d - 1] != 1
                && old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride);
        if chunk_ends {
            while view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d as usize] == 1) {
                new_strides[view_d as usize] = view_numel * chunk_base_stride;
                view_numel *= new_shape[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if tensor_d > 0 {
                chunk_base_stride = old_strides[tensor_d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if view_d != -1 {
        return None;
    }
    Some(new_strides)
}

/// For each element in row-major order, its position in the result of reducing the marked
/// dimensions (laid out as the shape with those dimensions set to 1), and the result's length.
fn reduce_positions(shape: &[usize], reduce: &[bool]) -> (Vec<usize>, usize) {
    let kept: Vec<usize> = shape
        .iter()
        .zip(reduce)
        .map(|(&s, &r)| if r { 1 } else { s })
        .collect();
    let out_strides = contiguous_strides(&kept);
    let numel: usize = shape.iter().product();
    let mut positions = Vec::with_capacity(numel);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..numel {
        positions.push(
            index
                .iter()
                .zip(&out_strides)
                .zip(reduce)
                .map(|((&i, &s), &r)| if r { 0 } else { i * s })
                .sum(),
        );
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    (positions, kept.iter().product())
}

fn reduced_shape(shape: &[usize], reduce: &[bool], keepdim: bool) -> Vec<usize> {
    shape
        .iter()
        .zip(reduce)
        .filter_map(|(&s, &r)| match (r, keepdim) {
            (false, _) => Some(s),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

impl Tensor {
    pub(super) fn new_like(&self, shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        Tensor::empty_on(self.runtime(), shape, dtype, device)
    }

    /// Broadcasts both operands and applies `op` element by element into a new tensor.
    pub(super) fn binary(&self, other: &Tensor, op: Bin) -> Result<Tensor> {
        let device = common_device(self, other)?;
        let shape = broadcast_shapes(self.shape(), other.shape())?;
        let compute = if op.is_float_only() {
            DType::F32
        } else {
            promote(self.dtype(), other.dtype())
        };
        let out_dtype = if op.is_comparison() {
            DType::Bool
        } else {
            compute
        };
        let out = self.new_like(&shape, out_dtype, device)?;
        if out.has_data() {
            let a = self.broadcast_view(&shape);
            let b = other.broadcast_view(&shape);
            if let Some(g) = out.gpu() {
                gpu::binary(g, &out, &a, &b, compute, op.gpu_code())?;
            } else if compute == DType::F32 {
                if let (Some(x), Some(y)) = (a.read_f32(), b.read_f32()) {
                    let v: Vec<f32> = x.iter().zip(&y).map(|(&p, &q)| op.f32(p, q)).collect();
                    out.write_f32(&v);
                }
            } else if let (Some(x), Some(y)) = (a.read_i64(), b.read_i64()) {
                let v: Vec<i64> = x.iter().zip(&y).map(|(&p, &q)| op.i64(p, q)).collect();
                out.write_i64(&v);
            }
        }
        Ok(out)
    }

    fn scalar_result_type(&self, s: Scalar, op: Bin) -> (DType, DType) {
        let compute = match (op, self.dtype(), s) {
            (_, DType::F32, _) | (_, _, Scalar::Float(_)) => DType::F32,
            (op, _, _) if op.is_float_only() => DType::F32,
            _ => DType::I64,
        };
        let out = if op.is_comparison() {
            DType::Bool
        } else {
            compute
        };
        (compute, out)
    }

    pub(super) fn binary_scalar(&self, s: Scalar, op: Bin) -> Result<Tensor> {
        let (compute, out_dtype) = self.scalar_result_type(s, op);
        let out = self.new_like(self.shape(), out_dtype, self.device())?;
        self.scalar_kernel(s, op, compute, &out)?;
        Ok(out)
    }

    fn scalar_kernel(&self, s: Scalar, op: Bin, compute: DType, out: &Tensor) -> Result<()> {
        if let Some(g) = out.gpu() {
            let b = gpu::scalar_operand(s, compute);
            return gpu::binary_with(g, out, self, b, compute, op.gpu_code());
        }
        if compute == DType::F32 {
            if let Some(x) = self.read_f32() {
                let q = s.as_f64() as f32;
                out.write_f32(&x.iter().map(|&p| op.f32(p, q)).collect::<Vec<_>>());
            }
        } else if let Some(x) = self.read_i64() {
            let q = match s {
                Scalar::Int(i) => i,
                Scalar::Float(f) => f as i64,
            };
            out.write_i64(&x.iter().map(|&p| op.i64(p, q)).collect::<Vec<_>>());
        }
        Ok(())
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

    /// `self op other` for a backward kernel of [`Pointwise`], broadcasting; no node.
    pub(crate) fn binary_code(&self, other: &Tensor, code: BinaryCode) -> Result<Tensor> {
        self.binary(other, Bin::Backward(code))
    }

    pub(crate) fn unary_f32(&self, op: (UnaryCode, f32), f: impl Fn(f32) -> f32) -> Result<Tensor> {
        let out = self.new_like(self.shape(), DType::F32, self.device())?;
        if let Some(g) = out.gpu() {
            gpu::unary(g, &out, self, op)?;
        } else if let Some(x) = self.read_f32() {
            out.write_f32(&x.into_iter().map(f).collect::<Vec<_>>());
        }
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
        let out = self.binary(other, Bin::Sub(1.0))?;
        if let Some(b) = NodeBuilder::new(&[self, other]) {
            b.finish(Formula::Sub { alpha: 1.0 }, &out);
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

    /// `self * s`. MulBackward1 keeps the number only.
    pub fn mul_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        let out = self.binary_scalar(s, Bin::Mul)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::MulScalar { other: s.as_f64() }, &out);
        }
        Ok(out)
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

    /// `self / s`.
    pub fn div_scalar(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        let out = self.binary_scalar(s, Bin::Div)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::DivScalar { other: s.as_f64() }, &out);
        }
        Ok(out)
    }

    /// `self ** exponent`; the result is float. PowBackward0 saves `self`.
    pub fn pow(&self, exponent: f64) -> Result<Tensor> {
        let e = exponent as f32;
        let out = self.unary_f32((UnaryCode::Pow, e), |x| x.powf(e))?;
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

    // ---- matrix products --------------------------------------------------------------------

    fn check_mm(&self, mat2: &Tensor) -> Result<Device> {
        if self.dim() != 2 {
            return Err(TensorError::Invalid("self must be a matrix".into()));
        }
        if mat2.dim() != 2 {
            return Err(TensorError::Invalid("mat2 must be a matrix".into()));
        }
        let device = same_device(self, mat2)?;
        if self.shape()[1] != mat2.shape()[0] {
            return Err(TensorError::MatmulShape {
                mat1: matrix_dims(self),
                mat2: matrix_dims(mat2),
            });
        }
        if self.dtype() != mat2.dtype() {
            return Err(TensorError::Invalid(format!(
                "expected mat1 and mat2 to have the same dtype, but got: {} != {}",
                self.dtype().short_name().to_lowercase(),
                mat2.dtype().short_name().to_lowercase()
            )));
        }
        Ok(device)
    }

    fn mm_values(&self, mat2: &Tensor) -> Option<Vec<f32>> {
        let (a, b) = (self.read_f32()?, mat2.read_f32()?);
        Some(matmul_f32(
            &a,
            &b,
            self.shape()[0],
            self.shape()[1],
            mat2.shape()[1],
        ))
    }

    /// `torch.mm`. MmBackward0 saves `self` when `mat2` needs a gradient and `mat2` when
    /// `self` does.
    pub fn mm(&self, mat2: &Tensor) -> Result<Tensor> {
        let device = self.check_mm(mat2)?;
        let shape = [self.shape()[0], mat2.shape()[1]];
        let out = self.new_like(&shape, self.dtype(), device)?;
        if device == Device::Cuda {
            self.runtime().blas_workspace(BlasCall::Gemm)?;
        }
        if let Some(g) = out.gpu() {
            gpu::matmul(g, &out, self, mat2, false)?;
        } else if out.has_data() {
            if let Some(v) = self.mm_values(mat2) {
                out.write_f32(&v);
            }
        }
        if let Some(mut b) = NodeBuilder::new(&[self, mat2]) {
            if b.needs(1) {
                b.save("self", self);
            }
            if b.needs(0) {
                b.save("mat2", mat2);
            }
            b.finish(
                Formula::Mm {
                    self_sizes: matrix_dims(self),
                    self_strides: matrix_strides(self),
                    mat2_sizes: matrix_dims(mat2),
                    mat2_strides: matrix_strides(mat2),
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `self @ other`, as ATen's `_matmul_impl` decomposes it: 2-D @ 2-D is `mm`; an N-d
    /// tensor (N ≥ 3) @ a matrix is folded to 2-D (`reshape`, `mm`, `_unsafe_view`: nodes
    /// ViewBackward0, MmBackward0, UnsafeViewBackward0); two N-d tensors with the same batch
    /// dimensions go through `bmm` (ExpandBackward0 and ViewBackward0 on each side,
    /// BmmBackward0, UnsafeViewBackward0). Other combinations (vectors, broadcast batches, a
    /// matrix @ a batch) are not supported yet.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let (d1, d2) = (self.dim(), other.dim());
        let unsupported = || {
            TensorError::Unsupported(format!(
                "matmul of shapes {} and {} (supported: 2-D @ 2-D, N-d @ 2-D, and N-d @ N-d with equal batch dimensions)",
                format_shape(self.shape()),
                format_shape(other.shape())
            ))
        };
        if d1 == 2 && d2 == 2 {
            return self.mm(other);
        }
        if d1 < 3 || d2 < 2 {
            return Err(unsupported());
        }
        let (n, k) = (self.shape()[d1 - 2], self.shape()[d1 - 1]);
        let p = other.shape()[d2 - 1];
        if other.shape()[d2 - 2] != k {
            return Err(TensorError::Invalid(format!(
                "Expected size for first two dimensions of batch2 tensor to be: [{}, {k}] but got: [{}, {}].",
                self.shape()[..d1 - 2].iter().product::<usize>(),
                other.shape()[..d2 - 2].iter().product::<usize>(),
                other.shape()[d2 - 2]
            )));
        }
        let mut out_shape = self.shape()[..d1 - 1].to_vec();
        out_shape.push(p);
        let out = if d2 == 2 {
            let folded = self.reshape(&[-1, k as isize])?;
            folded.mm(other)?
        } else {
            let batch = &self.shape()[..d1 - 2];
            if other.shape()[..d2 - 2] != *batch {
                return Err(unsupported());
            }
            let count: usize = batch.iter().product();
            let side = |t: &Tensor, rows: usize, cols: usize| -> Result<Tensor> {
                let mut full = batch.to_vec();
                full.extend([rows, cols]);
                t.expand(&full)?
                    .reshape(&[count as isize, rows as isize, cols as isize])
            };
            side(self, n, k)?.bmm(&side(other, k, p)?)?
        };
        let strides = contiguous_strides(&out_shape);
        Ok(out.view_with_history(
            out_shape,
            strides,
            Formula::UnsafeView {
                self_sizes: out.shape().to_vec(),
            },
        ))
    }

    /// `torch.bmm(self, mat2)`: (b, n, k) @ (b, k, m), one output. BmmBackward0 saves `mat2`
    /// when `self` needs a gradient and `self` when `mat2` does.
    pub fn bmm(&self, mat2: &Tensor) -> Result<Tensor> {
        if self.dim() != 3 || mat2.dim() != 3 {
            return Err(TensorError::Invalid(format!(
                "batch1 must be a 3D tensor, batch2 must be a 3D tensor (got {}-D and {}-D)",
                self.dim(),
                mat2.dim()
            )));
        }
        let device = same_device(self, mat2)?;
        let (b, n, k) = (self.shape()[0], self.shape()[1], self.shape()[2]);
        let m = mat2.shape()[2];
        if mat2.shape()[0] != b || mat2.shape()[1] != k {
            return Err(TensorError::Invalid(format!(
                "Expected size for first two dimensions of batch2 tensor to be: [{b}, {k}] but got: [{}, {}].",
                mat2.shape()[0],
                mat2.shape()[1]
            )));
        }
        if self.dtype() != mat2.dtype() {
            return Err(TensorError::Invalid(format!(
                "expected scalar type {} but found {}",
                self.dtype().short_name(),
                mat2.dtype().short_name()
            )));
        }
        let out = self.new_like(&[b, n, m], self.dtype(), device)?;
        if out.has_data() {
            for i in 0..b {
                let pick = |t: &Tensor| {
                    let offset = t.0.offset + i * t.strides()[0];
                    t.view_raw(t.shape()[1..].to_vec(), t.strides()[1..].to_vec(), offset)
                };
                let (o, x, y) = (pick(&out), pick(self), pick(mat2));
                if let Some(g) = out.gpu() {
                    gpu::matmul(g, &o, &x, &y, false)?;
                } else if let Some(v) = x.mm_values(&y) {
                    o.write_f32(&v);
                }
            }
        }
        if let Some(mut node) = NodeBuilder::new(&[self, mat2]) {
            if node.needs(1) {
                node.save("self", self);
            }
            if node.needs(0) {
                node.save("mat2", mat2);
            }
            node.finish(Formula::Bmm, &out);
        }
        Ok(out)
    }

    /// `torch.addmm(self, mat1, mat2)`: `self + mat1 @ mat2` in one kernel (what nn.Linear
    /// runs). AddmmBackward0 saves `mat1` when `mat2` needs a gradient and `mat2` when `mat1`
    /// does.
    pub fn addmm(&self, mat1: &Tensor, mat2: &Tensor) -> Result<Tensor> {
        let (beta, alpha) = (1.0, 1.0);
        let device = mat1.check_mm(mat2)?;
        common_device(mat1, self)?;
        let shape = [mat1.shape()[0], mat2.shape()[1]];
        self.check_expand(&shape)?;
        let out = self.new_like(&shape, mat1.dtype(), device)?;
        if device == Device::Cuda {
            // PyTorch's addmm on CUDA takes the cuBLASLt path (a bias epilogue) for a 1-D bias
            // when mat2 has more than one row and column: every nn.Linear with two or more
            // inputs and outputs, a batch of one included (measured on an H200, docs/gpu.md).
            let lt = self.dim() == 1 && mat2.shape().iter().all(|&d| d > 1);
            let call = if lt { BlasCall::GemmLt } else { BlasCall::Gemm };
            mat1.runtime().blas_workspace(call)?;
        }
        if let Some(g) = out.gpu() {
            // As PyTorch's addmm does on CUDA: the bias broadcast into the result, then one
            // GEMM accumulating onto it (beta = 1).
            gpu::copy(g, &out, &self.broadcast_view(&shape))?;
            gpu::matmul(g, &out, mat1, mat2, true)?;
        } else if out.has_data() {
            if let (Some(prod), Some(bias)) =
                (mat1.mm_values(mat2), self.broadcast_view(&shape).read_f32())
            {
                let v: Vec<f32> = prod
                    .iter()
                    .zip(&bias)
                    .map(|(&p, &c)| beta as f32 * c + alpha as f32 * p)
                    .collect();
                out.write_f32(&v);
            }
        }
        if let Some(mut b) = NodeBuilder::new(&[self, mat1, mat2]) {
            if b.needs(2) {
                b.save("mat1", mat1);
            }
            if b.needs(1) {
                b.save("mat2", mat2);
            }
            b.finish(
                Formula::Addmm {
                    beta,
                    alpha,
                    mat1_sizes: matrix_dims(mat1),
                    mat1_strides: matrix_strides(mat1),
                    mat2_sizes: matrix_dims(mat2),
                    mat2_strides: matrix_strides(mat2),
                },
                &out,
            );
        }
        Ok(out)
    }

    // ---- views ------------------------------------------------------------------------------

    /// `tensor.t()`: a transposed view (no copy). TBackward0 saves nothing.
    pub fn t(&self) -> Result<Tensor> {
        if self.dim() > 2 {
            return Err(TensorError::Invalid(format!(
                "t() expects a tensor with <= 2 dimensions, but self is {}D",
                self.dim()
            )));
        }
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        shape.reverse();
        strides.reverse();
        let out = self.view_raw(shape, strides, self.0.offset);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::T, &out);
        }
        Ok(out)
    }

    fn check_expand(&self, sizes: &[usize]) -> Result<()> {
        let mismatch = |i: usize, existing: usize| {
            TensorError::Invalid(format!(
                "The expanded size of the tensor ({}) must match the existing size ({existing}) at non-singleton dimension {i}.  Target sizes: {}.  Tensor sizes: {}",
                sizes[i],
                format_shape(sizes),
                format_shape(self.shape())
            ))
        };
        if sizes.len() < self.dim() {
            return Err(TensorError::Invalid(format!(
                "expand(torch.FloatTensor{{{}}}, size=[{}]): the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({})",
                format_shape(self.shape()),
                sizes.len(),
                sizes.len(),
                self.dim()
            )));
        }
        let lead = sizes.len() - self.dim();
        for (i, &s) in self.shape().iter().enumerate() {
            if s != 1 && s != sizes[lead + i] {
                return Err(mismatch(lead + i, s));
            }
        }
        Ok(())
    }

    /// `tensor.expand(sizes)`: a broadcast view (no copy). ExpandBackward0 sums the gradient
    /// back.
    pub fn expand(&self, sizes: &[usize]) -> Result<Tensor> {
        self.check_expand(sizes)?;
        let out = self.broadcast_view(sizes);
        let out = if out.is_same(self) {
            self.view_raw(
                self.shape().to_vec(),
                self.strides().to_vec(),
                self.0.offset,
            )
        } else {
            out
        };
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Expand {
                    self_sizes: self.shape().to_vec(),
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.unsqueeze(dim)`: a view with a new dimension of size 1.
    pub fn unsqueeze(&self, dim: usize) -> Result<Tensor> {
        if dim > self.dim() {
            return Err(TensorError::Invalid(format!(
                "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
                -(self.dim() as isize) - 1,
                self.dim()
            )));
        }
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        let stride = if dim < self.dim() {
            strides[dim] * shape[dim]
        } else {
            1
        };
        shape.insert(dim, 1);
        strides.insert(dim, stride);
        let out = self.view_raw(shape, strides, self.0.offset);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::Unsqueeze { dim }, &out);
        }
        Ok(out)
    }

    /// Resolves a shape with at most one -1 against this tensor's element count.
    fn infer_shape(&self, shape: &[isize]) -> Result<Vec<usize>> {
        let numel = self.numel();
        let invalid = || {
            let dims: Vec<String> = shape.iter().map(isize::to_string).collect();
            TensorError::Invalid(format!(
                "shape '[{}]' is invalid for input of size {numel}",
                dims.join(", ")
            ))
        };
        let mut inferred = None;
        let mut known = 1usize;
        for (i, &d) in shape.iter().enumerate() {
            if d == -1 {
                if inferred.replace(i).is_some() {
                    return Err(TensorError::Invalid(
                        "only one dimension can be inferred".into(),
                    ));
                }
            } else if d < 0 {
                return Err(TensorError::Invalid(format!("invalid shape dimension {d}")));
            } else {
                known = known.checked_mul(d as usize).ok_or_else(invalid)?;
            }
        }
        let mut out: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        match inferred {
            Some(i) => {
                if known == 0 || numel % known != 0 {
                    return Err(invalid());
                }
                out[i] = numel / known;
            }
            None if known != numel => return Err(invalid()),
            None => {}
        }
        Ok(out)
    }

    /// `tensor.view(shape)` (one dimension may be -1): a view, or PyTorch's error when the
    /// strides do not allow one. ViewBackward0 saves nothing.
    pub fn view(&self, shape: &[isize]) -> Result<Tensor> {
        let shape = self.infer_shape(shape)?;
        let Some(strides) = compute_stride(self.shape(), self.strides(), &shape) else {
            return Err(TensorError::Invalid(
                "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.".into(),
            ));
        };
        Ok(self.view_with_history(
            shape,
            strides,
            Formula::View {
                self_sizes: self.shape().to_vec(),
            },
        ))
    }

    pub(super) fn view_with_history(
        &self,
        shape: Vec<usize>,
        strides: Vec<usize>,
        formula: Formula,
    ) -> Tensor {
        let out = self.view_raw(shape, strides, self.0.offset);
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(formula, &out);
        }
        out
    }

    /// `tensor.reshape(shape)`: a view when the strides allow one, else a contiguous copy
    /// (CloneBackward0, then UnsafeViewBackward0), as `reshape` decides.
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let shape = self.infer_shape(shape)?;
        if let Some(strides) = compute_stride(self.shape(), self.strides(), &shape) {
            return Ok(self.view_with_history(
                shape,
                strides,
                Formula::View {
                    self_sizes: self.shape().to_vec(),
                },
            ));
        }
        let copy = self.clone_tensor()?;
        let strides = contiguous_strides(&shape);
        Ok(copy.view_with_history(
            shape,
            strides,
            Formula::UnsafeView {
                self_sizes: copy.shape().to_vec(),
            },
        ))
    }

    /// `tensor.flatten(start_dim, end_dim)`: `reshape` merging those dimensions.
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Tensor> {
        if self.dim() == 0 {
            return self.reshape(&[1]);
        }
        let start = wrap_dim(start_dim, self.dim())?;
        let end = wrap_dim(end_dim, self.dim())?;
        if start > end {
            return Err(TensorError::Invalid(
                "flatten() has invalid args: start_dim cannot come after end_dim".into(),
            ));
        }
        if start == end {
            return Ok(self.clone());
        }
        let merged: usize = self.shape()[start..=end].iter().product();
        let shape: Vec<isize> = self.shape()[..start]
            .iter()
            .chain(std::iter::once(&merged))
            .chain(&self.shape()[end + 1..])
            .map(|&d| d as isize)
            .collect();
        self.reshape(&shape)
    }

    /// `tensor.transpose(dim0, dim1)`: a view with two dimensions swapped. TransposeBackward0
    /// saves only the two dimensions.
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor> {
        let (a, b) = (wrap_dim(dim0, self.dim())?, wrap_dim(dim1, self.dim())?);
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        if self.dim() > 0 {
            shape.swap(a, b);
            strides.swap(a, b);
        }
        Ok(self.view_with_history(shape, strides, Formula::Transpose { dim0: a, dim1: b }))
    }

    /// `tensor.permute(dims)`: a view with the dimensions reordered. PermuteBackward0 saves
    /// only `dims`.
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        if dims.len() != self.dim() {
            return Err(TensorError::Invalid(format!(
                "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {} is not equal to len(dims) = {}",
                self.dim(),
                dims.len()
            )));
        }
        let order = self.wrap_dims(dims)?;
        if order.len() != self.dim() {
            return Err(TensorError::Invalid(
                "permute(): duplicate dims are not allowed.".into(),
            ));
        }
        let shape = order.iter().map(|&d| self.shape()[d]).collect();
        let strides = order.iter().map(|&d| self.strides()[d]).collect();
        Ok(self.view_with_history(shape, strides, Formula::Permute { dims: order }))
    }

    /// `tensor.squeeze(dim)` (every dimension of size 1 when `dim` is `None`): a view.
    /// SqueezeBackward0/1 keep the input's sizes.
    pub fn squeeze(&self, dim: Option<isize>) -> Result<Tensor> {
        let drop: Vec<bool> = match dim {
            None => self.shape().iter().map(|&s| s == 1).collect(),
            Some(d) => {
                let d = wrap_dim(d, self.dim())?;
                (0..self.dim())
                    .map(|i| i == d && self.shape()[i] == 1)
                    .collect()
            }
        };
        let keep = |i: &usize| !drop[*i];
        let shape = (0..self.dim())
            .filter(keep)
            .map(|i| self.shape()[i])
            .collect();
        let strides = (0..self.dim())
            .filter(keep)
            .map(|i| self.strides()[i])
            .collect();
        Ok(self.view_with_history(
            shape,
            strides,
            Formula::Squeeze {
                self_sizes: self.shape().to_vec(),
                all: dim.is_none(),
            },
        ))
    }

    /// `tensor.contiguous()`: `self` when it already is, else a row-major copy (CloneBackward0,
    /// as `clone(memory_format=contiguous)` records).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.clone_tensor()
    }

    /// Removes dimension `dim` of size 1 (a view; only backward uses it).
    pub(crate) fn squeeze_dim(&self, dim: usize) -> Tensor {
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        if dim < shape.len() && shape[dim] == 1 {
            shape.remove(dim);
            strides.remove(dim);
        }
        self.view_raw(shape, strides, self.0.offset)
    }

    /// `tensor.detach()`: shares storage and version counter, without history.
    pub fn detach(&self) -> Tensor {
        // Planted bug: the "detached" tensor is the tensor itself, with its grad_fn.
        #[cfg(feature = "planted-bugs")]
        if self
            .runtime()
            .planted(crate::base::PlantedBug::DetachKeepsGraph)
        {
            return self.clone();
        }
        self.view_raw(
            self.shape().to_vec(),
            self.strides().to_vec(),
            self.0.offset,
        )
    }

    // ---- activations ------------------------------------------------------------------------

    /// `torch.relu`. ReluBackward0 saves the result.
    pub fn relu(&self) -> Result<Tensor> {
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        if let Some(g) = out.gpu() {
            gpu::unary(g, &out, self, (UnaryCode::Relu, 0.0))?;
        } else {
            out.copy_values_from(self)?;
            if let Some(v) = out.read_f32() {
                out.write_f32(&v.into_iter().map(|x| x.max(0.0)).collect::<Vec<_>>());
            }
        }
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
        if let Some(g) = self.gpu() {
            gpu::unary(g, self, self, (UnaryCode::Relu, 0.0))?;
        } else if let Some(v) = self.read_f32() {
            self.write_f32(&v.into_iter().map(|x| x.max(0.0)).collect::<Vec<_>>());
        }
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
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        if let Some(gpu) = out.gpu() {
            let code = (BinaryCode::ThresholdBackward, threshold as f64);
            gpu::binary(gpu, &out, self, result, DType::F32, code)?;
        } else if let (Some(g), Some(r)) = (self.read_f32(), result.read_f32()) {
            let v: Vec<f32> = g
                .iter()
                .zip(&r)
                .map(|(&g, &r)| if r <= threshold { 0.0 } else { g })
                .collect();
            out.write_f32(&v);
        }
        Ok(out)
    }

    // ---- reductions -------------------------------------------------------------------------

    fn reduce(&self, dims: &[usize], keepdim: bool, mean: bool) -> Result<Tensor> {
        let mut reduce = vec![false; self.dim()];
        for &d in dims {
            reduce[d] = true;
        }
        let shape = reduced_shape(self.shape(), &reduce, keepdim);
        let dtype = if mean || self.dtype() == DType::F32 {
            DType::F32
        } else {
            DType::I64
        };
        let out = self.new_like(&shape, dtype, self.device())?;
        if let Some(g) = out.gpu() {
            gpu::reduce_sum(g, &out, self, &reduce, mean)?;
        } else if out.has_data() {
            let count: usize = self
                .shape()
                .iter()
                .zip(&reduce)
                .filter(|(_, &r)| r)
                .map(|(&s, _)| s)
                .product();
            if dtype == DType::I64 {
                if let Some(x) = self.read_i64() {
                    let (positions, len) = reduce_positions(self.shape(), &reduce);
                    let mut sums = vec![0i64; len];
                    for (&v, &p) in x.iter().zip(&positions) {
                        sums[p] = sums[p].wrapping_add(v);
                    }
                    out.write_i64(&sums);
                }
            } else if let Some(x) = self.read_f32() {
                let (positions, len) = reduce_positions(self.shape(), &reduce);
                let mut sums = vec![0f64; len];
                for (&v, &p) in x.iter().zip(&positions) {
                    sums[p] += v as f64;
                }
                let div = if mean { count as f64 } else { 1.0 };
                out.write_f32(&sums.iter().map(|&s| (s / div) as f32).collect::<Vec<_>>());
            }
        }
        Ok(out)
    }

    fn wrap_dims(&self, dims: &[isize]) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        for &d in dims {
            let w = wrap_dim(d, self.dim())?;
            if self.dim() == 0 {
                continue;
            }
            if out.contains(&w) {
                return Err(TensorError::Invalid(format!(
                    "dim {w} appears multiple times in the list of dims"
                )));
            }
            out.push(w);
        }
        Ok(out)
    }

    /// `tensor.sum()`: a 0-dim tensor. SumBackward0 saves only the input's sizes.
    pub fn sum(&self) -> Result<Tensor> {
        let all: Vec<usize> = (0..self.dim()).collect();
        let out = self.reduce(&all, false, false)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Sum {
                    self_sizes: self.shape().to_vec(),
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.sum(dims, keepdim)`.
    pub fn sum_dim(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let dims = self.wrap_dims(dims)?;
        let out = self.reduce(&dims, keepdim, false)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::SumDim {
                    self_sizes: self.shape().to_vec(),
                    dims,
                    keepdim,
                },
                &out,
            );
        }
        Ok(out)
    }

    fn check_mean(&self) -> Result<()> {
        if self.dtype() != DType::F32 {
            return Err(TensorError::Invalid(format!(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
                self.dtype().short_name()
            )));
        }
        Ok(())
    }

    /// `tensor.mean()`.
    pub fn mean(&self) -> Result<Tensor> {
        self.check_mean()?;
        let all: Vec<usize> = (0..self.dim()).collect();
        let out = self.reduce(&all, false, true)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(
                Formula::Mean {
                    self_sizes: self.shape().to_vec(),
                    numel: self.numel(),
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.mean(dims, keepdim)`.
    pub fn mean_dim(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.check_mean()?;
        let dims = self.wrap_dims(dims)?;
        let out = self.reduce(&dims, keepdim, true)?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            let count = dims.iter().map(|&d| self.shape()[d]).product();
            b.finish(
                Formula::MeanDim {
                    self_sizes: self.shape().to_vec(),
                    dims,
                    keepdim,
                    count,
                },
                &out,
            );
        }
        Ok(out)
    }

    /// `at::sum_to`: sums a gradient down to `shape` (leading dimensions and dimensions of size
    /// 1), one allocation.
    pub(crate) fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let lead = self.dim() - shape.len();
        let reduce: Vec<usize> = (0..self.dim())
            .filter(|&d| d < lead || (shape[d - lead] == 1 && self.shape()[d] != 1))
            .collect();
        let summed = self.reduce(&reduce, true, false)?;
        Ok(summed.view_raw(shape.to_vec(), contiguous_strides(shape), 0))
    }

    /// `tensor.argmax(dim, keepdim)`: int64 indices of the first maximum.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme(dim, keepdim, false)
    }

    /// `tensor.argmin(dim, keepdim)`: int64 indices of the first minimum; not differentiable.
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme(dim, keepdim, true)
    }

    fn arg_extreme(&self, dim: isize, keepdim: bool, is_min: bool) -> Result<Tensor> {
        let name = if is_min { "argmin" } else { "argmax" };
        let d = wrap_dim(dim, self.dim())?;
        if self.dim() == 0 {
            let out = self.new_like(&[], DType::I64, self.device())?;
            out.fill_values(Scalar::Int(0))?;
            return Ok(out);
        }
        if self.shape()[d] == 0 {
            return Err(TensorError::Invalid(format!(
                "{name}(): Expected reduction dim {d} to have non-zero size."
            )));
        }
        let mut reduce = vec![false; self.dim()];
        reduce[d] = true;
        let shape = reduced_shape(self.shape(), &reduce, keepdim);
        let out = self.new_like(&shape, DType::I64, self.device())?;
        if let Some(g) = out.gpu() {
            gpu::argmax(g, &out, self, d, is_min)?;
        } else if let Some(x) = self.read_f32() {
            let size = self.shape()[d];
            let inner: usize = self.shape()[d + 1..].iter().product();
            let outer: usize = self.shape()[..d].iter().product();
            let mut idx = Vec::with_capacity(outer * inner);
            for o in 0..outer {
                for i in 0..inner {
                    let mut best = 0;
                    for k in 1..size {
                        let v = x[(o * size + k) * inner + i];
                        let b = x[(o * size + best) * inner + i];
                        if (is_min && v < b) || (!is_min && v > b) {
                            best = k;
                        }
                    }
                    idx.push(best as i64);
                }
            }
            out.write_i64(&idx);
        }
        Ok(out)
    }

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
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
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
    pub(super) fn begin_inplace(&self, inputs: &[&Tensor]) -> Result<Option<NodeBuilder>> {
        let rt = self.runtime();
        if rt.is_grad_enabled() && self.is_leaf() && self.requires_grad() {
            return Err(TensorError::InplaceOnLeaf);
        }
        let builder = NodeBuilder::new(inputs);
        if builder.is_some() && self.0.is_view {
            return Err(TensorError::Unsupported(
                "in-place operations on views of tensors that require grad (PyTorch's CopySlices); apply the operation to the base tensor".into(),
            ));
        }
        Ok(builder)
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
        let compute = promote(self.dtype(), other.dtype());
        if compute == DType::F32 && self.dtype() != DType::F32 {
            return Err(TensorError::Invalid(format!(
                "result type Float can't be cast to the desired output type {}",
                self.dtype().short_name()
            )));
        }
        Ok((compute, shape))
    }

    pub(super) fn inplace_binary(&self, other: &Tensor, op: Bin) -> Result<()> {
        let (compute, shape) = self.check_inplace_operand(other)?;
        let b = other.broadcast_view(&shape);
        if let Some(g) = self.gpu() {
            gpu::binary(g, self, self, &b, compute, op.gpu_code())?;
        } else if compute == DType::F32 {
            if let (Some(x), Some(y)) = (self.read_f32(), b.read_f32()) {
                let v: Vec<f32> = x.iter().zip(&y).map(|(&p, &q)| op.f32(p, q)).collect();
                self.write_f32(&v);
            }
        } else if let (Some(x), Some(y)) = (self.read_i64(), b.read_i64()) {
            let v: Vec<i64> = x.iter().zip(&y).map(|(&p, &q)| op.i64(p, q)).collect();
            self.write_i64(&v);
        }
        self.bump_version();
        Ok(())
    }

    pub(super) fn inplace_scalar(&self, s: Scalar, op: Bin) -> Result<()> {
        let (compute, _) = self.scalar_result_type(s, op);
        if compute == DType::F32 && self.dtype() != DType::F32 {
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
        let builder = self.begin_inplace(&[self, other])?;
        self.inplace_binary(other, Bin::Sub(1.0))?;
        if let Some(b) = builder {
            b.finish(Formula::Sub { alpha: 1.0 }, self);
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

    /// `tensor.mul_(other)`.
    pub fn mul_(&self, other: &Tensor) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self, other])?;
        if let Some(b) = &builder {
            if b.needs(1) {
                return Err(TensorError::Unsupported(
                    "mul_ with a multiplier that requires grad (PyTorch saves a copy of the original self); use `a = a * b`".into(),
                ));
            }
        }
        let saved_other = builder.as_ref().map(|_| other.clone());
        self.inplace_binary(other, Bin::Mul)?;
        if let (Some(mut b), Some(o)) = (builder, saved_other) {
            b.save("other", &o);
            b.finish(Formula::Mul, self);
        }
        Ok(self.clone())
    }

    /// `tensor.mul_(s)`.
    pub fn mul_scalar_(&self, s: impl Into<Scalar>) -> Result<Tensor> {
        let s = s.into();
        let builder = self.begin_inplace(&[self])?;
        self.inplace_scalar(s, Bin::Mul)?;
        if let Some(b) = builder {
            b.finish(Formula::MulScalar { other: s.as_f64() }, self);
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

    /// `tensor.clamp_(min, max)` for code that runs under no_grad (clip_grad_value_): in place,
    /// no allocation.
    pub(crate) fn clamp_(&self, min: Scalar, max: Scalar) -> Result<()> {
        self.check_no_graph(&[self], "clamp_")?;
        self.inplace_scalar(min, Bin::Max)?;
        self.inplace_scalar(max, Bin::Min)
    }

    /// `self.lerp_(end, weight)`: `self += weight * (end - self)`.
    pub(crate) fn lerp_(&self, end: &Tensor, weight: f64) -> Result<()> {
        self.check_no_graph(&[self, end], "lerp_")?;
        same_device(self, end)?;
        if let Some(g) = self.gpu() {
            gpu::binary(g, self, self, end, DType::F32, (BinaryCode::Lerp, weight))?;
        } else if let (Some(a), Some(b)) = (self.read_f32(), end.read_f32()) {
            let w = weight as f32;
            self.write_f32(
                &a.iter()
                    .zip(&b)
                    .map(|(&a, &b)| a + w * (b - a))
                    .collect::<Vec<_>>(),
            );
        }
        self.bump_version();
        Ok(())
    }

    /// `self.addcmul_(t1, t2, value)`: `self += value * t1 * t2`.
    pub(crate) fn addcmul_(&self, t1: &Tensor, t2: &Tensor, value: f64) -> Result<()> {
        self.addc(
            t1,
            t2,
            value,
            TernaryCode::AddcMul,
            |a, b| a * b,
            "addcmul_",
        )
    }

    /// `self.addcdiv_(t1, t2, value)`: `self += value * t1 / t2`.
    pub(crate) fn addcdiv_(&self, t1: &Tensor, t2: &Tensor, value: f64) -> Result<()> {
        self.addc(
            t1,
            t2,
            value,
            TernaryCode::AddcDiv,
            |a, b| a / b,
            "addcdiv_",
        )
    }

    fn addc(
        &self,
        t1: &Tensor,
        t2: &Tensor,
        value: f64,
        gpu_op: TernaryCode,
        f: impl Fn(f32, f32) -> f32,
        op: &str,
    ) -> Result<()> {
        self.check_no_graph(&[self, t1, t2], op)?;
        same_device(self, t1)?;
        same_device(self, t2)?;
        if let Some(g) = self.gpu() {
            gpu::ternary(g, self, [self, t1, t2], gpu_op, value)?;
        } else if let (Some(s), Some(a), Some(b)) = (self.read_f32(), t1.read_f32(), t2.read_f32())
        {
            let v = value as f32;
            let out: Vec<f32> = s
                .iter()
                .zip(a.iter().zip(&b))
                .map(|(&s, (&a, &b))| s + v * f(a, b))
                .collect();
            self.write_f32(&out);
        }
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
    fn views_exist_where_aten_finds_strides() {
        assert_eq!(compute_stride(&[2, 3], &[3, 1], &[6]), Some(vec![1]));
        assert_eq!(compute_stride(&[2, 3], &[3, 1], &[3, 2]), Some(vec![2, 1]));
        // A transpose cannot be flattened without a copy.
        assert_eq!(compute_stride(&[3, 2], &[1, 3], &[6]), None);
        // An expanded gradient keeps its zero strides.
        assert_eq!(compute_stride(&[6], &[0], &[2, 3]), Some(vec![0, 0]));
        assert_eq!(compute_stride(&[], &[], &[1, 1]), Some(vec![1, 1]));
    }

    #[test]
    fn promotion_prefers_float_then_int() {
        assert_eq!(promote(DType::Bool, DType::I64), DType::I64);
        assert_eq!(promote(DType::I64, DType::F32), DType::F32);
        assert_eq!(promote(DType::Bool, DType::Bool), DType::Bool);
    }
}
