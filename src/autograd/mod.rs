//! Reverse-mode autograd with PyTorch's memory behaviour: each node holds exactly the tensors
//! PyTorch's generated node saves (see `docs/autograd.md`), `backward()` releases them as it
//! goes unless the graph is retained, leaves accumulate into `.grad` like AccumulateGrad, and
//! the graph is freed by reference counting when nothing holds its root any more.

mod checkpoint;
mod copy_slices;
mod engine;
mod formulas;
mod hooks;
mod retain_grad;
mod saved_hooks;

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

pub use checkpoint::{checkpoint_forward, checkpoint_recompute, CheckpointFrame, SavedHookGuard};
pub(crate) use engine::run_backward;
pub use engine::{backward, grad, BackwardOptions, Callbacks, NoCallbacks};
pub(crate) use formulas::Formula;
pub use saved_hooks::{
    disable_saved_tensors_hooks, push_saved_tensors_hooks, restore_saved_tensors_hooks,
    take_pending_packs, HookedSaved, PendingPack, SavedTensorsHooks, Unpack,
};

use saved_hooks::Hooked;

use crate::alloc::Purpose;
use crate::base::{DType, Device, Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::Tensor;

/// What the gradient flowing along an edge must look like: the input's shape, type and
/// device at the time of the operation (PyTorch's InputMetadata).
#[derive(Debug, Clone)]
pub(crate) struct InputMeta {
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: DType,
    pub(crate) device: Device,
}

pub(crate) struct Edge {
    pub(crate) node: Rc<Node>,
    /// Which of `node`'s outputs the gradient flows into (PyTorch's `input_nr`).
    pub(crate) input_nr: usize,
    pub(crate) meta: InputMeta,
}

enum SavedState {
    Saved {
        tensor: Tensor,
        version: u64,
        /// Name of the node whose output this was, for the version error's "which is output 0
        /// of ReluBackward0".
        output_of: Option<Cow<'static, str>>,
        /// Whether this is the node's own output, saved without its history (PyTorch's
        /// `is_output`): unpacked under grad mode it gets the node back as its `grad_fn`.
        is_output: bool,
    },
    /// Packed by non-reentrant checkpointing: the tensor is left out, and holder `at` of
    /// `frame` gets it back when the frame's function reruns at backward.
    Holder {
        frame: Rc<CheckpointFrame>,
        at: usize,
    },
    /// Packed by the program's saved-tensor hooks (`saved_tensors_hooks`, `save_on_cpu`).
    Hooked(Rc<Hooked>),
    Released,
}

struct Saved {
    name: &'static str,
    state: SavedState,
}

/// An object of the program that drives the runtime (a Python hook, a custom Function's
/// `ctx`), held by the graph the way PyTorch's nodes hold Python objects. The runtime never
/// looks inside; the program's [`Callbacks`] run it, and its leak walker follows it.
pub type ProgramObject = Rc<dyn Any>;

use hooks::hooks_of;
pub use hooks::HookHandle;
pub(crate) use hooks::{push_hook, HookList};

/// What runs a node's backward.
pub(crate) enum Backward {
    /// A built-in operation's formula.
    Formula(Formula),
    /// A `torch.autograd.Function` subclass (PyTorch's PyNode): its `backward` is the
    /// program's, called through [`Callbacks::custom_backward`] with `ctx`, which the node
    /// owns (with every attribute the program put on it) for as long as the node lives.
    Custom { name: Rc<str>, ctx: ProgramObject },
    /// An in-place operation on a view, as the base's history (`copy_slices.rs`).
    CopySlices(copy_slices::CopySlices),
}

enum Kind {
    Function {
        backward: Backward,
        edges: RefCell<Vec<Option<Edge>>>,
        saved: RefCell<Vec<Saved>>,
    },
    AccumulateGrad {
        variable: RefCell<Option<Tensor>>,
    },
}

/// An autograd node (`tensor.grad_fn`): a backward function with the tensors it saved and
/// edges to the nodes of its inputs.
pub struct Node {
    rt: Runtime,
    sequence_nr: u64,
    kind: Kind,
    /// Whether a backward pass has run this node: tells a graph kept after its backward from
    /// one no backward ever used (evaluation outside `no_grad`).
    ran: std::cell::Cell<bool>,
    /// Hooks registered on the tensors this node produced, one list per output
    /// (`tensor_pre_hooks`): they run on that output's gradient before the node does, and the
    /// node keeps them (and what they capture).
    hooks: Vec<RefCell<Option<HookList>>>,
    /// The outputs that `retain_grad()` asked to keep their gradient, by output number, held
    /// weakly as PyTorch's `retains_grad_hooks` hold them (`retain_grad.rs`).
    retained: retain_grad::Retained,
    /// This node, weakly: what a saved output's unpacking under create_graph points back to.
    me: RefCell<Weak<Node>>,
}

/// A tensor a node saved, as [`Node::saved_tensors`] shows it.
#[derive(Debug, Clone)]
pub struct SavedTensor {
    /// The name PyTorch gives it (`self`, `other`, `mat1`, `result`, ...).
    pub name: &'static str,
    /// The tensor, or `None` once backward released it. Saved outputs (`result`) are aliases
    /// of the output's storage without its history, as in PyTorch.
    pub tensor: Option<Tensor>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name())
            .field("sequence_nr", &self.sequence_nr)
            .finish_non_exhaustive()
    }
}

