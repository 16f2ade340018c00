//! The backward pass, following `torch/csrc/autograd/engine.cpp`: find the nodes reachable
//! from the root and count their dependencies, then run ready nodes latest-created first
//! (AccumulateGrad before anything else), summing gradients that meet in a node's input
//! buffer. The order matters because it decides when each gradient and saved tensor is freed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;

use super::{
    gradient_edge, Backward, CheckpointFrame, Formula, InputMeta, Kind, Node, NodeBuilder,
    ProgramObject,
};
use crate::alloc::Purpose;
use crate::base::{Result, TensorError};
use crate::tensor::{format_shape, Tensor};

type Key = *const Node;

/// How a backward pass runs: `retain_graph` and `create_graph` of `torch.autograd.backward`
/// and `torch.autograd.grad`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackwardOptions {
    /// Keep what the nodes saved; `None` is PyTorch's default, `create_graph`.
    pub retain_graph: Option<bool>,
    /// Run the backward formulas with grad mode on, so that the gradients have a `grad_fn`
    /// (double backward). A leaf's `.grad` then holds a graph that holds the leaf: the cycle
    /// of pytorch#7343, broken only by resetting `.grad`.
    pub create_graph: bool,
}

impl BackwardOptions {
    fn retain(&self) -> bool {
        self.retain_graph.unwrap_or(self.create_graph)
    }
}

/// What the engine calls back into while it runs: the program's tensor hooks and custom
/// Functions' `backward`. The interpreter implements it for its Python objects; a Rust
/// program that registers neither passes [`NoCallbacks`].
pub trait Callbacks {
    /// Runs a hook of `tensor.register_hook` on `grad`; `Some` replaces the gradient.
    fn tensor_hook(&mut self, hook: &ProgramObject, grad: &Tensor) -> Result<Option<Tensor>>;
    /// Runs a custom Function's `backward(ctx, grad)`, whose node is `node`: one gradient
    /// per tensor input of `forward` (its edges), `None` where there is none.
    fn custom_backward(
        &mut self,
        ctx: &ProgramObject,
        node: &Rc<Node>,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>>;

    /// Reruns a non-reentrant checkpoint's function (`frame.program()`, the program's own)
    /// under [`super::checkpoint_recompute`], so that its saves fill the frame's holders.
    fn recompute(&mut self, frame: &Rc<CheckpointFrame>) -> Result<()> {
        Err(TensorError::Invalid(format!(
            "a checkpointed function ({frame:?}) reached a backward pass run without callbacks"
        )))
    }

    /// Runs the program's `unpack_hook` of `saved_tensors_hooks` on what its `pack_hook`
    /// returned, which must give a tensor.
    fn unpack_saved(&mut self, _unpack: &ProgramObject, _packed: &ProgramObject) -> Result<Tensor> {
        Err(TensorError::Invalid(
            "a tensor saved under saved_tensors_hooks reached a backward pass run without callbacks"
                .into(),
        ))
    }
}

/// Callbacks of a program that registers no hooks and defines no Function.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCallbacks;

impl Callbacks for NoCallbacks {
    fn tensor_hook(&mut self, _: &ProgramObject, _: &Tensor) -> Result<Option<Tensor>> {
        Err(TensorError::Invalid(
            "a tensor hook reached a backward pass run without callbacks".into(),
        ))
    }

