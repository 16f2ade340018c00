//! `nn.RNNCell`, `nn.LSTMCell` and `nn.GRUCell`: one step of a recurrence, as
//! `torch/nn/modules/rnn.py` calls `_VF.rnn_tanh_cell` / `lstm_cell` / `gru_cell` and
//! `aten/src/ATen/native/RNN.cpp` runs them on the CPU: `linear_hh(h).add_(linear_ih(x))` for
//! RNN and LSTM (the hidden projection first), `linear_ih(x)` then `linear_hh(h)` for GRU.
//! On CUDA, `GRUCell` and `LSTMCell` in RNN.cpp take another path: `input.matmul(w_ih.t())`,
//! `hx.matmul(w_hh.t())` (two `mm`s, no bias, so no cuBLASLt workspace), then
//! `_thnn_fused_gru_cell` / `_thnn_fused_lstm_cell` with the biases (one node, a workspace;
//! `src/tensor/fused_cells.rs`). The RNN cells stay composed on CUDA too.

use std::cell::Cell;

use super::rnn::{gru_cell, lstm_gates, LayerWeights};
use super::{Io, Layer, Module, RnnMode};
use crate::alloc::Purpose;
use crate::base::{DType, Device, Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::{AutocastOp, Tensor};

/// One recurrent cell: `weight_ih`, `weight_hh`, and with a bias `bias_ih`, `bias_hh`.
#[derive(Debug)]
pub struct RnnCell {
    mode: RnnMode,
    input_size: usize,
    hidden_size: usize,
    params: Vec<(String, Tensor)>,
    training: Cell<bool>,
}

impl RnnCell {
    /// The cell with its parameters on the host, initialized in registration order with
    /// U(-1/sqrt(hidden), 1/sqrt(hidden)) (`RNNCellBase.reset_parameters`).
    pub fn new(
        rt: &Runtime,
        mode: RnnMode,
        input_size: usize,
        hidden_size: usize,
        bias: bool,
    ) -> Result<RnnCell> {
        let rows = match mode {
            RnnMode::Tanh | RnnMode::Relu => hidden_size,
            RnnMode::Lstm => 4 * hidden_size,
            RnnMode::Gru => 3 * hidden_size,
        };
        let mut shapes = vec![
            ("weight_ih", vec![rows, input_size]),
            ("weight_hh", vec![rows, hidden_size]),
        ];
        if bias {
            shapes.push(("bias_ih", vec![rows]));
            shapes.push(("bias_hh", vec![rows]));
        }
        let stdv = if hidden_size > 0 {
            1.0 / (hidden_size as f64).sqrt()
        } else {
            0.0
        };
        let mut params = Vec::new();
        for (name, shape) in shapes {
            let t = rt.empty(&shape, DType::F32, Device::Cpu)?;
            t.set_purpose(Purpose::Parameter);
            rt.uniform_(&t, -stdv, stdv)?;
            t.set_requires_grad(true)?;
            params.push((name.to_string(), t));
        }
        Ok(RnnCell {
            mode,
            input_size,
            hidden_size,
            params,
            training: Cell::new(true),
        })
    }

    fn param(&self, name: &str) -> Option<&Tensor> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    fn weights(&self) -> Result<LayerWeights<'_>> {
        let missing = || TensorError::Invalid(format!("{} without weights", self.class_name()));
        Ok(LayerWeights {
            w_ih: self.param("weight_ih").ok_or_else(missing)?,
            w_hh: self.param("weight_hh").ok_or_else(missing)?,
            b_ih: self.param("bias_ih"),
            b_hh: self.param("bias_hh"),
        })
    }

    /// ATen's `check_rnn_cell_forward_input` / `_hidden` checks, with its messages.
    fn check(&self, x: &Tensor, h: &Tensor, which: usize) -> Result<()> {
        if h.dim() != 2 || h.shape()[1] != self.hidden_size {
            return Err(TensorError::Invalid(format!(
                "hidden{which} has inconsistent hidden_size: got {}, expected {}",
                h.shape().last().copied().unwrap_or(0),
                self.hidden_size
            )));
        }
        if h.shape()[0] != x.shape()[0] {
            return Err(TensorError::Invalid(format!(
                "Input batch size {} doesn't match hidden{which} batch size {}",
                x.shape()[0],
                h.shape()[0]
            )));
        }
        Ok(())
    }

    /// One step: the new hidden state, and for LSTM the new cell state. Without a state it
    /// starts at zeros (one zeros tensor for both of LSTM's, as `LSTMCell.forward` makes it).
    pub fn step(&self, x: &Tensor, state: Option<(Tensor, Option<Tensor>)>) -> Result<Io> {
        if x.dim() != 2 {
            return Err(TensorError::Unsupported(format!(
                "{}: a {}-D input (only batched 2-D input is modelled)",
                self.class_name(),
                x.dim()
            )));
        }
        if x.shape()[1] != self.input_size {
            return Err(TensorError::Invalid(format!(
                "input has inconsistent input_size: got {}, expected {}",
                x.shape()[1],
                self.input_size
            )));
        }
        let (h, c) = match state {
            Some(s) => s,
            None => {
                let zeros =
                    x.runtime()
                        .zeros(&[x.shape()[0], self.hidden_size], x.dtype(), x.device())?;
                let c = (self.mode == RnnMode::Lstm).then(|| zeros.clone());
                (zeros, c)
            }
        };
        self.check(x, &h, 0)?;
        if let Some(c) = &c {
            self.check(x, c, 1)?;
        }
        let w = self.weights()?;
        // Autocast's cuda list casts the whole cell call (`gru_cell`, `lstm_cell`,
        // `rnn_tanh_cell`, `rnn_relu_cell`: lower_precision_fp), its arguments in order: the
        // input, the state, the weights, the biases.
        let args = [
            Some(x),
            Some(&h),
            c.as_ref(),
            Some(w.w_ih),
            Some(w.w_hh),
            w.b_ih,
            w.b_hh,
        ];
        if let Some(cast) = Tensor::autocast(AutocastOp::RnnCell, &args)? {
            let w = LayerWeights {
                w_ih: cast.arg(3),
                w_hh: cast.arg(4),
                b_ih: cast.opt(5),
                b_hh: cast.opt(6),
            };
            let (h, c) = (cast.arg(1).clone(), cast.opt(2).cloned());
            return self.run(cast.arg(0), h, c, &w);
        }
        self.run(x, h, c, &w)
    }

    /// The cell's arithmetic on checked (and, under autocast, cast) arguments.
    fn run(&self, x: &Tensor, h: Tensor, c: Option<Tensor>, w: &LayerWeights<'_>) -> Result<Io> {
        if x.device() == Device::Cuda {
            if let Some(out) = fused_step(self.mode, x, &h, c.as_ref(), w)? {
                return Ok(out);
            }
        }
        let gates = || h.linear(w.w_hh, w.b_hh)?.add_(&x.linear(w.w_ih, w.b_ih)?);
        Ok(match self.mode {
            // `hidden_nonlinearity(linear_hh(hx).add_(linear_ih(input)))` in RNN.cpp's
            // SimpleCell is one C++ expression: the input projection, a temporary, dies only
            // after the nonlinearity's output exists (the H100 probe's order).
            RnnMode::Tanh | RnnMode::Relu => {
                let hh = h.linear(w.w_hh, w.b_hh)?;
                let ih = x.linear(w.w_ih, w.b_ih)?;
                let gates = hh.add_(&ih)?;
                let out = if self.mode == RnnMode::Tanh {
                    gates.tanh()?
                } else {
                    gates.relu()?
                };
                drop(ih);
                Io::Tensor(out)
            }
            RnnMode::Gru => Io::Tensor(gru_cell(&x.linear(w.w_ih, w.b_ih)?, &h, w)?),
            RnnMode::Lstm => {
                let c = c.ok_or_else(|| {
                    TensorError::Invalid("LSTMCell: Expected hx to be a tuple (h_0, c_0)".into())
                })?;
                let (hy, cy) = lstm_gates(&gates()?, &c)?;
                Io::Tuple(vec![Io::Tensor(hy), Io::Tensor(cy)])
            }
        })
    }
}

