//! The interpreter: runs a parsed scenario on a [`Runtime`] as CPython would run it, and tells an
//! [`Observer`] about loop iterations and the end of the program.
//!
//! The engine is a tree-walking interpreter with CPython's semantics wherever memory can tell
//! the difference:
//! - names are resolved by a symbol-table pass ([`scope`]) into function locals, closure cells
//!   and module globals, each frame owning its locals, so that a function's locals are freed when
//!   it returns and a captured variable lives as long as the closures that share its cell;
//! - values are reference counted ([`Value`] holds `Rc`s), so an object is freed at the moment
//!   its last reference goes, as CPython frees it; reference cycles are freed only by the cyclic
//!   collector ([`refs`]), at `gc.collect()` and at CPython 3.12's automatic collections;
//! - exceptions are objects with a traceback that keeps its frames, and their locals, alive;
//!   `except ... as e` unbinds `e` at the end of the handler.
//!
//! Every allocation made while a statement runs is tagged with that statement's location and the
//! iteration of each enclosing loop (dynamically enclosing: a loop in a function called from a
//! loop is nested in it).

mod args;
mod autograd;
mod builtins;
mod collector;
mod data;
mod dict;
mod eval;
mod exc;
mod generator;
mod module;
mod names;
mod objects;
mod ops;
mod pyobj;
pub mod refs;
mod scope;
mod stdlib;
// The bindings return `Failure` by value, which the traceback made larger than clippy's
// default for error types; boxing it there would touch every binding for no gain.
#[allow(clippy::result_large_err)]
mod torch;
mod validate;
mod value;

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use args::CallArgs;
pub use autograd::program_value;
pub use collector::Cycles;
pub use dict::{Dict, DictKind, DictRef, Key};
pub use objects::{ModuleKind, ModuleRef, OptimizerRef};
pub use pyobj::{
    BoundMethod, Class, Code, ExcObj, Frame, FrameRef, Function, Instance, Iter, ModuleState,
    Native,
};
pub use refs::{Edge, Referents};
pub use validate::validate;
pub use value::{repr, ListRef, Slot, Value};

use crate::alloc::{Location, LocationGuard};
use crate::base::OutOfMemory;
use crate::runtime::Runtime;
use crate::scenario::{Scenario, ScenarioError, Span, Stmt};

/// CPython's default recursion limit (`sys.getrecursionlimit()`).
pub const RECURSION_LIMIT: usize = 1000;

/// The highest limit `sys.setrecursionlimit` may set: what the interpreter's stack holds.
pub const MAX_RECURSION_LIMIT: usize = 5000;

/// Limits and loop scaling for one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// At most this many statements are executed (`#@ max-steps`, default 1,000,000).
    pub max_steps: u64,
    /// The run stops with an error after this much wall time.
    pub time_limit: Duration,
    /// Loops (by the line and column of their `for`) whose iteration count is multiplied, so the
    /// leak checker can compare a run against one with more iterations. A `for` over a range
    /// runs a longer range; a `for` over a list, a dict or another re-iterable object iterates
    /// it again; `while` loops and loops over one-shot iterators are not scaled.
    pub loop_scale: Vec<((u32, u32), u32)>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_steps: 1_000_000,
            time_limit: Duration::from_secs(120),
            loop_scale: Vec::new(),
        }
    }
}

/// A module-level name of the program and what it holds.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// The statement that last bound it.
    pub bound_at: Span,
    /// Whether that statement rebound the name from its own value (`x += y`, `x = x + y`): a
    /// running total.
    pub accumulates: bool,
}

/// The module scope: names in order of creation.
#[derive(Debug, Default)]
pub struct Env {
    bindings: Vec<Binding>,
}

impl Env {
    /// Every name, in order of creation.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.bindings
            .iter()
            .find(|b| b.name == name)
            .map(|b| &b.value)
    }

    fn set(&mut self, name: &str, value: Value, bound_at: Span, accumulates: bool) {
        match self.bindings.iter_mut().find(|b| b.name == name) {
            Some(b) => {
                // The old value is dropped when this function returns, after the name holds the
                // new one: when Python drops it.
                let old = std::mem::replace(&mut b.value, value);
                b.bound_at = bound_at;
                b.accumulates = accumulates;
                drop(old);
            }
            None => self.bindings.push(Binding {
                name: name.to_string(),
                value,
                bound_at,
                accumulates,
            }),
        }
    }

    fn remove(&mut self, name: &str) -> Option<Binding> {
        let i = self.bindings.iter().position(|b| b.name == name)?;
        Some(self.bindings.remove(i))
    }
}

