//! 1-D pooling as ATen composes it (aten/src/ATen/native/Pooling.cpp,
//! AdaptiveAveragePooling.cpp): the `(N, C, L)` or `(C, L)` input unsqueezed at -2, pooled in
//! 2-D with a window of height 1, and the result squeezed at -2. The graph is PyTorch's:
//! SqueezeBackward1 over the 2-D node over UnsqueezeBackward0, and the 2-D pooling allocates
//! what it does for 2-D input (max pooling: the output, then the indices its node keeps).

use super::pool::{output_size, PoolOptions};
use super::{format_shape, Result, Tensor, TensorError};

impl PoolOptions {
    /// The 2-D options ATen's 1-D pooling passes on: `kernel`, `stride` (the kernel when
    /// `None`), `padding` and `dilation` along the length, 1 (and no padding) across.
    pub fn one_d(
        kernel: usize,
        stride: Option<usize>,
        padding: usize,
        dilation: usize,
        ceil_mode: bool,
    ) -> PoolOptions {
        PoolOptions {
            kernel: [1, kernel],
            stride: stride.map(|s| [1, s]),
            padding: [0, padding],
            dilation: [1, dilation],
            ceil_mode,
        }
    }
}

impl Tensor {
    /// `F.max_pool1d(self, kernel_size, stride, padding, dilation, ceil_mode)` with the options
    /// of [`PoolOptions::one_d`].
    pub fn max_pool1d(&self, options: &PoolOptions) -> Result<Tensor> {
        if !(2..=3).contains(&self.dim()) {
            return Err(TensorError::Invalid(format!(
                "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but got:{}",
                format_shape(self.shape())
            )));
        }
        let length = self.shape()[self.dim() - 1];
        let stride = options.stride.unwrap_or(options.kernel);
        let out = output_size(
            length,
            options.kernel[1],
            options.padding[1],
            stride[1].max(1),
            options.dilation[1],
            options.ceil_mode,
        );
        if options.kernel[1] > 0 && out < 1 {
            return Err(TensorError::Invalid(format!(
                "max_pool1d() Invalid computed output size: {out}"
            )));
        }
        self.pooled_as_2d(|x| x.max_pool2d(options))
    }

    /// `F.avg_pool1d(self, kernel_size, stride, padding, ceil_mode, count_include_pad)`.
    pub fn avg_pool1d(&self, options: &PoolOptions, count_include_pad: bool) -> Result<Tensor> {
        self.check_pool1d_input("avg_pool1d")?;
        self.pooled_as_2d(|x| x.avg_pool2d(options, count_include_pad, None))
    }

    /// `F.adaptive_avg_pool1d(self, output_size)`.
    pub fn adaptive_avg_pool1d(&self, output_size: usize) -> Result<Tensor> {
        self.check_pool1d_input("adaptive_avg_pool1d")?;
        self.pooled_as_2d(|x| x.adaptive_avg_pool2d([1, output_size]))
    }

    /// ATen's `checkDimRange(..., 2, 4, ...)` of a 1-D pooling's input.
    fn check_pool1d_input(&self, op: &str) -> Result<()> {
        if (2..=3).contains(&self.dim()) {
            return Ok(());
        }
        Err(TensorError::Invalid(format!(
            "Expected 2 to 3 dimensions, but got {}-dimensional tensor for argument #1 'self' (while checking arguments for {op})",
            self.dim()
        )))
    }

    /// `pool(self.unsqueeze(-2)).squeeze(-2)`.
    fn pooled_as_2d(&self, pool: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
        let x = self.unsqueeze(self.dim() - 1)?;
        pool(&x)?.squeeze(Some(-2))
    }
}
