//! Growth in every loop: what one run sees of each loop, and what grows when that loop runs
//! more iterations.
//!
//! Every loop, at any depth, is measured at the end of its first execution (the first time its
//! last iteration ends): once as written, once with its count doubled and, when that grew, once
//! tripled. A loop the engine cannot scale (a `while`, a `for` over a one-shot iterator) is
//! measured instead within its first execution, after a third, two thirds and all of its
//! iterations. What a root holds more of in the doubled run, and again in the tripled one, grows
//! with the loop. A nested loop's growth that its enclosing loop does not also show is released
//! by that enclosing loop (a per-epoch list or total), and is judged by what it holds
//! (`docs/leaks.md`). Nesting is dynamic: a loop in a function called from a loop is nested in
//! that loop, and the function's locals are roots while it runs.

use std::collections::{BTreeMap, BTreeSet};

use super::fragmentation::CacheView;
use super::walk::{attribute, Attribution, Held, Reach, Root};
use crate::report::{IterationPoint, OomInfo};
use crate::runtime::Runtime;
use crate::scenario::interp::{Control, Env, IterationEnd, Observer};

/// A loop, by the line and column of its statement.
pub(super) type LoopAt = (u32, u32);

/// What a run saw when one loop's first execution ended.
pub(super) struct Measured {
    /// Everything alive then, by root.
    pub(super) alive: Attribution,
    /// Iteration ends of every loop until then.
    pub(super) counts: BTreeMap<LoopAt, u64>,
    /// Roots whose unused graph (alive at that moment) a later `backward()` ran through before
    /// the enclosing loop's iteration ended: the step's own graph under construction.
    pub(super) consumed: BTreeSet<Root>,
    /// The caching allocator then (its segments for a top-level loop).
    pub(super) cache: CacheView,
}

/// One loop as a run saw it.
#[derive(Default)]
pub(super) struct LoopSeen {
    /// The loop around it in the run (not in the source: a loop in a function has the caller's
    /// loop around it).
    pub(super) parent: Option<LoopAt>,
    /// Allocated bytes, live graph nodes and reserved bytes at the end of each iteration of its
    /// first execution.
    first_execution: Vec<(u64, u64, u64)>,
    /// What was alive at the end of its first execution, once that ended.
    pub(super) measured: Option<Measured>,
}

impl LoopSeen {
    /// Whether memory or graph nodes rose above their level at the end of the second
    /// iteration at any later iteration end of the first execution (the first iterations are
    /// where one-offs such as optimizer state happen). What grows with the loop rises at some
    /// iteration end even when other memory comes and goes (gradients dropped every few
    /// steps); a loop that never rises is not run again. With fewer than four iterations
    /// there is nothing to tell, so it is: one later iteration end can be the one where memory
    /// is dropped (an optimizer step after three accumulated batches frees the gradients, more
    /// than a kept detached loss adds).
    pub(super) fn may_grow(&self) -> bool {
        match self.first_execution[..] {
            [_, (bytes, nodes, reserved), ref later @ ..] if later.len() >= 2 => later
                .iter()
                .any(|&(b, n, r)| b > bytes || n > nodes || r > reserved),
            _ => true,
        }
    }

