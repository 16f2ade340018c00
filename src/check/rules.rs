//! One rule per leak kind: what makes a growing root a leak of that kind, which kind's fix a
//! leak of several kinds is given, and the fix. Adding a kind is a variant of
//! [`LeakKind`](crate::base::LeakKind), a rule here, a generator plant, a gallery scenario and
//! its section of `docs/leaks.md`.

use crate::base::LeakKind;

/// What the measurement and attribution stages found about one growing root.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Evidence {
    /// The root is a list element, and the device tensors stored directly in the list grow.
    pub(super) list_of_device_tensors_grows: bool,
    /// Autograd nodes, or bytes reached through a `grad_fn`, grow.
    pub(super) graph_grows: bool,
    /// The root is a name rebound from its own value (`x += y`, `x = x + y`).
    pub(super) running_total: bool,
    /// Nodes that still hold saved tensors and that no backward ran through grow.
    pub(super) unused_graph_grows: bool,
    /// The root is a name rebound from a call that takes its previous value
    /// (`hidden = cell(x, hidden)`; `statement::carries_state`).
    pub(super) carried_state: bool,
    /// What an exception object reaches (its traceback's frames) grows.
    pub(super) exception_grows: bool,
    /// The root is the cyclic collector's garbage: objects no name reaches, kept by cycles.
    pub(super) in_cycle: bool,
    /// What a module's hook or a closure's captured variable reaches grows.
    pub(super) hook_or_closure_grows: bool,
    /// The number of hooks on the modules the root reaches grows.
    pub(super) hooks_grow: bool,
    /// What the attributes of a custom `autograd.Function`'s `ctx` reach grows.
    pub(super) ctx_attribute_grows: bool,
    /// Reserved memory grows with the loop, by more than the peak of allocated memory, while
    /// allocated memory at the measuring point does not (`fragmentation::judge`).
    pub(super) reserved_grows_alone: bool,
}

/// A leak kind's rule.
pub(super) trait Rule: Sync {
    /// The kind this rule names.
    fn kind(&self) -> LeakKind;
    /// Whether a growing root with this evidence is a leak of this kind.
    fn applies(&self, e: &Evidence) -> bool;
    /// Among the kinds of one leak, the one with the highest precedence gives the fix.
    fn precedence(&self) -> u8;
    /// The fix, knowing every kind the leak has.
    fn help(&self, kinds: &[LeakKind]) -> &'static str;
}

/// `tensor-list`: device tensors stored in a list that outlives the loop.
struct TensorList;

impl Rule for TensorList {
    fn kind(&self) -> LeakKind {
        LeakKind::TensorList
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.list_of_device_tensors_grows
    }
    fn precedence(&self) -> u8 {
        1
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "append loss.item() instead, or move the kept tensors to the host with .cpu(): the list grows every iteration"
    }
}

/// `retained-graph`: a kept tensor keeps its autograd graph, used or not by a backward.
struct RetainedGraph;

impl Rule for RetainedGraph {
    fn kind(&self) -> LeakKind {
        LeakKind::RetainedGraph
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.graph_grows && !e.unused_graph_grows && !e.running_total && !e.carried_state
    }
    fn precedence(&self) -> u8 {
        2
    }
    fn help(&self, kinds: &[LeakKind]) -> &'static str {
        if kinds.contains(&LeakKind::TensorList) {
            "append loss.item() instead (or loss.detach() if you need a tensor): the kept tensor keeps its whole graph"
        } else {
            "keep loss.detach() or loss.item() instead, and do not pass retain_graph=True unless a second backward needs it"
        }
    }
}

/// `attached-metric`: a running total rebound from itself whose value keeps a `grad_fn`.
struct AttachedMetric;

impl Rule for AttachedMetric {
    fn kind(&self) -> LeakKind {
        LeakKind::AttachedMetric
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.graph_grows && e.running_total && !e.carried_state
    }
    fn precedence(&self) -> u8 {
        4
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "accumulate loss.detach() or float(loss) instead: a running total of attached tensors chains every iteration's graph"
    }
}

/// `missing-no-grad`: kept graphs that still hold their saved tensors, no backward having run
/// through them.
struct MissingNoGrad;

impl Rule for MissingNoGrad {
    fn kind(&self) -> LeakKind {
        LeakKind::MissingNoGrad
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.graph_grows && e.unused_graph_grows
    }
    fn precedence(&self) -> u8 {
        3
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "wrap the loop in torch.no_grad(): it builds graphs no backward uses, and keeps them through its outputs"
    }
}

/// `carried-state`: a state rebound from a call that takes its previous value, whose graph
/// grows, each iteration's hanging off the next one's.
struct CarriedState;

impl Rule for CarriedState {
    fn kind(&self) -> LeakKind {
        LeakKind::CarriedState
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.graph_grows && e.carried_state
    }
    fn precedence(&self) -> u8 {
        5
    }
    fn help(&self, kinds: &[LeakKind]) -> &'static str {
        if kinds.contains(&LeakKind::MissingNoGrad) {
            "wrap the loop in torch.no_grad() when no backward needs the state (inference, generation); to train through it, \
             carry hidden.detach() every k steps (truncated backpropagation): the state chains every iteration's graph to the next"
        } else {
            "detach the carried state once its backward has run (hidden = hidden.detach(), truncated backpropagation through time): \
             the state chains every iteration's graph to the next"
        }
    }
}