impl Node {
    fn new(rt: &Runtime, kind: Kind) -> Node {
        Node::with_outputs(rt, kind, 1)
    }

    /// A node whose backward takes `outputs` gradients, one per tensor the operation returned
    /// (`split`, `unbind`).
    fn with_outputs(rt: &Runtime, kind: Kind, outputs: usize) -> Node {
        let seq = rt.node_created();
        let sequence_nr = match kind {
            // AccumulateGrad runs as soon as it is ready (UINT64_MAX in PyTorch).
            Kind::AccumulateGrad { .. } => u64::MAX,
            Kind::Function { .. } => seq,
        };
        Node {
            rt: rt.clone(),
            sequence_nr,
            kind,
            ran: std::cell::Cell::new(false),
            hooks: (0..outputs.max(1)).map(|_| RefCell::new(None)).collect(),
            retained: Default::default(),
            me: RefCell::new(Weak::new()),
        }
    }

    fn shared(self) -> Rc<Node> {
        let node = Rc::new(self);
        *node.me.borrow_mut() = Rc::downgrade(&node);
        node
    }

    /// PyTorch's class name of the node (`AddmmBackward0`, `AccumulateGrad`, `MyFnBackward`
    /// for a custom Function `MyFn`, ...).
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Function {
                backward: Backward::Custom { name, .. },
                ..
            } => name,
            _ => self.static_name().unwrap_or_default(),
        }
    }

    fn static_name(&self) -> Option<&'static str> {
        Some(match &self.kind {
            Kind::Function {
                backward: Backward::Formula(formula),
                ..
            } if self.rt.python_scalar_names() => formula.python_name(),
            Kind::Function {
                backward: Backward::Formula(formula),
                ..
            } => formula.name(),
            Kind::Function {
                backward: Backward::CopySlices(_),
                ..
            } => "CopySlices",
            Kind::Function { .. } => return None,
            Kind::AccumulateGrad { .. } => "AccumulateGrad",
        })
    }

    fn owned_name(&self) -> Cow<'static, str> {
        match self.static_name() {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(self.name().to_string()),
        }
    }

    /// The `ctx` of a custom Function's node: the program's object, with its attributes.
    pub fn custom_ctx(&self) -> Option<ProgramObject> {
        match &self.kind {
            Kind::Function {
                backward: Backward::Custom { ctx, .. },
                ..
            } => Some(ctx.clone()),
            _ => None,
        }
    }

    /// The checkpoint frames whose holders this node keeps (non-reentrant checkpointing),
    /// each once: what recomputes its saved tensors, and the inputs the frames keep.
    pub fn checkpoint_frames(&self) -> Vec<Rc<CheckpointFrame>> {
        let mut frames: Vec<Rc<CheckpointFrame>> = Vec::new();
        if let Kind::Function { saved, .. } = &self.kind {
            for s in saved.borrow().iter() {
                if let SavedState::Holder { frame, .. } = &s.state {
                    if !frames.iter().any(|f| Rc::ptr_eq(f, frame)) {
                        frames.push(frame.clone());
                    }
                }
            }
        }
        frames
    }

    /// The hooks registered on the tensors this node produced, output by output, each in the
    /// order they run.
    pub fn hooks(&self) -> Vec<ProgramObject> {
        self.hooks.iter().flat_map(hooks_of).collect()
    }

    /// The hooks registered on output `nr` of this node, in the order they run.
    pub(crate) fn output_hooks(&self, nr: usize) -> Vec<ProgramObject> {
        self.hooks.get(nr).map(hooks_of).unwrap_or_default()
    }

    /// How many gradients the backward takes: one per output of the operation.
    pub fn num_outputs(&self) -> usize {
        self.hooks.len()
    }

    /// `ctx.saved_tensors` of a custom Function: what `save_for_backward` saved, or PyTorch's
    /// error once backward released it.
    pub fn unpack_saved(&self) -> Result<Vec<Tensor>> {
        let names: Vec<&'static str> = match &self.kind {
            Kind::Function { saved, .. } => saved.borrow().iter().map(|s| s.name).collect(),
            Kind::AccumulateGrad { .. } => Vec::new(),
        };
        let mut out = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            out.push(self.unpack_at(i)?);
        }
        Ok(out)
    }

    /// Whether a backward pass has run through this node.
    pub fn backward_ran(&self) -> bool {
        self.ran.get()
    }

    pub(crate) fn mark_ran(&self) {
        self.ran.set(true);
    }

    /// Order of creation; later nodes run first among those ready.
    pub fn sequence_nr(&self) -> u64 {
        self.sequence_nr
    }

    /// `grad_fn.next_functions` as Python shows it: the node of each input with the output
    /// of that node the input is, `None` where the input needs no grad.
    pub fn next_edges(&self) -> Vec<Option<(Rc<Node>, usize)>> {
        match &self.kind {
            Kind::Function { edges, .. } => edges
                .borrow()
                .iter()
                .map(|e| e.as_ref().map(|e| (e.node.clone(), e.input_nr)))
                .collect(),
            Kind::AccumulateGrad { .. } => Vec::new(),
        }
    }

    /// `grad_fn.next_functions`: the node of each input, `None` where the input needs no grad.
    pub fn next_functions(&self) -> Vec<Option<Rc<Node>>> {
        match &self.kind {
            Kind::Function { edges, .. } => edges
                .borrow()
                .iter()
                .map(|e| e.as_ref().map(|e| e.node.clone()))
                .collect(),
            Kind::AccumulateGrad { .. } => Vec::new(),
        }
    }

    /// The tensors this node saved for backward, in PyTorch's order and with its names.
    pub fn saved_tensors(&self) -> Vec<SavedTensor> {
        match &self.kind {
            Kind::Function { saved, .. } => saved
                .borrow()
                .iter()
                .map(|s| SavedTensor {
                    name: s.name,
                    tensor: match &s.state {
                        SavedState::Saved { tensor, .. } => Some(tensor.clone()),
                        SavedState::Holder { frame, at } => frame.slot(*at),
                        SavedState::Hooked(h) => h.held_tensor(),
                        SavedState::Released => None,
                    },
                })
                .collect(),
            Kind::AccumulateGrad { .. } => Vec::new(),
        }
    }

    /// For AccumulateGrad: the leaf it accumulates into (held strongly, as in PyTorch).
    pub fn variable(&self) -> Option<Tensor> {
        match &self.kind {
            Kind::AccumulateGrad { variable } => variable.borrow().clone(),
            Kind::Function { .. } => None,
        }
    }

    /// A saved tensor for the backward formula: released ones fail with PyTorch's
    /// "backward through the graph a second time", modified ones with its version error.
    pub(crate) fn unpack(&self, name: &'static str) -> Result<Tensor> {
        let Kind::Function { saved, .. } = &self.kind else {
            return Err(TensorError::Invalid(format!(
                "{} saves nothing",
                self.name()
            )));
        };
        let Some(at) = saved.borrow().iter().position(|s| s.name == name) else {
            return Err(TensorError::Invalid(format!(
                "{} did not save `{name}`",
                self.name()
            )));
        };
        self.unpack_at(at)
    }

    fn unpack_at(&self, at: usize) -> Result<Tensor> {
        let Kind::Function { saved, .. } = &self.kind else {
            return Err(TensorError::Invalid(format!(
                "{} saves nothing",
                self.name()
            )));
        };
        let saved = saved.borrow();
        match &saved[at].state {
            SavedState::Released => Err(TensorError::BackwardTwice),
            SavedState::Hooked(h) => match h.unpacked() {
                Some(t) => Ok(t),
                None => match h.unpack()? {
                    Unpack::Tensor(t) => Ok(t),
                    Unpack::Program { .. } => Err(TensorError::Invalid(format!(
                        "{}: a tensor saved under saved_tensors_hooks was unpacked outside a backward pass",
                        self.name()
                    ))),
                },
            },
            SavedState::Holder { frame, at } => frame.slot(*at).ok_or_else(|| {
                TensorError::Invalid(if frame.recomputed() {
                    "torch.utils.checkpoint: the recomputation saved fewer tensors than the forward did (the checkpointed function is not deterministic)".into()
                } else {
                    format!("{}: a checkpointed tensor was unpacked before its function ran again", self.name())
                })
            }),
            SavedState::Saved {
                tensor,
                version,
                output_of,
                is_output,
            } => {
                let current = tensor.version();
                if current != *version {
                    let mut message = format!("[{}]", tensor.describe());
                    if let Some(node) = output_of {
                        message.push_str(&format!(", which is output 0 of {node},"));
                    }
                    message.push_str(&format!(
                        " is at version {current}; expected version {version} instead. Hint: enable anomaly detection to find the operation that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True)."
                    ));
                    return Err(TensorError::VersionMismatch(message));
                }
                Ok(tensor.clone())
                    .map(|t| (t, *is_output))
                    .map(|(t, is_output)| self.restore_history(t, is_output))
            }
        }
    }

    /// `SavedVariable::unpack` of an output under grad mode (create_graph): the output with
    /// this node as its history again, so that the double-backward graph reaches it. The
    /// node is found again through a weak self-reference, as PyTorch keeps `weak_grad_fn_`.
    fn restore_history(&self, t: Tensor, is_output: bool) -> Tensor {
        if !is_output || !self.rt.is_grad_enabled() {
            return t;
        }
        let Some(me) = self.me.borrow().upgrade() else {
            return t;
        };
        let out = t.view_raw(t.shape().to_vec(), t.strides().to_vec(), t.0.offset);
        out.0.requires_grad.set(true);
        out.set_grad_fn(Some(me));
        out
    }

    /// Unpacks every saved tensor once, as the generated `apply` does before computing
    /// anything, so that a released or modified one fails the node before it allocates.
    pub(crate) fn check_saved(&self) -> Result<()> {
        self.unpack_saved().map(drop)
    }

    /// With the graph retained: frees what a checkpoint's rerun recomputed for this node (a
    /// holder gives its tensor once per backward pass), keeping the holders.
    pub(crate) fn release_recomputed(&self) {
        if let Kind::Function { saved, .. } = &self.kind {
            for s in saved.borrow().iter() {
                if let SavedState::Holder { frame, at } = &s.state {
                    frame.release(*at);
                }
            }
        }
    }

    /// Frees what the node saved (PyTorch's `release_variables`). The tensors are dropped
    /// after the borrow ends so that graphs they hold can be torn down.
    pub(crate) fn release_saved(&self) {
        if let Kind::Function {
            backward: Backward::CopySlices(c),
            ..
        } = &self.kind
        {
            c.release();
        }
        if let Kind::Function { saved, .. } = &self.kind {
            let mut released = Vec::new();
            for s in saved.borrow_mut().iter_mut() {
                let old = std::mem::replace(&mut s.state, SavedState::Released);
                released.push(old);
            }
            for old in released {
                match old {
                    SavedState::Saved { tensor, .. } => drop_tensor(tensor),
                    SavedState::Holder { frame, at } => frame.release(at),
                    SavedState::Hooked(h) => {
                        if let Some(t) = h.release() {
                            drop_tensor(t);
                        }
                    }
                    SavedState::Released => {}
                }
            }
        }
    }

    pub(crate) fn edge_nodes(&self) -> Vec<Option<(Rc<Node>, InputMeta, usize)>> {
        match &self.kind {
            Kind::Function { edges, .. } => edges
                .borrow()
                .iter()
                .map(|e| {
                    e.as_ref()
                        .map(|e| (e.node.clone(), e.meta.clone(), e.input_nr))
                })
                .collect(),
            Kind::AccumulateGrad { .. } => Vec::new(),
        }
    }

    /// Moves out everything through which this node holds other nodes, so that dropping it
    /// recurses no further (see [`drop_graph`]).
    fn take_children(&mut self, stack: &mut Vec<Rc<Node>>) {
        match &mut self.kind {
            Kind::Function {
                edges,
                saved,
                backward,
            } => {
                // A custom Function's ctx can hold tensors (and their graphs): dropped here,
                // after the node's own references are moved out.
                if let Backward::Custom { ctx, .. } = backward {
                    let ctx = std::mem::replace(ctx, Rc::new(()));
                    drop(ctx);
                }
                if let Backward::CopySlices(c) = backward {
                    stack.extend(c.take_wrapped());
                }
                for edge in edges.get_mut().drain(..).flatten() {
                    stack.push(edge.node);
                }
                for s in saved.get_mut().drain(..) {
                    match s.state {
                        SavedState::Saved { tensor, .. } => take_tensor_children(tensor, stack),
                        SavedState::Hooked(h) => {
                            if let Some(t) = h.release() {
                                take_tensor_children(t, stack);
                            }
                        }
                        SavedState::Holder { .. } | SavedState::Released => {}
                    }
                }
            }
            Kind::AccumulateGrad { variable } => {
                if let Some(t) = variable.get_mut().take() {
                    take_tensor_children(t, stack);
                }
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.rt.node_dropped();
        let mut stack = Vec::new();
        self.take_children(&mut stack);
        for node in stack {
            drop_graph(node);
        }
    }
}

/// Drops a tensor; when this was its last handle, its history goes through [`drop_graph`].
fn take_tensor_children(tensor: Tensor, stack: &mut Vec<Rc<Node>>) {
    if let Ok(mut inner) = Rc::try_unwrap(tensor.0) {
        if let Some(node) = inner.grad_fn.get_mut().take() {
            stack.push(node);
        }
        if let Some(grad) = inner.grad.get_mut().take() {
            take_tensor_children(grad, stack);
        }
    }
}

fn drop_tensor(tensor: Tensor) {
    let mut stack = Vec::new();
    take_tensor_children(tensor, &mut stack);
    for node in stack {
        drop_graph(node);
    }
}

/// Drops a reference to a node without recursing through the graph behind it: a chain of a
/// million steps (`total_loss += loss` never detached) must not overflow the stack. PyTorch
/// does the same with its `deleteNode`.
pub(crate) fn drop_graph(root: Rc<Node>) {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if let Ok(mut node) = Rc::try_unwrap(node) {
            node.take_children(&mut stack);
        }
    }
}

