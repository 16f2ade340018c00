//! Who holds what: a walk of every reference from the program's names, claiming each live block
//! and autograd node for the first name (in order of creation) that reaches it.
//!
//! The walk asks values what they reference only through the engine's
//! [`Referents`](crate::scenario::interp::Referents) (and tensors, through the runtime, what
//! their graph saves), so a new kind of value is walked as soon as it says what it holds. It
//! keeps its own stack rather than recursing (a chain of 12,000 objects or a 100,000-node
//! graph is deeper than a thread's stack), and walks every value, tensor and node once, so
//! objects shared by many others (a DAG of modules sharing children) cost their number, not
//! their paths.
//!
//! `walk/held.rs` holds what the walk attributes (the roots, what each holds, the moment's
//! [`Attribution`]); `walk/cycle.rs` names a root that only a reference cycle keeps.

use std::collections::HashSet;
use std::rc::Rc;

use crate::alloc::{CachingAllocator, Location};
use crate::autograd::Node;
use crate::base::{format_size, BlockId};
use crate::base::{DType, Device};
use crate::scenario::interp::{program_value, Edge, Env, FrameRef, Referents, Value};
use crate::scenario::Span;
use crate::tensor::Tensor;

use super::paths::{better_example, compress};

mod cycle;
mod held;

use cycle::cycle_name;
use held::Route;
pub(super) use held::{Attribution, Held, Reach, Root, Site, Via};

struct Walker<'a> {
    alloc: &'a CachingAllocator,
    seen_blocks: HashSet<BlockId>,
    seen_nodes: HashSet<*const Node>,
    seen_tensors: HashSet<usize>,
    /// Values with an identity (lists, dicts, objects, ...) already walked.
    seen_values: HashSet<usize>,
    /// Every step walked from the current root: its text and the step it came from. Paths are
    /// rebuilt from here only when a report needs one, so deep graphs cost no more than their
    /// size.
    steps: Vec<(String, Option<usize>)>,
    /// Whether the current root is a list element (its device tensors are kept by the list).
    list_root: bool,
    /// Whether to keep the unused nodes of each root ([`Held::unused`]).
    keep_unused: bool,
    /// The custom Functions' `ctx` attributes routes went through: (Function, attribute).
    ctx_attributes: Vec<(String, String)>,
}

/// Something reachable, waiting to be walked.
enum Item {
    Value(Value),
    Tensor(Tensor),
    Node(Rc<Node>),
}

struct Work {
    item: Item,
    /// The step that led here, in `Walker::steps`.
    at: Option<usize>,
    depth: usize,
    in_graph: bool,
    route: Route,
}

/// A child of a walked item: the step's text (none for a step that adds nothing to a path),
/// the item, whether the step enters an autograd graph, and the route to it.
type Child = (Option<String>, Item, bool, Route);

/// Walks every module-level name of `env`, then the locals of the running functions (`frames`,
/// outermost first; the module frame's names are `env`'s), then the objects only cycles keep
/// (`garbage`, [`Via::Cycle`]), and attributes what they reach; `keep_unused` keeps each
/// root's unused graph nodes, so that a later backward can be seen consuming them.
pub(super) fn attribute(
    env: &Env,
    frames: &[FrameRef],
    garbage: Vec<Value>,
    alloc: &CachingAllocator,
    live_nodes: u64,
    keep_unused: bool,
) -> Attribution {
    let mut w = Walker {
        alloc,
        seen_blocks: HashSet::new(),
        seen_nodes: HashSet::new(),
        seen_tensors: HashSet::new(),
        seen_values: HashSet::new(),
        steps: Vec::new(),
        list_root: false,
        keep_unused,
        ctx_attributes: Vec::new(),
    };
    let mut out = Attribution {
        allocated: alloc.memory_allocated(),
        live_nodes,
        ..Default::default()
    };
    let mut roots: Vec<(String, Value, Span, bool)> = env
        .bindings()
        .iter()
        .map(|b| (b.name.clone(), b.value.clone(), b.bound_at, b.accumulates))
        .collect();
    for frame in frames.iter().skip(1) {
        for (name, value) in frame.locals() {
            let (at, accumulates) = frame.binding(&name).unwrap_or_default();
            roots.push((name.to_string(), value, at, accumulates));
        }
    }
    for (name, value, bound_at, accumulates) in roots {
        let name_root = Root {
            at: (bound_at.line, bound_at.col),
            via: Via::Name,
            accumulates,
        };
        match value.stored_elements() {
            Some(items) => {
                // Each element is held by the statement that stored it.
                if let Some(id) = value.identity() {
                    w.seen_values.insert(id);
                }
                for (i, (value, stored_at)) in items.into_iter().enumerate() {
                    let root = Root {
                        at: span_at(stored_at),
                        via: Via::ListElement,
                        accumulates: false,
                    };
                    let held = out.roots.entry(root).or_default();
                    w.walk(format!("{name}[{i}]"), Item::Value(value), true, held);
                }
            }
            None => {
                let held = out.roots.entry(name_root).or_default();
                w.walk(name, Item::Value(value), false, held);
            }
        }
    }
    let cycle_root = Root {
        at: (0, 0),
        via: Via::Cycle,
        accumulates: false,
    };
    let ids: HashSet<usize> = garbage.iter().filter_map(Value::identity).collect();
    for value in &garbage {
        // An object of a cycle already walked was reached through it.
        if value
            .identity()
            .is_some_and(|id| w.seen_values.contains(&id))
        {
            continue;
        }
        let held = out.roots.entry(cycle_root).or_default();
        w.walk(
            cycle_name(value, &ids),
            Item::Value(value.clone()),
            false,
            held,
        );
    }
    out.roots.retain(|_, h| h.bytes > 0 || h.nodes > 0);
    out
}

