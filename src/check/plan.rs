//! One run plan from the command line, or a test harness, to the reports: the backend resolved
//! in one place, the files with the folder their reports are named from, each file checked
//! and its reports (and exports) written, and what happened told as [`RunEvent`]s that
//! reporters render (`leakharness run`'s human, JSON and JSON-lines output; the scenario test
//! harness checks one planned file per test with [`RunPlan::check_one`]).

use std::path::PathBuf;
use std::time::Instant;

use super::{check_file, discover, report_stems, CheckOptions, FileOutcome};
use crate::device::{cuda_device_count, Backend, BackendChoice};
use crate::report::{
    snapshot_pickle, trace_events, write_atomically, write_reports, ExportError, Report,
    ReportPaths, Reporter, RunEvent, Verdict, WriteError,
};

/// A run that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `cuda` was asked for and no device is present.
    #[error("--backend cuda: no CUDA device is present")]
    NoCudaDevice,
    /// `cuda` was asked for and the driver could not be asked.
    #[error("--backend cuda: {0}")]
    Cuda(String),
    /// A path could not be searched.
    #[error("{0}")]
    Discover(#[from] std::io::Error),
    /// The paths hold no scenario.
    #[error("no scenario files (*.py) found")]
    NoFiles,
}

/// The backend of a run, decided once for every command: `auto` picks cuda when a device is
/// present, else cpu (with a notice saying so); `cuda` asked for by name needs a device.
pub fn resolve_backend(choice: BackendChoice) -> Result<(Backend, Option<String>), PlanError> {
    match choice {
        BackendChoice::Exactly(Backend::Cuda) => match cuda_device_count() {
            Ok(n) if n > 0 => Ok((Backend::Cuda, None)),
            Ok(_) => Err(PlanError::NoCudaDevice),
            Err(e) => Err(PlanError::Cuda(e.to_string())),
        },
        choice => Ok(choice.resolve()),
    }
}

/// The backend of a test harness, from `LEAKHARNESS_BACKEND` (cpu when unset). Unlike the
/// command line, cuda without a device is not an error here: each cuda scenario is skipped
/// (or failed under `LEAKHARNESS_REQUIRE_CUDA=1`) with the reason.
pub fn backend_from_env() -> Result<Backend, String> {
    match std::env::var("LEAKHARNESS_BACKEND").as_deref() {
        Err(_) => Ok(Backend::Cpu),
        Ok(name @ ("cpu" | "meta" | "cuda")) => match name.parse() {
            Ok(BackendChoice::Exactly(b)) => Ok(b),
            _ => Err(format!(
                "LEAKHARNESS_BACKEND={name}: expected cuda, cpu or meta"
            )),
        },
        Ok(other) => Err(format!(
            "LEAKHARNESS_BACKEND={other}: expected cuda, cpu or meta"
        )),
    }
}

/// One scenario file of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The file.
    pub path: PathBuf,
    /// The folder its report is named from: the directory it was found under, or its own
    /// folder when given as a file.
    pub root: PathBuf,
    /// The name of its reports, distinct from every other file's of the run
    /// ([`report_stems`]).
    pub stem: String,
}

/// Every scenario file under `paths` ([`discover`]), each with its root and its report name.
pub fn plan_files(paths: &[PathBuf]) -> Result<Vec<PlannedFile>, PlanError> {
    let mut files = Vec::new();
    for p in paths {
        let root = if p.is_dir() {
            p.clone()
        } else {
            p.parent().map(PathBuf::from).unwrap_or_default()
        };
        let found = discover(std::slice::from_ref(p))?;
        files.extend(found.into_iter().map(|path| (path, root.clone())));
    }
    if files.is_empty() {
        return Err(PlanError::NoFiles);
    }
    let stems = report_stems(&files);
    Ok(files
        .into_iter()
        .zip(stems)
        .map(|((path, root), stem)| PlannedFile { path, root, stem })
        .collect())
}

