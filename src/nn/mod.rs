//! Neural-network modules: the part of `torch.nn` scenarios use, with PyTorch's parameter
//! creation (on the host, in registration order, PyTorch's default initialization) and its
//! `module.to(device)` semantics (parameters keep their identity; the device copy replaces
//! their data).
//!
//! ```
//! use leakharness::device::Backend;
//! use leakharness::nn::{Linear, Module, ReLU, Sequential, MSELoss};
//! use leakharness::runtime::{Runtime, RuntimeOptions};
//! use leakharness::tensor::Device;
//!
//! let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
//! let model = Sequential::new(vec![
//!     Box::new(Linear::new(&rt, 64, 256, true).unwrap()),
//!     Box::new(ReLU::new(false)),
//!     Box::new(Linear::new(&rt, 256, 10, true).unwrap()),
//! ]);
//! assert_eq!(rt.memory_allocated(), 0); // parameters start on the host
//! model.to(Device::Cuda).unwrap();
//! // weights of 64 KiB and 10 KiB, biases of 1 KiB and 40 bytes, each rounded to 512 bytes
//! assert_eq!(rt.memory_allocated(), 65536 + 1024 + 10240 + 512);
//! let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
//! let y = rt.randn(&[32, 10], Device::Cuda).unwrap();
//! let loss = MSELoss::default().forward(&model.forward(&x).unwrap(), &y).unwrap();
//! loss.backward(None, false).unwrap();
//! assert!(model.parameters().iter().all(|p| p.grad().is_some()));
//! ```

mod apply_order;
mod attention;
mod attention_masks;
mod clip;
mod conv;
mod embedding;
mod layer_stack;
mod layers;
mod losses;
mod norm;
mod rnn;
mod rnn_cells;
mod settings;
mod transformer;
mod transformer_decoder;
mod transformer_model;

use std::cell::{Cell, RefCell};

use crate::alloc::Purpose;
use crate::base::{DType, Device, Result};
use crate::runtime::Runtime;
pub use crate::tensor::Reduction;
use crate::tensor::Tensor;
pub use apply_order::apply_order;
pub use attention::MultiheadAttention;
pub use attention_masks::AttentionMasks;
pub use clip::{clip_grad_norm_, clip_grad_value_};
pub use conv::{Conv, Pool, PoolKind};
pub use embedding::Embedding;
pub use layer_stack::{LayerStack, Stack, StackKind};
pub use layers::{LayerFn, Stateless};
pub use losses::{Loss, LossKind};
pub use norm::{BatchNorm, GroupNorm, InstanceNorm, LayerNorm};
pub use rnn::{Rnn, RnnConfig, RnnMode, RnnState};
pub use rnn_cells::RnnCell;
pub use settings::Setting;
pub use transformer::{
    Activation, ActivationForm, EncoderLayerConfig, EncoderStack, TransformerEncoder,
    TransformerEncoderLayer,
};
pub use transformer_decoder::{DecoderStack, TransformerDecoder, TransformerDecoderLayer};
pub use transformer_model::{generate_square_subsequent_mask, Transformer};

/// What a module takes and returns besides one tensor, as Python passes it: `None` (an
/// omitted hidden state), a tensor, or a tuple (`(h, c)`, `(output, (h_n, c_n))`).
#[derive(Debug, Clone)]
pub enum Io {
    /// `None`.
    None,
    /// A tensor.
    Tensor(Tensor),
    /// A tuple.
    Tuple(Vec<Io>),
    /// A flag (`need_weights=False`).
    Bool(bool),
}

/// A module: `forward` on one input, and its parameters.
pub trait Module {
    /// `module(x)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// `module(*inputs)` for any arguments: what modules of several inputs or outputs
    /// (`lstm(x, (h, c))`, `mha(q, k, v)`) implement. One-tensor modules take one tensor to
    /// [`Module::forward`].
    fn call(&self, inputs: &[Io]) -> Result<Io> {
        match inputs {
            [Io::Tensor(x)] => Ok(Io::Tensor(self.forward(x)?)),
            _ => Err(crate::base::TensorError::Invalid(format!(
                "forward() takes 1 tensor argument but {} were given",
                inputs.len()
            ))),
        }
    }

