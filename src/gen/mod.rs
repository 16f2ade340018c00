//! Proptest strategies for *runnable* training programs, clean by construction or with exactly
//! one planted leak, together with what the leak checker must say about them.
//!
//! A strategy generates a [`Program`]: a small description (layer widths, optimizer, loss, loop
//! shape, benign statements, an optional [`PlantedLeak`]) that shrinks on its own fields, so a
//! failing case shrinks to a smaller program that is still valid: fewer benign statements, fewer
//! iterations (never below two), fewer and narrower layers. [`Program::case`] renders it to
//! Python, parses it back into a [`Scenario`] with real spans, and returns the [`Case`]: the
//! scenario plus the ground truth (clean, or the planted leak's kinds, statement line and, where
//! PyTorch's rules decide them, its exact bytes per iteration).
//!
//! [`judge`] compares a checker [`Report`] with that ground truth.
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! use leakharness::check::{check_scenario, CheckOptions};
//! use leakharness::r#gen;
//!
//! let mut runner = TestRunner::deterministic();
//! let program = r#gen::program().new_tree(&mut runner).unwrap().current();
//! let case = program.case().unwrap();
//! let report = check_scenario(&case.scenario, &CheckOptions::default()).unwrap();
//! assert!(r#gen::judge(&case, &report).is_empty());
//! ```

mod backends;
mod explore;
mod render;
mod strategies;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::base::LeakKind;
use crate::base::Verdict;
use crate::report::{write_reports, Report, WriteError};
use crate::scenario::{print_scenario, Scenario, ScenarioErrors};
pub use backends::judge_backends;
pub use explore::{explore, Exploration, ExploreError, ExploreEvent, Explored};
pub use strategies::{
    benign, clean_program, leaky_program, planted_leak, program, released_leak_program,
};

/// The widest layer a generated program has, so that a case checks in milliseconds.
pub const MAX_WIDTH: usize = 96;
/// The largest batch a generated program uses.
pub const MAX_BATCH: usize = 16;

/// A runnable training program, as a description that renders to a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Feature widths: input, each hidden layer, output. Two to five entries, so one to four
    /// `nn.Linear` layers, with a ReLU between consecutive layers.
    pub widths: Vec<usize>,
    /// Batch size of training and validation batches.
    pub batch: usize,
    /// Whether the ReLUs are `nn.ReLU(inplace=True)`.
    pub relu_inplace: bool,
    /// The optimizer.
    pub optimizer: Optimizer,
    /// The loss function.
    pub loss: Loss,
    /// The loop structure.
    pub shape: Shape,
    /// How gradients are cleared.
    pub zero_grad: ZeroGrad,
    /// Gradient accumulation: step (and clear) every `k` batches, dividing the loss by `k`.
    pub accumulation: Option<u32>,
    /// `loss.backward(retain_graph=True)` followed by a second `loss.backward()`.
    pub double_backward: bool,
    /// Benign statements, in the order they appear after the optimizer step.
    pub benign: Vec<Benign>,
    /// For clean programs: after the loop, delete every device tensor the program names, clear
    /// the gradients, and assert that only parameters, gradients and optimizer state remain,
    /// to the byte.
    pub final_check: bool,
    /// The one planted leak, if any.
    pub leak: Option<PlantedLeak>,
    /// Whether the planted leak's list or total is made anew at the start of every epoch, so
    /// that the epoch loop releases it and only the step loop grows it. It applies to
    /// [`Shape::Epochs`] and the leaks planted in the step ([`Program::leak_released_by_epoch`]).
    pub leak_per_epoch: bool,
    /// Where the training loop is written: at module level, in a function, or in a method.
    pub style: Style,
    /// Whether it runs with `#@ alloc-conf: expandable_segments:True`, which changes how the
    /// caching allocator maps and gives back memory but not what the program keeps; never
    /// with [`PlantedLeak::Fragmentation`], which the option fixes.
    pub expandable_segments: bool,
}