    /// Where to measure a loop that releases memory periodically (gradient accumulation's
    /// `if (i + 1) % k == 0: opt.step(); opt.zero_grad()`, a state detached every k steps),
    /// when its count is not a multiple of the period: the last iteration end of its first
    /// execution that is. Measured as written, doubled and tripled at one, two and three times
    /// that count, every run ends at the same point of the period; measured at the loop's end
    /// they would not, and the period's swing (the accumulated gradients, alive in one run and
    /// freed in the next) hides a smaller leak, or reads as growth.
    ///
    /// The period is read from the iteration ends at which allocated bytes or graph nodes
    /// drop below the previous end's: with two drops or more, the greatest common divisor of
    /// their distances (the first release can come at any point of the period); with one, the
    /// smallest `p` for which the change from one iteration end to the next repeats every `p`
    /// iterations (a leak adds the same to every change). A period no comparison can confirm
    /// (`p` reaching past the run) is taken only where a loop that releases at `(i + 1) % p
    /// == 0` releases first: 4 iterations that drop only at the end of the third have period
    /// 3, but a drop at the end of the fourth proves none, since a one-time allocation in the
    /// first period (momentum buffers at the first `step()`) can hide the release before it.
    pub(super) fn period_end(&self) -> Option<usize> {
        let n = self.first_execution.len();
        let change: Vec<(i128, i128)> = self
            .first_execution
            .windows(2)
            .map(|w| {
                (
                    i128::from(w[1].0) - i128::from(w[0].0),
                    i128::from(w[1].1) - i128::from(w[0].1),
                )
            })
            .collect();
        let drops: Vec<usize> = (0..change.len())
            .filter(|&i| change[i].0 < 0 || change[i].1 < 0)
            .collect();
        let period = match drops[..] {
            [] => return None,
            [d] => (2..n).find(|&p| {
                if p < change.len() {
                    (p..change.len()).all(|i| change[i] == change[i - p])
                } else {
                    p == d + 2
                }
            })?,
            _ => drops.windows(2).map(|w| w[1] - w[0]).reduce(gcd)?,
        };
        let end = n / period * period;
        (period >= 2 && end < n).then_some(end)
    }

    /// How many iteration ends its first execution had.
    pub(super) fn iterations(&self) -> usize {
        self.first_execution.len()
    }

    /// How many enclosing loops it has in `loops`.
    pub(super) fn depth(&self, loops: &BTreeMap<LoopAt, LoopSeen>) -> usize {
        let mut depth = 0;
        let mut at = self.parent;
        while let Some(p) = at {
            depth += 1;
            at = loops.get(&p).and_then(|l| l.parent);
        }
        depth
    }
}

/// Which loops a run measures.
enum Mode {
    /// The run as written: every loop, and the timeline.
    AsWritten,
    /// A run with `target` scaled: only `target`, then until the enclosing loop's iteration
    /// ends (watching backward calls), then stop. `after`: measured after that many iteration
    /// ends of its first execution instead of at its last.
    Scaled {
        target: LoopAt,
        after: Option<usize>,
    },
}

/// After the target's first execution ended: the enclosing loop whose iteration end stops the
/// run, and the unused graph nodes of every root, to see a backward consume them.
struct Watch {
    until: Option<(LoopAt, usize)>,
    unused: Vec<(Root, Vec<std::rc::Weak<crate::autograd::Node>>)>,
}

/// Watches a run: checkpoints at every iteration end, what is alive at the end of each loop's
/// first execution, and the memory at an out-of-memory error.
pub(super) struct Recorder {
    mode: Mode,
    pub(super) iterations: Vec<IterationPoint>,
    counts: BTreeMap<LoopAt, u64>,
    pub(super) loops: BTreeMap<LoopAt, LoopSeen>,
    watch: Option<Watch>,
    pub(super) oom: Option<OomInfo>,
    pub(super) source: Vec<String>,
}

impl Recorder {
    /// A recorder for the run as written.
    pub(super) fn as_written(source: Vec<String>) -> Recorder {
        Recorder::new(Mode::AsWritten, source)
    }

    /// A recorder for a run with `target` scaled, measured at the end of its first execution
    /// or, with `after`, after that many of its iterations.
    pub(super) fn scaled(target: LoopAt, after: Option<usize>, source: Vec<String>) -> Recorder {
        Recorder::new(Mode::Scaled { target, after }, source)
    }

    fn new(mode: Mode, source: Vec<String>) -> Recorder {
        Recorder {
            mode,
            iterations: Vec::new(),
            counts: BTreeMap::new(),
            loops: BTreeMap::new(),
            watch: None,
            oom: None,
            source,
        }
    }

    /// What the run measured of `at`.
    pub(super) fn measured(&self, at: LoopAt) -> Option<&Measured> {
        self.loops.get(&at)?.measured.as_ref()
    }
}

fn key(span: crate::scenario::Span) -> LoopAt {
    (span.line, span.col)
}

