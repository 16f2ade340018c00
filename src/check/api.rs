//! The checker for Rust code that uses the runtime directly: a Rust closure is a
//! [`Subject`] like a scenario. Each loop run through [`Loop::run`] is run as written, doubled
//! and tripled on fresh runtimes, measured by the same recorder, judged by the same rules and
//! torn down the same way.
//!
//! What differs is attribution: the checker cannot name a Rust program's variables, so all the
//! memory a program keeps across a loop is one root, and the retaining site is where the
//! kept memory was allocated in the caller's code (the first frame of its allocation stack
//! outside leakharness and the standard library): the statement that made the tensor the
//! program keeps, and for a graph of saved tensors alone, the statement that saved the most.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::Location as CallSite;
use std::rc::Rc;

use super::growth::{growth, Growing, LoopAt, LoopIterationEnd, Recorder};
use super::subject::Subject;
use super::walk::{Attribution, Held, Root, Site, Via};
use super::{driver_free, fresh_runtime_for, meets, teardown, CheckError, CheckOptions, Found};
use crate::alloc::AllocatorConfig;
use crate::alloc::{Frame, Purpose};
use crate::base::Verdict;
use crate::base::{format_size, Expect, TensorError};
use crate::report::{human_summary, Breakdown, Report, StatementRef, SCHEMA_VERSION};
use crate::runtime::Runtime;
use crate::scenario::interp::Control;

/// Columns of allocation sites, which have a file and a line but no column, are this bit and
/// the file's index, so that they never equal a loop's `(line, column)`.
const SITE_FILE: u32 = 1 << 31;

/// What the checker learned to call the places of a Rust program, across its runs.
#[derive(Default)]
struct Places {
    files: Vec<String>,
    /// An allocation site's `(line, SITE_FILE | file)` or a loop's `(line, column)`: its
    /// description.
    names: BTreeMap<(u32, u32), String>,
}

impl Places {
    /// The key of the caller's frame that allocated.
    fn site(&mut self, frame: Option<&Frame>) -> (u32, u32) {
        let Some(f) = frame else {
            return (0, SITE_FILE);
        };
        let file = f.file.as_deref().unwrap_or("?");
        let index = match self.files.iter().position(|known| known == file) {
            Some(i) => i,
            None => {
                self.files.push(file.to_string());
                self.files.len() - 1
            }
        };
        let line = f.line.unwrap_or(0);
        let key = (line, SITE_FILE | index as u32);
        self.names
            .entry(key)
            .or_insert_with(|| format!("{} ({file}:{line})", f.function));
        key
    }
}

/// The loops of a checked program. Pass every loop whose growth should be judged through
/// [`Loop::run`].
pub struct Loop {
    rt: Runtime,
    /// The loop (by its call site) that runs more times in this run, and how many times more.
    scale: Option<(LoopAt, u32)>,
    recorder: Recorder,
    places: Rc<RefCell<Places>>,
    /// The run has measured what it was run for: the rest of the program's loops are skipped.
    stopped: bool,
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
        let here = (at.line(), at.column());
        self.places
            .borrow_mut()
            .names
            .entry(here)
            .or_insert_with(|| format!("loop at {}:{}", at.file(), at.line()));
        if self.stopped {
            return Ok(());
        }
        let count = match self.scale {
            Some((l, factor)) if l == here => n.saturating_mul(factor),
            _ => n,
        };
        for i in 0..count {
            body(i)?;
            let (rt, places) = (&self.rt, &self.places);
            let end = LoopIterationEnd {
                rt,
                here,
                index: &[i],
                parent: None,
                last: i + 1 == count,
            };
            let control = self.recorder.loop_iteration_end(end, &mut |_| {
                attribute_program(rt, here, &mut places.borrow_mut())
            });
            if control == Control::Stop {
                self.stopped = true;
                break;
            }
        }
        Ok(())
    }
}

/// The first frame of code outside leakharness and the standard library: the caller's.
fn callers_frames(frames: &[Frame]) -> &[Frame] {
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
    &frames[first..]
}

/// Whether memory of this purpose is a tensor the program keeps itself, rather than memory a
/// graph, a model or an optimizer keeps for it.
fn kept_by_program(purpose: &str) -> bool {
    purpose == Purpose::UserTensor.name() || purpose == Purpose::Temporary.name()
}