/// Where a generated program writes its training loop, as real training scripts do. Whatever
/// the style, the loop, its containers and the planted leak are the same statements, so the
/// ground truth (kinds, bytes, the planted line's text) does not change; the checker must
/// find the leak among a function's or a method's locals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// At module level.
    Script,
    /// In `def train(model, opt):`, called once.
    Function,
    /// In `Trainer.fit(self)` of a `class Trainer` that keeps the model and the optimizer as
    /// attributes, called as `Trainer(model, opt).fit()`.
    Trainer,
}

/// Optimizers of the generated programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    /// `torch.optim.SGD(..., lr=0.01)`: no state.
    Sgd,
    /// `torch.optim.SGD(..., momentum=0.9)`: one buffer per parameter.
    SgdMomentum,
    /// `torch.optim.Adam`: two buffers per parameter (the step count lives on the host).
    Adam,
    /// `torch.optim.AdamW`: as Adam.
    AdamW,
}

/// Loss functions of the generated programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// `nn.functional.mse_loss` against `torch.randn` targets.
    Mse,
    /// `nn.functional.cross_entropy` against `torch.randint` class indices.
    CrossEntropy,
}

/// The loop structure of a generated program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `for i in range(iterations):`.
    Single {
        /// Two to eight.
        iterations: u32,
    },
    /// `for epoch in range(epochs):` around `for i in range(steps):`.
    Epochs {
        /// Two to four.
        epochs: u32,
        /// One to four, at most eight steps in all.
        steps: u32,
    },
}

impl Shape {
    /// Iterations of one run of the innermost loop: the loop the accumulation counter counts.
    pub fn inner_iterations(self) -> u32 {
        match self {
            Shape::Single { iterations } => iterations,
            Shape::Epochs { steps, .. } => steps,
        }
    }
}

/// How a program clears gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroGrad {
    /// `model.zero_grad(...)` instead of `opt.zero_grad(...)`.
    pub on_model: bool,
    /// The `set_to_none=` argument; `None` leaves PyTorch's default (`True`).
    pub set_to_none: Option<bool>,
    /// Clear before the forward pass instead of after the step (ignored with accumulation,
    /// which clears after each step).
    pub at_start: bool,
}

impl ZeroGrad {
    /// Whether this clearing drops the gradients (PyTorch's default).
    pub fn drops_gradients(self) -> bool {
        self.set_to_none.unwrap_or(true)
    }
}

/// Statements that keep memory bounded: a program made of them is clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Benign {
    /// `if i % every == 0: print("loss", loss.item())`.
    LogItem {
        /// Two or three.
        every: u32,
    },
    /// `running_loss += loss.item()`, a host number.
    RunningItem,
    /// `running_det += loss.detach()`: one device scalar updated in place.
    RunningDetached,
    /// A validation batch under `torch.no_grad()`, its loss summed into a device scalar, or
    /// added as a host number with `.item()`.
    Validation {
        /// Keep the sum as a host number.
        item: bool,
    },
    /// `del out, loss` at the end of the step.
    DelTemporaries,
    /// `torch.cuda.empty_cache()`.
    EmptyCache,
    /// `out = out.detach()`: rebinding a name to a detached view.
    RebindDetached,
    /// `used = torch.cuda.memory_allocated()`.
    ReadCounter,
    /// `preds.append(out.argmax(dim=1).cpu())`: host tensors do not count as device memory.
    HostPredictions,
    /// A list re-created every epoch (every step in a single loop) collecting `loss.detach()`.
    ScopedList,
    /// `carried_n = carry(carried_n, out.detach())`: a state carried through a helper from
    /// detached outputs, the fixed form of [`PlantedLeak::CarriedState`].
    CarriedDetached,
    /// `errors_n.append(str(err))` in a handler around `audit(out)`, which always raises: the
    /// fixed form of [`PlantedLeak::KeptException`].
    ErrorAsText,
    /// A dict that references itself, holding the detached output, dropped and freed by
    /// `gc.collect()`: a reference cycle collected on purpose.
    CycleCollected,
    /// Metrics kept in a dict of host numbers: `metrics["loss"] += loss.item()` and a step
    /// count.
    MetricsDict,
    /// A comprehension over the batch's tensors, keeping host numbers:
    /// `sizes = [t.shape[0] for t in (x, y)]`.
    BatchSizes,
    /// `scaled_n = ScaleSaved.apply(out)`: a custom Function that saves its output with
    /// `ctx.save_for_backward`, the fixed form of [`PlantedLeak::CtxSavedOutput`].
    CtxSaved,
    /// `hook_n = model.register_forward_hook(check_batch(x))` and `hook_n.remove()` after a
    /// forward: the fixed form of [`PlantedLeak::HookAccumulation`].
    HookRemoved,
    /// `buffer_n = torch.empty(2048, 2048, device=device)`, deleted in the same step: one
    /// size, served every step from the block the last one freed, the fixed form of
    /// [`PlantedLeak::Fragmentation`].
    FixedBuffer,
}

