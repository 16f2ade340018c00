//! Element types and the place a tensor lives, as a scenario sees them.

use std::fmt;

/// Element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// `torch.float32`.
    F32,
    /// `torch.int64`.
    I64,
    /// `torch.bool`.
    Bool,
}

impl DType {
    /// Bytes per element, as PyTorch stores them.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::I64 => 8,
            DType::Bool => 1,
        }
    }

    /// Whether tensors of this type can require grad.
    pub fn is_floating_point(self) -> bool {
        self == DType::F32
    }

    pub(crate) fn legacy_name(self) -> &'static str {
        match self {
            DType::F32 => "FloatTensor",
            DType::I64 => "LongTensor",
            DType::Bool => "BoolTensor",
        }
    }

    pub(crate) fn short_name(self) -> &'static str {
        match self {
            DType::F32 => "Float",
            DType::I64 => "Long",
            DType::Bool => "Bool",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "torch.float32",
            DType::I64 => "torch.int64",
            DType::Bool => "torch.bool",
        })
    }
}

/// Where a tensor lives, as a scenario sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The runtime's device (real or simulated): counted by the allocator.
    Cuda,
    /// Host memory: not device memory, not counted.
    Cpu,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cuda => "cuda:0",
            Device::Cpu => "cpu",
        })
    }
}
