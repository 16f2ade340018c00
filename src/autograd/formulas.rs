//! Backward formulas, one per PyTorch node class, written with the same tensor operations the
//! generated code in `torch/csrc/autograd/generated/Functions.cpp` calls, so that backward
//! allocates what PyTorch's backward allocates. Each formula computes a gradient only for the
//! inputs that need one.

use super::Node;
use crate::base::{DType, Device, Result};
use crate::tensor::{
    Extremum, FusedCell, Keeps, LayerNode, Pointwise, Reduction, RoundingMode, StatNode, Tensor,
};

/// A node's backward function and the non-tensor values it keeps (scalars, sizes, strides).
#[derive(Debug, Clone)]
pub(crate) enum Formula {
    Add {
        alpha: f64,
    },
    AddScalar,
    Sub {
        alpha: f64,
    },
    SubScalar,
    /// `number - tensor` (`rsub.Scalar`: Python's `__rsub__` runs it, since `rsub` is not
    /// among the ops whose Tensor parameters take numbers).
    RsubScalar,
    Mul,
    MulScalar {
        other: f64,
    },
    /// `tensor * number` called from ATen's C++ (the math attention's scalings): MulBackward1
    /// whatever the engine's naming of Python numbers.
    MulScalarAten {
        other: f64,
    },
    Div,
    DivScalar {
        other: f64,
    },
    /// `tensor / number` called from ATen's C++ (the backward formulas): DivBackward1
    /// whatever the engine's naming of Python numbers.
    DivScalarAten {
        other: f64,
    },
    /// `div(other, rounding_mode=mode)`; `number` is a number divisor's value.
    DivMode {
        mode: Option<RoundingMode>,
        number: Option<f64>,
    },
    Pow {
        exponent: f64,
    },
    Neg,
    Mm {
        self_sizes: [usize; 2],
        self_strides: [usize; 2],
        mat2_sizes: [usize; 2],
        mat2_strides: [usize; 2],
    },
    Addmm {
        beta: f64,
        alpha: f64,
        mat1_sizes: [usize; 2],
        mat1_strides: [usize; 2],
        mat2_sizes: [usize; 2],
        mat2_strides: [usize; 2],
    },
    Bmm,
    /// `baddbmm(self, batch1, batch2)` with `beta = alpha = 1`.
    Baddbmm,
    T,
    Transpose {
        dim0: usize,
        dim1: usize,
    },
    Permute {
        dims: Vec<usize>,
    },
    Squeeze {
        self_sizes: Vec<usize>,
        /// `squeeze()` of every dimension (SqueezeBackward0) rather than one (SqueezeBackward1).
        all: bool,
    },
    Expand {
        self_sizes: Vec<usize>,
    },
    Cat {
        dim: usize,
        /// Each input's size along `dim`.
        sizes: Vec<usize>,
    },
    Stack {
        dim: usize,
    },
    Slice {
        self_sizes: Vec<usize>,
        dim: usize,
        start: usize,
        end: usize,
        step: usize,
    },
    Alias,
    /// The history of a view after an in-place operation on it (`copy_slices.rs`).
    AsStrided(super::copy_slices::AsStrided),
    Select {
        self_sizes: Vec<usize>,
        dim: usize,
        index: usize,
    },
    SelectExtreme {
        self_sizes: Vec<usize>,
        dim: usize,
        keepdim: bool,
        is_min: bool,
    },
    Unsqueeze {
        dim: usize,
    },
    View {
        self_sizes: Vec<usize>,
    },
    UnsafeView {
        self_sizes: Vec<usize>,
    },
    Relu,
    /// A differentiable element-wise function declared in `src/tensor/pointwise.rs`.
    Pointwise(Pointwise),
    Sum {
        self_sizes: Vec<usize>,
    },
    SumDim {
        self_sizes: Vec<usize>,
        dims: Vec<usize>,
        keepdim: bool,
    },
    /// `var`, `std`, `linalg.vector_norm` (13K).
    Statistic(StatNode),
    Mean {
        self_sizes: Vec<usize>,
        numel: usize,
    },
    MeanDim {
        self_sizes: Vec<usize>,
        dims: Vec<usize>,
        keepdim: bool,
        count: usize,
    },
    Clone,
    ToCopy {
        dtype: DType,
        device: Device,
    },
    Zero,
    Fill,
    /// `self.copy_(src)` into a tensor that needs no gradient (inputs `self`, `src`): what
    /// AccumulateGrad records when it copies a first gradient under create_graph.
    Copy,
    MseLoss {
        reduction: Reduction,
    },
    SmoothL1Loss {
        reduction: Reduction,
        beta: f64,
    },
    LogSoftmax {
        dim: usize,
        /// The forward input's dtype, the gradient's (float16 after `half_to_float`).
        input_dtype: DType,
    },
    Softmax {
        dim: usize,
        input_dtype: DType,
    },
    /// `_safe_softmax` (the math attention's): a softmax whose all-masked rows are zero.
    SafeSoftmax {
        dim: usize,
        input_dtype: DType,
    },
    NativeDropout {
        scale: f32,
    },
    NativeLayerNorm {
        /// How many trailing dimensions are normalized.
        normalized: usize,
        has_weight: bool,
        has_bias: bool,
    },
    NllLoss {
        reduction: Reduction,
        ignore_index: i64,
    },
    /// `clamp` with numbers (the Scalar overload, ClampBackward1).
    Clamp {
        min: Option<f64>,
        max: Option<f64>,
    },
    ClampMin {
        min: f64,
    },
    ClampMax {
        max: f64,
    },
    /// `maximum` / `minimum` of two tensors.
    Extremum(Extremum),
    /// `where(condition, self, other)`; the condition is saved, not an input.
    Where,
    /// A layer operation (convolution, pooling, batch norm, embedding, leaky_relu, elu),
    /// whose node name and backward are declared next to its forward in `src/tensor/`.
    Layer(LayerNode),
    /// `split`, `split_with_sizes`, `unbind` and their `unsafe_` forms: one node with an
    /// output per piece (`src/tensor/split.rs`).
    Split(crate::tensor::Split),
}

