//! Switches each planted runtime bug on in turn and runs the properties of
//! `tests/checker/properties.rs` with their default case counts: a bug is caught when at least one
//! property fails, and every bug must be caught.

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
        };
        let caught_by: Vec<String> = Property::ALL
            .into_iter()
            .filter_map(|p| run(p, &setup).err())
            .map(|m| m.lines().next().unwrap_or_default().to_string())
            .collect();
        if caught_by.is_empty() {
            say(&format!("{bug:?}: MISSED"));
            missed.push(bug);
        } else {
            say(&format!("{bug:?}: caught by {}", caught_by.join("; ")));
        }
    }
    let n = PlantedBug::ALL.len();
    say(&format!("caught {}/{n} planted bugs", n - missed.len()));
    assert!(missed.is_empty(), "missed planted bugs: {missed:?}");
}
