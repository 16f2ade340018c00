//! `leakharness explore`'s loop: generate programs, check each, shrink every case the checker
//! misjudges and write it out as a scenario with its reports. The command line only renders
//! the [`ExploreEvent`]s this sends.

use std::path::PathBuf;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::{judge, program, write_finding, Program};
use crate::check::{check_scenario, CheckOptions};

/// What to explore.
#[derive(Debug, Clone)]
pub struct Exploration {
    /// How many programs to generate.
    pub cases: u32,
    /// The generator's seed: the same seed generates the same programs.
    pub seed: u64,
    /// How each program is checked.
    pub options: CheckOptions,
    /// Where findings (scenario files and their reports) are written.
    pub found_dir: PathBuf,
    /// At most this many shrinking steps per finding.
    pub shrink_budget: u32,
}

/// What happened to one generated program.
#[derive(Debug)]
pub enum ExploreEvent {
    /// Case `n` was generated and checked.
    Checked {
        /// Its number, from 0.
        n: u32,
    },
    /// Case `n` was misjudged; shrunk, it was written to `path`.
    Finding {
        /// Its number.
        n: u32,
        /// The scenario file written.
        path: PathBuf,
        /// What the checker got wrong.
        reasons: Vec<String>,
    },
    /// Case `n` was misjudged, but writing it out failed.
    NotWritten {
        /// Its number.
        n: u32,
        /// Why.
        error: String,
    },
}

/// How an exploration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explored {
    /// Programs checked.
    pub cases: u32,
    /// Programs misjudged.
    pub findings: u32,
}

/// An exploration that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// The generator failed.
    #[error("cannot generate a program: {0}")]
    Generate(String),
    /// A generated program could not be checked.
    #[error("cannot check a generated program: {0}")]
    Check(String),
}

/// Checks one generated program; what the checker got wrong about it, if anything.
fn misjudged(program: &Program, options: &CheckOptions) -> Result<Vec<String>, ExploreError> {
    let case = program
        .case()
        .map_err(|e| ExploreError::Check(e.to_string()))?;
    let report =
        check_scenario(&case.scenario, options).map_err(|e| ExploreError::Check(e.to_string()))?;
    Ok(judge(&case, &report)
        .iter()
        .map(ToString::to_string)
        .collect())
}

/// Generates `exploration.cases` programs from its seed and checks each; a misjudged one is
/// shrunk as proptest shrinks (simplify while the checker still misjudges, else step back) and
/// written to `found_dir`. `on_event` hears about every case.
pub fn explore(
    exploration: &Exploration,
    on_event: &mut dyn FnMut(ExploreEvent),
) -> Result<Explored, ExploreError> {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&exploration.seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = program();
    let options = &exploration.options;
    let mut findings = 0;
    for n in 0..exploration.cases {
        let mut tree = strategy
            .new_tree(&mut runner)
            .map_err(|e| ExploreError::Generate(e.to_string()))?;
        let mut reasons = misjudged(&tree.current(), options)?;
        on_event(ExploreEvent::Checked { n });
        if reasons.is_empty() {
            continue;
        }
        findings += 1;
        let mut budget = exploration.shrink_budget;
        while budget > 0 && tree.simplify() {
            budget -= 1;
            match misjudged(&tree.current(), options) {
                Ok(r) if !r.is_empty() => reasons = r,
                _ => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
        let written = tree
            .current()
            .case()
            .map_err(|e| e.to_string())
            .and_then(|case| {
                let report = check_scenario(&case.scenario, options).map_err(|e| e.to_string())?;
                let note = format!(
                    "Found by leakharness explore --seed {} --backend {}, case {n}: {}",
                    exploration.seed,
                    options.backend,
                    reasons.join("; ")
                );
                write_finding(
                    &case,
                    &[&report],
                    &exploration.found_dir,
                    &format!("explore-{}-{n}", exploration.seed),
                    &note,
                )
                .map_err(|e| e.to_string())
            });
        on_event(match written {
            Ok(path) => ExploreEvent::Finding { n, path, reasons },
            Err(error) => ExploreEvent::NotWritten { n, error },
        });
    }
    Ok(Explored {
        cases: exploration.cases,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Backend;

    #[test]
    fn the_same_seed_checks_the_same_programs_and_finds_nothing_on_meta() {
        let exploration = Exploration {
            cases: 3,
            seed: 7,
            options: CheckOptions {
                backend: Backend::Meta,
                ..CheckOptions::default()
            },
            found_dir: std::env::temp_dir().join("leakharness-explore-unit"),
            shrink_budget: 0,
        };
        let mut checked = Vec::new();
        let explored = explore(&exploration, &mut |e| {
            if let ExploreEvent::Checked { n } = e {
                checked.push(n);
            }
        })
        .unwrap();
        assert_eq!(checked, [0, 1, 2]);
        assert_eq!(
            explored,
            Explored {
                cases: 3,
                findings: 0
            }
        );
    }
}
