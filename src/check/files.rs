//! Scenario files: finding them, naming their reports, and checking one from disk.

use std::collections::HashSet;
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
/// `.py` files; sorted so runs list them in a stable order. A path that does not exist, or that is
/// neither a directory nor a regular file (a FIFO would block the read forever), is an error
/// naming it. Each real directory is searched once, however many symbolic links lead to it, so
/// links that loop back end the search rather than repeat it; in directories only regular files
/// (or links to them) are taken.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut found = Vec::new();
    let mut visited = HashSet::new();
    for p in paths {
        let named =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", p.display()));
        let meta = std::fs::metadata(p).map_err(named)?;
        if meta.is_dir() {
            collect(p, &mut visited, &mut found).map_err(named)?;
        } else if meta.is_file() {
            found.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{}: not a regular file or a directory", p.display()),
            ));
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Walks `root` without recursion: a worklist of directories, each entered once by its
/// canonical path.
fn collect(
    root: &Path,
    visited: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<(), std::io::Error> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if !visited.insert(std::fs::canonicalize(&dir)?) {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            // Follows links; a dangling link is skipped like any file that is not a scenario.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() && path.extension().is_some_and(|e| e == "py") {
                out.push(path);
            }
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

/// The report names of several scenarios checked in one run, each `(path, root)` as
/// [`report_stem`] takes them, in order. Names are distinct by construction: a name already
/// given (`a/s.py` and `b/s.py`, each given as a file, are both `s`) gets the first free
/// `~2`, `~3`, ... suffix, so one report never replaces another.
///
/// ```
/// use std::path::PathBuf;
/// use leakharness::check::report_stems;
///
/// let files = [
///     (PathBuf::from("a/s.py"), PathBuf::from("a")),
///     (PathBuf::from("b/s.py"), PathBuf::from("b")),
///     (PathBuf::from("c/s~2.py"), PathBuf::from("c")),
/// ];
/// assert_eq!(report_stems(&files), ["s", "s~2", "s~2~2"]);
/// ```
pub fn report_stems(files: &[(PathBuf, PathBuf)]) -> Vec<String> {
    let mut used = HashSet::new();
    files
        .iter()
        .map(|(path, root)| {
            let stem = report_stem(path, root);
            let mut unique = stem.clone();
            let mut n = 1;
            while !used.insert(unique.clone()) {
                n += 1;
                unique = format!("{stem}~{n}");
            }
            unique
        })
        .collect()
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