/// The end of one loop iteration, as an [`Observer`] sees it.
pub struct IterationEnd<'a> {
    /// The runtime.
    pub rt: &'a Runtime,
    /// The program's module-level names at that moment.
    pub env: &'a Env,
    /// The frames running at that moment, outermost (`<module>`) first; their locals, cells
    /// and what those reference are listed by [`Referents`].
    pub frames: &'a [FrameRef],
    /// The `for` or `while` statement.
    pub loop_at: Span,
    /// The iteration of each enclosing loop, outermost first, ending with this loop's; loops
    /// of the functions that called this one's enclose it.
    pub index: &'a [u32],
    /// The statement of each enclosing loop, outermost first, ending with this loop's
    /// (`loop_at`): `index[i]` is the iteration of `loops[i]`. As with `index`, the loops of the
    /// calling functions come first. The checker tells from it which loop releases what an
    /// inner loop grows.
    pub loops: &'a [Span],
    /// Whether this was the loop's last iteration.
    pub last: bool,
    /// What the cyclic collector would free at that moment.
    pub cycles: Cycles<'a>,
}

/// Whether a run goes on after an observer has seen an iteration end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep running.
    Continue,
    /// Stop here, as if the program ended (its names are still dropped).
    Stop,
}

/// Told what happens while a scenario runs. The leak checker is one.
pub trait Observer {
    /// A loop iteration just ended.
    fn iteration_end(&mut self, _at: &IterationEnd<'_>) -> Control {
        Control::Continue
    }

    /// A statement is about to run (each time it runs; compound statements too, once per entry).
    /// Per-statement memory traces read the allocator here.
    fn statement_start(&mut self, _rt: &Runtime, _stmt: &Stmt) {}

    /// Whether [`statement_names`](Self::statement_names) is wanted: it hands out the names
    /// before every statement, for `leakharness trace --tensors`.
    fn wants_names(&self) -> bool {
        false
    }

    /// A statement is about to run, with the module's names and the running frames (called
    /// only when [`wants_names`](Self::wants_names)).
    fn statement_names(&mut self, _rt: &Runtime, _stmt: &Stmt, _env: &Env, _frames: &[FrameRef]) {}

    /// A `backward()` call just returned without error. The graph it ran through is still
    /// reachable from whatever held it, with each node's
    /// [`backward_ran`](crate::autograd::Node::backward_ran) set: the checker tells from it a
    /// graph that grows to be consumed by one backward (gradient accumulation) from a graph
    /// that no backward will use.
    fn backward_ran(&mut self, _rt: &Runtime, _env: &Env) {}

    /// The program ended, failed, or was stopped, and its names are about to be dropped.
    fn before_teardown(&mut self, _rt: &Runtime, _env: &Env, _failure: Option<&Failure>) {}
}

/// An observer that watches nothing.
impl Observer for () {}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// An `assert` failed (an uncaught `AssertionError`).
    Assertion,
    /// The device ran out of memory (an uncaught `torch.OutOfMemoryError`).
    OutOfMemory(Box<OutOfMemory>),
    /// Any other uncaught exception, or a limit.
    Error,
}

/// A failed run: what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its kind.
    pub kind: FailureKind,
    /// The message at its location, with the scenario traceback.
    pub error: ScenarioError,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    /// `None` when the program ran to its end.
    pub failure: Option<Failure>,
    /// Lines printed (and logged) by the program.
    pub output: Vec<String>,
    /// Statements executed.
    pub steps: u64,
}

/// Why execution left a block or an expression early.
#[derive(Debug)]
pub(crate) enum Unwind {
    /// An exception propagates.
    Exc(Rc<ExcObj>),
    /// `return value`.
    Return(Value),
    /// `break`.
    Break,
    /// `continue`.
    Continue,
    /// The observer asked to stop: nothing catches this.
    Stop,
}

/// The result of interpreter steps.
pub(crate) type X<T> = Result<T, Unwind>;

/// The result of torch bindings and builtins that report errors as messages.
pub(crate) type R<T> = Result<T, Failure>;

/// Moves the interpreter's borrowed state onto its own thread.
struct AssertSend<T>(T);

