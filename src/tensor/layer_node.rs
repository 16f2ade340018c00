//! The autograd nodes of the layer operations (`conv.rs`, `pool.rs`, `batchnorm.rs`,
//! `embedding.rs`, `activation.rs`): each declares its PyTorch node name and its backward next
//! to its forward, and the formula table reaches them through one variant,
//! [`Formula::Layer`](crate::autograd::Formula).

use super::activation::Activation;
use super::batchnorm::BatchNormNode;
use super::conv::ConvNode;
use super::embedding::EmbeddingNode;
use super::pool::{Adaptive, AvgPool, Window};
use super::{Result, Tensor};
use crate::autograd::Node;

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
        }
    }
}
