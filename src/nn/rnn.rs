//! `nn.RNN`, `nn.LSTM` and `nn.GRU`, composed from per-step tensor operations as PyTorch's CPU path
//! composes them (`aten/src/ATen/native/RNN.cpp`: `FullLayer`, `FullBidirectionalLayer`,
//! `SimpleCell`, `LSTMCell`, `GRUCell` with the input projection computed for the whole sequence first).
//! The graph holds, per time step, the nodes and saved tensors PyTorch 2.15's composed path
//! holds (`docs/fidelity.md`). PyTorch runs LSTM on CPU through oneDNN's fused
//! `mkldnn_rnn_layer`, and on CUDA through cuDNN's fused kernel, when they are available: one
//! node per layer with a workspace instead of these nodes; that path is not modelled.

use std::cell::Cell;

use super::{Io, Module};
use crate::alloc::Purpose;
use crate::base::{DType, Device, Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::Tensor;

/// Which recurrence a [`Rnn`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RnnMode {
    /// `nn.RNN(nonlinearity='tanh')`: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    Tanh,
    /// `nn.RNN(nonlinearity='relu')`.
    Relu,
    /// `nn.LSTM`: four gates, a hidden and a cell state.
    Lstm,
    /// `nn.GRU`: three gates (reset, update, new), a hidden state.
    Gru,
}

impl RnnMode {
    /// Gates per hidden unit: the rows of `weight_ih` are `gates * hidden_size`.
    fn gates(self) -> usize {
        match self {
            RnnMode::Tanh | RnnMode::Relu => 1,
            RnnMode::Lstm => 4,
            RnnMode::Gru => 3,
        }
    }
}

/// The constructor arguments of `nn.RNN` / `nn.LSTM`, with PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RnnConfig {
    /// `input_size`.
    pub input_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `num_layers` (1).
    pub num_layers: usize,
    /// `bias` (true).
    pub bias: bool,
    /// `batch_first` (false): input and output are (batch, seq, feature).
    pub batch_first: bool,
    /// `dropout` (0.0): dropout on each layer's output but the last, in training mode.
    pub dropout: f64,
    /// `bidirectional` (false).
    pub bidirectional: bool,
}

impl RnnConfig {
    /// A single-layer, unidirectional configuration with a bias.
    pub fn new(input_size: usize, hidden_size: usize) -> RnnConfig {
        RnnConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
        }
    }

    fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
}

/// The recurrent state: `h` for RNN and GRU, `(h, c)` for LSTM, each (layers × directions, batch,
/// hidden).
#[derive(Debug, Clone)]
pub enum RnnState {
    /// `h_n` of `nn.RNN`.
    Hidden(Tensor),
    /// `(h_n, c_n)` of `nn.LSTM`.
    HiddenCell(Tensor, Tensor),
}

/// The weights of one layer in one direction.
pub(super) struct LayerWeights<'a> {
    pub(super) w_ih: &'a Tensor,
    pub(super) w_hh: &'a Tensor,
    pub(super) b_ih: Option<&'a Tensor>,
    pub(super) b_hh: Option<&'a Tensor>,
}

/// `nn.RNN`, `nn.LSTM` or `nn.GRU` (see [`RnnMode`]).
#[derive(Debug)]
pub struct Rnn {
    mode: RnnMode,
    config: RnnConfig,
    params: Vec<(String, Tensor)>,
    training: Cell<bool>,
}

