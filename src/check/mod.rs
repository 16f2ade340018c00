//! The leak checker: runs a scenario on fresh runtimes, finds memory and graph history that grow
//! with the number of iterations, says who holds them and how to fix it, checks that teardown
//! returns to the baseline, and fills a [`Report`].
//!
//! The protocol (`docs/leaks.md`): a run as written, with a checkpoint at the end of every loop
//! iteration; one more run per top-level loop with that loop's count doubled, stopped at the
//! loop's end; what is alive at the end of each top-level loop is attributed to the statements
//! that stored the references holding it, and whatever grows with the count is a leak.

mod api;
mod files;
mod trace;
mod walk;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::alloc::{EventKind, Place, Purpose, StackCapture};
use crate::base::Expect;
use crate::base::TensorError;
use crate::base::{LeakKind, Verdict};
use crate::device::Backend;
use crate::report::{
    AllocSite, Breakdown, Environment, ErrorInfo, IterationPoint, Leak, MemoryPoint, OomInfo,
    Report, StatementBytes, StatementRef, Teardown, TeardownBlock, SCHEMA_VERSION,
};
use crate::runtime::{BlasWorkspaces, Runtime, RuntimeOptions};
use crate::scenario::interp::{
    self, Control, Env, Failure, FailureKind, IterationEnd, Observer, RunOptions,
};
use crate::scenario::{Scenario, Stmt, StmtKind};
pub use api::{assert_no_leaks, check, Loop};
pub use files::{check_file, discover, report_stem, FileOutcome};
pub use trace::{trace_scenario, StatementSample, Trace};
use walk::{attribute, Attribution, Held, Root, Via};

/// How to check a scenario.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The backend to run on.
    pub backend: Backend,
    /// Device memory when the scenario's header does not set it: the simulated capacity on cpu
    /// and meta, an allocator limit on cuda.
    pub device_memory: Option<u64>,
    /// Limit on executed statements when the header does not set one.
    pub max_steps: u64,
    /// Wall-time limit of each run.
    pub time_limit: Duration,
    /// Stack capture for every allocation.
    pub stack_capture: StackCapture,
    /// A deliberate runtime bug for every runtime the checker creates.
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<crate::base::PlantedBug>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            backend: Backend::Cpu,
            device_memory: None,
            max_steps: 1_000_000,
            time_limit: Duration::from_secs(120),
            stack_capture: StackCapture::default(),
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}

/// The checker could not run the scenario at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The device could not be opened.
    #[error("cannot open the {backend} backend: {source}")]
    Device {
        /// The backend.
        backend: Backend,
        /// Why.
        #[source]
        source: TensorError,
    },
}

