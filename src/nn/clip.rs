//! `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`, with the tensors PyTorch's
//! `torch/nn/utils/clip_grad.py` makes on the foreach path it takes for CUDA gradients.

use crate::tensor::{DType, Result, Tensor};

/// Elements per chunk of CUDA's `multi_tensor_apply` (`kChunkSize`), which sizes
/// `_foreach_norm`'s per-chunk scratch buffer.
const FOREACH_CHUNK: usize = 65536;

/// `clip_grad_norm_(parameters, max_norm)` (the 2-norm): scales every gradient in place by
/// `min(max_norm / (total_norm + 1e-6), 1)` and returns the total norm, a 0-dim tensor.
///
/// What it allocates, in PyTorch's order (measured on 2.11 CUDA with the memory history, see
/// docs/fidelity.md): `_foreach_norm`'s scratch of one float per chunk of each gradient, one
/// 0-dim norm per gradient, the scratch freed; their `stack`, the total norm, the stack and the
/// per-gradient norms freed; `total + 1e-6`, its reciprocal and `max_norm * that` (`float /
/// Tensor` is `reciprocal() * float`), the first two freed; the `clamp(max=1.0)`; the gradients
/// multiplied in place; only the total norm stays. With no gradient at all it returns a host
/// 0-dim zero, as `torch.tensor(0.0)`.
pub fn clip_grad_norm_(params: &[Tensor], max_norm: f64) -> Result<Tensor> {
    let Some(first) = params.first() else {
        return Err(crate::tensor::TensorError::Invalid(
            "clip_grad_norm_() got an empty parameter list".into(),
        ));
    };
    let rt = first.runtime().clone();
    let _no_grad = rt.no_grad();
    let grads: Vec<Tensor> = params.iter().filter_map(Tensor::grad).collect();
    if grads.is_empty() {
        return rt.tensor(&[0.0], &[], crate::tensor::Device::Cpu);
    }
    let total = {
        let chunks = grads
            .iter()
            .map(|g| g.numel().div_ceil(FOREACH_CHUNK))
            .max()
            .unwrap_or(0);
        let scratch = Tensor::empty_on(&rt, &[grads.len() * chunks], DType::F32, first.device())?;
        let norms = grads
            .iter()
            .map(Tensor::norm2_all)
            .collect::<Result<Vec<_>>>()?;
        drop(scratch);
        Tensor::stack(&norms, 0)?.norm2_all()?
    };
    let coef = {
        let denom = total.add_scalar(1e-6)?;
        denom.pow(-1.0)?.mul_scalar(max_norm)?
    };
    let clamped = coef.clamp_max_scalar(1.0)?;
    for g in &grads {
        g.mul_(&clamped)?;
    }
    // Python clears the frame's locals in the order they were bound.
    drop(coef);
    drop(clamped);
    Ok(total)
}

/// `clip_grad_value_(parameters, clip_value)`: clamps every gradient to
/// `[-clip_value, clip_value]` in place (`_foreach_clamp_min_`, `_foreach_clamp_max_`): no
/// allocation.
pub fn clip_grad_value_(params: &[Tensor], clip_value: f64) -> Result<()> {
    let Some(first) = params.first() else {
        return Ok(());
    };
    let _no_grad = first.runtime().no_grad();
    for g in params.iter().filter_map(Tensor::grad) {
        // Two in-place passes, two version bumps, as the two foreach calls make.
        g.clamp_(Some(-clip_value), None)?;
        g.clamp_(None, Some(clip_value))?;
    }
    Ok(())
}
