//! `nn.TransformerEncoderLayer` and `nn.TransformerEncoder` on the path PyTorch 2.15 takes
//! when gradients are recorded (`torch/nn/modules/transformer.py`): the fused
//! `torch._transformer_encoder_layer_fwd` and the nested-tensor conversion need eval mode and
//! no gradient, so a training step runs the layer as written: `_sa_block` (self-attention with
//! `need_weights=False`, then `dropout1`) and `_ff_block` (`linear2(dropout(activation(
//! linear1(x))))`, then `dropout2`), each added to its input and normalized after
//! (`norm_first=False`) or before (`norm_first=True`).
//!
//! `nn.TransformerEncoder(layer, num_layers)` holds `num_layers` deep copies of the layer
//! (`_get_clones`: every copy starts from the same values), and its optional `norm`.

use std::cell::Cell;

use super::layer_stack::{LayerStack, Stack, StackKind};
use super::norm::py_float;
use super::{AttentionMasks, Io, Layer, LayerNorm, Linear, Module, MultiheadAttention};
use crate::alloc::Purpose;
use crate::base::{Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::Tensor;

/// The feed-forward activation of a transformer layer: PyTorch accepts `"relu"`, `"gelu"`
/// or a callable; `F.relu`/`nn.ReLU()` and `F.gelu`/`nn.GELU()` are the callables modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `F.relu` (ReluBackward0 saves the result).
    Relu,
    /// `F.gelu`, exact (GeluBackward0 saves the input).
    Gelu,
}

/// How the activation was given, which decides the layer's `repr`: PyTorch shows an
/// `(activation)` child only for a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationForm {
    /// A string or a function (`"relu"`, `F.gelu`): not a child module.
    Function,
    /// A module (`nn.GELU()`): listed last in the `repr`.
    Module,
}

/// The constructor arguments of `nn.TransformerEncoderLayer` that shape it.
#[derive(Debug, Clone, Copy)]
pub struct EncoderLayerConfig {
    /// `d_model`.
    pub d_model: usize,
    /// `nhead`.
    pub nhead: usize,
    /// `dim_feedforward` (PyTorch's default 2048).
    pub dim_feedforward: usize,
    /// `dropout` (default 0.1), used by attention and the three dropout modules.
    pub dropout: f64,
    /// `activation` (default relu) and how it was given.
    pub activation: (Activation, ActivationForm),
    /// `layer_norm_eps` (default 1e-5).
    pub layer_norm_eps: f64,
    /// `batch_first`.
    pub batch_first: bool,
    /// `norm_first`.
    pub norm_first: bool,
    /// `bias` of the projections, linears and norms.
    pub bias: bool,
}

impl EncoderLayerConfig {
    /// The `repr` lines of a transformer layer's children in PyTorch's registration order: the
    /// attention blocks named in `attentions`, the feed-forward block, `n` norms, `n` dropouts,
    /// and the activation when it was given as a module. The encoder and decoder layers differ
    /// only in those counts.
    pub(super) fn child_repr_lines(&self, attentions: &[&str], n: usize) -> Vec<String> {
        let bias = if self.bias { "True" } else { "False" };
        let dropout = format!("Dropout(p={}, inplace=False)", py_float(self.dropout));
        let norm = format!(
            "LayerNorm(({},), eps={}, elementwise_affine=True, bias={bias})",
            self.d_model,
            py_float(self.layer_norm_eps)
        );
        let mut lines = Vec::new();
        for name in attentions {
            lines.push(format!("({name}): MultiheadAttention("));
            lines.push(format!(
                "  (out_proj): NonDynamicallyQuantizableLinear(in_features={d}, out_features={d}, bias={bias})",
                d = self.d_model
            ));
            lines.push(")".to_string());
        }
        lines.push(format!(
            "(linear1): Linear(in_features={}, out_features={}, bias={bias})",
            self.d_model, self.dim_feedforward
        ));
        lines.push(format!("(dropout): {dropout}"));
        lines.push(format!(
            "(linear2): Linear(in_features={}, out_features={}, bias={bias})",
            self.dim_feedforward, self.d_model
        ));
        lines.extend((1..=n).map(|i| format!("(norm{i}): {norm}")));
        lines.extend((1..=n).map(|i| format!("(dropout{i}): {dropout}")));
        if self.activation.1 == ActivationForm::Module {
            lines.push(match self.activation.0 {
                Activation::Relu => "(activation): ReLU()".to_string(),
                Activation::Gelu => "(activation): GELU(approximate='none')".to_string(),
            });
        }
        lines
    }

