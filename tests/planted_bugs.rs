//! Switches each planted runtime bug on in turn and runs the properties of
//! `tests/checker/properties.rs` with CI's case counts, in order, until one fails: a bug
//! is caught when a property fails, and every bug must be caught. The question is only whether a
//! property fails, so failures are not shrunk and later properties do not run: together that took
//! this target from 374 s to 27 s on the loaded 2-core machine (docs/benchmarks.md).

// Each test target uses only part of the shared module.
#[allow(dead_code)]
mod common {
    pub mod props;
}

use common::props::{run, Property, Setup};
use leakharness::base::PlantedBug;
use leakharness::check::CheckOptions;

/// A fixed seed, so that which property catches which bug is the same on every run.
const SEED: u64 = 8;

/// Writes to the process's stderr directly: libtest captures `println!` of passing tests, and
/// this tally is what a reader of the CI log looks for.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn every_planted_bug_is_caught() {
    let mut missed = Vec::new();
    for bug in PlantedBug::ALL {
        let setup = Setup {
            options: CheckOptions {
                planted_bug: Some(bug),
                ..CheckOptions::default()
            },
            seed: SEED,
            record: false,
            shrink: false,
            // Which property catches which bug was measured with CI's counts.
            full_counts: true,
        };
        // The first property that fails catches the bug; the others need not run.
        let caught_by = Property::ALL
            .into_iter()
            .find_map(|p| run(p, &setup).err())
            .map(|m| m.lines().next().unwrap_or_default().to_string());
        match caught_by {
            Some(by) => say(&format!("{bug:?}: caught by {by}")),
            None => {
                say(&format!("{bug:?}: MISSED"));
                missed.push(bug);
            }
        }
    }
    let n = PlantedBug::ALL.len();
    say(&format!("caught {}/{n} planted bugs", n - missed.len()));
    assert!(missed.is_empty(), "missed planted bugs: {missed:?}");
}

/// A runtime bug is the one place a Rust stack means something to the reader: the Markdown
/// report of memory the runtime leaks at teardown carries the allocating Rust stack, in the
/// teardown section and nowhere else.
#[test]
fn a_runtime_leak_report_shows_the_rust_stack_only_for_teardown() {
    use leakharness::check::{check_file, FileOutcome};
    use leakharness::device::Backend;
    let options = CheckOptions {
        backend: Backend::Meta,
        // Graph nodes recorded under no_grad keep tensors nothing in the program can reach.
        planted_bug: Some(PlantedBug::NoGradRecords),
        ..CheckOptions::default()
    };
    let report = match check_file(
        std::path::Path::new("scenarios/memory/del_empty_cache_returns_to_baseline.py"),
        &options,
    ) {
        FileOutcome::Checked(r) => r,
        other => panic!("{other:?}"),
    };
    assert!(
        !report.after_teardown.live_blocks.is_empty(),
        "the bug leaks at teardown"
    );
    let md = leakharness::report::render_markdown(&report);
    let teardown = md
        .find("## Memory left after teardown")
        .expect("a teardown section");
    let stack = md
        .find("<details><summary>Rust stack")
        .expect("a Rust stack");
    assert!(
        stack > teardown,
        "the only Rust stack is in the teardown section:\n{md}"
    );
    assert_eq!(md.matches("<details>").count(), 1, "{md}");
    assert!(md.contains("leakharness::"), "{md}");
}