/// Everything alive, as one root held by the program across the loop at `here`, by the
/// caller's allocating site and purpose.
fn attribute_program(rt: &Runtime, here: LoopAt, places: &mut Places) -> Attribution {
    let allocated = rt.memory_allocated();
    let live_nodes = rt.live_nodes() as u64;
    let snapshot = rt.allocator().snapshot();
    let mut alloc = rt.allocator_mut();
    let mut held = Held::default();
    for (_, b) in snapshot.live_blocks() {
        let Some(tag) = &b.tag else { continue };
        let frames = tag.stack.and_then(|s| alloc.stacks().symbolize(s));
        let at = places.site(frames.as_deref().and_then(|f| callers_frames(f).first()));
        let site = Site {
            at,
            purpose: tag.purpose.name(),
        };
        if let Some(stack) = tag.stack {
            held.site_stacks.entry(site.clone()).or_insert(stack);
        }
        let entry = held.sites.entry(site).or_default();
        entry.0 += b.size;
        entry.1 += 1;
        held.bytes += b.size;
        match tag.purpose {
            // A saved tensor is alive while its node has not been through a backward (or one
            // with `retain_graph=True`): its node's graph is unused.
            Purpose::SavedActivation => {
                held.graph_bytes += b.size;
                held.unused_graph_nodes += 1;
            }
            Purpose::UserTensor | Purpose::Temporary => held.list_tensors += 1,
            _ => {}
        }
    }
    held.nodes = live_nodes;
    let root = Root {
        at: here,
        via: Via::Program,
        accumulates: false,
    };
    Attribution {
        roots: BTreeMap::from([(root, held)]),
        allocated,
        live_nodes,
    }
}

/// A Rust program checked through [`check`].
struct RustProgram<'a, F> {
    program: &'a F,
    options: &'a CheckOptions,
    places: Rc<RefCell<Places>>,
}

impl<F> Subject for RustProgram<'_, F>
where
    F: Fn(&Runtime, &mut Loop) -> Result<(), TensorError>,
{
    type Outcome = Option<TensorError>;

    fn fresh_runtime(&self) -> Result<Runtime, CheckError> {
        fresh_runtime_for(
            self.options,
            self.options.device_memory,
            AllocatorConfig::default(),
            false,
        )
    }

    fn run(
        &self,
        rt: &Runtime,
        scale: Option<(LoopAt, u32)>,
        recorder: &mut Recorder,
    ) -> Option<TensorError> {
        let mut lp = Loop {
            rt: rt.clone(),
            scale,
            recorder: std::mem::replace(recorder, Recorder::as_written(Vec::new())),
            places: Rc::clone(&self.places),
            stopped: false,
        };
        let error = (self.program)(rt, &mut lp).err();
        *recorder = lp.recorder;
        error
    }

    fn statement(&self, at: (u32, u32)) -> StatementRef {
        let places = self.places.borrow();
        StatementRef {
            line: at.0.max(1),
            column: if at.1 & SITE_FILE != 0 {
                1
            } else {
                at.1.max(1)
            },
            statement: places
                .names
                .get(&at)
                .cloned()
                .unwrap_or_else(|| "(outside the program's code)".into()),
        }
    }

    fn loops_around(&self, _at: (u32, u32)) -> Vec<LoopAt> {
        Vec::new()
    }

    fn retained_by(&self, g: &Growing<'_>) -> StatementRef {
        match retaining_site(g) {
            Some((site, ..)) => self.statement(site.at),
            None => self.statement(g.root.at),
        }
    }

    /// From the loop the memory is kept across, through the graph when the retaining site's
    /// memory is saved for backward, to that site's blocks.
    fn retention_path(&self, g: &Growing<'_>) -> Vec<String> {
        let places = self.places.borrow();
        let name = |at| places.names.get(&at).cloned().unwrap_or_default();
        let mut path = vec![format!(
            "what the program keeps across the {}",
            name(g.root.at)
        )];
        if let Some((site, bytes, count)) = retaining_site(g) {
            if site.purpose == Purpose::SavedActivation.name() {
                path.push("a kept tensor's grad_fn graph".into());
            }
            path.push(format!(
                "{} {}, allocated at {}",
                format_size(bytes / count.max(1)),
                site.purpose,
                name(site.at)
            ));
        }
        path
    }

    fn stack(&self, frames: &[Frame]) -> Vec<Frame> {
        callers_frames(frames).to_vec()
    }
}

/// The site whose memory grows the most among the tensors the program keeps itself, else
/// among all that grows; with its bytes and blocks in the doubled run.
fn retaining_site<'a>(g: &Growing<'a>) -> Option<(&'a Site, u64, u64)> {
    g.doubled
        .sites
        .iter()
        .filter_map(|(site, &(bytes, count))| {
            let before = g.first.and_then(|a| a.sites.get(site)).map_or(0, |s| s.0);
            let more = growth(before, bytes);
            (more > 0).then_some(((kept_by_program(site.purpose), more), (site, bytes, count)))
        })
        .max_by_key(|(key, _)| *key)
        .map(|(_, found)| found)
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
    let subject = RustProgram {
        program: &program,
        options,
        places: Rc::default(),
    };
    let rt = subject.fresh_runtime()?;
    let driver_before = driver_free(&rt);
    let mut first = Recorder::as_written(Vec::new());
    let error = subject.run(&rt, None, &mut first);
    let baseline = crate::report::MemoryPoint::default();
    let teardown = teardown(&rt, baseline, driver_before);
    let Found { leaks, bounded } = match error {
        None => super::find_growth(&subject, &first, &rt)?,
        Some(_) => Found::default(),
    };
    let verdict = match &error {
        Some(TensorError::Alloc(crate::base::AllocError::OutOfMemory(_))) => Verdict::Oom,
        Some(_) => Verdict::Error,
        None => super::verdict_of(&leaks, &bounded, teardown.is_clean(baseline)),
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
        bounded_growth: bounded,
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