impl Formula {
    /// The name PyTorch gives the node when the operation is called from Python, where a
    /// number operand is wrapped in a 0-dim tensor and the tensor overload runs.
    pub(crate) fn python_name(&self) -> &'static str {
        match self {
            Formula::AddScalar => "AddBackward0",
            Formula::SubScalar => "SubBackward0",
            Formula::MulScalar { .. } => "MulBackward0",
            Formula::DivScalar { .. } => "DivBackward0",
            Formula::DivMode { .. } => "DivBackward2",
            other => other.name(),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Formula::Add { .. } => "AddBackward0",
            Formula::AddScalar => "AddBackward1",
            Formula::Sub { .. } => "SubBackward0",
            Formula::SubScalar => "SubBackward1",
            Formula::RsubScalar => "RsubBackward1",
            Formula::Mul => "MulBackward0",
            Formula::MulScalar { .. } | Formula::MulScalarAten { .. } => "MulBackward1",
            Formula::Div => "DivBackward0",
            Formula::DivScalar { .. } | Formula::DivScalarAten { .. } => "DivBackward1",
            Formula::DivMode { number: None, .. } => "DivBackward2",
            Formula::DivMode { .. } => "DivBackward3",
            Formula::Pow { .. } => "PowBackward0",
            Formula::Neg => "NegBackward0",
            Formula::Mm { .. } => "MmBackward0",
            Formula::Addmm { .. } => "AddmmBackward0",
            Formula::Bmm => "BmmBackward0",
            Formula::Baddbmm => "BaddbmmBackward0",
            Formula::T => "TBackward0",
            Formula::Transpose { .. } => "TransposeBackward0",
            Formula::Permute { .. } => "PermuteBackward0",
            Formula::Squeeze { all: true, .. } => "SqueezeBackward0",
            Formula::Squeeze { all: false, .. } => "SqueezeBackward1",
            Formula::Expand { .. } => "ExpandBackward0",
            Formula::Cat { .. } => "CatBackward0",
            Formula::Stack { .. } => "StackBackward0",
            Formula::Slice { .. } => "SliceBackward0",
            Formula::Alias => "AliasBackward0",
            Formula::AsStrided(_) => "AsStridedBackward0",
            Formula::Select { .. } => "SelectBackward0",
            Formula::SelectExtreme { is_min: false, .. } => "MaxBackward0",
            Formula::SelectExtreme { is_min: true, .. } => "MinBackward0",
            Formula::Unsqueeze { .. } => "UnsqueezeBackward0",
            Formula::View { .. } => "ViewBackward0",
            Formula::UnsafeView { .. } => "UnsafeViewBackward0",
            Formula::Relu => "ReluBackward0",
            Formula::Pointwise(f) => f.node_name(),
            Formula::Sum { .. } => "SumBackward0",
            Formula::SumDim { .. } => "SumBackward1",
            Formula::Statistic(node) => node.name(),
            Formula::Mean { .. } => "MeanBackward0",
            Formula::MeanDim { .. } => "MeanBackward1",
            Formula::Clone => "CloneBackward0",
            Formula::ToCopy { .. } => "ToCopyBackward0",
            Formula::Zero => "ZeroBackward0",
            Formula::Fill => "FillBackward0",
            Formula::Copy => "CopyBackwards",
            Formula::MseLoss { .. } => "MseLossBackward0",
            Formula::SmoothL1Loss { .. } => "SmoothL1LossBackward0",
            Formula::LogSoftmax { .. } => "LogSoftmaxBackward0",
            Formula::Softmax { .. } => "SoftmaxBackward0",
            Formula::SafeSoftmax { .. } => "SafeSoftmaxBackward0",
            Formula::NativeDropout { .. } => "NativeDropoutBackward0",
            Formula::NativeLayerNorm { .. } => "NativeLayerNormBackward0",
            Formula::NllLoss { .. } => "NllLossBackward0",
            Formula::Clamp { .. } => "ClampBackward1",
            Formula::ClampMin { .. } => "ClampMinBackward0",
            Formula::ClampMax { .. } => "ClampMaxBackward0",
            Formula::Extremum(Extremum::Maximum) => "MaximumBackward0",
            Formula::Extremum(Extremum::Minimum) => "MinimumBackward0",
            Formula::Where => "WhereBackward0",
            Formula::Layer(l) => l.name(),
            Formula::Split(split) => split.node_name(),
        }
    }

    /// Whether the node's operation returned several tensors, so that its backward takes one
    /// gradient per output ([`Formula::apply_multi`]).
    pub(crate) fn is_multi_output(&self) -> bool {
        matches!(
            self,
            Formula::Split(_) | Formula::Layer(LayerNode::FusedCell(FusedCell::Lstm { .. }))
        )
    }

    /// Gradients for the inputs of a multi-output node, from one gradient per output (`None`
    /// where that output got none), `None` where `needs` is false.
    pub(crate) fn apply_multi(
        &self,
        node: &Node,
        grads: &[Option<Tensor>],
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let mut out: Vec<Option<Tensor>> = vec![None; needs.len()];
        match self {
            Formula::Split(split) => {
                if needs.first().copied().unwrap_or(false) {
                    out[0] = Some(split.backward(grads)?);
                }
            }
            Formula::Layer(LayerNode::FusedCell(cell)) => {
                return cell.lstm_backward(node, grads, needs)
            }
            other => {
                return Err(crate::base::TensorError::Invalid(format!(
                    "{} has one output",
                    other.name()
                )))
            }
        }
        Ok(out)
    }

    /// Gradients for the node's inputs, `None` where `needs` is false. Runs with grad mode
    /// off (the engine's), so nothing here records a graph.
    pub(crate) fn apply(
        &self,
        node: &Node,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let mut out: Vec<Option<Tensor>> = vec![None; needs.len()];
        match self {
            Formula::Add { alpha } => {
                if need(0) {
                    out[0] = Some(grad.clone());
                }
                if need(1) {
                    out[1] = Some(maybe_multiply(grad, *alpha)?);
                }
            }
            Formula::AddScalar | Formula::SubScalar | Formula::Clone | Formula::Alias => {
                out[0] = Some(grad.clone())
            }
            Formula::Sub { alpha } => {
                if need(0) {
                    out[0] = Some(grad.clone());
                }
                if need(1) {
                    out[1] = Some(maybe_multiply(&grad.neg()?, *alpha)?);
                }
            }
            // self: -grad * alpha.conj()
            Formula::RsubScalar => out[0] = Some(grad.neg()?),
            Formula::Mul => {
                if need(0) {
                    out[0] = Some(grad.mul(&node.unpack("other")?)?);
                }
                if need(1) {
                    out[1] = Some(grad.mul(&node.unpack("self")?)?);
                }
            }
            Formula::MulScalar { other } => out[0] = Some(grad.mul_scalar(*other)?),
            Formula::MulScalarAten { other } => out[0] = Some(grad.mul_scalar_aten(*other)?),
            // A rounded quotient's gradient: `grad.new_zeros(grad.sym_sizes())` per input.
            Formula::DivMode { mode: Some(_), .. } => {
                for (i, slot) in out.iter_mut().enumerate().take(2) {
                    if need(i) {
                        *slot = Some(grad.zeros_like()?);
                    }
                }
            }
            Formula::Div | Formula::DivMode { number: None, .. } => {
                let other = node.unpack("other")?;
                if need(0) {
                    out[0] = Some(grad.div(&other)?);
                }
                if need(1) {
                    let self_ = node.unpack("self")?;
                    let neg = grad.neg()?;
                    let q = self_.div(&other)?.div(&other)?;
                    out[1] = Some(neg.mul(&q)?);
                }
            }
            // From Python the number is a wrapped tensor, and `grad / other` records what a
            // Python division records; the Scalar overloads' backward divides by a Scalar.
            Formula::DivScalar { other } => out[0] = Some(grad.div_scalar(*other)?),
            Formula::DivScalarAten { other }
            | Formula::DivMode {
                number: Some(other),
                ..
            } => out[0] = Some(grad.div_scalar_aten(*other)?),
            Formula::Pow { exponent } => {
                let self_ = node.unpack("self")?;
                out[0] = Some(if *exponent == 0.0 {
                    self_.zeros_like()?
                } else {
                    // `pow_backward` is one C++ full expression, `grad * (exp * self.pow(exp -
                    // 1))`: its temporaries are destroyed after the product exists, newest
                    // first, so all four blocks are alive at once.
                    let powered = self_.pow(exponent - 1.0)?;
                    let scaled = powered.mul_scalar_aten(*exponent)?;
                    let dx = grad.mul(&scaled)?;
                    drop(scaled);
                    drop(powered);
                    dx
                });
            }
            Formula::Neg => out[0] = Some(grad.neg()?),
            Formula::Mm {
                self_sizes,
                self_strides,
                mat2_sizes,
                mat2_strides,
            } => {
                // mat2's gradient first: MmBackward0 allocates it before self's, on 2.15's
                // CPU build (profiler, `aten::mm` 8,192 B then 512 B for [8,16] @ [16,128])
                // and on 2.11's CUDA build (benches/cuda_dispatch_probe.py, LSTMCell).
                if need(1) {
                    let self_ = node.unpack("self")?;
                    out[1] = Some(mm_mat2_backward(
                        grad,
                        &self_,
                        *mat2_sizes,
                        *mat2_strides,
                        1.0,
                    )?);
                }
                if need(0) {
                    let mat2 = node.unpack("mat2")?;
                    out[0] = Some(mm_mat1_backward(
                        grad,
                        &mat2,
                        *self_sizes,
                        *self_strides,
                        1.0,
                    )?);
                }
            }
            Formula::Addmm {
                beta,
                alpha,
                mat1_sizes,
                mat1_strides,
                mat2_sizes,
                mat2_strides,
            } => {
                if need(0) {
                    out[0] = Some(maybe_multiply(grad, *beta)?);
                }
                if need(1) {
                    let mat2 = node.unpack("mat2")?;
                    out[1] = Some(mm_mat1_backward(
                        grad,
                        &mat2,
                        *mat1_sizes,
                        *mat1_strides,
                        *alpha,
                    )?);
                }
                if need(2) {
                    let mat1 = node.unpack("mat1")?;
                    out[2] = Some(mm_mat2_backward(
                        grad,
                        &mat1,
                        *mat2_sizes,
                        *mat2_strides,
                        *alpha,
                    )?);
                }
            }
            Formula::Bmm => {
                if need(0) {
                    let mat2 = node.unpack("mat2")?;
                    out[0] = Some(grad.bmm(&mat2.transpose(1, 2)?)?);
                }
                if need(1) {
                    let self_ = node.unpack("self")?;
                    out[1] = Some(self_.transpose(1, 2)?.bmm(grad)?);
                }
            }
            Formula::Baddbmm => {
                if need(0) {
                    out[0] = Some(grad.clone());
                }
                if need(1) {
                    let batch2 = node.unpack("batch2")?;
                    out[1] = Some(grad.bmm(&batch2.transpose(1, 2)?)?);
                }
                if need(2) {
                    let batch1 = node.unpack("batch1")?;
                    out[2] = Some(batch1.transpose(1, 2)?.bmm(grad)?);
                }
            }
            Formula::T => out[0] = Some(grad.t()?),
            Formula::Transpose { dim0, dim1 } => {
                out[0] = Some(grad.transpose(*dim0 as isize, *dim1 as isize)?)
            }
            Formula::Permute { dims } => {
                // permute_backwards: the inverse permutation.
                let mut inverse = vec![0isize; dims.len()];
                for (i, &d) in dims.iter().enumerate() {
                    inverse[d] = i as isize;
                }
                out[0] = Some(grad.permute(&inverse)?);
            }
            Formula::Squeeze { self_sizes, .. } => {
                // unsqueeze_to: a view of the gradient with the input's sizes.
                let sizes: Vec<isize> = self_sizes.iter().map(|&d| d as isize).collect();
                out[0] = Some(grad.reshape(&sizes)?);
            }
            Formula::Expand { self_sizes } => out[0] = Some(grad.sum_to(self_sizes)?),
            Formula::Cat { dim, sizes } => {
                // cat_tensors_backward: narrow views of the gradient.
                let mut at = 0;
                for (i, &size) in sizes.iter().enumerate() {
                    if need(i) {
                        out[i] = Some(grad.narrow_view(*dim, at, size));
                    }
                    at += size;
                }
            }
            Formula::Stack { dim } => {
                // stack_tensors_backward: grad.unbind(dim).
                for (i, slot) in out.iter_mut().enumerate() {
                    if need(i) {
                        *slot = Some(grad.select_view(*dim, i));
                    }
                }
            }
            Formula::Slice {
                self_sizes,
                dim,
                start,
                end,
                step,
            } => {
                out[0] =
                    Some(grad.scatter_into_zeros(self_sizes, |z| {
                        z.slice_view(*dim, *start, *end, *step)
                    })?);
            }
            Formula::AsStrided(a) => out[0] = Some(a.backward(grad)?),
            Formula::SelectExtreme {
                self_sizes,
                dim,
                keepdim,
                ..
            } => {
                let indices = node.unpack("indices")?;
                // With keepdim=False the reduced dimension comes back as 1 (a view).
                let (g, idx) = if *keepdim {
                    (grad.clone(), indices)
                } else {
                    (grad.unsqueeze(*dim)?, indices.unsqueeze(*dim)?)
                };
                out[0] = Some(g.value_selecting_backward(self_sizes, *dim, &idx)?);
            }
            Formula::Select {
                self_sizes,
                dim,
                index,
            } => {
                out[0] =
                    Some(grad.scatter_into_zeros(self_sizes, |z| z.select_view(*dim, *index))?);
            }
            Formula::Unsqueeze { dim } => out[0] = Some(grad.squeeze_dim(*dim)),
            Formula::View { self_sizes } | Formula::UnsafeView { self_sizes } => {
                let sizes: Vec<isize> = self_sizes.iter().map(|&d| d as isize).collect();
                out[0] = Some(grad.reshape(&sizes)?);
            }
            Formula::Relu => {
                let result = node.unpack("result")?;
                out[0] = Some(grad.threshold_backward(&result, 0.0)?);
            }
            Formula::Pointwise(f) => {
                let saved = match f.keeps() {
                    Keeps::Input => Some(node.unpack("self")?),
                    Keeps::Result => Some(node.unpack("result")?),
                    Keeps::Nothing => None,
                };
                out[0] = Some(f.backward(grad, saved.as_ref())?);
            }
            Formula::Sum { self_sizes } => out[0] = Some(grad.expand(self_sizes)?),
            Formula::SumDim {
                self_sizes,
                dims,
                keepdim,
            } => {
                out[0] = Some(sum_backward(grad, self_sizes, dims, *keepdim)?);
            }
            Formula::Statistic(stat) => {
                let self_ = node.unpack("self")?;
                let result = if stat.saves_result() {
                    Some(node.unpack("result")?)
                } else {
                    None
                };
                let g = crate::tensor::statistic_backward(grad, &self_, result.as_ref(), stat)?;
                out[0] = Some(g);
            }
            Formula::Mean { self_sizes, numel } => {
                out[0] = Some(grad.expand(self_sizes)?.div_scalar_aten(*numel as f64)?);
            }
            Formula::MeanDim {
                self_sizes,
                dims,
                keepdim,
                count,
            } => {
                out[0] = Some(
                    sum_backward(grad, self_sizes, dims, *keepdim)?
                        .div_scalar_aten(*count as f64)?,
                );
            }
            Formula::ToCopy { dtype, device } => out[0] = Some(grad.to_dtype(*dtype)?.to(*device)?),
            Formula::Zero | Formula::Fill => out[0] = Some(grad.zeros_like()?),
            Formula::Copy => {
                // self: zeros_like(grad); src: grad (cast back by validate_outputs).
                if need(0) {
                    out[0] = Some(grad.zeros_like()?);
                }
                if need(1) {
                    out[1] = Some(grad.clone());
                }
            }
            Formula::MseLoss { reduction } => {
                let self_ = node.unpack("self")?;
                let target = node.unpack("target")?;
                if need(0) {
                    out[0] = Some(crate::tensor::mse_loss_backward(
                        grad, &self_, &target, *reduction,
                    )?);
                }
                if need(1) {
                    out[1] = Some(crate::tensor::mse_loss_backward(
                        grad, &target, &self_, *reduction,
                    )?);
                }
            }
            Formula::SmoothL1Loss { reduction, beta } => {
                let self_ = node.unpack("self")?;
                let target = node.unpack("target")?;
                if need(0) {
                    out[0] = Some(crate::tensor::smooth_l1_loss_backward(
                        grad, &self_, &target, *reduction, *beta,
                    )?);
                }
                if need(1) {
                    out[1] = Some(crate::tensor::smooth_l1_loss_backward(
                        grad, &target, &self_, *reduction, *beta,
                    )?);
                }
            }
            Formula::LogSoftmax { dim, input_dtype } => {
                let result = node.unpack("result")?;
                out[0] = Some(crate::tensor::log_softmax_backward(
                    grad,
                    &result,
                    *dim,
                    *input_dtype,
                )?);
            }
            Formula::NativeDropout { scale } => {
                let mask = node.unpack("result1")?;
                out[0] = Some(crate::tensor::dropout_backward(grad, &mask, *scale)?);
            }
            Formula::NativeLayerNorm {
                normalized,
                has_weight,
                has_bias,
            } => {
                let input = node.unpack("input")?;
                let mean = node.unpack("result1")?;
                let rstd = node.unpack("result2")?;
                let weight = has_weight.then(|| node.unpack("weight")).transpose()?;
                // Inputs are (input, weight?, bias?): the bias's slot follows the weight's.
                let bias_slot = 1 + *has_weight as usize;
                let grads = crate::tensor::layer_norm_backward(
                    grad,
                    [&input, &mean, &rstd],
                    weight.as_ref(),
                    *normalized,
                    [
                        need(0),
                        *has_weight && need(1),
                        *has_bias && need(bias_slot),
                    ],
                )?;
                let [dx, dw, db] = grads;
                out[0] = dx;
                if *has_weight {
                    out[1] = dw;
                }
                if *has_bias {
                    out[bias_slot] = db;
                }
            }
            Formula::Softmax { dim, input_dtype } | Formula::SafeSoftmax { dim, input_dtype } => {
                let result = node.unpack("result")?;
                out[0] = Some(crate::tensor::softmax_backward(
                    grad,
                    &result,
                    *dim,
                    *input_dtype,
                )?);
            }
            Formula::NllLoss {
                reduction,
                ignore_index,
            } => {
                let self_ = node.unpack("self")?;
                let target = node.unpack("target")?;
                let total_weight = node.unpack("total_weight")?;
                out[0] = Some(crate::tensor::nll_loss_backward(
                    grad,
                    &self_,
                    &target,
                    *reduction,
                    *ignore_index,
                    &total_weight,
                )?);
            }
            Formula::Clamp { min, max } => {
                let self_ = node.unpack("self")?;
                out[0] = Some(crate::tensor::clamp_backward(grad, &self_, *min, *max)?);
            }
            Formula::ClampMin { min } => {
                let self_ = node.unpack("self")?;
                out[0] = Some(crate::tensor::clamp_bound_backward(
                    grad, &self_, *min, true,
                )?);
            }
            Formula::ClampMax { max } => {
                let self_ = node.unpack("self")?;
                out[0] = Some(crate::tensor::clamp_bound_backward(
                    grad, &self_, *max, false,
                )?);
            }
            Formula::Extremum(which) => {
                let self_ = node.unpack("self")?;
                let other = node.unpack("other")?;
                for (slot, for_self) in [(0, true), (1, false)] {
                    if need(slot) {
                        out[slot] = Some(crate::tensor::extremum_backward(
                            grad, &self_, &other, *which, for_self,
                        )?);
                    }
                }
            }
            Formula::Where => {
                let condition = node.unpack("condition")?;
                for (slot, for_self) in [(0, true), (1, false)] {
                    if need(slot) {
                        out[slot] =
                            Some(crate::tensor::where_backward(grad, &condition, for_self)?);
                    }
                }
            }
            Formula::Layer(l) => return l.apply(node, grad, needs),
            Formula::Split(split) => {
                // The engine gives a multi-output node all its gradients (`apply_multi`).
                return Err(crate::base::TensorError::Invalid(format!(
                    "{} takes one gradient per output",
                    split.node_name()
                )));
            }
        }
        Ok(out)
    }
}