/// `kept-exception`: exceptions kept after their `except` block, and with them their
/// tracebacks' frames and what those frames' locals hold.
struct KeptException;

impl Rule for KeptException {
    fn kind(&self) -> LeakKind {
        LeakKind::KeptException
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.exception_grows
    }
    fn precedence(&self) -> u8 {
        6
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "keep str(e) or traceback.format_exc() instead of the exception, and retry outside the except block: \
         a kept exception holds its traceback's frames and every tensor their locals reference"
    }
}

/// `reference-cycle`: memory that no name reaches, kept by a reference cycle until the cyclic
/// collector runs.
struct ReferenceCycle;

impl Rule for ReferenceCycle {
    fn kind(&self) -> LeakKind {
        LeakKind::ReferenceCycle
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.in_cycle
    }
    fn precedence(&self) -> u8 {
        7
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "break the cycle the path names (a hook or closure that captures its own module: use the module it is \
         passed, or a weakref), or call gc.collect() after dropping it: only the cyclic collector frees this memory, \
         and gc.collect() does"
    }
}

/// `hook-capture`: tensors kept through a hook or a closure, in a container it captured.
struct HookCapture;

impl Rule for HookCapture {
    fn kind(&self) -> LeakKind {
        LeakKind::HookCapture
    }
    fn applies(&self, e: &Evidence) -> bool {
        // A hook or closure in a cycle of garbage is the cycle's doing (reference-cycle).
        e.hook_or_closure_grows && !e.in_cycle
    }
    fn precedence(&self) -> u8 {
        8
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "have the hook or closure keep output.detach() (or .cpu(), or a number), and clear its container once the values \
         are used: what it stores stays as long as the hook or closure does"
    }
}

/// `hook-accumulation`: hooks registered every iteration and never removed.
struct HookAccumulation;

impl Rule for HookAccumulation {
    fn kind(&self) -> LeakKind {
        LeakKind::HookAccumulation
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.hooks_grow && !e.in_cycle
    }
    fn precedence(&self) -> u8 {
        9
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "register the hook once, before the loop, or keep the handle register_forward_hook returns and call \
         handle.remove() after use: every registered hook stays, with what it captured, and runs on every forward"
    }
}

/// `ctx-saved-output`: tensors kept on a custom Function's `ctx` as attributes.
struct CtxSavedOutput;

impl Rule for CtxSavedOutput {
    fn kind(&self) -> LeakKind {
        LeakKind::CtxSavedOutput
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.ctx_attribute_grows
    }
    fn precedence(&self) -> u8 {
        // The cycle it makes (reference-cycle) and the graph it keeps (retained-graph) are
        // its doing: its fix removes both.
        10
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "save the tensors backward needs with ctx.save_for_backward(out) in forward and read them with \
         ctx.saved_tensors in backward, instead of ctx attributes: an attribute outlives backward, and an output kept \
         on ctx makes the cycle output → grad_fn → ctx → output that only the cyclic collector frees"
    }
}

/// `fragmentation`: the caching allocator opens segments every iteration that its cached free
/// blocks could not serve, while what the program keeps stays the same.
struct Fragmentation;

impl Rule for Fragmentation {
    fn kind(&self) -> LeakKind {
        LeakKind::Fragmentation
    }
    fn applies(&self, e: &Evidence) -> bool {
        e.reserved_grows_alone
    }
    fn precedence(&self) -> u8 {
        // It is found for a loop, not a root, and never shares a leak with another kind.
        11
    }
    fn help(&self, _: &[LeakKind]) -> &'static str {
        "pad the varying dimension to a fixed size (or a few bucket sizes) so that cached blocks are reused, or set \
         PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True so that a segment grows in place instead of a new one opening \
         for every larger request; under a memory limit, max_split_size_mb keeps large cached blocks from being split for \
         smaller requests: reserved memory grows every iteration while allocated memory does not"
    }
}

/// Every rule, in the documentation order of [`LeakKind::ALL`].
const RULES: [&dyn Rule; 11] = [
    &TensorList,
    &RetainedGraph,
    &AttachedMetric,
    &MissingNoGrad,
    &CarriedState,
    &KeptException,
    &ReferenceCycle,
    &HookCapture,
    &HookAccumulation,
    &CtxSavedOutput,
    &Fragmentation,
];

/// The kinds of a growing root, in documentation order.
pub(super) fn kinds(e: &Evidence) -> Vec<LeakKind> {
    RULES
        .iter()
        .filter(|r| r.applies(e))
        .map(|r| r.kind())
        .collect()
}