/// The custom `autograd.Function` whose `ctx` `v` is (its class is `ExpBackward` for
/// `class Exp(torch.autograd.Function)`).
fn function_of_ctx(v: &Value) -> Option<&str> {
    match v {
        Value::Instance(i)
            if i.class.builtin_base.as_deref()
                == Some("torch.autograd.function.BackwardCFunction") =>
        {
            i.class.name.strip_suffix("Backward")
        }
        _ => None,
    }
}

fn span_at(s: Span) -> (u32, u32) {
    (s.line, s.col)
}

fn tensor_key(t: &Tensor) -> usize {
    t.id()
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::I64 => "i64",
        DType::I32 => "i32",
        DType::F64 => "f64",
        DType::Bool => "bool",
    }
}

impl Walker<'_> {
    /// Walks everything reachable from one root, depth first, with an explicit stack: autograd
    /// chains of a running total are as long as the run, far deeper than the thread's stack.
    fn walk(&mut self, name: String, item: Item, list_root: bool, held: &mut Held) {
        self.steps.clear();
        self.steps.push((name, None));
        self.list_root = list_root;
        let mut deepest_node: Option<(usize, usize)> = None;
        let mut stack = vec![Work {
            item,
            at: Some(0),
            depth: 1,
            in_graph: false,
            route: Route::default(),
        }];
        while let Some(Work {
            item,
            at,
            depth,
            in_graph,
            route,
        }) = stack.pop()
        {
            let children = match item {
                Item::Value(v) => self.value(&v, route, held),
                Item::Tensor(t) => self.tensor(&t, at, in_graph, route, held),
                Item::Node(n) => {
                    if !self.seen_nodes.insert(Rc::as_ptr(&n)) {
                        continue;
                    }
                    if deepest_node.is_none_or(|(d, _)| depth > d) {
                        deepest_node = at.map(|at| (depth, at));
                    }
                    self.node(&n, route, held)
                }
            };
            // Reversed, so that children are walked in their natural order.
            for (step, item, into_graph, route) in children.into_iter().rev() {
                let child_at = match step {
                    Some(text) => {
                        self.steps.push((text, at));
                        Some(self.steps.len() - 1)
                    }
                    None => at,
                };
                stack.push(Work {
                    item,
                    at: child_at,
                    depth: depth + 1,
                    in_graph: in_graph || into_graph,
                    route,
                });
            }
        }
        if let Some((_, at)) = deepest_node {
            let path = self.path_to(Some(at));
            if path.len() > held.node_example.len() {
                held.node_example = compress(path);
            }
        }
    }

    /// The steps from the root to `at`.
    fn path_to(&self, mut at: Option<usize>) -> Vec<String> {
        let mut path = Vec::new();
        while let Some(i) = at {
            path.push(self.steps[i].0.clone());
            at = self.steps[i].1;
        }
        path.reverse();
        path
    }

    /// The children of a value: a tensor, or what the value says it references
    /// ([`Referents`]); a value with an identity is walked once, however many references
    /// reach it.
    fn value(&mut self, v: &Value, route: Route, held: &mut Held) -> Vec<Child> {
        if let Some(t) = v.tensor() {
            return vec![(None, Item::Tensor(t.clone()), false, route)];
        }
        if let Some(node) = v.node() {
            return vec![(None, Item::Node(node), true, route)];
        }
        if v.identity().is_some_and(|id| !self.seen_values.insert(id)) {
            return Vec::new();
        }
        let function = function_of_ctx(v);
        let mut children = Vec::new();
        v.referents(&mut |edge, child| {
            let mut route = route;
            if let (Some(function), Edge::Attr(attr)) = (&function, &edge) {
                let key = (function.to_string(), attr.to_string());
                let i = match self.ctx_attributes.iter().position(|k| *k == key) {
                    Some(i) => i,
                    None => {
                        self.ctx_attributes.push(key);
                        self.ctx_attributes.len() - 1
                    }
                };
                route.ctx_attribute = Some(i);
            }
            let mut step = edge.to_string();
            if let Edge::Hook { registered_at, .. } = &edge {
                held.hooks += 1;
                if let Some(l) = registered_at {
                    held.hook_sites.entry((l.line, l.column)).or_default().hooks += 1;
                    step.push_str(&format!(" registered at {l}"));
                    step.push_str(&self.callers(l));
                }
            }
            let route = route.through(v, &edge);
            children.push((Some(step), Item::Value(child.clone()), false, route))
        });
        children
    }

    /// Claims a tensor's block; its children are its gradient and its `grad_fn`.
    fn tensor(
        &mut self,
        t: &Tensor,
        at: Option<usize>,
        in_graph: bool,
        route: Route,
        held: &mut Held,
    ) -> Vec<Child> {
        if !self.seen_tensors.insert(tensor_key(t)) {
            return Vec::new();
        }
        // A tensor is the list's when the list stores it, not when an exception, hook or
        // closure in the list reaches it.
        if self.list_root && !in_graph && route == Route::default() && t.device() == Device::Cuda {
            held.list_tensors += 1;
        }
        if let Some(block) = t.block() {
            if self.seen_blocks.insert(block) {
                self.claim(block, t, at, in_graph, route, held);
            }
        }
        let mut children = Vec::new();
        if let Some(g) = t.grad() {
            children.push((Some(".grad".to_string()), Item::Tensor(g), false, route));
        }
        if let Some(node) = t.grad_fn() {
            children.push((
                Some(format!("grad_fn {}", node.name())),
                Item::Node(node),
                true,
                route,
            ));
        }
        // A leaf keeps its `register_hook` hooks, and with them what their closures capture.
        for hook in t.hooks() {
            if let Some(v) = program_value(&hook) {
                held.hooks += 1;
                children.push((
                    Some("hook".to_string()),
                    Item::Value(v.clone()),
                    false,
                    route.into_hook(),
                ));
            }
        }
        children
    }

    /// Counts `bytes` and `nodes` reached along `route`.
    fn reach(&self, held: &mut Held, route: Route, bytes: u64, nodes: u64) {
        held.reach(route, bytes, nodes);
        if let Some(i) = route.ctx_attribute {
            held.ctx_attributes
                .entry(self.ctx_attributes[i].clone())
                .or_default()
                .add(bytes, nodes);
        }
    }

    /// The calls that led to the statement at `loc`, innermost first, when it ran inside a
    /// function: `, called from x.py:22:9`.
    fn callers(&self, loc: &Location) -> String {
        let callers: Vec<String> = loc
            .stack
            .map(|id| {
                let frames = self.alloc.py_stacks().frames(id);
                frames.skip(1).map(ToString::to_string).collect()
            })
            .unwrap_or_default();
        callers
            .iter()
            .map(|c| format!(", called from {c}"))
            .collect()
    }

    fn claim(
        &mut self,
        block: BlockId,
        t: &Tensor,
        at: Option<usize>,
        in_graph: bool,
        route: Route,
        held: &mut Held,
    ) {
        let Some(tag) = self.alloc.tag(block) else {
            return;
        };
        let size = self.alloc.block_size(block).unwrap_or(0);
        let site_at = tag.location.as_ref().map_or((0, 0), |l| (l.line, l.column));
        let site = Site {
            at: site_at,
            purpose: tag.purpose.name(),
        };
        if let Some(stack) = tag.stack {
            held.site_stacks.entry(site.clone()).or_insert(stack);
        }
        let entry = held.sites.entry(site).or_default();
        entry.0 += size;
        entry.1 += 1;
        held.bytes += size;
        if in_graph {
            held.graph_bytes += size;
        }
        self.reach(held, route, size, 0);
        let hook_example =
            route.hook && (size > held.hook_example_size || held.hook_example.is_empty());
        let iterations = tag
            .location
            .as_ref()
            .map(|l| l.iterations.as_slice())
            .filter(|i| !i.is_empty());
        let example = held.example.is_empty()
            || better_example(
                (iterations, size),
                (held.example_iterations.as_deref(), held.example_size),
            );
        if hook_example || example {
            let mut path = self.path_to(at);
            let dims: Vec<String> = t.shape().iter().map(usize::to_string).collect();
            let shape = if dims.is_empty() {
                "scalar".to_string()
            } else {
                dims.join("×")
            };
            let mut leaf = format!("{shape} {} ({})", dtype_name(t.dtype()), format_size(size));
            if let Some(loc) = &tag.location {
                leaf.push_str(&format!(", allocated at {loc}"));
                leaf.push_str(&self.callers(loc));
            }
            path.push(leaf);
            let path = compress(path);
            if hook_example {
                held.hook_example_size = size;
                held.hook_example = path.clone();
            }
            if example {
                held.example_size = size;
                held.example_iterations = iterations.map(<[u32]>::to_vec);
                held.example = path;
            }
        }
    }

    /// Counts a node; its children are the tensors it saved, the nodes it points to and, for
    /// AccumulateGrad, the leaf.
    fn node(&mut self, node: &Rc<Node>, route: Route, held: &mut Held) -> Vec<Child> {
        held.nodes += 1;
        self.reach(held, route, 0, 1);
        let saved = node.saved_tensors();
        if node.backward_ran() {
            held.used_graph_nodes += 1;
        } else if saved
            .iter()
            // A wrapped Python number (`x / n` from Python keeps 8 host bytes) is no
            // activation: a node keeping only that is no sign of a graph no backward used.
            .any(|s| s.tensor.as_ref().is_some_and(|t| !t.is_wrapped_number()))
        {
            held.unused_graph_nodes += 1;
            if self.keep_unused {
                held.unused.push(Rc::downgrade(node));
            }
        }
        let mut children: Vec<Child> = saved
            .into_iter()
            .filter_map(|s| {
                s.tensor.map(|t| {
                    (
                        Some(format!("saved {}", s.name)),
                        Item::Tensor(t),
                        true,
                        route,
                    )
                })
            })
            .collect();
        for next in node.next_functions().into_iter().flatten() {
            children.push((
                Some(format!("grad_fn {}", next.name())),
                Item::Node(next),
                true,
                route,
            ));
        }
        // A CopySlices keeps the in-place operation's node (and what it saved) off its edges.
        if let Some(w) = node.wrapped_node() {
            children.push((
                Some(format!("wrapped {}", w.name())),
                Item::Node(w),
                true,
                route,
            ));
        }
        if let Some(v) = node.variable() {
            children.push((None, Item::Tensor(v), true, route));
        }
        // The hooks of the tensor the node produced, and a custom Function's ctx with every
        // attribute the program put on it.
        for hook in node.hooks() {
            if let Some(v) = program_value(&hook) {
                held.hooks += 1;
                children.push((
                    Some("hook".to_string()),
                    Item::Value(v.clone()),
                    true,
                    route.into_hook(),
                ));
            }
        }
        if let Some(ctx) = node.custom_ctx() {
            if let Some(v) = program_value(&ctx) {
                children.push((Some("ctx".to_string()), Item::Value(v.clone()), true, route));
            }
        }
        // A checkpoint's frame (the inputs it keeps to rerun), what a pack hook returned.
        for (edge, kept) in node.kept_objects() {
            if let Some(v) = program_value(&kept) {
                children.push((Some(edge), Item::Value(v.clone()), true, route));
            }
        }
        children
    }
}

