//! `nn.Transformer` as PyTorch 2.15 builds and runs it (`torch/nn/modules/transformer.py`,
//! `Transformer.__init__`, `forward`, `_reset_parameters`): an `encoder`
//! (`TransformerEncoder` of `num_encoder_layers` copies of a `TransformerEncoderLayer`, with a
//! final `LayerNorm`) and a `decoder` (likewise with `TransformerDecoderLayer`), then every
//! parameter of more than one dimension redrawn by `xavier_uniform_`. `forward(src, tgt, ...)`
//! runs the encoder on `src` and the decoder on `tgt` over the encoder's output.

use std::cell::Cell;

use super::{
    named_children, EncoderLayerConfig, Io, Layer, LayerNorm, Module, TransformerDecoder,
    TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
};
use crate::base::{DType, Device, Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::Tensor;

/// `nn.Transformer.generate_square_subsequent_mask(sz, device=None, dtype=None)`:
/// `torch.triu(torch.full((sz, sz), float("-inf")), diagonal=1)`, zeros on and below the
/// diagonal. It allocates the full matrix, then the mask, then frees the full matrix, as
/// PyTorch's expression does.
pub fn generate_square_subsequent_mask(
    rt: &Runtime,
    sz: usize,
    device: Device,
    dtype: DType,
) -> Result<Tensor> {
    if dtype == DType::I64 {
        // `full`'s check that -inf fits the type (a bool mask takes it as true).
        return Err(TensorError::Invalid(
            "value cannot be converted to type int64_t without overflow".into(),
        ));
    }
    let full = rt.empty(&[sz, sz], dtype, device)?;
    full.fill_(f64::NEG_INFINITY)?;
    full.triu(1)
}

/// The positional parameters of `Transformer.forward`.
const CALL: &[&str] = &[
    "src",
    "tgt",
    "src_mask",
    "tgt_mask",
    "memory_mask",
    "src_key_padding_mask",
    "tgt_key_padding_mask",
    "memory_key_padding_mask",
    "src_is_causal",
    "tgt_is_causal",
    "memory_is_causal",
];

/// `nn.Transformer`.
pub struct Transformer {
    config: EncoderLayerConfig,
    encoder: TransformerEncoder,
    decoder: TransformerDecoder,
    training: Cell<bool>,
}

impl std::fmt::Debug for Transformer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transformer")
            .field("config", &self.config)
            .field("encoder", &self.encoder)
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl Transformer {
    /// `nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
    /// dim_feedforward, dropout, activation, layer_norm_eps=..., batch_first, norm_first,
    /// bias)` with its parameters on the host, in PyTorch's order: the encoder layer, the
    /// encoder's norm and its copies, then the same for the decoder, then `xavier_uniform_`.
    pub fn new(
        rt: &Runtime,
        config: EncoderLayerConfig,
        num_encoder_layers: usize,
        num_decoder_layers: usize,
    ) -> Result<Transformer> {
        let norm = || -> Result<Option<Box<dyn Layer>>> {
            let n = LayerNorm::new(
                rt,
                &[config.d_model],
                config.layer_norm_eps,
                true,
                config.bias,
            )?;
            Ok(Some(Box::new(n)))
        };
        let encoder_layer = TransformerEncoderLayer::new(rt, config)?;
        let encoder = TransformerEncoder::new(&encoder_layer, num_encoder_layers, norm()?)?;
        let decoder_layer = TransformerDecoderLayer::new(rt, config)?;
        let decoder = TransformerDecoder::new(&decoder_layer, num_decoder_layers, norm()?)?;
        let t = Transformer {
            config,
            encoder,
            decoder,
            training: Cell::new(true),
        };
        t.reset_parameters()?;
        Ok(t)
    }

    /// `_reset_parameters`: `xavier_uniform_(p)` for every parameter with more than one
    /// dimension, U(-b, b) with b = sqrt(6 / (fan_in + fan_out)), in place (no allocation).
    fn reset_parameters(&self) -> Result<()> {
        for p in self.parameters() {
            if let [fan_out, fan_in, rest @ ..] = p.shape() {
                let receptive: usize = rest.iter().product();
                let fans = ((fan_in + fan_out) * receptive) as f64;
                let bound = (6.0 / fans).sqrt();
                let _no_grad = p.runtime().no_grad();
                p.runtime().uniform_(&p, -bound, bound)?;
            }
        }
        Ok(())
    }

    /// `Transformer.forward`'s checks of the inputs' batch and feature sizes.
    fn check(&self, src: &Tensor, tgt: &Tensor) -> Result<()> {
        let batch = usize::from(!self.config.batch_first);
        if src.dim() == 3 && src.shape()[batch] != tgt.shape().get(batch).copied().unwrap_or(0) {
            return Err(TensorError::Invalid(
                "the batch number of src and tgt must be equal".into(),
            ));
        }
        let d = self.config.d_model;
        if src.shape().last() != Some(&d) || tgt.shape().last() != Some(&d) {
            return Err(TensorError::Invalid(
                "the feature number of src and tgt must be equal to d_model".into(),
            ));
        }
        Ok(())
    }
}

impl Module for Transformer {
    /// A transformer needs `tgt`: one tensor is PyTorch's TypeError.
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(TensorError::Invalid(
            "forward() missing 1 required positional argument: 'tgt'".into(),
        ))
    }

    /// `model(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    /// src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    /// src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)`: `memory =
    /// encoder(src, mask=src_mask, src_key_padding_mask=..., is_causal=src_is_causal)`, then
    /// `decoder(tgt, memory, tgt_mask=..., ...)`.
    fn call(&self, inputs: &[Io]) -> Result<Io> {
        let arg = |i: usize| inputs.get(i).cloned().unwrap_or(Io::None);
        let tensor = |i: usize| match inputs.get(i) {
            Some(Io::Tensor(t)) => Ok(t),
            _ => Err(TensorError::Invalid(format!(
                "forward() missing tensor argument '{}'",
                CALL[i]
            ))),
        };
        let (src, tgt) = (tensor(0)?, tensor(1)?);
        self.check(src, tgt)?;
        let memory = self
            .encoder
            .call(&[Io::Tensor(src.clone()), arg(2), arg(5), arg(8)])?;
        self.decoder.call(&[
            Io::Tensor(tgt.clone()),
            memory,
            arg(3),
            arg(4),
            arg(6),
            arg(7),
            arg(9),
            arg(10),
        ])
    }

    fn call_params(&self) -> &'static [&'static str] {
        CALL
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        named_children(vec![
            ("encoder", self.encoder.named_parameters()),
            ("decoder", self.decoder.named_parameters()),
        ])
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        named_children(vec![
            ("encoder", self.encoder.named_buffers()),
            ("decoder", self.decoder.named_buffers()),
        ])
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
        self.encoder.train(mode);
        self.decoder.train(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for Transformer {
    fn class_name(&self) -> &'static str {
        "Transformer"
    }

    fn repr(&self) -> String {
        let indent = |s: String| s.replace('\n', "\n  ");
        format!(
            "Transformer(\n  (encoder): {}\n  (decoder): {}\n)",
            indent(self.encoder.repr()),
            indent(self.decoder.repr())
        )
    }

    fn with_tensors(&self, params: Vec<Tensor>, buffers: Vec<Tensor>) -> Box<dyn Layer> {
        let (encoder_params, decoder_params) = split(params, self.encoder.parameters().len());
        let (encoder_buffers, decoder_buffers) = split(buffers, self.encoder.named_buffers().len());
        Box::new(Transformer {
            config: self.config,
            encoder: self.encoder.over(encoder_params, encoder_buffers),
            decoder: self.decoder.over(decoder_params, decoder_buffers),
            training: Cell::new(self.training.get()),
        })
    }

    fn as_call(&self) -> Option<&dyn Module> {
        Some(self)
    }
}

fn split(mut v: Vec<Tensor>, at: usize) -> (Vec<Tensor>, Vec<Tensor>) {
    let rest = v.split_off(at.min(v.len()));
    (v, rest)
}
