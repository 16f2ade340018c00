//! `fragmentation`: reserved memory that grows with a loop while allocated memory does not.
//!
//! The caching allocator opens a segment when none of its cached free blocks fits a request
//! (PyTorch's rules, `docs/allocator.md`). A program whose shapes change every iteration (a
//! sequence that gets longer, batches of a new size) asks for blocks its cache cannot serve,
//! and every segment it opened stays cached: reserved memory climbs towards an out-of-memory
//! error though nothing the program keeps grows. The runs as written, doubled and tripled show
//! it at the same measuring point as every other growth (`docs/leaks.md`).

use std::collections::BTreeMap;

use super::growth::{growth, LoopAt, Runs};
use super::subject::Subject;
use crate::alloc::{BlockState, Pool};
use crate::report::{AllocSite, Fragmentation, Leak, SegmentUse};
use crate::runtime::Runtime;

/// The caching allocator's counters at a measuring point, and its segments.
#[derive(Debug, Clone, Default)]
pub(super) struct CacheView {
    pub(super) allocated: u64,
    pub(super) reserved: u64,
    /// `max_memory_allocated()` since the run started.
    pub(super) peak_allocated: u64,
    pub(super) inactive_split_bytes: u64,
    pub(super) segments: Vec<SegmentSeen>,
}

/// One segment, with the statement that opened it.
#[derive(Debug, Clone)]
pub(super) struct SegmentSeen {
    pool: Pool,
    size: u64,
    allocated: u64,
    free_blocks: Vec<u64>,
    opened_at: Option<LoopAt>,
}

impl CacheView {
    /// The allocator of `rt` now; its segments only `with_segments` (a top-level loop's
    /// measuring point, where fragmentation is judged).
    pub(super) fn of(rt: &Runtime, with_segments: bool) -> CacheView {
        let alloc = rt.allocator();
        if !with_segments {
            return CacheView {
                allocated: alloc.memory_allocated(),
                reserved: alloc.memory_reserved(),
                peak_allocated: alloc.max_memory_allocated(),
                ..CacheView::default()
            };
        }
        let segments = alloc
            .snapshot()
            .segments
            .into_iter()
            .map(|s| SegmentSeen {
                pool: s.pool,
                size: s.size,
                allocated: s.allocated,
                free_blocks: s
                    .blocks
                    .iter()
                    .filter(|b| b.state != BlockState::ActiveAllocated)
                    .map(|b| b.size)
                    .collect(),
                opened_at: s.opened_by.as_ref().map(|l| (l.line, l.column)),
            })
            .collect();
        CacheView {
            allocated: alloc.memory_allocated(),
            reserved: alloc.memory_reserved(),
            peak_allocated: alloc.max_memory_allocated(),
            inactive_split_bytes: alloc.stats().inactive_split_bytes.all.current.max(0) as u64,
            segments,
        }
    }

    /// Segment bytes and segments opened by each statement.
    fn opened(&self) -> BTreeMap<Option<LoopAt>, (u64, u64)> {
        let mut by = BTreeMap::<Option<LoopAt>, (u64, u64)>::new();
        for s in &self.segments {
            let e = by.entry(s.opened_at).or_default();
            e.0 += s.size;
            e.1 += 1;
        }
        by
    }
}

/// Whether the three runs show fragmentation: reserved memory grows from the run as written to
/// the doubled one and again to the tripled one, by more than the peak of allocated memory
/// grows (memory the program never had in use at once), while allocated memory at the
/// measuring point does not grow.
pub(super) fn reserved_grows_alone(a: &CacheView, b: &CacheView, c: &CacheView) -> bool {
    a.reserved < b.reserved
        && b.reserved < c.reserved
        && b.allocated <= a.allocated
        && c.allocated <= b.allocated
        && growth(a.reserved, b.reserved) > growth(a.peak_allocated, b.peak_allocated)
}

/// The `fragmentation` leak of the loop at `at`, when its runs show one: reported at the
/// statement that opened the most segment bytes more in the doubled run (the loop itself when
/// no statement was running), with the doubled run's segments.
pub(super) fn leak<S: Subject>(subject: &S, runs: &Runs<'_>, at: LoopAt) -> Option<Leak> {
    let (a, b, c) = (&runs.first.cache, &runs.doubled.cache, &runs.tripled.cache);
    if !reserved_grows_alone(a, b, c) {
        return None;
    }
    let extra = runs.extra_iterations(at);
    let before = a.opened();
    let mut opened: Vec<(u64, u64, LoopAt)> = b
        .opened()
        .into_iter()
        .filter_map(|(site, (bytes, count))| {
            let (bytes_a, count_a) = before.get(&site).copied().unwrap_or_default();
            let more = growth(bytes_a, bytes);
            (more > 0).then(|| (more, growth(count_a, count), site.unwrap_or(at)))
        })
        .collect();
    opened.sort_by(|x, y| y.0.cmp(&x.0).then(x.2.cmp(&y.2)));
    let retained_by = subject.statement(opened.first().map_or(at, |o| o.2));
    let kinds = super::rules::kinds(&super::rules::Evidence {
        reserved_grows_alone: true,
        ..Default::default()
    });
    Some(Leak {
        help: super::rules::help(&kinds),
        kinds,
        retained_by,
        bytes_per_iteration: growth(a.reserved, b.reserved) / extra,
        graph_nodes_per_iteration: 0,
        alloc_sites: opened
            .iter()
            .map(|&(bytes, count, site)| AllocSite {
                at: subject.statement(site),
                bytes: bytes / extra,
                count: count / extra,
                purpose: "segment".into(),
                stack: Vec::new(),
            })
            .collect(),
        retention_path: Vec::new(),
        allowed: None,
        released_by: None,
        projected_bytes: None,
        fragmentation: Some(Fragmentation {
            reserved: b.reserved,
            allocated: b.allocated,
            peak_allocated: b.peak_allocated,
            inactive_split_bytes: b.inactive_split_bytes,
            segments: b
                .segments
                .iter()
                .map(|s| SegmentUse {
                    pool: match s.pool {
                        Pool::Small => "small",
                        Pool::Large => "large",
                    }
                    .into(),
                    size: s.size,
                    allocated: s.allocated,
                    free_blocks: s.free_blocks.clone(),
                    opened_by: s.opened_at.map(|o| subject.statement(o)),
                })
                .collect(),
        }),
    })
}
