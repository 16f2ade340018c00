//! Matrix products: `mm`, `matmul` as ATen decomposes it, `bmm`, `addmm`.

use super::ops::{common_device, same_device};
use super::{contiguous_strides, format_shape, Device, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::runtime::BlasCall;

fn matrix_dims(t: &Tensor) -> [usize; 2] {
    [t.shape()[0], t.shape()[1]]
}

fn matrix_strides(t: &Tensor) -> [usize; 2] {
    [t.strides()[0], t.strides()[1]]
}

impl Tensor {
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

    /// `torch.mm`. MmBackward0 saves `self` when `mat2` needs a gradient and `mat2` when
    /// `self` does.
    pub fn mm(&self, mat2: &Tensor) -> Result<Tensor> {
        if let Some(c) =
            Tensor::autocast(super::autocast::AutocastOp::Mm, &[Some(self), Some(mat2)])?
        {
            return c.arg(0).mm(c.arg(1));
        }
        let device = self.check_mm(mat2)?;
        let shape = [self.shape()[0], mat2.shape()[1]];
        let out = self.new_like(&shape, self.dtype(), device)?;
        if device == Device::Cuda {
            self.runtime().blas_workspace(BlasCall::Gemm)?;
        }
        let (k, cx) = out.kernels();
        k.matmul(cx, &out.buf(), [&self.buf(), &mat2.buf()], false)?;
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
        if let Some(c) = Tensor::autocast(
            super::autocast::AutocastOp::Matmul,
            &[Some(self), Some(other)],
        )? {
            return c.arg(0).matmul(c.arg(1));
        }
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
        if let Some(c) =
            Tensor::autocast(super::autocast::AutocastOp::Bmm, &[Some(self), Some(mat2)])?
        {
            return c.arg(0).bmm(c.arg(1));
        }
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
        let (kernels, cx) = out.kernels();
        for i in 0..b {
            let pick = |t: &Tensor| {
                let offset = t.0.offset + i * t.strides()[0];
                t.view_raw(t.shape()[1..].to_vec(), t.strides()[1..].to_vec(), offset)
            };
            let (o, x, y) = (pick(&out), pick(self), pick(mat2));
            kernels.matmul(cx, &o.buf(), [&x.buf(), &y.buf()], false)?;
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
        let args = [Some(self), Some(mat1), Some(mat2)];
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Addmm, &args)? {
            return c.arg(0).addmm(c.arg(1), c.arg(2));
        }
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
        // As PyTorch's addmm does on CUDA: the bias broadcast into the result, then one
        // product accumulating onto it (beta = 1).
        let (k, cx) = out.kernels();
        k.copy(cx, &out.buf(), &self.broadcast_view(&shape).buf())?;
        k.matmul(cx, &out.buf(), [&mat1.buf(), &mat2.buf()], true)?;
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
}
