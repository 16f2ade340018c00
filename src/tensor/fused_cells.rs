//! `_thnn_fused_gru_cell` and `_thnn_fused_lstm_cell`: what PyTorch's CUDA build runs for one
//! step of `nn.GRUCell` / `nn.LSTMCell` (`GRUCell` / `LSTMCell` in
//! `aten/src/ATen/native/RNN.cpp` take this path for a CUDA input), as
//! `aten/src/ATen/native/cuda/RNN.cu` allocates it:
//!
//! - GRU: `workspace = empty([B, 5H])`, then `hy = empty_like(hx)`; returns `(hy, workspace)`.
//!   ThnnFusedGruCellBackward0 saves input_gates, hidden_gates, hx, input_bias, hidden_bias and
//!   result1 (the workspace). Its backward (`_thnn_fused_gru_cell_backward`) allocates
//!   grad_input_gates `[B, 3H]`, grad_hidden_gates `[B, 3H]`, grad_hx, then with a bias one
//!   `sum(0)` of each gate gradient.
//! - LSTM: `workspace = empty_like(input_gates)`, `hy`, `cy`; returns `(hy, cy, workspace)`,
//!   only the first two differentiable (`output_differentiability` in derivatives.yaml).
//!   ThnnFusedLstmCellBackward0 saves input_gates, hidden_gates, cx, input_bias, hidden_bias,
//!   result1 (cy) and result2 (the workspace). Its backward allocates grad_gates `[B, 4H]` and
//!   grad_cx, then with a bias one `grad_gates.sum(0)`, and returns grad_gates for both gate
//!   inputs and the one bias gradient for both biases.
//!
//! The probe `benches/cuda_dispatch_probe.py` recorded these allocations on an H100 (PyTorch
//! 2.11); `tests/runtime/fused_cells.rs` pins them. The arithmetic is the kernels' of RNN.cu
//! (`gru_cell_forward`, `gru_cell_backward`, `lstm_cell_forward`, `lstm_cell_backward`), run
//! on the host (through copies on cuda) as the other layer kernels are.

use super::kernel::{Buf, Cx};
use super::layer_node::{read, run, write};
use super::{LayerKernel, LayerNode, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};

/// Which fused cell, and whether it was given biases (the backward sums them only then).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FusedCell {
    /// `_thnn_fused_gru_cell`: 3 gates (r, z, n), a `[B, 5H]` workspace.
    Gru { has_bias: bool },
    /// `_thnn_fused_lstm_cell`: 4 gates (i, f, g, o), a `[B, 4H]` workspace.
    Lstm { has_bias: bool },
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Gate `g` of row `b`, hidden unit `j`, of a `[B, gates * H]` matrix, plus its bias.
fn gate(
    v: &[f32],
    bias: Option<&[f32]>,
    gates: usize,
    h: usize,
    b: usize,
    g: usize,
    j: usize,
) -> f32 {
    v[b * gates * h + g * h + j] + bias.map_or(0.0, |bias| bias[g * h + j])
}

