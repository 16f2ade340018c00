//! The four properties of the leak checker over generated programs, shared by
//! `tests/checker/properties.rs` (on the runtime as it is) and `tests/planted_bugs.rs` (with each
//! planted runtime bug switched on in turn, where at least one property must fail).

use std::path::PathBuf;

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::device::Backend;
use leakharness::r#gen::{self, Case, Disagreement, Program};
use leakharness::report::Report;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// A property of the checker on one generated case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    /// (1) Clean-by-construction programs are judged clean.
    CleanIsClean,
    /// (2) A planted leak is found with its kinds, line and predicted bytes per iteration.
    PlantedIsFound,
    /// (2') A leak planted in the step loop whose list or total is made every epoch is found
    /// as (2) says, released by the epoch loop.
    ReleasedLeakIsFound,
    /// (3) Every program returns to the baseline at teardown.
    TeardownToBaseline,
    /// (4) cpu and meta agree byte for byte.
    BackendsAgree,
}

impl Property {
    pub const ALL: [Property; 5] = [
        Property::CleanIsClean,
        Property::PlantedIsFound,
        Property::ReleasedLeakIsFound,
        Property::TeardownToBaseline,
        Property::BackendsAgree,
    ];

    fn name(self) -> &'static str {
        match self {
            Property::CleanIsClean => "clean_is_clean",
            Property::PlantedIsFound => "planted_is_found",
            Property::ReleasedLeakIsFound => "released_leak_is_found",
            Property::TeardownToBaseline => "teardown_to_baseline",
            Property::BackendsAgree => "backends_agree",
        }
    }

    /// Cases when `PROPTEST_CASES` is unset: CI's counts ([`full_counts`]), chosen so that
    /// `tests/checker/properties.rs` stays well under two minutes on two cores in a debug
    /// build, or a quarter of them for a developer's `cargo test`, which the properties
    /// dominated (about three minutes of CPU of the checker binary's five). Each run draws a
    /// fresh seed, so local runs still add programs CI has not seen.
    fn default_cases(self, full: bool) -> u32 {
        let ci = match self {
            Property::CleanIsClean | Property::PlantedIsFound => 48,
            Property::TeardownToBaseline | Property::ReleasedLeakIsFound => 32,
            Property::BackendsAgree => 24,
        };
        if full {
            ci
        } else {
            ci / 4
        }
    }

    fn strategy(self) -> proptest::strategy::BoxedStrategy<Program> {
        match self {
            Property::CleanIsClean => r#gen::clean_program().boxed(),
            Property::PlantedIsFound => r#gen::leaky_program().boxed(),
            Property::ReleasedLeakIsFound => r#gen::released_leak_program().boxed(),
            Property::TeardownToBaseline | Property::BackendsAgree => r#gen::program().boxed(),
        }
    }
}

/// Whether the property tests run CI's case counts: `LEAKHARNESS_FULL_PROPERTIES=1`, which
/// `.ci/run` sets. Without it `cargo test` runs fewer generated programs, for a fast local
/// suite.
pub fn full_counts() -> bool {
    std::env::var_os("LEAKHARNESS_FULL_PROPERTIES").is_some_and(|v| v == "1")
}

/// How a property run is set up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Options for the checker; the backend is the one properties 1 to 3 run on.
    pub options: CheckOptions,
    /// Seed of the case generator.
    pub seed: u64,
    /// Whether a failure is written to `reports/found/` and persisted in proptest-regressions.
    pub record: bool,
    /// Whether a failing program is shrunk before it is reported. Shrinking reruns the checker
    /// on every smaller candidate, which is most of the time a caught bug costs; a caller that
    /// only asks whether a property fails turns it off.
    pub shrink: bool,
    /// CI's case counts rather than a quarter of them (see [`full_counts`]).
    pub full_counts: bool,
}

