//! The one protocol's view of a program: a [`Subject`] runs on a fresh runtime, as written or
//! with one loop's count scaled, and tells a [`Recorder`] every loop iteration's end. The
//! checker's growth runs, judging and rules (`find_growth`, `Judge`, `rules`) see only this
//! trait, so a scenario and a Rust program checked through [`check`](super::check) are measured,
//! classified and reported alike.

use std::time::Instant;

use super::growth::{Growing, LoopAt, Recorder};
use super::{enclosing_loops, example, fresh_runtime, statement_ref, CheckError, CheckOptions};
use crate::alloc::Frame;
use crate::report::StatementRef;
use crate::runtime::Runtime;
use crate::scenario::interp::{self, RunOptions, RunResult};
use crate::scenario::Scenario;

/// A program the checker can run with one loop scaled.
pub(super) trait Subject {
    /// What one run ends with (a scenario's output and failure, a Rust program's error).
    type Outcome;
    /// A fresh runtime for one run, with the program's device memory.
    fn fresh_runtime(&self) -> Result<Runtime, CheckError>;
    /// Runs the program once on `rt`, with the loop of `scale` running that many times its
    /// count, telling `recorder` each loop iteration's end.
    fn run(
        &self,
        rt: &Runtime,
        scale: Option<(LoopAt, u32)>,
        recorder: &mut Recorder,
    ) -> Self::Outcome;
    /// The statement at a location of the program, for reports.
    fn statement(&self, at: (u32, u32)) -> StatementRef;
    /// The loops around the statement at `at`, outermost first: a root's growth is counted per
    /// iteration of the innermost one.
    fn loops_around(&self, at: (u32, u32)) -> Vec<LoopAt>;
    /// Where growing memory is retained: the statement of its root.
    fn retained_by(&self, g: &Growing<'_>) -> StatementRef {
        self.statement(g.root.at)
    }
    /// The chain of references that holds the growing memory, from the root down.
    fn retention_path(&self, g: &Growing<'_>) -> Vec<String> {
        example(g)
    }
    /// An allocation's stack as a report shows it.
    fn stack(&self, frames: &[Frame]) -> Vec<Frame> {
        frames.to_vec()
    }
    /// Whether the statement at `at` rebinds a state from a call that takes its previous value
    /// (`hidden = cell(x, hidden)`); only a program with source statements can tell.
    fn carries_state(&self, _at: (u32, u32)) -> bool {
        false
    }
    /// The statement that sets the attribute `attr` of the `ctx` of the custom
    /// `autograd.Function` named `function`; only a program with source statements can tell.
    fn ctx_attribute(&self, _function: &str, _attr: &str) -> Option<(u32, u32)> {
        None
    }
    /// The error that ends the check when the program has used up its time, re-runs included.
    fn out_of_time(&self) -> Option<CheckError> {
        None
    }
}

/// A parsed scenario, run by the interpreter.
pub(super) struct ScenarioSubject<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) options: &'a CheckOptions,
    pub(super) run_options: RunOptions,
    pub(super) source: Vec<String>,
    /// When the file's time is up: the run as written and its re-runs share one time limit.
    pub(super) deadline: Instant,
}

impl Subject for ScenarioSubject<'_> {
    type Outcome = RunResult;

    fn fresh_runtime(&self) -> Result<Runtime, CheckError> {
        fresh_runtime(self.scenario, self.options)
    }

    fn carries_state(&self, at: (u32, u32)) -> bool {
        super::statement::carries_state(&self.scenario.body, at)
    }

    fn ctx_attribute(&self, function: &str, attr: &str) -> Option<(u32, u32)> {
        super::statement::ctx_attribute(&self.scenario.body, function, attr)
    }

    fn out_of_time(&self) -> Option<CheckError> {
        (Instant::now() >= self.deadline).then_some(CheckError::TimeLimit(self.options.time_limit))
    }

    fn run(
        &self,
        rt: &Runtime,
        scale: Option<(LoopAt, u32)>,
        recorder: &mut Recorder,
    ) -> RunResult {
        let options = RunOptions {
            loop_scale: scale.into_iter().collect(),
            time_limit: self.deadline.saturating_duration_since(Instant::now()),
            ..self.run_options.clone()
        };
        interp::run(self.scenario, rt, &options, recorder)
    }

    fn statement(&self, at: (u32, u32)) -> StatementRef {
        statement_ref(&self.source, at.0, at.1)
    }

    fn loops_around(&self, at: (u32, u32)) -> Vec<LoopAt> {
        enclosing_loops(&self.scenario.body, at)
    }
}
