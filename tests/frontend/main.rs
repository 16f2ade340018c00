//! What users write and run: parsing scenarios, the interpreter's Python and torch semantics,
//! the gallery's files, the `leakharness` command line, and a user's own crate running its
//! scenarios under `cargo test`. One test binary of modules.

mod amp_api;
mod cli;
mod float64_api;
mod gallery_parses;
mod hostile;
mod int32_api;
mod int32_indices;
mod interp;
mod module_hooks;
mod optim_api;
mod optim_variants_api;
mod pasted_modules;
mod scenario_parse;
mod sched_api;
mod sched_special_state;
mod sched_state_api;
mod surface_gaps;
mod user_crate;
mod wrapped_numbers_api;
