//! What the walk attributes: the roots reference chains start from ([`Root`], [`Via`]), what
//! each root holds ([`Held`]: bytes and nodes by allocation site, the kinds of route they were
//! reached along, example paths) and the whole moment's [`Attribution`].

use std::collections::BTreeMap;
use std::rc::Weak;

use crate::alloc::StackId;
use crate::autograd::Node;
use crate::scenario::interp::{Edge, Value};

/// How a reference chain starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(in crate::check) enum Via {
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
pub(in crate::check) struct Root {
    /// Line and column of the retaining statement.
    pub(in crate::check) at: (u32, u32),
    /// Name or list element.
    pub(in crate::check) via: Via,
    /// Whether the name is a running total (`x += y`).
    pub(in crate::check) accumulates: bool,
}

/// Where a claimed block was allocated and what it is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(in crate::check) struct Site {
    /// Line and column of the allocating statement (0, 0 outside the scenario).
    pub(in crate::check) at: (u32, u32),
    /// Purpose name.
    pub(in crate::check) purpose: &'static str,
}

/// What a chain passed through on its way to a block or node, for the rules that name a leak
/// by its holder rather than by what it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::check) struct Route {
    /// An exception object (its traceback's frames, its args, its attributes).
    pub(in crate::check) exception: bool,
    /// A hook: a module's, or a tensor's.
    pub(in crate::check) hook: bool,
    /// A closure's captured variable.
    pub(in crate::check) cell: bool,
    /// The statement that registered the module hook the route went through last.
    pub(in crate::check) hook_site: Option<(u32, u32)>,
    /// The attribute of a custom Function's `ctx` the route went through, as an index into
    /// [`Walker::ctx_attributes`].
    pub(in crate::check) ctx_attribute: Option<usize>,
}

impl Route {
    /// The route one step further, along `edge` out of `from`.
    pub(super) fn through(self, from: &Value, edge: &Edge) -> Route {
        Route {
            exception: self.exception || matches!(from, Value::Exception(_)),
            hook: self.hook || matches!(edge, Edge::Hook { .. }),
            cell: self.cell || matches!(edge, Edge::Cell(_)),
            hook_site: match edge {
                Edge::Hook {
                    registered_at: Some(l),
                    ..
                } => Some((l.line, l.column)),
                _ => self.hook_site,
            },
            ctx_attribute: self.ctx_attribute,
        }
    }

    /// The route into a tensor's or a node's hook.
    pub(super) fn into_hook(self) -> Route {
        Route { hook: true, ..self }
    }
}

/// Bytes and autograd nodes reached along one kind of route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::check) struct Reach {
    /// Bytes of the blocks claimed.
    pub(in crate::check) bytes: u64,
    /// Autograd nodes counted.
    pub(in crate::check) nodes: u64,
}

impl Reach {
    pub(super) fn add(&mut self, bytes: u64, nodes: u64) {
        self.bytes += bytes;
        self.nodes += nodes;
    }

    /// Whether `later` reaches more.
    pub(in crate::check) fn grows_into(&self, later: &Reach) -> bool {
        later.bytes > self.bytes || later.nodes > self.nodes
    }
}

/// What one root holds.
#[derive(Debug, Clone, Default)]
pub(in crate::check) struct Held {
    /// Bytes and blocks per allocation site.
    pub(in crate::check) sites: BTreeMap<Site, (u64, u64)>,
    /// The stack of one allocation per site.
    pub(in crate::check) site_stacks: BTreeMap<Site, StackId>,
    /// Bytes in all.
    pub(in crate::check) bytes: u64,
    /// Autograd nodes reached (AccumulateGrad included).
    pub(in crate::check) nodes: u64,
    /// Nodes that still hold saved tensors though no backward has run through them.
    pub(in crate::check) unused_graph_nodes: u64,
    /// Nodes a backward already ran through.
    pub(in crate::check) used_graph_nodes: u64,
    /// The nodes counted in `unused_graph_nodes`, when the walk was asked to keep them: a
    /// later backward that runs through one of them consumes this root's graph.
    pub(in crate::check) unused: Vec<Weak<Node>>,
    /// Device tensors directly stored as list elements.
    pub(in crate::check) list_tensors: u64,
    /// Bytes reached through a `grad_fn`.
    pub(in crate::check) graph_bytes: u64,
    /// What is reached through an exception object.
    pub(in crate::check) through_exception: Reach,
    /// What is reached through a hook.
    pub(in crate::check) through_hook: Reach,
    /// What is reached through a closure's captured variable.
    pub(in crate::check) through_cell: Reach,
    /// Hooks registered on the modules reached.
    pub(in crate::check) hooks: u64,
    /// Per custom Function and attribute of its `ctx` (`("Exp", "out")`): what is reached
    /// through that attribute.
    pub(in crate::check) ctx_attributes: BTreeMap<(String, String), Reach>,
    /// Per statement that registered module hooks: how many of the hooks reached it
    /// registered, and what is reached through them.
    pub(in crate::check) hook_sites: BTreeMap<(u32, u32), HookSite>,
    /// The path to one block, from the name down: the oldest block allocated in a loop,
    /// the largest among equals (`paths::better_example`).
    pub(in crate::check) example: Vec<String>,
    /// The longest path through autograd nodes, for leaks of graph history without bytes.
    pub(in crate::check) node_example: Vec<String>,
    pub(super) example_size: u64,
    pub(super) example_iterations: Option<Vec<u32>>,
    /// The path to the largest block reached through a hook, for the leaks a hook holds.
    pub(in crate::check) hook_example: Vec<String>,
    pub(super) hook_example_size: u64,
}

impl Held {
    /// Counts `bytes` and `nodes` reached along `route`.
    pub(super) fn reach(&mut self, route: Route, bytes: u64, nodes: u64) {
        if route.exception {
            self.through_exception.add(bytes, nodes);
        }
        if route.hook {
            self.through_hook.add(bytes, nodes);
        }
        if route.cell {
            self.through_cell.add(bytes, nodes);
        }
        if let Some(site) = route.hook_site {
            self.hook_sites
                .entry(site)
                .or_default()
                .reach
                .add(bytes, nodes);
        }
    }
}

/// The module hooks one statement registered, as reached from one root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::check) struct HookSite {
    /// Hooks reached.
    pub(in crate::check) hooks: u64,
    /// What they reach.
    pub(in crate::check) reach: Reach,
}

/// Everything alive at one moment, attributed to roots.
#[derive(Debug, Default)]
pub(in crate::check) struct Attribution {
    pub(in crate::check) roots: BTreeMap<Root, Held>,
    /// Allocated bytes at that moment.
    pub(in crate::check) allocated: u64,
    /// Live autograd nodes at that moment.
    pub(in crate::check) live_nodes: u64,
}

impl Attribution {
    /// Whether anything (a root's bytes or nodes, or the totals) is larger in `later`.
    pub(in crate::check) fn grows_into(&self, later: &Attribution) -> bool {
        later.allocated > self.allocated
            || later.live_nodes > self.live_nodes
            || later.roots.iter().any(|(root, b)| {
                self.roots
                    .get(root)
                    .is_none_or(|a| b.bytes > a.bytes || b.nodes > a.nodes)
            })
    }
}