#[cfg(test)]
mod tests {
    //! The walk over structures deeper than a thread's stack and wider than their paths: each
    //! built by one scenario statement (so that building costs little), then attributed at the
    //! end of a loop that keeps one tensor more per iteration.

    use std::path::Path;

    use super::*;
    use crate::device::Backend;
    use crate::runtime::{Runtime, RuntimeOptions};
    use crate::scenario::interp::{self, Control, IterationEnd, Observer, RunOptions};
    use crate::scenario::parse_scenario;

    /// Attributes what is alive at the end of the scenario's last loop iteration.
    struct AtLastIteration(Option<Attribution>);

    impl Observer for AtLastIteration {
        fn iteration_end(&mut self, at: &IterationEnd<'_>) -> Control {
            if at.last {
                self.0 = Some(attribute(
                    at.env,
                    at.frames,
                    at.cycles.garbage(),
                    &at.rt.allocator(),
                    at.rt.live_nodes() as u64,
                    false,
                ));
            }
            Control::Continue
        }
    }

    fn attribute_scenario(src: &str) -> Attribution {
        let scenario = parse_scenario(Path::new("deep.py"), src).unwrap_or_else(|e| panic!("{e}"));
        let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
        let mut observer = AtLastIteration(None);
        let run = interp::run(&scenario, &rt, &RunOptions::default(), &mut observer);
        assert!(run.failure.is_none(), "{:?}", run.failure.map(|f| f.error));
        observer.0.expect("the loop ran")
    }

