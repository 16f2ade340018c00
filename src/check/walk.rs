//! Who holds what: a walk of every reference from the program's names, claiming each live block
//! and autograd node for the first name (in order of creation) that reaches it.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use crate::alloc::{format_size, BlockId, CachingAllocator, StackId};
use crate::autograd::Node;
use crate::scenario::interp::{Env, Value};
use crate::scenario::Span;
use crate::tensor::{DType, Device, Tensor};

/// How a reference chain starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Via {
    /// A name bound to the value.
    Name,
    /// A list element.
    ListElement,
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
    /// Device tensors directly stored as list elements.
    pub(super) list_tensors: u64,
    /// Bytes reached through a `grad_fn`.
    pub(super) graph_bytes: u64,
    /// The path to the largest block, from the name down.
    pub(super) example: Vec<String>,
    /// The longest path through autograd nodes, for leaks of graph history without bytes.
    pub(super) node_example: Vec<String>,
    node_example_len: usize,
    example_size: u64,
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
    path: Vec<String>,
    in_graph: usize,
}

/// Walks every name of `env` and attributes what it reaches.
pub(super) fn attribute(env: &Env, alloc: &CachingAllocator, live_nodes: u64) -> Attribution {
    let mut w = Walker {
        alloc,
        seen_blocks: HashSet::new(),
        seen_nodes: HashSet::new(),
        seen_tensors: HashSet::new(),
        path: Vec::new(),
        in_graph: 0,
    };
    let mut out = Attribution {
        allocated: alloc.memory_allocated(),
        live_nodes,
        ..Default::default()
    };
    for b in env.bindings() {
        let name_root = Root {
            at: (b.bound_at.line, b.bound_at.col),
            via: Via::Name,
            accumulates: b.accumulates,
        };
        match &b.value {
            Value::List(list) => {
                // Each element is held by the statement that stored it.
                let list = list.borrow();
                for (i, slot) in list.iter().enumerate() {
                    let root = Root {
                        at: span_at(slot.stored_at),
                        via: Via::ListElement,
                        accumulates: false,
                    };
                    let held = out.roots.entry(root).or_default();
                    w.path = vec![format!("{}[{i}]", b.name)];
                    if let Value::Tensor(t) = &slot.value {
                        if t.device() == Device::Cuda && !w.seen_tensors.contains(&tensor_key(t)) {
                            held.list_tensors += 1;
                        }
                    }
                    w.value(&slot.value, held);
                }
            }
            other => {
                let held = out.roots.entry(name_root).or_default();
                w.path = vec![b.name.clone()];
                w.value(other, held);
            }
        }
    }
    out.roots.retain(|_, h| h.bytes > 0 || h.nodes > 0);
    out
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
    fn value(&mut self, v: &Value, held: &mut Held) {
        match v {
            Value::Tensor(t) => self.tensor(t, held),
            Value::List(l) => {
                let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
                for (i, item) in items.iter().enumerate() {
                    self.path.push(format!("[{i}]"));
                    self.value(item, held);
                    self.path.pop();
                }
            }
            Value::Tuple(t) => {
                for (i, item) in t.iter().enumerate() {
                    self.path.push(format!("[{i}]"));
                    self.value(item, held);
                    self.path.pop();
                }
            }
            Value::Module(m) => {
                for (name, p) in m.named_parameters() {
                    self.path.push(format!(".{name}"));
                    self.tensor(&p, held);
                    self.path.pop();
                }
            }
            Value::Optimizer(o) => {
                for (name, t) in o.state_tensors() {
                    self.path.push(format!(".state[{name}]"));
                    self.tensor(&t, held);
                    self.path.pop();
                }
            }
            Value::Method(recv, _) => self.value(recv, held),
            _ => {}
        }
    }

    fn tensor(&mut self, t: &Tensor, held: &mut Held) {
        if !self.seen_tensors.insert(tensor_key(t)) {
            return;
        }
        if let Some(block) = t.block() {
            if self.seen_blocks.insert(block) {
                self.claim(block, t, held);
            }
        }
        if let Some(g) = t.grad() {
            self.path.push(".grad".into());
            self.tensor(&g, held);
            self.path.pop();
        }
        if let Some(node) = t.grad_fn() {
            self.node(&node, held);
        }
    }

    fn claim(&mut self, block: BlockId, t: &Tensor, held: &mut Held) {
        let Some(tag) = self.alloc.tag(block) else {
            return;
        };
        let size = self.alloc.block_size(block).unwrap_or(0);
        let at = tag.location.as_ref().map_or((0, 0), |l| (l.line, l.column));
        let site = Site {
            at,
            purpose: tag.purpose.name(),
        };
        if let Some(stack) = tag.stack {
            held.site_stacks.entry(site.clone()).or_insert(stack);
        }
        let entry = held.sites.entry(site).or_default();
        entry.0 += size;
        entry.1 += 1;
        held.bytes += size;
        if self.in_graph > 0 {
            held.graph_bytes += size;
        }
        if size > held.example_size || held.example.is_empty() {
            held.example_size = size;
            let mut path = self.path.clone();
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

    fn node(&mut self, node: &Rc<Node>, held: &mut Held) {
        if !self.seen_nodes.insert(Rc::as_ptr(node)) {
            return;
        }
        held.nodes += 1;
        let saved = node.saved_tensors();
        let holds_saved = saved.iter().any(|s| s.tensor.is_some());
        if node.backward_ran() {
            held.used_graph_nodes += 1;
        } else if holds_saved {
            held.unused_graph_nodes += 1;
        }
        self.in_graph += 1;
        self.path.push(format!("grad_fn {}", node.name()));
        if self.path.len() > held.node_example_len {
            held.node_example_len = self.path.len();
            held.node_example = compress(self.path.clone());
        }
        for s in saved {
            if let Some(t) = s.tensor {
                self.path.push(format!("saved {}", s.name));
                self.tensor(&t, held);
                self.path.pop();
            }
        }
        for next in node.next_functions().into_iter().flatten() {
            self.node(&next, held);
        }
        if let Some(v) = node.variable() {
            self.tensor(&v, held);
        }
        self.path.pop();
        self.in_graph -= 1;
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