/// Checks one parsed scenario and returns its report.
pub fn check_scenario(scenario: &Scenario, options: &CheckOptions) -> Result<Report, CheckError> {
    let run_options = RunOptions {
        max_steps: scenario.header.max_steps.unwrap_or(options.max_steps),
        time_limit: options.time_limit,
        loop_scale: Vec::new(),
    };
    let rt = fresh_runtime(scenario, options)?;
    let device = rt.allocator().device_name();
    let baseline = point(&rt);
    let driver_before = driver_free(&rt);

    let mut first = Recorder::new(None, scenario);
    let result = interp::run(scenario, &rt, &run_options, &mut first);
    let teardown = teardown(&rt, baseline, driver_before);
    let peak = peak_breakdown(&rt, &first.source);

    let mut leaks = Vec::new();
    if result.failure.is_none() {
        for (loop_at, at_end) in &first.loop_ends {
            let scaled_run = |factor| -> Result<Recorder, CheckError> {
                let mut recorder = Recorder::new(Some(*loop_at), scenario);
                let scaled = RunOptions {
                    loop_scale: vec![(*loop_at, factor)],
                    ..run_options.clone()
                };
                let rt = fresh_runtime(scenario, options)?;
                interp::run(scenario, &rt, &scaled, &mut recorder);
                Ok(recorder)
            };
            let doubled = scaled_run(2)?;
            let Some(at_end_b) = doubled.loop_ends.get(loop_at) else {
                continue;
            };
            if !at_end.grows_into(at_end_b) {
                continue;
            }
            // A third run tells growth from a one-off that first happens between n and 2n
            // iterations (an optimizer's first step under gradient accumulation, say): only
            // what grows again from 2n to 3n is a leak.
            let tripled = scaled_run(3)?;
            let Some(at_end_c) = tripled.loop_ends.get(loop_at) else {
                continue;
            };
            let runs = Runs {
                first: at_end,
                first_counts: &first.counts,
                doubled: at_end_b,
                doubled_counts: &doubled.counts,
                tripled: at_end_c,
            };
            leaks.extend(compare(scenario, &first.source, *loop_at, &runs, &rt));
        }
    }

    let oom = first.oom.take();
    let (verdict, error) = match &result.failure {
        Some(f) => (
            match f.kind {
                FailureKind::OutOfMemory(_) => Verdict::Oom,
                FailureKind::Assertion => Verdict::AssertionFailed,
                FailureKind::Error => Verdict::Error,
            },
            Some(ErrorInfo {
                message: f.error.to_string(),
                line: Some(f.error.line),
                column: Some(f.error.col),
            }),
        ),
        None if !leaks.is_empty() || !teardown.is_clean(baseline) => (Verdict::Leak, None),
        None => (Verdict::Clean, None),
    };
    let (events, events_dropped) = history(&rt);
    let passed = meets(
        &scenario.header.expect,
        verdict,
        &leaks,
        teardown.is_clean(baseline),
    );
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        scenario: scenario.path.display().to_string(),
        description: scenario.header.description.clone(),
        backend: options.backend.to_string(),
        device,
        expected: scenario.header.expect.to_string(),
        verdict,
        passed,
        leaks,
        iterations: first.iterations,
        baseline,
        after_teardown: teardown,
        peak,
        oom,
        error,
        output: result.output,
        stale_allowances: Vec::new(),
        environment: Environment::current(options.backend),
        command: None,
        source: scenario.source.clone(),
        events,
        events_dropped,
    })
}

/// The events the bounded history of `rt` keeps, and how many it recorded before them.
fn history(rt: &Runtime) -> (Vec<crate::alloc::Event>, u64) {
    let alloc = rt.allocator();
    let events: Vec<_> = alloc.history().events().cloned().collect();
    let dropped = alloc.history().total_recorded() - events.len() as u64;
    (events, dropped)
}

/// Free device memory as the driver reports it (`cuMemGetInfo`), on cuda. Compared before the
/// scenario and after its teardown and `empty_cache()`, it catches memory taken outside the
/// caching allocator; it is only meaningful while nothing else (another scenario, another
/// process) allocates on the same GPU, so the checker's callers run cuda scenarios one at a
/// time.
fn driver_free(rt: &Runtime) -> Option<u64> {
    rt.gpu()?.mem_get_info().ok().map(|(free, _)| free)
}

/// Scope exit has happened: measures it, runs `empty_cache()`, measures again, and lists what
/// is left (blocks, and on cuda the driver's view). `driver_before` is the driver's free memory
/// before the program ran.
fn teardown(rt: &Runtime, baseline: MemoryPoint, driver_before: Option<u64>) -> Teardown {
    // The cuBLAS workspaces belong to the process, not the program: PyTorch frees them at
    // exit, so the program's own teardown is measured without them.
    let _ = rt.clear_blas_workspaces();
    let after_scope_exit = point(rt);
    let _ = rt.allocator_mut().empty_cache();
    let after_empty_cache = point(rt);
    let live_blocks = if after_empty_cache != baseline {
        teardown_blocks(rt)
    } else {
        Vec::new()
    };
    Teardown {
        after_scope_exit,
        after_empty_cache,
        live_blocks,
        driver_free: driver_before.zip(driver_free(rt)),
    }
}

fn fresh_runtime(scenario: &Scenario, options: &CheckOptions) -> Result<Runtime, CheckError> {
    fresh_runtime_for(
        options,
        scenario.header.device_memory.or(options.device_memory),
        true,
    )
}