impl Benign {
    /// Whether the statement can go with `leak`: a `gc.collect()` would free a planted
    /// reference cycle; `empty_cache()` would give back the segments a planted fragmentation
    /// opens, and a fixed buffer's cached block would serve its smaller requests.
    pub fn compatible_with(self, leak: Option<PlantedLeak>) -> bool {
        !matches!(
            (self, leak),
            (
                Benign::CycleCollected,
                Some(PlantedLeak::ReferenceCycle | PlantedLeak::CtxSavedOutput)
            ) | (
                Benign::EmptyCache | Benign::FixedBuffer,
                Some(PlantedLeak::Fragmentation)
            )
        )
    }
}

/// The catalogue of injected leaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantedLeak {
    /// `kept_losses.append(loss)`: the attached loss, with its graph.
    AttachedLossList,
    /// `kept_outputs.append(out)`: the attached model output, with its graph.
    AttachedOutputList,
    /// `kept_losses.append(loss.detach())`: one device scalar per step.
    DetachedLossList,
    /// `kept_total += loss` from `kept_total = 0`: every step's graph chained to the next.
    AttachedTotal,
    /// `kept_metric += (out - y).pow(2).sum()` from attached outputs.
    AttachedMetric,
    /// An evaluation batch outside `torch.no_grad()` whose output is kept in a list.
    EvalOutputsKept,
    /// An evaluation loss outside `torch.no_grad()` summed into a running total.
    EvalTotalKept,
    /// `loss.backward(retain_graph=True)` with the loss kept in a list.
    RetainedGraphKept,
    /// `kept_state = carry(kept_state, out)`: a state carried through a helper from attached
    /// outputs, every step's graph hanging off the next state.
    CarriedState,
    /// `kept_errors.append(err)` in a handler around `audit(out)`, which always raises: each
    /// kept exception holds the frame of `audit()`, with the output and its scaled copy.
    KeptException,
    /// `kept_cycle = {"out": out}` and `kept_cycle["self"] = kept_cycle`: each step's dict,
    /// with the attached output, is a cycle once the name moves on, reported at the outermost
    /// loop.
    ReferenceCycle,
    /// `kept_scaled = Scale.apply(out)`, where the custom Function keeps its result as
    /// `ctx.result = result`: each step's result is a cycle with its node and `ctx` once the
    /// name moves on, reported at the `ctx.result = result` of `forward`.
    CtxSavedOutput,
    /// `model.register_forward_hook(check_batch(x))` every step, never removed: each hook's
    /// closure keeps that step's input batch.
    HookAccumulation,
    /// `frag_buffer = torch.empty(1280 + 256 * step, 2048, device=device)`, deleted in the same
    /// step: 2 MiB larger every step from 10 MiB, so each opens a segment of its own.
    Fragmentation,
}

