//! Header comments: `#@ key: value` lines at the top of a scenario, before the first statement.
//!
//! They carry what the scenario expects and how to run it, in the style of compiler UI tests.
//! Header lines are ordinary comments, so the file still runs unchanged under PyTorch.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ast::Span;
use super::error::ScenarioError;
use crate::alloc::AllocatorConfig;
use crate::base::{parse_size, Expect, LeakKind};

/// The header keys, in the order the printer writes them.
pub const HEADER_KEYS: [&str; 7] = [
    "expect",
    "device-memory",
    "max-steps",
    "backend",
    "iterations",
    "alloc-conf",
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
    /// `#@ alloc-conf:` — the caching allocator's options, as `PYTORCH_CUDA_ALLOC_CONF` would
    /// give them (`max_split_size_mb:128,garbage_collection_threshold:0.6`), kept as written;
    /// checked when the header is read, so [`Header::allocator_config`] cannot fail.
    #[serde(default)]
    pub alloc_conf: Option<String>,
    /// `#@ allow:` — accepted leaks, one a line ([`crate::report::Allowance`]).
    #[serde(default)]
    pub allow: Vec<crate::report::Allowance>,
    /// The first plain `# ...` comment line of the header, without the `#`.
    pub description: Option<String>,
}

impl Header {
    /// The allocator options of `#@ alloc-conf:`; PyTorch's defaults when absent.
    pub fn allocator_config(&self) -> AllocatorConfig {
        self.alloc_conf
            .as_deref()
            .and_then(|text| text.parse().ok())
            .unwrap_or_default()
    }
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
        let error = |col: usize, message: String| {
            ScenarioError::with_source_line(path, at(col), raw_line, message)
        };
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
            "alloc-conf" => match value.parse::<AllocatorConfig>() {
                Ok(_) => {
                    header.alloc_conf = Some(value.to_string());
                    Ok(())
                }
                Err(e) => {
                    let col = value_offset + value.get(..e.offset).map_or(0, |s| s.chars().count());
                    errors.push(
                        error(col, format!("bad value for `alloc-conf`: {}", e.message))
                            .with_help("write options as PYTORCH_CUDA_ALLOC_CONF takes them, e.g. `max_split_size_mb:128,roundup_power2_divisions:4`"),
                    );
                    seen.push(key);
                    continue;
                }
            },
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
        "bounded-growth" => no_more(Expect::BoundedGrowth),
        "oom" => no_more(Expect::Oom),
        "error" => no_more(Expect::Error),
        "leak" => rest
            .iter()
            .map(|word| word.parse::<LeakKind>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Expect::Leak),
        other => Err(format!(
            "expected `clean`, `bounded-growth`, `leak <kind>...`, `oom` or `error`, found `{other}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_prints_as_written() {
        let leak = Expect::Leak(vec![LeakKind::TensorList, LeakKind::MissingNoGrad]);
        assert_eq!(leak.to_string(), "leak tensor-list missing-no-grad");
        assert_eq!(parse_expect("leak tensor-list,missing-no-grad"), Ok(leak));
        assert_eq!("retained-graph".parse(), Ok(LeakKind::RetainedGraph));
    }
}
