//! Modules without parameters whose forward is one tensor function: `nn.Identity`,
//! `nn.Flatten`, `nn.GELU`, `nn.SiLU`, `nn.Tanh`, `nn.Sigmoid`, `nn.Softmax`,
//! `nn.Dropout`, `nn.Dropout2d`, `nn.LeakyReLU`, `nn.ELU`, `nn.Softplus`, `nn.Upsample` and the
//! padding modules.
//! Each allocates exactly what its functional form does (`docs/autograd.md`);
//! `Identity` returns its input itself, as `torch.nn.Identity.forward` does.

use std::cell::Cell;
use std::fmt;

use super::{Module, Setting};
use crate::base::Result;
use crate::tensor::{Interpolate, InterpolateMode, Resize, Spelled, Tensor};

/// Which function a [`Stateless`] module applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerFn {
    /// `nn.Identity()`: the input itself.
    Identity,
    /// `nn.Flatten(start_dim=1, end_dim=-1)`.
    Flatten { start_dim: isize, end_dim: isize },
    /// `nn.GELU()` (`approximate='none'`).
    Gelu,
    /// `nn.SiLU()`.
    Silu,
    /// `nn.Tanh()`.
    Tanh,
    /// `nn.Sigmoid()`.
    Sigmoid,
    /// `nn.Softmax(dim)`.
    Softmax { dim: isize },
    /// `nn.Dropout(p=0.5)`: only in training mode.
    Dropout { p: f64 },
    /// `nn.LeakyReLU(negative_slope=0.01)`.
    LeakyRelu { negative_slope: f64 },
    /// `nn.ELU(alpha=1.0)`.
    Elu { alpha: f64 },
    /// `nn.Softplus(beta=1.0, threshold=20.0)`.
    Softplus { beta: f64, threshold: f64 },
    /// `nn.Dropout2d(p=0.5)`: whole channels, only in training mode.
    Dropout2d { p: f64 },
    /// `nn.ReflectionPad1d`, `nn.ReflectionPad2d` (`reflect`) and `nn.ZeroPad2d` (`class`):
    /// `F.pad` with the first `len` of `pad`.
    Pad {
        pad: [i64; 4],
        len: usize,
        reflect: bool,
        class: &'static str,
    },
    /// `nn.Upsample(size, scale_factor, mode, align_corners)` and its subclasses
    /// `nn.UpsamplingNearest2d`, `nn.UpsamplingBilinear2d` (`class`): `F.interpolate`.
    Upsample {
        how: Interpolate,
        class: &'static str,
    },
}

/// A module with no parameters and no buffers (see [`LayerFn`]).
#[derive(Debug, Clone)]
pub struct Stateless {
    function: LayerFn,
    training: Cell<bool>,
}

impl Stateless {
    /// The module applying `function`, in training mode as PyTorch creates modules.
    pub fn new(function: LayerFn) -> Stateless {
        Stateless {
            function,
            training: Cell::new(true),
        }
    }

    /// The function it applies.
    pub fn function(&self) -> LayerFn {
        self.function
    }

    /// The constructor setting `name` PyTorch keeps on the module (`dropout.p`,
    /// `softplus.beta`, `flatten.start_dim`); `None` for a name it does not keep.
    pub fn setting(&self, name: &str) -> Option<Setting> {
        let inplace = || Some(Setting::Bool(false));
        match (self.function, name) {
            (LayerFn::Flatten { start_dim, .. }, "start_dim") => {
                Some(Setting::Int(start_dim as i64))
            }
            (LayerFn::Flatten { end_dim, .. }, "end_dim") => Some(Setting::Int(end_dim as i64)),
            (LayerFn::Gelu, "approximate") => Some(Setting::Str("none")),
            (LayerFn::Softmax { dim }, "dim") => Some(Setting::Int(dim as i64)),
            (LayerFn::Dropout { p } | LayerFn::Dropout2d { p }, "p") => Some(Setting::Float(p)),
            (LayerFn::LeakyRelu { negative_slope }, "negative_slope") => {
                Some(Setting::Float(negative_slope))
            }
            (LayerFn::Elu { alpha }, "alpha") => Some(Setting::Float(alpha)),
            (LayerFn::Softplus { beta, .. }, "beta") => Some(Setting::Float(beta)),
            (LayerFn::Softplus { threshold, .. }, "threshold") => Some(Setting::Float(threshold)),
            (
                LayerFn::Silu
                | LayerFn::Dropout { .. }
                | LayerFn::Dropout2d { .. }
                | LayerFn::LeakyRelu { .. }
                | LayerFn::Elu { .. },
                "inplace",
            ) => inplace(),
            _ => None,
        }
    }