/// The edge along which a gradient reaches `t`: its grad_fn, or for a leaf that requires grad
/// its AccumulateGrad node (created on first use and held weakly by the leaf).
pub(crate) fn gradient_edge(t: &Tensor) -> Option<Edge> {
    let meta = InputMeta {
        shape: t.shape().to_vec(),
        dtype: t.dtype(),
        device: t.device(),
    };
    if let Some(node) = t.grad_fn() {
        return Some(Edge {
            node,
            input_nr: t.output_nr(),
            meta,
        });
    }
    if !t.requires_grad() {
        return None;
    }
    Some(Edge {
        node: grad_accumulator(t),
        input_nr: 0,
        meta,
    })
}

pub(crate) fn grad_accumulator(t: &Tensor) -> Rc<Node> {
    if let Some(node) = t.0.grad_accumulator.borrow().upgrade() {
        return node;
    }
    let node = Node::new(
        t.runtime(),
        Kind::AccumulateGrad {
            variable: RefCell::new(Some(t.clone())),
        },
    )
    .shared();
    *t.0.grad_accumulator.borrow_mut() = Rc::downgrade(&node);
    node
}

/// Builds the node of one operation: created only when grad mode is on and an input requires
/// grad; `needs(i)` says whether input `i` gets a gradient, which decides what is saved.
pub(crate) struct NodeBuilder {
    rt: Runtime,
    edges: Vec<Option<Edge>>,
    saved: Vec<Saved>,
    outputs_to_save: Vec<&'static str>,
    /// The base of the view an in-place operation writes into: its node becomes the base's
    /// CopySlices ([`NodeBuilder::rebasing`]).
    rebase: Option<Tensor>,
}