    fn custom_backward(
        &mut self,
        _: &ProgramObject,
        node: &Rc<Node>,
        _: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        Err(TensorError::Invalid(format!(
            "{} reached a backward pass run without callbacks",
            node.name()
        )))
    }
}

/// `root.backward(gradient, retain_graph)`.
pub(crate) fn run_backward(
    root: &Tensor,
    gradient: Option<&Tensor>,
    retain_graph: bool,
) -> Result<()> {
    backward(
        std::slice::from_ref(root),
        &[gradient.cloned()],
        BackwardOptions {
            retain_graph: Some(retain_graph),
            create_graph: false,
        },
        &mut NoCallbacks,
    )
}

/// `torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph)`: gradients
/// of the leaves reachable from `tensors` accumulate into their `.grad`.
pub fn backward(
    tensors: &[Tensor],
    grad_tensors: &[Option<Tensor>],
    options: BackwardOptions,
    callbacks: &mut dyn Callbacks,
) -> Result<()> {
    let roots = root_gradients(tensors, grad_tensors)?;
    let seeds = held_seeds(&roots);
    Pass::new(roots, None, options, callbacks)?.run()?;
    drop(seeds);
    Ok(())
}

/// The gradients a pass starts from, held by its caller until the pass ends, as PyTorch holds
/// them: `torch.autograd.backward` keeps the tuple `_make_grads` returns (the implicit ones of
/// `loss.backward()` included) and `THPEngine_run_backward` its `grads` vector while the engine
/// runs. So the seed's block counts in every peak inside backward, is freed after the graph,
/// and a seed that reaches AccumulateGrad directly is copied, not stolen.
fn held_seeds(roots: &[Root]) -> Vec<Tensor> {
    roots.iter().map(|(_, _, grad)| grad.clone()).collect()
}

/// `torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
/// allow_unused)`: the gradients of `inputs`, returned instead of accumulated; only the nodes
/// on a path to an input run (and release what they saved).
pub fn grad(
    outputs: &[Tensor],
    grad_outputs: &[Option<Tensor>],
    inputs: &[Tensor],
    options: BackwardOptions,
    allow_unused: bool,
    callbacks: &mut dyn Callbacks,
) -> Result<Vec<Option<Tensor>>> {
    let roots = root_gradients(outputs, grad_outputs)?;
    let mut input_nodes = Vec::with_capacity(inputs.len());
    for t in inputs {
        let Some(edge) = gradient_edge(t) else {
            return Err(TensorError::Invalid(
                "One of the differentiated Tensors does not require grad".into(),
            ));
        };
        input_nodes.push((edge.node, edge.input_nr));
    }
    let seeds = held_seeds(&roots);
    let captured = Pass::new(roots, Some(input_nodes), options, callbacks)?.run()?;
    drop(seeds);
    if !allow_unused && captured.iter().any(Option::is_none) {
        return Err(TensorError::Invalid(
            "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior.".into(),
        ));
    }
    Ok(captured)
}

/// A gradient flowing into output `.1` of node `.0`.
type Root = (Rc<Node>, usize, Tensor);

/// The gradient each root starts with: the given one (checked against the root's shape), or
/// ones for a one-element root.
fn root_gradients(roots: &[Tensor], grads: &[Option<Tensor>]) -> Result<Vec<Root>> {
    if !grads.is_empty() && grads.len() != roots.len() {
        return Err(TensorError::Invalid(format!(
            "grad can be implicitly created only for scalar outputs: got {} tensors and {} gradients",
            roots.len(),
            grads.len()
        )));
    }
    let mut out = Vec::with_capacity(roots.len());
    for (i, root) in roots.iter().enumerate() {
        if !root.requires_grad() {
            return Err(if i == 0 {
                TensorError::NoGradFn
            } else {
                TensorError::Invalid(format!(
                    "element {i} of tensors does not require grad and does not have a grad_fn"
                ))
            });
        }
        let grad = match grads.get(i).cloned().flatten() {
            None => {
                if root.numel() != 1 {
                    return Err(TensorError::ImplicitGradNotScalar);
                }
                root.ones_like()?
            }
            Some(g) => {
                if g.shape() != root.shape() {
                    return Err(TensorError::Invalid(format!(
                        "Mismatch in shape: grad_output[{i}] has a shape of torch.Size({}) and output[{i}] has a shape of torch.Size({}).",
                        format_shape(g.shape()),
                        format_shape(root.shape())
                    )));
                }
                g
            }
        };
        let Some(edge) = gradient_edge(root) else {
            return Err(TensorError::NoGradFn);
        };
        out.push((edge.node, edge.input_nr, grad));
    }
    Ok(out)
}

/// One backward pass (a GraphTask): the nodes reachable from the roots, numbered in
/// discovery order, with everything per node in vectors indexed by that number: when a pass
/// stops early on an error, the gradients still buffered are freed in that order, never in a
/// hash order that would differ from run to run.
struct Pass<'a> {
    nodes: Vec<Rc<Node>>,
    index: HashMap<Key, usize>,
    dependencies: Vec<usize>,
    /// Each node's input buffer: one slot per output of the node's operation.
    buffers: Vec<Vec<Option<Tensor>>>,
    /// Whether a node runs (`exec_info`): every node for `backward`, only those on a path to
    /// an input for `grad`.
    runs: Vec<bool>,
    /// Whether a gradient must flow into a node: it runs, or it is an input of `grad`.
    needed: Vec<bool>,
    /// For `grad`: which node (and which of its outputs) each input's gradient is captured at.
    captures: Option<Vec<(usize, usize)>>,
    options: BackwardOptions,
    callbacks: &'a mut dyn Callbacks,
    roots: Vec<usize>,
}

