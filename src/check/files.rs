//! Scenario files: finding them, naming their reports, and checking one from disk.

use std::path::{Path, PathBuf};

use super::{check_scenario, CheckError, CheckOptions};
use crate::device::{cuda_device_count, Backend};
use crate::report::{config_allowances, Report};
use crate::scenario::{load, LoadError};

/// What checking one file gave.
#[derive(Debug)]
pub enum FileOutcome {
    /// The scenario ran; its report says whether it met its expectation.
    Checked(Box<Report>),
    /// The file is not a valid scenario: every `path:line:col: error:` found.
    Invalid(String),
    /// The scenario asks for a backend that is not here.
    Skipped(String),
    /// The checker could not run at all (no device).
    CannotRun(CheckError),
}

/// Every scenario file under `paths`: files as given, directories searched recursively for
/// `.py` files; sorted so runs list them in a stable order. A path that does not exist is an
/// error naming it.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut found = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            collect(p, &mut found)?;
        } else {
            found.push(p.clone());
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), std::io::Error> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
    Ok(())
}

/// The name of a scenario's reports: its path under `root` without `.py`, folders joined by `-`
/// (`scenarios/leaks/losses.py` under `scenarios` is `leaks-losses`).
pub fn report_stem(path: &Path, root: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let relative = relative.with_extension("");
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let stem = parts.join("-");
    if stem.is_empty() || stem.starts_with('.') {
        path.file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
    } else {
        stem
    }
}

/// Loads and checks one scenario file. A `#@ backend:` header overrides `options.backend`; a
/// scenario for cuda on a machine without a CUDA device is skipped.
pub fn check_file(path: &Path, options: &CheckOptions) -> FileOutcome {
    let scenario = match load(path) {
        Ok(s) => s,
        Err(LoadError::Invalid(errors)) => return FileOutcome::Invalid(errors.to_string()),
        Err(e) => return FileOutcome::Invalid(format!("{}: error: {e}", path.display())),
    };
    if let Err(errors) = crate::scenario::interp::validate(&scenario) {
        return FileOutcome::Invalid(errors.to_string());
    }
    let mut options = options.clone();
    if let Some(b) = &scenario.header.backend {
        options.backend = match b.as_str() {
            "cuda" => Backend::Cuda,
            "meta" => Backend::Meta,
            _ => Backend::Cpu,
        };
    }
    if options.backend == Backend::Cuda && !matches!(cuda_device_count(), Ok(n) if n > 0) {
        return FileOutcome::Skipped(
            "needs a CUDA device (`#@ backend: cuda`), and none is present".into(),
        );
    }
    // Accepted leaks: the header's, then those of the nearest leakharness.toml.
    let mut allowances = scenario.header.allow.clone();
    match config_allowances(path) {
        Ok(more) => allowances.extend(more),
        Err(e) => return FileOutcome::Invalid(e.to_string()),
    }
    match check_scenario(&scenario, &options) {
        Ok(mut report) => {
            report.apply_allowances(&allowances);
            FileOutcome::Checked(Box::new(report))
        }
        Err(e) => FileOutcome::CannotRun(e),
    }
}