/// Files written beside the JSON, Markdown and HTML reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exports {
    /// `<stem>.trace.json`: Chrome trace events for ui.perfetto.dev.
    pub trace_events: bool,
    /// `<stem>.pickle`: a PyTorch memory snapshot for pytorch.org/memory_viz.
    pub snapshot: bool,
}

/// How one planned file ended.
#[derive(Debug)]
pub enum Checked {
    /// It ran: its report, and where it was written (or why not).
    Report {
        /// The report.
        report: Box<Report>,
        /// Its files.
        written: Result<ReportPaths, WriteError>,
    },
    /// It is not a valid scenario: every `path:line:col: error:` found.
    Invalid(String),
    /// The checker could not run it (`path: error: ...`).
    CannotRun(String),
    /// It needs what is not here.
    Skipped(String),
}

/// Totals of a run, as `leakharness run` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunTotals {
    /// Met their expectation.
    pub passed: u32,
    /// Did not.
    pub failed: u32,
    /// Could not be checked (invalid, an error, or a report that could not be written).
    pub broken: u32,
    /// Skipped.
    pub skipped: u32,
}

/// A planned run: the files and how to check and report them.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// How to check each file; its backend is the resolved one.
    pub options: CheckOptions,
    /// The files, in order.
    pub files: Vec<PlannedFile>,
    /// Where reports go.
    pub report_dir: PathBuf,
    /// The command line recorded in each report.
    pub command: Option<String>,
    /// Files written beside the reports.
    pub exports: Exports,
}

impl RunPlan {
    /// Checks one file and writes its reports and exports.
    pub fn check_one(&self, file: &PlannedFile) -> Checked {
        self.write(file, check_file(&file.path, &self.options))
    }

    /// Writes the reports and exports of a file's outcome.
    fn write(&self, file: &PlannedFile, outcome: FileOutcome) -> Checked {
        match outcome {
            FileOutcome::Checked(mut report) => {
                report.command = self.command.clone();
                let stem = &file.stem;
                let written = write_reports(&report, &self.report_dir, stem).and_then(|paths| {
                    self.write_exports(&report, stem)?;
                    Ok(paths)
                });
                Checked::Report { report, written }
            }
            FileOutcome::Invalid(errors) => Checked::Invalid(errors),
            FileOutcome::Skipped(reason) => Checked::Skipped(reason),
            FileOutcome::CannotRun(e) => {
                Checked::CannotRun(format!("{}: error: {e}", file.path.display()))
            }
        }
    }

    /// Checks every file in order, telling `reporter` what happens, and counts the outcomes.
    pub fn run(&self, reporter: &mut dyn Reporter) -> RunTotals {
        self.run_until(reporter, &|| false)
    }

    /// As [`RunPlan::run`], stopping before the next file once `stop` says so (Ctrl-C). A file
    /// whose check ends after that gets no report: its verdict may stand on a cut-short run.
    pub fn run_until(&self, reporter: &mut dyn Reporter, stop: &dyn Fn() -> bool) -> RunTotals {
        let mut totals = RunTotals::default();
        for file in &self.files {
            if stop() {
                break;
            }
            let path = file.path.as_path();
            reporter.event(&RunEvent::Started { path });
            let started = Instant::now();
            let outcome = check_file(&file.path, &self.options);
            if stop() {
                break;
            }
            let checked = self.write(file, outcome);
            let seconds = started.elapsed().as_secs_f64();
            match &checked {
                Checked::Report { report, written } => {
                    // A scenario that raised an error, or whose report could not be written,
                    // could not be checked; counted once, as broken.
                    let cannot_run =
                        (!report.passed && report.verdict == Verdict::Error) || written.is_err();
                    if cannot_run {
                        totals.broken += 1;
                    } else if report.passed {
                        totals.passed += 1;
                    } else {
                        totals.failed += 1;
                    }
                    reporter.event(&RunEvent::Finished {
                        path,
                        stem: &file.stem,
                        report,
                        written: written.as_ref(),
                        seconds,
                    });
                }
                Checked::Invalid(message) | Checked::CannotRun(message) => {
                    totals.broken += 1;
                    let report = Report::could_not_run(
                        &path.display().to_string(),
                        self.options.backend,
                        message,
                    );
                    reporter.event(&RunEvent::Error {
                        path,
                        message,
                        invalid: matches!(checked, Checked::Invalid(_)),
                        report: &report,
                        seconds,
                    });
                }
                Checked::Skipped(reason) => {
                    totals.skipped += 1;
                    reporter.event(&RunEvent::Skipped {
                        path,
                        reason,
                        seconds,
                    });
                }
            }
        }
        totals
    }

