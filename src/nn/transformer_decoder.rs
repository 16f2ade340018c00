//! `nn.TransformerDecoderLayer` and `nn.TransformerDecoder` on the path PyTorch 2.15 takes
//! (`torch/nn/modules/transformer.py`; the decoder has no fused path): `_sa_block`
//! (self-attention without weights, `dropout1`), `_mha_block` (attention over `memory`,
//! `dropout2`) and `_ff_block` (`dropout3`), each added to its input and normalized after
//! (`norm_first=False`) or before. The masks go to `MultiheadAttention` as given, which makes
//! them float at each call.

use std::cell::Cell;

use super::layer_stack::{LayerStack, Stack, StackKind};
use super::{
    AttentionMasks, EncoderLayerConfig, Io, Layer, LayerNorm, Linear, Module, MultiheadAttention,
};
use crate::base::{Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::Tensor;

/// The positional parameters of `TransformerDecoderLayer.forward` and
/// `TransformerDecoder.forward`.
const CALL: &[&str] = &[
    "tgt",
    "memory",
    "tgt_mask",
    "memory_mask",
    "tgt_key_padding_mask",
    "memory_key_padding_mask",
    "tgt_is_causal",
    "memory_is_causal",
];

fn missing_memory() -> TensorError {
    TensorError::Invalid("forward() missing 1 required positional argument: 'memory'".into())
}

/// The masks of one decoder call: self-attention's, then attention over `memory`.
struct DecoderMasks<'a> {
    tgt: AttentionMasks<'a>,
    memory: AttentionMasks<'a>,
}

/// `tgt`, `memory` and the masks from a call's inputs.
fn call_inputs(inputs: &[Io]) -> Result<(&Tensor, &Tensor, DecoderMasks<'_>)> {
    let tensor = |i: usize| match inputs.get(i) {
        Some(Io::Tensor(t)) => Ok(t),
        _ => Err(TensorError::Invalid(format!(
            "forward() missing tensor argument '{}'",
            CALL[i]
        ))),
    };
    let mask = |i: usize| match inputs.get(i) {
        None | Some(Io::None) => Ok(None),
        Some(Io::Tensor(t)) => Ok(Some(t)),
        Some(_) => Err(TensorError::Invalid(format!(
            "forward(): {} must be a tensor or None",
            CALL[i]
        ))),
    };
    let flag = |i: usize| match inputs.get(i) {
        None | Some(Io::None) => Ok(false),
        Some(Io::Bool(b)) => Ok(*b),
        Some(_) => Err(TensorError::Invalid(format!(
            "forward(): {} must be a bool",
            CALL[i]
        ))),
    };
    let masks = DecoderMasks {
        tgt: AttentionMasks {
            attn_mask: mask(2)?,
            key_padding_mask: mask(4)?,
            is_causal: flag(6)?,
        },
        memory: AttentionMasks {
            attn_mask: mask(3)?,
            key_padding_mask: mask(5)?,
            is_causal: flag(7)?,
        },
    };
    Ok((tensor(0)?, tensor(1)?, masks))
}

/// `nn.TransformerDecoderLayer` (its constructor takes the encoder layer's arguments).
pub struct TransformerDecoderLayer {
    config: EncoderLayerConfig,
    self_attn: MultiheadAttention,
    multihead_attn: MultiheadAttention,
    linear1: Linear,
    linear2: Linear,
    norms: [Box<dyn Layer>; 3],
    training: Cell<bool>,
}

impl std::fmt::Debug for TransformerDecoderLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerDecoderLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TransformerDecoderLayer {
    /// The layer with its parameters on the host, made in PyTorch's order: `self_attn`,
    /// `multihead_attn`, `linear1`, `linear2`, `norm1`, `norm2`, `norm3`.
    pub fn new(rt: &Runtime, config: EncoderLayerConfig) -> Result<TransformerDecoderLayer> {
        let (d, bias) = (config.d_model, config.bias);
        let attention = || {
            MultiheadAttention::new(
                rt,
                d,
                config.nhead,
                config.dropout,
                bias,
                config.batch_first,
            )
        };
        let self_attn = attention()?;
        let multihead_attn = attention()?;
        let linear1 = Linear::new(rt, d, config.dim_feedforward, bias)?;
        let linear2 = Linear::new(rt, config.dim_feedforward, d, bias)?;
        let norm = || -> Result<Box<dyn Layer>> {
            Ok(Box::new(LayerNorm::new(
                rt,
                &[d],
                config.layer_norm_eps,
                true,
                bias,
            )?))
        };
        Ok(TransformerDecoderLayer {
            config,
            self_attn,
            multihead_attn,
            linear1,
            linear2,
            norms: [norm()?, norm()?, norm()?],
            training: Cell::new(true),
        })
    }

    fn dropout(&self, x: &Tensor) -> Result<Tensor> {
        self.config.dropout(x, self.training.get())
    }

    /// `_sa_block` (`memory` None) or `_mha_block`: attention without weights, then dropout.
    fn attention_block(
        &self,
        x: &Tensor,
        memory: Option<&Tensor>,
        masks: AttentionMasks<'_>,
    ) -> Result<Tensor> {
        let (out, _) = match memory {
            None => self.self_attn.attend(x, x, x, masks, false, true)?,
            Some(m) => self.multihead_attn.attend(x, m, m, masks, false, true)?,
        };
        self.dropout(&out)
    }