impl FusedCell {
    pub(crate) fn node_name(self) -> &'static str {
        match self {
            FusedCell::Gru { .. } => "ThnnFusedGruCellBackward0",
            FusedCell::Lstm { .. } => "ThnnFusedLstmCellBackward0",
        }
    }

    /// GRU: `[hy, workspace]` from `[input_gates, hidden_gates, hx, input_bias?,
    /// hidden_bias?]`. LSTM: `[hy, cy, workspace]` from `[input_gates, hidden_gates, cx,
    /// input_bias?, hidden_bias?]`.
    pub(super) fn host_forward(self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let (Some(ig), Some(hg), Some(prev)) =
            (read(ins, 0, cx), read(ins, 1, cx), read(ins, 2, cx))
        else {
            return;
        };
        let bi = read(ins, 3, cx);
        let bh = read(ins, 4, cx);
        let (bi, bh) = (bi.as_deref(), bh.as_deref());
        let h = ins[2].map_or(0, |b| b.shape.last().copied().unwrap_or(0));
        let rows = prev.len().checked_div(h).unwrap_or(0);
        match self {
            FusedCell::Gru { .. } => {
                let mut hy = vec![0.0; rows * h];
                let mut ws = vec![0.0; rows * 5 * h];
                for b in 0..rows {
                    for j in 0..h {
                        let g = |v: &[f32], bias, k| gate(v, bias, 3, h, b, k, j);
                        let r = sigmoid(g(&ig, bi, 0) + g(&hg, bh, 0));
                        let z = sigmoid(g(&ig, bi, 1) + g(&hg, bh, 1));
                        let hn = g(&hg, bh, 2);
                        let n = (g(&ig, bi, 2) + r * hn).tanh();
                        let hx = prev[b * h + j];
                        hy[b * h + j] = n + z * (hx - n);
                        for (k, v) in [r, z, n, hx, hn].into_iter().enumerate() {
                            ws[b * 5 * h + k * h + j] = v;
                        }
                    }
                }
                write(outs, 0, cx, &hy);
                write(outs, 1, cx, &ws);
            }
            FusedCell::Lstm { .. } => {
                let mut hy = vec![0.0; rows * h];
                let mut cy = vec![0.0; rows * h];
                let mut ws = vec![0.0; rows * 4 * h];
                for b in 0..rows {
                    for j in 0..h {
                        let g = |k| gate(&ig, bi, 4, h, b, k, j) + gate(&hg, bh, 4, h, b, k, j);
                        let (i, f, c, o) =
                            (sigmoid(g(0)), sigmoid(g(1)), g(2).tanh(), sigmoid(g(3)));
                        let c_new = f * prev[b * h + j] + i * c;
                        cy[b * h + j] = c_new;
                        hy[b * h + j] = o * c_new.tanh();
                        for (k, v) in [i, f, c, o].into_iter().enumerate() {
                            ws[b * 4 * h + k * h + j] = v;
                        }
                    }
                }
                write(outs, 0, cx, &hy);
                write(outs, 1, cx, &cy);
                write(outs, 2, cx, &ws);
            }
        }
    }

    /// GRU: `[grad_input_gates, grad_hidden_gates, grad_hx]` from `[grad_hy, workspace]`.
    /// LSTM: `[grad_gates, grad_cx]` from `[grad_hy?, grad_cy?, cx, cy, workspace]`, an absent
    /// gradient counting as zeros (as the kernel's `tryGetTensorInfo` does).
    pub(super) fn host_backward(self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        match self {
            FusedCell::Gru { .. } => {
                let (Some(go), Some(ws)) = (read(ins, 0, cx), read(ins, 1, cx)) else {
                    return;
                };
                let h = ins[0].map_or(0, |b| b.shape.last().copied().unwrap_or(0));
                let rows = go.len().checked_div(h).unwrap_or(0);
                let mut gi = vec![0.0; rows * 3 * h];
                let mut gh = vec![0.0; rows * 3 * h];
                let mut ghx = vec![0.0; rows * h];
                for b in 0..rows {
                    for j in 0..h {
                        let w = |k: usize| ws[b * 5 * h + k * h + j];
                        let (r, z, n, hx, hn) = (w(0), w(1), w(2), w(3), w(4));
                        let g = go[b * h + j];
                        let gz = g * (hx - n) * (1.0 - z) * z;
                        let gn = g * (1.0 - z) * (1.0 - n * n);
                        let ghn = gn * r;
                        let gr = gn * hn * (1.0 - r) * r;
                        ghx[b * h + j] = g * z;
                        for (k, (vi, vh)) in [(gr, gr), (gz, gz), (gn, ghn)].into_iter().enumerate()
                        {
                            gi[b * 3 * h + k * h + j] = vi;
                            gh[b * 3 * h + k * h + j] = vh;
                        }
                    }
                }
                write(outs, 0, cx, &gi);
                write(outs, 1, cx, &gh);
                write(outs, 2, cx, &ghx);
            }
            FusedCell::Lstm { .. } => {
                let (Some(c_prev), Some(c_new), Some(ws)) =
                    (read(ins, 2, cx), read(ins, 3, cx), read(ins, 4, cx))
                else {
                    return;
                };
                let zeros = || vec![0.0; c_prev.len()];
                let go = read(ins, 0, cx).unwrap_or_else(zeros);
                let gc = read(ins, 1, cx).unwrap_or_else(zeros);
                let h = ins[2].map_or(0, |b| b.shape.last().copied().unwrap_or(0));
                let rows = c_prev.len().checked_div(h).unwrap_or(0);
                let mut gg = vec![0.0; rows * 4 * h];
                let mut gcx = vec![0.0; rows * h];
                for b in 0..rows {
                    for j in 0..h {
                        let at = b * h + j;
                        let w = |k: usize| ws[b * 4 * h + k * h + j];
                        let (i, f, c, o) = (w(0), w(1), w(2), w(3));
                        let tc = c_new[at].tanh();
                        let d_c = go[at] * o * (1.0 - tc * tc) + gc[at];
                        let grads = [
                            d_c * c * (1.0 - i) * i,
                            d_c * c_prev[at] * (1.0 - f) * f,
                            d_c * i * (1.0 - c * c),
                            go[at] * tc * (1.0 - o) * o,
                        ];
                        for (k, v) in grads.into_iter().enumerate() {
                            gg[b * 4 * h + k * h + j] = v;
                        }
                        gcx[at] = d_c * f;
                    }
                }
                write(outs, 0, cx, &gg);
                write(outs, 1, cx, &gcx);
            }
        }
    }

    /// ThnnFusedGruCellBackward0 (grad mode off, as the engine runs it:
    /// `_thnn_fused_gru_cell_backward`): all three gate gradients are computed, then the
    /// biases' sums; what no input needs is dropped when the node returns.
    pub(crate) fn gru_backward(
        self,
        node: &Node,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let FusedCell::Gru { has_bias } = self else {
            return Err(TensorError::Invalid(format!(
                "{} has two outputs",
                self.node_name()
            )));
        };
        let ws = node.unpack("result1")?;
        let (rt, dt, dev) = (grad.runtime(), ws.dtype(), ws.device());
        let h = ws.shape()[1] / 5;
        let rows = ws.shape()[0];
        let gi = Tensor::empty_on(rt, &[rows, 3 * h], dt, dev)?;
        let gh = Tensor::empty_on(rt, &[rows, 3 * h], dt, dev)?;
        let ghx = Tensor::empty_on(rt, grad.shape(), dt, dev)?;
        run(
            &gi,
            &LayerKernel::FusedCellBackward(self),
            &[Some(&gi), Some(&gh), Some(&ghx)],
            &[Some(grad), Some(&ws)],
        )?;
        let (gbi, gbh) = if has_bias {
            (
                Some(gi.sum_dim(&[0], false)?),
                Some(gh.sum_dim(&[0], false)?),
            )
        } else {
            (None, None)
        };
        Ok(pick(needs, [Some(gi), Some(gh), Some(ghx), gbi, gbh]))
    }

    /// ThnnFusedLstmCellBackward0 (`_thnn_fused_lstm_cell_backward`): one gradient per output
    /// (hy, cy; nothing when neither got one); grad_gates goes to both gate inputs and the one
    /// `sum(0)` to both biases, as the same tensors.
    pub(crate) fn lstm_backward(
        self,
        node: &Node,
        grads: &[Option<Tensor>],
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let FusedCell::Lstm { has_bias } = self else {
            return Err(TensorError::Invalid(format!(
                "{} has one output",
                self.node_name()
            )));
        };
        let go = grads.first().cloned().flatten();
        let gc = grads.get(1).cloned().flatten();
        let Some(any) = go.as_ref().or(gc.as_ref()) else {
            return Ok(vec![None; needs.len()]);
        };
        let c_prev = node.unpack("cx")?;
        let c_new = node.unpack("result1")?;
        let ws = node.unpack("result2")?;
        let (rt, dt, dev) = (any.runtime(), ws.dtype(), ws.device());
        let gg = Tensor::empty_on(rt, ws.shape(), dt, dev)?;
        let gcx = Tensor::empty_on(rt, c_prev.shape(), dt, dev)?;
        run(
            &gg,
            &LayerKernel::FusedCellBackward(self),
            &[Some(&gg), Some(&gcx)],
            &[
                go.as_ref(),
                gc.as_ref(),
                Some(&c_prev),
                Some(&c_new),
                Some(&ws),
            ],
        )?;
        let gb = if has_bias {
            Some(gg.sum_dim(&[0], false)?)
        } else {
            None
        };
        Ok(pick(
            needs,
            [Some(gg.clone()), Some(gg), Some(gcx), gb.clone(), gb],
        ))
    }
}

