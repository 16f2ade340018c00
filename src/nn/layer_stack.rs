//! What `nn.TransformerEncoder` and `nn.TransformerDecoder` share (`torch/nn/modules/
//! transformer.py`): a `ModuleList` of deep copies of one layer and an optional `norm`, called
//! one after the other; parameters and buffers named `layers.{i}.` and `norm.`, in that order;
//! the `ModuleList` repr that folds equal children.

use std::cell::Cell;

use super::transformer::deep_copy;
use super::{Io, Layer};
use crate::base::{Result, TensorError};
use crate::tensor::Tensor;

pub(super) struct LayerStack {
    class: &'static str,
    layers: Vec<Box<dyn Layer>>,
    norm: Option<Box<dyn Layer>>,
    training: Cell<bool>,
}

impl LayerStack {
    /// `num_layers` deep copies of `layer` (`_get_clones`) and `norm`, the caller's module
    /// itself (PyTorch registers the object it is given). Each layer is called with masks, so
    /// `layer` must take them ([`Layer::as_call`]).
    pub(super) fn new(
        class: &'static str,
        layer: &dyn Layer,
        num_layers: usize,
        norm: Option<Box<dyn Layer>>,
    ) -> Result<LayerStack> {
        if layer.as_call().is_none() {
            return Err(TensorError::Invalid(format!(
                "{class}: {} does not take masks",
                layer.class_name()
            )));
        }
        Ok(LayerStack {
            class,
            layers: (0..num_layers)
                .map(|_| deep_copy(layer))
                .collect::<Result<_>>()?,
            norm,
            training: Cell::new(true),
        })
    }

    /// Each layer called with `args(previous output)`, then `norm`.
    pub(super) fn run(&self, input: &Tensor, args: impl Fn(Tensor) -> Vec<Io>) -> Result<Tensor> {
        let mut out = input.clone();
        for layer in &self.layers {
            let call = layer.as_call().ok_or_else(|| {
                TensorError::Invalid(format!("{}: a layer does not take masks", self.class))
            })?;
            out = match call.call(&args(out))? {
                Io::Tensor(t) => t,
                _ => {
                    return Err(TensorError::Invalid(format!(
                        "{}: a layer returned something other than a tensor",
                        self.class
                    )))
                }
            };
        }
        match &self.norm {
            Some(norm) => norm.forward(&out),
            None => Ok(out),
        }
    }

    /// `named_parameters()` or `named_buffers()` (`each`) of the layers, then of `norm`.
    pub(super) fn named(
        &self,
        each: impl Fn(&dyn Layer) -> Vec<(String, Tensor)>,
    ) -> Vec<(String, Tensor)> {
        let layers = self.layers.iter().enumerate().flat_map(|(i, l)| {
            each(l.as_ref())
                .into_iter()
                .map(move |(n, t)| (format!("layers.{i}.{n}"), t))
        });
        let norm = self
            .norm
            .iter()
            .flat_map(|m| each(m.as_ref()))
            .map(|(n, t)| (format!("norm.{n}"), t));
        layers.chain(norm).collect()
    }

    pub(super) fn train(&self, mode: bool) {
        self.training.set(mode);
        for l in &self.layers {
            l.train(mode);
        }
        if let Some(n) = &self.norm {
            n.train(mode);
        }
    }

    pub(super) fn is_training(&self) -> bool {
        self.training.get()
    }

    /// PyTorch's `ModuleList` repr folds equal children: `(0-1): 2 x TransformerEncoderLayer(`.
    pub(super) fn repr(&self) -> String {
        let mut s = format!("{}(\n  (layers): ModuleList(\n", self.class);
        if let Some(first) = self.layers.first() {
            let n = self.layers.len();
            let head = if n == 1 {
                "(0): ".to_string()
            } else {
                format!("(0-{}): {n} x ", n - 1)
            };
            s += &format!("    {head}{}\n", first.repr().replace('\n', "\n    "));
        }
        s += "  )\n";
        if let Some(norm) = &self.norm {
            s += &format!("  (norm): {}\n", norm.repr().replace('\n', "\n  "));
        }
        s + ")"
    }

    /// The same stack over `params` and `buffers`, each layer and then `norm` taking as many
    /// as it has, in [`LayerStack::named`]'s order.
    pub(super) fn with_tensors(&self, params: Vec<Tensor>, buffers: Vec<Tensor>) -> LayerStack {
        let mut params = params.into_iter();
        let mut buffers = buffers.into_iter();
        let mut rebuild = |l: &dyn Layer| {
            let p = params.by_ref().take(l.parameters().len()).collect();
            let b = buffers.by_ref().take(l.named_buffers().len()).collect();
            l.with_tensors(p, b)
        };
        let layers = self.layers.iter().map(|l| rebuild(l.as_ref())).collect();
        let norm = self.norm.as_ref().map(|n| rebuild(n.as_ref()));
        LayerStack {
            class: self.class,
            layers,
            norm,
            training: Cell::new(self.training.get()),
        }
    }
}

impl std::fmt::Debug for LayerStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.class)
            .field("layers", &self.layers.len())
            .field("norm", &self.norm.as_ref().map(|n| n.class_name()))
            .finish_non_exhaustive()
    }
}
