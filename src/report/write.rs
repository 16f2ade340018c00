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

/// Removes the temporary files that [`write_atomically`] left in `dir` when its process was
/// killed between writing and renaming (SIGKILL, a power cut): those whose writer is no longer
/// running. Files of live writers, and every other file, are left alone. Returns how many were
/// removed; a missing `dir` has none.
pub fn remove_stale_temporaries(dir: &Path) -> std::io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_writer) else {
            continue;
        };
        if !process_is_running(pid) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// The writer's process id, when `name` is a temporary file of [`write_atomically`]:
/// `.<name>.<pid>.<thread>.tmp`.
fn temporary_writer(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut fields = inner.rsplitn(3, '.');
    let thread = fields.next()?;
    let pid = fields.next()?;
    let target = fields.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(thread) || target.is_empty() {
        return None;
    }
    pid.parse().ok()
}

#[cfg(unix)]
fn process_is_running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 sends nothing; it only asks whether `pid` exists. EPERM means it does,
    // under another user.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_is_running(pid: u32) -> bool {
    // Without a way to ask, only this process's own files are known to be live.
    pid == std::process::id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_recognised_by_their_name_only() {
        assert_eq!(temporary_writer(".s.json.1234.5.tmp"), Some(1234));
        assert_eq!(temporary_writer(".index.html.77.1.tmp"), Some(77));
        assert_eq!(temporary_writer("s.json.1234.5.tmp"), None);
        assert_eq!(temporary_writer(".s.json.tmp"), None);
        assert_eq!(temporary_writer(".s.json.x.5.tmp"), None);
    }

    #[test]
    fn stale_temporaries_go_and_live_ones_and_reports_stay() {
        let dir = std::env::temp_dir().join(format!("lh-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // No process has id 2^22 + 1 (Linux's pid_max is at most 2^22).
        let dead = format!(".s.json.{}.1.tmp", (1 << 22) + 1);
        let live = format!(".s.json.{}.1.tmp", std::process::id());
        for name in [dead.as_str(), live.as_str(), "s.json", ".hidden"] {
            fs::write(dir.join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&dir).unwrap(), 1);
        assert!(!dir.join(&dead).exists());
        for name in [live.as_str(), "s.json", ".hidden"] {
            assert!(dir.join(name).exists(), "{name}");
        }
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(remove_stale_temporaries(&dir).unwrap(), 0);
    }
}