    /// The one root that holds bytes, with what it holds.
    fn holder(a: &Attribution) -> (&Root, &Held) {
        let holding: Vec<_> = a.roots.iter().filter(|(_, h)| h.bytes > 0).collect();
        assert_eq!(holding.len(), 1, "{:#?}", a.roots);
        holding[0]
    }

    #[test]
    fn a_chain_of_12000_modules_is_walked_without_exhausting_the_stack() {
        let a = attribute_scenario(
            "import functools\nimport torch\nimport torch.nn as nn\n\n\n\
             class Wrap(nn.Module):\n    def __init__(self, inner):\n        super().__init__()\n        self.inner = inner\n\n\n\
             leaf = Wrap([])\n\
             chain = functools.reduce(lambda acc, _: Wrap(acc), range(12000), leaf)\n\
             kept = leaf.inner\n\
             del leaf\n\
             for i in range(3):\n    kept.append(torch.zeros(128, device=\"cuda\"))\n",
        );
        let (root, held) = holder(&a);
        // `chain` is bound before `kept`: it reaches the list first, 12,001 modules down.
        assert_eq!(
            (root.at, root.via, held.bytes),
            ((13, 1), Via::Name, 3 * 512)
        );
        assert_eq!(
            held.example[..3],
            ["chain", ".inner (×12001)", "[0]"],
            "{:?}",
            held.example
        );
    }

