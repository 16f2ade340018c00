//! `nn.Conv1d`, `nn.Conv2d`, `nn.ConvTranspose2d`, and the pooling modules `nn.MaxPool2d`, `nn.AvgPool2d` and
//! `nn.AdaptiveAvgPool2d`, over the operations of `src/tensor/conv.rs` and `pool.rs`.

use std::cell::Cell;

use super::{uniform_parameters, Layer, Module, Setting};
use crate::base::Result;
use crate::runtime::Runtime;
use crate::tensor::{ConvOptions, ConvPadding, ConvTransposeOptions, PoolOptions, Tensor};

/// `nn.Conv1d` (`dims == 1`), `nn.Conv2d` (`dims == 2`) or `nn.ConvTranspose2d`.
#[derive(Debug)]
pub struct Conv {
    dims: usize,
    in_channels: usize,
    out_channels: usize,
    kernel: Vec<usize>,
    options: ConvOptions,
    /// `Some(output_padding)` for `nn.ConvTranspose2d`.
    output_padding: Option<[usize; 2]>,
    /// Shape (out_channels, in_channels / groups, *kernel); transposed, (in_channels,
    /// out_channels / groups, *kernel).
    pub weight: Tensor,
    /// Shape (out_channels).
    pub bias: Option<Tensor>,
    training: Cell<bool>,
}

impl Conv {
    /// `nn.Conv{dims}d(in_channels, out_channels, kernel, stride, padding, dilation, groups,
    /// bias)`, with parameters on the host initialized as PyTorch does (weight, then bias).
    pub fn new(
        rt: &Runtime,
        (in_channels, out_channels): (usize, usize),
        kernel: &[usize],
        options: ConvOptions,
        bias: bool,
    ) -> Result<Conv> {
        Conv::with_weight(rt, (in_channels, out_channels), kernel, options, bias, None)
    }

    /// `nn.ConvTranspose2d(in_channels, out_channels, kernel, stride, padding, output_padding,
    /// groups, bias, dilation)`; `options.padding` must be explicit.
    pub fn transposed(
        rt: &Runtime,
        channels: (usize, usize),
        kernel: [usize; 2],
        options: ConvOptions,
        output_padding: [usize; 2],
        bias: bool,
    ) -> Result<Conv> {
        Conv::with_weight(rt, channels, &kernel, options, bias, Some(output_padding))
    }

    fn with_weight(
        rt: &Runtime,
        (in_channels, out_channels): (usize, usize),
        kernel: &[usize],
        options: ConvOptions,
        bias: bool,
        output_padding: Option<[usize; 2]>,
    ) -> Result<Conv> {
        let dims = kernel.len();
        let groups = options.groups.max(1);
        // `_ConvNd`'s weight; `kaiming_uniform_` takes its fan-in from dimension 1.
        let mut weight_shape = match output_padding {
            Some(_) => vec![in_channels, out_channels / groups],
            None => vec![out_channels, in_channels / groups],
        };
        weight_shape.extend(kernel);
        let fan_in = weight_shape[1] * kernel.iter().product::<usize>();
        let bias_shape = [out_channels];
        let mut shapes: Vec<&[usize]> = vec![&weight_shape];
        if bias {
            shapes.push(&bias_shape);
        }
        let mut params = uniform_parameters(rt, &shapes, fan_in)?.into_iter();
        let weight = params.next().expect("a weight was created");
        Ok(Conv {
            dims,
            in_channels,
            out_channels,
            kernel: kernel.to_vec(),
            options,
            output_padding,
            weight,
            bias: params.next(),
            training: Cell::new(true),
        })
    }
}

