//! The constructor settings a library layer keeps as attributes, as PyTorch's `__init__`
//! stores them (`self.in_channels = in_channels`, `self.eps = eps`): what `conv.in_channels`,
//! `conv.groups`, `bn.momentum` or `emb.padding_idx` read. Each layer answers from its own
//! configuration ([`Layer::setting`](super::Layer::setting)), never from its repr or its
//! weight's shape (a grouped Conv's weight holds `in_channels / groups`).

/// One setting's value, as Python sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// An int (`in_channels`, `groups`).
    Int(i64),
    /// A float (`eps`, `momentum`).
    Float(f64),
    /// A bool (`affine`, `elementwise_affine`).
    Bool(bool),
    /// A tuple of ints (`kernel_size`, `stride`, `normalized_shape`).
    Ints(Vec<usize>),
    /// A string (`padding='same'`, `padding_mode='zeros'`).
    Str(&'static str),
    /// `None` (`padding_idx`, `momentum=None`).
    None,
}

impl Setting {
    /// An int setting from a count.
    pub(crate) fn count(n: usize) -> Setting {
        Setting::Int(n as i64)
    }
}
