//! `torch.triu(input, diagonal=0)`: a new tensor of `input`'s shape and dtype holding the
//! elements on and above the `diagonal`-th diagonal of the last two dimensions, zeros below
//! (aten's `triu`, one output allocation). Its node, TriuBackward0, saves no tensor
//! (derivatives.yaml `triu`: `self: grad.triu(diagonal)`). `nn.Transformer`'s
//! `generate_square_subsequent_mask` is `triu(full((sz, sz), -inf), diagonal=1)`.

use super::layer_node::{operand, run, LayerKernel, LayerNode};
use super::{DType, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::tensor::kernel::{Buf, Cx};

impl Tensor {
    /// `torch.triu(self, diagonal)`: zeros below the `diagonal`-th diagonal of the last two
    /// dimensions (0 is the main diagonal, positive above it).
    pub fn triu(&self, diagonal: i64) -> Result<Tensor> {
        if self.dim() < 2 {
            return Err(TensorError::Invalid(
                "triu: input tensor must have at least 2 dimensions".into(),
            ));
        }
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        run(
            &out,
            &LayerKernel::Triu(diagonal),
            &[Some(&out)],
            &[Some(self)],
        )?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::Layer(LayerNode::Triu(diagonal)), &out);
        }
        Ok(out)
    }
}

/// `[out]` from `[x]`: the elements at row `i`, column `j` of each matrix kept where
/// `j - i >= diagonal`, zero elsewhere.
pub(super) fn host(diagonal: i64, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
    let (Some(x), Some(out)) = (operand(ins, 0), operand(outs, 0)) else {
        return;
    };
    let cols = out.shape.last().copied().unwrap_or(1).max(1);
    let rows = out.shape.iter().rev().nth(1).copied().unwrap_or(1).max(1);
    let keep = |at: usize| {
        let (i, j) = ((at / cols) % rows, at % cols);
        j as i64 - i as i64 >= diagonal
    };
    if x.dtype == DType::I64 {
        let Some(mut v) = x.read_i64(cx) else { return };
        for (at, e) in v.iter_mut().enumerate() {
            if !keep(at) {
                *e = 0;
            }
        }
        out.write_i64(cx, &v);
    } else {
        let Some(mut v) = x.read_f32(cx) else { return };
        for (at, e) in v.iter_mut().enumerate() {
            if !keep(at) {
                *e = 0.0;
            }
        }
        out.write_f32(cx, &v);
    }
}
