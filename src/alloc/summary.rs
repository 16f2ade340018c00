//! Human-readable sizes and the `torch.cuda.memory_summary()` table.

use super::stats::{MemoryStats, Stat, StatArray};

/// `_format_size` of torch/cuda/memory.py: integer division down to the unit at which the
/// row's reference value falls under 768 of it.
fn summary_size(value: i64, reference: i64) -> String {
    const PREFIXES: [&str; 6] = ["B  ", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = value;
    let mut reference = reference as f64;
    let mut prefix = PREFIXES[0];
    for next in &PREFIXES[1..] {
        if reference < 768.0 * 1024.0 {
            break;
        }
        prefix = next;
        value = value.div_euclid(1024);
        reference /= 1024.0;
    }
    format!("{value:6} {prefix}")
}

/// `_format_count` of torch/cuda/memory.py.
fn summary_count(value: i64, reference: i64) -> String {
    const PREFIXES: [&str; 3] = [" ", "K", "M"];
    let mut value = value;
    let mut reference = reference as f64;
    let mut prefix = PREFIXES[0];
    for next in &PREFIXES[1..] {
        if reference < 750.0 * 1000.0 {
            break;
        }
        prefix = next;
        value = value.div_euclid(1000);
        reference /= 1000.0;
    }
    format!("{value:7} {prefix} ")
}

type Formatter = fn(i64, i64) -> String;

fn stat_row(name: &str, s: &Stat, refs: &Stat, fmt: Formatter) -> String {
    format!(
        " {name:<21} | {} | {} | {} | {} ",
        fmt(s.current, refs.current),
        fmt(s.peak, refs.peak),
        fmt(s.allocated, refs.allocated),
        fmt(s.freed, refs.freed)
    )
}

/// The table `torch.cuda.memory_summary(abbreviated=...)` prints, line for line.
pub fn memory_summary(stats: &MemoryStats, device: u32, abbreviated: bool) -> String {
    let metrics: [(&str, &StatArray, Formatter); 9] = [
        ("Allocated memory", &stats.allocated_bytes, summary_size),
        ("Active memory", &stats.active_bytes, summary_size),
        ("Requested memory", &stats.requested_bytes, summary_size),
        ("GPU reserved memory", &stats.reserved_bytes, summary_size),
        (
            "Non-releasable memory",
            &stats.inactive_split_bytes,
            summary_size,
        ),
        ("Allocations", &stats.allocation, summary_count),
        ("Active allocs", &stats.active, summary_count),
        ("GPU reserved segments", &stats.segment, summary_count),
        (
            "Non-releasable allocs",
            &stats.inactive_split,
            summary_count,
        ),
    ];
    let rule = |c: &str| c.repeat(75);
    let mut lines = vec![
        rule("="),
        format!(
            " {:16} PyTorch CUDA memory summary, device ID {device:<17} ",
            ""
        ),
        rule("-"),
        format!(
            "  {:9} CUDA OOMs: {:<12} | {:6} cudaMalloc retries: {:<8}  ",
            "", stats.num_ooms, "", stats.num_alloc_retries
        ),
        rule("="),
        "        Metric         | Cur Usage  | Peak Usage | Tot Alloc  | Tot Freed  ".to_string(),
    ];
    for (name, arr, fmt) in metrics {
        lines.push(rule("-"));
        lines.push(stat_row(name, &arr.all, &arr.all, fmt));
        if !abbreviated {
            lines.push(stat_row(
                "      from large pool",
                &arr.large_pool,
                &arr.all,
                fmt,
            ));
            lines.push(stat_row(
                "      from small pool",
                &arr.small_pool,
                &arr.all,
                fmt,
            ));
        }
    }
    for (name, s) in [
        ("Oversize allocations", &stats.oversize_allocations),
        ("Oversize GPU segments", &stats.oversize_segments),
    ] {
        lines.push(rule("-"));
        lines.push(stat_row(name, s, s, summary_count));
    }
    lines.push(rule("="));
    format!("|{}|\n", lines.join("|\n|"))
}
