//! Per-statement memory traces: the allocator's counters just before each simple statement runs,
//! in the order the statements run. `benches/pytorch_trace.py` records the same counters under
//! PyTorch (`torch.cuda.memory_allocated()`, `memory_reserved()`, `max_memory_allocated()`), so
//! the runtime's memory behaviour can be compared with the framework's statement by statement.

use serde::Serialize;

use super::{fresh_runtime, run_options, CheckError, CheckOptions};
use crate::runtime::Runtime;
use crate::scenario::interp::{self, Observer};
use crate::scenario::{Scenario, Stmt, StmtKind};

/// The device counters just before one statement ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementSample {
    /// The statement's first line (1-based).
    pub line: u32,
    /// `memory_allocated()` in bytes.
    pub allocated: u64,
    /// `memory_reserved()` in bytes.
    pub reserved: u64,
    /// `max_memory_allocated()` since the run began, in bytes.
    pub peak_allocated: u64,
}

/// The samples of one run, and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    /// One sample per executed simple statement, in execution order.
    pub samples: Vec<StatementSample>,
    /// The counters once the program ended, before its names were dropped.
    pub at_end: Option<StatementSample>,
    /// The scenario's error, when it stopped on one (`torch.OutOfMemoryError: ...` included).
    pub error: Option<String>,
    /// The lines the program printed, to compare with what it prints under PyTorch.
    pub output: Vec<String>,
}

/// Runs `scenario` once on a fresh runtime and samples the counters before every simple
/// statement (the headers of `for`, `while`, `if`, `with`, `try`, `def` and `class` are not
/// sampled: CPython reports their lines at other moments than they run, so a comparison would
/// misalign; nor are `global` and `nonlocal`, which compile to no code).
pub fn trace_scenario(scenario: &Scenario, options: &CheckOptions) -> Result<Trace, CheckError> {
    let mut sampler = Sampler::default();
    let result = run_observed(scenario, options, &mut sampler)?;
    Ok(Trace {
        samples: sampler.samples,
        at_end: sampler.at_end,
        error: result.failure.map(|f| f.error.to_string()),
        output: result.output,
    })
}

/// Runs `scenario` once on a fresh runtime under `observer`: the run of `trace` and of
/// [`hold_scenario`](super::hold_scenario), which compare against PyTorch statement by statement.
pub(super) fn run_observed(
    scenario: &Scenario,
    options: &CheckOptions,
    observer: &mut impl Observer,
) -> Result<interp::RunResult, CheckError> {
    let rt = fresh_runtime(scenario, options)?;
    let run_options = run_options(scenario, options);
    Ok(interp::run(scenario, &rt, &run_options, observer))
}

/// Whether a statement is sampled: headers of compound statements run at other moments under
/// CPython's tracer, and `global`/`nonlocal` compile to no code at all, so neither is.
pub(super) fn is_sampled(stmt: &Stmt) -> bool {
    !matches!(
        stmt.kind,
        StmtKind::For { .. }
            | StmtKind::While { .. }
            | StmtKind::With { .. }
            | StmtKind::If { .. }
            | StmtKind::Try { .. }
            | StmtKind::FunctionDef(_)
            | StmtKind::ClassDef(_)
            | StmtKind::Global(_)
            | StmtKind::Nonlocal(_)
    )
}

#[derive(Default)]
struct Sampler {
    samples: Vec<StatementSample>,
    at_end: Option<StatementSample>,
}

fn sample(rt: &Runtime, line: u32) -> StatementSample {
    let allocator = rt.allocator();
    StatementSample {
        line,
        allocated: allocator.memory_allocated(),
        reserved: allocator.memory_reserved(),
        peak_allocated: allocator.max_memory_allocated(),
    }
}

impl Observer for Sampler {
    fn statement_start(&mut self, rt: &Runtime, stmt: &Stmt) {
        if is_sampled(stmt) {
            self.samples.push(sample(rt, stmt.span.line));
        }
    }

    fn before_teardown(
        &mut self,
        rt: &Runtime,
        _env: &interp::Env,
        _failure: Option<&interp::Failure>,
    ) {
        self.at_end = Some(sample(rt, 0));
    }
}