fn tuple(v: &[usize]) -> String {
    match v {
        [a] => format!("({a},)"),
        _ => format!(
            "({})",
            v.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let Some(output_padding) = self.output_padding {
            let o = &self.options;
            let pair = |v: &[usize]| [v[0], v[v.len() - 1]];
            let padding = match &o.padding {
                ConvPadding::Explicit(p) => pair(p),
                _ => [0, 0],
            };
            let options = ConvTransposeOptions {
                stride: pair(&o.stride),
                padding,
                output_padding,
                dilation: pair(&o.dilation),
                groups: o.groups,
            };
            return x.conv_transpose2d(&self.weight, self.bias.as_ref(), &options);
        }
        if self.dims == 1 {
            x.conv1d(&self.weight, self.bias.as_ref(), &self.options)
        } else {
            x.conv2d(&self.weight, self.bias.as_ref(), &self.options)
        }
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

impl Layer for Conv {
    fn class_name(&self) -> &'static str {
        match (self.output_padding, self.dims) {
            (Some(_), _) => "ConvTranspose2d",
            (None, 1) => "Conv1d",
            (None, _) => "Conv2d",
        }
    }

    /// `_ConvNd.__init__`'s attributes; `kernel_size`, `stride`, `padding` and `dilation` are
    /// tuples, `padding` a string for `'same'`/`'valid'`.
    fn setting(&self, name: &str) -> Option<Setting> {
        let o = &self.options;
        Some(match name {
            "in_channels" => Setting::count(self.in_channels),
            "out_channels" => Setting::count(self.out_channels),
            "kernel_size" => Setting::Ints(self.kernel.clone()),
            "stride" => Setting::Ints(o.stride.clone()),
            "padding" => match &o.padding {
                ConvPadding::Explicit(p) => Setting::Ints(p.clone()),
                ConvPadding::Same => Setting::Str("same"),
                ConvPadding::Valid => Setting::Str("valid"),
            },
            "dilation" => Setting::Ints(o.dilation.clone()),
            "groups" => Setting::count(o.groups),
            "padding_mode" => Setting::Str("zeros"),
            "output_padding" => {
                Setting::Ints(self.output_padding.map_or(vec![0; self.dims], Vec::from))
            }
            "transposed" => Setting::Bool(self.output_padding.is_some()),
            _ => return None,
        })
    }

    /// `_ConvNd.extra_repr`: stride always, the others only when not their defaults.
    fn repr(&self) -> String {
        let o = &self.options;
        let mut s = format!(
            "{}({}, {}, kernel_size={}, stride={}",
            self.class_name(),
            self.in_channels,
            self.out_channels,
            tuple(&self.kernel),
            tuple(&o.stride)
        );
        match &o.padding {
            ConvPadding::Explicit(p) if p.iter().any(|&v| v != 0) => {
                s += &format!(", padding={}", tuple(p))
            }
            ConvPadding::Explicit(_) => {}
            ConvPadding::Same => s += ", padding=same",
            ConvPadding::Valid => s += ", padding=valid",
        }
        if o.dilation.iter().any(|&d| d != 1) {
            s += &format!(", dilation={}", tuple(&o.dilation));
        }
        if let Some(p) = self.output_padding.filter(|p| p.iter().any(|&v| v != 0)) {
            s += &format!(", output_padding={}", tuple(&p));
        }
        if o.groups != 1 {
            s += &format!(", groups={}", o.groups);
        }
        if self.bias.is_none() {
            s += ", bias=False";
        }
        s + ")"
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        let mut params = params.into_iter();
        Box::new(Conv {
            dims: self.dims,
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            kernel: self.kernel.clone(),
            options: self.options.clone(),
            output_padding: self.output_padding,
            weight: params.next().unwrap_or_else(|| self.weight.clone()),
            bias: params.next(),
            training: Cell::new(self.training.get()),
        })
    }
}

/// Which pooling a [`Pool`] module applies.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolKind {
    /// `nn.MaxPool2d`.
    Max(PoolOptions),
    /// `nn.AvgPool2d(count_include_pad, divisor_override)`.
    Avg {
        /// Window, stride, padding and ceil mode.
        options: PoolOptions,
        /// Whether padding counts in the divisor.
        count_include_pad: bool,
        /// A fixed divisor.
        divisor_override: Option<usize>,
    },
    /// `nn.AdaptiveAvgPool2d(output_size)`.
    AdaptiveAvg([usize; 2]),
}

/// A pooling module (no parameters, no buffers).
#[derive(Debug)]
pub struct Pool {
    kind: PoolKind,
    /// `nn.MaxPool1d`, `nn.AvgPool1d`, `nn.AdaptiveAvgPool1d`: `kind` holds the 2-D form ATen
    /// runs them as ([`PoolOptions::one_d`], an output size of `[1, L]`).
    one_d: bool,
    training: Cell<bool>,
}

impl Pool {
    /// The module applying `kind`.
    pub fn new(kind: PoolKind) -> Pool {
        Pool {
            kind,
            one_d: false,
            training: Cell::new(true),
        }
    }

    /// The 1-D module whose 2-D form is `kind`.
    pub fn new_1d(kind: PoolKind) -> Pool {
        Pool {
            one_d: true,
            ..Pool::new(kind)
        }
    }
}

impl Module for Pool {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.one_d {
            return match &self.kind {
                PoolKind::Max(o) => x.max_pool1d(o),
                PoolKind::Avg {
                    options,
                    count_include_pad,
                    ..
                } => x.avg_pool1d(options, *count_include_pad),
                PoolKind::AdaptiveAvg(size) => x.adaptive_avg_pool1d(size[1]),
            };
        }
        match &self.kind {
            PoolKind::Max(o) => x.max_pool2d(o),
            PoolKind::Avg {
                options,
                count_include_pad,
                divisor_override,
            } => x.avg_pool2d(options, *count_include_pad, *divisor_override),
            PoolKind::AdaptiveAvg(size) => x.adaptive_avg_pool2d(*size),
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

/// A pooling size as PyTorch's modules print it: an int when both sides are equal and it was
/// given as one, else a tuple.
fn size(v: [usize; 2]) -> String {
    if v[0] == v[1] {
        v[0].to_string()
    } else {
        format!("({}, {})", v[0], v[1])
    }
}

impl Layer for Pool {
    fn class_name(&self) -> &'static str {
        match (&self.kind, self.one_d) {
            (PoolKind::Max(_), false) => "MaxPool2d",
            (PoolKind::Avg { .. }, false) => "AvgPool2d",
            (PoolKind::AdaptiveAvg(_), false) => "AdaptiveAvgPool2d",
            (PoolKind::Max(_), true) => "MaxPool1d",
            (PoolKind::Avg { .. }, true) => "AvgPool1d",
            (PoolKind::AdaptiveAvg(_), true) => "AdaptiveAvgPool1d",
        }
    }

    fn repr(&self) -> String {
        let name = self.class_name();
        let py = |b: bool| if b { "True" } else { "False" };
        if self.one_d {
            return match &self.kind {
                // MaxPool1d keeps its ints; AvgPool1d keeps `_single` tuples.
                PoolKind::Max(o) => format!(
                    "{name}(kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={})",
                    o.kernel[1],
                    o.stride.unwrap_or(o.kernel)[1],
                    o.padding[1],
                    o.dilation[1],
                    py(o.ceil_mode)
                ),
                PoolKind::Avg { options: o, .. } => format!(
                    "{name}(kernel_size=({},), stride=({},), padding=({},))",
                    o.kernel[1],
                    o.stride.unwrap_or(o.kernel)[1],
                    o.padding[1]
                ),
                PoolKind::AdaptiveAvg(s) => format!("{name}(output_size={})", s[1]),
            };
        }
        match &self.kind {
            PoolKind::Max(o) => format!(
                "{name}(kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={})",
                size(o.kernel),
                size(o.stride.unwrap_or(o.kernel)),
                size(o.padding),
                size(o.dilation),
                py(o.ceil_mode)
            ),
            PoolKind::Avg { options: o, .. } => format!(
                "{name}(kernel_size={}, stride={}, padding={})",
                size(o.kernel),
                size(o.stride.unwrap_or(o.kernel)),
                size(o.padding)
            ),
            PoolKind::AdaptiveAvg(s) => format!("{name}(output_size=({}, {}))", s[0], s[1]),
        }
    }

    fn with_tensors(&self, _params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        let copy = Pool {
            one_d: self.one_d,
            ..Pool::new(self.kind.clone())
        };
        copy.train(self.training.get());
        Box::new(copy)
    }
}
