//! Accepted leaks: an allowance says that a leak is known and tolerated up to a size per
//! iteration, with a reason. Allowed leaks are shown as allowed in every report and do not fail
//! a scenario that expects to be clean; an allowance that matches no leak any more is reported
//! as stale, so that it gets removed.
//!
//! Allowances come from a scenario's header,
//!
//! ```text
//! #@ allow: tensor-list line 20 max 1KiB: the history is trimmed by the caller
//! ```
//!
//! (`[kind] [line N] max SIZE: reason`), and from the nearest `leakharness.toml` in the
//! scenario's folder or above it:
//!
//! ```toml
//! [[allow]]
//! scenario = "leaks/history.py"   # a suffix of the scenario's path; all scenarios when absent
//! kind = "tensor-list"            # any kind when absent
//! line = 20                       # or: statement = "history.append(loss)"
//! max-per-iteration = "1KiB"      # or a number of bytes
//! reason = "the history is trimmed by the caller"
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{exact_size, Leak, Report, Verdict};
use crate::base::{parse_size, LeakKind};

/// One accepted leak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// The kind it accepts; any when absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<LeakKind>,
    /// The retaining statement's line; any when absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u32>,
    /// The retaining statement's text; any when absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub statement: Option<String>,
    /// The most bytes per iteration it accepts.
    pub max_bytes_per_iteration: u64,
    /// Why the leak is accepted.
    pub reason: String,
    /// Where it is written: `header` or the path of a `leakharness.toml`.
    pub from: String,
}

impl Allowance {
    /// Whether it names this leak (whatever its size).
    fn names(&self, leak: &Leak) -> bool {
        self.kind.is_none_or(|k| leak.kinds.contains(&k))
            && self.line.is_none_or(|l| l == leak.retained_by.line)
            && self
                .statement
                .as_deref()
                .is_none_or(|s| s.trim() == leak.retained_by.statement)
    }
}

/// The header form: `[kind] [line N] max SIZE: reason`.
impl FromStr for Allowance {
    type Err = String;

    fn from_str(value: &str) -> Result<Allowance, String> {
        let usage = "write `#@ allow: [kind] [line N] max SIZE: reason`, e.g. `#@ allow: tensor-list line 20 max 1KiB: trimmed by the caller`";
        let (spec, reason) = value
            .split_once(':')
            .ok_or_else(|| format!("an allowance needs a reason after `:`; {usage}"))?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(format!("an allowance needs a reason after `:`; {usage}"));
        }
        let mut allowance = Allowance {
            kind: None,
            line: None,
            statement: None,
            max_bytes_per_iteration: 0,
            reason: reason.to_string(),
            from: "header".into(),
        };
        let mut max = None;
        let mut words = spec.split_whitespace();
        while let Some(word) = words.next() {
            match word {
                "line" => {
                    let n = words.next().and_then(|n| n.parse().ok());
                    allowance.line = Some(n.ok_or(format!("`line` needs a line number; {usage}"))?);
                }
                "max" => {
                    let size = words.next().ok_or(format!("`max` needs a size; {usage}"))?;
                    max = Some(parse_size(size).map_err(|e| e.to_string())?);
                }
                "any" => {}
                kind => {
                    let known = LeakKind::ALL.iter().find(|k| k.name() == kind);
                    allowance.kind = Some(*known.ok_or_else(|| {
                        let kinds: Vec<&str> = LeakKind::ALL.iter().map(|k| k.name()).collect();
                        format!(
                            "unknown leak kind `{kind}`; expected any, {}",
                            kinds.join(", ")
                        )
                    })?);
                }
            }
        }
        allowance.max_bytes_per_iteration = max.ok_or(format!(
            "an allowance needs `max SIZE` per iteration; {usage}"
        ))?;
        Ok(allowance)
    }
}

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(kind) = self.kind {
            write!(f, "{} ", kind.name())?;
        }
        if let Some(line) = self.line {
            write!(f, "line {line} ")?;
        }
        if let Some(statement) = &self.statement {
            write!(f, "`{statement}` ")?;
        }
        write!(f, "max {}B: {}", self.max_bytes_per_iteration, self.reason)
    }
}

/// `leakharness.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    allow: Vec<ConfigAllowance>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigAllowance {
    scenario: Option<String>,
    kind: Option<LeakKind>,
    line: Option<u32>,
    statement: Option<String>,
    max_per_iteration: Size,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// `leakharness.toml` could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{column}: error: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// The allowances from the nearest `leakharness.toml` in `scenario`'s folder or above that
