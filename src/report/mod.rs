//! Leak reports: one per scenario run, as versioned JSON for machines and CI artifacts, as
//! Markdown for bug tickets and as a self-contained HTML page, written atomically; and the
//! exports other tools open (`docs/report-formats.md`): a PyTorch memory snapshot, Chrome trace
//! events, JUnit XML and a JSON-lines event stream.

mod allow;
mod fragmentation;
mod html;
mod human;
mod jsonl;
mod junit;
mod markdown;
mod snapshot;
mod source;
mod trace;
mod write;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use allow::{config_allowances, Allowance, ConfigError};
pub use fragmentation::{Fragmentation, SegmentUse, SEGMENTS_SHOWN};
pub use html::{render_html, render_index};
pub use human::human_summary;
pub use jsonl::report_events;
pub use junit::{render_junit, CaseResult, JunitCase};
pub use markdown::render_markdown;
pub use snapshot::{memory_snapshot, snapshot_pickle};
pub use source::scenario_function;
pub use trace::trace_events;
pub use write::{
    remove_stale_temporaries, write_atomically, write_reports, ReportPaths, WriteError,
};

use crate::alloc::{Event, Frame};
use crate::base::format_size;
pub use crate::base::{LeakKind, Verdict};
use crate::device::Backend;

/// Version of the JSON layout; bumped on any incompatible change (`docs/report-schema.json`).
pub const SCHEMA_VERSION: u32 = 3;

/// The iterations of "a long epoch", at which growth that an enclosing loop releases is
/// projected ([`Leak::projected_bytes`], [`BoundedGrowth::projected_bytes`]): a dataset of
/// 320,000 samples in batches of 32.
pub const LONG_EPOCH_ITERATIONS: u64 = 10_000;

/// An export could not be made from a report.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The allocator's bounded history dropped the run's first events, so the memory over time
    /// cannot be rebuilt.
    #[error("the allocator history dropped the run's first {dropped} events; the timeline cannot be rebuilt (the run is longer than the history keeps)")]
    HistoryTruncated {
        /// Events dropped.
        dropped: u64,
    },
    /// The encoder failed.
    #[error("cannot encode the export: {0}")]
    Encode(String),
}

/// The outcome in plain words, as a ticket's title says it: "Leak found, as expected",
/// "Unexpected leak", "Clean", "Allowed leak" (every leak accepted by an allowance), ...
pub fn outcome(r: &Report) -> &'static str {
    match (r.passed, r.verdict) {
        (true, Verdict::Clean) => "Clean",
        (true, Verdict::Leak)
            if r.leaks.iter().all(|l| l.allowed.is_some()) && r.expected == "clean" =>
        {
            "Allowed leak"
        }
        (true, Verdict::Leak) => "Leak found, as expected",
        (true, Verdict::Oom) => "Out of memory, as expected",
        (true, Verdict::Error | Verdict::AssertionFailed) => "Error, as expected",
        (true, Verdict::BoundedGrowth) if r.expected == "bounded-growth" => {
            "Bounded growth, as expected"
        }
        (true, Verdict::BoundedGrowth) => "No leak, bounded growth",
        (false, Verdict::Clean) => "No leak found, but one was expected",
        (false, Verdict::Leak) => "Unexpected leak",
        (false, Verdict::Oom) => "Unexpected out-of-memory",
        (false, Verdict::AssertionFailed) => "Assertion failed",
        (false, Verdict::Error) => "The scenario could not run",
        (false, Verdict::BoundedGrowth) => "Unexpected bounded growth",
    }
}

/// A size in the one style of every report: bytes up to a KiB, then KiB, MiB or GiB with the
/// exact byte count beside it (`32.00 KiB (32768 bytes)`), where a reader compares numbers.
pub fn exact_size(bytes: u64) -> String {
    let short = format_size(bytes);
    if bytes <= 1024 {
        short
    } else {
        format!("{short} ({bytes} bytes)")
    }
}

/// A statement of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StatementRef {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The statement's source text.
    pub statement: String,
}

/// Leaked memory allocated by one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocSite {
    /// The allocating statement.
    #[serde(flatten)]
    pub at: StatementRef,
    /// Leaked bytes per iteration allocated here.
    pub bytes: u64,
    /// Leaked blocks per iteration allocated here.
    pub count: u64,
    /// What the blocks are for.
    pub purpose: String,
    /// Symbolized Rust stack of one such allocation, innermost first.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stack: Vec<Frame>,
}