/// The fix for a leak of these kinds: the highest-precedence kind's.
pub(super) fn help(kinds: &[LeakKind]) -> String {
    RULES
        .iter()
        .filter(|r| kinds.contains(&r.kind()))
        .max_by_key(|r| r.precedence())
        .map_or(
            "memory held by this statement grows with every iteration; drop the reference when it is no longer needed",
            |r| r.help(kinds),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_rule_in_documentation_order_with_a_distinct_precedence() {
        let kinds: Vec<LeakKind> = RULES.iter().map(|r| r.kind()).collect();
        assert_eq!(kinds, LeakKind::ALL);
        let mut precedences: Vec<u8> = RULES.iter().map(|r| r.precedence()).collect();
        precedences.sort();
        precedences.dedup();
        assert_eq!(precedences.len(), RULES.len());
    }

    #[test]
    fn an_output_kept_on_ctx_gets_the_save_for_backward_fix_over_the_cycle_fix() {
        let e = Evidence {
            graph_grows: true,
            in_cycle: true,
            ctx_attribute_grows: true,
            ..Evidence::default()
        };
        let k = kinds(&e);
        assert_eq!(
            k,
            [
                LeakKind::RetainedGraph,
                LeakKind::ReferenceCycle,
                LeakKind::CtxSavedOutput
            ]
        );
        assert!(help(&k).starts_with("save the tensors backward needs with ctx.save_for_backward"));
    }

    #[test]
    fn a_running_total_of_unused_graphs_is_an_attached_metric_first() {
        let e = Evidence {
            graph_grows: true,
            running_total: true,
            unused_graph_grows: true,
            ..Evidence::default()
        };
        let k = kinds(&e);
        assert_eq!(k, [LeakKind::AttachedMetric, LeakKind::MissingNoGrad]);
        assert!(help(&k).starts_with("accumulate loss.detach()"));
    }

    #[test]
    fn a_list_of_attached_losses_gets_the_list_fix_of_retained_graph() {
        let e = Evidence {
            list_of_device_tensors_grows: true,
            graph_grows: true,
            ..Evidence::default()
        };
        let k = kinds(&e);
        assert_eq!(k, [LeakKind::TensorList, LeakKind::RetainedGraph]);
        assert!(help(&k).starts_with("append loss.item() instead (or loss.detach()"));
    }

    #[test]
    fn a_state_carried_through_a_call_is_carried_state_not_a_running_total() {
        let e = Evidence {
            graph_grows: true,
            running_total: true,
            unused_graph_grows: true,
            carried_state: true,
            ..Evidence::default()
        };
        let k = kinds(&e);
        assert_eq!(k, [LeakKind::MissingNoGrad, LeakKind::CarriedState]);
        assert!(help(&k)
            .starts_with("wrap the loop in torch.no_grad() when no backward needs the state"));
        let trained = Evidence {
            unused_graph_grows: false,
            ..e
        };
        let k = kinds(&trained);
        assert_eq!(k, [LeakKind::CarriedState]);
        assert!(help(&k).starts_with("detach the carried state"));
    }

    #[test]
    fn graph_kept_by_an_exception_gets_the_exception_fix() {
        let e = Evidence {
            graph_grows: true,
            unused_graph_grows: true,
            exception_grows: true,
            ..Evidence::default()
        };
        let k = kinds(&e);
        assert_eq!(k, [LeakKind::MissingNoGrad, LeakKind::KeptException]);
        assert!(help(&k).starts_with("keep str(e)"));
    }

    #[test]
    fn garbage_kept_by_a_cycle_gets_the_cycle_fix() {
        let e = Evidence {
            in_cycle: true,
            ..Evidence::default()
        };
        let k = kinds(&e);
        assert_eq!(k, [LeakKind::ReferenceCycle]);
        assert!(help(&k).starts_with("break the cycle"));
        assert!(help(&k).ends_with("and gc.collect() does"));
    }

    #[test]
    fn hooks_piling_up_get_the_removal_fix_over_the_capture_fix() {
        let e = Evidence {
            hook_or_closure_grows: true,
            ..Evidence::default()
        };
        assert_eq!(kinds(&e), [LeakKind::HookCapture]);
        assert!(help(&kinds(&e)).starts_with("have the hook or closure keep output.detach()"));
        let e = Evidence {
            hooks_grow: true,
            ..e
        };
        let k = kinds(&e);
        assert_eq!(k, [LeakKind::HookCapture, LeakKind::HookAccumulation]);
        assert!(help(&k).starts_with("register the hook once"));
    }

    #[test]
    fn reserved_growth_alone_is_fragmentation_with_the_allocator_fix() {
        let e = Evidence {
            reserved_grows_alone: true,
            ..Evidence::default()
        };
        let k = kinds(&e);
        assert_eq!(k, [LeakKind::Fragmentation]);
        assert!(help(&k).contains("expandable_segments:True"));
        assert!(help(&k).contains("max_split_size_mb"));
    }

    #[test]
    fn growth_with_no_kind_gets_the_generic_fix() {
        assert!(kinds(&Evidence::default()).is_empty());
        assert!(help(&[]).starts_with("memory held by this statement grows"));
    }
}
