//! `embedding`, as PyTorch runs it: one output (`weight.index_select(0, indices)` shaped as
//! the indices plus the embedding dimension), and EmbeddingBackward0 saving `indices` alone.
//! Its backward is the dense gradient: a zero tensor of the weight's shape, each row of the
//! output's gradient added at its index, except at `padding_idx`.
//!
//! On CUDA, PyTorch takes that one-allocation path for up to 3,072 indices; past that it sorts
//! the indices first, in temporaries this model does not allocate (`docs/fidelity.md`).

use super::kernel::{Buf, Cx};
use super::layer_node::{operand, read, run, write};
use super::{LayerKernel, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};

/// What EmbeddingBackward0 keeps besides `indices`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EmbeddingNode {
    num_weights: usize,
    padding_idx: Option<usize>,
}

impl Tensor {
    /// `F.embedding(indices, weight, padding_idx)`: rows of `weight` (num_embeddings × dim)
    /// picked by int64 or int32 `indices` of any shape. A negative `padding_idx` counts from the end.
    pub fn embedding(
        weight: &Tensor,
        indices: &Tensor,
        padding_idx: Option<i64>,
    ) -> Result<Tensor> {
        if !indices.dtype().is_integer() {
            return Err(TensorError::Invalid(format!(
                "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got {} instead (while checking arguments for embedding)",
                indices.describe().split(' ').next().unwrap_or_default()
            )));
        }
        if weight.dim() != 2 {
            return Err(TensorError::Invalid("'weight' must be 2-D".into()));
        }
        super::ops::common_device(weight, indices)?;
        let (rows, dim) = (weight.shape()[0], weight.shape()[1]);
        let padding_idx = match padding_idx {
            None => None,
            Some(p) if p >= 0 && (p as usize) < rows => Some(p as usize),
            Some(p) if p < 0 && p >= -(rows as i64) => Some((p + rows as i64) as usize),
            Some(_) => {
                return Err(TensorError::Invalid(
                    "Padding_idx must be within num_embeddings".into(),
                ))
            }
        };
        let mut shape = indices.shape().to_vec();
        shape.push(dim);
        let out = Tensor::empty_on(weight.runtime(), &shape, weight.dtype(), weight.device())?;
        run(
            &out,
            &LayerKernel::Embedding,
            &[Some(&out)],
            &[Some(weight), Some(indices)],
        )?;
        if let Some(mut b) = NodeBuilder::new(&[weight]) {
            b.save("indices", indices);
            b.finish(
                Formula::Layer(super::LayerNode::Embedding(EmbeddingNode {
                    num_weights: rows,
                    padding_idx,
                })),
                &out,
            );
        }
        Ok(out)
    }
}

impl EmbeddingNode {
    /// `embedding_dense_backward`: one zero gradient of the weight's shape.
    pub(crate) fn backward(&self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let indices = node.unpack("indices")?;
        let dim = grad.shape().last().copied().unwrap_or(0);
        let shape = [self.num_weights, dim];
        let dw = Tensor::empty_on(
            grad.runtime(),
            &shape,
            grad.float_result_type(),
            grad.device(),
        )?;
        run(
            &dw,
            &LayerKernel::EmbeddingBackward(self.padding_idx),
            &[Some(&dw)],
            &[Some(grad), Some(&indices)],
        )?;
        Ok(dw)
    }
}

/// `[y]` from `[weight, indices]`: the picked rows, an error for an index out of range.
pub(super) fn host_forward(cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) -> Result<()> {
    let (Some(w_buf), Some(idx)) = (
        operand(ins, 0),
        operand(ins, 1).and_then(|b| b.read_i64(cx)),
    ) else {
        return Ok(());
    };
    let (rows, dim) = (w_buf.shape[0], w_buf.shape[1]);
    let Some(w) = w_buf.read_f32(cx) else {
        return Ok(());
    };
    let mut y = Vec::with_capacity(idx.len() * dim);
    for &i in &idx {
        if i < 0 || i as usize >= rows {
            return Err(TensorError::Invalid("index out of range in self".into()));
        }
        y.extend_from_slice(&w[i as usize * dim..][..dim]);
    }
    write(outs, 0, cx, &y);
    Ok(())
}

/// `[dw]` from `[dy, indices]`: each gradient row added at its index, except at the padding
/// row.
pub(super) fn host_backward(
    padding_idx: Option<usize>,
    cx: Cx,
    outs: &[Option<&Buf>],
    ins: &[Option<&Buf>],
) -> Result<()> {
    let (Some(dw), Some(dy), Some(idx)) = (
        operand(outs, 0),
        read(ins, 0, cx),
        operand(ins, 1).and_then(|b| b.read_i64(cx)),
    ) else {
        return Ok(());
    };
    let (rows, dim) = (dw.shape[0], dw.shape[1]);
    let mut g = vec![0f32; rows * dim];
    for (row, &i) in idx.iter().enumerate() {
        if i < 0 || i as usize >= rows || Some(i as usize) == padding_idx {
            continue;
        }
        for (d, v) in dy[row * dim..][..dim].iter().enumerate() {
            g[i as usize * dim + d] += v;
        }
    }
    write(outs, 0, cx, &g);
    Ok(())
}