    /// `self.dropout*(x)`: `nn.Dropout(p)` in the layer's mode.
    pub(super) fn dropout(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        x.dropout(self.dropout, training)
    }

    /// `_ff_block`, the same in the encoder and decoder layers (only the last dropout's name
    /// differs): `dropoutN(linear2(dropout(activation(linear1(x)))))`.
    pub(super) fn ff_block(
        &self,
        [linear1, linear2]: [&Linear; 2],
        x: &Tensor,
        training: bool,
    ) -> Result<Tensor> {
        let h = linear1.forward(x)?;
        let h = match self.activation.0 {
            Activation::Relu => h.relu()?,
            Activation::Gelu => h.gelu()?,
        };
        let h = linear2.forward(&self.dropout(&h, training)?)?;
        self.dropout(&h, training)
    }
}

impl EncoderLayerConfig {
    /// PyTorch's defaults for `d_model` and `nhead`.
    pub fn new(d_model: usize, nhead: usize) -> EncoderLayerConfig {
        EncoderLayerConfig {
            d_model,
            nhead,
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: (Activation::Relu, ActivationForm::Function),
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
            bias: true,
        }
    }
}

/// `nn.TransformerEncoderLayer`.
pub struct TransformerEncoderLayer {
    config: EncoderLayerConfig,
    self_attn: MultiheadAttention,
    linear1: Linear,
    linear2: Linear,
    norm1: Box<dyn Layer>,
    norm2: Box<dyn Layer>,
    training: Cell<bool>,
}

impl std::fmt::Debug for TransformerEncoderLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerEncoderLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The positional parameters of `TransformerEncoderLayer.forward`.
const LAYER_CALL: &[&str] = &["src", "src_mask", "src_key_padding_mask", "is_causal"];
/// The positional parameters of `TransformerEncoder.forward`.
const ENCODER_CALL: &[&str] = &["src", "mask", "src_key_padding_mask", "is_causal"];

impl TransformerEncoderLayer {
    /// The layer with its parameters on the host, made in PyTorch's order: `self_attn`,
    /// `linear1`, `linear2`, `norm1`, `norm2` (the dropouts have none).
    pub fn new(rt: &Runtime, config: EncoderLayerConfig) -> Result<TransformerEncoderLayer> {
        let EncoderLayerConfig {
            d_model,
            nhead,
            dim_feedforward,
            bias,
            ..
        } = config;
        let self_attn =
            MultiheadAttention::new(rt, d_model, nhead, config.dropout, bias, config.batch_first)?;
        let linear1 = Linear::new(rt, d_model, dim_feedforward, bias)?;
        let linear2 = Linear::new(rt, dim_feedforward, d_model, bias)?;
        let norm = || -> Result<Box<dyn Layer>> {
            Ok(Box::new(LayerNorm::new(
                rt,
                &[d_model],
                config.layer_norm_eps,
                true,
                bias,
            )?))
        };
        Ok(TransformerEncoderLayer {
            config,
            self_attn,
            linear1,
            linear2,
            norm1: norm()?,
            norm2: norm()?,
            training: Cell::new(true),
        })
    }

    /// The same layer, in the same mode, over other parameters (in the order of
    /// `named_parameters()`).
    fn over(&self, params: Vec<Tensor>) -> TransformerEncoderLayer {
        let mut params = params.into_iter();
        let mut take = |n: usize| params.by_ref().take(n).collect::<Vec<_>>();
        let self_attn = self.self_attn.over(take(self.self_attn.parameters().len()));
        let mut linear = |l: &Linear| {
            let mut p = take(l.parameters().len()).into_iter();
            let weight = p.next().unwrap_or_else(|| l.weight.clone());
            l.with_parameters(weight, p.next())
        };
        let linear1 = linear(&self.linear1);
        let linear2 = linear(&self.linear2);
        let norm1 = self
            .norm1
            .with_tensors(take(self.norm1.parameters().len()), Vec::new());
        let norm2 = self
            .norm2
            .with_tensors(take(self.norm2.parameters().len()), Vec::new());
        TransformerEncoderLayer {
            config: self.config,
            self_attn,
            linear1,
            linear2,
            norm1,
            norm2,
            training: Cell::new(self.training.get()),
        }
    }