impl Rnn {
    /// The layer with its parameters on the host, named and ordered as PyTorch registers them
    /// (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, then `..._reverse`, per
    /// layer), each initialized from the host generator with U(-1/sqrt(hidden),
    /// 1/sqrt(hidden)) in that order (`RNNBase.reset_parameters`).
    pub fn new(rt: &Runtime, mode: RnnMode, config: RnnConfig) -> Result<Rnn> {
        if !(0.0..=1.0).contains(&config.dropout) {
            return Err(TensorError::Invalid(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed".into(),
            ));
        }
        if config.hidden_size == 0 {
            return Err(TensorError::Invalid(
                "hidden_size must be greater than zero".into(),
            ));
        }
        if config.num_layers == 0 {
            return Err(TensorError::Invalid(
                "num_layers must be greater than zero".into(),
            ));
        }
        let rows = mode.gates() * config.hidden_size;
        let mut params = Vec::new();
        for layer in 0..config.num_layers {
            let input = if layer == 0 {
                config.input_size
            } else {
                config.hidden_size * config.directions()
            };
            for dir in 0..config.directions() {
                let suffix = if dir == 1 { "_reverse" } else { "" };
                let mut shapes = vec![
                    (format!("weight_ih_l{layer}{suffix}"), vec![rows, input]),
                    (
                        format!("weight_hh_l{layer}{suffix}"),
                        vec![rows, config.hidden_size],
                    ),
                ];
                if config.bias {
                    shapes.push((format!("bias_ih_l{layer}{suffix}"), vec![rows]));
                    shapes.push((format!("bias_hh_l{layer}{suffix}"), vec![rows]));
                }
                for (name, shape) in shapes {
                    let t = rt.empty(&shape, DType::F32, Device::Cpu)?;
                    t.set_purpose(Purpose::Parameter);
                    params.push((name, t));
                }
            }
        }
        let stdv = 1.0 / (config.hidden_size as f64).sqrt();
        for (_, p) in &params {
            rt.uniform_(p, -stdv, stdv)?;
            p.set_requires_grad(true)?;
        }
        Ok(Rnn {
            mode,
            config,
            params,
            training: Cell::new(true),
        })
    }

    /// The same layer over other parameters (in the same order), in the same training mode:
    /// what `copy.deepcopy` makes once it has copied the parameters.
    pub fn with_parameters(&self, params: Vec<Tensor>) -> Rnn {
        Rnn {
            mode: self.mode,
            config: self.config,
            params: self
                .params
                .iter()
                .map(|(n, _)| n.clone())
                .zip(params)
                .collect(),
            training: Cell::new(self.training.get()),
        }
    }

    /// Which recurrence it runs.
    pub fn mode(&self) -> RnnMode {
        self.mode
    }

