//! What a run can conclude and what a scenario can expect of it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The outcome of a scenario run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No growth and a clean teardown.
    Clean,
    /// No leak, but detached data that an enclosing loop releases grows with an inner loop
    /// (predictions kept for an epoch metric): fine for the epochs the scenario runs, and a
    /// cost that grows with the epoch's length.
    BoundedGrowth,
    /// Memory or graph history grows with the iteration count, or teardown left memory behind.
    Leak,
    /// The run ran out of device memory.
    Oom,
    /// An `assert` in the scenario failed.
    AssertionFailed,
    /// The scenario could not be parsed or raised an error.
    Error,
}

impl Verdict {
    /// The kebab-case name used in headers and reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::BoundedGrowth => "bounded-growth",
            Verdict::Leak => "leak",
            Verdict::Oom => "oom",
            Verdict::AssertionFailed => "assertion-failed",
            Verdict::Error => "error",
        }
    }
}

/// The verdict a scenario expects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Expect {
    /// No leak, no error (`#@ expect: clean`, or no `expect` key).
    #[default]
    Clean,
    /// Bounded growth and no leak (`#@ expect: bounded-growth`).
    BoundedGrowth,
    /// A leak of each of these kinds (`#@ expect: leak retained-graph`); an empty list
    /// (`#@ expect: leak`) accepts a leak of any kind.
    Leak(Vec<LeakKind>),
    /// Running out of device memory (`#@ expect: oom`).
    Oom,
    /// A runtime error in the scenario (`#@ expect: error`).
    Error,
}

impl fmt::Display for Expect {
    /// The value as written after `#@ expect:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Clean => f.write_str("clean"),
            Expect::BoundedGrowth => f.write_str("bounded-growth"),
            Expect::Oom => f.write_str("oom"),
            Expect::Error => f.write_str("error"),
            Expect::Leak(kinds) => {
                f.write_str("leak")?;
                for kind in kinds {
                    write!(f, " {kind}")?;
                }
                Ok(())
            }
        }
    }
}

/// The kinds of growth leak the checker names (defined in `docs/leaks.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeakKind {
    /// Tensors kept in a list across iterations.
    TensorList,
    /// An autograd graph kept alive through a kept tensor.
    RetainedGraph,
    /// A running total or metric still attached to the graph.
    AttachedMetric,
    /// Graphs built and never used by a backward, kept through their outputs.
    MissingNoGrad,
    /// A state rebound every iteration from a call that takes its previous value, never
    /// detached: each iteration's graph hangs off the next one's (a recurrent hidden state).
    CarriedState,
    /// An exception kept after its `except` block, holding its traceback's frames and their
    /// tensors.
    KeptException,
    /// Memory that only reference cycles keep alive, freed only by the cyclic collector.
    ReferenceCycle,
    /// Tensors kept by a hook or a closure that stores them in a container it captured.
    HookCapture,
    /// Hooks registered every iteration and never removed, each keeping what it captured.
    HookAccumulation,
    /// Tensors a custom `autograd.Function` keeps as attributes of its `ctx` (`ctx.out = out`)
    /// instead of `ctx.save_for_backward`: they outlive backward, and an output kept so makes
    /// a reference cycle through its own node.
    CtxSavedOutput,
    /// Reserved memory that grows with a loop while allocated memory does not: the caching
    /// allocator opens new segments because its cached free blocks do not fit the requests
    /// (shapes that change every iteration).
    Fragmentation,
}

impl LeakKind {
    /// Every kind, in documentation order.
    pub const ALL: [LeakKind; 11] = [
        LeakKind::TensorList,
        LeakKind::RetainedGraph,
        LeakKind::AttachedMetric,
        LeakKind::MissingNoGrad,
        LeakKind::CarriedState,
        LeakKind::KeptException,
        LeakKind::ReferenceCycle,
        LeakKind::HookCapture,
        LeakKind::HookAccumulation,
        LeakKind::CtxSavedOutput,
        LeakKind::Fragmentation,
    ];

    /// The kind's name as written in headers and reports, e.g. `retained-graph`.
    pub fn name(self) -> &'static str {
        match self {
            LeakKind::TensorList => "tensor-list",
            LeakKind::RetainedGraph => "retained-graph",
            LeakKind::AttachedMetric => "attached-metric",
            LeakKind::MissingNoGrad => "missing-no-grad",
            LeakKind::CarriedState => "carried-state",
            LeakKind::KeptException => "kept-exception",
            LeakKind::ReferenceCycle => "reference-cycle",
            LeakKind::HookCapture => "hook-capture",
            LeakKind::HookAccumulation => "hook-accumulation",
            LeakKind::CtxSavedOutput => "ctx-saved-output",
            LeakKind::Fragmentation => "fragmentation",
        }
    }
}

impl fmt::Display for LeakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A leak kind name that is not one of [`LeakKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown leak kind `{0}`; expected one of tensor-list, retained-graph, attached-metric, missing-no-grad, carried-state, kept-exception, reference-cycle, hook-capture, hook-accumulation, ctx-saved-output, fragmentation")]
pub struct UnknownLeakKind(pub String);

impl FromStr for LeakKind {
    type Err = UnknownLeakKind;

    fn from_str(s: &str) -> Result<LeakKind, UnknownLeakKind> {
        LeakKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| UnknownLeakKind(s.to_string()))
    }
}
