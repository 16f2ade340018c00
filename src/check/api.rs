//! The checker for Rust code that uses the runtime directly, with the scenario protocol: each
//! loop run through [`Loop::run`] is run as written, doubled and tripled, and what grows with
//! its count is a leak.

use std::collections::BTreeMap;
use std::panic::Location as CallSite;

use super::{fresh_runtime_for, meets, CheckError, CheckOptions};
use crate::alloc::AllocatorConfig;
use crate::alloc::{Frame, Purpose};
use crate::base::Expect;
use crate::base::TensorError;
use crate::base::{LeakKind, Verdict};
use crate::report::{
    human_summary, AllocSite, Breakdown, IterationPoint, Leak, Report, StatementRef, SCHEMA_VERSION,
};
use crate::runtime::Runtime;

/// The loops of a checked program. Pass every loop whose growth should be judged through
/// [`Loop::run`].
pub struct Loop {
    /// Which loop (by order of `run` calls) runs more times in this run, and how many times
    /// more.
    scaled: Option<(usize, u32)>,
    next: usize,
    rt: Runtime,
    iterations: Vec<IterationPoint>,
    ends: Vec<LoopEnd>,
}

struct LoopEnd {
    at: &'static CallSite<'static>,
    allocated: u64,
    nodes: u64,
    count: u64,
    sites: BTreeMap<(String, Purpose), (u64, u64, Vec<Frame>)>,
}

impl Loop {
    /// Runs `body` for iterations `0..n` (more in the checker's scaled runs).
    #[track_caller]
    pub fn run(
        &mut self,
        n: u32,
        mut body: impl FnMut(u32) -> Result<(), TensorError>,
    ) -> Result<(), TensorError> {
        let at = CallSite::caller();
        let index = self.next;
        self.next += 1;
        let count = match self.scaled {
            Some((k, factor)) if k == index => n * factor,
            _ => n,
        };
        for i in 0..count {
            body(i)?;
            self.iterations.push(IterationPoint {
                loop_line: at.line(),
                index: vec![i],
                allocated: self.rt.memory_allocated(),
                reserved: self.rt.memory_reserved(),
                graph_nodes: self.rt.live_nodes() as u64,
                at_event: self.rt.allocator().history().total_recorded(),
            });
        }
        let sites = live_sites(&self.rt);
        self.ends.push(LoopEnd {
            at,
            allocated: self.rt.memory_allocated(),
            nodes: self.rt.live_nodes() as u64,
            count: u64::from(count),
            sites,
        });
        Ok(())
    }
}

/// The first frame of code outside leakharness and the standard library: the caller's.
fn callers_frames(frames: &[Frame]) -> Vec<Frame> {
    const INTERNAL: [&str; 7] = [
        "leakharness::",
        "<leakharness::",
        "backtrace::",
        "core::",
        "alloc::",
        "std::",
        "<alloc::",
    ];
    let first = frames
        .iter()
        .position(|f| !INTERNAL.iter().any(|p| f.function.starts_with(p)))
        .unwrap_or(0);
    frames[first..].to_vec()
}

/// Live blocks grouped by the caller's allocating line and purpose.
fn live_sites(rt: &Runtime) -> BTreeMap<(String, Purpose), (u64, u64, Vec<Frame>)> {
    let snapshot = rt.allocator().snapshot();
    let mut alloc = rt.allocator_mut();
    let mut sites: BTreeMap<(String, Purpose), (u64, u64, Vec<Frame>)> = BTreeMap::new();
    for (_, b) in snapshot.live_blocks() {
        let Some(tag) = &b.tag else { continue };
        let frames = tag
            .stack
            .and_then(|s| alloc.stacks().symbolize(s))
            .map(|f| callers_frames(&f))
            .unwrap_or_default();
        let key = frames.first().map_or_else(
            || "(unknown)".to_string(),
            |f| {
                format!(
                    "{} ({}:{})",
                    f.function,
                    f.file.as_deref().unwrap_or("?"),
                    f.line.unwrap_or(0)
                )
            },
        );
        let entry = sites.entry((key, tag.purpose)).or_insert((0, 0, frames));
        entry.0 += b.size;
        entry.1 += 1;
    }
    sites
}

