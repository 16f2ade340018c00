//! `--trace-events`: the run as Chrome trace-event JSON, which ui.perfetto.dev and
//! chrome://tracing open: counters of allocated and reserved bytes after every allocator event
//! and of live graph nodes at every iteration end, and one slice per scenario statement that
//! touched device memory, lasting until the next one did.

use serde_json::{json, Value};

use super::{scenario_function, ExportError, Report};
use crate::alloc::{EventKind, Location};

const PID: u32 = 1;
const TID: u32 = 1;

/// The trace of the run as written; timestamps are microseconds since the runtime was created.
pub fn trace_events(r: &Report) -> Result<Value, ExportError> {
    if r.events_dropped > 0 {
        return Err(ExportError::HistoryTruncated {
            dropped: r.events_dropped,
        });
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    let mut events = vec![
        json!({"name": "process_name", "ph": "M", "pid": PID, "args": {"name": format!("leakharness {}", r.scenario)}}),
        json!({"name": "thread_name", "ph": "M", "pid": PID, "tid": TID, "args": {"name": "scenario statements"}}),
    ];
    let (mut allocated, mut reserved) = (0u64, 0u64);
    // The open slice: its statement and when it began.
    let mut open: Option<(&Location, u64)> = None;
    let slice = |location: &Location, from: u64, to: u64, events: &mut Vec<Value>| {
        let statement = r
            .source
            .lines()
            .nth(location.line as usize - 1)
            .unwrap_or("")
            .trim();
        let iterations: Vec<String> = location.iterations.iter().map(u32::to_string).collect();
        events.push(json!({
            "name": format!("line {}: {statement}", location.line),
            "cat": "statement",
            "ph": "X",
            "ts": us(from),
            "dur": us(to - from),
            "pid": PID,
            "tid": TID,
            "args": {
                "line": location.line,
                "function": scenario_function(&r.source, location.line),
                "iteration": iterations.join("/"),
            },
        }));
    };
    for event in &r.events {
        let here = event.location.as_deref();
        let same = matches!((open, here), (Some((a, _)), Some(b)) if a == b);
        if !same {
            if let Some((location, from)) = open.take() {
                slice(location, from, event.time_ns, &mut events);
            }
            open = here.map(|l| (l, event.time_ns));
        }
        match &event.kind {
            EventKind::Alloc { size, .. } => allocated += size,
            EventKind::Free { size, .. } => allocated = allocated.saturating_sub(*size),
            EventKind::SegmentAlloc { size, .. } => reserved += size,
            EventKind::SegmentFree { size, .. } | EventKind::SegmentUnmap { size, .. } => {
                reserved = reserved.saturating_sub(*size)
            }
            EventKind::SegmentMap { size, .. } => reserved += size,
            _ => continue,
        }
        events.push(json!({
            "name": "device memory",
            "ph": "C",
            "ts": us(event.time_ns),
            "pid": PID,
            "args": {"allocated": allocated, "reserved": reserved},
        }));
    }
    if let (Some((location, from)), Some(last)) = (open, r.events.last()) {
        slice(location, from, last.time_ns, &mut events);
    }
    for p in &r.iterations {
        // The checkpoint falls after the last event recorded before it.
        let at = r
            .events
            .iter()
            .take_while(|e| e.seq < p.at_event)
            .last()
            .map_or(0, |e| e.time_ns);
        events.push(json!({
            "name": "graph nodes",
            "ph": "C",
            "ts": us(at),
            "pid": PID,
            "args": {"live": p.graph_nodes},
        }));
    }
    Ok(json!({ "traceEvents": events, "displayTimeUnit": "ms" }))
}
