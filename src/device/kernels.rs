//! The CUDA kernels: CUDA C++ sources in `kernels/*.cu`, embedded in the binary and compiled to
//! PTX with NVRTC at run time for the device's architecture.
//!
//! NVRTC is loaded dynamically, like the driver: [`nvrtc_available`] says whether it can be,
//! and nothing here touches it before that check (cudarc panics when a library it needs is
//! missing). [`compile_all`] needs no GPU, which is how CI compiles every kernel on a machine
//! without one.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use cudarc::nvrtc::{self, CompileError, CompileOptions, Ptx};

pub use crate::base::KernelError;

/// Declarations every source uses (the operand layout, loads and stores with conversion),
/// prepended to each file: NVRTC has no CUDA headers to include here.
pub const PRELUDE: &str = include_str!("../../kernels/prelude.cuh");

/// Every `kernels/*.cu`, by file name, in the order they are compiled.
pub const SOURCES: &[(&str, &str)] = &[
    (
        "elementwise.cu",
        include_str!("../../kernels/elementwise.cu"),
    ),
    ("reduce.cu", include_str!("../../kernels/reduce.cu")),
    ("linalg.cu", include_str!("../../kernels/linalg.cu")),
    ("loss.cu", include_str!("../../kernels/loss.cu")),
    ("random.cu", include_str!("../../kernels/random.cu")),
    ("norm.cu", include_str!("../../kernels/norm.cu")),
];

/// Every kernel the runtime launches, by its `extern "C"` name. The module loads all of them
/// when a runtime starts (so a missing one fails there, not in the middle of a scenario), and
/// `tests/runtime/kernels_compile.rs` checks each is an `.entry` of the compiled PTX.
pub const KERNEL_NAMES: &[&str] = &[
    "ew_binary_f32",
    "ew_binary_i64",
    "ew_unary_f32",
    "ew_ternary_f32",
    "ew_copy",
    "ew_fill",
    "reduce_sum",
    "reduce_argmax",
    "reduce_extreme",
    "reduce_norm2",
    "reduce_stat",
    "scatter_selected",
    "matmul_strided",
    "log_softmax_forward",
    "log_softmax_backward",
    "softmax_backward",
    "nll_loss_forward",
    "nll_loss_backward",
    "random_uniform",
    "random_normal",
    "random_int",
    "dropout_forward",
    "layer_norm_forward",
    "layer_norm_backward_input",
    "layer_norm_backward_params",
];