    #[test]
    fn a_dag_of_modules_sharing_children_40_levels_deep_is_walked_once_per_module() {
        let a = attribute_scenario(
            "import functools\nimport torch\nimport torch.nn as nn\n\n\n\
             class Pair(nn.Module):\n    def __init__(self, a, b):\n        super().__init__()\n        self.a = a\n        self.b = b\n\n\n\
             leaf = Pair([], None)\n\
             dag = functools.reduce(lambda acc, _: Pair(acc, acc), range(40), leaf)\n\
             kept = leaf.a\n\
             del leaf\n\
             for i in range(3):\n    kept.append(torch.zeros(128, device=\"cuda\"))\n",
        );
        // 2^40 paths lead to the list; it is counted once, through the first.
        let (root, held) = holder(&a);
        assert_eq!((root.at, held.bytes), ((14, 1), 3 * 512));
        assert_eq!(
            held.example[..3],
            ["dag", ".a (×41)", "[0]"],
            "{:?}",
            held.example
        );
    }

    #[test]
    fn a_graph_of_40000_sequential_steps_is_walked_without_exhausting_the_stack() {
        let a = attribute_scenario(
            "import functools\nimport torch\n\
             w = torch.zeros(1, device=\"cuda\", requires_grad=True)\n\
             t = functools.reduce(lambda acc, _: acc * 1.0, range(40000), w)\n\
             kept = []\n\
             for i in range(3):\n    kept.append(t * 2.0)\n",
        );
        // Twenty times deeper than a recursive walk gets on a test thread's 2 MiB stack (a
        // 100,000-statement chain checked through the CLI takes seconds in a debug build).
        // `t` holds the 40,000 MulBackward0 nodes and w's AccumulateGrad; each kept product
        // holds its own 512 bytes and node, and reaches the chain `t` already claimed.
        let t = a.roots[&Root {
            at: (4, 1),
            via: Via::Name,
            accumulates: false,
        }]
            .nodes;
        assert_eq!(t, 40_001);
        let kept = &a.roots[&Root {
            at: (7, 5),
            via: Via::ListElement,
            accumulates: false,
        }];
        assert_eq!((kept.bytes, kept.nodes, kept.list_tensors), (3 * 512, 3, 3));
    }
}
