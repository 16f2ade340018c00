//! `--junit FILE`: one JUnit XML test case per scenario, as CI systems (GitHub Actions
//! reporters, GitLab, Jenkins) read them; a failure's text is the human summary.

use std::fmt::Write;

/// How one scenario ended, for JUnit.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseResult {
    /// It met its expectation.
    Passed,
    /// It did not: `message` is the outcome in words, `text` the human summary.
    Failed {
        /// One line.
        message: String,
        /// The details.
        text: String,
    },
    /// It could not be checked (invalid file, no device).
    Error {
        /// One line.
        message: String,
        /// The details.
        text: String,
    },
    /// It was skipped, and why.
    Skipped(String),
}

/// One test case: a scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    /// The scenario's path, as the test's name.
    pub name: String,
    /// Seconds it took.
    pub seconds: f64,
    /// How it ended.
    pub result: CaseResult,
}

/// The JUnit XML of a run: one `<testsuite>` named `suite`, one `<testcase>` per scenario.
pub fn render_junit(suite: &str, cases: &[JunitCase]) -> String {
    let count = |f: fn(&CaseResult) -> bool| cases.iter().filter(|c| f(&c.result)).count();
    let failures = count(|r| matches!(r, CaseResult::Failed { .. }));
    let errors = count(|r| matches!(r, CaseResult::Error { .. }));
    let skipped = count(|r| matches!(r, CaseResult::Skipped(_)));
    let seconds: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let totals = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{seconds:.3}\"",
        cases.len()
    );
    let suite = escape(suite, true);
    let _ = writeln!(xml, "<testsuites name=\"{suite}\" {totals}>");
    let _ = writeln!(xml, "  <testsuite name=\"{suite}\" {totals}>");
    for c in cases {
        let _ = write!(
            xml,
            "    <testcase name=\"{}\" classname=\"{suite}\" time=\"{:.3}\"",
            escape(&c.name, true),
            c.seconds
        );
        match &c.result {
            CaseResult::Passed => xml.push_str("/>\n"),
            CaseResult::Failed { message, text } => {
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\" type=\"leakharness\">{}</failure>\n    </testcase>",
                    escape(message, true),
                    escape(text, false)
                );
            }
            CaseResult::Error { message, text } => {
                let _ = writeln!(
                    xml,
                    ">\n      <error message=\"{}\" type=\"leakharness\">{}</error>\n    </testcase>",
                    escape(message, true),
                    escape(text, false)
                );
            }
            CaseResult::Skipped(reason) => {
                let _ = writeln!(
                    xml,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(reason, true)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Text as XML 1.0 character data or attribute value: markup characters escaped, and the
/// control characters XML 1.0 cannot carry at all (a scenario may print anything) dropped.
fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // In an attribute a raw line break would be read back as a space.
            '\n' if attribute => out.push_str("&#10;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_cannot_break_the_document() {
        let xml = render_junit(
            "s",
            &[JunitCase {
                name: "a<b>&\"c\".py".into(),
                seconds: 0.5,
                result: CaseResult::Failed {
                    message: "Unexpected leak".into(),
                    text: "x < y\u{1b}[31m".into(),
                },
            }],
        );
        assert!(
            xml.contains("name=\"a&lt;b&gt;&amp;&quot;c&quot;.py\""),
            "{xml}"
        );
        assert!(xml.contains(">x &lt; y[31m</failure>"), "{xml}");
        assert!(xml.contains("tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\""));
    }
}
