//! Who holds what: a walk of every reference from the program's names, claiming each live block
//! and autograd node for the first name (in order of creation) that reaches it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::{Rc, Weak};

use crate::alloc::{CachingAllocator, StackId};
use crate::autograd::Node;
use crate::base::{format_size, BlockId};
use crate::base::{DType, Device};
use crate::scenario::interp::{Edge, Env, FrameRef, Referents, Value};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// How a reference chain starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Via {
    /// A name bound to the value.
    Name,
    /// A list element.
    ListElement,
    /// Whatever a Rust program checked through [`check`](super::check) keeps: its variables
    /// have no names the checker can read, and the tensors it keeps count as kept elements.
    Program,
    /// Objects no name reaches, kept alive only by reference cycles among them: the cyclic
    /// collector's garbage, until it runs.
    Cycle,
}

/// The statement that stored the first reference of a chain, and what kind of reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Root {
    /// Line and column of the retaining statement.
    pub(super) at: (u32, u32),
    /// Name or list element.
    pub(super) via: Via,
    /// Whether the name is a running total (`x += y`).
    pub(super) accumulates: bool,
}

/// Where a claimed block was allocated and what it is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Site {
    /// Line and column of the allocating statement (0, 0 outside the scenario).
    pub(super) at: (u32, u32),
    /// Purpose name.
    pub(super) purpose: &'static str,
}

/// What a chain passed through on its way to a block or node, for the rules that name a leak
/// by its holder rather than by what it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Route {
    /// An exception object (its traceback's frames, its args, its attributes).
    pub(super) exception: bool,
    /// A module's hook.
    pub(super) hook: bool,
    /// A closure's captured variable.
    pub(super) cell: bool,
}

impl Route {
    /// The route one step further, along `edge` out of `from`.
    fn through(self, from: &Value, edge: &Edge) -> Route {
        Route {
            exception: self.exception || matches!(from, Value::Exception(_)),
            hook: self.hook || matches!(edge, Edge::Hook(_)),
            cell: self.cell || matches!(edge, Edge::Cell(_)),
        }
    }
}

/// Bytes and autograd nodes reached along one kind of route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reach {
    /// Bytes of the blocks claimed.
    pub(super) bytes: u64,
    /// Autograd nodes counted.
    pub(super) nodes: u64,
}

impl Reach {
    fn add(&mut self, bytes: u64, nodes: u64) {
        self.bytes += bytes;
        self.nodes += nodes;
    }

    /// Whether `later` reaches more.
    pub(super) fn grows_into(&self, later: &Reach) -> bool {
        later.bytes > self.bytes || later.nodes > self.nodes
    }
}

/// What one root holds.
#[derive(Debug, Clone, Default)]
pub(super) struct Held {
    /// Bytes and blocks per allocation site.
    pub(super) sites: BTreeMap<Site, (u64, u64)>,
    /// The stack of one allocation per site.
    pub(super) site_stacks: BTreeMap<Site, StackId>,
    /// Bytes in all.
    pub(super) bytes: u64,
    /// Autograd nodes reached (AccumulateGrad included).
    pub(super) nodes: u64,
    /// Nodes that still hold saved tensors though no backward has run through them.
    pub(super) unused_graph_nodes: u64,
    /// Nodes a backward already ran through.
    pub(super) used_graph_nodes: u64,
    /// The nodes counted in `unused_graph_nodes`, when the walk was asked to keep them: a
    /// later backward that runs through one of them consumes this root's graph.
    pub(super) unused: Vec<Weak<Node>>,
    /// Device tensors directly stored as list elements.
    pub(super) list_tensors: u64,
    /// Bytes reached through a `grad_fn`.
    pub(super) graph_bytes: u64,
    /// What is reached through an exception object.
    pub(super) through_exception: Reach,
    /// What is reached through a module's hook.
    pub(super) through_hook: Reach,
    /// What is reached through a closure's captured variable.
    pub(super) through_cell: Reach,
    /// Hooks registered on the modules reached.
    pub(super) hooks: u64,
    /// The path to the largest block, from the name down.
    pub(super) example: Vec<String>,
    /// The longest path through autograd nodes, for leaks of graph history without bytes.
    pub(super) node_example: Vec<String>,
    example_size: u64,
}

impl Held {
    /// Counts `bytes` and `nodes` reached along `route`.
    fn reach(&mut self, route: Route, bytes: u64, nodes: u64) {
        if route.exception {
            self.through_exception.add(bytes, nodes);
        }
        if route.hook {
            self.through_hook.add(bytes, nodes);
        }
        if route.cell {
            self.through_cell.add(bytes, nodes);
        }
    }
}

/// Everything alive at one moment, attributed to roots.
#[derive(Debug, Default)]
pub(super) struct Attribution {
    pub(super) roots: BTreeMap<Root, Held>,
    /// Allocated bytes at that moment.
    pub(super) allocated: u64,
    /// Live autograd nodes at that moment.
    pub(super) live_nodes: u64,
}

impl Attribution {
    /// Whether anything (a root's bytes or nodes, or the totals) is larger in `later`.
    pub(super) fn grows_into(&self, later: &Attribution) -> bool {
        later.allocated > self.allocated
            || later.live_nodes > self.live_nodes
            || later.roots.iter().any(|(root, b)| {
                self.roots
                    .get(root)
                    .is_none_or(|a| b.bytes > a.bytes || b.nodes > a.nodes)
            })
    }
}