impl NodeBuilder {
    pub(crate) fn new(inputs: &[&Tensor]) -> Option<NodeBuilder> {
        let rt = inputs.first()?.runtime().clone();
        // Planted bug: grad mode is ignored, so no_grad code records graphs too.
        #[cfg(feature = "planted-bugs")]
        let grad_enabled =
            rt.is_grad_enabled() || rt.planted(crate::base::PlantedBug::NoGradRecords);
        #[cfg(not(feature = "planted-bugs"))]
        let grad_enabled = rt.is_grad_enabled();
        if !grad_enabled || !inputs.iter().any(|t| t.requires_grad()) {
            return None;
        }
        Some(NodeBuilder {
            rt,
            edges: inputs.iter().map(|t| gradient_edge(t)).collect(),
            saved: Vec::new(),
            outputs_to_save: Vec::new(),
            rebase: None,
        })
    }

    pub(crate) fn needs(&self, input: usize) -> bool {
        matches!(self.edges.get(input), Some(Some(_)))
    }

    /// Saves an input (or any tensor that is not this node's output) as it is now.
    pub(crate) fn save(&mut self, name: &'static str, t: &Tensor) {
        if let Some(state) = SavedState::under_hooks(&self.rt, t, false) {
            self.saved.push(Saved { name, state });
            return;
        }
        t.storage().promote_purpose(Purpose::SavedActivation);
        self.saved.push(Saved {
            name,
            state: SavedState::Saved {
                tensor: t.clone(),
                version: t.version(),
                output_of: t.grad_fn().map(|n| n.owned_name()),
                is_output: false,
            },
        });
    }