/// A runtime for one run: `memory` is the simulated capacity on cpu and meta, and an allocator
/// limit on cuda, whose card has the size it has.
/// `python`: whether the program is a scenario, whose nodes are named as PyTorch names them when
/// called from Python.
fn fresh_runtime_for(
    options: &CheckOptions,
    memory: Option<u64>,
    python: bool,
) -> Result<Runtime, CheckError> {
    let capacity = if options.backend == Backend::Cuda {
        None
    } else {
        memory
    };
    let rt = Runtime::new(
        options.backend,
        RuntimeOptions {
            device_memory: capacity,
            stack_capture: Some(options.stack_capture),
            python_scalar_names: python,
            #[cfg(feature = "planted-bugs")]
            planted_bug: options.planted_bug,
            ..RuntimeOptions::default()
        },
    )
    .map_err(|source| CheckError::Device {
        backend: options.backend,
        source,
    })?;
    // The simulated devices stand for an 80 GiB H100-class card (compute capability 9.0).
    let (major, minor) = rt.compute_capability().unwrap_or((9, 0));
    rt.set_blas_workspaces(Some(BlasWorkspaces::pytorch_default(major, minor)));
    if options.backend == Backend::Cuda {
        rt.allocator_mut()
            .set_memory_limit(memory)
            .map_err(|e| CheckError::Device {
                backend: options.backend,
                source: e.into(),
            })?;
    }
    Ok(rt)
}

fn point(rt: &Runtime) -> MemoryPoint {
    MemoryPoint {
        allocated: rt.memory_allocated(),
        reserved: rt.memory_reserved(),
    }
}

/// Whether a verdict meets the scenario's expectation.
fn meets(expect: &Expect, verdict: Verdict, leaks: &[Leak], clean_teardown: bool) -> bool {
    match expect {
        Expect::Clean => verdict == Verdict::Clean,
        Expect::Oom => verdict == Verdict::Oom,
        Expect::Error => verdict == Verdict::Error,
        Expect::Leak(kinds) => {
            verdict == Verdict::Leak
                && (kinds.is_empty() && (!leaks.is_empty() || !clean_teardown)
                    || kinds
                        .iter()
                        .all(|k| leaks.iter().any(|l| l.kinds.contains(k))))
        }
    }
}

/// Watches a run: checkpoints at every iteration end, what is alive at the end of top-level
/// loops, and the memory at an out-of-memory error.
struct Recorder {
    /// In a doubled run, the loop to stop after.
    stop_after: Option<(u32, u32)>,
    iterations: Vec<IterationPoint>,
    counts: BTreeMap<(u32, u32), u64>,
    loop_ends: BTreeMap<(u32, u32), Attribution>,
    oom: Option<OomInfo>,
    source: Vec<String>,
}

impl Recorder {
    fn new(stop_after: Option<(u32, u32)>, scenario: &Scenario) -> Recorder {
        Recorder {
            stop_after,
            iterations: Vec::new(),
            counts: BTreeMap::new(),
            loop_ends: BTreeMap::new(),
            oom: None,
            source: source_lines(scenario),
        }
    }
}

impl Observer for Recorder {
    fn iteration_end(&mut self, at: &IterationEnd<'_>) -> Control {
        let key = (at.loop_at.line, at.loop_at.col);
        *self.counts.entry(key).or_default() += 1;
        if self.stop_after.is_none() {
            self.iterations.push(IterationPoint {
                loop_line: at.loop_at.line,
                index: at.index.to_vec(),
                allocated: at.rt.memory_allocated(),
                reserved: at.rt.memory_reserved(),
                graph_nodes: at.rt.live_nodes() as u64,
                at_event: at.rt.allocator().history().total_recorded(),
            });
        }
        if at.index.len() == 1 && at.last {
            let attribution = attribute(at.env, &at.rt.allocator(), at.rt.live_nodes() as u64);
            self.loop_ends.insert(key, attribution);
            if self.stop_after == Some(key) {
                return Control::Stop;
            }
        }
        Control::Continue
    }