/// apply to it; none when there is no such file.
pub fn config_allowances(scenario: &Path) -> Result<Vec<Allowance>, ConfigError> {
    let start = scenario.parent().unwrap_or(Path::new("."));
    let start = if start.as_os_str().is_empty() {
        Path::new(".")
    } else {
        start
    };
    let absolute = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    let Some(path) = absolute
        .ancestors()
        .map(|dir| dir.join("leakharness.toml"))
        .find(|p| p.is_file())
    else {
        return Ok(Vec::new());
    };
    let at_start = |message: String| ConfigError {
        path: path.clone(),
        line: 1,
        column: 1,
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| at_start(e.to_string()))?;
    let config: Config = toml::from_str(&text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let before = &text[..offset.min(text.len())];
        ConfigError {
            path: path.clone(),
            line: before.matches('\n').count() + 1,
            column: before.chars().rev().take_while(|&c| c != '\n').count() + 1,
            message: e.message().to_string(),
        }
    })?;
    let scenario_path = scenario.to_string_lossy().replace('\\', "/");
    // Named relative to the working directory when under it, as the user would name it.
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.clone())
        .display()
        .to_string();
    let mut allowances = Vec::new();
    for entry in config.allow {
        if entry
            .scenario
            .as_deref()
            .is_some_and(|s| !scenario_path.ends_with(s))
        {
            continue;
        }
        let max_bytes_per_iteration = match entry.max_per_iteration {
            Size::Bytes(n) => n,
            Size::Text(s) => {
                parse_size(&s).map_err(|e| at_start(format!("max-per-iteration: {e}")))?
            }
        };
        allowances.push(Allowance {
            kind: entry.kind,
            line: entry.line,
            statement: entry.statement,
            max_bytes_per_iteration,
            reason: entry.reason,
            from: shown.clone(),
        });
    }
    Ok(allowances)
}

impl Report {
    /// Marks the leaks `allowances` accept (named by one and within its size), lists the
    /// allowances that name no leak as stale, and lets a scenario that expects to be clean pass
    /// when every leak it has is allowed and its teardown is clean.
    pub fn apply_allowances(&mut self, allowances: &[Allowance]) {
        for leak in &mut self.leaks {
            leak.allowed = allowances
                .iter()
                .find(|a| a.names(leak) && leak.bytes_per_iteration <= a.max_bytes_per_iteration)
                .map(|a| {
                    format!(
                        "allowed up to {} per iteration ({}): {}",
                        exact_size(a.max_bytes_per_iteration),
                        a.from,
                        a.reason
                    )
                });
        }
        self.stale_allowances = allowances
            .iter()
            .filter(|a| !self.leaks.iter().any(|l| a.names(l)))
            .cloned()
            .collect();
        let all_allowed = !self.leaks.is_empty() && self.leaks.iter().all(|l| l.allowed.is_some());
        if self.verdict == Verdict::Leak
            && self.expected == "clean"
            && all_allowed
            && self.after_teardown.is_clean(self.baseline)
        {
            self.passed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn the_header_form_reads_and_prints_back() {
        let a: Allowance = "tensor-list line 7 max 1KiB: trimmed by the caller"
            .parse()
            .unwrap();
        assert_eq!(a.kind, Some(LeakKind::TensorList));
        assert_eq!(a.line, Some(7));
        assert_eq!(a.max_bytes_per_iteration, 1024);
        assert_eq!(
            a.to_string(),
            "tensor-list line 7 max 1024B: trimmed by the caller"
        );
        let again: Allowance = a.to_string().parse().unwrap();
        assert_eq!(again, a);
        for bad in [
            "line 7 max 1KiB",
            "line 7: no size",
            "sideways max 1KiB: x",
            "max: x",
        ] {
            assert!(bad.parse::<Allowance>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_allowed_leak_passes_a_clean_expectation_and_a_stale_allowance_is_listed() {
        let mut r = sample_report();
        r.expected = "clean".into();
        r.passed = false;
        let fits: Allowance = "retained-graph line 7 max 512: known".parse().unwrap();
        let stale: Allowance = "line 99 max 1KiB: fixed long ago".parse().unwrap();
        r.apply_allowances(&[fits, stale.clone()]);
        assert!(r.passed);
        assert!(r.leaks[0]
            .allowed
            .as_deref()
            .unwrap()
            .ends_with("(header): known"));
        assert_eq!(r.stale_allowances, vec![stale]);
        // Growth beyond the allowance is a leak again.
        let mut r = sample_report();
        r.expected = "clean".into();
        r.passed = false;
        r.apply_allowances(&["max 511: too small".parse().unwrap()]);
        assert!(!r.passed && r.leaks[0].allowed.is_none());
        assert!(
            r.stale_allowances.is_empty(),
            "it names the leak, so it is not stale"
        );
    }
}
