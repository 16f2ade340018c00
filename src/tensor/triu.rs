//! `torch.triu(input, diagonal=0)` and `torch.tril`: a new tensor of `input`'s shape and dtype
//! holding the elements on and above (`triu`) or on and below (`tril`) the `diagonal`-th
//! diagonal of the last two dimensions, zeros elsewhere (one output allocation). Their nodes,
//! TriuBackward0 and TrilBackward0, save no tensor (derivatives.yaml `triu`: `self:
//! grad.triu(diagonal)`, `tril`: `self: grad.tril(diagonal)`). `nn.Transformer`'s
//! `generate_square_subsequent_mask` is `triu(full((sz, sz), -inf), diagonal=1)`; hand-written
//! causal masks are often `tril(ones(n, n))`.

use super::layer_node::{operand, run, LayerKernel, LayerNode};
use super::{DType, Result, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};
use crate::tensor::kernel::{Buf, Cx};

/// Which triangle of each matrix a `triu` or `tril` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Triangle {
    /// `tril` (on and below the diagonal) rather than `triu`.
    pub(crate) lower: bool,
    /// The diagonal: 0 the main one, positive above it.
    pub(crate) diagonal: i64,
}

impl Triangle {
    /// The node's class.
    pub(crate) fn node_name(self) -> &'static str {
        if self.lower {
            "TrilBackward0"
        } else {
            "TriuBackward0"
        }
    }

    /// Whether the element at row `i`, column `j` is kept.
    fn keeps(self, i: usize, j: usize) -> bool {
        let offset = j as i64 - i as i64;
        if self.lower {
            offset <= self.diagonal
        } else {
            offset >= self.diagonal
        }
    }
}

impl Tensor {
    /// `torch.triu(self, diagonal)`: zeros below the `diagonal`-th diagonal of the last two
    /// dimensions (0 is the main diagonal, positive above it).
    pub fn triu(&self, diagonal: i64) -> Result<Tensor> {
        self.triangle(Triangle {
            lower: false,
            diagonal,
        })
    }

    /// `torch.tril(self, diagonal)`: zeros above the `diagonal`-th diagonal of the last two
    /// dimensions.
    pub fn tril(&self, diagonal: i64) -> Result<Tensor> {
        self.triangle(Triangle {
            lower: true,
            diagonal,
        })
    }

    /// `triu` or `tril`, as `which` says.
    pub(crate) fn triangle(&self, which: Triangle) -> Result<Tensor> {
        if self.dim() < 2 {
            let name = if which.lower { "tril" } else { "triu" };
            return Err(TensorError::Invalid(format!(
                "{name}: input tensor must have at least 2 dimensions"
            )));
        }
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        run(
            &out,
            &LayerKernel::Triangle(which),
            &[Some(&out)],
            &[Some(self)],
        )?;
        if let Some(b) = NodeBuilder::new(&[self]) {
            b.finish(Formula::Layer(LayerNode::Triangle(which)), &out);
        }
        Ok(out)
    }
}

/// `[out]` from `[x]`: the elements of `which` triangle of each matrix kept, zero elsewhere.
pub(super) fn host(which: Triangle, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
    let (Some(x), Some(out)) = (operand(ins, 0), operand(outs, 0)) else {
        return;
    };
    let cols = out.shape.last().copied().unwrap_or(1).max(1);
    let rows = out.shape.iter().rev().nth(1).copied().unwrap_or(1).max(1);
    let keep = |at: usize| which.keeps((at / cols) % rows, at % cols);
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
