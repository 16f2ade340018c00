//! The host arithmetic of every operation code, one expression per code, the same as the
//! code's `case` in `kernels/*.cu` (compiled with `--fmad=false`, so both round alike). Each
//! expression is generic over [`Real`]: float32 tensors (and the half types, widened) compute in
//! f32 and float64 tensors in f64, as PyTorch's CPU kernels do (`opmath_t` of double is double),
//! from the same expression, monomorphised once per type.

use num_traits::Float;

use crate::device::kernels::{BinaryCode, TernaryCode, UnaryCode};

/// A floating-point type the host computes in: f32 or f64.
pub(crate) trait Real: Float + Send + Sync + 'static {
    /// A constant or a Python number in this type (rounded once, to nearest).
    fn lit(x: f64) -> Self;
    /// The error function (std has none; libm's `erff`/`erf`, musl's).
    fn erf(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn lit(x: f64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn erf(self) -> f32 {
        libm::erff(self)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn lit(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn erf(self) -> f64 {
        libm::erf(self)
    }
}

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

    /// `a op b`, for one pair of elements.
    pub(crate) fn at<T: Real>(self, a: T, b: T) -> T {
        self.with(At((a, b)))
    }

    /// Hands `k` this operation's arithmetic in `T` as one closure, chosen here once: a kernel
    /// loops over the closure, so the loop is compiled once per operation and type with no
    /// `match` per element (and vectorised where the arithmetic allows).
    pub(crate) fn with<T: Real, K: BinaryLoop<T>>(self, k: K) -> K::Output {
        let t = |c: bool| if c { T::one() } else { T::zero() };
        match self {
            Bin::Add(alpha) => {
                let alpha = T::lit(alpha);
                k.run(move |a, b| a + alpha * b)
            }
            Bin::Sub(alpha) => {
                let alpha = T::lit(alpha);
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

/// 1 / sqrt(2), in `T`: the f32 constant is std's f32 one, as before the arithmetic was generic.
#[inline(always)]
fn frac_1_sqrt_2<T: Real>() -> T {
    T::lit(std::f64::consts::FRAC_1_SQRT_2)
}

/// 1 / sqrt(2 pi), the standard normal density at 0, computed in `T` as the f32 constant was.
#[inline(always)]
fn frac_1_sqrt_2pi<T: Real>() -> T {
    T::lit(0.5) * T::lit(std::f64::consts::FRAC_2_SQRT_PI) * frac_1_sqrt_2::<T>()
}

#[inline(always)]
fn sigmoid<T: Real>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// `ew_binary_f32`'s codes past the arithmetic [`Bin`] names itself.
fn binary_code<T: Real, K: BinaryLoop<T>>(code: BinaryCode, alpha: f64, k: K) -> K::Output {
    let (one, half) = (T::one(), T::lit(0.5));
    match code {
        BinaryCode::SquaredDiff => k.run(|a, b| (a - b) * (a - b)),
        BinaryCode::SmoothL1 => {
            let beta = T::lit(alpha);
            k.run(move |a, b| {
                let d = (a - b).abs();
                if d < beta {
                    half * d * d / beta
                } else {
                    d - half * beta
                }
            })
        }
        BinaryCode::ThresholdBackward => {
            let threshold = T::lit(alpha);
            k.run(move |a, b| if b <= threshold { T::zero() } else { a })
        }
        BinaryCode::Lerp => {
            let weight = T::lit(alpha);
            k.run(move |a, b| a + weight * (b - a))
        }
        BinaryCode::TanhBackward => k.run(move |a, b| a * (one - b * b)),
        BinaryCode::SigmoidBackward => k.run(move |a, b| a * ((one - b) * b)),
        BinaryCode::GeluBackward => {
            let (r2, r2pi) = (frac_1_sqrt_2::<T>(), frac_1_sqrt_2pi::<T>());
            k.run(move |a, b| {
                let cdf = half * (one + (b * r2).erf());
                let pdf = (-half * b * b).exp() * r2pi;
                a * (cdf + b * pdf)
            })
        }
        BinaryCode::SiluBackward => k.run(move |a, b| {
            let sig = sigmoid(b);
            a * sig * (one + b * (one - sig))
        }),
        BinaryCode::DivTrunc => k.run(|a, b| (a / b).trunc()),
        BinaryCode::DivFloor => k.run(div_floor),
        other => Bin::from_code(other, alpha).with(k),
    }
}

/// ATen's `div_floor_floating`: the quotient of `a - fmod(a, b)`, moved down one where the
/// remainder's sign differs from the divisor's, then floored (and rounded up past .5 of
/// rounding error); `a / b` for a zero divisor, a signed zero for a zero quotient.
fn div_floor<T: Real>(a: T, b: T) -> T {
    let (zero, one, half) = (T::zero(), T::one(), T::lit(0.5));
    if b == zero {
        return a / b;
    }
    let rem = a % b;
    let mut div = (a - rem) / b;
    if rem != zero && (b < zero) != (rem < zero) {
        div = div - one;
    }
    if div == zero {
        return zero.copysign(a / b);
    }
    let floor = div.floor();
    if div - floor > half {
        floor + one
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

/// What loops over an element-wise operation of two operands of type `T`: [`Bin::with`]
/// calls `run` with the operation's closure.
pub(crate) trait BinaryLoop<T = f32> {
    type Output;
    fn run<F: Fn(T, T) -> T + Copy + Send + Sync>(self, f: F) -> Self::Output;
}

/// The same for one operand ([`with_unary`]).
pub(crate) trait UnaryLoop<T = f32> {
    type Output;
    fn run<F: Fn(T) -> T + Copy + Send + Sync>(self, f: F) -> Self::Output;
}

/// The same for three operands ([`with_ternary`]).
pub(crate) trait TernaryLoop<T = f32> {
    type Output;
    fn run<F: Fn(T, T, T) -> T + Copy + Send + Sync>(self, f: F) -> Self::Output;
}

/// The operation applied to one set of operands: the loop of a single element.
struct At<T>(T);

impl<T> BinaryLoop<T> for At<(T, T)> {
    type Output = T;
    fn run<F: Fn(T, T) -> T>(self, f: F) -> T {
        f(self.0 .0, self.0 .1)
    }
}

impl<T> UnaryLoop<T> for At<T> {
    type Output = T;
    fn run<F: Fn(T) -> T>(self, f: F) -> T {
        f(self.0)
    }
}

impl<T> TernaryLoop<T> for At<(T, T, T)> {
    type Output = T;
    fn run<F: Fn(T, T, T) -> T>(self, f: F) -> T {
        f(self.0 .0, self.0 .1, self.0 .2)
    }
}

/// `ew_unary_f32`'s operation `code` with parameter `p`.
pub(crate) fn unary<T: Real>(code: UnaryCode, p: f64, x: T) -> T {
    with_unary(code, p, At(x))
}

/// Hands `k` the closure of `ew_unary_f32`'s operation `code` with parameter `p` (see
/// [`Bin::with`]).
pub(crate) fn with_unary<T: Real, K: UnaryLoop<T>>(code: UnaryCode, p: f64, k: K) -> K::Output {
    let (zero, one, half) = (T::zero(), T::one(), T::lit(0.5));
    match code {
        UnaryCode::Pow => {
            let p = T::lit(p);
            k.run(move |x| x.powf(p))
        }
        UnaryCode::Sqrt => k.run(|x| x.sqrt()),
        UnaryCode::Relu => k.run(move |x| x.max(zero)),
        UnaryCode::Exp => k.run(|x| x.exp()),
        UnaryCode::Log => k.run(|x| x.ln()),
        UnaryCode::Tanh => k.run(|x| x.tanh()),
        UnaryCode::Sigmoid => k.run(sigmoid),
        UnaryCode::Abs => k.run(|x| x.abs()),
        UnaryCode::Sign => k.run(move |x| {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else {
                x
            }
        }),
        UnaryCode::Gelu => {
            let r2 = frac_1_sqrt_2::<T>();
            k.run(move |x| half * x * (one + (x * r2).erf()))
        }
        UnaryCode::Silu => k.run(move |x| x / (one + (-x).exp())),
        UnaryCode::Reciprocal => k.run(move |x| one / x),
        UnaryCode::Sin => k.run(|x| x.sin()),
        UnaryCode::Cos => k.run(|x| x.cos()),
        UnaryCode::Log1p => k.run(|x| x.ln_1p()),
        UnaryCode::Expm1 => k.run(|x| x.exp_m1()),
        UnaryCode::Rsqrt => k.run(move |x| one / x.sqrt()),
        UnaryCode::Floor => k.run(|x| x.floor()),
        UnaryCode::Ceil => k.run(|x| x.ceil()),
        UnaryCode::Round => k.run(round_half_even),
        UnaryCode::Trunc => k.run(|x| x.trunc()),
        UnaryCode::RoundDecimals => {
            // ATen computes the power of ten in double, then casts it to the math type.
            let ten = T::lit(10f64.powi(p.abs() as i32));
            if p < 0.0 {
                k.run(move |x| round_half_even(x / ten) * ten)
            } else {
                k.run(move |x| round_half_even(x * ten) / ten)
            }
        }
    }
}

/// `x` rounded to the nearest integer with halves to even, as C's `nearbyint` (which
/// `torch.round` runs) does in the default rounding mode; `Float::round` sends halves away
/// from zero.
fn round_half_even<T: Real>(x: T) -> T {
    let r = x.round();
    if (x - x.trunc()).abs() == T::lit(0.5) {
        T::lit(2.0) * (x / T::lit(2.0)).round()
    } else {
        r
    }
}

/// `ew_ternary_f32`'s operation `code` with numbers `v` and `w`.
pub(crate) fn ternary<T: Real>(code: TernaryCode, vw: (f64, f64), a: T, b: T, c: T) -> T {
    with_ternary(code, vw, At((a, b, c)))
}

/// Hands `k` the closure of `ew_ternary_f32`'s operation `code` with numbers `v` and `w` (see
/// [`Bin::with`]).
pub(crate) fn with_ternary<T: Real, K: TernaryLoop<T>>(
    code: TernaryCode,
    (v, w): (f64, f64),
    k: K,
) -> K::Output {
    let (v, zero) = (T::lit(v), T::zero());
    match code {
        TernaryCode::AddcMul => k.run(move |a, b, c| a + v * (b * c)),
        TernaryCode::AddcDiv => k.run(move |a, b, c| a + v * (b / c)),
        TernaryCode::MseBackward => k.run(move |a, b, c| v * (b - c) * a),
        TernaryCode::Where => k.run(move |a, b, c| if a != zero { b } else { c }),
        TernaryCode::MaskedFill => k.run(move |a, b, _| if b != zero { v } else { a }),
        TernaryCode::SmoothL1Backward => {
            let beta = T::lit(w);
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
