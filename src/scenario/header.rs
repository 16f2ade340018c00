//! Header comments: `#@ key: value` lines at the top of a scenario, before the first statement.
//!
//! They carry what the scenario expects and how to run it, in the style of compiler UI tests.
//! Header lines are ordinary comments, so the file still runs unchanged under PyTorch.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ast::Span;
use super::error::ScenarioError;

/// The header keys, in the order the printer writes them.
pub const HEADER_KEYS: [&str; 6] = [
    "expect",
    "device-memory",
    "max-steps",
    "backend",
    "iterations",
    "allow",
];

/// The backends a scenario may ask for with `#@ backend:`.
pub const BACKENDS: [&str; 3] = ["cuda", "cpu", "meta"];

/// What a scenario's header says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Header {
    /// `#@ expect:` — the verdict the run must produce; [`Expect::Clean`] when absent.
    pub expect: Expect,
    /// `#@ device-memory:` — the simulated device's capacity in bytes, e.g. `24GiB`.
    pub device_memory: Option<u64>,
    /// `#@ max-steps:` — a bound on interpreted statements, so runaway scenarios stop.
    pub max_steps: Option<u64>,
    /// `#@ backend:` — one of [`BACKENDS`].
    pub backend: Option<String>,
    /// `#@ iterations:` — informational: how many iterations the main loop runs.
    pub iterations: Option<u64>,
    /// `#@ allow:` — accepted leaks, one a line ([`crate::report::Allowance`]).
    #[serde(default)]
    pub allow: Vec<crate::report::Allowance>,
    /// The first plain `# ...` comment line of the header, without the `#`.
    pub description: Option<String>,
}

/// The verdict a scenario expects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Expect {
    /// No leak, no error (`#@ expect: clean`, or no `expect` key).
    #[default]
    Clean,
    /// A leak of each of these kinds (`#@ expect: leak retained-graph`); an empty list
    /// (`#@ expect: leak`) accepts a leak of any kind.
    Leak(Vec<LeakKind>),
    /// Running out of device memory (`#@ expect: oom`).
    Oom,
    /// A runtime error in the scenario (`#@ expect: error`).
    Error,
}

/// The kinds of growth leak the checker names (defined in `docs/leaks.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeakKind {
    /// Tensors kept in a list across iterations.
    TensorList,
    /// An autograd graph kept alive through a kept tensor.
    RetainedGraph,
    /// A running total or metric still attached to the graph.
    AttachedMetric,
    /// Graphs built and never used by a backward, kept through their outputs.
    MissingNoGrad,
}

impl LeakKind {
    /// Every kind, in documentation order.
    pub const ALL: [LeakKind; 4] = [
        LeakKind::TensorList,
        LeakKind::RetainedGraph,
        LeakKind::AttachedMetric,
        LeakKind::MissingNoGrad,
    ];

    /// The kind's name as written in headers and reports, e.g. `retained-graph`.
    pub fn name(self) -> &'static str {
        match self {
            LeakKind::TensorList => "tensor-list",
            LeakKind::RetainedGraph => "retained-graph",
            LeakKind::AttachedMetric => "attached-metric",
            LeakKind::MissingNoGrad => "missing-no-grad",
        }
    }
}

impl fmt::Display for LeakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A leak kind name that is not one of [`LeakKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown leak kind `{0}`; expected one of tensor-list, retained-graph, attached-metric, missing-no-grad")]
pub struct UnknownLeakKind(pub String);

impl FromStr for LeakKind {
    type Err = UnknownLeakKind;

    fn from_str(s: &str) -> Result<LeakKind, UnknownLeakKind> {
        LeakKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| UnknownLeakKind(s.to_string()))
    }
}

impl fmt::Display for Expect {
    /// The value as written after `#@ expect:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Clean => f.write_str("clean"),
            Expect::Oom => f.write_str("oom"),
            Expect::Error => f.write_str("error"),
            Expect::Leak(kinds) => {
                f.write_str("leak")?;
                for kind in kinds {
                    write!(f, " {kind}")?;
                }
                Ok(())
            }
        }
    }
}

