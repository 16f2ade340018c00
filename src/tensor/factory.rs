//! Tensor factories (`torch.randn`, `torch.zeros`, ...). Their device memory is tagged as the
//! user's own tensors.

use super::kernel::{Bin, Draw};
use super::{DType, Device, Result, Scalar, Tensor, TensorError};
use crate::alloc::Purpose;
use crate::runtime::Runtime;

impl Runtime {
    fn user_tensor(&self, shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        Tensor::empty_for(self, shape, dtype, device, Purpose::UserTensor)
    }

    /// `torch.empty(shape, dtype=dtype, device=device)`: values are whatever the memory holds
    /// (zeros on the host).
    pub fn empty(&self, shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        self.user_tensor(shape, dtype, device)
    }

    /// `torch.zeros(shape, dtype=dtype, device=device)`.
    pub fn zeros(&self, shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        let t = self.user_tensor(shape, dtype, device)?;
        t.fill_values(Scalar::Float(0.0))?;
        Ok(t)
    }

    /// `torch.ones(shape, dtype=dtype, device=device)`.
    pub fn ones(&self, shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        let t = self.user_tensor(shape, dtype, device)?;
        t.fill_values(Scalar::Float(1.0))?;
        Ok(t)
    }

    /// `torch.randn(shape, device=device)`: float32 standard normal from the device's
    /// generator (see [`Runtime::manual_seed`]).
    pub fn randn(&self, shape: &[usize], device: Device) -> Result<Tensor> {
        self.randn_of(shape, DType::F32, device)
    }

    /// `torch.randn(shape, dtype=dtype, device=device)` for a float `dtype`: the draws are
    /// rounded to it as they are stored.
    pub fn randn_of(&self, shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        let t = self.user_tensor(shape, dtype, device)?;
        let mut stream = self.random_stream(device, t.numel().next_multiple_of(2));
        let (k, cx) = t.kernels();
        k.random(cx, &t.buf(), Draw::Normal, &mut stream)?;
        Ok(t)
    }

    /// `torch.rand(shape, device=device)`: float32 uniform in [0, 1).
    pub fn rand(&self, shape: &[usize], device: Device) -> Result<Tensor> {
        self.rand_of(shape, DType::F32, device)
    }

    /// `torch.rand(shape, dtype=dtype, device=device)` for a float `dtype`.
    pub fn rand_of(&self, shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        let t = self.user_tensor(shape, dtype, device)?;
        let mut stream = self.random_stream(device, t.numel());
        let (k, cx) = t.kernels();
        k.random(cx, &t.buf(), Draw::Uniform, &mut stream)?;
        Ok(t)
    }

    /// `torch.randint(low, high, shape, device=device)`: int64 uniform in [low, high).
    pub fn randint(&self, low: i64, high: i64, shape: &[usize], device: Device) -> Result<Tensor> {
        self.randint_of(low, high, shape, DType::I64, device)
    }

    /// `torch.randint(low, high, shape, dtype=dtype)`: the same draws as
    /// [`randint`](Self::randint), stored as `dtype`.
    pub fn randint_of(
        &self,
        low: i64,
        high: i64,
        shape: &[usize],
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        if high <= low {
            return Err(TensorError::Invalid(format!(
                "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
            )));
        }
        let t = self.user_tensor(shape, dtype, device)?;
        let mut stream = self.random_stream(device, t.numel());
        let span = high.wrapping_sub(low) as u64;
        let (k, cx) = t.kernels();
        k.random(cx, &t.buf(), Draw::Int(low, span), &mut stream)?;
        Ok(t)
    }

    /// `torch.tensor(data, device=device)` for float data of `shape`.
    pub fn tensor(&self, data: &[f32], shape: &[usize], device: Device) -> Result<Tensor> {
        self.tensor_of(data, shape, DType::F32, device)
    }

    /// `torch.tensor(data, dtype=dtype, device=device)` for float data of `shape`, rounded to
    /// the float `dtype` as it is stored.
    pub fn tensor_of(
        &self,
        data: &[f32],
        shape: &[usize],
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        self.check_len(data.len(), shape)?;
        let t = self.user_tensor(shape, dtype, device)?;
        t.write_f32(data);
        Ok(t)
    }

    /// `torch.tensor(data, dtype=dtype, device=device)` for Python floats of `shape`, each
    /// rounded once to the float `dtype` as it is stored (kept exactly by float64).
    pub fn tensor_f64(
        &self,
        data: &[f64],
        shape: &[usize],
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        self.check_len(data.len(), shape)?;
        let t = self.user_tensor(shape, dtype, device)?;
        t.write_f64(data);
        Ok(t)
    }

    /// `torch.tensor(data, device=device)` for int64 data of `shape`.
    pub fn tensor_i64(&self, data: &[i64], shape: &[usize], device: Device) -> Result<Tensor> {
        self.check_len(data.len(), shape)?;
        let t = self.user_tensor(shape, DType::I64, device)?;
        t.write_i64(data);
        Ok(t)
    }

    fn check_len(&self, len: usize, shape: &[usize]) -> Result<()> {
        let numel = super::checked_numel(shape)?;
        if len != numel {
            return Err(TensorError::Invalid(format!(
                "shape '{}' is invalid for input of size {len}",
                super::format_shape(shape)
            )));
        }
        Ok(())
    }

    /// `tensor.normal_(mean, std)` in place: standard normal draws from this runtime's
    /// generator, scaled and shifted where they lie (no allocation, as ATen's `normal_`).
    pub(crate) fn normal_(&self, t: &Tensor, mean: f64, std: f64) -> Result<()> {
        let mut stream = self.random_stream(t.device(), t.numel());
        let (k, cx) = t.kernels();
        k.random(cx, &t.buf(), Draw::Normal, &mut stream)?;
        for (s, op) in [(std, Bin::Mul), (mean, Bin::Add(1.0))] {
            let s = Scalar::Float(s);
            let compute = t.scalar_result_type(s, op).0;
            t.scalar_kernel(s, op, compute, t)?;
        }
        t.bump_version();
        Ok(())
    }

    /// Fills a float tensor with U(low, high) in place from its device's generator
    /// (`tensor.uniform_`), as nn's initializers do. Leaves it at the next version.
    pub(crate) fn uniform_(&self, t: &Tensor, low: f64, high: f64) -> Result<()> {
        let mut stream = self.random_stream(t.device(), t.numel());
        let (k, cx) = t.kernels();
        k.random(cx, &t.buf(), Draw::Scaled(low, high), &mut stream)?;
        t.bump_version();
        Ok(())
    }
}