/// NVRTC's CUDA version (`nvrtcVersion`) as (major, minor), when libnvrtc loads.
pub fn nvrtc_version() -> Option<(u32, u32)> {
    if !nvrtc_available() {
        return None;
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present and both pointers are valid for the call.
    unsafe { nvrtc::sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .ok()?;
    Some((u32::try_from(major).ok()?, u32::try_from(minor).ok()?))
}

/// Declares one family of operation codes: the Rust enum the runtime launches with, and the
/// `#define`s [`op_defines`] writes into the prelude, so that a code means the same operation
/// on both sides by construction.
macro_rules! op_codes {
    (
        $(#[$meta:meta])*
        $name:ident in $kernel:literal {
            $($(#[$vmeta:meta])* $variant:ident = $symbol:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every code, in numbering order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The kernel that switches on these codes.
            pub const KERNEL: &'static str = $kernel;

            /// The number passed to the kernel.
            pub fn code(self) -> i32 {
                self as i32
            }

            /// The `#define` name the kernel's `case` uses.
            pub fn symbol(self) -> &'static str {
                match self {
                    $($name::$variant => $symbol,)*
                }
            }
        }
    };
}

op_codes! {
    /// Operations of `ew_binary_f32` and `ew_binary_i64` (the integer kernel has the first ten
    /// and the rounded quotients).
    BinaryCode in "ew_binary_f32" {
        /// `a + alpha * b`.
        Add = "OP_ADD",
        /// `a - alpha * b`.
        Sub = "OP_SUB",
        /// `a * b`.
        Mul = "OP_MUL",
        /// `a / b`.
        Div = "OP_DIV",
        /// `a == b`.
        Eq = "OP_EQ",
        /// `a != b`.
        Ne = "OP_NE",
        /// `a < b`.
        Lt = "OP_LT",
        /// `a <= b`.
        Le = "OP_LE",
        /// `a > b`.
        Gt = "OP_GT",
        /// `a >= b`.
        Ge = "OP_GE",
        /// `(a - b) * (a - b)`, mse_loss's element-wise loss.
        SquaredDiff = "OP_SQUARED_DIFF",
        /// `b <= alpha ? 0 : a`: ReLU's backward (`a` the gradient, `b` the result).
        ThresholdBackward = "OP_THRESHOLD_BACKWARD",
        /// `a + alpha * (b - a)`.
        Lerp = "OP_LERP",
        /// `a * (1 - b * b)`: tanh's backward (`b` the result).
        TanhBackward = "OP_TANH_BACKWARD",
        /// `a * (b * (1 - b))`: sigmoid's backward (`b` the result).
        SigmoidBackward = "OP_SIGMOID_BACKWARD",
        /// gelu's backward, `a` the gradient and `b` the input.
        GeluBackward = "OP_GELU_BACKWARD",
        /// silu's backward, `a` the gradient and `b` the input.
        SiluBackward = "OP_SILU_BACKWARD",
        /// `min(a, b)`, NaN when `a` is NaN (`clamp(max=b)`).
        Min = "OP_MIN",
        /// `max(a, b)`, NaN when `a` is NaN (`clamp(min=b)`).
        Max = "OP_MAX",
        /// smooth_l1_loss's element-wise loss of `a - b` with `beta = alpha`.
        SmoothL1 = "OP_SMOOTH_L1",
        /// `trunc(a / b)` (`div(rounding_mode='trunc')`).
        DivTrunc = "OP_DIV_TRUNC",
        /// `a / b` rounded down as ATen's `div_floor_floating` does it (`rounding_mode='floor'`).
        DivFloor = "OP_DIV_FLOOR",
    }
}

op_codes! {
    /// Operations of `ew_unary_f32` (`p` is the one parameter some take).
    UnaryCode in "ew_unary_f32" {
        /// `x ** p`.
        Pow = "OP_POW",
        /// `sqrt(x)`.
        Sqrt = "OP_SQRT",
        /// `max(x, 0)`; NaN becomes 0, as with `f32::max`.
        Relu = "OP_RELU",
        /// `exp(x)`.
        Exp = "OP_EXP",
        /// `log(x)`.
        Log = "OP_LOG",
        /// `tanh(x)`.
        Tanh = "OP_TANH",
        /// `1 / (1 + exp(-x))`.
        Sigmoid = "OP_SIGMOID",
        /// `|x|`.
        Abs = "OP_ABS",
        /// `sign(x)` (0 at 0), what `sgn` is for real numbers.
        Sign = "OP_SIGN",
        /// gelu with the exact (erf) form.
        Gelu = "OP_GELU",
        /// `x * sigmoid(x)`.
        Silu = "OP_SILU",
        /// `1 / x`.
        Reciprocal = "OP_RECIPROCAL",
        /// `sin(x)`.
        Sin = "OP_SIN",
        /// `cos(x)`.
        Cos = "OP_COS",
        /// `log(1 + x)`, exact near 0.
        Log1p = "OP_LOG1P",
        /// `exp(x) - 1`, exact near 0.
        Expm1 = "OP_EXPM1",
        /// `1 / sqrt(x)`.
        Rsqrt = "OP_RSQRT",
        /// `floor(x)`.
        Floor = "OP_FLOOR",
        /// `ceil(x)`.
        Ceil = "OP_CEIL",
        /// `x` rounded to the nearest integer, halves to even (`nearbyint`).
        Round = "OP_ROUND",
        /// `x` rounded toward zero.
        Trunc = "OP_TRUNC",
        /// `x` rounded to `p` decimals (halves to even at the scaled value): ATen's
        /// `round_decimals` kernel.
        RoundDecimals = "OP_ROUND_DECIMALS",
    }
}

op_codes! {
    /// Operations of `ew_ternary_f32`.
    TernaryCode in "ew_ternary_f32" {
        /// `a + v * (b * c)`.
        AddcMul = "OP_ADDCMUL",
        /// `a + v * (b / c)`.
        AddcDiv = "OP_ADDCDIV",
        /// `v * (b - c) * a`, with `a` the gradient, `b` the input, `c` the target.
        MseBackward = "OP_MSE_BACKWARD",
        /// `a != 0 ? b : c`: `torch.where` with `a` the condition.
        Where = "OP_WHERE",
        /// `b != 0 ? v : a`: `masked_fill_` with `a` the tensor filled in place, `b` the mask.
        MaskedFill = "OP_MASKED_FILL",
        /// smooth_l1_loss_backward: `a` the gradient, `b` the input, `c` the target, `v` the
        /// reduction's norm, `w` beta.
        SmoothL1Backward = "OP_SMOOTH_L1_BACKWARD",
    }
}

/// Every family of operation codes: its kernel, and each code's symbol and number.
pub fn op_code_families() -> Vec<(&'static str, Vec<(&'static str, i32)>)> {
    fn family<T: Copy>(
        kernel: &'static str,
        all: &[T],
        f: impl Fn(T) -> (&'static str, i32),
    ) -> (&'static str, Vec<(&'static str, i32)>) {
        (kernel, all.iter().map(|&c| f(c)).collect())
    }
    vec![
        family(BinaryCode::KERNEL, BinaryCode::ALL, |c| {
            (c.symbol(), c.code())
        }),
        family(UnaryCode::KERNEL, UnaryCode::ALL, |c| {
            (c.symbol(), c.code())
        }),
        family(TernaryCode::KERNEL, TernaryCode::ALL, |c| {
            (c.symbol(), c.code())
        }),
    ]
}

/// The `#define` of every operation code, generated from the Rust enums and put into the
/// prelude, so the kernels never keep numbers of their own.
pub fn op_defines() -> String {
    let mut out = String::from("// Generated from the op-code enums of src/device/kernels.rs.\n");
    for (kernel, codes) in op_code_families() {
        out.push_str(&format!("// {kernel}\n"));
        for (symbol, code) in codes {
            out.push_str(&format!("#define {symbol} {code}\n"));
        }
    }
    out
}

/// Whether libnvrtc can be loaded. Safe on any machine.
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to open the shared library by its candidate names.
    unsafe { nvrtc::sys::is_culib_present() }
}

/// The options every compilation uses. `--fmad=false` keeps `a * b + c` two roundings, as on
/// the host, so that the cuda and cpu backends agree on element-wise results to the bit.
fn options(arch: &str) -> CompileOptions {
    CompileOptions {
        fmad: Some(false),
        options: vec![format!("--gpu-architecture={arch}")],
        ..CompileOptions::default()
    }
}

fn compile(file: &str, source: String, arch: &str) -> Result<Ptx, KernelError> {
    if !nvrtc_available() {
        return Err(KernelError::NoNvrtc);
    }
    if source.contains('\0') {
        return Err(KernelError::Compile {
            file: file.into(),
            arch: arch.into(),
            log: "the source contains a NUL byte".into(),
        });
    }
    let opts = CompileOptions {
        name: Some(file.to_string()),
        ..options(arch)
    };
    nvrtc::compile_ptx_with_opts(source, opts).map_err(|e| KernelError::Compile {
        file: file.into(),
        arch: arch.into(),
        log: match e {
            CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
            other => other.to_string(),
        },
    })
}

/// One source with the prelude in front; `#line` keeps NVRTC's messages pointing at the
/// file's own lines.
fn with_prelude(file: &str, source: &str) -> String {
    format!("{}#line 1 \"{file}\"\n{source}\n", prelude())
}

/// The prelude and the generated operation codes, as every compilation starts.
fn prelude() -> String {
    format!(
        "#line 1 \"prelude.cuh\"\n{PRELUDE}\n#line 1 \"op_codes\"\n{}",
        op_defines()
    )
}

/// Compiles `source` (named `file` in messages) with the prelude in front, for `arch`.
pub fn compile_source(file: &str, source: &str, arch: &str) -> Result<Ptx, KernelError> {
    compile(file, with_prelude(file, source), arch)
}

/// Compiles one of [`SOURCES`] on its own, for `arch` (`compute_90`, say).
pub fn compile_file(file: &str, arch: &str) -> Result<Ptx, KernelError> {
    let source = SOURCES
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, s)| *s)
        .ok_or_else(|| KernelError::Compile {
            file: file.into(),
            arch: arch.into(),
            log: "no such embedded source".into(),
        })?;
    compile_source(file, source, arch)
}