    /// The exports asked for beside the JSON and Markdown reports.
    fn write_exports(&self, report: &Report, stem: &str) -> Result<(), WriteError> {
        let dir = &self.report_dir;
        let mut files: Vec<(PathBuf, Result<Vec<u8>, ExportError>)> = Vec::new();
        if self.exports.trace_events {
            let trace = trace_events(report).map(|t| t.to_string().into_bytes());
            files.push((dir.join(format!("{stem}.trace.json")), trace));
        }
        if self.exports.snapshot {
            files.push((dir.join(format!("{stem}.pickle")), snapshot_pickle(report)));
        }
        for (path, bytes) in files {
            let bytes = bytes.map_err(|e| WriteError {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
            write_atomically(&path, &bytes).map_err(|source| WriteError { path, source })?;
        }
        Ok(())
    }
}

/// A reporter that keeps every event's path and kind, in order: what a test of the plan sees.
#[cfg(test)]
#[derive(Default)]
struct Log(Vec<(String, &'static str)>);

#[cfg(test)]
impl Reporter for Log {
    fn event(&mut self, event: &RunEvent<'_>) {
        let (path, kind) = match event {
            RunEvent::Started { path } => (path, "started"),
            RunEvent::Finished { path, .. } => (path, "finished"),
            RunEvent::Error { path, .. } => (path, "error"),
            RunEvent::Skipped { path, .. } => (path, "skipped"),
        };
        self.0.push((
            path.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            kind,
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn plan_for(dir: &Path) -> RunPlan {
        RunPlan {
            options: CheckOptions {
                backend: Backend::Meta,
                ..CheckOptions::default()
            },
            files: plan_files(&[dir.to_path_buf()]).unwrap(),
            report_dir: dir.join("reports"),
            command: Some("leakharness run".into()),
            exports: Exports::default(),
        }
    }

    #[test]
    fn every_file_is_started_then_finished_skipped_or_an_error_and_counted_once() {
        let dir = std::env::temp_dir().join(format!("leakharness-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write(
            "a_clean.py",
            "import torch\nx = torch.zeros(4, device=\"cuda\")\n",
        );
        write(
            "b_leak.py",
            "import torch\nkept = []\nfor i in range(4):\n    kept.append(torch.zeros(4, device=\"cuda\"))\n",
        );
        write("c_invalid.py", "import torch\nx = (\n");
        write(
            "d_cuda.py",
            "#@ backend: cuda\nimport torch\nx = torch.zeros(4, device=\"cuda\")\n",
        );
        let mut log = Log::default();
        let totals = plan_for(&dir).run(&mut log);
        let has_gpu = matches!(cuda_device_count(), Ok(n) if n > 0);
        let last = if has_gpu { "finished" } else { "skipped" };
        let expected = [
            ("a_clean.py", "started"),
            ("a_clean.py", "finished"),
            ("b_leak.py", "started"),
            ("b_leak.py", "finished"),
            ("c_invalid.py", "started"),
            ("c_invalid.py", "error"),
            ("d_cuda.py", "started"),
            ("d_cuda.py", last),
        ];
        let log: Vec<(&str, &str)> = log.0.iter().map(|(p, k)| (p.as_str(), *k)).collect();
        assert_eq!(log, expected);
        assert_eq!(
            totals,
            RunTotals {
                passed: 1 + u32::from(has_gpu),
                failed: 1,
                broken: 1,
                skipped: u32::from(!has_gpu),
            }
        );
        assert!(dir.join("reports/b_leak.json").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
