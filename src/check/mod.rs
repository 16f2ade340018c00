//! The leak checker: runs a scenario on fresh runtimes, finds memory and graph history that grow
//! with the number of iterations, says who holds them and how to fix it, checks that teardown
//! returns to the baseline, and fills a [`Report`].
//!
//! The protocol (`docs/leaks.md`): a run as written, with a checkpoint at the end of every loop
//! iteration; for every loop, at any depth, that may grow, one more run with that loop's count
//! doubled (and one tripled when that grew), measured at the end of the loop's first execution;
//! what is alive then is attributed to the statements that stored the references holding it.
//! What grows with the count and nothing releases is a leak; what an enclosing loop releases
//! is a leak when it holds graph no backward will use, the step's own graph when a backward
//! consumes it, and bounded growth when it is detached data.

mod api;
mod breakdown;
mod files;
mod fragmentation;
mod growth;
mod parity;
mod paths;
pub mod plan;
mod rules;
mod statement;
mod subject;
mod trace;
mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alloc::{AllocatorConfig, StackCapture};
use crate::base::TensorError;
use crate::base::Verdict;
use crate::base::{Expect, LeakKind};
use crate::device::Backend;
use crate::report::{
    AllocSite, BoundedGrowth, Environment, ErrorInfo, Leak, MemoryPoint, Report, Teardown,
    LONG_EPOCH_ITERATIONS, SCHEMA_VERSION,
};
use crate::runtime::{BlasWorkspaces, Runtime, RuntimeOptions};
use crate::scenario::interp::{FailureKind, RunOptions};
use crate::scenario::{Scenario, Stmt, StmtKind};
pub use api::{assert_no_leaks, check, Loop};
use breakdown::{oom_info, peak_breakdown, source_lines, statement_ref, teardown_blocks};
pub use files::{check_file, discover, report_stem, report_stems, FileOutcome};
use growth::{growth, Growing, LoopAt, Measured, Recorder, Runs};
pub use parity::{hold_scenario, Holding, Holdings, NodeFact, TensorFact};
use rules::Evidence;
use subject::{ScenarioSubject, Subject};
pub use trace::{trace_scenario, StatementSample, Trace};
use walk::{Held, Root, Via};

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
    /// Wall-time limit of the whole check of a scenario: its run as written and every scaled
    /// re-run together.
    pub time_limit: Duration,
    /// Stack capture for every allocation.
    pub stack_capture: StackCapture,
    /// Set by the run's owner (the CLI's SIGINT/SIGTERM handler) to stop the check inside the
    /// operation running now: every runtime the check makes stops on it
    /// ([`Runtime::stop_on`]). A check stopped so has no verdict worth reporting.
    pub interrupt: Option<Arc<AtomicBool>>,
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
            interrupt: None,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}

/// The checker could not run the scenario at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The runs that measure growth did not finish within the time limit, which bounds the
    /// whole check (the run as written reports its own overrun as an error verdict).
    #[error("the check ran longer than {0:?} over the scenario's re-runs and was stopped; raise `--time-limit`, or check with `--backend meta`, which skips the arithmetic")]
    TimeLimit(Duration),
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

/// How one run of `scenario` is limited: its header's step limit, else the options'.
fn run_options(scenario: &Scenario, options: &CheckOptions) -> RunOptions {
    RunOptions {
        max_steps: scenario.header.max_steps.unwrap_or(options.max_steps),
        time_limit: options.time_limit,
        loop_scale: Vec::new(),
    }
}