impl<'a> Pass<'a> {
    fn new(
        roots: Vec<Root>,
        inputs: Option<Vec<(Rc<Node>, usize)>>,
        options: BackwardOptions,
        callbacks: &'a mut dyn Callbacks,
    ) -> Result<Pass<'a>> {
        let mut pass = Pass {
            nodes: Vec::new(),
            index: HashMap::new(),
            dependencies: Vec::new(),
            buffers: Vec::new(),
            runs: Vec::new(),
            needed: Vec::new(),
            captures: None,
            options,
            callbacks,
            roots: Vec::new(),
        };
        let mut children: Vec<Vec<usize>> = Vec::new();
        let mut stack = Vec::new();
        let mut root_grads = Vec::new();
        for (node, nr, grad) in roots {
            let (i, new) = pass.discover(node, &mut children);
            if new {
                stack.push(i);
            }
            root_grads.push((i, nr, grad));
        }
        while let Some(i) = stack.pop() {
            for (next, _, _) in pass.nodes[i].edge_nodes().into_iter().flatten() {
                let (j, new) = pass.discover(next, &mut children);
                if new {
                    stack.push(j);
                }
                children[i].push(j);
                pass.dependencies[j] += 1;
            }
        }
        let n = pass.nodes.len();
        match inputs {
            None => {
                pass.runs = vec![true; n];
                pass.needed = vec![true; n];
            }
            Some(inputs) => {
                // An input outside the graph is never reached: its gradient stays None.
                let captures: Vec<(usize, usize)> = inputs
                    .iter()
                    .map(|(node, nr)| {
                        let at = pass.index.get(&Rc::as_ptr(node)).copied();
                        (at.unwrap_or(usize::MAX), *nr)
                    })
                    .collect();
                let mut is_input = vec![false; n];
                for &(c, _) in captures.iter().filter(|&&(c, _)| c != usize::MAX) {
                    is_input[c] = true;
                }
                // Children come after their first parent in discovery order only for trees;
                // iterate to a fixed point, which a DAG reaches in as many rounds as it is deep.
                pass.needed = is_input.clone();
                pass.runs = vec![false; n];
                let mut changed = true;
                while changed {
                    changed = false;
                    for i in (0..n).rev() {
                        if !pass.runs[i] && children[i].iter().any(|&j| pass.needed[j]) {
                            pass.runs[i] = true;
                            pass.needed[i] = true;
                            changed = true;
                        }
                    }
                }
                pass.captures = Some(captures);
            }
        }
        pass.buffers = pass
            .nodes
            .iter()
            .map(|node| vec![None; node.num_outputs()])
            .collect();
        for (i, nr, grad) in root_grads {
            pass.add_to_buffer(i, nr, grad)?;
            if !pass.roots.contains(&i) {
                pass.roots.push(i);
            }
        }
        Ok(pass)
    }

    fn discover(&mut self, node: Rc<Node>, children: &mut Vec<Vec<usize>>) -> (usize, bool) {
        let key = Rc::as_ptr(&node);
        if let Some(&i) = self.index.get(&key) {
            return (i, false);
        }
        let i = self.nodes.len();
        self.index.insert(key, i);
        self.nodes.push(node);
        self.dependencies.push(0);
        children.push(Vec::new());
        (i, true)
    }

    fn add_to_buffer(&mut self, i: usize, nr: usize, g: Tensor) -> Result<()> {
        let grad_mode = self.options.create_graph;
        let Some(slot) = self.buffers[i].get_mut(nr) else {
            return Err(TensorError::Invalid(format!(
                "{} has no output {nr}",
                self.nodes[i].name()
            )));
        };
        *slot = Some(match slot.take() {
            None => g,
            Some(old) => accumulate_input(old, g, grad_mode)?,
        });
        Ok(())
    }

    /// Runs the pass; for `grad`, returns the captured gradients in the inputs' order.
    fn run(mut self) -> Result<Vec<Option<Tensor>>> {
        let mut captured: Vec<Option<Tensor>> =
            vec![None; self.captures.as_ref().map_or(0, Vec::len)];
        let Some(&first) = self.roots.first() else {
            return Ok(captured);
        };
        let rt = self.nodes[first].rt.clone();
        let _grad_mode = rt.set_grad_enabled(self.options.create_graph);
        let _engine_thread = rt.enter_autograd_thread();
        let retain_graph = self.options.retain();
        // Planted bugs: saved tensors kept after every backward, or released despite
        // retain_graph=True.
        #[cfg(feature = "planted-bugs")]
        let retain_graph = (retain_graph
            || rt.planted(crate::base::PlantedBug::BackwardKeepsSaved))
            && !rt.planted(crate::base::PlantedBug::RetainGraphIgnored);

        // Ties (AccumulateGrad nodes all have the highest number) run in the order they became
        // ready, so the schedule never depends on addresses and is the same on every backend.
        let mut ready = BinaryHeap::new();
        let mut pushed = 0u64;
        for &i in &self.roots {
            if self.dependencies[i] == 0 && self.needed[i] {
                pushed += 1;
                ready.push((self.nodes[i].sequence_nr(), Reverse(pushed), i));
            }
        }

        // Frames rerun in this pass: what they recomputed is this pass's only (PyTorch keys it
        // by graph task), so a retained graph's next backward reruns them.
        let mut recomputed = Vec::new();
        while let Some((_, _, i)) = ready.pop() {
            let node = self.nodes[i].clone();
            let mut grads = std::mem::take(&mut self.buffers[i]);
            for (nr, slot) in grads.iter_mut().enumerate() {
                if let Some(g) = slot.take() {
                    *slot = Some(self.run_hooks(&node, nr, g)?);
                }
            }
            if let Some(captures) = &self.captures {
                for (k, &(c, nr)) in captures.iter().enumerate() {
                    if c == i {
                        captured[k] = grads.get(nr).cloned().flatten();
                    }
                }
            }
            if !self.runs[i] {
                continue;
            }
            // A node whose outputs all got no gradient does not run (a one-output node's
            // backward never sees an undefined gradient); a multi-output node's formula
            // materializes the missing ones itself, as split_backward does. A one-output
            // node's gradient is moved out of the buffer, never cloned: whether AccumulateGrad
            // may steal it depends on nobody else holding it.
            let multi = matches!(&node.kind, Kind::Function {
                backward: Backward::Formula(formula),
                ..
            } if formula.is_multi_output());
            let single = if multi {
                None
            } else {
                grads.first_mut().and_then(Option::take)
            };
            let outputs = match (&node.kind, single) {
                (_, None) if !multi || grads.iter().all(Option::is_none) => Vec::new(),
                (Kind::AccumulateGrad { variable }, Some(g)) => {
                    let variable = variable.borrow().clone();
                    if let Some(v) = variable {
                        accumulate_grad(&v, g, self.options.create_graph)?;
                    }
                    Vec::new()
                }
                (Kind::AccumulateGrad { .. }, None) => Vec::new(),
                (Kind::Function { backward, .. }, g) => {
                    let edges = node.edge_nodes();
                    // Non-reentrant checkpointing: the first unpack of a holder reruns the
                    // checkpointed function, which fills every holder of its frame.
                    for frame in node.checkpoint_frames() {
                        if !frame.recomputed() {
                            self.callbacks.recompute(&frame)?;
                            recomputed.push(frame);
                        }
                    }
                    node.unpack_hooked(&mut *self.callbacks)?;
                    node.check_saved()?;
                    let needs: Vec<bool> = edges
                        .iter()
                        .map(|e| {
                            e.as_ref().is_some_and(|(next, _, _)| {
                                self.needed[self.index[&Rc::as_ptr(next)]]
                            })
                        })
                        .collect();
                    let mut outputs = match (backward, &g) {
                        (Backward::Formula(formula), None) => {
                            formula.apply_multi(&node, &grads, &needs)?
                        }
                        (Backward::Formula(formula), Some(g)) => formula.apply(&node, g, &needs)?,
                        (Backward::CopySlices(c), Some(g)) => c.apply(g, &needs)?,
                        (Backward::CopySlices(_), None) => vec![None; needs.len()],
                        (Backward::Custom { ctx, .. }, g) => {
                            let Some(g) = g else {
                                return Err(TensorError::Invalid(format!(
                                    "{} got no gradient",
                                    node.name()
                                )));
                            };
                            let ctx = ctx.clone();
                            let outputs = self.callbacks.custom_backward(&ctx, &node, g)?;
                            if outputs.len() != edges.len() {
                                return Err(TensorError::Invalid(format!(
                                    "function {} returned an incorrect number of gradients (expected {}, got {})",
                                    node.name(),
                                    edges.len(),
                                    outputs.len()
                                )));
                            }
                            outputs
                        }
                    };
                    node.clear_unpacked();
                    validate_outputs(&node, &mut outputs, &edges)?;
                    // The incoming gradients die here, after the outputs exist: as in
                    // `call_function`, where the input buffer outlives the node's apply.
                    drop(g);
                    drop(std::mem::take(&mut grads));
                    outputs.into_iter().zip(edges).collect()
                }
            };
            node.mark_ran();
            if !retain_graph {
                node.release_saved();
            } else {
                node.release_recomputed();
            }
            for (grad, edge) in outputs {
                let Some((next, _, nr)) = edge else { continue };
                let j = self.index[&Rc::as_ptr(&next)];
                if !self.needed[j] {
                    continue;
                }
                if let Some(g) = grad {
                    self.add_to_buffer(j, nr, g)?;
                }
                self.dependencies[j] -= 1;
                if self.dependencies[j] == 0 {
                    pushed += 1;
                    ready.push((next.sequence_nr(), Reverse(pushed), j));
                }
            }
        }
        for frame in recomputed {
            frame.reset();
        }
        Ok(captured)
    }

    /// The tensor hooks of what `node` computes the gradient for, in registration order, each
    /// given the previous one's result (`call_tensor_pre_hooks`); a leaf's live on the leaf.
    /// Then, as PyTorch runs `retains_grad_hooks` last, the tensors that retain it get it.
    fn run_hooks(&mut self, node: &Node, nr: usize, mut grad: Tensor) -> Result<Tensor> {
        let hooks = match &node.kind {
            Kind::AccumulateGrad { variable } => variable
                .borrow()
                .as_ref()
                .map(Tensor::hooks)
                .unwrap_or_default(),
            Kind::Function { .. } => node.output_hooks(nr),
        };
        for hook in hooks {
            if let Some(new) = self.callbacks.tensor_hook(&hook, &grad)? {
                grad = new;
            }
        }
        node.retain_output_grad(nr, &grad)?;
        Ok(grad)
    }
}