/// One growth leak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    /// How the memory is kept.
    pub kinds: Vec<LeakKind>,
    /// The retaining statement: the one that stored the reference holding the memory.
    #[serde(flatten)]
    pub retained_by: StatementRef,
    /// Device bytes that stay alive per iteration of the loop around the retaining statement.
    pub bytes_per_iteration: u64,
    /// Autograd nodes that stay alive per iteration.
    pub graph_nodes_per_iteration: u64,
    /// Where the leaked memory was allocated.
    pub alloc_sites: Vec<AllocSite>,
    /// Who holds one leaked allocation, from a named variable down.
    pub retention_path: Vec<String>,
    /// The fix.
    pub help: String,
    /// Why the leak is accepted, when an allowance accepts it (`leakharness.toml` or the
    /// header's `#@ allow:`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allowed: Option<String>,
    /// The loop whose every iteration releases what grows (the epoch loop around a per-epoch
    /// list or total); absent when nothing releases it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub released_by: Option<StatementRef>,
    /// What the growth holds at its peak after [`LONG_EPOCH_ITERATIONS`] iterations, when an
    /// enclosing loop releases it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub projected_bytes: Option<u64>,
    /// For a `fragmentation` leak: the allocator's segments in the run with the loop doubled.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fragmentation: Option<Fragmentation>,
}

/// Detached data that grows with an inner loop and that an enclosing loop releases
/// (predictions or `loss.detach()` kept for an epoch metric): not a leak, but memory whose peak
/// grows with the epoch's length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundedGrowth {
    /// The statement that stores what grows.
    #[serde(flatten)]
    pub retained_by: StatementRef,
    /// Device bytes added per iteration of the loop around that statement.
    pub bytes_per_iteration: u64,
    /// The loop whose every iteration releases it.
    pub released_by: StatementRef,
    /// The peak after [`LONG_EPOCH_ITERATIONS`] iterations.
    pub projected_bytes: u64,
    /// Where the growing memory was allocated.
    pub alloc_sites: Vec<AllocSite>,
    /// Who holds one growing allocation, from a named variable down.
    pub retention_path: Vec<String>,
}

/// Allocated and reserved bytes at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryPoint {
    /// `memory_allocated()`.
    pub allocated: u64,
    /// `memory_reserved()`.
    pub reserved: u64,
}

/// The state at the end of one loop iteration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IterationPoint {
    /// Line of the loop.
    pub loop_line: u32,
    /// The iteration of each enclosing loop, outermost first, ending with this loop's.
    pub index: Vec<u32>,
    /// `memory_allocated()`.
    pub allocated: u64,
    /// `memory_reserved()`.
    pub reserved: u64,
    /// Live autograd nodes.
    pub graph_nodes: u64,
    /// Allocator events recorded before this checkpoint: where it falls in [`Report::events`].
    #[serde(skip)]
    pub at_event: u64,
}

/// Memory broken down by purpose and by statement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Allocated bytes in all.
    pub allocated: u64,
    /// Bytes per purpose (parameter, gradient, ...).
    pub by_purpose: BTreeMap<String, u64>,
    /// Bytes per allocating statement, largest first.
    pub by_statement: Vec<StatementBytes>,
}

/// Bytes allocated by one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementBytes {
    /// The statement.
    #[serde(flatten)]
    pub at: StatementRef,
    /// Bytes.
    pub bytes: u64,
}

/// A block still allocated after teardown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeardownBlock {
    /// Size.
    pub size: u64,
    /// Purpose.
    pub purpose: String,
    /// The allocating statement and iteration, when known.
    pub location: Option<String>,
    /// The Rust stack that allocated it.
    pub stack: Vec<Frame>,
}

/// Memory left after scope exit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teardown {
    /// After every name was dropped.
    pub after_scope_exit: MemoryPoint,
    /// After `empty_cache()` as well.
    pub after_empty_cache: MemoryPoint,
    /// Blocks still allocated (empty when the teardown is clean).
    pub live_blocks: Vec<TeardownBlock>,
    /// Driver free memory before and after, on cuda (valid only when one scenario runs at a time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_free: Option<(u64, u64)>,
}

impl Teardown {
    /// Bytes the driver reports missing after teardown and `empty_cache()` compared with
    /// before the scenario (negative when more is free), on cuda: memory taken outside the
    /// caching allocator. Valid only when nothing else uses the GPU meanwhile (one scenario at
    /// a time, no other process).
    pub fn driver_missing(&self) -> Option<i64> {
        let (before, after) = self.driver_free?;
        let missing = before as i64 - after as i64;
        (missing != 0).then_some(missing)
    }
}

impl Teardown {
    /// Whether everything went back: allocated and reserved at the baseline, no block left,
    /// and on cuda the driver's free memory where it was.
    pub fn is_clean(&self, baseline: MemoryPoint) -> bool {
        self.after_empty_cache == baseline
            && self.live_blocks.is_empty()
            && self
                .driver_free
                .is_none_or(|(before, after)| before == after)
    }
}