/// The gradients the node's inputs need, the rest dropped (freed as the node returns).
fn pick(needs: &[bool], grads: [Option<Tensor>; 5]) -> Vec<Option<Tensor>> {
    grads
        .into_iter()
        .zip(needs.iter().copied().chain(std::iter::repeat(false)))
        .take(needs.len())
        .map(|(g, need)| g.filter(|_| need))
        .collect()
}

/// The shape checks of RNN.cu's `checkSizes`: gates `[B, factor * H]`, the previous state
/// `[B, H]`, biases `[factor * H]`, all of one dtype and device.
fn check(
    name: &str,
    factor: usize,
    ig: &Tensor,
    hg: &Tensor,
    prev: &Tensor,
    biases: [Option<&Tensor>; 2],
) -> Result<()> {
    let gates_shape = [
        prev.shape().first().copied().unwrap_or(0),
        factor * prev.shape().last().copied().unwrap_or(0),
    ];
    let bad = |what: &str| Err(TensorError::Invalid(format!("{name}: {what}")));
    if prev.dim() != 2 || ig.shape() != gates_shape || hg.shape() != gates_shape {
        return bad("input_gates and hidden_gates must be [batch, gates * hidden] of the state's batch and hidden size");
    }
    for b in biases.into_iter().flatten() {
        if b.shape() != [gates_shape[1]] {
            return bad("a bias must be [gates * hidden]");
        }
    }
    let all = [Some(ig), Some(hg), Some(prev), biases[0], biases[1]];
    if all
        .iter()
        .flatten()
        .any(|t| t.dtype() != ig.dtype() || t.device() != ig.device())
    {
        return bad("expected all tensors to have the same dtype and device");
    }
    if !ig.dtype().is_floating_point() {
        return bad(&format!(
            "not implemented for '{}'",
            ig.dtype().short_name()
        ));
    }
    Ok(())
}