impl PlantedLeak {
    /// Every planted leak.
    pub const ALL: [PlantedLeak; 14] = [
        PlantedLeak::AttachedLossList,
        PlantedLeak::AttachedOutputList,
        PlantedLeak::DetachedLossList,
        PlantedLeak::AttachedTotal,
        PlantedLeak::AttachedMetric,
        PlantedLeak::EvalOutputsKept,
        PlantedLeak::EvalTotalKept,
        PlantedLeak::RetainedGraphKept,
        PlantedLeak::CarriedState,
        PlantedLeak::KeptException,
        PlantedLeak::ReferenceCycle,
        PlantedLeak::CtxSavedOutput,
        PlantedLeak::HookAccumulation,
        PlantedLeak::Fragmentation,
    ];

    /// The leaks planted in the training step whose growth holds graph: the ones whose list or
    /// total can be made every epoch and still leak ([`Program::leak_per_epoch`]).
    pub const IN_STEP_WITH_GRAPH: [PlantedLeak; 7] = [
        PlantedLeak::AttachedLossList,
        PlantedLeak::AttachedOutputList,
        PlantedLeak::RetainedGraphKept,
        PlantedLeak::AttachedTotal,
        PlantedLeak::AttachedMetric,
        PlantedLeak::CarriedState,
        PlantedLeak::KeptException,
    ];

    /// The kinds the checker must report for this leak (`docs/leaks.md`).
    pub fn kinds(self) -> Vec<LeakKind> {
        use LeakKind::*;
        match self {
            PlantedLeak::AttachedLossList
            | PlantedLeak::AttachedOutputList
            | PlantedLeak::RetainedGraphKept => vec![TensorList, RetainedGraph],
            PlantedLeak::DetachedLossList => vec![TensorList],
            PlantedLeak::AttachedTotal | PlantedLeak::AttachedMetric => vec![AttachedMetric],
            PlantedLeak::EvalOutputsKept => vec![TensorList, MissingNoGrad],
            PlantedLeak::EvalTotalKept => vec![AttachedMetric, MissingNoGrad],
            PlantedLeak::CarriedState => vec![CarriedState],
            PlantedLeak::KeptException => vec![KeptException],
            PlantedLeak::ReferenceCycle => vec![ReferenceCycle],
            // The nodes of the step's graph stay with the kept result's node.
            PlantedLeak::CtxSavedOutput => vec![RetainedGraph, ReferenceCycle, CtxSavedOutput],
            PlantedLeak::HookAccumulation => vec![HookCapture, HookAccumulation],
            PlantedLeak::Fragmentation => vec![LeakKind::Fragmentation],
        }
    }
}

/// A rendered program with its ground truth.
#[derive(Debug, Clone)]
pub struct Case {
    /// The description it was rendered from.
    pub program: Program,
    /// The scenario, printed and parsed back, so every node has its real span.
    pub scenario: Scenario,
    /// What the checker must find, when a leak was planted.
    pub planted: Option<Planted>,
    /// For a clean program that is judged bounded growth
    /// ([`Program::expects_bounded_growth`]), the line of the statement that grows.
    pub bounded_growth_at: Option<u32>,
}

impl Case {
    /// Whether the program is clean by construction.
    pub fn is_clean(&self) -> bool {
        self.planted.is_none()
    }
}

/// The planted leak of a [`Case`], located in the printed scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    /// Which leak.
    pub leak: PlantedLeak,
    /// The kinds the leak must have.
    pub kinds: Vec<LeakKind>,
    /// The line of the retaining statement in the printed scenario.
    pub line: u32,
    /// That statement, as printed.
    pub statement: String,
    /// Bytes per iteration, where PyTorch's rules decide them exactly.
    pub bytes_per_iteration: Option<u64>,
    /// Autograd nodes per iteration, where they are known exactly.
    pub graph_nodes_per_iteration: Option<u64>,
    /// The line of the epoch loop that releases the leak, when its container is made every
    /// epoch ([`Program::leak_released_by_epoch`]); `None` when nothing releases it.
    pub released_by: Option<u32>,
}

