//! Generated cases checked per second, on cpu and on meta: one iteration generates a program
//! from `leakharness::gen`, renders and parses it, and runs the whole leak check on it. The
//! median time per case is the inverse of the rate `leakharness explore` reaches.

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::device::Backend;
use leakharness::r#gen;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

fn main() {
    divan::main();
}

#[divan::bench(args = [Backend::Cpu, Backend::Meta], sample_count = 50)]
fn generated_case_checked(bencher: divan::Bencher, backend: Backend) {
    let options = CheckOptions {
        backend,
        ..CheckOptions::default()
    };
    // Deterministic, so both backends check the same sequence of programs.
    let mut runner = TestRunner::deterministic();
    let strategy = r#gen::program();
    bencher.bench_local(|| {
        let program = strategy.new_tree(&mut runner).unwrap().current();
        let case = program.case().unwrap();
        check_scenario(&case.scenario, &options).unwrap()
    });
}
