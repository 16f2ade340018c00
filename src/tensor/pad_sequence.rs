//! `torch.nn.utils.rnn.pad_sequence`: the ATen op `pad_sequence` of
//! aten/src/ATen/native/PackedSequence.cpp (torch 2.15), which `torch/nn/utils/rnn.py` calls.
//! One `full` of the padded shape, then for each sequence a `copy_` into its slice of it: when
//! a sequence requires grad, each copy makes the output's history a CopySlices wrapping a
//! CopyBackwards (`src/autograd/copy_slices.rs`), chained, with nothing saved.

use super::{Result, Scalar, Tensor, TensorError};

/// Which end of the time dimension the padding goes to (`padding_side`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingSide {
    /// Sequences start at time 0 (the default).
    Right,
    /// Sequences end at the last time step.
    Left,
}

impl std::str::FromStr for PaddingSide {
    type Err = TensorError;

    fn from_str(s: &str) -> Result<PaddingSide> {
        match s {
            "right" => Ok(PaddingSide::Right),
            "left" => Ok(PaddingSide::Left),
            other => Err(TensorError::Invalid(format!(
                "Expected padding_side to be one of left or right, but got {other}."
            ))),
        }
    }
}

impl Tensor {
    /// `pad_sequence(sequences, batch_first, padding_value, padding_side)`: the sequences
    /// (each `L_i × *`, the trailing sizes of the first) stacked into `B × T × *` with
    /// `batch_first`, else `T × B × *`, `T` the longest length, padded with `padding_value`.
    pub fn pad_sequence(
        sequences: &[Tensor],
        batch_first: bool,
        padding_value: f64,
        side: PaddingSide,
    ) -> Result<Tensor> {
        let Some(first) = sequences.first() else {
            return Err(TensorError::Invalid(
                "received an empty list of sequences".into(),
            ));
        };
        if first.dim() == 0 {
            return Err(TensorError::Invalid(
                "pad_sequence: each sequence needs a time dimension (got a 0-dim tensor)".into(),
            ));
        }
        let max_len = sequences
            .iter()
            .map(|s| s.shape().first().copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let n = sequences.len();
        let mut shape = if batch_first {
            vec![n, max_len]
        } else {
            vec![max_len, n]
        };
        shape.extend_from_slice(&first.shape()[1..]);
        // at::full: an empty tensor filled in place.
        let out = first.new_like(&shape, first.dtype(), first.device())?;
        out.fill_(Scalar::Float(padding_value))?;
        for (i, seq) in sequences.iter().enumerate() {
            let len = seq.shape().first().copied().unwrap_or(0);
            let start = match side {
                PaddingSide::Left => max_len - len,
                PaddingSide::Right => 0,
            };
            let slot = if batch_first {
                out.select_dim(0, i as i64)?
                    .narrow(0, start as i64, len as i64)?
            } else {
                out.narrow(0, start as i64, len as i64)?
                    .select_dim(1, i as i64)?
            };
            slot.copy_(seq)?;
        }
        Ok(out)
    }
}