/// A generated program did not parse back: a bug in the generator.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The rendered Python is outside the subset.
    #[error("the generated program does not parse:\n{errors}\n{source_text}")]
    Unparsable {
        /// The parser's errors.
        errors: ScenarioErrors,
        /// The rendered program.
        source_text: String,
    },
    /// The planted statement is not in the printed scenario.
    #[error("the planted statement `{0}` is not in the printed program")]
    PlantLost(String),
}

impl Program {
    /// Renders the program and parses it back into a [`Case`].
    pub fn case(&self) -> Result<Case, GenError> {
        render::case(self)
    }

    /// Whether the planted leak's container is made every epoch ([`Program::leak_per_epoch`]
    /// in an epoch loop), for a leak planted in the step whose growth holds graph. A list of
    /// detached losses made every epoch is not a leak but bounded growth, the benign
    /// [`Benign::ScopedList`]; the evaluation leaks run once per epoch, outside the step loop.
    pub fn leak_released_by_epoch(&self) -> bool {
        self.leak_per_epoch
            && matches!(self.shape, Shape::Epochs { .. })
            && self
                .leak
                .is_some_and(|leak| PlantedLeak::IN_STEP_WITH_GRAPH.contains(&leak))
    }

    /// Whether a clean program is judged bounded growth: a [`Benign::ScopedList`] made every
    /// epoch collects one detached loss per step, which the epoch loop releases.
    pub fn expects_bounded_growth(&self) -> bool {
        self.leak.is_none()
            && matches!(self.shape, Shape::Epochs { .. })
            && self.benign.contains(&Benign::ScopedList)
    }

    /// Iterations of the innermost training loop, over the whole run.
    pub fn steps(&self) -> u32 {
        match self.shape {
            Shape::Single { iterations } => iterations,
            Shape::Epochs { epochs, steps } => epochs * steps,
        }
    }
}

/// Where the checker disagrees with a case's ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disagreement {
    /// A clean program was not judged clean (or bounded growth, where it collects detached
    /// data every epoch).
    NotClean {
        /// The verdict given.
        verdict: Verdict,
        /// The first leak's statement or the error, for the message.
        detail: String,
    },
    /// No reported leak has the planted kinds at the planted line.
    PlantNotFound {
        /// What was reported, for the message.
        reported: String,
    },
    /// The leak was found with other bytes (or nodes) per iteration than PyTorch's rules say.
    WrongGrowth {
        /// Predicted bytes and nodes per iteration.
        expected: (Option<u64>, Option<u64>),
        /// Reported bytes and nodes per iteration.
        found: (u64, u64),
    },
    /// The cpu and meta backends disagree on a memory figure.
    BackendsDiffer {
        /// Which figure, with both values.
        what: String,
    },
    /// Memory did not return to the baseline at teardown.
    Teardown {
        /// Baseline allocated and reserved bytes.
        baseline: (u64, u64),
        /// Allocated after scope exit, reserved after `empty_cache()`.
        after: (u64, u64),
    },
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disagreement::NotClean { verdict, detail } => {
                write!(
                    f,
                    "a clean program was judged {}: {detail}",
                    verdict_name(*verdict)
                )
            }
            Disagreement::PlantNotFound { reported } => {
                write!(
                    f,
                    "the planted leak was not found; reported: {reported}"
                )
            }
            Disagreement::WrongGrowth { expected, found } => write!(
                f,
                "the planted leak grows by {} B and {} nodes per iteration, expected {} B and {} nodes",
                found.0,
                found.1,
                expected.0.map_or("any".into(), |b| b.to_string()),
                expected.1.map_or("any".into(), |n| n.to_string()),
            ),
            Disagreement::BackendsDiffer { what } => {
                write!(f, "cpu and meta disagree: {what}")
            }
            Disagreement::Teardown { baseline, after } => write!(
                f,
                "teardown left {} B allocated and {} B reserved; the baseline is {} B and {} B",
                after.0, after.1, baseline.0, baseline.1
            ),
        }
    }
}

