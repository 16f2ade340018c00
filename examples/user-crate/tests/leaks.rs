//! One test per scenario file under `leaks/`.

fn main() -> std::process::ExitCode {
    leakharness::harness::Harness::new(concat!(env!("CARGO_MANIFEST_DIR"), "/leaks")).run()
}
