use std::fmt::Write;

use super::{exact_size, Report, StatementRef, Verdict, LONG_EPOCH_ITERATIONS};
use crate::base::format_size;

/// The short human report of a scenario that did not meet its expectation (or of a leak that
/// did): what was expected and found, each leak's line with its kinds, growth and fix, and the
/// error, if any. The CLI and `cargo test` print this.
pub fn human_summary(r: &Report) -> String {
    let mut out = String::new();
    if !r.passed {
        let _ = writeln!(out, "  expected {}, found {}", r.expected, r.verdict.name());
    }
    for l in &r.leaks {
        let kinds: Vec<&str> = l.kinds.iter().map(|k| k.name()).collect();
        let kinds = if kinds.is_empty() {
            "held by nothing the program names".to_string()
        } else {
            kinds.join(", ")
        };
        let _ = writeln!(
            out,
            "  {}:{}:{}: {}",
            r.scenario, l.retained_by.line, l.retained_by.column, l.retained_by.statement
        );
        let _ = writeln!(
            out,
            "    {kinds}: {} and {} graph node{} per iteration",
            exact_size(l.bytes_per_iteration),
            l.graph_nodes_per_iteration,
            if l.graph_nodes_per_iteration == 1 {
                ""
            } else {
                "s"
            }
        );
        if let (Some(loop_at), Some(projected)) = (&l.released_by, l.projected_bytes) {
            let _ = writeln!(
                out,
                "    {}",
                released(
                    loop_at,
                    projected,
                    l.graph_nodes_per_iteration * LONG_EPOCH_ITERATIONS
                )
            );
        }
        if !l.retention_path.is_empty() {
            let _ = writeln!(out, "    held by {}", l.retention_path.join(" → "));
        }
        if let Some(f) = &l.fragmentation {
            let _ = writeln!(
                out,
                "    segments with the loop doubled: {}; {} reserved was never in use at once",
                f.summary(),
                exact_size(f.never_used_at_once())
            );
            for line in f.segment_lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
        if let Some(allowed) = &l.allowed {
            let _ = writeln!(out, "    {allowed}");
        }
        let _ = writeln!(out, "    help: {}", l.help);
    }
    for a in &r.stale_allowances {
        let _ = writeln!(
            out,
            "  stale allowance, it accepts no leak any more (remove it): {a} ({})",
            a.from
        );
    }
    for b in &r.bounded_growth {
        let _ = writeln!(
            out,
            "  {}:{}:{}: {}",
            r.scenario, b.retained_by.line, b.retained_by.column, b.retained_by.statement
        );
        let _ = writeln!(
            out,
            "    note: bounded growth, not a leak: {} of detached data per iteration",
            format_size(b.bytes_per_iteration)
        );
        let _ = writeln!(
            out,
            "    {}",
            released(&b.released_by, b.projected_bytes, 0)
        );
        if !b.retention_path.is_empty() {
            let _ = writeln!(out, "    held by {}", b.retention_path.join(" → "));
        }
    }
    let td = &r.after_teardown;
    if !td.live_blocks.is_empty() {
        let _ = writeln!(
            out,
            "  teardown left {} allocated and {} reserved (baseline {} and {}): {} block{} nothing can reach",
            exact_size(td.after_empty_cache.allocated),
            exact_size(td.after_empty_cache.reserved),
            exact_size(r.baseline.allocated),
            exact_size(r.baseline.reserved),
            td.live_blocks.len(),
            if td.live_blocks.len() == 1 { "" } else { "s" }
        );
    }
    if let Some(missing) = td.driver_missing() {
        let _ = writeln!(
            out,
            "  the driver reports {missing} bytes less free memory after teardown and empty_cache than before the scenario: device memory taken outside the caching allocator (valid only when one scenario runs on the GPU at a time)"
        );
    }
    if let Some(e) = &r.error {
        for line in e.message.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    if r.verdict == Verdict::Oom {
        if let Some(oom) = &r.oom {
            let parts: Vec<String> = oom
                .memory
                .by_purpose
                .iter()
                .map(|(p, b)| format!("{p} {}", format_size(*b)))
                .collect();
            let _ = writeln!(out, "  memory at the failure: {}", parts.join(", "));
        }
    }
    out
}

/// Which loop releases a growth, and what it holds by then in a long epoch: bytes, and graph
/// nodes when there are any.
fn released(loop_at: &StatementRef, projected: u64, nodes: u64) -> String {
    let nodes = match nodes {
        0 => String::new(),
        n => format!(" and {} graph nodes", thousands(n)),
    };
    format!(
        "released by each iteration of line {} `{}`; after {} iterations it holds {}{nodes}",
        loop_at.line,
        loop_at.statement,
        thousands(LONG_EPOCH_ITERATIONS),
        format_size(projected)
    )
}

/// `10000` as `10,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