/// An error raised by the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The message, as `path:line:col: error: ...`.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
}

/// The report of one scenario run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Path of the scenario file.
    pub scenario: String,
    /// The first comment line of the scenario: what it shows.
    pub description: Option<String>,
    /// cuda, cpu or meta.
    pub backend: String,
    /// The device's description.
    pub device: String,
    /// The expectation from the `#@ expect:` header ("clean" when absent).
    pub expected: String,
    /// What happened.
    pub verdict: Verdict,
    /// Whether the verdict meets the expectation.
    pub passed: bool,
    /// Growth leaks.
    pub leaks: Vec<Leak>,
    /// Growth that an enclosing loop releases and that holds no graph.
    #[serde(default)]
    pub bounded_growth: Vec<BoundedGrowth>,
    /// Allocated, reserved and graph nodes at the end of each loop iteration.
    pub iterations: Vec<IterationPoint>,
    /// Memory before the program ran.
    pub baseline: MemoryPoint,
    /// Memory after scope exit and empty_cache.
    pub after_teardown: Teardown,
    /// Peak allocated bytes, broken down at the moment of the peak.
    pub peak: Breakdown,
    /// The OOM message and the memory at that moment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom: Option<OomInfo>,
    /// The error, for verdicts `error` and `assertion-failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// What the scenario printed.
    pub output: Vec<String>,
    /// Allowances that accept no leak any more: remove them.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stale_allowances: Vec<Allowance>,
    /// Versions and platform, for a bug ticket.
    #[serde(default)]
    pub environment: Environment,
    /// The command line that made the report, when a command did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub command: Option<String>,
    /// Scenario source, for the Markdown report.
    #[serde(skip)]
    pub source: String,
    /// The allocator's history of the run as written (not the scaled reruns), oldest first, for
    /// the timeline exports.
    #[serde(skip)]
    pub events: Vec<Event>,
    /// Events of that run the bounded history dropped before [`Report::events`] begins.
    #[serde(skip)]
    pub events_dropped: u64,
}

impl Report {
    /// The report of a scenario that could not be checked at all (it does not parse, uses
    /// what the engine does not support, or its device cannot be opened): verdict `error`,
    /// with `message` (every `path:line:col: error:` found), so that machine-readable output
    /// has a report for every file.
    pub fn could_not_run(scenario: &str, backend: Backend, message: &str) -> Report {
        let at = first_location(message);
        Report {
            schema_version: SCHEMA_VERSION,
            scenario: scenario.to_string(),
            description: None,
            backend: backend.to_string(),
            device: "(not opened)".into(),
            expected: "unknown (the header was not read)".into(),
            verdict: Verdict::Error,
            passed: false,
            leaks: Vec::new(),
            bounded_growth: Vec::new(),
            iterations: Vec::new(),
            baseline: MemoryPoint::default(),
            after_teardown: Teardown::default(),
            peak: Breakdown::default(),
            oom: None,
            error: Some(ErrorInfo {
                message: message.to_string(),
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
            }),
            output: Vec::new(),
            stale_allowances: Vec::new(),
            environment: Environment::current(backend),
            command: None,
            source: String::new(),
            events: Vec::new(),
            events_dropped: 0,
        }
    }
}

/// Line and column of the first `path:line:col: error:` in a message.
fn first_location(message: &str) -> Option<(u32, u32)> {
    let first = message.lines().next()?;
    let before = &first[..first.find(": error:")?];
    let mut parts = before.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((line, column))
}

/// Where a report was made: what a bug ticket needs to reproduce it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// leakharness's version.
    pub leakharness: String,
    /// Operating system and architecture (`linux x86_64`).
    pub os: String,
    /// The CUDA version the driver supports, on cuda (`13.0`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cuda_driver: Option<String>,
    /// NVRTC's CUDA version, on cuda, when it loads.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nvrtc: Option<String>,
}

