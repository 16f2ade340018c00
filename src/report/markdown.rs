use std::collections::BTreeSet;
use std::fmt::Write;

use super::source::scenario_function;
use super::{
    exact_size, outcome, Breakdown, Fragmentation, Report, Verdict, LONG_EPOCH_ITERATIONS,
    SEGMENTS_SHOWN,
};
use crate::alloc::Frame;
use crate::base::format_size;

/// Most rows of the memory-over-iterations table; longer runs show their first and last rows.
const ITERATION_ROWS: usize = 24;

/// Renders a report as Markdown for a bug ticket: the outcome in plain words, versions and the
/// command, a table of leaks, the increment per iteration of every line involved, memory over
/// the iterations, allocation sites as scenario stacks, the scenario with the retaining lines
/// marked, and the fix. Rust stacks appear only for memory left after teardown, where the
/// runtime itself is at fault.
pub fn render_markdown(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}: `{}`\n", outcome(r), r.scenario);
    if let Some(d) = &r.description {
        let _ = writeln!(md, "{d}\n");
    }
    versions(&mut md, r);
    if let Some(command) = &r.command {
        let _ = writeln!(md, "Command:\n\n```sh\n{command}\n```\n");
    }
    if let Some(e) = &r.error {
        let _ = writeln!(md, "## Error\n\n```text\n{}\n```\n", e.message);
    }
    if let Some(oom) = &r.oom {
        let _ = writeln!(md, "## Out of memory\n\n```text\n{}\n```\n", oom.message);
        if let Some(at) = &oom.at {
            let _ = writeln!(
                md,
                "In `{}` at line {}: `{}`\n",
                scenario_function(&r.source, at.line),
                at.line,
                at.statement
            );
        }
        breakdown(&mut md, "Memory at the failure", &r.source, &oom.memory);
    }
    if !r.leaks.is_empty() {
        leaks(&mut md, r);
    }
    if !r.bounded_growth.is_empty() {
        let _ = writeln!(md, "## Bounded growth\n\nNot a leak: detached data an inner loop collects and an enclosing loop releases. Its peak grows with the epoch's length.\n\n| line | statement | per iteration | released by | after {LONG_EPOCH_ITERATIONS} iterations |\n|---|---|---|---|---|");
        for b in &r.bounded_growth {
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | line {} (`{}`) | {} |",
                b.retained_by.line,
                b.retained_by.statement,
                exact_size(b.bytes_per_iteration),
                b.released_by.line,
                b.released_by.statement,
                exact_size(b.projected_bytes)
            );
        }
        md.push('\n');
    }
    if !r.stale_allowances.is_empty() {
        let _ = writeln!(
            md,
            "## Stale allowances\n\nThese accept no leak any more; remove them.\n"
        );
        for a in &r.stale_allowances {
            let _ = writeln!(md, "- `{a}` ({})", a.from);
        }
        md.push('\n');
    }
    iterations(&mut md, r);
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
    let td = &r.after_teardown;
    let _ = writeln!(
        md,
        "## Memory\n\n| moment | allocated | reserved |\n|---|---|---|\n| baseline | {} | {} |\n| after scope exit | {} | {} |\n| after empty_cache | {} | {} |\n",
        exact_size(r.baseline.allocated),
        exact_size(r.baseline.reserved),
        exact_size(td.after_scope_exit.allocated),
        exact_size(td.after_scope_exit.reserved),
        exact_size(td.after_empty_cache.allocated),
        exact_size(td.after_empty_cache.reserved)
    );
    if let Some(missing) = td.driver_missing() {
        let _ = writeln!(
            md,
            "**Driver cross-check failed:** the driver reports {} less free memory after teardown and `empty_cache()` than before the scenario: device memory taken outside the caching allocator (valid only when one scenario runs on the GPU at a time).\n",
            signed_size(missing)
        );
    }
    breakdown(&mut md, "Peak", &r.source, &r.peak);
    if !td.live_blocks.is_empty() {
        let _ = writeln!(
            md,
            "## Memory left after teardown\n\nNothing in the program can reach these blocks: the runtime leaked them.\n\n| size | purpose | allocated at |\n|---|---|---|"
        );
        for b in &td.live_blocks {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                exact_size(b.size),
                b.purpose,
                b.location.as_deref().unwrap_or("outside the scenario")
            );
        }
        md.push('\n');
        if let Some(b) = td.live_blocks.iter().find(|b| !b.stack.is_empty()) {
            stack_block(
                &mut md,
                "Rust stack of the first block left behind",
                &b.stack,
            );
        }
    }
    if !r.output.is_empty() {
        let _ = writeln!(md, "## Output\n\n```text\n{}\n```\n", r.output.join("\n"));
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

fn versions(md: &mut String, r: &Report) {
    let env = &r.environment;
    let _ = writeln!(
        md,
        "| | |\n|---|---|\n| leakharness | {} |\n| backend | {} |\n| device | {} |",
        env.leakharness, r.backend, r.device
    );
    if let Some(v) = &env.cuda_driver {
        let _ = writeln!(md, "| CUDA (driver) | {v} |");
    }
    if let Some(v) = &env.nvrtc {
        let _ = writeln!(md, "| CUDA (NVRTC) | {v} |");
    }
    let _ = writeln!(
        md,
        "| OS | {} |\n| expected | {} |\n| verdict | **{}** |\n",
        env.os,
        r.expected,
        r.verdict.name()
    );
}

fn leaks(md: &mut String, r: &Report) {
    let _ = writeln!(
        md,
        "## Leaks\n\n| line | statement | kinds | per iteration | graph nodes / iteration |\n|---|---|---|---|---|"
    );
    for l in &r.leaks {
        let mut kinds: Vec<&str> = l.kinds.iter().map(|k| k.name()).collect();
        if l.allowed.is_some() {
            kinds.push("(allowed)");
        }
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} |",
            l.retained_by.line,
            l.retained_by.statement,
            kinds.join(", "),
            exact_size(l.bytes_per_iteration),
            l.graph_nodes_per_iteration
        );
    }
    // memory_profiler's habit: each line with what it adds per iteration.
    let _ = writeln!(
        md,
        "\n### Increment per iteration, by line\n\n| line | in | increment (device memory) | increment (graph nodes) | what the line does | code |\n|---|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    for l in &r.leaks {
        rows.push((
            l.retained_by.line,
            exact_size(l.bytes_per_iteration),
            l.graph_nodes_per_iteration.to_string(),
            "keeps the memory".to_string(),
            &l.retained_by.statement,
        ));
        for s in &l.alloc_sites {
            rows.push((
                s.at.line,
                exact_size(s.bytes),
                String::new(),
                format!(
                    "allocates it ({} block{}, {})",
                    s.count,
                    if s.count == 1 { "" } else { "s" },
                    s.purpose
                ),
                &s.at.statement,
            ));
        }
    }
    rows.sort_by_key(|row| row.0);
    for (line, bytes, nodes, what, code) in rows {
        let _ = writeln!(
            md,
            "| {line} | `{}` | {bytes} | {nodes} | {what} | `{code}` |",
            scenario_function(&r.source, line)
        );
    }
    md.push('\n');
    for (i, l) in r.leaks.iter().enumerate() {
        let _ = writeln!(md, "### Leak {} at line {}\n", i + 1, l.retained_by.line);
        if let Some(allowed) = &l.allowed {
            let _ = writeln!(md, "**Allowed:** {allowed}\n");
        }
        let _ = writeln!(md, "**Fix:** {}\n", l.help);
        if let (Some(loop_at), Some(projected)) = (&l.released_by, l.projected_bytes) {
            let _ = writeln!(
                md,
                "Released by each iteration of line {} (`{}`), but after {LONG_EPOCH_ITERATIONS} iterations of an epoch it holds {} and {} graph nodes at once.\n",
                loop_at.line,
                loop_at.statement,
                exact_size(projected),
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
        if let Some(f) = &l.fragmentation {
            fragmentation(md, f);
        }
        if !l.alloc_sites.is_empty() {
            let _ = writeln!(md, "Allocated at:\n\n```text");
            for s in &l.alloc_sites {
                let _ = writeln!(
                    md,
                    "{} per iteration ({}):\n  File \"{}\", line {}, in {}\n    {}",
                    exact_size(s.bytes),
                    s.purpose,
                    r.scenario,
                    s.at.line,
                    scenario_function(&r.source, s.at.line).trim_end_matches("()"),
                    s.at.statement
                );
            }
            let _ = writeln!(md, "```\n");
        }
    }
}

/// The segments of a `fragmentation` leak: a table of the ones with the most cached free bytes.
fn fragmentation(md: &mut String, f: &Fragmentation) {
    let _ = writeln!(
        md,
        "Segments with the loop doubled, at its end: {}; {} of reserved memory was never in use at once.\n",
        f.summary(),
        exact_size(f.never_used_at_once())
    );
    let _ = writeln!(
        md,
        "| segment | pool | allocated | free blocks | opened by |\n|---|---|---|---|---|"
    );
    for s in f.shown() {
        let free: Vec<String> = s.free_blocks.iter().map(|&b| format_size(b)).collect();
        let opened = s.opened_by.as_ref().map_or(String::new(), |at| {
            format!("line {} `{}`", at.line, at.statement)
        });
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {opened} |",
            exact_size(s.size),
            s.pool,
            exact_size(s.allocated),
            free.join(", ")
        );
    }
    if f.segments.len() > SEGMENTS_SHOWN {
        let _ = writeln!(
            md,
            "\n{} more segments are in the JSON report.",
            f.segments.len() - SEGMENTS_SHOWN
        );
    }
    md.push('\n');
}

