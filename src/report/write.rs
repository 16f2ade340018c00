use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{render_html, render_markdown, Report};

/// Where a report was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    /// The JSON report.
    pub json: PathBuf,
    /// The Markdown report.
    pub markdown: PathBuf,
    /// The HTML page.
    pub html: PathBuf,
}

/// A report could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write report {path}: {source}")]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Writes `<dir>/<stem>.json`, `<dir>/<stem>.md` and `<dir>/<stem>.html`. Each file is written to a temporary file in
/// the same directory and renamed into place, so a reader never sees half a report, and a
/// failure leaves any previous report untouched.
pub fn write_reports(report: &Report, dir: &Path, stem: &str) -> Result<ReportPaths, WriteError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError { path, source }
    };
    fs::create_dir_all(dir).map_err(err(dir))?;
    let json_path = dir.join(format!("{stem}.json"));
    let md_path = dir.join(format!("{stem}.md"));
    let json = serde_json::to_string_pretty(report).map_err(|e| WriteError {
        path: json_path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_atomically(&json_path, json.as_bytes()).map_err(err(&json_path))?;
    write_atomically(&md_path, render_markdown(report).as_bytes()).map_err(err(&md_path))?;
    let html_path = dir.join(format!("{stem}.html"));
    write_atomically(&html_path, render_html(report).as_bytes()).map_err(err(&html_path))?;
    Ok(ReportPaths {
        json: json_path,
        markdown: md_path,
        html: html_path,
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory renamed into place,
/// so a reader never sees half a file and a failure leaves the previous one untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("report");
    // Process and thread ids keep two writers of the same report from sharing a temporary file.
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    let tmp = path.with_file_name(format!(".{name}.{}.{thread}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