    /// `self.dropout*(x)`: `nn.Dropout(p)` in this layer's mode.
    fn dropout(&self, x: &Tensor) -> Result<Tensor> {
        self.config.dropout(x, self.training.get())
    }

    /// `_sa_block`: self-attention without weights, then `dropout1`.
    fn sa_block(&self, x: &Tensor, masks: AttentionMasks<'_>) -> Result<Tensor> {
        let (out, _) = self.self_attn.attend(x, x, x, masks, false, true)?;
        self.dropout(&out)
    }

    /// `_ff_block`: `dropout2(linear2(dropout(activation(linear1(x)))))`.
    fn ff_block(&self, x: &Tensor) -> Result<Tensor> {
        self.config
            .ff_block([&self.linear1, &self.linear2], x, self.training.get())
    }

    /// `layer(src, src_mask, src_key_padding_mask, is_causal)` with float masks (the encoder
    /// canonicalizes once for every layer).
    fn encode(&self, src: &Tensor, masks: AttentionMasks<'_>) -> Result<Tensor> {
        if self.config.norm_first {
            let x = src.add(&self.sa_block(&self.norm1.forward(src)?, masks)?)?;
            x.add(&self.ff_block(&self.norm2.forward(&x)?)?)
        } else {
            let x = self.norm1.forward(&src.add(&self.sa_block(src, masks)?)?)?;
            self.norm2.forward(&x.add(&self.ff_block(&x)?)?)
        }
    }

    /// The `repr` lines of the layer's children, at `indent`.
    fn repr_body(&self, indent: &str) -> String {
        self.config
            .child_repr_lines(&["self_attn"], 2)
            .iter()
            .map(|l| format!("{indent}{l}\n"))
            .collect::<String>()
    }
}

/// `mask`, `src_key_padding_mask` and `is_causal` from a call's inputs.
fn call_masks<'a>(inputs: &'a [Io], names: &[&str]) -> Result<AttentionMasks<'a>> {
    let mask = |i: usize| match inputs.get(i) {
        None | Some(Io::None) => Ok(None),
        Some(Io::Tensor(t)) => Ok(Some(t)),
        Some(_) => Err(TensorError::Invalid(format!(
            "forward(): {} must be a tensor or None",
            names[i]
        ))),
    };
    let is_causal = match inputs.get(3) {
        None | Some(Io::None) => false,
        Some(Io::Bool(b)) => *b,
        Some(_) => {
            return Err(TensorError::Invalid(
                "forward(): is_causal must be a bool".into(),
            ))
        }
    };
    Ok(AttentionMasks {
        attn_mask: mask(1)?,
        key_padding_mask: mask(2)?,
        is_causal,
    })
}

fn call_src(inputs: &[Io]) -> Result<&Tensor> {
    match inputs.first() {
        Some(Io::Tensor(t)) => Ok(t),
        _ => Err(TensorError::Invalid(
            "forward() missing tensor argument 'src'".into(),
        )),
    }
}

/// `F._canonical_mask` of both masks, in the order the forwards make them: the key padding
/// mask first, then the attention mask.
fn canonical<'a>(
    src: &Tensor,
    masks: AttentionMasks<'a>,
    names: [&str; 2],
) -> Result<(Option<Tensor>, Option<Tensor>, bool)> {
    use super::attention_masks::canonical_mask;
    let kpm = canonical_mask(masks.key_padding_mask, names[0], src.dtype())?;
    let attn = canonical_mask(masks.attn_mask, names[1], src.dtype())?;
    Ok((attn, kpm, masks.is_causal))
}

