//! Leak tests in any crate: a folder of scenario files becomes one `cargo test` test per file,
//! with `cargo test`'s filters, `--list`, `--exact`, `--ignored` and `--skip` (libtest-mimic).
//!
//! In the crate's `Cargo.toml`:
//!
//! ```toml
//! [dev-dependencies]
//! leakharness = "0.1"
//!
//! [[test]]
//! name = "leaks"
//! harness = false
//! ```
//!
//! and `tests/leaks.rs`:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     leakharness::harness::Harness::new(concat!(env!("CARGO_MANIFEST_DIR"), "/leaks")).run()
//! }
//! ```
//!
//! A test passes when its scenario meets the `#@ expect:` of its header (clean when absent);
//! a failing one prints the human summary and the path of its Markdown report. Environment:
//!
//! - `LEAKHARNESS_BACKEND`: `cpu` (the default), `meta` or `cuda`. Without a CUDA device, cuda
//!   scenarios are listed as ignored with the reason;
//! - `LEAKHARNESS_REQUIRE_CUDA=1`: a machine that must have a GPU fails them instead;
//! - `LEAKHARNESS_REPORT_DIR`: where the JSON, Markdown and HTML reports go (by default
//!   `target/scenario-reports` beside the scenario folder).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::check::plan::{backend_from_env, Checked, Exports, PlannedFile, RunPlan};
use crate::check::{discover, report_stem, CheckOptions};
use crate::report::human_summary;

/// A folder of scenarios run as tests.
#[derive(Debug, Clone)]
pub struct Harness {
    root: PathBuf,
    report_dir: Option<PathBuf>,
    options: CheckOptions,
}

impl Harness {
    /// Every `*.py` under `root`, at any depth, named by its path under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Harness {
        Harness {
            root: root.into(),
            report_dir: None,
            options: CheckOptions::default(),
        }
    }

    /// Where reports go, unless `LEAKHARNESS_REPORT_DIR` says otherwise.
    pub fn report_dir(mut self, dir: impl Into<PathBuf>) -> Harness {
        self.report_dir = Some(dir.into());
        self
    }

    /// Checker options (limits, stack capture); the backend comes from `LEAKHARNESS_BACKEND`.
    pub fn options(mut self, options: CheckOptions) -> Harness {
        self.options = options;
        self
    }

    /// Reads the test arguments of the process, runs the tests, and returns the exit code
    /// `cargo test` expects.
    pub fn run(self) -> ExitCode {
        let args = Arguments::from_args();
        let report_dir = std::env::var_os("LEAKHARNESS_REPORT_DIR")
            .map(PathBuf::from)
            .or(self.report_dir)
            .unwrap_or_else(|| {
                self.root
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("target")
                    .join("scenario-reports")
            });
        let found = backend_from_env().and_then(|b| {
            discover(std::slice::from_ref(&self.root))
                .map(|f| (b, f))
                .map_err(|e| e.to_string())
        });
        let rerun = rerun_command();
        let trials = match found {
            Ok((backend, files)) => files
                .into_iter()
                .map(|path| {
                    let file = PlannedFile {
                        stem: report_stem(&path, &self.root),
                        path,
                        root: self.root.clone(),
                    };
                    let plan = RunPlan {
                        options: CheckOptions {
                            backend,
                            ..self.options.clone()
                        },
                        files: Vec::new(),
                        report_dir: report_dir.clone(),
                        command: None,
                        exports: Exports::default(),
                    };
                    trial(file, plan, &rerun)
                })
                .collect(),
            // A setup problem is reported as a failing test rather than a panic of the harness.
            Err(e) => vec![Trial::test("scenarios", move || Err(e.into()))],
        };
        libtest_mimic::run(&args, trials).exit_code()
    }
}

/// The command that reruns one test of this binary, up to the test's name: `cargo test --test
/// leaks -- --exact`, with the backend variable when it is set. Cargo names a test binary
/// `<target>-<16 hex digits>`.
fn rerun_command() -> String {
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((target, hash))
                if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                target.to_string()
            }
            _ => stem,
        })
        .unwrap_or_else(|| "scenarios".into());
    let backend = std::env::var("LEAKHARNESS_BACKEND")
        .map(|b| format!("LEAKHARNESS_BACKEND={b} "))
        .unwrap_or_default();
    format!("{backend}cargo test --test {target} -- --exact")
}

/// One scenario as a test: checked, with its reports written, by the run plan's own step.
fn trial(file: PlannedFile, mut plan: RunPlan, rerun: &str) -> Trial {
    let name = file
        .path
        .strip_prefix(&file.root)
        .unwrap_or(&file.path)
        .display()
        .to_string();
    plan.command = Some(format!("{rerun} {name}"));
    Trial::ignorable_test(name, move || match plan.check_one(&file) {
        Checked::Report { report, written } => {
            let written = written.map_err(|e| Failed::from(e.to_string()))?;
            if report.passed {
                Ok(Completion::Completed)
            } else {
                Err(format!(
                    "{}  report: {}",
                    human_summary(&report),
                    written.markdown.display()
                )
                .into())
            }
        }
        // A machine that must have a GPU fails instead of skipping.
        Checked::Skipped(reason)
            if std::env::var("LEAKHARNESS_REQUIRE_CUDA").as_deref() == Ok("1") =>
        {
            Err(format!("LEAKHARNESS_REQUIRE_CUDA=1: {reason}").into())
        }
        Checked::Skipped(reason) => Ok(Completion::ignored_with(reason)),
        Checked::Invalid(message) | Checked::CannotRun(message) => Err(message.into()),
    })
}