/// The CUDA path of RNN.cpp's `GRUCell` / `LSTMCell` for `mode`; `None` for the RNN cells,
/// which have no fused kernel.
fn fused_step(
    mode: RnnMode,
    x: &Tensor,
    h: &Tensor,
    c: Option<&Tensor>,
    w: &LayerWeights<'_>,
) -> Result<Option<Io>> {
    if !matches!(mode, RnnMode::Gru | RnnMode::Lstm) {
        return Ok(None);
    }
    let igates = x.matmul(&w.w_ih.t()?)?;
    let hgates = h.matmul(&w.w_hh.t()?)?;
    Ok(Some(match (mode, c) {
        (RnnMode::Lstm, Some(c)) => {
            let (hy, cy, _workspace) = igates.thnn_fused_lstm_cell(&hgates, c, w.b_ih, w.b_hh)?;
            Io::Tuple(vec![Io::Tensor(hy), Io::Tensor(cy)])
        }
        (RnnMode::Lstm, None) => {
            return Err(TensorError::Invalid(
                "LSTMCell: Expected hx to be a tuple (h_0, c_0)".into(),
            ))
        }
        _ => Io::Tensor(igates.thnn_fused_gru_cell(&hgates, h, w.b_ih, w.b_hh)?.0),
    }))
}

