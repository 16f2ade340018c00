//! `--snapshot`: the run's memory as `torch.cuda.memory._dump_snapshot` writes it, for
//! pytorch.org/memory_viz (and `torch.cuda._memory_viz`). The format is pinned in
//! `docs/report-formats.md`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{scenario_function, ExportError, Report};
use crate::alloc::{EventKind, Location, Pool, Purpose};

/// Where the first segment lies in the made-up address space of a snapshot. Segments follow
/// one another in the order they were allocated and no address is reused, so the same run gives
/// the same addresses on every backend.
const FIRST_SEGMENT: u64 = 0x7f00_0000_0000;

struct Block {
    size: u64,
    requested: u64,
    purpose: Purpose,
    frames: Value,
}

struct Segment {
    address: u64,
    size: u64,
    pool: Pool,
    frames: Value,
    blocks: BTreeMap<u64, Block>,
}

/// The snapshot of the run as a Python value: `segments` (each with its blocks, contiguous,
/// free gaps as `inactive` blocks) as they stand at the end of the last loop iteration (the
/// moment a training script would dump its snapshot, with whatever leaked still held; the end
/// of the run for a scenario without loops), and `device_traces` with one trace for device 0
/// of every alloc, free and segment event up to then, each with the scenario frame that made it
/// and, for blocks, the block's purpose as `category`.
///
/// An error when the bounded history dropped the run's first events, since the state cannot
/// be rebuilt without them.
pub fn memory_snapshot(r: &Report) -> Result<Value, ExportError> {
    if r.events_dropped > 0 {
        return Err(ExportError::HistoryTruncated {
            dropped: r.events_dropped,
        });
    }
    let frames = |location: Option<&Location>| match location {
        Some(l) => json!([{
            "filename": r.scenario,
            "line": l.line,
            "name": scenario_function(&r.source, l.line).trim_end_matches("()"),
        }]),
        None => json!([]),
    };
    let mut segments: BTreeMap<u64, Segment> = BTreeMap::new();
    let mut next_address = FIRST_SEGMENT;
    let mut trace = Vec::new();
    let until = r.iterations.iter().map(|p| p.at_event).max();
    for event in r
        .events
        .iter()
        .take_while(|e| until.is_none_or(|end| e.seq < end))
    {
        let time_us = event.time_ns / 1000;
        let here = frames(event.location.as_deref());
        let entry = |action: &str, addr: u64, size: u64, category: &str| {
            json!({
                "action": action,
                "addr": addr,
                "size": size,
                "stream": 0,
                "time_us": time_us,
                "frames": here,
                "category": category,
            })
        };
        match &event.kind {
            EventKind::SegmentAlloc {
                segment,
                size,
                pool,
            } => {
                // Segments hold blocks of every purpose. memory_viz lists "unknown" among the
                // categories only when some event carries it, and fails to load a file whose
                // events carry categories without it, so segment events carry it.
                trace.push(entry("segment_alloc", next_address, *size, "unknown"));
                segments.insert(
                    *segment,
                    Segment {
                        address: next_address,
                        size: *size,
                        pool: *pool,
                        frames: here.clone(),
                        blocks: BTreeMap::new(),
                    },
                );
                next_address += size;
            }
            EventKind::SegmentFree { segment, size } => {
                if let Some(s) = segments.remove(segment) {
                    trace.push(entry("segment_free", s.address, *size, "unknown"));
                }
            }
            EventKind::Alloc {
                place,
                size,
                requested,
                purpose,
            } => {
                if let Some(s) = segments.get_mut(&place.segment) {
                    // A trace entry carries the size asked for, as `record_trace` is given
                    // `orig_size` and `requested_size` (CUDACachingAllocator.cpp): a 4-byte
                    // loss shows as 4, its block as 512 in `segments`.
                    trace.push(entry(
                        "alloc",
                        s.address + place.offset,
                        *requested,
                        purpose.name(),
                    ));
                    s.blocks.insert(
                        place.offset,
                        Block {
                            size: *size,
                            requested: *requested,
                            purpose: *purpose,
                            frames: here.clone(),
                        },
                    );
                }
            }
            EventKind::Free { place, size } => {
                if let Some(s) = segments.get_mut(&place.segment) {
                    let (purpose, requested) = s
                        .blocks
                        .remove(&place.offset)
                        .map_or((Purpose::Temporary, *size), |b| (b.purpose, b.requested));
                    let addr = s.address + place.offset;
                    // PyTorch records a free in two steps (the second once no stream uses the
                    // block); with one stream they follow each other.
                    trace.push(entry("free_requested", addr, requested, purpose.name()));
                    trace.push(entry("free_completed", addr, requested, purpose.name()));
                }
            }
            EventKind::SetPurpose { place, purpose } => {
                if let Some(b) = segments
                    .get_mut(&place.segment)
                    .and_then(|s| s.blocks.get_mut(&place.offset))
                {
                    b.purpose = *purpose;
                }
            }
            // Not allocator state changes memory_viz draws: empty_cache shows as its segment
            // frees, and an out-of-memory as the error in the report.
            EventKind::EmptyCache { .. } | EventKind::Oom { .. } => {}
        }
    }
    let segments: Vec<Value> = segments.values().map(segment_value).collect();
    Ok(json!({
        "segments": segments,
        "device_traces": [trace],
    }))
}

fn segment_value(s: &Segment) -> Value {
    let mut blocks = Vec::new();
    let mut offset = 0;
    let (mut allocated, mut requested) = (0, 0);
    let inactive = |address: u64, size: u64| {
        json!({
            "address": address,
            "size": size,
            "requested_size": 0,
            "state": "inactive",
            "frames": [],
        })
    };
    for (&at, b) in &s.blocks {
        if at > offset {
            blocks.push(inactive(s.address + offset, at - offset));
        }
        blocks.push(json!({
            "address": s.address + at,
            "size": b.size,
            "requested_size": b.requested,
            "state": "active_allocated",
            "frames": b.frames,
        }));
        allocated += b.size;
        requested += b.requested;
        offset = at + b.size;
    }
    if offset < s.size {
        blocks.push(inactive(s.address + offset, s.size - offset));
    }
    json!({
        "device": 0,
        "address": s.address,
        "total_size": s.size,
        "allocated_size": allocated,
        "active_size": allocated,
        "requested_size": requested,
        "stream": 0,
        "segment_type": match s.pool {
            Pool::Small => "small",
            Pool::Large => "large",
        },
        "segment_pool_id": [0, 0],
        "is_expandable": false,
        "frames": s.frames,
        "blocks": blocks,
    })
}

/// The snapshot as pickle bytes, protocol 3 (memory_viz reads 2 to 4).
pub fn snapshot_pickle(r: &Report) -> Result<Vec<u8>, ExportError> {
    let value = memory_snapshot(r)?;
    serde_pickle::to_vec(&value, serde_pickle::SerOptions::new())
        .map_err(|e| ExportError::Encode(e.to_string()))
}