    /// The Python names of `module(...)`'s parameters, in order, for binding keyword
    /// arguments (`mha(q, k, v, need_weights=False)`); `call` gets them positionally, up to
    /// the last one given, absent ones as `Io::None`.
    fn call_params(&self) -> &'static [&'static str] {
        &["input", "hx"]
    }

    /// `module.named_parameters()`: dotted names as PyTorch gives them (`0.weight`), in
    /// registration order, for reports that say which parameter holds memory.
    fn named_parameters(&self) -> Vec<(String, Tensor)>;

    /// `module.parameters()`, in registration order (children first-to-last).
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// `module.named_buffers()`: the module's own buffers, registered state that is not a
    /// parameter (BatchNorm's running statistics), in registration order.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.buffers().map(Buffers::named).unwrap_or_default()
    }

    /// The module's own buffers, for modules that register some.
    fn buffers(&self) -> Option<&Buffers> {
        None
    }

    /// `module.train(mode)`.
    fn train(&self, mode: bool);

    /// `module.training`.
    fn is_training(&self) -> bool;

    /// `module.eval()`.
    fn eval(&self) {
        self.train(false);
    }

    /// `module.to(device)`: every parameter (and its `.grad`) gets a copy on `device` as its
    /// data, keeping its identity; the old storage is freed when nothing else holds it.
    /// Device copies of parameters are tagged as parameters, of gradients as gradients.
    /// Buffers are replaced by their copies (see [`Buffers::to`]). Parameters move in
    /// `Module._apply`'s order ([`apply_order`]: children's before the module's own), then
    /// the buffers (a module's own, of a module with no children).
    fn to(&self, device: Device) -> Result<()> {
        for (_, p) in apply_order(self.named_parameters()) {
            if p.device() != device {
                p.set_data(&p.copy_for(device, Purpose::Parameter)?)?;
            }
            if let Some(g) = p.grad().filter(|g| g.device() != device) {
                g.set_data(&g.copy_for(device, Purpose::Gradient)?)?;
            }
        }
        if let Some(b) = self.buffers() {
            b.to(device)?;
        }
        Ok(())
    }

    /// `module.zero_grad(set_to_none)`: drop the gradients (the default), or zero them in
    /// place, keeping their memory.
    fn zero_grad(&self, set_to_none: bool) -> Result<()> {
        zero_grads(&self.parameters(), set_to_none)
    }
}

