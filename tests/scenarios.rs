//! Every `scenarios/**/*.py` is a test, named by its path under `scenarios/`: it passes when the
//! scenario's expectation holds. This is the public harness any crate can use
//! ([`leakharness::harness`]): filters, `--list`, `--exact`, `--ignored`, `--skip` and
//! `--test-threads` behave as in `cargo test`, and cargo-nextest runs it too.
//!
//! The backend is cpu unless `LEAKHARNESS_BACKEND` says otherwise (cuda, cpu or meta). Without
//! a CUDA device, cuda scenarios are listed as ignored with the reason; with
//! `LEAKHARNESS_REQUIRE_CUDA=1` they fail instead. Reports are written under
//! `target/scenario-reports/`.

fn main() -> std::process::ExitCode {
    leakharness::harness::Harness::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")).run()
}
