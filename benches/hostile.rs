//! Big hostile inputs at 100,000 elements (issue 17): how long the checker takes on each, from
//! the text to the report, on the release build. Each must stay well under a second; the
//! medians are in docs/reliability.md. Run with `cargo bench --bench hostile`.

use std::path::Path;

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::device::Backend;
use leakharness::scenario::parse_scenario;

fn main() {
    divan::main();
}

const N: usize = 100_000;

fn numbers() -> String {
    (0..N)
        .map(|i| (i % 10).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The inputs, by name: what the file says.
fn input(name: &str) -> String {
    let terms = vec!["a"; N];
    match name {
        "list literal" => format!("x = [{}]\n", numbers()),
        "and chain" => format!("a = 1\nx = {}\n", terms.join(" and ")),
        "or chain" => format!("a = 0\nx = {}\n", terms.join(" or ")),
        "print arguments" => format!("print({})\n", numbers()),
        "torch.tensor" => format!("import torch\nt = torch.tensor([{}])\n", numbers()),
        "statements" => "x = 1\n".repeat(N),
        "errors" => "x = (y := 1)\n".repeat(N),
        other => unreachable!("no input {other}"),
    }
}

const INPUTS: [&str; 7] = [
    "list literal",
    "and chain",
    "or chain",
    "print arguments",
    "torch.tensor",
    "statements",
    "errors",
];

/// Parse (and for files that parse, the whole check on meta, re-runs included).
#[divan::bench(args = INPUTS, sample_count = 5, sample_size = 1)]
fn check_100k(bencher: divan::Bencher, name: &str) {
    let source = input(name);
    let options = CheckOptions {
        backend: Backend::Meta,
        ..CheckOptions::default()
    };
    bencher.bench(|| match parse_scenario(Path::new("big.py"), &source) {
        Ok(scenario) => {
            let report = check_scenario(&scenario, &options).expect("meta opens");
            assert!(report.passed, "{name}: {:?}", report.error);
        }
        Err(errors) => assert_eq!(errors.0.len(), N),
    });
}
