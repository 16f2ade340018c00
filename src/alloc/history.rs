//! A bounded history of allocator events and snapshots of live memory, which leak reports and
//! timelines read.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use super::stacks::StackId;
use super::stats::Pool;
use super::tag::{Location, Purpose, Tag};
use crate::device::DevicePtr;

/// Where a block lies: its segment (numbered in order of allocation, the same on every
/// backend) and its offset in it. Used instead of raw addresses wherever traces are compared
/// across backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Place {
    /// Segment number, counting from 0 in order of allocation.
    pub segment: u64,
    /// Byte offset of the block in its segment.
    pub offset: u64,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum EventKind {
    /// A block was handed out.
    Alloc {
        /// Where it lies.
        place: Place,
        /// Its size after rounding.
        size: u64,
        /// The size asked for.
        requested: u64,
        /// What it is for.
        purpose: Purpose,
    },
    /// A block was given back.
    Free {
        /// Where it lay.
        place: Place,
        /// Its size.
        size: u64,
    },
    /// A live block's purpose changed (a temporary saved by autograd, a tensor taken over as a
    /// gradient).
    SetPurpose {
        /// Where it lies.
        place: Place,
        /// Its new purpose.
        purpose: Purpose,
    },
    /// A segment was allocated from the device.
    SegmentAlloc {
        /// Its number.
        segment: u64,
        /// Its size.
        size: u64,
        /// Its pool.
        pool: Pool,
    },
    /// A segment was returned to the device.
    SegmentFree {
        /// Its number.
        segment: u64,
        /// Its size.
        size: u64,
    },
    /// Pages were mapped into an expandable segment (`segment_map`).
    SegmentMap {
        /// The segment's number.
        segment: u64,
        /// Where the pages start in it.
        offset: u64,
        /// Bytes mapped.
        size: u64,
        /// Its pool.
        pool: Pool,
    },
    /// Free pages of an expandable segment were unmapped (`segment_unmap`).
    SegmentUnmap {
        /// The segment's number.
        segment: u64,
        /// Where the pages start in it.
        offset: u64,
        /// Bytes unmapped.
        size: u64,
    },
    /// `empty_cache()` ran.
    EmptyCache {
        /// Bytes it returned to the device.
        released: u64,
    },
    /// An allocation failed with out-of-memory.
    Oom {
        /// The rounded size asked for.
        size: u64,
        /// The segment size that could not be had.
        alloc_size: u64,
    },
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Sequence number since the allocator was created (keeps counting when old events are
    /// dropped from the bounded history).
    pub seq: u64,
    /// Nanoseconds since the allocator was created.
    pub time_ns: u64,
    /// What happened.
    pub kind: EventKind,
    /// The Rust stack, for allocations when capture is on.
    pub stack: Option<StackId>,
    /// The scenario statement running at the time.
    pub location: Option<Arc<Location>>,
}

/// The most recent events, up to a fixed count.
#[derive(Debug)]
pub struct History {
    events: VecDeque<Event>,
    capacity: usize,
    next_seq: u64,
}

impl History {
    /// An empty history keeping at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        History {
            events: VecDeque::new(),
            capacity,
            next_seq: 0,
        }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Counts an event that is not kept.
    pub(crate) fn count(&mut self) {
        self.next_seq += 1;
    }

    pub(crate) fn record(
        &mut self,
        time_ns: u64,
        kind: EventKind,
        stack: Option<StackId>,
        location: Option<Arc<Location>>,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            seq,
            time_ns,
            kind,
            stack,
            location,
        });
    }

    /// The events kept, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    /// Events recorded in all, including those dropped.
    pub fn total_recorded(&self) -> u64 {
        self.next_seq
    }

    /// Just what happened, without times, stacks or addresses: equal on every backend for the
    /// same program.
    pub fn trace(&self) -> Vec<EventKind> {
        self.events.iter().map(|e| e.kind.clone()).collect()
    }
}

/// State of a block in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockState {
    /// Handed out.
    ActiveAllocated,
    /// Free, cached.
    Inactive,
}

/// A block in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockInfo {
    /// Offset in its segment.
    pub offset: u64,
    /// Address.
    pub address: DevicePtr,
    /// Size after rounding.
    pub size: u64,
    /// Size asked for (0 for free blocks).
    pub requested: u64,
    /// Allocated or free.
    pub state: BlockState,
    /// The tag, for allocated blocks.
    pub tag: Option<Tag>,
}

/// A segment in a snapshot, its blocks in address order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentInfo {
    /// Segment number.
    pub segment: u64,
    /// Address.
    pub address: DevicePtr,
    /// Size.
    pub size: u64,
    /// Pool.
    pub pool: Pool,
    /// The scenario statement whose request opened it, when one was running.
    #[serde(skip)]
    pub opened_by: Option<Arc<Location>>,
    /// Bytes allocated in it.
    pub allocated: u64,
    /// Whether it is a run of mapped pages of an expandable segment (`is_expandable`); such
    /// runs share their segment number, and block offsets count from the segment's start.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expandable: bool,
    /// Its blocks.
    pub blocks: Vec<BlockInfo>,
}

/// Every segment and block at one moment (like `torch.cuda.memory_snapshot()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Segments in order of allocation.
    pub segments: Vec<SegmentInfo>,
}

impl Snapshot {
    /// The allocated blocks, with their segments.
    pub fn live_blocks(&self) -> impl Iterator<Item = (&SegmentInfo, &BlockInfo)> {
        self.segments
            .iter()
            .flat_map(|s| s.blocks.iter().map(move |b| (s, b)))
            .filter(|(_, b)| b.state == BlockState::ActiveAllocated)
    }
}
