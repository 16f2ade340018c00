//! Every `kernels/*.cu` compiles with NVRTC to PTX for sm_90, on any machine where libnvrtc can
//! be loaded (no GPU needed), and every kernel the runtime launches is in the PTX. Where
//! NVRTC cannot be loaded the tests say so and pass, unless `LEAKHARNESS_REQUIRE_NVRTC=1`
//! (set by `.ci/run`), which makes a missing NVRTC a failure.

use std::io::Write;
use std::path::Path;

use leakharness::device::kernels::{self, KERNEL_NAMES, SOURCES};

const ARCH: &str = "compute_90";

/// Whether to run: true when NVRTC loads; false (after saying why) when it does not and it is
/// not required; a panic when it is required.
fn nvrtc_or_skip(test: &str) -> bool {
    if kernels::nvrtc_available() {
        return true;
    }
    if std::env::var("LEAKHARNESS_REQUIRE_NVRTC").as_deref() == Ok("1") {
        panic!("{test}: LEAKHARNESS_REQUIRE_NVRTC=1 but libnvrtc could not be loaded (set LD_LIBRARY_PATH to CUDA's lib directory or the nvidia-cuda-nvrtc package's nvidia/cu13/lib)");
    }
    // Written to stderr directly, not through eprintln!, which the test harness captures and
    // hides for passing tests: a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "{test}: skipped: libnvrtc not found (set LD_LIBRARY_PATH to CUDA's lib directory or to site-packages/nvidia/cu13/lib of `pip install nvidia-cuda-nvrtc`)"
    );
    false
}

#[test]
fn every_kernel_file_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cu"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = SOURCES.iter().map(|(n, _)| n.to_string()).collect();
    embedded.sort();
    assert_eq!(
        on_disk, embedded,
        "kernels/*.cu and kernels::SOURCES differ"
    );
}

#[test]
fn each_kernel_file_compiles_for_sm_90() {
    if !nvrtc_or_skip("each_kernel_file_compiles_for_sm_90") {
        return;
    }
    for (file, _) in SOURCES {
        let ptx = kernels::compile_file(file, ARCH).unwrap_or_else(|e| panic!("{e}"));
        let text = kernels::ptx_text(&ptx);
        assert!(text.contains(".target sm_90"), "{file}: no sm_90 target");
        assert!(
            !kernels::ptx_entries(&text).is_empty(),
            "{file}: no kernels"
        );
    }
}

#[test]
fn the_whole_program_has_every_launched_kernel() {
    if !nvrtc_or_skip("the_whole_program_has_every_launched_kernel") {
        return;
    }
    let ptx = kernels::compile_all(ARCH).unwrap_or_else(|e| panic!("{e}"));
    let entries = kernels::ptx_entries(&kernels::ptx_text(&ptx));
    for name in KERNEL_NAMES {
        assert!(
            entries.iter().any(|e| e == name),
            "kernel `{name}` is launched by the runtime but not defined in kernels/*.cu (entries: {entries:?})"
        );
    }
    // The cache compiles once and hands out the same text.
    let a = kernels::ptx_text(&kernels::cached_ptx(ARCH).unwrap());
    let b = kernels::ptx_text(&kernels::cached_ptx(ARCH).unwrap());
    assert_eq!(a, b);
}

#[test]
fn a_kernel_that_does_not_compile_fails_with_nvrtcs_log() {
    if !nvrtc_or_skip("a_kernel_that_does_not_compile_fails_with_nvrtcs_log") {
        return;
    }
    let broken = "extern \"C\" __global__ void broken(Operand out) { undeclared_name = 1; }\n";
    let err = kernels::compile_source("broken.cu", broken, ARCH).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("broken.cu") && text.contains("undeclared_name"),
        "{text}"
    );
    assert!(kernels::compile_file("missing.cu", ARCH).is_err());
}

#[test]
fn nvrtc_reports_its_cuda_version_for_the_reports() {
    if !nvrtc_or_skip("nvrtc_reports_its_cuda_version_for_the_reports") {
        return;
    }
    let (major, minor) = kernels::nvrtc_version().expect("a loaded NVRTC reports its version");
    // CUDA's NVRTC versions: 11.x, 12.x, 13.x so far.
    assert!((11..100).contains(&major) && minor < 100, "{major}.{minor}");
}
