//! Every `scenarios/**/*.py` is a test, named by its path under `scenarios/`: it passes when the
//! scenario's expectation holds. Built on libtest-mimic, so filters, `--list`, `--exact`,
//! `--ignored`, `--skip` and `--test-threads` behave as in `cargo test`, and cargo-nextest runs
//! it too.
//!
//! The backend is cpu unless `LEAKHARNESS_BACKEND` says otherwise (cuda, cpu or meta). Without
//! a CUDA device, cuda scenarios are listed as ignored with the reason; with
//! `LEAKHARNESS_REQUIRE_CUDA=1` they fail instead.
//! Reports are written under `target/scenario-reports/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use leakharness::check::{check_file, discover, report_stem, CheckOptions, FileOutcome};
use leakharness::device::Backend;
use leakharness::report::{human_summary, write_reports};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

fn backend() -> Result<Backend, String> {
    match std::env::var("LEAKHARNESS_BACKEND").as_deref() {
        Err(_) | Ok("cpu") => Ok(Backend::Cpu),
        Ok("meta") => Ok(Backend::Meta),
        Ok("cuda") => Ok(Backend::Cuda),
        Ok(other) => Err(format!(
            "LEAKHARNESS_BACKEND={other}: expected cuda, cpu or meta"
        )),
    }
}

fn trial(path: PathBuf, root: &Path, backend: Backend, report_dir: PathBuf) -> Trial {
    let name = path
        .strip_prefix(root)
        .unwrap_or(&path)
        .display()
        .to_string();
    let stem = report_stem(&path, root);
    Trial::ignorable_test(name, move || {
        let options = CheckOptions {
            backend,
            ..CheckOptions::default()
        };
        match check_file(&path, &options) {
            FileOutcome::Checked(report) => {
                let written = write_reports(&report, &report_dir, &stem)
                    .map_err(|e| Failed::from(e.to_string()))?;
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
            FileOutcome::Skipped(reason)
                if std::env::var("LEAKHARNESS_REQUIRE_CUDA").as_deref() == Ok("1") =>
            {
                Err(format!("LEAKHARNESS_REQUIRE_CUDA=1: {reason}").into())
            }
            FileOutcome::Skipped(reason) => Ok(Completion::ignored_with(reason)),
            FileOutcome::Invalid(errors) => Err(errors.into()),
            FileOutcome::CannotRun(e) => Err(e.to_string().into()),
        }
    })
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let report_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("scenario-reports");
    let found = backend().and_then(|b| {
        discover(std::slice::from_ref(&root))
            .map(|f| (b, f))
            .map_err(|e| e.to_string())
    });
    let trials = match found {
        Ok((backend, files)) => files
            .into_iter()
            .map(|p| trial(p, &root, backend, report_dir.clone()))
            .collect(),
        // A setup problem is reported as a failing test rather than a panic of the harness.
        Err(e) => vec![Trial::test("scenarios", move || Err(e.into()))],
    };
    libtest_mimic::run(&args, trials).exit_code()
}