/// Checks one parsed scenario and returns its report.
pub fn check_scenario(scenario: &Scenario, options: &CheckOptions) -> Result<Report, CheckError> {
    let subject = ScenarioSubject {
        scenario,
        options,
        run_options: run_options(scenario, options),
        source: source_lines(scenario),
        deadline: Instant::now() + options.time_limit,
    };
    let rt = Subject::fresh_runtime(&subject)?;
    let device = rt.allocator().device_name();
    let baseline = point(&rt);
    let driver_before = driver_free(&rt);

    let mut first = Recorder::as_written(subject.source.clone());
    let result = subject.run(&rt, None, &mut first);
    let mut teardown = teardown(&rt, baseline, driver_before);
    if result.failure.is_none() && teardown.driver_missing().is_some() {
        teardown.driver_free = warm_driver_free(&subject, subject.source.clone())?;
    }
    let peak = peak_breakdown(&rt, &first.source);

    let found = match result.failure {
        None => find_growth(&subject, &first, &rt)?,
        Some(_) => Found::default(),
    };
    let Found { leaks, bounded } = found;

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
        None => (
            verdict_of(&leaks, &bounded, teardown.is_clean(baseline)),
            None,
        ),
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
        bounded_growth: bounded,
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

/// The driver's free memory before and after a second run of the program, on cuda.
///
/// The first launch of a kernel in a process may place its code in device memory (CUDA loads
/// modules lazily, cuBLAS its kernels on first use), and that memory stays with the process, not
/// the program. A program whose first run leaves the driver's free memory lower is run once
/// more, warm: memory taken outside the caching allocator on every run is still caught there,
/// and one-time loading is not reported as the program's.
fn warm_driver_free<S: Subject>(
    subject: &S,
    source: Vec<String>,
) -> Result<Option<(u64, u64)>, CheckError> {
    let rt = subject.fresh_runtime()?;
    let baseline = point(&rt);
    let before = driver_free(&rt);
    subject.run(&rt, None, &mut Recorder::as_written(source));
    Ok(teardown(&rt, baseline, before).driver_free)
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
        scenario.header.allocator_config(),
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
    allocator_config: AllocatorConfig,
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
            allocator_config,
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
    if let Some(flag) = &options.interrupt {
        rt.stop_on(flag.clone());
    }
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

/// The verdict of a run that ended normally.
fn verdict_of(leaks: &[Leak], bounded: &[BoundedGrowth], clean_teardown: bool) -> Verdict {
    if !leaks.is_empty() || !clean_teardown {
        Verdict::Leak
    } else if !bounded.is_empty() {
        Verdict::BoundedGrowth
    } else {
        Verdict::Clean
    }
}

/// Whether a verdict meets the scenario's expectation.
fn meets(expect: &Expect, verdict: Verdict, leaks: &[Leak], clean_teardown: bool) -> bool {
    match expect {
        // Bounded growth is not a failure: it is reported, and expected only when named.
        Expect::Clean => matches!(verdict, Verdict::Clean | Verdict::BoundedGrowth),
        Expect::BoundedGrowth => verdict == Verdict::BoundedGrowth,
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

/// What the growth runs found.
#[derive(Default)]
struct Found {
    leaks: Vec<Leak>,
    bounded: Vec<BoundedGrowth>,
}

/// Runs every loop that may grow doubled (and tripled when that grew), outer loops first, and
/// judges what grows (`docs/leaks.md`).
fn find_growth<S: Subject>(
    subject: &S,
    first: &Recorder,
    rt: &Runtime,
) -> Result<Found, CheckError> {
    let mut order: Vec<(usize, LoopAt)> = first
        .loops
        .iter()
        .map(|(at, seen)| (seen.depth(&first.loops), *at))
        .collect();
    order.sort();
    let mut growing: BTreeMap<LoopAt, BTreeSet<Root>> = BTreeMap::new();
    let mut found = Found::default();
    for (_, at) in order {
        let seen = &first.loops[&at];
        let Some(measured) = &seen.measured else {
            continue;
        };
        if !seen.may_grow() {
            continue;
        }
        let scaled_run = |factor, after| -> Result<Recorder, CheckError> {
            let mut recorder = Recorder::scaled(at, after, first.source.clone());
            let rt = subject.fresh_runtime()?;
            subject.run(&rt, Some((at, factor)), &mut recorder);
            if let Some(e) = subject.out_of_time() {
                return Err(e);
            }
            Ok(recorder)
        };
        // A loop that releases memory every few iterations is measured at the same point of
        // its period in every run (`LoopSeen::period_end`).
        let period_end = seen.period_end();
        let at_period_end = match period_end {
            Some(end) => Some(scaled_run(1, Some(end))?),
            None => None,
        };
        let doubled = scaled_run(2, period_end.map(|end| 2 * end))?;
        let Some(doubled_m) = doubled.measured(at) else {
            continue;
        };
        let ran = |m: &Measured| m.counts.get(&at).copied().unwrap_or(0);
        let measured = match &at_period_end {
            Some(run) => match run.measured(at) {
                Some(m) => m,
                None => continue,
            },
            None => measured,
        };
        // A `while`, or a `for` over a one-shot iterator, runs as written whatever the scale:
        // its growth is measured within its first execution instead, after a third, two thirds
        // and three thirds of its iterations (rounded down to a multiple of three).
        let third = seen.iterations() / 3;
        let sampled = if ran(doubled_m) > seen.iterations() as u64 {
            None
        } else if third == 0 {
            continue;
        } else {
            Some((scaled_run(1, Some(third))?, scaled_run(1, Some(2 * third))?))
        };
        let (first_m, doubled_m) = match &sampled {
            None => (measured, doubled_m),
            Some((a, b)) => match (a.measured(at), b.measured(at)) {
                (Some(a), Some(b)) => (a, b),
                _ => continue,
            },
        };
        // Fragmentation is judged at top-level loops only: the cache outlives every loop, so
        // what an inner loop's shapes open, the loops around it show too.
        let reserved_grows =
            seen.parent.is_none() && doubled_m.cache.reserved > first_m.cache.reserved;
        if !first_m.alive.grows_into(&doubled_m.alive) && !reserved_grows {
            continue;
        }
        // A third run tells growth from a one-off that first happens between n and 2n
        // iterations (an optimizer's first step under gradient accumulation, say): only what
        // grows again from 2n to 3n grows with the loop.
        let tripled = match &sampled {
            None => scaled_run(3, period_end.map(|end| 3 * end))?,
            Some(_) => scaled_run(1, Some(3 * third))?,
        };
        let Some(tripled_m) = tripled.measured(at) else {
            continue;
        };
        let runs = Runs {
            first: first_m,
            doubled: doubled_m,
            tripled: tripled_m,
        };
        if seen.parent.is_none() {
            found.leaks.extend(fragmentation::leak(subject, &runs, at));
        }
        let (roots, hidden) = runs.growing();
        let judge = Judge {
            subject,
            rt,
            runs: &runs,
            at,
        };
        for g in &roots {
            growing.entry(at).or_default().insert(g.root);
            let released_by = match seen.parent {
                None => None,
                // The enclosing loop grows it too: judged there.
                Some(p) if growing.get(&p).is_some_and(|r| r.contains(&g.root)) => continue,
                Some(p) => Some(p),
            };
            judge.growing(g, released_by, &mut found);
        }
        if let (Some((bytes, nodes)), None) = (hidden, seen.parent) {
            found.leaks.push(judge.hidden(bytes, nodes));
        }
    }
    Ok(found)
}

/// Judges what grows with one loop.
struct Judge<'a, S> {
    subject: &'a S,
    rt: &'a Runtime,
    runs: &'a Runs<'a>,
    /// The loop that was scaled.
    at: LoopAt,
}

impl<S: Subject> Judge<'_, S> {
    /// A leak, bounded growth, or the step's own graph under construction (nothing to report).
    /// `released_by` is the enclosing loop whose iterations release the growth, if any.
    fn growing(&self, g: &Growing<'_>, released_by: Option<LoopAt>, found: &mut Found) {
        // Hooks that keep what grows count per iteration of the loop around their
        // registration, which is where the leak is reported.
        let hook_site = growing_hook_site(g);
        let around = *self
            .subject
            .loops_around(hook_site.unwrap_or(g.root.at))
            .last()
            .unwrap_or(&self.at);
        let extra = self.runs.extra_iterations(around);
        let bytes_per_iteration = g.bytes / extra;
        let released = released_by.map(|at| self.subject.statement(at));
        let graph_grows = g.nodes > 0 || g.more(|h| h.graph_bytes) > 0;
        if let (Some(released_by), false) = (&released, graph_grows) {
            found.bounded.push(BoundedGrowth {
                retained_by: self.subject.retained_by(g),
                bytes_per_iteration,
                released_by: released_by.clone(),
                projected_bytes: bytes_per_iteration.saturating_mul(LONG_EPOCH_ITERATIONS),
                alloc_sites: self.alloc_sites(g, extra),
                retention_path: self.subject.retention_path(g),
            });
            return;
        }
        let unused_grows = g.more(|h| h.unused_graph_nodes) > 0;
        let used_grows = g.more(|h| h.used_graph_nodes) > 0;
        if released.is_some()
            && unused_grows
            && !used_grows
            && self.runs.doubled.consumed.contains(&g.root)
        {
            // A backward later in the same iteration of the enclosing loop runs through it:
            // one step's graph, built over several inner iterations.
            return;
        }
        let kinds = rules::kinds(&Evidence {
            list_of_device_tensors_grows: matches!(g.root.via, Via::ListElement | Via::Program)
                && g.more(|h| h.list_tensors) > 0,
            graph_grows,
            running_total: g.root.accumulates,
            unused_graph_grows: unused_grows,
            carried_state: g.root.via == Via::Name && self.subject.carries_state(g.root.at),
            exception_grows: g.reach_grows(|h| h.through_exception),
            in_cycle: g.root.via == Via::Cycle,
            hook_or_closure_grows: g.reach_grows(|h| h.through_hook)
                || g.reach_grows(|h| h.through_cell),
            hooks_grow: g.more(|h| h.hooks) > 0,
            ctx_attribute_grows: growing_ctx_attribute(g).is_some(),
            reserved_grows_alone: false,
        });
        let hook_kind = kinds
            .iter()
            .any(|k| matches!(k, LeakKind::HookCapture | LeakKind::HookAccumulation));
        let ctx_site = growing_ctx_attribute(g)
            .and_then(|(function, attr)| self.subject.ctx_attribute(&function, &attr));
        let retained_by = match (g.root.via, ctx_site, hook_site) {
            // The statement that put the tensor on ctx is what to change, cycle or not.
            (_, Some(at), _) => self.subject.statement(at),
            // Garbage is held by no statement: it is reported at the loop that makes it.
            (Via::Cycle, ..) => self.subject.statement(self.at),
            // A hook keeps what grows: the statement that registered it is what to change,
            // not the one that made the model.
            (_, None, Some(at)) if hook_kind => self.subject.statement(at),
            _ => self.subject.retained_by(g),
        };
        found.leaks.push(Leak {
            help: rules::help(&kinds),
            kinds,
            retained_by,
            bytes_per_iteration,
            graph_nodes_per_iteration: g.nodes / extra,
            alloc_sites: self.alloc_sites(g, extra),
            retention_path: match g.first.unwrap_or(g.doubled) {
                h if hook_kind && !h.hook_example.is_empty() => h.hook_example.clone(),
                _ => self.subject.retention_path(g),
            },
            projected_bytes: released
                .as_ref()
                .map(|_| bytes_per_iteration.saturating_mul(LONG_EPOCH_ITERATIONS)),
            released_by: released,
            allowed: None,
            fragmentation: None,
        });
    }

    /// Growth that no name reaches: held by something the program cannot see, a runtime bug.
    fn hidden(&self, bytes: u64, nodes: u64) -> Leak {
        let extra = self.runs.extra_iterations(self.at);
        Leak {
            kinds: Vec::new(),
            retained_by: self.subject.statement(self.at),
            bytes_per_iteration: bytes / extra,
            graph_nodes_per_iteration: nodes / extra,
            alloc_sites: Vec::new(),
            retention_path: Vec::new(),
            help: "memory grows with this loop but nothing the program names holds it: a bug in the runtime; \
                   the teardown section lists the blocks left behind with their stacks"
                .into(),
            released_by: None,
            projected_bytes: None,
            allowed: None,
            fragmentation: None,
        }
    }

    /// Where the growing bytes were allocated, per iteration.
    fn alloc_sites(&self, g: &Growing<'_>, extra: u64) -> Vec<AllocSite> {
        g.doubled
            .sites
            .iter()
            .filter_map(|(site, &(bytes_b, count_b))| {
                let (bytes_a, count_a) = g
                    .first
                    .and_then(|a| a.sites.get(site).copied())
                    .unwrap_or((0, 0));
                let grown = growth(bytes_a, bytes_b);
                (grown > 0).then(|| AllocSite {
                    at: self.subject.statement(site.at),
                    bytes: grown / extra,
                    count: growth(count_a, count_b) / extra,
                    purpose: site.purpose.to_string(),
                    stack: g
                        .first
                        .unwrap_or(g.doubled)
                        .site_stacks
                        .get(site)
                        .and_then(|&id| self.rt.allocator_mut().stacks().symbolize(id))
                        .map(|frames| self.subject.stack(&frames))
                        .unwrap_or_default(),
                })
            })
            .collect()
    }
}

/// The statement that registered the module hooks through which the most grows (bytes, then
/// nodes, then hooks), if any does.
fn growing_hook_site(g: &Growing<'_>) -> Option<(u32, u32)> {
    g.doubled
        .hook_sites
        .iter()
        .filter_map(|(&at, later)| {
            let before = g
                .first
                .and_then(|h| h.hook_sites.get(&at).copied())
                .unwrap_or_default();
            let more = (
                growth(before.reach.bytes, later.reach.bytes),
                growth(before.reach.nodes, later.reach.nodes),
                growth(before.hooks, later.hooks),
            );
            (more != (0, 0, 0)).then_some((more, at))
        })
        .max()
        .map(|(_, at)| at)
}

/// The custom Function and `ctx` attribute through which the most grows (bytes, then nodes),
/// if anything grows through one.
fn growing_ctx_attribute(g: &Growing<'_>) -> Option<(String, String)> {
    g.doubled
        .ctx_attributes
        .iter()
        .filter_map(|(key, later)| {
            let before = g
                .first
                .and_then(|h| h.ctx_attributes.get(key).copied())
                .unwrap_or_default();
            let more = (
                growth(before.bytes, later.bytes),
                growth(before.nodes, later.nodes),
            );
            (more != (0, 0)).then_some((more, key))
        })
        .max()
        .map(|(_, key)| key.clone())
}

/// Where the growing bytes are; for growth of graph history alone, its longest chain.
fn example(g: &Growing<'_>) -> Vec<String> {
    let pick = |h: &Held| {
        if g.bytes > 0 {
            h.example.clone()
        } else {
            h.node_example.clone()
        }
    };
    match g.first.map(pick) {
        Some(path) if !path.is_empty() => path,
        _ => pick(g.doubled),
    }
}

/// The loops around the statement at `at` in the source, outermost first: `for` and `while`
/// bodies, at any depth of `if`, `with`, `try`, functions and classes. The loops around a `def`
/// do not run its body, so they do not count for a statement inside it.
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
            let is_loop = matches!(s.kind, StmtKind::For { .. } | StmtKind::While { .. });
            if matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
                stack.clear();
            }
            for (i, block) in s.blocks().into_iter().enumerate() {
                // A loop's first block is its body; its `else` runs after the last iteration.
                let in_body = is_loop && i == 0;
                if in_body {
                    stack.push((s.span.line, s.span.col));
                }
                if walk(block, at, stack) {
                    return true;
                }
                if in_body {
                    stack.pop();
                }
            }
        }
        false
    }
    let mut stack = Vec::new();
    walk(body, at, &mut stack);
    stack
}