/// Compiles every source as one program (one module to load), for `arch`. Needs NVRTC, not a
/// GPU.
pub fn compile_all(arch: &str) -> Result<Ptx, KernelError> {
    let mut program = prelude();
    for (file, source) in SOURCES {
        program.push_str(&format!("#line 1 \"{file}\"\n{source}\n"));
    }
    compile("all", program, arch)
}

/// [`compile_all`] once per process and architecture. A process-wide cache is fine here
/// although runtimes share nothing else: compiled PTX is an immutable function of the embedded
/// sources and the architecture, holds no device state, and each runtime still loads its own
/// module into its own context. Compiling once matters because NVRTC takes about a second and
/// tests open many runtimes.
pub fn cached_ptx(arch: &str) -> Result<Ptx, KernelError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Ptx>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    // A panic while holding the lock cannot leave a half-written entry (insert is the only
    // write), so a poisoned lock still holds a valid cache.
    let mut map = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(ptx) = map.get(arch) {
        return Ok(ptx.clone());
    }
    let ptx = compile_all(arch)?;
    map.insert(arch.to_string(), ptx.clone());
    Ok(ptx)
}

/// The PTX text of a compiled program.
pub fn ptx_text(ptx: &Ptx) -> String {
    match ptx.as_bytes() {
        Some(bytes) => String::from_utf8_lossy(bytes)
            .trim_end_matches('\0')
            .to_string(),
        None => ptx.to_src(),
    }
}