fn iterations(md: &mut String, r: &Report) {
    if r.iterations.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Memory over iterations\n\nAt the end of each loop iteration.\n\n| loop (line) | iteration | allocated | change | reserved | graph nodes |\n|---|---|---|---|---|---|"
    );
    let n = r.iterations.len();
    let mut previous = r.baseline.allocated;
    for (i, p) in r.iterations.iter().enumerate() {
        let change = p.allocated as i64 - previous as i64;
        previous = p.allocated;
        let shown = n <= ITERATION_ROWS || i < ITERATION_ROWS / 2 || i >= n - ITERATION_ROWS / 2;
        if !shown {
            if i == ITERATION_ROWS / 2 {
                let _ = writeln!(md, "| … | {} more | | | | |", n - ITERATION_ROWS);
            }
            continue;
        }
        let index: Vec<String> = p.index.iter().map(u32::to_string).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            p.loop_line,
            index.join("/"),
            format_size(p.allocated),
            signed_size(change),
            format_size(p.reserved),
            p.graph_nodes
        );
    }
    md.push('\n');
}

/// A change in bytes with its sign; exact bytes from a KiB up, since a per-iteration change is
/// what a reader compares.
fn signed_size(change: i64) -> String {
    match change {
        0 => "0".into(),
        c if c > 0 => format!("+{}", exact_size(c as u64)),
        c => format!("-{}", exact_size(c.unsigned_abs())),
    }
}

fn breakdown(md: &mut String, title: &str, source: &str, b: &Breakdown) {
    let _ = writeln!(
        md,
        "### {title}: {} allocated\n\n| purpose | size |\n|---|---|",
        exact_size(b.allocated)
    );
    for (purpose, bytes) in &b.by_purpose {
        let _ = writeln!(md, "| {purpose} | {} |", format_size(*bytes));
    }
    if !b.by_statement.is_empty() {
        let _ = writeln!(md, "\n| line | in | statement | size |\n|---|---|---|---|");
        for s in &b.by_statement {
            let _ = writeln!(
                md,
                "| {} | `{}` | `{}` | {} |",
                s.at.line,
                scenario_function(source, s.at.line),
                s.at.statement,
                format_size(s.bytes)
            );
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
