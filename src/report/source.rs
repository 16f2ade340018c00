//! The scenario as the user wrote it: which function a line is in, for stacks a Python user
//! reads (`Net.forward()` rather than the interpreter's Rust frames).

/// The scenario function around `line` (1-based), as Python's tracebacks name its scope:
/// its `__qualname__` with call parentheses on a function: `train()`, `Net.forward()`,
/// `train.<locals>.inner()`, `Net` for a class body, `<module>` at top level. Read from the
/// indentation of the source, the way Python itself nests blocks.
pub fn scenario_function(source: &str, line: u32) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let Some(at) = (line as usize).checked_sub(1).filter(|&i| i < lines.len()) else {
        return "<module>".into();
    };
    let mut indent = indentation(lines[at]);
    let mut scopes = Vec::new();
    for text in lines[..at].iter().rev() {
        let trimmed = text.trim_start();
        if indent == 0 {
            break;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || indentation(text) >= indent {
            continue;
        }
        indent = indentation(text);
        let header = trimmed.strip_prefix("async ").unwrap_or(trimmed);
        if let Some(rest) = header.strip_prefix("def ") {
            scopes.push((name(rest), true));
        } else if let Some(rest) = header.strip_prefix("class ") {
            scopes.push((name(rest), false));
        }
    }
    scopes.reverse();
    let mut qualname = String::new();
    for (i, (scope, _)) in scopes.iter().enumerate() {
        if i > 0 {
            // Python's qualname marks what is defined inside a function.
            qualname.push_str(if scopes[i - 1].1 { ".<locals>." } else { "." });
        }
        qualname.push_str(scope);
    }
    match scopes.last() {
        None => "<module>".into(),
        Some((_, true)) => qualname + "()",
        Some((_, false)) => qualname,
    }
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn name(rest: &str) -> &str {
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::scenario_function;

    const SOURCE: &str = "import torch\n\nclass Net(nn.Module):\n    scale = 2\n\n    def forward(self, x):\n        # comment\n        return self.body(x)\n\n\ndef train(model):\n    for step in range(3):\n        loss = model(x)\n\n    def inner():\n        return 1\n    return loss\n\nhistory = train(Net())\n";

    #[test]
    fn names_the_scope_of_each_line_as_a_traceback_would() {
        let at = |line| scenario_function(SOURCE, line);
        assert_eq!(at(1), "<module>");
        assert_eq!(at(4), "Net");
        assert_eq!(at(8), "Net.forward()");
        assert_eq!(at(13), "train()");
        assert_eq!(at(16), "train.<locals>.inner()");
        assert_eq!(at(17), "train()");
        assert_eq!(at(19), "<module>");
        assert_eq!(at(99), "<module>");
    }
}
