//! Per-statement records of what a program holds, for `scripts/parity.py`, which records the
//! same under real PyTorch and compares the two statement by statement: before each simple
//! statement, every tensor the program's names reach (with its gradient) as shape, dtype and
//! storage bytes, and every autograd node reachable from them with the tensors it saved.

use std::collections::HashSet;
use std::rc::Rc;

use serde::Serialize;

use super::trace::{is_sampled, run_observed};
use super::{CheckError, CheckOptions};
use crate::autograd::Node;
use crate::runtime::Runtime;
use crate::scenario::interp::{Env, FrameRef, Observer, Referents, Value};
use crate::scenario::{Scenario, Stmt};
use crate::tensor::Tensor;

/// A tensor as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TensorFact {
    /// Its shape.
    pub shape: Vec<usize>,
    /// `torch.float32`, `torch.int64`, `torch.bool`.
    pub dtype: String,
    /// Bytes of its storage (`untyped_storage().nbytes()`).
    pub storage_bytes: usize,
}

/// A live autograd node and what it saved, by PyTorch's names (`self`, `indices[0]`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NodeFact {
    /// `AddmmBackward0`, `AccumulateGrad`, ...
    pub name: String,
    /// Each saved tensor still held: its name and the tensor.
    pub saved: Vec<(String, TensorFact)>,
}

/// What the program held just before one statement ran, sorted.
#[derive(Debug, Clone, Serialize)]
pub struct Holding {
    /// The statement's first line (1-based).
    pub line: u32,
    /// The tensors the names reach, and their gradients.
    pub tensors: Vec<TensorFact>,
    /// The nodes reachable from those tensors.
    pub nodes: Vec<NodeFact>,
}

/// The records of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Holdings {
    /// One record per executed simple statement, in execution order.
    pub records: Vec<Holding>,
    /// The scenario's error, when it stopped on one.
    pub error: Option<String>,
    /// The lines the program printed.
    pub output: Vec<String>,
}

/// Runs `scenario` once and records what it holds before every simple statement (the
/// statements [`trace_scenario`](super::trace_scenario) samples).
pub fn hold_scenario(scenario: &Scenario, options: &CheckOptions) -> Result<Holdings, CheckError> {
    let mut recorder = Recorder::default();
    let result = run_observed(scenario, options, &mut recorder)?;
    Ok(Holdings {
        records: recorder.records,
        error: result.failure.map(|f| f.error.to_string()),
        output: result.output,
    })
}

fn fact(t: &Tensor) -> TensorFact {
    TensorFact {
        shape: t.shape().to_vec(),
        dtype: t.dtype().to_string(),
        storage_bytes: t.storage_nbytes(),
    }
}

#[derive(Default)]
struct Recorder {
    records: Vec<Holding>,
}

/// What the walk from the names has found so far.
#[derive(Default)]
struct Walk {
    values: HashSet<usize>,
    tensors: HashSet<usize>,
    nodes: HashSet<*const Node>,
    tensor_facts: Vec<TensorFact>,
    node_facts: Vec<NodeFact>,
}

impl Walk {
    fn value(&mut self, v: &Value) {
        if let Some(t) = v.tensor() {
            self.tensor(t);
            return;
        }
        if let Some(id) = v.identity() {
            if !self.values.insert(id) {
                return;
            }
        }
        let mut next = Vec::new();
        v.referents(&mut |_, r| next.push(r.clone()));
        for r in &next {
            self.value(r);
        }
    }

    fn tensor(&mut self, t: &Tensor) {
        if !self.tensors.insert(t.id()) {
            return;
        }
        self.tensor_facts.push(fact(t));
        if let Some(g) = t.grad() {
            self.tensor(&g);
        }
        if let Some(n) = t.grad_fn() {
            self.node(&n);
        }
    }

    fn node(&mut self, n: &Rc<Node>) {
        if !self.nodes.insert(Rc::as_ptr(n)) {
            return;
        }
        let saved = n
            .saved_tensors()
            .into_iter()
            .filter_map(|s| s.tensor.map(|t| (s.name.to_string(), fact(&t))))
            .collect();
        self.node_facts.push(NodeFact {
            name: n.name().to_string(),
            saved,
        });
        for next in n.next_functions().into_iter().flatten() {
            self.node(&next);
        }
    }
}

impl Observer for Recorder {
    fn wants_names(&self) -> bool {
        true
    }

    fn statement_names(&mut self, _rt: &Runtime, stmt: &Stmt, env: &Env, frames: &[FrameRef]) {
        if !is_sampled(stmt) {
            return;
        }
        let mut walk = Walk::default();
        for b in env.bindings() {
            walk.value(&b.value);
        }
        for f in frames {
            let mut locals = Vec::new();
            f.referents(&mut |_, v| locals.push(v.clone()));
            for v in &locals {
                walk.value(v);
            }
        }
        walk.tensor_facts.sort();
        walk.node_facts.sort();
        self.records.push(Holding {
            line: stmt.span.line,
            tensors: walk.tensor_facts,
            nodes: walk.node_facts,
        });
    }
}
