//! Element types and the place a tensor lives, as a scenario sees them.

use std::fmt;

/// Element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// `torch.float32`.
    F32,
    /// `torch.float16` (`torch.half`): IEEE binary16, 2 bytes.
    F16,
    /// `torch.bfloat16`: the upper half of an f32, 2 bytes.
    BF16,
    /// `torch.int64` (`torch.long`).
    I64,
    /// `torch.int32` (`torch.int`): 4 bytes, as `GradScaler`'s growth tracker.
    I32,
    /// `torch.float64` (`torch.double`): 8 bytes. A Python float that PyTorch wraps into a
    /// 0-dim tensor (`x * 2.0`) is one.
    F64,
    /// `torch.bool`.
    Bool,
}

/// PyTorch's type categories, in promotion order (c10/core/ScalarType.h `promoteTypes` and
/// aten/src/ATen/native/TypeProperties.cpp: a higher category wins whatever the sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    Bool,
    Integer,
    Floating,
}

impl DType {
    /// Bytes per element, as PyTorch stores them.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::I64 | DType::F64 => 8,
            DType::Bool => 1,
        }
    }

    /// Whether this is an integer type (int32, int64; not bool).
    pub fn is_integer(self) -> bool {
        matches!(self, DType::I64 | DType::I32)
    }

    /// Whether tensors of this type can require grad.
    pub fn is_floating_point(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    }

    fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::I64 | DType::I32 => Category::Integer,
            DType::F32 | DType::F16 | DType::BF16 | DType::F64 => Category::Floating,
        }
    }

    /// `torch.promote_types(a, b)`: the wider of two types. float16 and bfloat16 have no
    /// common 2-byte type, so they meet at float32; float64 is wider than every other float
    /// (c10's `promoteTypes` table).
    pub fn promote_types(a: DType, b: DType) -> DType {
        if a == b {
            return a;
        }
        match (a.category(), b.category()) {
            (x, y) if x > y => a,
            (x, y) if x < y => b,
            // Two different floats: f64 is the widest; f32 is the wider of f32 and a half
            // type, and the two half types promote to f32 too.
            (Category::Floating, _) if a == DType::F64 || b == DType::F64 => DType::F64,
            (Category::Floating, _) => DType::F32,
            // Two different integers: the wider, int64 (int32 is the only other one).
            (Category::Integer, _) => DType::I64,
            // Bool is the only type of its category.
            (Category::Bool, _) => a,
        }
    }

    /// `torch.result_type` of two tensor operands: a 0-dim tensor does not widen a tensor
    /// with dimensions of the same category (`f16[n] + f32[]` is f16), only of a lower one
    /// (`i64[n] + f32[]` is f32); aten/src/ATen/native/TypeProperties.cpp `update_result_type_state`.
    pub fn result_type(a: DType, a_is_0dim: bool, b: DType, b_is_0dim: bool) -> DType {
        match (a_is_0dim, b_is_0dim) {
            (false, true) if b.category() <= a.category() => a,
            (true, false) if a.category() <= b.category() => b,
            _ => DType::promote_types(a, b),
        }
    }

    /// `torch.result_type` of a tensor and a Python number (`is_float`: a float, else an int
    /// or bool): a number never widens a tensor of its category or a higher one; a float
    /// number with an integer or bool tensor gives the default dtype, float32.
    pub fn result_type_scalar(self, is_float: bool) -> DType {
        if is_float && !self.is_floating_point() {
            DType::F32
        } else if !is_float && self == DType::Bool {
            DType::I64
        } else {
            self
        }
    }

    pub(crate) fn legacy_name(self) -> &'static str {
        match self {
            DType::F32 => "FloatTensor",
            DType::F16 => "HalfTensor",
            DType::BF16 => "BFloat16Tensor",
            DType::I64 => "LongTensor",
            DType::I32 => "IntTensor",
            DType::F64 => "DoubleTensor",
            DType::Bool => "BoolTensor",
        }
    }

    pub(crate) fn short_name(self) -> &'static str {
        match self {
            DType::F32 => "Float",
            DType::F16 => "Half",
            DType::BF16 => "BFloat16",
            DType::I64 => "Long",
            DType::I32 => "Int",
            DType::F64 => "Double",
            DType::Bool => "Bool",
        }
    }

    /// The type `torch.<name>` names (`torch.half`, `torch.bfloat16`, ...).
    pub fn from_torch_name(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "int64" | "long" => DType::I64,
            "int32" | "int" => DType::I32,
            "float64" | "double" => DType::F64,
            "bool" => DType::Bool,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "torch.float32",
            DType::F16 => "torch.float16",
            DType::BF16 => "torch.bfloat16",
            DType::I64 => "torch.int64",
            DType::I32 => "torch.int32",
            DType::F64 => "torch.float64",
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

#[cfg(test)]
mod tests {
    use super::DType::{self, *};

    /// Checked with torch 2.15.0: `torch.promote_types` and `torch.result_type`.
    #[test]
    fn promotion_follows_pytorch() {
        assert_eq!(DType::promote_types(F16, F32), F32);
        assert_eq!(DType::promote_types(F16, BF16), F32);
        assert_eq!(DType::promote_types(BF16, I64), BF16);
        assert_eq!(DType::promote_types(Bool, F16), F16);
        assert_eq!(DType::result_type(F16, false, F32, true), F16);
        assert_eq!(DType::result_type(F32, true, BF16, false), BF16);
        assert_eq!(DType::result_type(I64, false, F16, true), F16);
        assert_eq!(DType::result_type(F16, true, F32, true), F32);
        assert_eq!(F16.result_type_scalar(true), F16);
        assert_eq!(I64.result_type_scalar(true), F32);
        assert_eq!(Bool.result_type_scalar(false), I64);
        assert_eq!(DType::promote_types(I32, I64), I64);
        assert_eq!(DType::promote_types(Bool, I32), I32);
        assert_eq!(DType::promote_types(I32, BF16), BF16);
        assert_eq!(DType::result_type(I32, false, I64, true), I32);
        assert_eq!(DType::result_type(I64, true, I32, true), I64);
        assert_eq!(DType::result_type(I32, false, F32, true), F32);
        assert_eq!(I32.result_type_scalar(false), I32);
        assert_eq!(I32.result_type_scalar(true), F32);
        assert_eq!(I32.size(), 4);
        assert_eq!(DType::promote_types(F32, F64), F64);
        assert_eq!(DType::promote_types(F16, F64), F64);
        assert_eq!(DType::promote_types(BF16, F64), F64);
        assert_eq!(DType::promote_types(I64, F64), F64);
        assert_eq!(DType::result_type(F32, false, F64, true), F32);
        assert_eq!(DType::result_type(F64, false, F32, true), F64);
        assert_eq!(DType::result_type(I64, false, F64, true), F64);
        assert_eq!(DType::result_type(F32, true, F64, true), F64);
        assert_eq!(DType::result_type(F16, true, F64, false), F64);
        assert_eq!(F64.result_type_scalar(true), F64);
        assert_eq!(F64.size(), 8);
    }
}