    /// `_ff_block`: `dropout3(linear2(dropout(activation(linear1(x)))))`.
    fn ff_block(&self, x: &Tensor) -> Result<Tensor> {
        self.config
            .ff_block([&self.linear1, &self.linear2], x, self.training.get())
    }

    fn decode(&self, tgt: &Tensor, memory: &Tensor, masks: &DecoderMasks<'_>) -> Result<Tensor> {
        let [n1, n2, n3] = &self.norms;
        if self.config.norm_first {
            let x = tgt.add(&self.attention_block(&n1.forward(tgt)?, None, masks.tgt)?)?;
            let x =
                x.add(&self.attention_block(&n2.forward(&x)?, Some(memory), masks.memory)?)?;
            x.add(&self.ff_block(&n3.forward(&x)?)?)
        } else {
            let x = n1.forward(&tgt.add(&self.attention_block(tgt, None, masks.tgt)?)?)?;
            let x =
                n2.forward(&x.add(&self.attention_block(&x, Some(memory), masks.memory)?)?)?;
            n3.forward(&x.add(&self.ff_block(&x)?)?)
        }
    }
}

impl Module for TransformerDecoderLayer {
    /// A decoder layer needs `memory`: one tensor is PyTorch's TypeError.
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(missing_memory())
    }

    /// `layer(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    /// memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)`.
    fn call(&self, inputs: &[Io]) -> Result<Io> {
        let (tgt, memory, masks) = call_inputs(inputs)?;
        Ok(Io::Tensor(self.decode(tgt, memory, &masks)?))
    }

    fn call_params(&self) -> &'static [&'static str] {
        CALL
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let [n1, n2, n3] = &self.norms;
        super::named_children(vec![
            ("self_attn", self.self_attn.named_parameters()),
            ("multihead_attn", self.multihead_attn.named_parameters()),
            ("linear1", self.linear1.named_parameters()),
            ("linear2", self.linear2.named_parameters()),
            ("norm1", n1.named_parameters()),
            ("norm2", n2.named_parameters()),
            ("norm3", n3.named_parameters()),
        ])
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
        self.self_attn.train(mode);
        self.multihead_attn.train(mode);
        self.linear1.train(mode);
        self.linear2.train(mode);
        for n in &self.norms {
            n.train(mode);
        }
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for TransformerDecoderLayer {
    fn class_name(&self) -> &'static str {
        "TransformerDecoderLayer"
    }

    fn repr(&self) -> String {
        let lines = self
            .config
            .child_repr_lines(&["self_attn", "multihead_attn"], 3);
        let body: String = lines.iter().map(|l| format!("  {l}\n")).collect();
        format!("TransformerDecoderLayer(\n{body})")
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        let mut params = params.into_iter();
        let mut take = |n: usize| params.by_ref().take(n).collect::<Vec<_>>();
        let self_attn = self.self_attn.over(take(self.self_attn.parameters().len()));
        let multihead_attn = self
            .multihead_attn
            .over(take(self.multihead_attn.parameters().len()));
        let mut linear = |l: &Linear| {
            let mut p = take(l.parameters().len()).into_iter();
            let weight = p.next().unwrap_or_else(|| l.weight.clone());
            l.with_parameters(weight, p.next())
        };
        let linear1 = linear(&self.linear1);
        let linear2 = linear(&self.linear2);
        let norms = self
            .norms
            .each_ref()
            .map(|n| n.with_tensors(take(n.parameters().len()), Vec::new()));
        Box::new(TransformerDecoderLayer {
            config: self.config,
            self_attn,
            multihead_attn,
            linear1,
            linear2,
            norms,
            training: Cell::new(self.training.get()),
        })
    }

    fn as_call(&self) -> Option<&dyn Module> {
        Some(self)
    }
}

/// `nn.TransformerDecoder(decoder_layer, num_layers, norm=None)`: each layer called as
/// `layer(output, memory, tgt_mask=..., ...)` with the same memory and masks, then `norm`.
pub type TransformerDecoder = Stack<DecoderStack>;

/// What makes a [`Stack`] `nn.TransformerDecoder`.
#[derive(Debug)]
pub enum DecoderStack {}

impl StackKind for DecoderStack {
    const CLASS: &'static str = "TransformerDecoder";
    const CALL: &'static [&'static str] = CALL;

    /// A decoder needs `memory`: one tensor is PyTorch's TypeError.
    fn forward(_stack: &LayerStack, _x: &Tensor) -> Result<Tensor> {
        Err(missing_memory())
    }

    /// `decoder(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    /// memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)`. When
    /// `tgt_is_causal` is not given 2.15 compares `tgt_mask` with a causal mask; the mask is
    /// used as given here (the same saved tensors, see `TransformerEncoder`).
    fn call(stack: &LayerStack, inputs: &[Io]) -> Result<Tensor> {
        let (tgt, _, _) = call_inputs(inputs)?;
        stack.run(tgt, |out| {
            let mut args = inputs.to_vec();
            args[0] = Io::Tensor(out);
            args
        })
    }
}
