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
    /// For an expandable segment, its mapped ranges (offset → size); `size` is then unused.
    mapped: Option<BTreeMap<u64, u64>>,
}

/// The made-up address space an expandable segment takes in a snapshot: more than 1⅛ of any
/// device's memory, which is what PyTorch reserves.
const EXPANDABLE_SPAN: u64 = 1 << 40;

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
                        mapped: None,
                    },
                );
                next_address += size;
            }
            EventKind::SegmentMap {
                segment,
                offset,
                size,
                pool,
            } => {
                let s = segments.entry(*segment).or_insert_with(|| {
                    let address = next_address;
                    next_address += EXPANDABLE_SPAN;
                    Segment {
                        address,
                        size: 0,
                        pool: *pool,
                        frames: here.clone(),
                        blocks: BTreeMap::new(),
                        mapped: Some(BTreeMap::new()),
                    }
                });
                trace.push(entry("segment_map", s.address + offset, *size, "unknown"));
                if let Some(mapped) = s.mapped.as_mut() {
                    mapped.insert(*offset, *size);
                }
            }
            EventKind::SegmentUnmap {
                segment,
                offset,
                size,
            } => {
                if let Some(s) = segments.get_mut(segment) {
                    trace.push(entry("segment_unmap", s.address + offset, *size, "unknown"));
                    if let Some(mapped) = s.mapped.as_mut() {
                        unmap_range(mapped, *offset, *size);
                    }
                }
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
    let segments: Vec<Value> = segments.values().flat_map(segment_values).collect();
    Ok(json!({
        "segments": segments,
        "device_traces": [trace],
    }))
}

/// Takes `[offset, offset + size)` out of a set of mapped ranges (an unmap can cut a range
/// that several maps made, or a part of one).
fn unmap_range(mapped: &mut BTreeMap<u64, u64>, offset: u64, size: u64) {
    let end = offset + size;
    let cut: Vec<(u64, u64)> = mapped
        .iter()
        .filter(|&(&at, &len)| at < end && at + len > offset)
        .map(|(&at, &len)| (at, len))
        .collect();
    for (at, len) in cut {
        mapped.remove(&at);
        if at < offset {
            mapped.insert(at, offset - at);
        }
        if at + len > end {
            mapped.insert(end, at + len - end);
        }
    }
}

/// A segment's entries: itself, or for an expandable segment one entry per run of mapped
/// pages, as PyTorch's snapshot lists them.
fn segment_values(s: &Segment) -> Vec<Value> {
    let Some(mapped) = &s.mapped else {
        return vec![segment_value(s, false)];
    };
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (&at, &len) in mapped {
        match runs.last_mut() {
            Some((start, run)) if *start + *run == at => *run += len,
            _ => runs.push((at, len)),
        }
    }
    runs.into_iter()
        .map(|(start, len)| {
            let run = Segment {
                address: s.address + start,
                size: len,
                pool: s.pool,
                frames: s.frames.clone(),
                blocks: s
                    .blocks
                    .range(start..start + len)
                    .map(|(&at, b)| {
                        let block = Block {
                            size: b.size,
                            requested: b.requested,
                            purpose: b.purpose,
                            frames: b.frames.clone(),
                        };
                        (at - start, block)
                    })
                    .collect(),
                mapped: None,
            };
            segment_value(&run, true)
        })
        .collect()
}

fn segment_value(s: &Segment, expandable: bool) -> Value {
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
        "is_expandable": expandable,
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