/// Makes each gradient match its input's metadata (`validate_outputs`): reduce broadcast
/// dimensions with `sum_to`, then cast type and device.
fn validate_outputs(
    node: &Node,
    outputs: &mut [Option<Tensor>],
    edges: &[Option<(Rc<Node>, InputMeta, usize)>],
) -> Result<()> {
    for (i, (out, edge)) in outputs.iter_mut().zip(edges).enumerate() {
        let (Some(g), Some((_, meta, _))) = (out.as_ref(), edge) else {
            continue;
        };
        let mut g = g.clone();
        if g.shape() != meta.shape.as_slice() {
            if !expandable(&meta.shape, g.shape()) {
                return Err(TensorError::Invalid(format!(
                    "Function {} returned an invalid gradient at index {i} - got {} but expected shape compatible with {}",
                    node.name(),
                    format_shape(g.shape()),
                    format_shape(&meta.shape)
                )));
            }
            g = g.sum_to(&meta.shape)?;
        }
        if g.dtype() != meta.dtype {
            g = g.to_dtype(meta.dtype)?;
        }
        if g.device() != meta.device {
            g = g.to(meta.device)?;
        }
        *out = Some(g);
    }
    Ok(())
}

/// Whether `shape` broadcasts to `target`.
fn expandable(shape: &[usize], target: &[usize]) -> bool {
    if shape.len() > target.len() {
        return false;
    }
    let lead = target.len() - shape.len();
    shape
        .iter()
        .zip(&target[lead..])
        .all(|(&s, &t)| s == t || s == 1)
}

