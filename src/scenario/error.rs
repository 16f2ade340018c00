//! Errors that point into a scenario file.
//!
//! Rendering follows rustc, with the location first so that editors and terminals can jump to it:
//!
//! ```text
//! scenarios/x.py:3:1: error: a `while` loop is not supported in scenarios
//!   |
//! 3 | while True:
//!   | ^
//!   = help: write the loop as `for i in range(n):`
//! ```
//!
//! The gutter is as wide as the line number; the caret sits under the reported column; the
//! `= help:` line appears only when there is a hint. Several errors are separated by a blank line.

use std::fmt;
use std::path::PathBuf;

use super::ast::Span;

/// One problem in a scenario file, at a line and column.
///
/// Produced by the parser for syntax and subset errors, and meant to be produced by the
/// interpreter too (name errors, type errors, shape mismatches) so that every error a user sees
/// looks the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The scenario file, as given by the caller.
    pub path: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// What is wrong, without location.
    pub message: String,
    /// The text of the line at `line`, without its line ending.
    pub source_line: String,
    /// What to write instead, if there is a useful hint.
    pub help: Option<String>,
    /// For errors raised while running: the scenario frames the exception passed through,
    /// outermost first, each as `path:line:col in function(): source line` (Python's traceback,
    /// innermost last). Empty for errors found before running.
    pub traceback: Vec<String>,
}

impl ScenarioError {
    /// An error at the start of `span` in `source`, the text of the file at `path`.
    ///
    /// ```
    /// use leakharness::scenario::{ScenarioError, Span};
    ///
    /// let span = Span { line: 1, col: 5, end_line: 1, end_col: 6 };
    /// let err = ScenarioError::new("x.py", span, "y = z + 1\n", "name `z` is not defined")
    ///     .with_help("assign `z` before using it");
    /// assert!(err.to_string().starts_with("x.py:1:5: error: name `z` is not defined"));
    /// ```
    pub fn new(
        path: impl Into<PathBuf>,
        span: Span,
        source: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        let source_line = span
            .line
            .checked_sub(1)
            .and_then(|index| source.lines().nth(index as usize))
            .unwrap_or("");
        ScenarioError::with_source_line(path, span, source_line, message)
    }

    /// An error whose line the caller has already found (the parser's line index), so that a
    /// file with many errors is not rescanned for each.
    pub(crate) fn with_source_line(
        path: impl Into<PathBuf>,
        span: Span,
        source_line: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            path: path.into(),
            line: span.line,
            col: span.col,
            message: message.into(),
            source_line: source_line.to_string(),
            help: None,
            traceback: Vec::new(),
        }
    }

    /// The same error with a hint saying what to write instead.
    pub fn with_help(mut self, help: impl Into<String>) -> ScenarioError {
        self.help = Some(help.into());
        self
    }

    /// Attaches the traceback of a run-time error (see [`ScenarioError::traceback`]).
    pub fn with_traceback(mut self, traceback: Vec<String>) -> ScenarioError {
        self.traceback = traceback;
        self
    }
}

/// `text` with every control character but the tab written as Python writes it in a `repr`
/// (`\x1b`, `\x85`): scenario text reaches terminals, and an escape sequence in it must show as
/// text rather than drive the terminal.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() && c != '\t'
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write as _;
    if needs_escape(c) {
        let _ = write!(out, "\\x{:02x}", u32::from(c));
    } else {
        out.push(c);
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: error: {}",
            escape_control(&self.path.display().to_string()),
            self.line,
            self.col,
            escape_control(&self.message)
        )?;
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {}", escape_control(&self.source_line))?;
        // Copy tabs from the source line so the caret lines up however wide the terminal draws
        // them, and count an escaped character as wide as its escape.
        let mut pad = String::new();
        for c in self
            .source_line
            .chars()
            .take(self.col.saturating_sub(1) as usize)
        {
            let before = pad.len();
            push_escaped(&mut pad, c);
            if c != '\t' {
                let width = pad[before..].chars().count();
                pad.truncate(before);
                pad.extend(std::iter::repeat_n(' ', width));
            }
        }
        write!(f, "{gutter} | {pad}^")?;
        // One frame is the line above; a traceback says more only with two or more.
        if self.traceback.len() > 1 {
            write!(f, "\n{gutter} = traceback (most recent call last):")?;
            for line in &self.traceback {
                write!(f, "\n{gutter}     {}", escape_control(line))?;
            }
        }
        if let Some(help) = &self.help {
            write!(f, "\n{gutter} = help: {}", escape_control(help))?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// All the problems found in one scenario file, in source order; never empty when returned as
/// an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_all(.0))]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

fn render_all(errors: &[ScenarioError]) -> String {
    errors
        .iter()
        .map(ScenarioError::to_string)
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl ScenarioErrors {
    /// The errors, in source order.
    pub fn errors(&self) -> &[ScenarioError] {
        &self.0
    }
}

impl From<ScenarioError> for ScenarioErrors {
    fn from(error: ScenarioError) -> ScenarioErrors {
        ScenarioErrors(vec![error])
    }
}

/// Why [`load`](super::load) could not produce a scenario.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: error: cannot read scenario: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid scenario.
    #[error(transparent)]
    Invalid(#[from] ScenarioErrors),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32, col: u32) -> Span {
        Span {
            line,
            col,
            end_line: line,
            end_col: col,
        }
    }

    #[test]
    fn caret_copies_tabs_so_it_lines_up() {
        let err = ScenarioError::new("a.py", at(2, 3), "x\n\tab\n", "bad");
        assert_eq!(
            err.to_string(),
            "a.py:2:3: error: bad\n  |\n2 | \tab\n  | \t ^"
        );
    }

    #[test]
    fn control_characters_are_escaped_and_the_caret_still_lines_up() {
        let err = ScenarioError::new("a.py", at(1, 3), "\x1b[2Jx = 1\n", "bad \x07");
        assert_eq!(
            err.to_string(),
            "a.py:1:3: error: bad \\x07\n  |\n1 | \\x1b[2Jx = 1\n  |      ^"
        );
    }

    #[test]
    fn gutter_grows_with_the_line_number() {
        let source = "\n".repeat(11) + "y\n";
        let err = ScenarioError::new("a.py", at(12, 1), &source, "bad").with_help("fix it");
        assert_eq!(
            err.to_string(),
            "a.py:12:1: error: bad\n   |\n12 | y\n   | ^\n   = help: fix it"
        );
    }

    #[test]
    fn lines_outside_the_source_render_empty() {
        let err = ScenarioError::new("a.py", at(0, 0), "x\n", "bad");
        assert_eq!(err.source_line, "");
        let err = ScenarioError::new("a.py", at(9, 1), "x\n", "bad");
        assert_eq!(err.source_line, "");
    }

    #[test]
    fn several_errors_are_separated_by_a_blank_line() {
        let one = ScenarioError::new("a.py", at(1, 1), "x\n", "bad");
        let errors = ScenarioErrors(vec![one.clone(), one]);
        assert_eq!(
            errors.to_string(),
            "a.py:1:1: error: bad\n  |\n1 | x\n  | ^\n\na.py:1:1: error: bad\n  |\n1 | x\n  | ^"
        );
    }
}