struct Walker<'a> {
    alloc: &'a CachingAllocator,
    seen_blocks: HashSet<BlockId>,
    seen_nodes: HashSet<*const Node>,
    seen_tensors: HashSet<usize>,
    seen_lists: HashSet<*const ()>,
    /// Every step walked from the current root: its text and the step it came from. Paths are
    /// rebuilt from here only when a report needs one, so deep graphs cost no more than their
    /// size.
    steps: Vec<(String, Option<usize>)>,
    /// Whether the current root is a list element (its device tensors are kept by the list).
    list_root: bool,
    /// Whether to keep the unused nodes of each root ([`Held::unused`]).
    keep_unused: bool,
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
        seen_lists: HashSet::new(),
        steps: Vec::new(),
        list_root: false,
        keep_unused,
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
        match &value {
            Value::List(list) => {
                // Each element is held by the statement that stored it.
                let items: Vec<_> = list
                    .borrow()
                    .iter()
                    .map(|s| (s.value.clone(), s.stored_at))
                    .collect();
                w.seen_lists.insert(Rc::as_ptr(list) as *const ());
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
            other => {
                let held = out.roots.entry(name_root).or_default();
                w.walk(name, Item::Value(other.clone()), false, held);
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
            .is_some_and(|id| w.seen_lists.contains(&(id as *const ())))
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

/// A cycle through `start` among the objects `garbage` names, as a retention path's first
/// step: `cycle LeakyModule → ._forward_hooks[0] → function → cell self → LeakyModule`.
fn cycle_name(start: &Value, garbage: &HashSet<usize>) -> String {
    let label = |v: &Value| match v {
        Value::Function(f) => format!("function {}", f.code.qualname),
        other => other.type_name(),
    };
    let Some(start_id) = start.identity() else {
        return format!("unreachable {}", label(start));
    };
    // Breadth first, so the cycle named is a shortest one.
    let mut came_from: HashMap<usize, (usize, String, Value)> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start.clone()]);
    while let Some(v) = queue.pop_front() {
        let from = v.identity().unwrap_or(0);
        let mut next = Vec::new();
        v.referents(&mut |edge, child| next.push((edge.to_string(), child.clone())));
        for (edge, child) in next {
            let Some(id) = child.identity() else { continue };
            if id == start_id {
                let mut steps = vec![format!("{edge} → {}", label(start))];
                let mut at = from;
                while at != start_id {
                    let (prev, edge, value) = &came_from[&at];
                    steps.push(format!("{edge} → {}", label(value)));
                    at = *prev;
                }
                steps.reverse();
                return format!("cycle {} → {}", label(start), steps.join(" → "));
            }
            if garbage.contains(&id) && !came_from.contains_key(&id) {
                came_from.insert(id, (from, edge, child.clone()));
                queue.push_back(child);
            }
        }
    }
    format!("unreachable {}", label(start))
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
        DType::I64 => "i64",
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

    /// The children of a value: list and tuple items, parameters, optimizer state.
    fn value(&mut self, v: &Value, route: Route, held: &mut Held) -> Vec<Child> {
        match v {
            Value::Tensor(t) => vec![(None, Item::Tensor(t.clone()), false, route)],
            Value::List(l) => {
                if !self.seen_lists.insert(Rc::as_ptr(l) as *const ()) {
                    return Vec::new();
                }
                let items = l
                    .borrow()
                    .iter()
                    .map(|s| s.value.clone())
                    .collect::<Vec<_>>();
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (Some(format!("[{i}]")), Item::Value(v), false, route))
                    .collect()
            }
            Value::Tuple(t) => t
                .iter()
                .enumerate()
                .map(|(i, v)| (Some(format!("[{i}]")), Item::Value(v.clone()), false, route))
                .collect(),
            Value::Module(m) => m
                .named_parameters()
                .into_iter()
                .map(|(n, p)| (Some(format!(".{n}")), Item::Tensor(p), false, route))
                .collect(),
            Value::Optimizer(o) => o
                .state_tensors()
                .into_iter()
                .map(|(n, t)| (Some(format!(".state[{n}]")), Item::Tensor(t), false, route))
                .collect(),
            Value::Method(recv, _) => vec![(None, Item::Value((**recv).clone()), false, route)],
            // Scenario objects, dicts, closures, exceptions: what the value says it references.
            other => {
                if let Some(id) = other.identity() {
                    if !self.seen_lists.insert(id as *const ()) {
                        return Vec::new();
                    }
                }
                let mut children = Vec::new();
                other.referents(&mut |edge, v| {
                    if let Edge::Hook(_) = edge {
                        held.hooks += 1;
                    }
                    let route = route.through(other, &edge);
                    children.push((Some(edge.to_string()), Item::Value(v.clone()), false, route))
                });
                children
            }
        }
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
        children
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
        held.reach(route, size, 0);
        if size > held.example_size || held.example.is_empty() {
            held.example_size = size;
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
            }
            path.push(leaf);
            held.example = compress(path);
        }
    }

    /// Counts a node; its children are the tensors it saved, the nodes it points to and, for
    /// AccumulateGrad, the leaf.
    fn node(&mut self, node: &Rc<Node>, route: Route, held: &mut Held) -> Vec<Child> {
        held.nodes += 1;
        held.reach(route, 0, 1);
        let saved = node.saved_tensors();
        if node.backward_ran() {
            held.used_graph_nodes += 1;
        } else if saved.iter().any(|s| s.tensor.is_some()) {
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
        if let Some(v) = node.variable() {
            children.push((None, Item::Tensor(v), true, route));
        }
        children
    }
}

/// Collapses runs of the same step (`grad_fn AddBackward0` seven times over, in a running
/// total's chain) into one step with a count, so paths stay readable.
fn compress(path: Vec<String>) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for step in path {
        match out.last_mut() {
            Some((last, n)) if *last == step => *n += 1,
            _ => out.push((step, 1)),
        }
    }
    out.into_iter()
        .map(|(s, n)| if n == 1 { s } else { format!("{s} (×{n})") })
        .collect()
}