impl Tensor {
    /// `torch._thnn_fused_gru_cell(self, hidden_gates, hx, input_bias, hidden_bias)`, `self`
    /// being the input gates: `(hy, workspace)`.
    pub(crate) fn thnn_fused_gru_cell(
        &self,
        hidden_gates: &Tensor,
        hx: &Tensor,
        input_bias: Option<&Tensor>,
        hidden_bias: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        check(
            "_thnn_fused_gru_cell_cuda",
            3,
            self,
            hidden_gates,
            hx,
            [input_bias, hidden_bias],
        )?;
        let (rt, dt, dev) = (self.runtime(), hx.dtype(), hx.device());
        let ws = Tensor::empty_on(rt, &[hx.shape()[0], 5 * hx.shape()[1]], dt, dev)?;
        let hy = Tensor::empty_on(rt, hx.shape(), dt, dev)?;
        let cell = FusedCell::Gru {
            has_bias: input_bias.is_some(),
        };
        run(
            &hy,
            &LayerKernel::FusedCell(cell),
            &[Some(&hy), Some(&ws)],
            &[
                Some(self),
                Some(hidden_gates),
                Some(hx),
                input_bias,
                hidden_bias,
            ],
        )?;
        let mut inputs = vec![self, hidden_gates, hx];
        inputs.extend(input_bias);
        inputs.extend(hidden_bias);
        if let Some(mut b) = NodeBuilder::new(&inputs) {
            save_common(
                &mut b,
                self,
                hidden_gates,
                ("hx", hx),
                [input_bias, hidden_bias],
            );
            b.save("result1", &ws);
            b.finish(Formula::Layer(LayerNode::FusedCell(cell)), &hy);
        }
        Ok((hy, ws))
    }

    /// `torch._thnn_fused_lstm_cell(self, hidden_gates, cx, input_bias, hidden_bias)`, `self`
    /// being the input gates: `(hy, cy, workspace)`.
    pub(crate) fn thnn_fused_lstm_cell(
        &self,
        hidden_gates: &Tensor,
        cx: &Tensor,
        input_bias: Option<&Tensor>,
        hidden_bias: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        check(
            "_thnn_fused_lstm_cell_cuda",
            4,
            self,
            hidden_gates,
            cx,
            [input_bias, hidden_bias],
        )?;
        let (rt, dt, dev) = (self.runtime(), self.dtype(), self.device());
        let ws = Tensor::empty_on(rt, self.shape(), dt, dev)?;
        let hy = Tensor::empty_on(rt, cx.shape(), dt, dev)?;
        let cy = Tensor::empty_on(rt, cx.shape(), dt, dev)?;
        let cell = FusedCell::Lstm {
            has_bias: input_bias.is_some(),
        };
        run(
            &hy,
            &LayerKernel::FusedCell(cell),
            &[Some(&hy), Some(&cy), Some(&ws)],
            &[
                Some(self),
                Some(hidden_gates),
                Some(cx),
                input_bias,
                hidden_bias,
            ],
        )?;
        let mut inputs = vec![self, hidden_gates, cx];
        inputs.extend(input_bias);
        inputs.extend(hidden_bias);
        if let Some(mut b) = NodeBuilder::new(&inputs) {
            save_common(
                &mut b,
                self,
                hidden_gates,
                ("cx", cx),
                [input_bias, hidden_bias],
            );
            // cy is an output of this node: saved as an alias without its history, as a
            // SavedVariable of an output is, so that node and output make no cycle.
            let cy_saved = cy.view_raw(cy.shape().to_vec(), cy.strides().to_vec(), 0);
            b.save("result1", &cy_saved);
            b.save("result2", &ws);
            b.finish_multi(
                Formula::Layer(LayerNode::FusedCell(cell)),
                &[hy.clone(), cy.clone()],
            );
        }
        Ok((hy, cy, ws))
    }
}

/// The saved tensors both fused cells share, in derivatives.yaml's order.
fn save_common(
    b: &mut NodeBuilder,
    ig: &Tensor,
    hg: &Tensor,
    (state_name, state): (&'static str, &Tensor),
    [bi, bh]: [Option<&Tensor>; 2],
) {
    b.save("input_gates", ig);
    b.save("hidden_gates", hg);
    b.save(state_name, state);
    if let Some(bi) = bi {
        b.save("input_bias", bi);
    }
    if let Some(bh) = bh {
        b.save("hidden_bias", bh);
    }
}
