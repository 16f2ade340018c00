//! What `nn.TransformerEncoder` and `nn.TransformerDecoder` share (`torch/nn/modules/
//! transformer.py`): a `ModuleList` of deep copies of one layer and an optional `norm`, called
//! one after the other; parameters and buffers named `layers.{i}.` and `norm.`, in that order;
//! the `ModuleList` repr that folds equal children. Both are a [`Stack`], which differ only in
//! how a call's arguments reach each layer ([`StackKind`]).

use std::cell::Cell;
use std::marker::PhantomData;

use super::transformer::deep_copy;
use super::{Io, Layer, Module};
use crate::base::{Result, TensorError};
use crate::tensor::Tensor;

/// What tells `nn.TransformerEncoder` from `nn.TransformerDecoder`: the class name, the
/// call's parameters, and how a call runs the layers.
pub trait StackKind: 'static {
    /// PyTorch's class name.
    const CLASS: &'static str;
    /// The positional parameters of `forward`.
    const CALL: &'static [&'static str];
    /// `module(x)` with one tensor.
    fn forward(stack: &LayerStack, x: &Tensor) -> Result<Tensor>;
    /// `module(*inputs)`.
    fn call(stack: &LayerStack, inputs: &[Io]) -> Result<Tensor>;
}

/// A stack of deep copies of one layer and an optional `norm`: `nn.TransformerEncoder` or
/// `nn.TransformerDecoder`, as `K` says.
pub struct Stack<K>(LayerStack, PhantomData<K>);

impl<K: StackKind> Stack<K> {
    /// `num_layers` deep copies of `layer` (`_get_clones`: its tensors cloned, as
    /// `copy.deepcopy` does) and `norm`, the caller's module itself (PyTorch registers the
    /// object it is given). `layer` must take the masks the stack passes each layer
    /// ([`Layer::as_call`]).
    pub fn new(layer: &dyn Layer, num_layers: usize, norm: Option<Box<dyn Layer>>) -> Result<Self> {
        LayerStack::new(K::CLASS, layer, num_layers, norm).map(|s| Stack(s, PhantomData))
    }

    /// The same stack over `params` and `buffers`, in `named_parameters()` and
    /// `named_buffers()` order.
    pub(super) fn over(&self, params: Vec<Tensor>, buffers: Vec<Tensor>) -> Stack<K> {
        Stack(self.0.with_tensors(params, buffers), PhantomData)
    }
}

impl<K> std::fmt::Debug for Stack<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<K: StackKind> Module for Stack<K> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        K::forward(&self.0, x)
    }

    fn call(&self, inputs: &[Io]) -> Result<Io> {
        K::call(&self.0, inputs).map(Io::Tensor)
    }

    fn call_params(&self) -> &'static [&'static str] {
        K::CALL
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.0.named(|l| l.named_parameters())
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.0.named(|l| l.named_buffers())
    }

    fn train(&self, mode: bool) {
        self.0.train(mode);
    }

    fn is_training(&self) -> bool {
        self.0.is_training()
    }
}

impl<K: StackKind> Layer for Stack<K> {
    fn class_name(&self) -> &'static str {
        K::CLASS
    }

    fn repr(&self) -> String {
        self.0.repr()
    }

    fn with_tensors(&self, params: Vec<Tensor>, buffers: Vec<Tensor>) -> Box<dyn Layer> {
        Box::new(self.over(params, buffers))
    }

    fn as_call(&self) -> Option<&dyn Module> {
        Some(self)
    }
}

/// The layers and `norm` of a [`Stack`].
pub struct LayerStack {
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
