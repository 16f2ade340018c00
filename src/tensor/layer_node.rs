//! The autograd nodes of the layer operations (`conv.rs`, `pool.rs`, `batchnorm.rs`,
//! `embedding.rs`, `activation.rs`): each declares its PyTorch node name and its backward next
//! to its forward, and the formula table reaches them through one variant,
//! [`Formula::Layer`](crate::autograd::Formula). Their arithmetic is one [`Kernels::layer`]
//! call of a [`LayerKernel`], whose host implementation lives beside each forward too.
//!
//! [`Kernels::layer`]: super::kernel::Kernels::layer

use super::activation::Activation;
use super::batchnorm::{BatchNormNode, BatchNormStats};
use super::bce::Bce;
use super::conv::{ConvNode, Geometry};
use super::embedding::EmbeddingNode;
use super::fused_cells::FusedCell;
use super::index::{Along, IndexNode, IndexPlan};
use super::kernel::{Buf, Cx};
use super::logsumexp::LogsumexpDims;
use super::pool::{Adaptive, AvgPool, Window};
use super::{Result, Tensor};
use crate::autograd::{Formula, Node, NodeBuilder};

/// The arithmetic of one layer operation, forward or backward, as a kernel sees it: sizes and
/// options, no tensors. Operands are listed where each variant says.
#[derive(Debug, Clone)]
pub(crate) enum LayerKernel {
    /// `[y]` from `[x, weight, bias?]`.
    Conv(Geometry),
    /// `[dx?, dw?, db?]` from `[dy, x, weight]`.
    ConvBackward(Geometry),
    /// `[y]` from `[x, weight, bias?]`: the transposed convolution whose adjoint has this
    /// geometry.
    ConvTranspose(Geometry),
    /// `[dx?, dw?, db?]` from `[dy, x, weight]`.
    ConvTransposeBackward(Geometry),
    /// `[y, indices?]` from `[x]`.
    MaxPool(Window),
    /// `[dx]` from `[dy, indices]`.
    MaxPoolBackward(Window),
    /// `[y]` from `[x]`.
    AvgPool(AvgPool),
    /// `[dx]` from `[dy]`.
    AvgPoolBackward(AvgPool),
    /// `[y]` from `[x]`.
    AdaptiveAvgPool(Adaptive),
    /// `[dx]` from `[dy]`.
    AdaptiveAvgPoolBackward(Adaptive),
    /// `[y, save_mean, save_invstd]` from `[x, weight?, bias?, running_mean?, running_var?]`,
    /// the running statistics updated in place in training.
    BatchNorm(BatchNormStats),
    /// `[dx?, dw?, db?]` from `[dy, x, weight?, mean, invstd or running_var]`.
    BatchNormBackward(BatchNormStats),
    /// `[y]` from `[weight, indices]`.
    Embedding,
    /// `[dw]` from `[dy, indices]`, nothing added at the padding row.
    EmbeddingBackward(Option<usize>),
    /// `[y]` from `[x]`.
    Activation(Activation),
    /// `[dx]` from `[dy, x]`.
    ActivationBackward(Activation),
    /// `[result, maxes?, shifted]` from `[x]` (`src/tensor/logsumexp.rs`).
    Logsumexp(LogsumexpDims),
    /// `[out]` from `[indices]`: `F.one_hot`'s zeros with ones scattered in.
    OneHot,
    /// `[loss]` from `[input, target, weight?, pos_weight?]` (`src/tensor/bce.rs`).
    Bce(Bce),
    /// `[dx]` from `[grad, input, target, weight?, pos_weight?]`.
    BceBackward(Bce),
    /// `[out]` from `[x]`: `xlogy(x, x)`.
    XlogySelf,
    /// `[y]` from `[x, index...]` (`at::index`; int64 indices at the broadcast index shape).
    Index(IndexPlan),
    /// `[self]` in place from `[values, index...]`, added when accumulating.
    IndexPut(IndexPlan, bool),
    /// `[self]` in place from `[mask]`.
    MaskedFill(f32),
    /// `[y]` from `[x, index]`.
    Gather(Along),
    /// `[self]` in place from `[src, index]`.
    ScatterAdd(Along),
    /// A fused RNN cell's forward (`src/tensor/fused_cells.rs`, operands listed there).
    FusedCell(FusedCell),
    /// A fused RNN cell's backward.
    FusedCellBackward(FusedCell),
    /// `[out]` from `[x]`: `triu(x, diagonal)` or `tril` (`src/tensor/triu.rs`).
    Triangle(super::triu::Triangle),
    /// `[values, indices]` from `[x]`: `topk` or `sort` (`src/tensor/sort.rs`).
    Sort(super::sort::SortKernel),
    /// `[out]` from `[x]`: `any` or `all` (`src/tensor/logical.rs`).
    AnyAll(super::logical::AnyAll),
    /// `[out]` from `[x]`: `isinf`.
    IsInf,
    /// `[out]` from `[x]`: `flip`, `repeat`, `cumsum` (`src/tensor/rearrange.rs`).
    Rearrange(super::rearrange::RearrangeKernel),
    /// `[y, mean, rstd]` from `[x, weight?, bias?]` (`src/tensor/group_norm.rs`).
    GroupNorm(super::group_norm::GroupNormDims),
    /// `[dx?, dw?, db?]` from `[dy, x, mean, rstd, weight?]`.
    GroupNormBackward(super::group_norm::GroupNormDims),
    /// `[y]` from `[x]` (`src/tensor/upsample.rs`).
    Upsample(super::upsample::Upsample),
    /// `[dx]` from `[dy]`.
    UpsampleBackward(super::upsample::Upsample),
    /// `[y]` from `[x]` (`src/tensor/reflect_pad.rs`).
    ReflectionPad(super::reflect_pad::ReflectPad),
    /// `[dx]` from `[dy]`, `dx` zeroed.
    ReflectionPadBackward(super::reflect_pad::ReflectPad),
}

