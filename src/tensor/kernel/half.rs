//! float16 and bfloat16 on the host: storage is `u16` bits, arithmetic is f32. PyTorch's CPU
//! kernels compute a half-precision operation in f32 and round its result once to the storage
//! type (c10/util/Half.h, c10/util/BFloat16.h: round to nearest, ties to even), which is what
//! reading through [`to_f32`], computing, and writing through [`from_f32`] does, operation by
//! operation.

use half::{bf16, f16};

use crate::tensor::DType;

/// The value of `bits` stored as `dtype` (a half type).
pub(crate) fn to_f32(dtype: DType, bits: u16) -> f32 {
    match dtype {
        DType::BF16 => bf16::from_bits(bits).to_f32(),
        _ => f16::from_bits(bits).to_f32(),
    }
}

/// `value` rounded to `dtype` (a half type), as bits.
pub(crate) fn from_f32(dtype: DType, value: f32) -> u16 {
    match dtype {
        DType::BF16 => bf16::from_f32(value).to_bits(),
        _ => f16::from_f32(value).to_bits(),
    }
}

/// `values` rounded to `dtype`.
pub(crate) fn encode(dtype: DType, values: impl Iterator<Item = f32>) -> Vec<u16> {
    values.map(|v| from_f32(dtype, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `torch.tensor(1/3, dtype=...).item()` on torch 2.15.0: 0.333251953125 (float16) and
    /// 0.333984375 (bfloat16); 70000 overflows float16 to inf and bfloat16 keeps 70144.
    #[test]
    fn rounding_matches_pytorch() {
        let third = (1.0f64 / 3.0) as f32;
        assert_eq!(
            to_f32(DType::F16, from_f32(DType::F16, third)),
            0.333_251_95
        );
        assert_eq!(
            to_f32(DType::BF16, from_f32(DType::BF16, third)),
            0.333_984_38
        );
        assert!(to_f32(DType::F16, from_f32(DType::F16, 70000.0)).is_infinite());
        assert_eq!(to_f32(DType::BF16, from_f32(DType::BF16, 70000.0)), 70144.0);
    }
}