    /// PyTorch's class name (`GELU`, `Dropout`, ...).
    pub fn class_name(&self) -> &'static str {
        match self.function {
            LayerFn::Identity => "Identity",
            LayerFn::Flatten { .. } => "Flatten",
            LayerFn::Gelu => "GELU",
            LayerFn::Silu => "SiLU",
            LayerFn::Tanh => "Tanh",
            LayerFn::Sigmoid => "Sigmoid",
            LayerFn::Softmax { .. } => "Softmax",
            LayerFn::Dropout { .. } => "Dropout",
            LayerFn::LeakyRelu { .. } => "LeakyReLU",
            LayerFn::Elu { .. } => "ELU",
            LayerFn::Softplus { .. } => "Softplus",
            LayerFn::Dropout2d { .. } => "Dropout2d",
            LayerFn::Upsample { class, .. } | LayerFn::Pad { class, .. } => class,
        }
    }
}

impl fmt::Display for Stateless {
    /// PyTorch's `repr` (`extra_repr` inside the parentheses).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.class_name();
        match self.function {
            LayerFn::Flatten { start_dim, end_dim } => {
                write!(f, "{name}(start_dim={start_dim}, end_dim={end_dim})")
            }
            LayerFn::Gelu => write!(f, "{name}(approximate='none')"),
            LayerFn::Softmax { dim } => write!(f, "{name}(dim={dim})"),
            LayerFn::Dropout { p } | LayerFn::Dropout2d { p } => {
                write!(f, "{name}(p={p:?}, inplace=False)")
            }
            LayerFn::Softplus { beta, threshold } => {
                write!(f, "{name}(beta={beta:?}, threshold={threshold:?})")
            }
            LayerFn::LeakyRelu { negative_slope } => {
                write!(f, "{name}(negative_slope={negative_slope:?})")
            }
            LayerFn::Elu { alpha } => write!(f, "{name}(alpha={alpha:?})"),
            LayerFn::Upsample { how, .. } => write!(f, "{name}({})", upsample_repr(&how)),
            LayerFn::Pad { pad, len, .. } => {
                let sides: Vec<String> = pad[..len].iter().map(i64::to_string).collect();
                write!(f, "{name}(({}))", sides.join(", "))
            }
            _ => write!(f, "{name}()"),
        }
    }
}

impl Module for Stateless {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.function {
            LayerFn::Identity => Ok(x.clone()),
            LayerFn::Flatten { start_dim, end_dim } => x.flatten(start_dim, end_dim),
            LayerFn::Gelu => x.gelu(),
            LayerFn::Silu => x.silu(),
            LayerFn::Tanh => x.tanh(),
            LayerFn::Sigmoid => x.sigmoid(),
            LayerFn::Softmax { dim } => x.softmax(dim),
            LayerFn::Dropout { p } => x.dropout(p, self.training.get()),
            LayerFn::LeakyRelu { negative_slope } => x.leaky_relu(negative_slope),
            LayerFn::Elu { alpha } => x.elu(alpha),
            LayerFn::Softplus { beta, threshold } => x.softplus(beta, threshold),
            LayerFn::Dropout2d { p } => x.dropout2d(p, self.training.get()),
            LayerFn::Upsample { how, .. } => x.interpolate(&how),
            LayerFn::Pad {
                pad, len, reflect, ..
            } => {
                if reflect {
                    x.reflection_pad(&pad[..len])
                } else {
                    x.constant_pad(&pad[..len], 0.0)
                }
            }
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

/// `nn.Upsample.extra_repr`: the scale factor (as floats) if given, else the size as written,
/// then the mode.
fn upsample_repr(how: &Interpolate) -> String {
    let pair = |spelled: Spelled, a: String, b: String| match spelled {
        Spelled::One => a,
        Spelled::Tuple => format!("({a}, {b})"),
        Spelled::List => format!("[{a}, {b}]"),
    };
    let resize = match how.resize {
        Resize::Scale(f, spelled) => {
            // nn.Upsample keeps `tuple(float(f) ...)` for a tuple or list, `float(f)` otherwise.
            let spelled = if spelled == Spelled::List {
                Spelled::Tuple
            } else {
                spelled
            };
            format!(
                "scale_factor={}",
                pair(spelled, format!("{:?}", f[0]), format!("{:?}", f[1]))
            )
        }
        Resize::Size(s, spelled) => {
            format!("size={}", pair(spelled, s[0].to_string(), s[1].to_string()))
        }
    };
    let mode = match how.mode {
        InterpolateMode::Nearest => "nearest",
        InterpolateMode::Bilinear { .. } => "bilinear",
        InterpolateMode::Area => "area",
    };
    format!("{resize}, mode='{mode}'")
}
