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
        match self {
            // Rounded quotients of integers stay integers (`div(rounding_mode=)`).
            Bin::Code(BinaryCode::DivTrunc | BinaryCode::DivFloor, _) => false,
            Bin::Div | Bin::Code(..) | Bin::Min | Bin::Max => true,
            _ => false,
        }
    }

    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            Bin::Eq | Bin::Ne | Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge
        )
    }

    /// `a op b` in f32, for one pair of elements.
    pub(crate) fn f32(self, a: f32, b: f32) -> f32 {
        self.with_f32(At((a, b)))
    }

    /// Hands `k` this operation's f32 arithmetic as one closure, chosen here once: a kernel
    /// loops over the closure, so the loop is compiled once per operation with no `match` per
    /// element (and vectorised where the arithmetic allows).
    pub(crate) fn with_f32<K: BinaryLoop>(self, k: K) -> K::Output {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            Bin::Add(alpha) => {
                let alpha = alpha as f32;
                k.run(move |a, b| a + alpha * b)
            }
            Bin::Sub(alpha) => {
                let alpha = alpha as f32;
                k.run(move |a, b| a - alpha * b)
            }
            Bin::Mul => k.run(|a, b| a * b),
            Bin::Div => k.run(|a, b| a / b),
            Bin::Eq => k.run(move |a, b| t(a == b)),
            Bin::Ne => k.run(move |a, b| t(a != b)),
            Bin::Lt => k.run(move |a, b| t(a < b)),
            Bin::Le => k.run(move |a, b| t(a <= b)),
            Bin::Gt => k.run(move |a, b| t(a > b)),
            Bin::Ge => k.run(move |a, b| t(a >= b)),
            Bin::Min => k.run(|a, b| if a.is_nan() { a } else { a.min(b) }),
            Bin::Max => k.run(|a, b| if a.is_nan() { a } else { a.max(b) }),
            Bin::Code(code, alpha) => binary_code(code, alpha, k),
        }
    }

    pub(crate) fn i64(self, a: i64, b: i64) -> i64 {
        match self {
            Bin::Add(alpha) => a.wrapping_add((alpha as i64).wrapping_mul(b)),
            Bin::Sub(alpha) => a.wrapping_sub((alpha as i64).wrapping_mul(b)),
            Bin::Mul => a.wrapping_mul(b),
            // A zero divisor is refused before any kernel runs (`div_scalar_mode`).
            Bin::Code(BinaryCode::DivTrunc, _) => a.wrapping_div(b),
            Bin::Code(BinaryCode::DivFloor, _) => {
                let q = a.wrapping_div(b);
                if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) {
                    q - 1
                } else {
                    q
                }
            }
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
fn binary_code<K: BinaryLoop>(code: BinaryCode, alpha: f64, k: K) -> K::Output {
    match code {
        BinaryCode::SquaredDiff => k.run(|a, b| (a - b) * (a - b)),
        BinaryCode::SmoothL1 => {
            let beta = alpha as f32;
            k.run(move |a, b| {
                let d = (a - b).abs();
                if d < beta {
                    0.5 * d * d / beta
                } else {
                    d - 0.5 * beta
                }
            })
        }
        BinaryCode::ThresholdBackward => {
            let threshold = alpha as f32;
            k.run(move |a, b| if b <= threshold { 0.0 } else { a })
        }
        BinaryCode::Lerp => {
            let weight = alpha as f32;
            k.run(move |a, b| a + weight * (b - a))
        }
        BinaryCode::TanhBackward => k.run(|a, b| a * (1.0 - b * b)),
        BinaryCode::SigmoidBackward => k.run(|a, b| a * ((1.0 - b) * b)),
        BinaryCode::GeluBackward => k.run(|a, b| {
            let cdf = 0.5 * (1.0 + libm::erff(b * FRAC_1_SQRT_2));
            let pdf = (-0.5 * b * b).exp() * FRAC_1_SQRT_2PI;
            a * (cdf + b * pdf)
        }),
        BinaryCode::SiluBackward => k.run(|a, b| {
            let sig = sigmoid(b);
            a * sig * (1.0 + b * (1.0 - sig))
        }),
        BinaryCode::DivTrunc => k.run(|a, b| (a / b).trunc()),
        BinaryCode::DivFloor => k.run(div_floor),
        other => Bin::from_code(other, alpha).with_f32(k),
    }
}

/// ATen's `div_floor_floating`: the quotient of `a - fmod(a, b)`, moved down one where the
/// remainder's sign differs from the divisor's, then floored (and rounded up past .5 of
/// rounding error); `a / b` for a zero divisor, a signed zero for a zero quotient.
fn div_floor(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        return a / b;
    }
    let rem = a % b;
    let mut div = (a - rem) / b;
    if rem != 0.0 && (b < 0.0) != (rem < 0.0) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0f32.copysign(a / b);
    }
    let floor = div.floor();
    if div - floor > 0.5 {
        floor + 1.0
    } else {
        floor
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

/// What loops over an element-wise operation of two f32 operands: [`Bin::with_f32`] calls
/// `run` with the operation's closure.
pub(crate) trait BinaryLoop {
    type Output;
    fn run<F: Fn(f32, f32) -> f32 + Copy + Send + Sync>(self, f: F) -> Self::Output;
}

/// The same for one operand ([`with_unary`]).
pub(crate) trait UnaryLoop {
    type Output;
    fn run<F: Fn(f32) -> f32 + Copy + Send + Sync>(self, f: F) -> Self::Output;
}

/// The same for three operands ([`with_ternary`]).
pub(crate) trait TernaryLoop {
    type Output;
    fn run<F: Fn(f32, f32, f32) -> f32 + Copy + Send + Sync>(self, f: F) -> Self::Output;
}

/// The operation applied to one set of operands: the loop of a single element.
struct At<T>(T);

impl BinaryLoop for At<(f32, f32)> {
    type Output = f32;
    fn run<F: Fn(f32, f32) -> f32>(self, f: F) -> f32 {
        f(self.0 .0, self.0 .1)
    }
}

impl UnaryLoop for At<f32> {
    type Output = f32;
    fn run<F: Fn(f32) -> f32>(self, f: F) -> f32 {
        f(self.0)
    }
}

impl TernaryLoop for At<(f32, f32, f32)> {
    type Output = f32;
    fn run<F: Fn(f32, f32, f32) -> f32>(self, f: F) -> f32 {
        f(self.0 .0, self.0 .1, self.0 .2)
    }
}

/// `ew_unary_f32`'s operation `code` with parameter `p`.
pub(crate) fn unary(code: UnaryCode, p: f32, x: f32) -> f32 {
    with_unary(code, p, At(x))
}

/// Hands `k` the closure of `ew_unary_f32`'s operation `code` with parameter `p` (see
/// [`Bin::with_f32`]).
pub(crate) fn with_unary<K: UnaryLoop>(code: UnaryCode, p: f32, k: K) -> K::Output {
    match code {
        UnaryCode::Pow => k.run(move |x| x.powf(p)),
        UnaryCode::Sqrt => k.run(|x| x.sqrt()),
        UnaryCode::Relu => k.run(|x| x.max(0.0)),
        UnaryCode::Exp => k.run(|x| x.exp()),
        UnaryCode::Log => k.run(|x| x.ln()),
        UnaryCode::Tanh => k.run(|x| x.tanh()),
        UnaryCode::Sigmoid => k.run(sigmoid),
        UnaryCode::Abs => k.run(|x| x.abs()),
        UnaryCode::Sign => k.run(|x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }),
        UnaryCode::Gelu => k.run(|x| 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2))),
        UnaryCode::Silu => k.run(|x| x / (1.0 + (-x).exp())),
        UnaryCode::Reciprocal => k.run(|x| 1.0 / x),
    }
}

