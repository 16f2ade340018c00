//! `nn.BatchNorm1d`, `nn.BatchNorm2d` (running statistics as buffers), `nn.LayerNorm`,
//! `nn.GroupNorm`, `nn.InstanceNorm1d` and `nn.InstanceNorm2d`.

use std::cell::Cell;

use super::{Buffers, Layer, Module, Setting};
use crate::base::{DType, Device, Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::{BatchNormOptions, Scalar, Tensor};

/// `nn.BatchNorm1d` (`dims == 1`: (N, C) or (N, C, L) input) or `nn.BatchNorm2d`
/// (`dims == 2`: (N, C, H, W)).
#[derive(Debug)]
pub struct BatchNorm {
    dims: usize,
    num_features: usize,
    eps: f64,
    /// `None` is a cumulative moving average (`momentum=None`).
    momentum: Option<f64>,
    /// Shape (num_features), ones; `None` without `affine`.
    pub weight: Option<Tensor>,
    /// Shape (num_features), zeros; `None` without `affine`.
    pub bias: Option<Tensor>,
    /// `running_mean`, `running_var` and `num_batches_tracked` with `track_running_stats`.
    buffers: Buffers,
    training: Cell<bool>,
}

impl BatchNorm {
    /// `nn.BatchNorm{dims}d(num_features, eps, momentum, affine, track_running_stats, bias)`
    /// (`affine` is `[affine, bias]`), with
    /// its parameters and buffers on the host in PyTorch's order: weight, bias, then the
    /// buffers `running_mean` (zeros), `running_var` (ones) and `num_batches_tracked` (an int64
    /// zero).
    pub fn new(
        rt: &Runtime,
        dims: usize,
        num_features: usize,
        (eps, momentum): (f64, Option<f64>),
        [affine, with_bias]: [bool; 2],
        track_running_stats: bool,
    ) -> Result<BatchNorm> {
        let c = [num_features];
        let param = |fill: f64| -> Result<Tensor> {
            let t = rt.empty(&c, DType::F32, Device::Cpu)?;
            t.fill_(fill)?;
            t.requires_grad_(true)
        };
        let weight = affine.then(|| param(1.0)).transpose()?;
        let bias = (affine && with_bias).then(|| param(0.0)).transpose()?;
        let buffers = if track_running_stats {
            Buffers::new(vec![
                ("running_mean", rt.zeros(&c, DType::F32, Device::Cpu)?),
                ("running_var", rt.ones(&c, DType::F32, Device::Cpu)?),
                (
                    "num_batches_tracked",
                    rt.zeros(&[], DType::I64, Device::Cpu)?,
                ),
            ])
        } else {
            Buffers::default()
        };
        Ok(BatchNorm {
            dims,
            num_features,
            eps,
            momentum,
            weight,
            bias,
            buffers,
            training: Cell::new(true),
        })
    }
}

impl Module for BatchNorm {
    /// `_BatchNorm.forward`: in training with running statistics, `num_batches_tracked += 1`
    /// (in place) and the running statistics updated by the batch's; batch statistics in
    /// training or without running statistics, else the running ones.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let ok = match self.dims {
            1 => x.dim() == 2 || x.dim() == 3,
            _ => x.dim() == 4,
        };
        if !ok {
            return Err(TensorError::Invalid(if self.dims == 1 {
                format!("expected 2D or 3D input (got {}D input)", x.dim())
            } else {
                format!("expected 4D input (got {}D input)", x.dim())
            }));
        }
        let training = self.training.get();
        let running_mean = self.buffers.get("running_mean");
        let running_var = self.buffers.get("running_var");
        let mut factor = self.momentum.unwrap_or(0.0);
        if training {
            if let Some(tracked) = self.buffers.get("num_batches_tracked") {
                let _no_grad = x.runtime().no_grad();
                tracked.add_scalar_(Scalar::Int(1))?;
                if self.momentum.is_none() {
                    factor = 1.0 / tracked.item()?.max(1.0);
                }
            }
        }
        x.batch_norm(
            [running_mean.as_ref(), running_var.as_ref()],
            self.weight.as_ref(),
            self.bias.as_ref(),
            BatchNormOptions {
                training: training || running_mean.is_none(),
                momentum: factor,
                eps: self.eps,
            },
        )
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, &self.bias)
    }

    fn buffers(&self) -> Option<&Buffers> {
        Some(&self.buffers)
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

/// Python's `repr` of a small positive float as these modules' `eps` shows it (`1e-05`).
pub(super) fn py_float(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-4 {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
        format!("{mantissa}e{sign}{digits:0>2}")
    } else {
        format!("{v:?}")
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

impl Layer for BatchNorm {
    fn class_name(&self) -> &'static str {
        if self.dims == 1 {
            "BatchNorm1d"
        } else {
            "BatchNorm2d"
        }
    }

    fn setting(&self, name: &str) -> Option<Setting> {
        Some(match name {
            "num_features" => Setting::count(self.num_features),
            "eps" => Setting::Float(self.eps),
            "momentum" => self.momentum.map_or(Setting::None, Setting::Float),
            "affine" => Setting::Bool(self.weight.is_some()),
            "track_running_stats" => Setting::Bool(self.buffers.get("running_mean").is_some()),
            _ => return None,
        })
    }

    fn repr(&self) -> String {
        let momentum = self
            .momentum
            .map_or_else(|| "None".to_string(), |m| format!("{m:?}"));
        format!(
            "{}({}, eps={}, momentum={momentum}, affine={}, bias={}, track_running_stats={})",
            self.class_name(),
            self.num_features,
            py_float(self.eps),
            py_bool(self.weight.is_some()),
            py_bool(self.bias.is_some()),
            py_bool(self.buffers.get("running_mean").is_some())
        )
    }

    fn with_tensors(&self, params: Vec<Tensor>, buffers: Vec<Tensor>) -> Box<dyn Layer> {
        let mut params = params.into_iter();
        Box::new(BatchNorm {
            dims: self.dims,
            num_features: self.num_features,
            eps: self.eps,
            momentum: self.momentum,
            weight: self.weight.as_ref().and_then(|_| params.next()),
            bias: self.bias.as_ref().and_then(|_| params.next()),
            buffers: self.buffers.with_tensors(buffers),
            training: Cell::new(self.training.get()),
        })
    }
}

/// `nn.LayerNorm(normalized_shape, eps, elementwise_affine, bias)`.
#[derive(Debug)]
pub struct LayerNorm {
    normalized_shape: Vec<usize>,
    eps: f64,
    /// Ones of `normalized_shape`; `None` without `elementwise_affine`.
    pub weight: Option<Tensor>,
    /// Zeros of `normalized_shape`; `None` without `elementwise_affine` or with `bias=False`.
    pub bias: Option<Tensor>,
    training: Cell<bool>,
}

impl LayerNorm {
    /// The module with its parameters on the host: weight (ones), then bias (zeros).
    pub fn new(
        rt: &Runtime,
        normalized_shape: &[usize],
        eps: f64,
        elementwise_affine: bool,
        bias: bool,
    ) -> Result<LayerNorm> {
        let (weight, bias) = affine_parameters(rt, normalized_shape, [elementwise_affine, bias])?;
        Ok(LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            eps,
            weight,
            bias,
            training: Cell::new(true),
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.layer_norm(
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, &self.bias)
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for LayerNorm {
    fn class_name(&self) -> &'static str {
        "LayerNorm"
    }

    fn setting(&self, name: &str) -> Option<Setting> {
        Some(match name {
            "normalized_shape" => Setting::Ints(self.normalized_shape.clone()),
            "eps" => Setting::Float(self.eps),
            "elementwise_affine" => Setting::Bool(self.weight.is_some()),
            _ => return None,
        })
    }

    fn repr(&self) -> String {
        let dims: Vec<String> = self.normalized_shape.iter().map(usize::to_string).collect();
        let shape = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        format!(
            "LayerNorm({shape}, eps={}, elementwise_affine={}, bias={})",
            py_float(self.eps),
            py_bool(self.weight.is_some()),
            py_bool(self.bias.is_some())
        )
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        let mut params = params.into_iter();
        Box::new(LayerNorm {
            normalized_shape: self.normalized_shape.clone(),
            eps: self.eps,
            weight: self.weight.as_ref().and_then(|_| params.next()),
            bias: self.bias.as_ref().and_then(|_| params.next()),
            training: Cell::new(self.training.get()),
        })
    }
}

/// `nn.GroupNorm(num_groups, num_channels, eps, affine, bias)`.
#[derive(Debug)]
pub struct GroupNorm {
    num_groups: usize,
    num_channels: usize,
    eps: f64,
    /// Ones of shape (num_channels); `None` without `affine`.
    pub weight: Option<Tensor>,
    /// Zeros of shape (num_channels); `None` without `affine` or with `bias=False`.
    pub bias: Option<Tensor>,
    training: Cell<bool>,
}

impl GroupNorm {
    /// The module with its parameters on the host: weight (ones), then bias (zeros). As in
    /// PyTorch, `num_channels` must be a multiple of `num_groups`.
    pub fn new(
        rt: &Runtime,
        num_groups: usize,
        num_channels: usize,
        eps: f64,
        [affine, bias]: [bool; 2],
    ) -> Result<GroupNorm> {
        if num_groups == 0 || num_channels % num_groups != 0 {
            return Err(TensorError::Invalid(format!(
                "num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )));
        }
        let (weight, bias) = affine_parameters(rt, &[num_channels], [affine, bias])?;
        Ok(GroupNorm {
            num_groups,
            num_channels,
            eps,
            weight,
            bias,
            training: Cell::new(true),
        })
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.group_norm(
            self.num_groups,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, &self.bias)
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for GroupNorm {
    fn class_name(&self) -> &'static str {
        "GroupNorm"
    }

    fn setting(&self, name: &str) -> Option<Setting> {
        Some(match name {
            "num_groups" => Setting::Int(self.num_groups as i64),
            "num_channels" => Setting::Int(self.num_channels as i64),
            "eps" => Setting::Float(self.eps),
            "affine" => Setting::Bool(self.weight.is_some()),
            _ => return None,
        })
    }

    fn repr(&self) -> String {
        format!(
            "GroupNorm({}, {}, eps={}, affine={}, bias={})",
            self.num_groups,
            self.num_channels,
            py_float(self.eps),
            py_bool(self.weight.is_some()),
            py_bool(self.bias.is_some())
        )
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        let mut params = params.into_iter();
        Box::new(GroupNorm {
            num_groups: self.num_groups,
            num_channels: self.num_channels,
            eps: self.eps,
            weight: self.weight.as_ref().and_then(|_| params.next()),
            bias: self.bias.as_ref().and_then(|_| params.next()),
            training: Cell::new(self.training.get()),
        })
    }
}

/// A normalization's affine parameters on the host, each `shape`: the weight (ones) when
/// `affine`, then the bias (zeros) when `affine` and `bias`, as `reset_parameters` fills them.
fn affine_parameters(
    rt: &Runtime,
    shape: &[usize],
    [affine, bias]: [bool; 2],
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let param = |fill: f64| -> Result<Tensor> {
        let t = rt.empty(shape, DType::F32, Device::Cpu)?;
        t.fill_(fill)?;
        t.requires_grad_(true)
    };
    let weight = affine.then(|| param(1.0)).transpose()?;
    let bias = (affine && bias).then(|| param(0.0)).transpose()?;
    Ok((weight, bias))
}

/// `named_parameters()` of a module whose parameters are an optional weight and bias.
fn weight_and_bias(weight: &Option<Tensor>, bias: &Option<Tensor>) -> Vec<(String, Tensor)> {
    weight
        .iter()
        .map(|w| ("weight".to_string(), w.clone()))
        .chain(bias.iter().map(|b| ("bias".to_string(), b.clone())))
        .collect()
}

/// `nn.InstanceNorm1d` (`dims == 1`: (N, C, L) or unbatched (C, L)) or `nn.InstanceNorm2d`
/// (`dims == 2`: (N, C, H, W) or (C, H, W)), without running statistics.
#[derive(Debug)]
pub struct InstanceNorm {
    dims: usize,
    num_features: usize,
    eps: f64,
    momentum: f64,
    /// Ones of shape (num_features); `None` without `affine`.
    pub weight: Option<Tensor>,
    /// Zeros of shape (num_features); `None` without `affine` or with `bias=False`.
    pub bias: Option<Tensor>,
    training: Cell<bool>,
}

impl InstanceNorm {
    /// `nn.InstanceNorm{dims}d(num_features, eps, momentum, affine, track_running_stats=False,
    /// bias)` with its parameters on the host.
    pub fn new(
        rt: &Runtime,
        dims: usize,
        num_features: usize,
        (eps, momentum): (f64, f64),
        [affine, bias]: [bool; 2],
    ) -> Result<InstanceNorm> {
        let (weight, bias) = affine_parameters(rt, &[num_features], [affine, bias])?;
        Ok(InstanceNorm {
            dims,
            num_features,
            eps,
            momentum,
            weight,
            bias,
            training: Cell::new(true),
        })
    }
}

impl Module for InstanceNorm {
    /// `_InstanceNorm.forward`: an unbatched input runs as a batch of one.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.dim() == self.dims + 1 {
            return self.forward(&x.unsqueeze(0)?)?.squeeze(Some(0));
        }
        if x.dim() != self.dims + 2 {
            return Err(TensorError::Invalid(format!(
                "expected {}D or {}D input (got {}D input)",
                self.dims + 1,
                self.dims + 2,
                x.dim()
            )));
        }
        x.instance_norm(self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, &self.bias)
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for InstanceNorm {
    fn class_name(&self) -> &'static str {
        if self.dims == 1 {
            "InstanceNorm1d"
        } else {
            "InstanceNorm2d"
        }
    }

    fn setting(&self, name: &str) -> Option<Setting> {
        Some(match name {
            "num_features" => Setting::Int(self.num_features as i64),
            "eps" => Setting::Float(self.eps),
            "momentum" => Setting::Float(self.momentum),
            "affine" => Setting::Bool(self.weight.is_some()),
            "track_running_stats" => Setting::Bool(false),
            _ => return None,
        })
    }

    fn repr(&self) -> String {
        format!(
            "{}({}, eps={}, momentum={}, affine={}, bias={}, track_running_stats=False)",
            self.class_name(),
            self.num_features,
            py_float(self.eps),
            py_float(self.momentum),
            py_bool(self.weight.is_some()),
            py_bool(self.bias.is_some())
        )
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        let mut params = params.into_iter();
        Box::new(InstanceNorm {
            dims: self.dims,
            num_features: self.num_features,
            eps: self.eps,
            momentum: self.momentum,
            weight: self.weight.as_ref().and_then(|_| params.next()),
            bias: self.bias.as_ref().and_then(|_| params.next()),
            training: Cell::new(self.training.get()),
        })
    }
}