impl Setup {
    /// Properties as `cargo test` runs them: on cpu, with a seed from `LEAKHARNESS_SEED` or a
    /// fresh one, failures recorded.
    pub fn for_tests() -> Setup {
        let seed = std::env::var("LEAKHARNESS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(fresh_seed);
        Setup {
            options: CheckOptions::default(),
            seed,
            record: true,
            shrink: true,
            full_counts: full_counts(),
        }
    }
}

fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

fn check(case: &Case, options: &CheckOptions) -> Result<Report, TestCaseError> {
    check_scenario(&case.scenario, options)
        .map_err(|e| TestCaseError::fail(format!("the checker could not run: {e}")))
}

fn fail(d: Disagreement) -> TestCaseError {
    TestCaseError::fail(d.to_string())
}

/// Runs `property` on one program.
pub fn holds(
    property: Property,
    program: &Program,
    options: &CheckOptions,
) -> Result<(), TestCaseError> {
    let case = program
        .case()
        .map_err(|e| TestCaseError::fail(format!("generator bug: {e}")))?;
    match property {
        Property::CleanIsClean | Property::PlantedIsFound | Property::ReleasedLeakIsFound => {
            let report = check(&case, options)?;
            r#gen::judge_verdict(&case, &report).map_or(Ok(()), |d| Err(fail(d)))
        }
        Property::TeardownToBaseline => {
            let report = check(&case, options)?;
            r#gen::judge_teardown(&report).map_or(Ok(()), |d| Err(fail(d)))
        }
        Property::BackendsAgree => {
            let on = |backend| CheckOptions {
                backend,
                ..options.clone()
            };
            let cpu = check(&case, &on(Backend::Cpu))?;
            let meta = check(&case, &on(Backend::Meta))?;
            r#gen::judge_backends(&cpu, &meta).map_or(Ok(()), |d| Err(fail(d)))
        }
    }
}

fn config(property: Property, setup: &Setup) -> Config {
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        Config::default().cases
    } else {
        property.default_cases(setup.full_counts)
    };
    Config {
        cases,
        // Persisted failures are replayed first by every later run of the properties.
        source_file: Some(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/checker/properties.rs"
        )),
        failure_persistence: if setup.record {
            Config::default().failure_persistence
        } else {
            None
        },
        max_shrink_iters: if setup.shrink {
            Config::default().max_shrink_iters
        } else {
            0
        },
        ..Config::default()
    }
}

/// Runs `property` over its generated programs. On a failure, returns a message with the
/// reason and, when the setup records, the path of the shrunk program written under
/// `reports/found/` with its reports.
pub fn run(property: Property, setup: &Setup) -> Result<(), String> {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&setup.seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config(property, setup), rng);
    let options = setup.options.clone();
    let outcome = runner.run(&property.strategy(), |program| {
        holds(property, &program, &options)
    });
    let (reason, program) = match outcome {
        Ok(()) => return Ok(()),
        Err(TestError::Abort(reason)) => {
            return Err(format!("{}: aborted: {reason}", property.name()))
        }
        Err(TestError::Fail(reason, program)) => (reason, program),
    };
    let mut message = format!(
        "property {} failed (seed {}; rerun with LEAKHARNESS_SEED={}): {reason}\nshrunk program: {program:?}",
        property.name(),
        setup.seed,
        setup.seed
    );
    if setup.record {
        match record(property, setup, &program, &reason.to_string()) {
            Ok(path) => message.push_str(&format!("\nwritten to {}", path.display())),
            Err(e) => message.push_str(&format!("\ncould not write the finding: {e}")),
        }
    }
    Err(message)
}

fn record(
    property: Property,
    setup: &Setup,
    program: &Program,
    reason: &str,
) -> Result<PathBuf, String> {
    let case = program.case().map_err(|e| e.to_string())?;
    let on = |backend| CheckOptions {
        backend,
        ..setup.options.clone()
    };
    let first = check_scenario(&case.scenario, &setup.options).map_err(|e| e.to_string())?;
    let meta = check_scenario(&case.scenario, &on(Backend::Meta)).map_err(|e| e.to_string())?;
    let mut reports = vec![&first];
    if property == Property::BackendsAgree {
        reports.push(&meta);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports/found");
    let stem = format!("{}-{:016x}", property.name(), setup.seed);
    let note = format!(
        "Found by property {} (tests/checker/properties.rs), seed {}: {reason}",
        property.name(),
        setup.seed
    );
    r#gen::write_finding(&case, &reports, &dir, &stem, &note).map_err(|e| e.to_string())
}
