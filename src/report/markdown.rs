use std::collections::BTreeSet;
use std::fmt::Write;

use super::{Breakdown, Report, Verdict, LONG_EPOCH_ITERATIONS};
use crate::alloc::Frame;
use crate::base::format_size;

/// Renders a report as Markdown for a bug ticket: the verdict, a table of leaks, the scenario
/// with the retaining lines marked, retention paths, fixes, and one symbolized Rust stack per
/// allocation site in a collapsible block.
pub fn render_markdown(r: &Report) -> String {
    let mut md = String::new();
    let status = if r.passed { "passed" } else { "FAILED" };
    let _ = writeln!(
        md,
        "# leakharness: `{}` — {} ({status})\n",
        r.scenario,
        r.verdict.name()
    );
    if let Some(d) = &r.description {
        let _ = writeln!(md, "{d}\n");
    }
    let _ = writeln!(
        md,
        "| backend | device | expected | verdict |\n|---|---|---|---|\n| {} | {} | {} | **{}** |\n",
        r.backend,
        r.device,
        r.expected,
        r.verdict.name()
    );
    if let Some(e) = &r.error {
        let _ = writeln!(md, "## Error\n\n```text\n{}\n```\n", e.message);
    }
    if let Some(oom) = &r.oom {
        let _ = writeln!(md, "## Out of memory\n\n```text\n{}\n```\n", oom.message);
        if let Some(at) = &oom.at {
            let _ = writeln!(md, "At line {}: `{}`\n", at.line, at.statement);
        }
        breakdown(&mut md, "Memory at the failure", &oom.memory);
    }
    if !r.leaks.is_empty() {
        let _ = writeln!(md, "## Leaks\n\n| line | statement | kinds | per iteration | graph nodes / iteration |\n|---|---|---|---|---|");
        for l in &r.leaks {
            let kinds: Vec<&str> = l.kinds.iter().map(|k| k.name()).collect();
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} |",
                l.retained_by.line,
                l.retained_by.statement,
                kinds.join(", "),
                format_size(l.bytes_per_iteration),
                l.graph_nodes_per_iteration
            );
        }
        md.push('\n');
        for (i, l) in r.leaks.iter().enumerate() {
            let _ = writeln!(md, "### Leak {} at line {}\n", i + 1, l.retained_by.line);
            let _ = writeln!(md, "**Fix:** {}\n", l.help);
            if let (Some(loop_at), Some(projected)) = (&l.released_by, l.projected_bytes) {
                let _ = writeln!(
                    md,
                    "Released by each iteration of line {} (`{}`), but after {LONG_EPOCH_ITERATIONS} iterations of an epoch it holds {} and {} graph nodes at once.\n",
                    loop_at.line,
                    loop_at.statement,
                    format_size(projected),
                    l.graph_nodes_per_iteration * LONG_EPOCH_ITERATIONS
                );
            }
            if !l.retention_path.is_empty() {
                let _ = writeln!(
                    md,
                    "Held by:\n\n```text\n{}\n```\n",
                    l.retention_path.join("\n  → ")
                );
            }
            if !l.alloc_sites.is_empty() {
                let _ = writeln!(md, "| allocated at | statement | bytes / iteration | blocks / iteration | purpose |\n|---|---|---|---|---|");
                for s in &l.alloc_sites {
                    let _ = writeln!(
                        md,
                        "| line {} | `{}` | {} | {} | {} |",
                        s.at.line,
                        s.at.statement,
                        format_size(s.bytes),
                        s.count,
                        s.purpose
                    );
                }
                md.push('\n');
                for s in l.alloc_sites.iter().filter(|s| !s.stack.is_empty()) {
                    stack_block(
                        &mut md,
                        &format!("Rust stack of an allocation at line {}", s.at.line),
                        &s.stack,
                    );
                }
            }
        }
    }
    if !r.bounded_growth.is_empty() {
        let _ = writeln!(md, "## Bounded growth\n\nNot a leak: detached data an inner loop collects and an enclosing loop releases. Its peak grows with the epoch's length.\n\n| line | statement | per iteration | released by | after {LONG_EPOCH_ITERATIONS} iterations |\n|---|---|---|---|---|");
        for b in &r.bounded_growth {
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | line {} (`{}`) | {} |",
                b.retained_by.line,
                b.retained_by.statement,
                format_size(b.bytes_per_iteration),
                b.released_by.line,
                b.released_by.statement,
                format_size(b.projected_bytes)
            );
        }
        md.push('\n');
    }
    let marked: BTreeSet<u32> = r.leaks.iter().map(|l| l.retained_by.line).collect();
    if !r.source.is_empty() {
        let _ = writeln!(md, "## Scenario\n\n```text");
        for (i, line) in r.source.lines().enumerate() {
            let n = i as u32 + 1;
            let mark = if marked.contains(&n) { ">>" } else { "  " };
            let _ = writeln!(md, "{mark} {n:>4} | {line}");
        }
        let _ = writeln!(md, "```\n");
    }
    let _ = writeln!(
        md,
        "## Memory\n\n| moment | allocated | reserved |\n|---|---|---|\n| baseline | {} | {} |\n| after scope exit | {} | {} |\n| after empty_cache | {} | {} |\n",
        r.baseline.allocated,
        r.baseline.reserved,
        r.after_teardown.after_scope_exit.allocated,
        r.after_teardown.after_scope_exit.reserved,
        r.after_teardown.after_empty_cache.allocated,
        r.after_teardown.after_empty_cache.reserved
    );
    if let Some(missing) = r.after_teardown.driver_missing() {
        let _ = writeln!(
            md,
            "**Driver cross-check failed:** the driver reports {missing} bytes less free memory after teardown and `empty_cache()` than before the scenario: device memory taken outside the caching allocator (valid only when one scenario runs on the GPU at a time).\n"
        );
    }
    breakdown(&mut md, "Peak", &r.peak);
    if !r.after_teardown.live_blocks.is_empty() {
        let _ = writeln!(
            md,
            "## Memory left after teardown\n\n| size | purpose | allocated at |\n|---|---|---|"
        );
        for b in &r.after_teardown.live_blocks {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                b.size,
                b.purpose,
                b.location.as_deref().unwrap_or("outside the scenario")
            );
        }
        md.push('\n');
        if let Some(b) = r
            .after_teardown
            .live_blocks
            .iter()
            .find(|b| !b.stack.is_empty())
        {
            stack_block(
                &mut md,
                "Rust stack of the first block left behind",
                &b.stack,
            );
        }
    }
    if !r.output.is_empty() {
        let _ = writeln!(md, "## Output\n\n```text\n{}\n```", r.output.join("\n"));
    }
    if r.verdict == Verdict::BoundedGrowth {
        let _ = writeln!(
            md,
            "No leak: what grows is released by an enclosing loop and holds no graph; teardown returned to the baseline."
        );
    }
    if r.verdict == Verdict::Clean && r.leaks.is_empty() {
        let _ = writeln!(
            md,
            "No growth across iterations, and teardown returned to the baseline."
        );
    }
    md
}

fn breakdown(md: &mut String, title: &str, b: &Breakdown) {
    let _ = writeln!(
        md,
        "### {title}: {} allocated\n\n| purpose | bytes |\n|---|---|",
        format_size(b.allocated)
    );
    for (purpose, bytes) in &b.by_purpose {
        let _ = writeln!(md, "| {purpose} | {bytes} |");
    }
    if !b.by_statement.is_empty() {
        let _ = writeln!(md, "\n| line | statement | bytes |\n|---|---|---|");
        for s in &b.by_statement {
            let _ = writeln!(md, "| {} | `{}` | {} |", s.at.line, s.at.statement, s.bytes);
        }
    }
    md.push('\n');
}

fn stack_block(md: &mut String, title: &str, frames: &[Frame]) {
    let _ = writeln!(md, "<details><summary>{title}</summary>\n\n```text");
    for f in frames {
        match (&f.file, f.line) {
            (Some(file), Some(line)) => {
                let _ = writeln!(md, "{}\n    at {file}:{line}", f.function);
            }
            _ => {
                let _ = writeln!(md, "{}", f.function);
            }
        }
    }
    let _ = writeln!(md, "```\n\n</details>\n");
}