/// Why a size such as `24GiB` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Nothing was given.
    #[error("expected a size such as `24GiB`, `512MiB`, `1.5GB` or `1000`")]
    Empty,
    /// The number part is malformed.
    #[error("`{0}` is not a number of bytes; write a size such as `24GiB` or `1.5GB`")]
    BadNumber(String),
    /// The unit is not one of the known ones.
    #[error("unknown size unit `{0}`; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)")]
    BadUnit(String),
    /// The size does not fit in 64 bits.
    #[error("size `{0}` is too large")]
    TooLarge(String),
    /// The size is (or rounds down to) zero bytes: no device has no memory.
    #[error("size `{0}` is zero bytes; give the device some memory, e.g. `8MiB`")]
    Zero(String),
}

const UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kb", 1000),
    ("mb", 1000 * 1000),
    ("gb", 1000 * 1000 * 1000),
    ("tb", 1000 * 1000 * 1000 * 1000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// Parses a byte size: a number, optionally with a fraction, and an optional unit.
///
/// Units are case-insensitive: `B`; `KB`, `MB`, `GB`, `TB` are powers of 1000; `KiB`, `MiB`,
/// `GiB`, `TiB` are powers of 1024. A bare number is bytes. Fractions are rounded down to whole
/// bytes. Used for `#@ device-memory:` and the CLI's `--device-memory`.
///
/// ```
/// use leakharness::scenario::parse_size;
///
/// assert_eq!(parse_size("24GiB"), Ok(24 << 30));
/// assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
/// assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
/// assert_eq!(parse_size("1000"), Ok(1000));
/// assert!(parse_size("12 parsecs").is_err());
/// assert!(parse_size("0.5").is_err()); // rounds down to zero bytes
/// ```
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let unit = unit.trim();
    let multiplier = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|&(_, multiplier)| multiplier)
            .ok_or_else(|| SizeError::BadUnit(unit.to_string()))?
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{fraction}");
    let bad_number = || SizeError::BadNumber(number.to_string());
    // 30 digits keep both the mantissa and the power of ten inside u128.
    if digits.is_empty() || digits.len() > 30 || fraction.contains('.') {
        return Err(bad_number());
    }
    let mantissa: u128 = digits.parse().map_err(|_| bad_number())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let bytes = mantissa
        .checked_mul(u128::from(multiplier))
        .map(|scaled| scaled / scale)
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))?;
    match u64::try_from(bytes) {
        Ok(0) => Err(SizeError::Zero(text.to_string())),
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(SizeError::TooLarge(text.to_string())),
    }
}