impl Environment {
    /// This process's environment for a run on `backend`; CUDA versions only on cuda, so that
    /// reports from the simulated devices are the same on every machine of a platform.
    pub fn current(backend: Backend) -> Environment {
        let cuda = backend == Backend::Cuda;
        let version = |v: (u32, u32)| format!("{}.{}", v.0, v.1);
        Environment {
            leakharness: env!("CARGO_PKG_VERSION").to_string(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            cuda_driver: cuda
                .then(|| crate::device::cuda_driver_version().ok().map(version))
                .flatten(),
            nvrtc: cuda
                .then(|| crate::device::kernels::nvrtc_version().map(version))
                .flatten(),
        }
    }
}

/// An out-of-memory error and the memory at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OomInfo {
    /// PyTorch's message.
    pub message: String,
    /// The statement that ran out of memory.
    pub at: Option<StatementRef>,
    /// Memory at that moment.
    pub memory: Breakdown,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small leak report, as the checker makes one, for the renderers' tests.
    pub(crate) fn sample_report() -> Report {
        let statement = |line, text: &str| StatementRef {
            line,
            column: 5,
            statement: text.into(),
        };
        Report {
            schema_version: SCHEMA_VERSION,
            scenario: "scenarios/leaks/example.py".into(),
            description: Some("Losses kept with their graphs.".into()),
            backend: "meta".into(),
            device: "meta (simulated, 80.00 GiB)".into(),
            expected: "leak retained-graph".into(),
            verdict: Verdict::Leak,
            passed: true,
            leaks: vec![Leak {
                kinds: vec![LeakKind::TensorList, LeakKind::RetainedGraph],
                retained_by: statement(7, "losses.append(loss)"),
                bytes_per_iteration: 512,
                graph_nodes_per_iteration: 3,
                alloc_sites: vec![AllocSite {
                    at: statement(6, "loss = (model(x) ** 2).mean()"),
                    bytes: 512,
                    count: 1,
                    purpose: "temporary".into(),
                    stack: Vec::new(),
                }],
                retention_path: vec!["losses[0]".into(), "scalar f32 (512 bytes)".into()],
                help: "append loss.item() instead".into(),
                allowed: None,
                released_by: None,
                projected_bytes: None,
                fragmentation: None,
            }],
            bounded_growth: Vec::new(),
            iterations: (0..2)
                .map(|i| IterationPoint {
                    loop_line: 5,
                    index: vec![i],
                    allocated: 4096 + 512 * u64::from(i),
                    reserved: 2 << 20,
                    graph_nodes: 3 * u64::from(i + 1),
                    at_event: 4 + 3 * u64::from(i),
                })
                .collect(),
            baseline: MemoryPoint::default(),
            after_teardown: Teardown::default(),
            peak: Breakdown {
                allocated: 8192,
                ..Breakdown::default()
            },
            oom: None,
            error: None,
            output: Vec::new(),
            stale_allowances: Vec::new(),
            environment: Environment {
                leakharness: "0.1.0".into(),
                os: "linux x86_64".into(),
                cuda_driver: None,
                nvrtc: None,
            },
            command: Some("leakharness run scenarios/leaks/example.py".into()),
            source: "import torch\nmodel = torch.nn.Linear(4, 4)\nlosses = []\n\nfor step in range(2):\n    loss = (model(x) ** 2).mean()\n    losses.append(loss)\n".into(),
            events: Vec::new(),
            events_dropped: 0,
        }
    }

    #[test]
    fn a_report_for_a_file_that_could_not_run_points_at_its_first_error() {
        let r = Report::could_not_run(
            "x.py",
            Backend::Meta,
            "x.py:3:8: error: importing `numpy` is not supported\nx.py:5:1: error: ...",
        );
        let error = r.error.unwrap();
        assert_eq!((error.line, error.column), (Some(3), Some(8)));
        assert_eq!(r.verdict, Verdict::Error);
        assert!(!r.passed);
    }
}

/// What happened to one scenario file of a run, as reporters see it: for each file `Started`,
/// then one of `Finished`, `Error` or `Skipped`.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// Checking the file begins.
    Started {
        /// The file.
        path: &'a Path,
    },
    /// The file was checked.
    Finished {
        /// The file.
        path: &'a Path,
        /// The name its reports were written under.
        stem: &'a str,
        /// Its report.
        report: &'a Report,
        /// Where the report was written, or why it could not be.
        written: Result<&'a ReportPaths, &'a WriteError>,
        /// Wall time of the check.
        seconds: f64,
    },
    /// The file could not be checked.
    Error {
        /// The file.
        path: &'a Path,
        /// Every `path:line:col: error:` found, or why the checker could not run.
        message: &'a str,
        /// Whether the file is not a valid scenario (rather than one the checker could not run).
        invalid: bool,
        /// The report machine-readable output gives for it ([`Report::could_not_run`]).
        report: &'a Report,
        /// Wall time until the error.
        seconds: f64,
    },
    /// The file needs what is not here (a CUDA device).
    Skipped {
        /// The file.
        path: &'a Path,
        /// Why.
        reason: &'a str,
        /// Wall time until it was skipped.
        seconds: f64,
    },
}

/// Renders a run's events: the human summary, JSON, JSON lines, JUnit.
pub trait Reporter {
    /// One event, in the order they happen.
    fn event(&mut self, event: &RunEvent<'_>);
}
