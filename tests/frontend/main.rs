//! What users write and run: parsing scenarios, the interpreter's Python and torch semantics,
//! the gallery's files, the `leakharness` command line, and a user's own crate running its
//! scenarios under `cargo test`. One test binary of modules.

mod amp_api;
mod bool_operands_api;
mod cli;
mod copy_slices_api;
mod create_graph_scalars;
mod float64_api;
mod float64_arith;
mod gallery_parses;
mod hostile;
mod int32_api;
mod int32_indices;
mod interp;
mod layer_surface_api;
mod math_ops_api;
mod module_hooks;
mod optim_api;
mod optim_variants_api;
mod pasted_modules;
mod scenario_parse;
mod sched_api;
mod sched_special_state;
mod sched_state_api;
mod surface_gaps;
mod surface_v2;
mod tensor_spellings;
mod user_crate;
mod wrapped_numbers_api;

use std::path::Path;

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions, RunResult};
use leakharness::scenario::parse_scenario;

/// Runs `src` as a scenario on `backend` with the default options.
fn run_program(src: &str, backend: Backend) -> RunResult {
    let scenario = parse_scenario(Path::new("t.py"), src).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    run(&scenario, &rt, &RunOptions::default(), &mut ())
}

/// Runs `program` on `backend` and asserts that it runs through and prints `expected`.
fn assert_prints(backend: Backend, program: &str, expected: &[&str]) {
    let r = run_program(program, backend);
    if let Some(f) = r.failure {
        panic!("{backend:?}: {}", f.error);
    }
    assert_eq!(r.output, expected, "{backend:?}");
}

/// Runs `program` on cpu and on meta and asserts that each prints `expected`, what torch 2.15
/// printed for it: the program's tensors are host ones, so their values exist on both backends.
fn assert_prints_on_cpu_and_meta(program: &str, expected: &[&str]) {
    for backend in [Backend::Cpu, Backend::Meta] {
        assert_prints(backend, program, expected);
    }
}