impl Module for RnnCell {
    /// `cell(x)` of an RNN or GRU cell: the new hidden state from zeros.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.step(x, None)? {
            Io::Tensor(h) => Ok(h),
            _ => Err(TensorError::Invalid(
                "LSTMCell returns a tuple (h_1, c_1)".into(),
            )),
        }
    }

    /// `cell(x)`, `cell(x, None)`, `cell(x, h)`, `lstm_cell(x, (h, c))`.
    fn call(&self, inputs: &[Io]) -> Result<Io> {
        let lstm = self.mode == RnnMode::Lstm;
        let (x, state) = match inputs {
            [Io::Tensor(x)] | [Io::Tensor(x), Io::None] => (x, None),
            [Io::Tensor(x), Io::Tensor(h)] if !lstm => (x, Some((h.clone(), None))),
            [Io::Tensor(x), Io::Tuple(s)] if lstm => match s.as_slice() {
                [Io::Tensor(h), Io::Tensor(c)] => (x, Some((h.clone(), Some(c.clone())))),
                _ => {
                    return Err(TensorError::Invalid(
                        "LSTMCell: Expected hx to be a tuple (h_0, c_0)".into(),
                    ))
                }
            },
            _ => {
                return Err(TensorError::Invalid(format!(
                    "{}.forward() takes an input tensor and {}",
                    self.class_name(),
                    if lstm {
                        "an optional tuple (h_0, c_0)"
                    } else {
                        "an optional hx tensor"
                    }
                )))
            }
        };
        self.step(x, state)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.params.clone()
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for RnnCell {
    fn class_name(&self) -> &'static str {
        match self.mode {
            RnnMode::Tanh | RnnMode::Relu => "RNNCell",
            RnnMode::Lstm => "LSTMCell",
            RnnMode::Gru => "GRUCell",
        }
    }

    /// `RNNCellBase.extra_repr`: `GRUCell(16, 32)`, `RNNCell(4, 8, bias=False,
    /// nonlinearity=relu)`.
    fn repr(&self) -> String {
        let mut s = format!(
            "{}({}, {}",
            self.class_name(),
            self.input_size,
            self.hidden_size
        );
        if self.param("bias_ih").is_none() {
            s.push_str(", bias=False");
        }
        if self.mode == RnnMode::Relu {
            s.push_str(", nonlinearity=relu");
        }
        s.push(')');
        s
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        Box::new(RnnCell {
            mode: self.mode,
            input_size: self.input_size,
            hidden_size: self.hidden_size,
            params: self
                .params
                .iter()
                .map(|(n, _)| n.clone())
                .zip(params)
                .collect(),
            training: Cell::new(self.training.get()),
        })
    }

    fn as_call(&self) -> Option<&dyn Module> {
        Some(self)
    }
}
