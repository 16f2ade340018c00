//! The host arithmetic of every operation code, one expression per code, the same as the
//! code's `case` in `kernels/*.cu` (compiled with `--fmad=false`, so both round alike).

use crate::device::kernels::{BinaryCode, TernaryCode, UnaryCode};

/// An element-wise operation of two operands, as a kernel receives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Bin {
    Add(f64),
    Sub(f64),
    Mul,
    Div,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `min(a, b)`, NaN when `a` is NaN.
    Min,
    /// `max(a, b)`, NaN when `a` is NaN.
    Max,
    /// Any other code of `ew_binary_f32` with its alpha (backward kernels, element-wise
    /// losses, `lerp`): computed in f32.
    Code(BinaryCode, f64),
}

impl Bin {
    /// The operation code and alpha of `ew_binary_*` in kernels/elementwise.cu.
    pub(crate) fn gpu_code(self) -> (BinaryCode, f64) {
        match self {
            Bin::Add(alpha) => (BinaryCode::Add, alpha),
            Bin::Sub(alpha) => (BinaryCode::Sub, alpha),
            Bin::Mul => (BinaryCode::Mul, 1.0),
            Bin::Div => (BinaryCode::Div, 1.0),
            Bin::Eq => (BinaryCode::Eq, 1.0),
            Bin::Ne => (BinaryCode::Ne, 1.0),
            Bin::Lt => (BinaryCode::Lt, 1.0),
            Bin::Le => (BinaryCode::Le, 1.0),
            Bin::Gt => (BinaryCode::Gt, 1.0),
            Bin::Ge => (BinaryCode::Ge, 1.0),
            Bin::Min => (BinaryCode::Min, 1.0),
            Bin::Max => (BinaryCode::Max, 1.0),
            Bin::Code(code, alpha) => (code, alpha),
        }
    }

    /// Whether the operation computes in f32 whatever its operands' types.
    pub(crate) fn is_float_only(self) -> bool {
        matches!(self, Bin::Div | Bin::Code(..) | Bin::Min | Bin::Max)
    }

    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            Bin::Eq | Bin::Ne | Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge
        )
    }

    pub(crate) fn f32(self, a: f32, b: f32) -> f32 {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            Bin::Add(alpha) => a + alpha as f32 * b,
            Bin::Sub(alpha) => a - alpha as f32 * b,
            Bin::Mul => a * b,
            Bin::Div => a / b,
            Bin::Eq => t(a == b),
            Bin::Ne => t(a != b),
            Bin::Lt => t(a < b),
            Bin::Le => t(a <= b),
            Bin::Gt => t(a > b),
            Bin::Ge => t(a >= b),
            Bin::Min | Bin::Max if a.is_nan() => a,
            Bin::Min => a.min(b),
            Bin::Max => a.max(b),
            Bin::Code(code, alpha) => binary_code(code, alpha, a, b),
        }
    }

    pub(crate) fn i64(self, a: i64, b: i64) -> i64 {
        match self {
            Bin::Add(alpha) => a.wrapping_add((alpha as i64).wrapping_mul(b)),
            Bin::Sub(alpha) => a.wrapping_sub((alpha as i64).wrapping_mul(b)),
            Bin::Mul => a.wrapping_mul(b),
            Bin::Div | Bin::Code(..) | Bin::Min | Bin::Max => {
                unreachable!("{self:?} computes in f32")
            }
            Bin::Eq => (a == b) as i64,
            Bin::Ne => (a != b) as i64,
            Bin::Lt => (a < b) as i64,
            Bin::Le => (a <= b) as i64,
            Bin::Gt => (a > b) as i64,
            Bin::Ge => (a >= b) as i64,
        }
    }
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.5 * std::f32::consts::FRAC_2_SQRT_PI * FRAC_1_SQRT_2;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `ew_binary_f32`'s codes past the arithmetic [`Bin`] names itself.
fn binary_code(code: BinaryCode, alpha: f64, a: f32, b: f32) -> f32 {
    match code {
        BinaryCode::SquaredDiff => (a - b) * (a - b),
        BinaryCode::SmoothL1 => {
            let (d, beta) = ((a - b).abs(), alpha as f32);
            if d < beta {
                0.5 * d * d / beta
            } else {
                d - 0.5 * beta
            }
        }
        BinaryCode::ThresholdBackward => {
            if b <= alpha as f32 {
                0.0
            } else {
                a
            }
        }
        BinaryCode::Lerp => a + alpha as f32 * (b - a),
        BinaryCode::TanhBackward => a * (1.0 - b * b),
        BinaryCode::SigmoidBackward => a * ((1.0 - b) * b),
        BinaryCode::GeluBackward => {
            let cdf = 0.5 * (1.0 + libm::erff(b * FRAC_1_SQRT_2));
            let pdf = (-0.5 * b * b).exp() * FRAC_1_SQRT_2PI;
            a * (cdf + b * pdf)
        }
        BinaryCode::SiluBackward => {
            let sig = sigmoid(b);
            a * sig * (1.0 + b * (1.0 - sig))
        }
        other => Bin::from_code(other, alpha).f32(a, b),
    }
}

impl Bin {
    /// The [`Bin`] a plain arithmetic code is.
    fn from_code(code: BinaryCode, alpha: f64) -> Bin {
        match code {
            BinaryCode::Add => Bin::Add(alpha),
            BinaryCode::Sub => Bin::Sub(alpha),
            BinaryCode::Mul => Bin::Mul,
            BinaryCode::Div => Bin::Div,
            BinaryCode::Eq => Bin::Eq,
            BinaryCode::Ne => Bin::Ne,
            BinaryCode::Lt => Bin::Lt,
            BinaryCode::Le => Bin::Le,
            BinaryCode::Gt => Bin::Gt,
            BinaryCode::Ge => Bin::Ge,
            BinaryCode::Min => Bin::Min,
            BinaryCode::Max => Bin::Max,
            other => unreachable!("{other:?} has its own arm in binary_code"),
        }
    }
}

/// `ew_unary_f32`'s operation `code` with parameter `p`.
pub(crate) fn unary(code: UnaryCode, p: f32, x: f32) -> f32 {
    match code {
        UnaryCode::Pow => x.powf(p),
        UnaryCode::Sqrt => x.sqrt(),
        UnaryCode::Relu => x.max(0.0),
        UnaryCode::Exp => x.exp(),
        UnaryCode::Log => x.ln(),
        UnaryCode::Tanh => x.tanh(),
        UnaryCode::Sigmoid => sigmoid(x),
        UnaryCode::Abs => x.abs(),
        UnaryCode::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        UnaryCode::Gelu => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
        UnaryCode::Silu => x / (1.0 + (-x).exp()),
    }
}

/// `ew_ternary_f32`'s operation `code` with numbers `v` and `w`.
pub(crate) fn ternary(code: TernaryCode, (v, w): (f64, f64), a: f32, b: f32, c: f32) -> f32 {
    let v = v as f32;
    match code {
        TernaryCode::AddcMul => a + v * (b * c),
        TernaryCode::AddcDiv => a + v * (b / c),
        TernaryCode::MseBackward => v * (b - c) * a,
        TernaryCode::Where => {
            if a != 0.0 {
                b
            } else {
                c
            }
        }
        TernaryCode::MaskedFill => {
            if b != 0.0 {
                v
            } else {
                a
            }
        }
        TernaryCode::SmoothL1Backward => {
            let (d, beta) = (b - c, w as f32);
            if d < -beta {
                -v * a
            } else if d > beta {
                v * a
            } else {
                v * d * a / beta
            }
        }
    }
}