fn verdict_name(v: Verdict) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{v:?}"))
}

/// Property (1) and (2): whether the report judges the case as its construction says.
pub fn judge_verdict(case: &Case, report: &Report) -> Option<Disagreement> {
    let Some(planted) = &case.planted else {
        let bounded_at: Vec<u32> = report
            .bounded_growth
            .iter()
            .map(|b| b.retained_by.line)
            .collect();
        let as_built = match case.bounded_growth_at {
            None => report.verdict == Verdict::Clean,
            Some(line) => report.verdict == Verdict::BoundedGrowth && bounded_at.contains(&line),
        };
        if as_built && report.passed {
            return None;
        }
        let detail = match (&report.error, report.leaks.first()) {
            (Some(e), _) => format!("line {}: {}", e.line.unwrap_or(0), e.message),
            (None, Some(l)) => format!(
                "line {} `{}` grows by {} B per iteration",
                l.retained_by.line, l.retained_by.statement, l.bytes_per_iteration
            ),
            (None, None) => match case.bounded_growth_at {
                Some(line) => format!(
                    "expected bounded growth at line {line}, found it at lines {bounded_at:?}"
                ),
                None if !bounded_at.is_empty() => {
                    format!("bounded growth at lines {bounded_at:?}")
                }
                None => "teardown left memory behind".into(),
            },
        };
        return Some(Disagreement::NotClean {
            verdict: report.verdict,
            detail,
        });
    };
    let found = report.leaks.iter().find(|l| {
        l.retained_by.line == planted.line
            && planted.kinds.iter().all(|k| l.kinds.contains(k))
            && l.released_by.as_ref().map(|s| s.line) == planted.released_by
    });
    let Some(leak) = found else {
        let reported: Vec<String> = report
            .leaks
            .iter()
            .map(|l| {
                let kinds: Vec<&str> = l.kinds.iter().map(|k| k.name()).collect();
                let released = l
                    .released_by
                    .as_ref()
                    .map_or(String::new(), |s| format!(" released by line {}", s.line));
                format!(
                    "[{}] at line {}{released}",
                    kinds.join(" "),
                    l.retained_by.line
                )
            })
            .collect();
        let reported = if reported.is_empty() {
            format!("no leak (verdict {})", verdict_name(report.verdict))
        } else {
            reported.join(", ")
        };
        return Some(Disagreement::PlantNotFound { reported });
    };
    let bytes_ok = planted
        .bytes_per_iteration
        .is_none_or(|b| b == leak.bytes_per_iteration);
    let nodes_ok = planted
        .graph_nodes_per_iteration
        .is_none_or(|n| n == leak.graph_nodes_per_iteration);
    (!bytes_ok || !nodes_ok).then_some(Disagreement::WrongGrowth {
        expected: (
            planted.bytes_per_iteration,
            planted.graph_nodes_per_iteration,
        ),
        found: (leak.bytes_per_iteration, leak.graph_nodes_per_iteration),
    })
}

/// Property (3): whether memory returned to the baseline at teardown.
pub fn judge_teardown(report: &Report) -> Option<Disagreement> {
    let t = &report.after_teardown;
    let baseline = (report.baseline.allocated, report.baseline.reserved);
    let after = (t.after_scope_exit.allocated, t.after_empty_cache.reserved);
    (after != baseline).then_some(Disagreement::Teardown { baseline, after })
}

/// Every way the report disagrees with the case's ground truth (properties 1 to 3).
pub fn judge(case: &Case, report: &Report) -> Vec<Disagreement> {
    judge_verdict(case, report)
        .into_iter()
        .chain(judge_teardown(report))
        .collect()
}