/// Checks a Rust program on the runtime: `program` is called on fresh runtimes, once as written
/// and twice per [`Loop::run`] with that loop doubled and tripled. Everything it creates must be
/// dropped when it returns, as at the end of a Python program.
///
/// ```
/// use leakharness::check::{check, CheckOptions};
/// use leakharness::device::Backend;
/// use leakharness::report::Verdict;
/// use leakharness::tensor::Device;
///
/// let options = CheckOptions { backend: Backend::Meta, ..CheckOptions::default() };
/// let report = check(&options, |rt, lp| {
///     let mut kept = Vec::new();
///     lp.run(4, |_| {
///         kept.push(rt.zeros(&[256], leakharness::tensor::DType::F32, Device::Cuda)?);
///         Ok(())
///     })
/// })
/// .unwrap();
/// assert_eq!(report.verdict, Verdict::Leak);
/// assert_eq!(report.leaks[0].bytes_per_iteration, 1024);
/// ```
pub fn check<F>(options: &CheckOptions, program: F) -> Result<Report, CheckError>
where
    F: Fn(&Runtime, &mut Loop) -> Result<(), TensorError>,
{
    type Run = (Runtime, Loop, Option<TensorError>, Option<u64>);
    let run = |scaled: Option<(usize, u32)>| -> Result<Run, CheckError> {
        let rt = fresh_runtime_for(
            options,
            options.device_memory,
            AllocatorConfig::default(),
            false,
        )?;
        let driver_before = super::driver_free(&rt);
        let mut lp = Loop {
            scaled,
            next: 0,
            rt: rt.clone(),
            iterations: Vec::new(),
            ends: Vec::new(),
        };
        let error = program(&rt, &mut lp).err();
        Ok((rt, lp, error, driver_before))
    };
    let (rt, first, error, driver_before) = run(None)?;
    let baseline = crate::report::MemoryPoint::default();
    let teardown = super::teardown(&rt, baseline, driver_before);

    let mut leaks = Vec::new();
    if error.is_none() {
        for (k, end_a) in first.ends.iter().enumerate() {
            let (_, doubled, ..) = run(Some((k, 2)))?;
            let Some(end_b) = doubled.ends.get(k) else {
                continue;
            };
            let bytes = end_b.allocated.saturating_sub(end_a.allocated);
            let nodes = end_b.nodes.saturating_sub(end_a.nodes);
            if bytes == 0 && nodes == 0 {
                continue;
            }
            // As for scenarios: what first appears between n and 2n iterations and does not
            // grow again by 3n is a one-off, not a leak.
            let (_, tripled, ..) = run(Some((k, 3)))?;
            let Some(end_c) = tripled.ends.get(k) else {
                continue;
            };
            if end_c.allocated <= end_b.allocated && end_c.nodes <= end_b.nodes {
                continue;
            }
            let extra = end_b.count.saturating_sub(end_a.count).max(1);
            let alloc_sites = end_b
                .sites
                .iter()
                .filter_map(|(key, (b_bytes, b_count, frames))| {
                    let (a_bytes, a_count) =
                        end_a.sites.get(key).map_or((0, 0), |(b, c, _)| (*b, *c));
                    let grown = b_bytes.saturating_sub(a_bytes);
                    (grown > 0).then(|| AllocSite {
                        at: StatementRef {
                            line: frames.first().and_then(|f| f.line).unwrap_or(1),
                            column: 1,
                            statement: key.0.clone(),
                        },
                        bytes: grown / extra,
                        count: b_count.saturating_sub(a_count) / extra,
                        purpose: key.1.name().to_string(),
                        stack: frames.clone(),
                    })
                })
                .collect();
            let kinds = if nodes > 0 {
                vec![LeakKind::RetainedGraph]
            } else {
                vec![LeakKind::TensorList]
            };
            leaks.push(Leak {
                help: super::rules::help(&kinds),
                kinds,
                retained_by: StatementRef {
                    line: end_a.at.line(),
                    column: end_a.at.column(),
                    statement: format!("loop at {}:{}", end_a.at.file(), end_a.at.line()),
                },
                bytes_per_iteration: bytes / extra,
                graph_nodes_per_iteration: nodes / extra,
                alloc_sites,
                retention_path: Vec::new(),
                allowed: None,
                released_by: None,
                projected_bytes: None,
            });
        }
    }
    let verdict = match (&error, leaks.is_empty() && teardown.is_clean(baseline)) {
        (Some(TensorError::Alloc(crate::base::AllocError::OutOfMemory(_))), _) => Verdict::Oom,
        (Some(_), _) => Verdict::Error,
        (None, true) => Verdict::Clean,
        (None, false) => Verdict::Leak,
    };
    let passed = meets(&Expect::Clean, verdict, &leaks, teardown.is_clean(baseline));
    let device = rt.allocator().device_name();
    let peak = rt.allocator().max_memory_allocated();
    let (events, events_dropped) = super::history(&rt);
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        scenario: "(Rust program)".into(),
        description: None,
        backend: options.backend.to_string(),
        device,
        expected: "clean".into(),
        verdict,
        passed,
        leaks,
        bounded_growth: Vec::new(),
        iterations: first.iterations,
        baseline,
        after_teardown: teardown,
        peak: Breakdown {
            allocated: peak,
            ..Breakdown::default()
        },
        oom: None,
        error: error.map(|e| crate::report::ErrorInfo {
            message: e.to_string(),
            line: None,
            column: None,
        }),
        output: Vec::new(),
        stale_allowances: Vec::new(),
        environment: crate::report::Environment::current(options.backend),
        command: None,
        source: String::new(),
        events,
        events_dropped,
    })
}

/// Panics with the human report unless the program was judged clean: for use in `#[test]`s.
///
/// ```should_panic
/// use leakharness::check::{assert_no_leaks, check, CheckOptions};
/// use leakharness::device::Backend;
/// use leakharness::tensor::{DType, Device};
///
/// let options = CheckOptions { backend: Backend::Meta, ..CheckOptions::default() };
/// let report = check(&options, |rt, lp| {
///     let mut kept = Vec::new();
///     lp.run(3, |_| Ok(kept.push(rt.zeros(&[8], DType::F32, Device::Cuda)?)))
/// })
/// .unwrap();
/// assert_no_leaks(&report); // panics: `kept` grows every iteration
/// ```
#[track_caller]
pub fn assert_no_leaks(report: &Report) {
    if report.verdict != Verdict::Clean {
        panic!(
            "leakharness found {}:\n{}",
            report.verdict.name(),
            human_summary(report)
        );
    }
}