// SAFETY: `run` blocks in `join` until the interpreter thread has finished, so the runtime, the
// observer and everything they hold (`Rc`s, `RefCell`s) are only ever used by one thread at a
// time, and none of it is thread-local: the runtime keeps grad mode and allocator state per
// instance, not per thread.
unsafe impl<T> Send for AssertSend<T> {}

impl<T> AssertSend<T> {
    fn into_inner(self) -> T {
        self.0
    }
}

/// The interpreter's own stack: deep Python recursion (up to [`RECURSION_LIMIT`] frames) must
/// raise `RecursionError`, never overflow the Rust stack of a test thread (2 MiB by default).
/// The memory is reserved, not committed, until used.
const INTERPRETER_STACK: usize = 1 << 30;

/// Runs `scenario` on `rt` to its end (or its first uncaught exception), then drops every name.
pub fn run(
    scenario: &Scenario,
    rt: &Runtime,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> RunResult {
    let path = scenario.path.clone();
    let source = scenario.source.clone();
    let state = AssertSend((scenario, rt, options, observer));
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("scenario".into())
            .stack_size(INTERPRETER_STACK)
            .spawn_scoped(s, move || {
                let (scenario, rt, options, observer) = state.into_inner();
                AssertSend(run_here(scenario, rt, options, observer))
            });
        match handle {
            Ok(h) => match h.join() {
                Ok(result) => result.into_inner(),
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(e) => RunResult {
                failure: Some(Failure {
                    kind: FailureKind::Error,
                    error: ScenarioError::new(
                        path,
                        Span::default(),
                        &source,
                        format!("RuntimeError: cannot start the interpreter thread: {e}"),
                    ),
                }),
                output: Vec::new(),
                steps: 0,
            },
        }
    })
}

fn run_here(
    scenario: &Scenario,
    rt: &Runtime,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> RunResult {
    let scopes = scope::Scopes::analyze(&scenario.body);
    let module_frame = Rc::new(Frame {
        code: scopes.module.clone(),
        fast: Default::default(),
        cells: Vec::new(),
        class_ns: None,
        at: Default::default(),
        func: None,
        bound_at: Default::default(),
    });
    let mut interp = Interp {
        scenario,
        rt: rt.clone(),
        options,
        observer,
        env: Env::default(),
        output: Vec::new(),
        steps: 0,
        loops: Vec::new(),
        loop_spans: Vec::new(),
        started: Instant::now(),
        file: Arc::from(scenario.path.display().to_string()),
        scopes,
        frames: vec![module_frame],
        statement_stacks: Vec::new(),
        handling: Vec::new(),
        gc: collector::Gc::default(),
        parameters: HashSet::new(),
        stopping: false,
        pending_limit: None,
        recursion_limit: RECURSION_LIMIT,
        random_state: 0,
        log_level: 30,
        environ: Dict::shared(DictKind::Plain),
        running_backward: Vec::new(),
    };
    #[cfg(feature = "planted-bugs")]
    {
        interp.gc.misses_dict_cycles =
            rt.planted(crate::base::PlantedBug::CollectorMissesDictCycles);
    }
    interp.env.set(
        "__name__",
        Value::Str("__main__".into()),
        Span::default(),
        false,
    );
    // Long host kernels look at the same clock as `check_time` (issue 17).
    let _deadline = interp
        .started
        .checked_add(options.time_limit)
        .map(|at| rt.set_deadline(at));
    let outcome = interp.block(&scenario.body);
    let failure = match outcome {
        Err(Unwind::Stop) if interp.pending_limit.is_some() => {
            let e = interp.pending_limit.take().expect("checked above");
            Some(interp.uncaught(&e))
        }
        Ok(()) | Err(Unwind::Stop) => None,
        Err(Unwind::Exc(e)) => Some(interp.uncaught(&e)),
        Err(Unwind::Return(_) | Unwind::Break | Unwind::Continue) => None,
    };
    interp
        .observer
        .before_teardown(&interp.rt, &interp.env, failure.as_ref());
    let Interp {
        env,
        output,
        steps,
        frames,
        mut gc,
        handling,
        pending_limit,
        ..
    } = interp;
    drop((frames, handling, pending_limit));
    // Python drops a module's names in reverse order of creation when the program ends, then
    // finalization runs the cyclic collector, which frees what only cycles still hold.
    let mut bindings = env.bindings;
    while let Some(b) = bindings.pop() {
        drop(b);
    }
    gc.collect(2);
    RunResult {
        failure,
        output,
        steps,
    }
}

pub(crate) struct Interp<'s> {
    scenario: &'s Scenario,
    pub(crate) rt: Runtime,
    options: &'s RunOptions,
    observer: &'s mut dyn Observer,
    env: Env,
    pub(crate) output: Vec<String>,
    steps: u64,
    /// The iteration of each running loop, outermost first, across the call stack.
    loops: Vec<u32>,
    /// The statement of each running loop, alongside `loops`.
    loop_spans: Vec<Span>,
    started: Instant,
    file: Arc<str>,
    scopes: scope::Scopes,
    /// The call stack: the module frame first.
    frames: Vec<FrameRef>,
    /// For each frame of `frames`, the interned call stack of the statement it runs now
    /// (entries above the running frame are stale and cut when the next statement starts).
    statement_stacks: Vec<Option<crate::alloc::PyStackId>>,
    /// The exceptions being handled, innermost last (bare `raise`, `__context__`).
    handling: Vec<Rc<ExcObj>>,
    gc: collector::Gc,
    /// Tensors made by `nn.Parameter`, by identity: assigning one to a module attribute
    /// registers it.
    parameters: HashSet<usize>,
    /// Set once the observer stopped the run or a limit was hit: no `except` catches that.
    stopping: bool,
    /// The error of a limit that stopped the run.
    pending_limit: Option<Rc<ExcObj>>,
    /// `sys.getrecursionlimit()`.
    recursion_limit: usize,
    /// The state of the `random` module.
    random_state: u64,
    /// The level `logging` shows from (`logging.basicConfig(level=...)`; WARNING by default).
    log_level: i64,
    /// `os.environ`.
    environ: DictRef,
    /// The nodes of the custom Functions whose `backward` is running, innermost last: where
    /// `ctx.saved_tensors` finds what its node saved.
    running_backward: Vec<Rc<crate::autograd::Node>>,
}