/// A module's buffers (`register_buffer`): tensors that belong to the module's state, are
/// moved by `to()` and saved by `state_dict()`, but are not parameters (no gradient, not given
/// to optimizers).
#[derive(Debug, Default)]
pub struct Buffers(RefCell<Vec<(&'static str, Tensor)>>);

impl Buffers {
    /// Buffers registered in this order.
    pub fn new(buffers: Vec<(&'static str, Tensor)>) -> Buffers {
        Buffers(RefCell::new(buffers))
    }

    /// The buffer registered as `name`.
    pub fn get(&self, name: &str) -> Option<Tensor> {
        self.0
            .borrow()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.clone())
    }

    /// Every buffer with its name, in registration order.
    pub fn named(&self) -> Vec<(String, Tensor)> {
        self.0
            .borrow()
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect()
    }

    /// What `module._apply` does to buffers: each one not on `device` is replaced by a copy
    /// there (a new tensor, unlike a parameter, which keeps its identity and takes new data),
    /// tagged as a parameter's memory because it is the model's state. The old tensor is
    /// freed when nothing else holds it.
    pub fn to(&self, device: Device) -> Result<()> {
        let moved: Vec<(&'static str, Tensor)> = self
            .0
            .borrow()
            .iter()
            .map(|(n, t)| {
                Ok((
                    *n,
                    if t.device() == device {
                        t.clone()
                    } else {
                        t.copy_for(device, Purpose::Parameter)?
                    },
                ))
            })
            .collect::<Result<_>>()?;
        let old = self.0.replace(moved);
        drop(old);
        Ok(())
    }

    /// The same names over other tensors (a `copy.deepcopy`'s copies), in registration order.
    pub fn with_tensors(&self, tensors: Vec<Tensor>) -> Buffers {
        let names: Vec<&'static str> = self.0.borrow().iter().map(|(n, _)| *n).collect();
        Buffers::new(names.into_iter().zip(tensors).collect())
    }
}

/// A library module with parameters or buffers beyond `Linear` (convolutions, pooling, norms,
/// embeddings), as the scenario engine holds it: one trait, so a new layer is one type.
pub trait Layer: Module {
    /// PyTorch's class name (`Conv2d`, `BatchNorm1d`, ...).
    fn class_name(&self) -> &'static str;

    /// PyTorch's `repr` of the module.
    fn repr(&self) -> String;

    /// The constructor setting `name` PyTorch keeps on the module (`conv.in_channels`,
    /// `bn.eps`); `None` for a name the layer does not keep.
    fn setting(&self, _name: &str) -> Option<Setting> {
        None
    }

    /// The same layer, in the same mode, over other tensors: `params` in the order of
    /// `named_parameters()` and `buffers` in the order of `named_buffers()` (what
    /// `copy.deepcopy` makes once it has copied them).
    fn with_tensors(&self, params: Vec<Tensor>, buffers: Vec<Tensor>) -> Box<dyn Layer>;

    /// `criterion(input, target)` for the loss modules among layers (`nn.BCELoss`, ...);
    /// `None` for the others.
    fn loss(&self, _input: &Tensor, _target: &Tensor) -> Option<Result<Tensor>> {
        None
    }

    /// The layer as a module called with several inputs or outputs (`cell(x, h)`,
    /// `lstm_cell(x, (h, c))`), for layers whose call is not one tensor in and out.
    fn as_call(&self) -> Option<&dyn Module> {
        None
    }
}

/// Parameters created on the host, as PyTorch's layers create them (`nn.init`'s
/// `kaiming_uniform_(a=sqrt(5))` bound for weights and the same bound for biases: U(-b, b) with
/// b = 1/sqrt(fan_in)), in order, requiring gradients.
pub(crate) fn uniform_parameters(
    rt: &Runtime,
    shapes: &[&[usize]],
    fan_in: usize,
) -> Result<Vec<Tensor>> {
    let bound = if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    };
    shapes
        .iter()
        .map(|shape| {
            let t = rt.empty(shape, DType::F32, Device::Cpu)?;
            rt.uniform_(&t, -bound, bound)?;
            t.requires_grad_(true)
        })
        .collect()
}

/// Children's `named_parameters()` or `named_buffers()`, each name under the attribute the
/// child is registered as (`self_attn.in_proj_weight`), children in registration order.
pub(crate) fn named_children(
    children: Vec<(&str, Vec<(String, Tensor)>)>,
) -> Vec<(String, Tensor)> {
    children
        .into_iter()
        .flat_map(|(prefix, named)| {
            named
                .into_iter()
                .map(move |(n, t)| (format!("{prefix}.{n}"), t))
        })
        .collect()
}

pub(crate) fn zero_grads(params: &[Tensor], set_to_none: bool) -> Result<()> {
    for p in params {
        // Planted bug: set_to_none is ignored and the gradients are zeroed, keeping their memory.
        #[cfg(feature = "planted-bugs")]
        let set_to_none = set_to_none
            && !p
                .runtime()
                .planted(crate::base::PlantedBug::ZeroGradKeepsGrads);
        if set_to_none {
            p.set_grad(None);
        } else if let Some(g) = p.grad() {
            let _no_grad = p.runtime().no_grad();
            g.zero_()?;
        }
    }
    Ok(())
}

/// `nn.Linear(in_features, out_features, bias)`: `y = x @ weight.t() + bias`.
#[derive(Debug)]
pub struct Linear {
    /// Shape (out_features, in_features).
    pub weight: Tensor,
    /// Shape (out_features).
    pub bias: Option<Tensor>,
    training: Cell<bool>,
}

impl Linear {
    /// A layer with parameters on the host, initialized as PyTorch does
    /// (`kaiming_uniform_(a=sqrt(5))` for the weight, which is U(-1/sqrt(in), 1/sqrt(in)), and
    /// the same bound for the bias), from the host generator, weight first.
    pub fn new(
        rt: &Runtime,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Result<Linear> {
        Linear::new_on(rt, in_features, out_features, bias, Device::Cpu)
    }

    /// `nn.Linear(in_features, out_features, bias, device=device)`: parameters are created
    /// directly on `device` (tagged as parameters there) and initialized from that device's
    /// generator.
    pub fn new_on(
        rt: &Runtime,
        in_features: usize,
        out_features: usize,
        bias: bool,
        device: Device,
    ) -> Result<Linear> {
        let bound = if in_features > 0 {
            1.0 / (in_features as f64).sqrt()
        } else {
            0.0
        };
        let param = |shape: &[usize]| -> Result<Tensor> {
            let t = rt.empty(shape, DType::F32, device)?;
            t.set_purpose(Purpose::Parameter);
            Ok(t)
        };
        let weight = param(&[out_features, in_features])?;
        let bias = if bias {
            Some(param(&[out_features])?)
        } else {
            None
        };
        rt.uniform_(&weight, -bound, bound)?;
        weight.set_requires_grad(true)?;
        if let Some(b) = &bias {
            rt.uniform_(b, -bound, bound)?;
            b.set_requires_grad(true)?;
        }
        Ok(Linear {
            weight,
            bias,
            training: Cell::new(true),
        })
    }
}

impl Linear {
    /// The same layer over other parameters, in the same training mode: what `copy.deepcopy`
    /// makes once it has copied the parameters.
    pub fn with_parameters(&self, weight: Tensor, bias: Option<Tensor>) -> Linear {
        Linear {
            weight,
            bias,
            training: Cell::new(self.training.get()),
        }
    }
}

impl Module for Linear {
    /// `F.linear` ([`Tensor::linear`]): `addmm(bias, x, weight.t())` for 2-D input with a
    /// bias, and for contiguous 3-D input through a view to 2-D (what sequence models pass);
    /// else `x.matmul(weight.t())`, plus the bias.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.linear(&self.weight, self.bias.as_ref())
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        std::iter::once(("weight".to_string(), self.weight.clone()))
            .chain(self.bias.clone().map(|b| ("bias".to_string(), b)))
            .collect()
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

/// `nn.ReLU(inplace)`.
#[derive(Debug, Clone)]
pub struct ReLU {
    inplace: bool,
    training: Cell<bool>,
}

impl ReLU {
    /// `nn.ReLU(inplace=inplace)`.
    pub fn new(inplace: bool) -> ReLU {
        ReLU {
            inplace,
            training: Cell::new(true),
        }
    }
}

impl Module for ReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.inplace {
            x.relu_()
        } else {
            x.relu()
        }
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

/// `nn.Sequential(*modules)`.
pub struct Sequential {
    modules: Vec<Box<dyn Module>>,
    training: Cell<bool>,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequential")
            .field("modules", &self.modules.len())
            .finish()
    }
}

impl Sequential {
    /// Runs `modules` in order.
    pub fn new(modules: Vec<Box<dyn Module>>) -> Sequential {
        Sequential {
            modules,
            training: Cell::new(true),
        }
    }

    /// The children.
    pub fn modules(&self) -> &[Box<dyn Module>] {
        &self.modules
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for m in &self.modules {
            h = m.forward(&h)?;
        }
        Ok(h)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.modules
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                m.named_parameters()
                    .into_iter()
                    .map(move |(name, p)| (format!("{i}.{name}"), p))
            })
            .collect()
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.modules
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                m.named_buffers()
                    .into_iter()
                    .map(move |(name, b)| (format!("{i}.{name}"), b))
            })
            .collect()
    }

    /// Each child moves its own parameters and buffers.
    fn to(&self, device: Device) -> Result<()> {
        self.modules.iter().try_for_each(|m| m.to(device))
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
        for m in &self.modules {
            m.train(mode);
        }
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

/// `nn.MSELoss(reduction)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MSELoss {
    /// How the loss is reduced.
    pub reduction: Reduction,
}

impl MSELoss {
    /// `criterion(input, target)`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        input.mse_loss(target, self.reduction)
    }
}

/// `nn.CrossEntropyLoss(reduction)` with class-index targets.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropyLoss {
    /// How the loss is reduced.
    pub reduction: Reduction,
}

impl CrossEntropyLoss {
    /// `criterion(input, target)`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        input.cross_entropy(target, self.reduction)
    }
}