    /// Its constructor arguments.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// PyTorch's class name.
    pub fn class_name(&self) -> &'static str {
        match self.mode {
            RnnMode::Tanh | RnnMode::Relu => "RNN",
            RnnMode::Lstm => "LSTM",
            RnnMode::Gru => "GRU",
        }
    }

    fn param(&self, name: &str) -> Option<&Tensor> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    fn weights(&self, layer: usize, reverse: bool) -> Result<LayerWeights<'_>> {
        let suffix = if reverse { "_reverse" } else { "" };
        let get = |kind: &str| self.param(&format!("{kind}_l{layer}{suffix}"));
        let missing =
            || TensorError::Invalid(format!("{} has no layer {layer}", self.class_name()));
        Ok(LayerWeights {
            w_ih: get("weight_ih").ok_or_else(missing)?,
            w_hh: get("weight_hh").ok_or_else(missing)?,
            b_ih: get("bias_ih"),
            b_hh: get("bias_hh"),
        })
    }

    /// `rnn(input, hx)`: the output sequence and the final state. Without `hx`, the state
    /// starts as zeros (allocated on the input's device, `h` first). The state's shape is
    /// checked with PyTorch's message.
    pub fn forward_state(
        &self,
        input: &Tensor,
        hx: Option<RnnState>,
    ) -> Result<(Tensor, RnnState)> {
        let c = &self.config;
        if input.dim() != 3 {
            return Err(TensorError::Unsupported(format!(
                "{}: a {}-D input (only batched 3-D input is modelled)",
                self.class_name(),
                input.dim()
            )));
        }
        if input.shape()[2] != c.input_size {
            return Err(TensorError::Invalid(format!(
                "input.size(-1) must be equal to input_size. Expected {}, got {}",
                c.input_size,
                input.shape()[2]
            )));
        }
        let batch = input.shape()[if c.batch_first { 0 } else { 1 }];
        let state_shape = [c.num_layers * c.directions(), batch, c.hidden_size];
        let zeros = || {
            input
                .runtime()
                .zeros(&state_shape, input.dtype(), input.device())
        };
        let (h0, c0) = match (self.mode, hx) {
            (RnnMode::Lstm, None) => (zeros()?, Some(zeros()?)),
            (_, None) => (zeros()?, None),
            (RnnMode::Lstm, Some(RnnState::HiddenCell(h, cell))) => {
                self.check_state(&h, &state_shape, "hidden[0]")?;
                self.check_state(&cell, &state_shape, "hidden[1]")?;
                (h, Some(cell))
            }
            (RnnMode::Lstm, Some(RnnState::Hidden(_))) => {
                return Err(TensorError::Invalid(
                    "LSTM: Expected hx to be a tuple (h_0, c_0)".into(),
                ))
            }
            (_, Some(RnnState::Hidden(h))) => {
                self.check_state(&h, &state_shape, "hidden")?;
                (h, None)
            }
            (_, Some(RnnState::HiddenCell(..))) => {
                return Err(TensorError::Invalid(
                    "RNN: Expected hx to be a tensor, got a tuple".into(),
                ))
            }
        };
        let x = if c.batch_first {
            input.transpose(0, 1)?
        } else {
            input.clone()
        };
        let hs = h0.unbind(0)?;
        let cs = match &c0 {
            Some(cell) => Some(cell.unbind(0)?),
            None => None,
        };
        let mut layer_input = x;
        let mut h_finals = Vec::new();
        let mut c_finals = Vec::new();
        for layer in 0..c.num_layers {
            let mut outputs = Vec::new();
            for dir in 0..c.directions() {
                let at = layer * c.directions() + dir;
                let w = self.weights(layer, dir == 1)?;
                let state = (hs[at].clone(), cs.as_ref().map(|cs| cs[at].clone()));
                let (out, (h, cell)) = self.run_direction(&layer_input, state, &w, dir == 1)?;
                outputs.push(out);
                h_finals.push(h);
                c_finals.extend(cell);
            }
            let out = if outputs.len() == 2 {
                let last = outputs[0].dim() as isize - 1;
                Tensor::cat(&outputs, last)?
            } else {
                outputs.remove(0)
            };
            layer_input = if c.dropout != 0.0 && self.training.get() && layer + 1 < c.num_layers {
                out.dropout(c.dropout, true)?
            } else {
                out
            };
        }
        drop((hs, cs));
        let h_n = Tensor::stack(&h_finals, 0)?;
        let state = if self.mode == RnnMode::Lstm {
            RnnState::HiddenCell(h_n, Tensor::stack(&c_finals, 0)?)
        } else {
            RnnState::Hidden(h_n)
        };
        let output = if c.batch_first {
            layer_input.transpose(0, 1)?
        } else {
            layer_input
        };
        Ok((output, state))
    }

    fn check_state(&self, t: &Tensor, expected: &[usize], what: &str) -> Result<()> {
        if t.shape() != expected {
            let dims: Vec<String> = expected.iter().map(usize::to_string).collect();
            let got: Vec<String> = t.shape().iter().map(usize::to_string).collect();
            return Err(TensorError::Invalid(format!(
                "Expected {what} size ({}), got [{}]",
                dims.join(", "),
                got.join(", ")
            )));
        }
        Ok(())
    }

    /// One layer in one direction over the whole sequence (`FullLayer` or
    /// `ReversedFullLayer`): the input projection for every step at once, then the cell per
    /// step, the outputs stacked in sequence order.
    #[allow(clippy::type_complexity)]
    fn run_direction(
        &self,
        input: &Tensor,
        (mut h, mut cell): (Tensor, Option<Tensor>),
        w: &LayerWeights<'_>,
        reverse: bool,
    ) -> Result<(Tensor, (Tensor, Option<Tensor>))> {
        let projected = input.linear(w.w_ih, w.b_ih)?;
        let steps = projected.unbind(0)?;
        drop(projected);
        let mut outputs = Vec::with_capacity(steps.len());
        let order: Vec<usize> = if reverse {
            (0..steps.len()).rev().collect()
        } else {
            (0..steps.len()).collect()
        };
        for t in order {
            // SimpleCell and LSTMCell add the step's projection to the hidden one; GRUCell
            // keeps them apart.
            let gates = || h.linear(w.w_hh, w.b_hh)?.add_(&steps[t]);
            h = match self.mode {
                RnnMode::Tanh => gates()?.tanh()?,
                RnnMode::Relu => gates()?.relu()?,
                RnnMode::Gru => gru_cell(&steps[t], &h, w)?,
                RnnMode::Lstm => {
                    let cx = cell.take().ok_or_else(|| {
                        TensorError::Invalid("LSTM cell without a cell state".into())
                    })?;
                    let (hy, cy) = lstm_gates(&gates()?, &cx)?;
                    cell = Some(cy);
                    hy
                }
            };
            outputs.push(h.clone());
        }
        drop(steps);
        if reverse {
            outputs.reverse();
        }
        let out = Tensor::stack(&outputs, 0)?;
        Ok((out, (h, cell)))
    }
}