/// `maybe_multiply`: the gradient itself (no allocation) when the factor is 1.
fn maybe_multiply(t: &Tensor, s: f64) -> Result<Tensor> {
    if s == 1.0 {
        Ok(t.clone())
    } else {
        t.mul_scalar_aten(s)
    }
}

fn is_column_major(sizes: [usize; 2], strides: [usize; 2]) -> bool {
    strides[0] == 1 && strides[1] == sizes[0]
}

/// `mm_mat1_backward` (FunctionsManual.cpp): for a column-major mat1 the gradient is made
/// column-major too, so it has mat1's layout.
fn mm_mat1_backward(
    grad: &Tensor,
    mat2: &Tensor,
    sizes: [usize; 2],
    strides: [usize; 2],
    alpha: f64,
) -> Result<Tensor> {
    if is_column_major(sizes, strides) {
        return maybe_multiply(&mat2.mm(&grad.t()?)?.t()?, alpha);
    }
    maybe_multiply(&grad.mm(&mat2.t()?)?, alpha)
}

/// `mm_mat2_backward`: for a column-major mat2 (nn.Linear's `weight.t()`) the gradient is
/// computed transposed, so that after TBackward0 the weight's gradient is contiguous and
/// AccumulateGrad can take it without a copy.
fn mm_mat2_backward(
    grad: &Tensor,
    mat1: &Tensor,
    sizes: [usize; 2],
    strides: [usize; 2],
    alpha: f64,
) -> Result<Tensor> {
    if is_column_major(sizes, strides) {
        return maybe_multiply(&grad.t()?.mm(mat1)?.t()?, alpha);
    }
    maybe_multiply(&mat1.t()?.mm(grad)?, alpha)
}

/// `sum_backward`: unsqueeze the reduced dimensions back, then expand (views only).
fn sum_backward(grad: &Tensor, sizes: &[usize], dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let g = if keepdim {
        grad.clone()
    } else {
        let mut g = grad.clone();
        let mut sorted = dims.to_vec();
        sorted.sort_unstable();
        for d in sorted {
            g = g.unsqueeze(d)?;
        }
        g
    };
    g.expand(sizes)
}