/// Writes a failing case as a scenario file, `<dir>/<stem>.py`, with the header saying what
/// should happen and `note` (the property, seed and reason) as its description, and each
/// report next to it: the first as `<stem>.json`/`.md`, the others as `<stem>-<backend>`.
pub fn write_finding(
    case: &Case,
    reports: &[&Report],
    dir: &Path,
    stem: &str,
    note: &str,
) -> Result<PathBuf, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{stem}.py"));
    let mut scenario = case.scenario.clone();
    scenario.header.description = Some(note.to_string());
    std::fs::write(&path, print_scenario(&scenario)).map_err(|source| WriteError {
        path: path.clone(),
        source,
    })?;
    for (i, report) in reports.iter().enumerate() {
        let stem = match i {
            0 => stem.to_string(),
            _ => format!("{stem}-{}", report.backend),
        };
        write_reports(report, dir, &stem)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn every_program_renders_parses_and_locates_its_plant() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let program = program().new_tree(&mut runner).unwrap().current();
            let case = program.case().unwrap();
            if let Some(p) = &case.planted {
                let line = case
                    .scenario
                    .source
                    .lines()
                    .nth(p.line as usize - 1)
                    .unwrap();
                assert_eq!(line.trim(), p.statement);
            }
        }
    }

    #[test]
    fn a_leak_made_every_epoch_is_made_inside_the_epoch_loop_and_released_by_it() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..50 {
            let program = released_leak_program()
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let case = program.case().unwrap();
            let planted = case.planted.expect("a planted leak");
            let epoch_line = planted.released_by.expect("released by the epoch loop");
            let lines: Vec<&str> = case.scenario.source.lines().collect();
            let epoch = lines[epoch_line as usize - 1];
            assert!(epoch.trim_start().starts_with("for epoch in range("));
            let container = lines[epoch_line as usize..]
                .iter()
                .find(|l| l.trim_start().starts_with("kept_"))
                .expect("the container is made in the epoch loop");
            let indent = |l: &str| l.len() - l.trim_start().len();
            assert_eq!(indent(container), indent(epoch) + 4, "{container}");
            assert!(planted.line > epoch_line);
        }
    }

    #[test]
    fn leaks_planted_in_a_function_or_a_trainer_method_are_found_at_their_line() {
        use crate::check::{check_scenario, CheckOptions};
        use crate::device::Backend;

        let options = CheckOptions {
            backend: Backend::Meta,
            ..CheckOptions::default()
        };
        let mut runner = TestRunner::deterministic();
        for (style, opening) in [
            (Style::Function, "def train(model, opt):"),
            (Style::Trainer, "class Trainer:"),
        ] {
            for leak in [PlantedLeak::AttachedLossList, PlantedLeak::AttachedTotal] {
                let mut program = leaky_program().new_tree(&mut runner).unwrap().current();
                program.style = style;
                program.leak = Some(leak);
                program.benign = vec![Benign::MetricsDict, Benign::BatchSizes];
                let case = program.case().unwrap();
                assert!(
                    case.scenario.source.contains(opening),
                    "{}",
                    case.scenario.source
                );
                let report = check_scenario(&case.scenario, &options).unwrap();
                let wrong = judge(&case, &report);
                assert!(wrong.is_empty(), "{wrong:?}\n{}", case.scenario.source);
            }
        }
    }

    #[test]
    fn shrinking_all_the_way_gives_a_small_valid_program() {
        let mut runner = TestRunner::deterministic();
        let mut tree = leaky_program().new_tree(&mut runner).unwrap();
        while tree.simplify() {}
        let program = tree.current();
        assert!(program.benign.is_empty());
        assert_eq!(program.style, Style::Script);
        assert_eq!(program.widths.len(), 2);
        assert!(program.steps() >= 2);
        program.case().unwrap();
    }
}