    /// Saves the node's output under `name` when the node is attached.
    pub(crate) fn save_output(&mut self, name: &'static str) {
        self.outputs_to_save.push(name);
    }

    /// Creates the node and makes it `out`'s history (for in-place operations, replacing the
    /// previous one, which is already an edge of the node).
    pub(crate) fn finish(mut self, formula: Formula, out: &Tensor) {
        let rebase = self.rebase.take();
        let node = self.build(formula, out);
        match rebase {
            Some(base) => copy_slices::rebase_history(node, out, &base),
            None => {
                out.0.requires_grad.set(true);
                out.set_grad_fn(Some(node));
            }
        }
    }

    /// The node of `formula`, saving `out` where [`NodeBuilder::save_output`] asked.
    fn build(mut self, formula: Formula, out: &Tensor) -> Rc<Node> {
        let name = formula.name();
        for output_name in std::mem::take(&mut self.outputs_to_save) {
            if let Some(state) = SavedState::under_hooks(&self.rt, out, true) {
                self.saved.push(Saved {
                    name: output_name,
                    state,
                });
                continue;
            }
            // An alias of the output's storage without its history: saving the output itself
            // would make a cycle (output -> node -> output).
            out.storage().promote_purpose(Purpose::SavedActivation);
            let alias = out.view_raw(out.shape().to_vec(), out.strides().to_vec(), out.0.offset);
            self.saved.push(Saved {
                name: output_name,
                state: SavedState::Saved {
                    version: out.version(),
                    tensor: alias,
                    output_of: Some(Cow::Borrowed(name)),
                    is_output: true,
                },
            });
        }
        Node::new(
            &self.rt,
            Kind::Function {
                backward: Backward::Formula(formula),
                edges: RefCell::new(self.edges),
                saved: RefCell::new(self.saved),
            },
        )
        .shared()
    }

