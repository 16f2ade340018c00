//! Leak reports: one per scenario run, as versioned JSON for machines and CI artifacts and as
//! Markdown for bug tickets, written atomically.

mod human;
mod markdown;
mod write;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use human::human_summary;
pub use markdown::render_markdown;
pub use write::{write_reports, ReportPaths, WriteError};

use crate::alloc::Frame;
pub use crate::base::{LeakKind, Verdict};

/// Version of the JSON layout; bumped on any incompatible change (`docs/report-schema.json`).
pub const SCHEMA_VERSION: u32 = 2;

/// The iterations of "a long epoch", at which growth that an enclosing loop releases is
/// projected ([`Leak::projected_bytes`], [`BoundedGrowth::projected_bytes`]): a dataset of
/// 320,000 samples in batches of 32.
pub const LONG_EPOCH_ITERATIONS: u64 = 10_000;

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
    /// The loop whose every iteration releases what grows (the epoch loop around a per-epoch
    /// list or total); absent when nothing releases it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub released_by: Option<StatementRef>,
    /// What the growth holds at its peak after [`LONG_EPOCH_ITERATIONS`] iterations, when an
    /// enclosing loop releases it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub projected_bytes: Option<u64>,
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
    /// Scenario source, for the Markdown report.
    #[serde(skip)]
    pub source: String,
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