/// The kernels a PTX text defines (its `.entry` directives).
pub fn ptx_entries(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter_map(|line| {
            let rest = line.trim_start();
            let rest = rest
                .strip_prefix(".visible .entry ")
                .or_else(|| rest.strip_prefix(".entry "))?;
            let end = rest.find(|c: char| c == '(' || c.is_whitespace())?;
            Some(rest[..end].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of `kernel` in the sources: from its signature to the next kernel.
    fn kernel_body(kernel: &str) -> &'static str {
        let signature = format!("void {kernel}(");
        SOURCES
            .iter()
            .find_map(|(_, source)| {
                let start = source.find(&signature)?;
                let rest = &source[start..];
                let end = rest[1..].find("extern \"C\"").map_or(rest.len(), |e| e + 1);
                Some(&rest[..end])
            })
            .unwrap_or_else(|| panic!("no kernel {kernel} in kernels/*.cu"))
    }

    #[test]
    fn every_operation_code_has_a_case_in_its_kernel() {
        for (kernel, codes) in op_code_families() {
            let body = kernel_body(kernel);
            for (symbol, _) in codes {
                assert!(
                    body.contains(&format!("case {symbol}:")),
                    "{kernel} has no `case {symbol}:`"
                );
            }
        }
    }

    #[test]
    fn the_kernels_define_no_operation_codes_of_their_own() {
        for (file, source) in SOURCES {
            assert!(
                !source.contains("#define OP_"),
                "{file} defines an OP_ code; add it to the enums in src/device/kernels.rs"
            );
        }
        let defines = op_defines();
        assert!(defines.contains("#define OP_ADD 0\n"));
        assert!(defines.contains("#define OP_LERP 12\n"));
        assert!(defines.contains("#define OP_RELU 2\n"));
        assert!(defines.contains("#define OP_MSE_BACKWARD 2\n"));
    }
}