/// The end of one loop iteration, as any [`Subject`](super::subject::Subject) tells it.
pub(super) struct LoopIterationEnd<'a> {
    pub(super) rt: &'a Runtime,
    /// The loop.
    pub(super) here: LoopAt,
    /// The iteration of each enclosing loop, outermost first, ending with this loop's.
    pub(super) index: &'a [u32],
    /// The loop around it in this run.
    pub(super) parent: Option<LoopAt>,
    /// Whether this was its last iteration.
    pub(super) last: bool,
}

impl Recorder {
    /// Records one iteration end; `attribute` says who holds what is alive now (keeping each
    /// root's unused graph nodes when asked), and is called only where a loop is measured.
    pub(super) fn loop_iteration_end(
        &mut self,
        at: LoopIterationEnd<'_>,
        attribute: &mut dyn FnMut(bool) -> Attribution,
    ) -> Control {
        let here = at.here;
        *self.counts.entry(here).or_default() += 1;
        let (target, after) = match self.mode {
            Mode::AsWritten => {
                self.iterations.push(IterationPoint {
                    loop_line: here.0,
                    index: at.index.to_vec(),
                    allocated: at.rt.memory_allocated(),
                    reserved: at.rt.memory_reserved(),
                    graph_nodes: at.rt.live_nodes() as u64,
                    at_event: at.rt.allocator().history().total_recorded(),
                });
                (None, None)
            }
            Mode::Scaled { target, after } => (Some(target), after),
        };
        if let Some(watch) = &self.watch {
            return match watch.until {
                Some((parent, depth)) if parent == here && at.index.len() == depth => Control::Stop,
                _ => Control::Continue,
            };
        }
        if target.is_some_and(|t| t != here) {
            return Control::Continue;
        }
        let parent = at.parent;
        let seen = self.loops.entry(here).or_insert_with(|| LoopSeen {
            parent,
            ..LoopSeen::default()
        });
        if seen.measured.is_some() {
            return Control::Continue;
        }
        seen.first_execution.push((
            at.rt.memory_allocated(),
            at.rt.live_nodes() as u64,
            at.rt.memory_reserved(),
        ));
        if !at.last && after != Some(seen.first_execution.len()) {
            return Control::Continue;
        }
        let alive = attribute(target.is_some());
        let unused = alive
            .roots
            .iter()
            .filter(|(_, held)| !held.unused.is_empty())
            .map(|(root, held)| (*root, held.unused.clone()))
            .collect();
        seen.measured = Some(Measured {
            alive,
            counts: self.counts.clone(),
            consumed: BTreeSet::new(),
            cache: CacheView::of(at.rt, parent.is_none()),
        });
        if target.is_none() {
            return Control::Continue;
        }
        match parent {
            // A top-level loop's growth is measured; nothing releases it.
            None => Control::Stop,
            Some(parent) => {
                self.watch = Some(Watch {
                    until: Some((parent, at.index.len() - 1)),
                    unused,
                });
                Control::Continue
            }
        }
    }
}

impl Observer for Recorder {
    fn iteration_end(&mut self, at: &IterationEnd<'_>) -> Control {
        let end = LoopIterationEnd {
            rt: at.rt,
            here: key(at.loop_at),
            index: at.index,
            parent: at.loops.len().checked_sub(2).map(|i| key(at.loops[i])),
            last: at.last,
        };
        self.loop_iteration_end(end, &mut |keep_unused| {
            attribute(
                at.env,
                at.frames,
                at.cycles.garbage(),
                &at.rt.allocator(),
                at.rt.live_nodes() as u64,
                keep_unused,
            )
        })
    }

    fn backward_ran(&mut self, _rt: &Runtime, _env: &Env) {
        let (Some(watch), Mode::Scaled { target, .. }) = (&self.watch, &self.mode) else {
            return;
        };
        let Some(measured) = self.loops.get_mut(target).and_then(|l| l.measured.as_mut()) else {
            return;
        };
        for (root, nodes) in &watch.unused {
            let ran = nodes
                .iter()
                .filter_map(std::rc::Weak::upgrade)
                .any(|n| n.backward_ran());
            if ran {
                measured.consumed.insert(*root);
            }
        }
    }