/// Writes a byte count in the largest binary unit that divides it exactly, e.g. `24GiB`, so that
/// [`parse_size`] reads back the same number.
///
/// ```
/// use leakharness::scenario::header_size;
///
/// assert_eq!(header_size(24 << 30), "24GiB");
/// assert_eq!(header_size(1000), "1000");
/// ```
pub fn header_size(bytes: u64) -> String {
    let binary = [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    binary
        .iter()
        .find(|&&(_, unit)| bytes != 0 && bytes % unit == 0)
        .map(|&(name, unit)| format!("{}{name}", bytes / unit))
        .unwrap_or_else(|| bytes.to_string())
}

/// Reads the header from the comment lines at the top of `source`.
///
/// The header region is every line before the first line that is neither blank nor a comment.
/// A `#@` line after that region is an error rather than silently ignored, because a misplaced
/// expectation would otherwise make a leaking scenario pass.
pub(crate) fn parse_header(path: &Path, source: &str) -> Result<Header, Vec<ScenarioError>> {
    let mut header = Header::default();
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut in_header = true;
    for (index, raw_line) in source.lines().enumerate() {
        let line_number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let indent = raw_line.chars().take_while(|c| c.is_whitespace()).count();
        let line = raw_line.trim();
        let at = |col_in_line: usize| -> Span {
            let col = u32::try_from(col_in_line + 1).unwrap_or(u32::MAX);
            Span {
                line: line_number,
                col,
                end_line: line_number,
                end_col: col,
            }
        };
        let error =
            |col: usize, message: String| ScenarioError::new(path, at(col), source, message);
        if in_header && !(line.is_empty() || line.starts_with('#')) {
            in_header = false;
        }
        let Some(rest) = line.strip_prefix("#@") else {
            if in_header && header.description.is_none() && !line.starts_with("#!") {
                if let Some(text) = line.strip_prefix('#') {
                    header.description = Some(text.trim().to_string());
                }
            }
            continue;
        };
        if !in_header {
            errors.push(
                error(
                    indent,
                    "header comment after the first statement".to_string(),
                )
                .with_help("move `#@` lines to the top of the file, before any code"),
            );
            continue;
        }
        let key_offset = char_col(raw_line, rest.trim_start());
        let Some((key, value)) = rest.split_once(':') else {
            errors.push(
                error(
                    key_offset,
                    "header comment without `key: value`".to_string(),
                )
                .with_help("write header comments as `#@ key: value`, e.g. `#@ expect: clean`"),
            );
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let value_offset = char_col(raw_line, value);
        // Allowances are one a line; every other key is given once.
        if seen.contains(&key) && key != "allow" {
            errors.push(
                error(key_offset, format!("header key `{key}` is given twice"))
                    .with_help("keep one line per key"),
            );
            continue;
        }
        let result = match key {
            "expect" => parse_expect(value).map(|expect| header.expect = expect),
            "device-memory" => parse_size(value)
                .map(|bytes| header.device_memory = Some(bytes))
                .map_err(|e| e.to_string()),
            "max-steps" => parse_count(value).map(|n| header.max_steps = Some(n)),
            "iterations" => parse_count(value).map(|n| header.iterations = Some(n)),
            "allow" => value.parse().map(|a| header.allow.push(a)),
            "backend" => {
                if BACKENDS.contains(&value) {
                    header.backend = Some(value.to_string());
                    Ok(())
                } else {
                    Err(format!(
                        "unknown backend `{value}`; expected one of cuda, cpu, meta"
                    ))
                }
            }
            _ => {
                let hyphenated = key.replace('_', "-");
                let help = if HEADER_KEYS.contains(&hyphenated.as_str()) {
                    format!("write `{hyphenated}`")
                } else {
                    format!("known keys are {}", HEADER_KEYS.join(", "))
                };
                errors
                    .push(error(key_offset, format!("unknown header key `{key}`")).with_help(help));
                continue;
            }
        };
        seen.push(key);
        if let Err(message) = result {
            errors.push(error(
                value_offset,
                format!("bad value for `{key}`: {message}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(header)
    } else {
        Err(errors)
    }
}

/// The character column (0-based) at which `part`, a subslice of `line`, starts.
fn char_col(line: &str, part: &str) -> usize {
    let byte = (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
    line.get(..byte).map_or(0, |before| before.chars().count())
}

fn parse_count(value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("expected a whole number, found `{value}`"))
}

fn parse_expect(value: &str) -> Result<Expect, String> {
    let mut words = value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| !word.is_empty());
    let verdict = words.next().unwrap_or("");
    let rest: Vec<&str> = words.collect();
    let no_more = |expect: Expect| {
        if rest.is_empty() {
            Ok(expect)
        } else {
            Err(format!(
                "`{verdict}` takes no leak kinds, found `{}`",
                rest.join(" ")
            ))
        }
    };
    match verdict {
        "clean" => no_more(Expect::Clean),
        "oom" => no_more(Expect::Oom),
        "error" => no_more(Expect::Error),
        "leak" => rest
            .iter()
            .map(|word| word.parse::<LeakKind>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Expect::Leak),
        other => Err(format!(
            "expected `clean`, `leak <kind>...`, `oom` or `error`, found `{other}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_case_insensitive_and_fractions_round_down() {
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("1GIB"), Ok(1 << 30));
        assert_eq!(parse_size("0.1KiB"), Ok(102));
        assert_eq!(parse_size(".5KB"), Ok(500));
        assert_eq!(parse_size("7."), Ok(7));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert!(matches!(
            parse_size("18446744073709551616"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(parse_size("."), Err(SizeError::BadNumber(_))));
        assert!(matches!(
            parse_size("1".repeat(40).as_str()),
            Err(SizeError::BadNumber(_))
        ));
    }

    #[test]
    fn format_size_reads_back() {
        for bytes in [1, 1000, 1024, 1536, 24 << 30, u64::MAX, 5 << 40] {
            assert_eq!(parse_size(&header_size(bytes)), Ok(bytes), "{bytes}");
        }
        assert!(matches!(
            parse_size(&header_size(0)),
            Err(SizeError::Zero(_))
        ));
    }

    #[test]
    fn expect_prints_as_written() {
        let leak = Expect::Leak(vec![LeakKind::TensorList, LeakKind::MissingNoGrad]);
        assert_eq!(leak.to_string(), "leak tensor-list missing-no-grad");
        assert_eq!(parse_expect("leak tensor-list,missing-no-grad"), Ok(leak));
        assert_eq!("retained-graph".parse(), Ok(LeakKind::RetainedGraph));
    }
}