/// `ew_ternary_f32`'s operation `code` with numbers `v` and `w`.
pub(crate) fn ternary(code: TernaryCode, vw: (f64, f64), a: f32, b: f32, c: f32) -> f32 {
    with_ternary(code, vw, At((a, b, c)))
}

/// Hands `k` the closure of `ew_ternary_f32`'s operation `code` with numbers `v` and `w` (see
/// [`Bin::with_f32`]).
pub(crate) fn with_ternary<K: TernaryLoop>(
    code: TernaryCode,
    (v, w): (f64, f64),
    k: K,
) -> K::Output {
    let v = v as f32;
    match code {
        TernaryCode::AddcMul => k.run(move |a, b, c| a + v * (b * c)),
        TernaryCode::AddcDiv => k.run(move |a, b, c| a + v * (b / c)),
        TernaryCode::MseBackward => k.run(move |a, b, c| v * (b - c) * a),
        TernaryCode::Where => k.run(|a, b, c| if a != 0.0 { b } else { c }),
        TernaryCode::MaskedFill => k.run(move |a, b, _| if b != 0.0 { v } else { a }),
        TernaryCode::SmoothL1Backward => {
            let beta = w as f32;
            k.run(move |a, b, c| {
                let d = b - c;
                if d < -beta {
                    -v * a
                } else if d > beta {
                    v * a
                } else {
                    v * d * a / beta
                }
            })
        }
    }
}