/// `can_accumulate_inplace` (input_buffer.cpp): dense, and nobody else holds it or its storage.
/// A view never qualifies: PyTorch's view of a tensor keeps its base's TensorImpl alive (the
/// view metadata holds it, in backward too, where ADInplaceOrView still runs), so the storage
/// has two users even when the base is otherwise gone. A gradient that arrives as a view, such
/// as a bias's `sum_to` (a view dropping the leading dimension) or a weight's `TBackward0`, is
/// therefore summed into a new block when a second gradient comes; measured on an H100 in
/// truncated BPTT, where each parameter gets one gradient per time step.
fn can_accumulate_inplace(t: &Tensor) -> bool {
    t.is_contiguous() && !t.0.is_view && t.use_count() == 1 && t.storage_use_count() == 1
}

/// `InputBuffer::accumulate`: with grad mode off, reuse whichever buffer is ours alone; with
/// it on (create_graph), add out of place, recording AddBackward0.
fn accumulate_input(old: Tensor, new: Tensor, grad_mode: bool) -> Result<Tensor> {
    if grad_mode {
        old.add(&new)
    } else if can_accumulate_inplace(&old) {
        old.add_(&new)?;
        Ok(old)
    } else if can_accumulate_inplace(&new) {
        new.add_(&old)?;
        Ok(new)
    } else {
        old.add(&new)
    }
}