/// `GRUCell` of RNN.cpp (its CPU path) on a step's input projection `igates`: the
/// projections split without views, `r = sigmoid_(hg_r.add_(ig_r))`,
/// `z = sigmoid_(hg_z.add_(ig_z))`, `n = tanh_(ig_n.add(hg_n.mul_(r)))`, and
/// `h' = (h - n).mul_(z).add_(n)`.
pub(super) fn gru_cell(igates: &Tensor, h: &Tensor, w: &LayerWeights<'_>) -> Result<Tensor> {
    let ig = igates.unsafe_chunk(3, 1)?;
    let hg = h.linear(w.w_hh, w.b_hh)?.unsafe_chunk(3, 1)?;
    let reset = hg[0].add_(&ig[0])?.sigmoid_()?;
    let update = hg[1].add_(&ig[1])?.sigmoid_()?;
    let new = ig[2].add(&hg[2].mul_(&reset)?)?.tanh_()?;
    h.sub(&new)?.mul_(&update)?.add_(&new)
}

/// `LSTMCell` of RNN.cpp after the gates' linear layers: the gates split without views
/// (`unsafe_chunk`), activated in place, then `cy = f * cx + i * g`, `hy = o * tanh(cy)`.
pub(super) fn lstm_gates(gates: &Tensor, cx: &Tensor) -> Result<(Tensor, Tensor)> {
    let chunks = gates.unsafe_chunk(4, 1)?;
    let ingate = chunks[0].sigmoid_()?;
    let forgetgate = chunks[1].sigmoid_()?;
    let cellgate = chunks[2].tanh_()?;
    let outgate = chunks[3].sigmoid_()?;
    drop(chunks);
    let cy = forgetgate.mul(cx)?;
    cy.add_(&ingate.mul(&cellgate)?)?;
    let hy = outgate.mul(&cy.tanh()?)?;
    Ok((hy, cy))
}

impl Module for Rnn {
    /// The output sequence of `rnn(x)` (the state starting at zeros); [`Module::call`] also
    /// returns the final state.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_state(x, None)?.0)
    }

    /// `rnn(input)`, `rnn(input, None)`, `rnn(input, h_0)` for RNN and `lstm(input, (h_0,
    /// c_0))`: `(output, h_n)` or `(output, (h_n, c_n))`.
    fn call(&self, inputs: &[Io]) -> Result<Io> {
        let (input, hx) = match inputs {
            [Io::Tensor(x)] | [Io::Tensor(x), Io::None] => (x, None),
            [Io::Tensor(x), Io::Tensor(h)] => (x, Some(RnnState::Hidden(h.clone()))),
            [Io::Tensor(x), Io::Tuple(state)] => match state.as_slice() {
                [Io::Tensor(h), Io::Tensor(c)] => {
                    (x, Some(RnnState::HiddenCell(h.clone(), c.clone())))
                }
                _ => {
                    return Err(TensorError::Invalid(format!(
                        "{}: hx must be a tuple of two tensors (h_0, c_0)",
                        self.class_name()
                    )))
                }
            },
            _ => {
                return Err(TensorError::Invalid(format!(
                    "{}.forward() takes an input tensor and an optional hx",
                    self.class_name()
                )))
            }
        };
        let (out, state) = self.forward_state(input, hx)?;
        let state = match state {
            RnnState::Hidden(h) => Io::Tensor(h),
            RnnState::HiddenCell(h, c) => Io::Tuple(vec![Io::Tensor(h), Io::Tensor(c)]),
        };
        Ok(Io::Tuple(vec![Io::Tensor(out), state]))
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

impl std::fmt::Display for Rnn {
    /// PyTorch's `repr`: `LSTM(10, 20, num_layers=2, batch_first=True)`, defaults left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        write!(
            f,
            "{}({}, {}",
            self.class_name(),
            c.input_size,
            c.hidden_size
        )?;
        if c.num_layers != 1 {
            write!(f, ", num_layers={}", c.num_layers)?;
        }
        if self.mode == RnnMode::Relu {
            write!(f, ", nonlinearity='relu'")?;
        }
        if !c.bias {
            write!(f, ", bias=False")?;
        }
        if c.batch_first {
            write!(f, ", batch_first=True")?;
        }
        if c.dropout != 0.0 {
            write!(f, ", dropout={:?}", c.dropout)?;
        }
        if c.bidirectional {
            write!(f, ", bidirectional=True")?;
        }
        write!(f, ")")
    }
}
