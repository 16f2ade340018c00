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
];

/// Every kernel the runtime launches, by its `extern "C"` name. The module loads all of them
/// when a runtime starts (so a missing one fails there, not in the middle of a scenario), and
/// `tests/kernels_compile.rs` checks each is an `.entry` of the compiled PTX.
pub const KERNEL_NAMES: &[&str] = &[
    "ew_binary_f32",
    "ew_binary_i64",
    "ew_unary_f32",
    "ew_ternary_f32",
    "ew_copy",
    "ew_fill",
    "reduce_sum",
    "reduce_argmax",
    "matmul_strided",
    "log_softmax_forward",
    "log_softmax_backward",
    "nll_loss_forward",
    "nll_loss_backward",
    "random_uniform",
    "random_normal",
    "random_int",
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
    format!("#line 1 \"prelude.cuh\"\n{PRELUDE}\n#line 1 \"{file}\"\n{source}\n")
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
    let mut program = format!("#line 1 \"prelude.cuh\"\n{PRELUDE}\n");
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