    fn before_teardown(
        &mut self,
        rt: &Runtime,
        _env: &Env,
        failure: Option<&crate::scenario::interp::Failure>,
    ) {
        if let Some(oom) = super::oom_info(rt, &self.source, failure) {
            self.oom = Some(oom);
        }
    }
}

/// What one root holds more of when a loop runs more iterations.
pub(super) struct Growing<'a> {
    /// The root.
    pub(super) root: Root,
    /// What it holds in the run as written (nothing when it held nothing).
    pub(super) first: Option<&'a Held>,
    /// What it holds in the doubled run.
    pub(super) doubled: &'a Held,
    /// Bytes and nodes more in the doubled run than as written.
    pub(super) bytes: u64,
    /// Autograd nodes more in the doubled run.
    pub(super) nodes: u64,
}

/// The three measurements of one loop: as written, doubled and tripled.
pub(super) struct Runs<'a> {
    pub(super) first: &'a Measured,
    pub(super) doubled: &'a Measured,
    pub(super) tripled: &'a Measured,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub(super) fn growth(a: u64, b: u64) -> u64 {
    b.saturating_sub(a)
}

impl<'a> Runs<'a> {
    /// The roots that hold more in the doubled run than as written, and more again in the
    /// tripled one; and the growth nothing named holds, when it grows again too.
    pub(super) fn growing(&self) -> (Vec<Growing<'a>>, Option<(u64, u64)>) {
        let mut roots: Vec<&'a Root> = self
            .first
            .alive
            .roots
            .keys()
            .chain(self.doubled.alive.roots.keys())
            .collect();
        roots.sort();
        roots.dedup();
        let mut out = Vec::new();
        let mut explained_bytes = 0;
        let mut explained_nodes = 0;
        for root in roots {
            let held = |m: &'a Measured| m.alive.roots.get(root);
            let (Some(b), a, c) = (held(self.doubled), held(self.first), held(self.tripled)) else {
                continue;
            };
            let a_bytes = a.map_or(0, |h| h.bytes);
            let a_nodes = a.map_or(0, |h| h.nodes);
            let (bytes, nodes) = (growth(a_bytes, b.bytes), growth(a_nodes, b.nodes));
            if bytes == 0 && nodes == 0 {
                continue;
            }
            explained_bytes += bytes;
            explained_nodes += nodes;
            let (c_bytes, c_nodes) = c.map_or((0, 0), |h| (h.bytes, h.nodes));
            if growth(b.bytes, c_bytes) == 0 && growth(b.nodes, c_nodes) == 0 {
                continue;
            }
            out.push(Growing {
                root: *root,
                first: a,
                doubled: b,
                bytes,
                nodes,
            });
        }
        let hidden_bytes = growth(
            self.first.alive.allocated + explained_bytes,
            self.doubled.alive.allocated,
        );
        let hidden_nodes = growth(
            self.first.alive.live_nodes + explained_nodes,
            self.doubled.alive.live_nodes,
        );
        let grows_again = growth(self.doubled.alive.allocated, self.tripled.alive.allocated) > 0
            || growth(self.doubled.alive.live_nodes, self.tripled.alive.live_nodes) > 0;
        let hidden = ((hidden_bytes > 0 || hidden_nodes > 0) && grows_again)
            .then_some((hidden_bytes, hidden_nodes));
        (out, hidden)
    }

    /// The extra iterations of `around` in the doubled run, at least 1.
    pub(super) fn extra_iterations(&self, around: LoopAt) -> u64 {
        let a = self.first.counts.get(&around).copied().unwrap_or(0);
        let b = self.doubled.counts.get(&around).copied().unwrap_or(0);
        growth(a, b).max(1)
    }
}

impl Growing<'_> {
    /// Whether the root reaches more bytes or nodes along one kind of route in the doubled
    /// run.
    pub(super) fn reach_grows(&self, route: impl Fn(&Held) -> Reach) -> bool {
        self.first
            .map_or(Reach::default(), &route)
            .grows_into(&route(self.doubled))
    }

    /// How much more of `what` the root holds in the doubled run.
    pub(super) fn more(&self, what: impl Fn(&Held) -> u64) -> u64 {
        growth(self.first.map_or(0, &what), what(self.doubled))
    }
}