    /// Creates the node of an operation with several outputs (`split`, `unbind`) and makes it
    /// the history of each, output `i` being `outs[i]`: one node, as PyTorch builds it, whose
    /// backward gets one gradient per output. Saves no output.
    pub(crate) fn finish_multi(self, formula: Formula, outs: &[Tensor]) {
        let node = Node::with_outputs(
            &self.rt,
            Kind::Function {
                backward: Backward::Formula(formula),
                edges: RefCell::new(self.edges),
                saved: RefCell::new(self.saved),
            },
            outs.len(),
        )
        .shared();
        for (nr, out) in outs.iter().enumerate() {
            out.0.requires_grad.set(true);
            out.set_grad_fn(Some(node.clone()));
            out.0.output_nr.set(nr);
        }
    }
}

/// Records the node of a `torch.autograd.Function` subclass's `apply` (PyTorch's
/// `THPFunction_apply`), when grad mode is on and an input requires grad: one edge per tensor
/// input, what `ctx.save_for_backward` got saved as PyTorch's SavedVariables (an output is
/// saved without its history, so the node does not hold itself), and `ctx` owned by the node.
/// `out` must be a tensor `forward` made (not one of `inputs`). Returns whether a node was
/// made.
pub fn record_custom(
    name: &str,
    ctx: ProgramObject,
    inputs: &[&Tensor],
    to_save: &[Tensor],
    out: &Tensor,
) -> bool {
    let Some(builder) = NodeBuilder::new(inputs) else {
        return false;
    };
    let saved = to_save
        .iter()
        .map(|t| {
            let is_output = t.id() == out.id();
            if let Some(state) = SavedState::under_hooks(&builder.rt, t, is_output) {
                return Saved {
                    name: "saved_tensors",
                    state,
                };
            }
            t.storage().promote_purpose(Purpose::SavedActivation);
            let tensor = if is_output {
                out.view_raw(out.shape().to_vec(), out.strides().to_vec(), out.0.offset)
            } else {
                t.clone()
            };
            Saved {
                name: "saved_tensors",
                state: SavedState::Saved {
                    version: t.version(),
                    output_of: t.grad_fn().map(|n| n.owned_name()),
                    is_output,
                    tensor,
                },
            }
        })
        .collect();
    let node = Node::new(
        &builder.rt,
        Kind::Function {
            backward: Backward::Custom {
                name: format!("{name}Backward").into(),
                ctx,
            },
            edges: RefCell::new(builder.edges),
            saved: RefCell::new(saved),
        },
    )
    .shared();
    out.0.requires_grad.set(true);
    out.set_grad_fn(Some(node));
    true
}
