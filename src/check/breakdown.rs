//! What memory is made of at one moment, by purpose and by allocating statement: now, at the
//! peak (replayed from the allocator's history), after teardown, and at an out-of-memory error;
//! and the scenario statements those bytes are attributed to.

use std::collections::BTreeMap;

use crate::alloc::{EventKind, Place, Purpose};
use crate::report::{Breakdown, OomInfo, StatementBytes, StatementRef, TeardownBlock};
use crate::runtime::Runtime;
use crate::scenario::interp::{Failure, FailureKind};
use crate::scenario::Scenario;

/// The out-of-memory error of a failed run, with the memory at that moment.
pub(super) fn oom_info(
    rt: &Runtime,
    source: &[String],
    failure: Option<&Failure>,
) -> Option<OomInfo> {
    let Some(Failure {
        kind: FailureKind::OutOfMemory(oom),
        error,
    }) = failure
    else {
        return None;
    };
    let at = StatementRef {
        line: error.line,
        column: error.col,
        statement: error.source_line.trim().to_string(),
    };
    Some(OomInfo {
        message: oom.message.clone(),
        at: Some(at),
        memory: live_breakdown(rt, source),
    })
}

/// Memory now, by purpose and by allocating statement.
fn live_breakdown(rt: &Runtime, source: &[String]) -> Breakdown {
    let snapshot = rt.allocator().snapshot();
    let mut by_purpose = BTreeMap::new();
    let mut by_line: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    let mut allocated = 0;
    for (_, b) in snapshot.live_blocks() {
        allocated += b.size;
        if let Some(tag) = &b.tag {
            *by_purpose
                .entry(tag.purpose.name().to_string())
                .or_default() += b.size;
            let at = tag.location.as_ref().map_or((0, 0), |l| (l.line, l.column));
            *by_line.entry(at).or_default() += b.size;
        }
    }
    Breakdown {
        allocated,
        by_purpose,
        by_statement: by_statement(by_line, source),
    }
}

fn by_statement(by_line: BTreeMap<(u32, u32), u64>, source: &[String]) -> Vec<StatementBytes> {
    let mut rows: Vec<StatementBytes> = by_line
        .into_iter()
        .map(|((line, column), bytes)| StatementBytes {
            at: statement_ref(source, line, column),
            bytes,
        })
        .collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.at.line.cmp(&b.at.line)));
    rows
}

pub(super) fn statement_ref(source: &[String], line: u32, column: u32) -> StatementRef {
    let statement = match line {
        0 => "(outside the scenario)".to_string(),
        n => source
            .get(n as usize - 1)
            .map_or(String::new(), |l| without_comment(l).trim().to_string()),
    };
    StatementRef {
        line: line.max(1),
        column: column.max(1),
        statement,
    }
}

/// A source line without its trailing `# comment` (a `#` inside a string literal stays).
fn without_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(_), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return &line[..i],
            _ => {}
        }
        escaped = false;
    }
    line
}

pub(super) fn source_lines(scenario: &Scenario) -> Vec<String> {
    scenario.source.lines().map(str::to_string).collect()
}

/// Blocks still allocated after teardown, with tags and symbolized stacks.
pub(super) fn teardown_blocks(rt: &Runtime) -> Vec<TeardownBlock> {
    let snapshot = rt.allocator().snapshot();
    let mut alloc = rt.allocator_mut();
    snapshot
        .live_blocks()
        .map(|(_, b)| {
            let tag = b.tag.as_ref();
            TeardownBlock {
                size: b.size,
                purpose: tag
                    .map_or(Purpose::Temporary, |t| t.purpose)
                    .name()
                    .to_string(),
                location: tag.and_then(|t| t.location.as_ref()).map(|l| l.to_string()),
                stack: tag
                    .and_then(|t| t.stack)
                    .and_then(|id| alloc.stacks().symbolize(id))
                    .map(|f| f.to_vec())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The memory at the moment of the peak, rebuilt from the allocator's event history.
pub(super) fn peak_breakdown(rt: &Runtime, source: &[String]) -> Breakdown {
    struct Live {
        size: u64,
        purpose: Purpose,
        at: (u32, u32),
    }
    let alloc = rt.allocator();
    let mut live: BTreeMap<Place, Live> = BTreeMap::new();
    let mut current = 0u64;
    let mut best: Option<Breakdown> = None;
    let mut best_bytes = 0u64;
    for event in alloc.history().events() {
        match &event.kind {
            EventKind::Alloc {
                place,
                size,
                purpose,
                ..
            } => {
                let at = event
                    .location
                    .as_ref()
                    .map_or((0, 0), |l| (l.line, l.column));
                live.insert(
                    *place,
                    Live {
                        size: *size,
                        purpose: *purpose,
                        at,
                    },
                );
                current += size;
                if current > best_bytes || best.is_none() {
                    best_bytes = current;
                    let mut by_purpose = BTreeMap::new();
                    let mut by_line: BTreeMap<(u32, u32), u64> = BTreeMap::new();
                    for b in live.values() {
                        *by_purpose.entry(b.purpose.name().to_string()).or_default() += b.size;
                        *by_line.entry(b.at).or_default() += b.size;
                    }
                    best = Some(Breakdown {
                        allocated: current,
                        by_purpose,
                        by_statement: by_statement(by_line, source),
                    });
                }
            }
            // The history is bounded: a free whose alloc was dropped from it is not counted.
            EventKind::Free { place, .. } => {
                if let Some(b) = live.remove(place) {
                    current -= b.size;
                }
            }
            EventKind::SetPurpose { place, purpose } => {
                if let Some(b) = live.get_mut(place) {
                    b.purpose = *purpose;
                }
            }
            _ => {}
        }
    }
    let mut peak = best.unwrap_or_default();
    // The history is bounded; when it dropped early events the replay starts late, so the peak
    // itself always comes from the statistics.
    peak.allocated = alloc.max_memory_allocated();
    peak
}