    fn before_teardown(&mut self, rt: &Runtime, _env: &Env, failure: Option<&Failure>) {
        if let Some(Failure {
            kind: FailureKind::OutOfMemory(oom),
            error,
        }) = failure
        {
            let at = StatementRef {
                line: error.line,
                column: error.col,
                statement: error.source_line.trim().to_string(),
            };
            self.oom = Some(OomInfo {
                message: oom.message.clone(),
                at: Some(at),
                memory: live_breakdown(rt, &self.source),
            });
        }
    }
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

fn statement_ref(source: &[String], line: u32, column: u32) -> StatementRef {
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

fn source_lines(scenario: &Scenario) -> Vec<String> {
    scenario.source.lines().map(str::to_string).collect()
}

/// Blocks still allocated after teardown, with tags and symbolized stacks.
fn teardown_blocks(rt: &Runtime) -> Vec<TeardownBlock> {
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
fn peak_breakdown(rt: &Runtime, source: &[String]) -> Breakdown {
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

/// What two runs left alive at the end of one top-level loop.
struct Runs<'a> {
    first: &'a Attribution,
    first_counts: &'a BTreeMap<(u32, u32), u64>,
    doubled: &'a Attribution,
    doubled_counts: &'a BTreeMap<(u32, u32), u64>,
    tripled: &'a Attribution,
}

/// The `for` statements around the statement at `at`, outermost first.
fn enclosing_loops(body: &[Stmt], at: (u32, u32)) -> Vec<(u32, u32)> {
    fn walk(body: &[Stmt], at: (u32, u32), stack: &mut Vec<(u32, u32)>) -> bool {
        for s in body {
            if (s.span.line, s.span.col) == at {
                return true;
            }
            let inside = (s.span.line, s.span.col) <= at && at < (s.span.end_line, s.span.end_col);
            if !inside {
                continue;
            }
            match &s.kind {
                StmtKind::For { body, .. } => {
                    stack.push((s.span.line, s.span.col));
                    if walk(body, at, stack) {
                        return true;
                    }
                    stack.pop();
                }
                StmtKind::With { body, .. } if walk(body, at, stack) => return true,
                StmtKind::If { body, orelse, .. }
                    if walk(body, at, stack) || walk(orelse, at, stack) =>
                {
                    return true
                }
                _ => {}
            }
        }
        false
    }
    let mut stack = Vec::new();
    walk(body, at, &mut stack);
    stack
}

fn growth(a: u64, b: u64) -> u64 {
    b.saturating_sub(a)
}

/// Leaks of one top-level loop: what the doubled run holds more of, root by root.
fn compare(
    scenario: &Scenario,
    source: &[String],
    loop_at: (u32, u32),
    runs: &Runs<'_>,
    rt: &Runtime,
) -> Vec<Leak> {
    let empty = Held::default();
    let extra_iterations = |at: (u32, u32)| -> u64 {
        let around = *enclosing_loops(&scenario.body, at)
            .last()
            .unwrap_or(&loop_at);
        let a = runs.first_counts.get(&around).copied().unwrap_or(0);
        let b = runs.doubled_counts.get(&around).copied().unwrap_or(0);
        growth(a, b).max(1)
    };
    let mut roots: Vec<&Root> = runs
        .first
        .roots
        .keys()
        .chain(runs.doubled.roots.keys())
        .collect();
    roots.sort();
    roots.dedup();
    let mut leaks = Vec::new();
    let mut explained_bytes = 0;
    let mut explained_nodes = 0;
    for root in roots {
        let a = runs.first.roots.get(root).unwrap_or(&empty);
        let b = runs.doubled.roots.get(root).unwrap_or(&empty);
        let c = runs.tripled.roots.get(root).unwrap_or(&empty);
        let (bytes, nodes) = (growth(a.bytes, b.bytes), growth(a.nodes, b.nodes));
        if bytes == 0 && nodes == 0 {
            continue;
        }
        explained_bytes += bytes;
        explained_nodes += nodes;
        if growth(b.bytes, c.bytes) == 0 && growth(b.nodes, c.nodes) == 0 {
            continue;
        }
        let extra = extra_iterations(root.at);
        let mut kinds = Vec::new();
        if root.via == Via::ListElement && growth(a.list_tensors, b.list_tensors) > 0 {
            kinds.push(LeakKind::TensorList);
        }
        let graph_grows = nodes > 0 || growth(a.graph_bytes, b.graph_bytes) > 0;
        if graph_grows {
            if root.accumulates {
                kinds.push(LeakKind::AttachedMetric);
            }
            if growth(a.unused_graph_nodes, b.unused_graph_nodes) > 0 {
                kinds.push(LeakKind::MissingNoGrad);
            } else if !root.accumulates {
                kinds.push(LeakKind::RetainedGraph);
            }
        }
        let alloc_sites = b
            .sites
            .iter()
            .filter_map(|(site, &(bytes_b, count_b))| {
                let (bytes_a, count_a) = a.sites.get(site).copied().unwrap_or((0, 0));
                let grown = growth(bytes_a, bytes_b);
                (grown > 0).then(|| AllocSite {
                    at: statement_ref(source, site.at.0, site.at.1),
                    bytes: grown / extra,
                    count: growth(count_a, count_b) / extra,
                    purpose: site.purpose.to_string(),
                    stack: a
                        .site_stacks
                        .get(site)
                        .and_then(|&id| rt.allocator_mut().stacks().symbolize(id))
                        .map(|frames| frames.to_vec())
                        .unwrap_or_default(),
                })
            })
            .collect();
        // Show where the growing bytes are; a leak of graph history alone, its longest chain.
        let (ea, eb) = if bytes > 0 {
            (&a.example, &b.example)
        } else {
            (&a.node_example, &b.node_example)
        };
        let example = if ea.is_empty() { eb } else { ea };
        leaks.push(Leak {
            help: help(&kinds),
            kinds,
            retained_by: statement_ref(source, root.at.0, root.at.1),
            bytes_per_iteration: bytes / extra,
            graph_nodes_per_iteration: nodes / extra,
            alloc_sites,
            retention_path: example.clone(),
            allowed: None,
        });
    }
    // Growth that no name reaches is held by something the program cannot see: a runtime bug.
    let hidden_bytes = growth(
        runs.first.allocated + explained_bytes,
        runs.doubled.allocated,
    );
    let hidden_nodes = growth(
        runs.first.live_nodes + explained_nodes,
        runs.doubled.live_nodes,
    );
    let hidden_grows_again = growth(runs.doubled.allocated, runs.tripled.allocated) > 0
        || growth(runs.doubled.live_nodes, runs.tripled.live_nodes) > 0;
    if (hidden_bytes > 0 || hidden_nodes > 0) && hidden_grows_again {
        let extra = extra_iterations(loop_at);
        leaks.push(Leak {
            kinds: Vec::new(),
            retained_by: statement_ref(source, loop_at.0, loop_at.1),
            bytes_per_iteration: hidden_bytes / extra,
            graph_nodes_per_iteration: hidden_nodes / extra,
            alloc_sites: Vec::new(),
            retention_path: Vec::new(),
            help: "memory grows with this loop but nothing the program names holds it: a bug in the runtime; \
                   the teardown section lists the blocks left behind with their stacks"
                .into(),
            allowed: None,
        });
    }
    leaks
}

/// The fix for a leak of these kinds.
fn help(kinds: &[LeakKind]) -> String {
    if kinds.contains(&LeakKind::AttachedMetric) {
        "accumulate loss.detach() or float(loss) instead: a running total of attached tensors chains every iteration's graph".into()
    } else if kinds.contains(&LeakKind::MissingNoGrad) {
        "wrap the loop in torch.no_grad(): it builds graphs no backward uses, and keeps them through its outputs".into()
    } else if kinds.contains(&LeakKind::RetainedGraph) && kinds.contains(&LeakKind::TensorList) {
        "append loss.item() instead (or loss.detach() if you need a tensor): the kept tensor keeps its whole graph".into()
    } else if kinds.contains(&LeakKind::RetainedGraph) {
        "keep loss.detach() or loss.item() instead, and do not pass retain_graph=True unless a second backward needs it".into()
    } else if kinds.contains(&LeakKind::TensorList) {
        "append loss.item() instead, or move the kept tensors to the host with .cpu(): the list grows every iteration".into()
    } else {
        "memory held by this statement grows with every iteration; drop the reference when it is no longer needed".into()
    }
}