impl LayerKernel {
    /// The host arithmetic (what the cpu backend runs, and for now the cuda backend through
    /// copies).
    pub(crate) fn host(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) -> Result<()> {
        match self {
            LayerKernel::Conv(g) => g.host_forward(false, cx, outs, ins),
            LayerKernel::ConvBackward(g) => g.host_backward(false, cx, outs, ins),
            LayerKernel::ConvTranspose(g) => g.host_forward(true, cx, outs, ins),
            LayerKernel::ConvTransposeBackward(g) => g.host_backward(true, cx, outs, ins),
            LayerKernel::MaxPool(w) => w.host_max(cx, outs, ins),
            LayerKernel::MaxPoolBackward(w) => w.host_max_backward(cx, outs, ins),
            LayerKernel::AvgPool(a) => a.host_forward(cx, outs, ins),
            LayerKernel::AvgPoolBackward(a) => a.host_backward(cx, outs, ins),
            LayerKernel::AdaptiveAvgPool(a) => a.host_forward(cx, outs, ins),
            LayerKernel::AdaptiveAvgPoolBackward(a) => a.host_backward(cx, outs, ins),
            LayerKernel::BatchNorm(b) => b.host_forward(cx, outs, ins),
            LayerKernel::BatchNormBackward(b) => b.host_backward(cx, outs, ins),
            LayerKernel::Embedding => super::embedding::host_forward(cx, outs, ins),
            LayerKernel::EmbeddingBackward(p) => super::embedding::host_backward(*p, cx, outs, ins),
            LayerKernel::Activation(a) => a.host_forward(cx, outs, ins),
            LayerKernel::ActivationBackward(a) => a.host_backward(cx, outs, ins),
            LayerKernel::Logsumexp(d) => {
                d.host_forward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::OneHot => {
                super::logsumexp::one_hot_host(cx, outs, ins);
                Ok(())
            }
            LayerKernel::Bce(b) => {
                b.host_forward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::BceBackward(b) => {
                b.host_backward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::XlogySelf => {
                super::bce::xlogy_self_host(cx, outs, ins);
                Ok(())
            }
            LayerKernel::Index(p) => p.host_index(cx, outs, ins),
            LayerKernel::IndexPut(p, accumulate) => p.host_put(*accumulate, cx, outs, ins),
            LayerKernel::MaskedFill(v) => super::index::host_masked_fill(*v, cx, outs, ins),
            LayerKernel::Gather(a) => a.host_gather(cx, outs, ins),
            LayerKernel::ScatterAdd(a) => a.host_scatter_add(cx, outs, ins),
            LayerKernel::FusedCell(c) => {
                c.host_forward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::FusedCellBackward(c) => {
                c.host_backward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::Triangle(which) => {
                super::triu::host(*which, cx, outs, ins);
                Ok(())
            }
            LayerKernel::Sort(k) => {
                k.host(cx, outs, ins);
                Ok(())
            }
            LayerKernel::AnyAll(a) => {
                a.host(cx, outs, ins);
                Ok(())
            }
            LayerKernel::IsInf => {
                super::logical::isinf_host(cx, outs, ins);
                Ok(())
            }
            LayerKernel::Rearrange(r) => {
                r.host(cx, outs, ins);
                Ok(())
            }
            LayerKernel::GroupNorm(d) => {
                d.host_forward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::GroupNormBackward(d) => {
                d.host_backward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::Upsample(u) => {
                u.host_forward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::UpsampleBackward(u) => {
                u.host_backward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::ReflectionPad(p) => {
                p.host_forward(cx, outs, ins);
                Ok(())
            }
            LayerKernel::ReflectionPadBackward(p) => {
                p.host_backward(cx, outs, ins);
                Ok(())
            }
        }
    }
}

/// Operand `i`, when present.
pub(super) fn operand<'s, 'b>(v: &'s [Option<&'s Buf<'b>>], i: usize) -> Option<&'s Buf<'b>> {
    v.get(i).copied().flatten()
}

/// Operand `i`'s values as f32; `None` when absent or without values (meta).
pub(super) fn read(v: &[Option<&Buf>], i: usize, cx: Cx) -> Option<Vec<f32>> {
    operand(v, i)?.read_f32(cx)
}

/// Writes output `i` when it is wanted.
pub(super) fn write(v: &[Option<&Buf>], i: usize, cx: Cx, values: &[f32]) {
    if let Some(b) = operand(v, i) {
        b.write_f32(cx, values);
    }
}

/// Runs `op` on the kernels of `out`'s device.
pub(super) fn run(
    out: &Tensor,
    op: &LayerKernel,
    outs: &[Option<&Tensor>],
    ins: &[Option<&Tensor>],
) -> Result<()> {
    let (k, cx) = out.kernels();
    let outs: Vec<Option<Buf>> = outs.iter().map(|t| t.map(Tensor::buf)).collect();
    let ins: Vec<Option<Buf>> = ins.iter().map(|t| t.map(Tensor::buf)).collect();
    let outs: Vec<Option<&Buf>> = outs.iter().map(Option::as_ref).collect();
    let ins: Vec<Option<&Buf>> = ins.iter().map(Option::as_ref).collect();
    k.layer(cx, op, &outs, &ins)
}

/// The forward of a layer with one output computed by `op` from `input` alone (pooling, the
/// activations): the output, of `shape` in the input's float dtype on its device, then, when
/// a gradient is wanted, the node `layer` saving `self`.
pub(super) fn forward_saving_self(
    input: &Tensor,
    shape: &[usize],
    op: &LayerKernel,
    layer: LayerNode,
) -> Result<Tensor> {
    let out = Tensor::empty_on(
        input.runtime(),
        shape,
        input.float_result_type(),
        input.device(),
    )?;
    run(&out, op, &[Some(&out)], &[Some(input)])?;
    if let Some(mut b) = NodeBuilder::new(&[input]) {
        b.save("self", input);
        b.finish(Formula::Layer(layer), &out);
    }
    Ok(out)
}

/// The gradient of a layer's saved `input` when one kernel makes it: the backward's one
/// allocation, of the input's shape, float dtype and device, which `op` fills from `ins`.
pub(super) fn input_grad(
    input: &Tensor,
    grad: &Tensor,
    op: &LayerKernel,
    ins: &[Option<&Tensor>],
) -> Result<Tensor> {
    let dx = Tensor::empty_on(
        grad.runtime(),
        input.shape(),
        input.float_result_type(),
        input.device(),
    )?;
    run(&dx, op, &[Some(&dx)], ins)?;
    Ok(dx)
}

/// One layer operation's node.
#[derive(Debug, Clone)]
pub(crate) enum LayerNode {
    Conv(ConvNode),
    MaxPool2d(Window),
    AvgPool2d(AvgPool),
    AdaptiveAvgPool2d(Adaptive),
    BatchNorm(BatchNormNode),
    Embedding(EmbeddingNode),
    Activation(Activation),
    Logsumexp(LogsumexpDims),
    Bce(Bce),
    /// The nodes of indexing (`index.rs`).
    Index(IndexNode),
    /// A node that hands the gradient on unchanged, under a custom Function's name
    /// (`BackwardHookFunctionBackward`, `views.rs`).
    Passthrough(&'static str),
    /// `_thnn_fused_gru_cell` / `_thnn_fused_lstm_cell` (`fused_cells.rs`); the LSTM cell's
    /// node has two outputs and runs through [`FusedCell::lstm_backward`].
    FusedCell(FusedCell),
    /// `triu(diagonal)` or `tril`: TriuBackward0 or TrilBackward0, the gradient's `triu` or
    /// `tril` (`triu.rs`).
    Triangle(super::triu::Triangle),
    /// `topk` or `sort`: TopkBackward0 or SortBackward0 (`sort.rs`).
    Sort(super::sort::SortNode),
    /// `flip`, `repeat`, `cumsum` (`rearrange.rs`).
    Rearrange(super::rearrange::RearrangeNode),
    /// `native_group_norm`: NativeGroupNormBackward0 (`group_norm.rs`).
    GroupNorm(super::group_norm::GroupNormNode),
    /// `upsample_nearest2d`, `upsample_bilinear2d` (`upsample.rs`).
    Upsample(super::upsample::Upsample),
    /// `reflection_pad1d`, `reflection_pad2d` (`reflect_pad.rs`).
    ReflectionPad(super::reflect_pad::ReflectPad),
}

impl LayerNode {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            LayerNode::Conv(_) => "ConvolutionBackward0",
            LayerNode::MaxPool2d(_) => "MaxPool2DWithIndicesBackward0",
            LayerNode::AvgPool2d(_) => "AvgPool2DBackward0",
            LayerNode::AdaptiveAvgPool2d(_) => "AdaptiveAvgPool2DBackward0",
            LayerNode::BatchNorm(_) => "NativeBatchNormBackward0",
            LayerNode::Embedding(_) => "EmbeddingBackward0",
            LayerNode::Activation(a) => a.node_name(),
            LayerNode::Logsumexp(_) => "LogsumexpBackward0",
            LayerNode::Bce(b) => b.node_name(),
            LayerNode::Index(i) => i.name(),
            LayerNode::Passthrough(name) => name,
            LayerNode::FusedCell(c) => c.node_name(),
            LayerNode::Triangle(which) => which.node_name(),
            LayerNode::Sort(s) => s.node_name(),
            LayerNode::Rearrange(r) => r.node_name(),
            LayerNode::GroupNorm(_) => "NativeGroupNormBackward0",
            LayerNode::Upsample(u) => u.node_name(),
            LayerNode::ReflectionPad(p) => p.node_name(),
        }
    }

    /// Gradients for the node's inputs, `None` where `needs` is false.
    pub(crate) fn apply(
        &self,
        node: &Node,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        // A node of one input: its gradient is computed only when wanted.
        let single = |f: &dyn Fn() -> Result<Tensor>| -> Result<Vec<Option<Tensor>>> {
            let mut out = vec![None; needs.len()];
            if needs.first().copied().unwrap_or(false) {
                out[0] = Some(f()?);
            }
            Ok(out)
        };
        match self {
            LayerNode::Conv(c) => c.backward(node, grad, needs),
            LayerNode::BatchNorm(b) => b.backward(node, grad, needs),
            LayerNode::MaxPool2d(w) => single(&|| w.max_backward(node, grad)),
            LayerNode::AvgPool2d(a) => single(&|| a.backward(node, grad)),
            LayerNode::AdaptiveAvgPool2d(a) => single(&|| a.backward(node, grad)),
            LayerNode::Embedding(e) => single(&|| e.backward(node, grad)),
            LayerNode::Activation(a) => single(&|| a.backward(node, grad)),
            LayerNode::Logsumexp(d) => single(&|| d.backward(node, grad)),
            LayerNode::Bce(b) => single(&|| b.backward(node, grad)),
            LayerNode::Index(i) => i.backward(node, grad, needs),
            LayerNode::Passthrough(_) => single(&|| Ok(grad.clone())),
            LayerNode::FusedCell(c) => c.gru_backward(node, grad, needs),
            LayerNode::Triangle(which) => single(&|| grad.triangle(*which)),
            LayerNode::Sort(s) => single(&|| s.backward(node, grad)),
            LayerNode::Rearrange(r) => single(&|| r.backward(grad)),
            LayerNode::GroupNorm(g) => g.backward(node, grad, needs),
            LayerNode::Upsample(u) => single(&|| u.backward(grad)),
            LayerNode::ReflectionPad(p) => single(&|| p.backward(node, grad)),
        }
    }
}