/// AccumulateGrad (accumulate_grad.h). With grad mode off: a first gradient is stolen when
/// nothing else holds it and its layout matches the variable's, else copied in the variable's
/// layout; a later one is added in place. With grad mode on (create_graph): a first gradient
/// is always copied (`clone_obey_contract`: `new_empty_strided` + `copy_`, recording
/// CopyBackwards), a later one added out of place, so `.grad` keeps the graph.
fn accumulate_grad(variable: &Tensor, new_grad: Tensor, grad_mode: bool) -> Result<()> {
    let existing = variable.grad();
    match existing {
        None if grad_mode => {
            let grad = Tensor::empty_for(
                new_grad.runtime(),
                variable.shape(),
                variable.dtype(),
                variable.device(),
                Purpose::Gradient,
            )?;
            grad.copy_values_from(&new_grad)?;
            if let Some(builder) = NodeBuilder::new(&[&grad, &new_grad]) {
                builder.finish(Formula::Copy, &grad);
            }
            variable.set_grad(Some(grad));
        }
        Some(g) if grad_mode => {
            variable.set_grad(Some(g.add(&new_grad)?));
        }
        None => {
            let stealable = new_grad.use_count() == 1 && obeys_layout_contract(&new_grad, variable);
            let grad = if stealable {
                new_grad.storage().promote_purpose(Purpose::Gradient);
                new_grad
            } else {
                new_grad.copy_for(new_grad.device(), Purpose::Gradient)?
            };
            variable.set_grad(Some(grad));
        }
        Some(g) => {
            g.add_(&new_grad)?;
        }
    }
    Ok(())
}

/// The gradient layout contract: the gradient of a dense variable has its strides; of any
/// other, row-major ones.
fn obeys_layout_contract(grad: &Tensor, variable: &Tensor) -> bool {
    if variable.is_contiguous() {
        grad.is_contiguous()
    } else {
        grad.strides() == variable.strides()
    }
}
