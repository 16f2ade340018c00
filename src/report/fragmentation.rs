//! The segments behind a `fragmentation` leak: reserved memory that grows with a loop while
//! allocated memory does not, shown as the caching allocator holds it (`docs/leaks.md`).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::{exact_size, StatementRef};
use crate::base::format_size;

/// How many segments the human and Markdown reports list (the JSON has them all): the ones
/// with the most cached free bytes, which are what the growth is made of.
pub const SEGMENTS_SHOWN: usize = 8;

/// The caching allocator's segments at the point where a loop was measured with its count
/// doubled: what reserved memory is made of when it grows and allocated memory does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragmentation {
    /// `memory_reserved()` then.
    pub reserved: u64,
    /// `memory_allocated()` then.
    pub allocated: u64,
    /// `max_memory_allocated()` then: the most the program ever had allocated at once.
    pub peak_allocated: u64,
    /// `inactive_split_bytes`: free blocks inside segments that are partly in use, which
    /// `empty_cache()` cannot give back.
    pub inactive_split_bytes: u64,
    /// Every segment, in the order the allocator opened them.
    pub segments: Vec<SegmentUse>,
}

/// One segment of the caching allocator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentUse {
    /// `small` (requests of at most 1 MiB) or `large`.
    pub pool: String,
    /// Its size.
    pub size: u64,
    /// Bytes of it allocated.
    pub allocated: u64,
    /// The sizes of its free blocks, in address order.
    pub free_blocks: Vec<u64>,
    /// The statement whose request opened it, when the allocator's history still has it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub opened_by: Option<StatementRef>,
}

impl SegmentUse {
    /// Bytes of it cached and free.
    pub fn free(&self) -> u64 {
        self.free_blocks.iter().sum()
    }
}

impl Fragmentation {
    /// Bytes reserved that the program never had in use at once: reserved minus the peak.
    pub fn never_used_at_once(&self) -> u64 {
        self.reserved.saturating_sub(self.peak_allocated)
    }

    /// The segments with the most free bytes first (ties in opening order), at most
    /// [`SEGMENTS_SHOWN`].
    pub fn shown(&self) -> Vec<&SegmentUse> {
        let mut order: Vec<&SegmentUse> = self.segments.iter().collect();
        order.sort_by_key(|s| std::cmp::Reverse(s.free()));
        order.truncate(SEGMENTS_SHOWN);
        order
    }

    /// One line per shown segment, as the human report and the Markdown code block print it.
    pub fn segment_lines(&self) -> Vec<String> {
        self.shown()
            .into_iter()
            .map(|s| {
                let free: Vec<String> = s.free_blocks.iter().map(|&b| format_size(b)).collect();
                let mut line = format!(
                    "{} {} segment: {} allocated, free blocks [{}]",
                    format_size(s.size),
                    s.pool,
                    format_size(s.allocated),
                    free.join(", ")
                );
                if let Some(at) = &s.opened_by {
                    let _ = write!(line, ", opened by line {} `{}`", at.line, at.statement);
                }
                line
            })
            .collect()
    }

    /// The summary line: reserved, allocated, peak, inactive split, and how many segments.
    pub fn summary(&self) -> String {
        format!(
            "{} segments, {} reserved, {} allocated, {} peak allocated, {} inactive split",
            self.segments.len(),
            exact_size(self.reserved),
            exact_size(self.allocated),
            exact_size(self.peak_allocated),
            exact_size(self.inactive_split_bytes)
        )
    }
}