/// The name an `import` item binds and the module path it binds it to: `import torch.nn` binds
/// `torch` to `torch`; `import torch.nn as nn` binds `nn` to `torch.nn`.
fn import_binding(a: &crate::scenario::ImportAlias) -> (String, String) {
    match &a.alias {
        Some(alias) => (alias.clone(), a.name.clone()),
        None => {
            let top = a.name.split('.').next().unwrap_or(&a.name).to_string();
            (top.clone(), top)
        }
    }
}

impl Interp<'_> {
    /// An error at `span` as a [`Failure`]; the message starts with the exception type
    /// (`TypeError: ...`), which decides the exception it becomes.
    pub(crate) fn fail(&self, span: Span, message: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Error,
            error: ScenarioError::new(&self.scenario.path, span, &self.scenario.source, message),
        }
    }

    /// A runtime error as PyTorch raises it; out-of-memory keeps its details for the report.
    pub(crate) fn tensor_error(&self, span: Span, e: crate::base::TensorError) -> Failure {
        match e {
            crate::base::TensorError::Alloc(crate::base::AllocError::OutOfMemory(oom)) => {
                let message = format!("torch.OutOfMemoryError: {}", oom.message);
                Failure {
                    kind: FailureKind::OutOfMemory(oom),
                    error: ScenarioError::new(
                        &self.scenario.path,
                        span,
                        &self.scenario.source,
                        message,
                    ),
                }
            }
            other => self.fail(span, format!("RuntimeError: {other}")),
        }
    }

    /// Tells the observer that a `backward()` returned.
    fn backward_ran(&mut self) {
        self.observer.backward_ran(&self.rt, &self.env);
    }

    /// Iteration `k` of the loop at `at` begins.
    fn enter_iteration(&mut self, at: Span, k: u32) {
        self.loops.push(k);
        self.loop_spans.push(at);
    }

    /// The innermost running iteration is over.
    fn leave_iteration(&mut self) {
        self.loops.pop();
        self.loop_spans.pop();
    }

    /// The frame running now.
    fn frame(&self) -> &FrameRef {
        self.frames
            .last()
            .expect("the module frame is never popped")
    }

    /// The location of statement `span` in the running frame, with its call stack: the
    /// statement interned on top of the stack of the statement running in the calling frame,
    /// one lookup rather than a walk of the frames.
    fn location(&mut self, span: Span) -> Arc<Location> {
        let depth = self.frames.len();
        self.statement_stacks.resize(depth, None);
        let caller = depth.checked_sub(2).and_then(|i| self.statement_stacks[i]);
        let stack = self
            .rt
            .allocator_cell()
            .borrow_mut()
            .py_stacks_mut()
            .intern(caller, &self.file, span.line, span.col);
        self.statement_stacks[depth - 1] = Some(stack);
        Arc::new(Location {
            file: self.file.clone(),
            line: span.line,
            column: span.col,
            iterations: self.loops.clone(),
            stack: Some(stack),
        })
    }

    fn step(&mut self, span: Span) -> X<()> {
        self.steps += 1;
        if self.steps > self.options.max_steps {
            let f = self
                .fail(
                    span,
                    format!(
                        "RuntimeError: the scenario executed more than {} statements and was stopped",
                        self.options.max_steps
                    ),
                )
                .with_help("raise the limit with `#@ max-steps: N`, or make the loops shorter");
            return Err(self.limit(f));
        }
        self.check_time(span)
    }

    /// Stops the run once it has used up its time limit. Called before every statement, and
    /// inside single operations whose length the program chooses (`'ab' * 2**31`), so that one
    /// statement cannot outlast the limit.
    pub(super) fn check_time(&mut self, span: Span) -> X<()> {
        if self.rt.interrupted() {
            // The run's owner asked it to stop (Ctrl-C, SIGTERM): as Python's KeyboardInterrupt
            // it ends the program, but nothing catches it, since the owner wants it to end.
            let f = self.fail(
                span,
                "KeyboardInterrupt: the run was interrupted and stopped".to_string(),
            );
            return Err(self.limit(f));
        }
        let elapsed = self.started.elapsed();
        if elapsed > self.options.time_limit {
            let stopped = self.fail(
                span,
                format!(
                    "RuntimeError: the scenario ran longer than {:?} (stopped after {:.1}s, {} statements) and was stopped",
                    self.options.time_limit,
                    elapsed.as_secs_f64(),
                    self.steps
                ),
            );
            // Real arithmetic is what takes the time on cpu; the memory verdict does not need it.
            let f = if self.rt.backend() == crate::device::Backend::Cpu {
                stopped.with_help(
                    "for memory-only checking, `--backend meta` runs the same scenario without arithmetic, far faster; or raise `--time-limit`",
                )
            } else {
                stopped.with_help("raise `--time-limit`, or make the loops shorter")
            };
            return Err(self.limit(f));
        }
        Ok(())
    }

    /// A limit of the run: an exception no `except` catches, so the run ends here.
    fn limit(&mut self, f: Failure) -> Unwind {
        let e = self.exc_from_failure(f);
        self.stopping = true;
        self.pending_limit = Some(e);
        Unwind::Stop
    }

    pub(crate) fn block(&mut self, body: &[Stmt]) -> X<()> {
        for stmt in body {
            self.stmt(stmt)?;
        }
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt) -> X<()> {
        self.step(stmt.span)?;
        self.frame().at.set(stmt.span);
        self.observer.statement_start(&self.rt, stmt);
        if self.observer.wants_names() {
            self.observer
                .statement_names(&self.rt, stmt, &self.env, &self.frames);
        }
        let rt = self.rt.clone();
        let here = LocationGuard::enter(rt.allocator_cell(), self.location(stmt.span));
        self.gc_maybe_collect();
        let r = self.exec(stmt, here);
        torch::settle_packs(self, r, stmt.span)
    }

    /// Failure → exception at the running frame.
    pub(crate) fn lift<T>(&mut self, r: R<T>) -> X<T> {
        r.map_err(|f| {
            // Once the time is up (a kernel stopped at the runtime's deadline) or the run was
            // interrupted, the failure is that limit at its line, which nothing catches.
            let (line, col) = (f.error.line, f.error.col);
            let at = Span {
                line,
                col,
                end_line: line,
                end_col: col,
            };
            if let Err(stop) = self.check_time(at) {
                return stop;
            }
            let e = self.exc_from_failure(f);
            Unwind::Exc(e)
        })
    }

    /// The exception that a failure message stands for, raised in the running frame.
    pub(crate) fn exc_from_failure(&mut self, f: Failure) -> Rc<ExcObj> {
        let span = Span {
            line: f.error.line,
            col: f.error.col,
            end_line: f.error.line,
            end_col: f.error.col,
        };
        let (kind, message) = exc::split_message(&f.error.message);
        let assertion = f.kind == FailureKind::Assertion;
        let oom = match f.kind {
            FailureKind::OutOfMemory(oom) => Some(oom),
            _ => None,
        };
        let kind = if oom.is_some() {
            "torch.OutOfMemoryError"
        } else if assertion {
            "AssertionError"
        } else {
            kind
        };
        let args = if message.is_empty() {
            Vec::new()
        } else {
            vec![exc::failure_arg(kind, message)]
        };
        let e = self.new_exception(kind, None, args, oom, f.error.help.clone());
        e.traceback.borrow_mut().push((self.frame().clone(), span));
        e
    }

    /// A new exception object of the builtin type `kind` (or of `class`), with `__context__`
    /// set to the exception being handled.
    pub(crate) fn new_exception(
        &mut self,
        kind: &str,
        class: Option<Rc<Class>>,
        args: Vec<Value>,
        oom: Option<Box<OutOfMemory>>,
        help: Option<String>,
    ) -> Rc<ExcObj> {
        let e = Rc::new(ExcObj {
            kind: exc::canonical(kind).into(),
            class,
            args: std::cell::RefCell::new(args),
            traceback: Default::default(),
            cause: Default::default(),
            context: std::cell::RefCell::new(self.handling.last().cloned().map(Value::Exception)),
            dict: Dict::shared(DictKind::Plain),
            oom,
            help,
        });
        self.gc.track_exception(&e);
        e
    }

    /// Raises the builtin exception `kind(message)` at `span` of the running frame.
    pub(crate) fn raise(&mut self, kind: &str, message: String, span: Span) -> Unwind {
        let e = self.new_exception(kind, None, vec![Value::Str(message.into())], None, None);
        e.traceback.borrow_mut().push((self.frame().clone(), span));
        Unwind::Exc(e)
    }

    /// The report of an exception nothing caught: its message at the innermost line, with the
    /// traceback of scenario frames.
    fn uncaught(&mut self, e: &Rc<ExcObj>) -> Failure {
        let tb = e.traceback.borrow().clone();
        let span = tb.last().map(|(_, s)| *s).unwrap_or_default();
        let message = if e.args.borrow().is_empty() {
            exc::display_kind(e)
        } else {
            format!("{}: {}", exc::display_kind(e), e.message())
        };
        let mut error =
            ScenarioError::new(&self.scenario.path, span, &self.scenario.source, message);
        if let Some(help) = &e.help {
            error = error.with_help(help.clone());
        }
        let lines = self.scenario.source.lines().collect::<Vec<_>>();
        let traceback: Vec<String> = tb
            .iter()
            .map(|(frame, s)| {
                let text = s
                    .line
                    .checked_sub(1)
                    .and_then(|i| lines.get(i as usize))
                    .map_or("", |l| l.trim());
                format!(
                    "{}:{}:{} in {}: {text}",
                    self.scenario.path.display(),
                    s.line,
                    s.col,
                    frame.display_name()
                )
            })
            .collect();
        error = error.with_traceback(traceback);
        let kind = if let Some(oom) = &e.oom {
            FailureKind::OutOfMemory(oom.clone())
        } else if exc::is_subclass_name(&e.kind, "AssertionError") {
            FailureKind::Assertion
        } else {
            FailureKind::Error
        };
        Failure { kind, error }
    }

    /// Calls the observer at the end of a loop iteration.
    fn iteration_end(&mut self, loop_at: Span, last: bool) -> X<()> {
        let end = IterationEnd {
            rt: &self.rt,
            env: &self.env,
            frames: &self.frames,
            loop_at,
            index: &self.loops,
            loops: &self.loop_spans,
            last,
            cycles: Cycles(&self.gc),
        };
        if self.observer.iteration_end(&end) == Control::Stop {
            self.stopping = true;
            return Err(Unwind::Stop);
        }
        Ok(())
    }

    fn loop_scale(&self, at: Span) -> u32 {
        self.options
            .loop_scale
            .iter()
            .find(|(l, _)| *l == (at.line, at.col))
            .map_or(1, |(_, f)| *f)
    }

    fn gc_maybe_collect(&mut self) {
        if let Some(generation) = self.gc.due() {
            self.gc.collect(generation);
        }
    }
}

impl Failure {
    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Failure {
        self.error = self.error.with_help(help);
        self
    }
}

/// A Python number (bools are ints), for arithmetic.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

/// A Python number (bools are ints), or `None` for anything else.
pub(crate) fn number(v: &Value) -> Option<Num> {
    match v {
        Value::Int(i) => Some(Num::Int(*i)),
        Value::Bool(b) => Some(Num::Int(*b as i64)),
        Value::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}