impl Module for TransformerEncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.encode(x, AttentionMasks::default())
    }

    /// `layer(src, src_mask=None, src_key_padding_mask=None, is_causal=False)`.
    fn call(&self, inputs: &[Io]) -> Result<Io> {
        let src = call_src(inputs)?;
        let masks = call_masks(inputs, LAYER_CALL)?;
        let (attn, kpm, is_causal) = canonical(src, masks, ["src_key_padding_mask", "src_mask"])?;
        let masks = AttentionMasks {
            attn_mask: attn.as_ref(),
            key_padding_mask: kpm.as_ref(),
            is_causal,
        };
        Ok(Io::Tensor(self.encode(src, masks)?))
    }

    fn call_params(&self) -> &'static [&'static str] {
        LAYER_CALL
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        super::named_children(vec![
            ("self_attn", self.self_attn.named_parameters()),
            ("linear1", self.linear1.named_parameters()),
            ("linear2", self.linear2.named_parameters()),
            ("norm1", self.norm1.named_parameters()),
            ("norm2", self.norm2.named_parameters()),
        ])
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
        self.self_attn.train(mode);
        self.linear1.train(mode);
        self.linear2.train(mode);
        self.norm1.train(mode);
        self.norm2.train(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for TransformerEncoderLayer {
    fn class_name(&self) -> &'static str {
        "TransformerEncoderLayer"
    }

    fn repr(&self) -> String {
        format!("TransformerEncoderLayer(\n{})", self.repr_body("  "))
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        Box::new(self.over(params))
    }

    fn as_call(&self) -> Option<&dyn Module> {
        Some(self)
    }
}

/// `copy.deepcopy(layer)` as `_get_clones` makes it: every parameter and buffer cloned into
/// a new tensor where the original lives, parameters as leaves that require grad when the
/// original does (`Parameter.__deepcopy__`).
pub(super) fn deep_copy(layer: &dyn Layer) -> Result<Box<dyn Layer>> {
    let copy = |t: &Tensor, purpose: Purpose| -> Result<Tensor> {
        let c = {
            let _no_grad = t.runtime().no_grad();
            t.clone_tensor()?.detach()
        };
        c.set_purpose(purpose);
        c.requires_grad_(t.requires_grad())
    };
    let params = layer
        .parameters()
        .iter()
        .map(|p| copy(p, Purpose::Parameter))
        .collect::<Result<Vec<_>>>()?;
    let buffers = layer
        .named_buffers()
        .iter()
        .map(|(_, b)| copy(b, Purpose::Parameter))
        .collect::<Result<Vec<_>>>()?;
    Ok(layer.with_tensors(params, buffers))
}

/// `nn.TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True)`:
/// each layer called as `layer(output, src_mask=mask, is_causal=is_causal,
/// src_key_padding_mask=...)`.
pub type TransformerEncoder = Stack<EncoderStack>;

/// What makes a [`Stack`] `nn.TransformerEncoder`.
#[derive(Debug)]
pub enum EncoderStack {}

impl StackKind for EncoderStack {
    const CLASS: &'static str = "TransformerEncoder";
    const CALL: &'static [&'static str] = ENCODER_CALL;

    fn forward(stack: &LayerStack, x: &Tensor) -> Result<Tensor> {
        encode(stack, x, AttentionMasks::default())
    }

    /// `encoder(src, mask=None, src_key_padding_mask=None, is_causal=None)`.
    fn call(stack: &LayerStack, inputs: &[Io]) -> Result<Tensor> {
        let src = call_src(inputs)?;
        let masks = call_masks(inputs, ENCODER_CALL)?;
        encode(stack, src, masks)
    }
}

/// `encoder(src, mask, src_key_padding_mask, is_causal)` with PyTorch's mask handling: both
/// masks made float once, each layer called with them, then `norm`. When `is_causal` is not
/// given PyTorch compares `mask` with a causal mask of the sequence's length to set it; here
/// the mask is used as given, which keeps the same tensors for backward (a mask is added
/// without a gradient either way).
fn encode(stack: &LayerStack, src: &Tensor, masks: AttentionMasks<'_>) -> Result<Tensor> {
    let (attn, kpm, is_causal) = canonical(src, masks, ["src_key_padding_mask", "mask"])?;
    let io = |t: Option<Tensor>| t.map_or(Io::None, Io::Tensor);
    let (attn, kpm) = (io(attn), io(kpm));
    stack.run(src, |out| {
        vec![
            Io::Tensor(out),
            attn.clone(),
            kpm.clone(),
            Io::Bool(is_causal),
        ]
    })
}
