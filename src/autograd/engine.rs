//! The backward pass, following `torch/csrc/autograd/engine.cpp`: find the nodes reachable
//! from the root and count their dependencies, then run ready nodes latest-created first
//! (AccumulateGrad before anything else), summing gradients that meet in a node's input
//! buffer. The order matters because it decides when each gradient and saved tensor is freed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;

use super::{gradient_edge, InputMeta, Kind, Node};
use crate::alloc::Purpose;
use crate::base::{Result, TensorError};
use crate::tensor::{format_shape, Tensor};

type Key = *const Node;

/// `root.backward(gradient, retain_graph)`.
pub(crate) fn run_backward(
    root: &Tensor,
    gradient: Option<&Tensor>,
    retain_graph: bool,
) -> Result<()> {
    if !root.requires_grad() {
        return Err(TensorError::NoGradFn);
    }
    let grad = match gradient {
        None => {
            if root.numel() != 1 {
                return Err(TensorError::ImplicitGradNotScalar);
            }
            root.ones_like()?
        }
        Some(g) => {
            if g.shape() != root.shape() {
                return Err(TensorError::Invalid(format!(
                    "Mismatch in shape: grad_output[0] has a shape of torch.Size({}) and output[0] has a shape of torch.Size({}).",
                    format_shape(g.shape()),
                    format_shape(root.shape())
                )));
            }
            g.clone()
        }
    };
    let Some(edge) = gradient_edge(root) else {
        return Err(TensorError::NoGradFn);
    };
    let rt = root.runtime().clone();
    let _no_grad = rt.no_grad();
    let _engine_thread = rt.enter_autograd_thread();

    // Nodes are numbered in discovery order and everything per node lives in vectors indexed
    // by that number: when a pass stops early on an error, the gradients still buffered are
    // freed in that order, never in a hash order that would differ from run to run.
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut nodes: Vec<Rc<Node>> = Vec::new();
    let mut dependencies: Vec<usize> = Vec::new();
    index.insert(Rc::as_ptr(&edge.node), 0);
    nodes.push(edge.node.clone());
    dependencies.push(0);
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        for (next, _) in nodes[i].edge_nodes().into_iter().flatten() {
            let key = Rc::as_ptr(&next);
            let j = match index.get(&key) {
                Some(&j) => j,
                None => {
                    let j = nodes.len();
                    index.insert(key, j);
                    nodes.push(next);
                    dependencies.push(0);
                    stack.push(j);
                    j
                }
            };
            dependencies[j] += 1;
        }
    }
    drop(edge);

    let mut buffers: Vec<Option<Tensor>> = vec![None; nodes.len()];
    buffers[0] = Some(grad);
    // Ties (AccumulateGrad nodes all have the highest number) run in the order they became
    // ready, so the schedule never depends on addresses and is the same on every backend.
    let mut ready = BinaryHeap::new();
    let mut pushed = 0u64;
    ready.push((nodes[0].sequence_nr(), Reverse(pushed), 0usize));

    while let Some((_, _, i)) = ready.pop() {
        let node = nodes[i].clone();
        let outputs = match (&node.kind, buffers[i].take()) {
            (_, None) => Vec::new(),
            (Kind::AccumulateGrad { variable }, Some(g)) => {
                let variable = variable.borrow().clone();
                if let Some(v) = variable {
                    accumulate_grad(&v, g)?;
                }
                Vec::new()
            }
            (Kind::Function { formula, .. }, Some(g)) => {
                let edges = node.edge_nodes();
                let needs: Vec<bool> = edges.iter().map(Option::is_some).collect();
                node.check_saved()?;
                let mut outputs = formula.apply(&node, &g, &needs)?;
                validate_outputs(&node, &mut outputs, &edges)?;
                // The incoming gradient dies here, after the outputs exist: as in
                // `call_function`, where the input buffer outlives the node's apply.
                drop(g);
                outputs.into_iter().zip(edges).collect()
            }
        };
        node.mark_ran();
        // Planted bugs: saved tensors kept after every backward, or released despite
        // retain_graph=True.
        #[cfg(feature = "planted-bugs")]
        let retain_graph = (retain_graph
            || rt.planted(crate::base::PlantedBug::BackwardKeepsSaved))
            && !rt.planted(crate::base::PlantedBug::RetainGraphIgnored);
        if !retain_graph {
            node.release_saved();
        }
        for (grad, edge) in outputs {
            let Some((next, _)) = edge else { continue };
            let j = index[&Rc::as_ptr(&next)];
            if let Some(g) = grad {
                buffers[j] = Some(match buffers[j].take() {
                    None => g,
                    Some(old) => accumulate_input(old, g)?,
                });
            }
            dependencies[j] -= 1;
            if dependencies[j] == 0 {
                pushed += 1;
                ready.push((next.sequence_nr(), Reverse(pushed), j));
            }
        }
    }
    Ok(())
}

/// Makes each gradient match its input's metadata (`validate_outputs`): reduce broadcast
/// dimensions with `sum_to`, then cast type and device.
fn validate_outputs(
    node: &Node,
    outputs: &mut [Option<Tensor>],
    edges: &[Option<(Rc<Node>, InputMeta)>],
) -> Result<()> {
    for (i, (out, edge)) in outputs.iter_mut().zip(edges).enumerate() {
        let (Some(g), Some((_, meta))) = (out.as_ref(), edge) else {
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
fn can_accumulate_inplace(t: &Tensor) -> bool {
    t.is_contiguous() && t.use_count() == 1 && t.storage_use_count() == 1
}

/// `InputBuffer::accumulate` with grad mode off: reuse whichever buffer is ours alone.
fn accumulate_input(old: Tensor, new: Tensor) -> Result<Tensor> {
    if can_accumulate_inplace(&old) {
        old.add_(&new)?;
        Ok(old)
    } else if can_accumulate_inplace(&new) {
        new.add_(&old)?;
        Ok(new)
    } else {
        old.add(&new)
    }
}

/// AccumulateGrad (accumulate_grad.h) with grad mode off: a first gradient is stolen when
/// nothing else holds it and its layout matches the variable's, else copied in the variable's
/// layout; a later one is added in place.
fn accumulate_grad(variable: &Tensor, new_grad: Tensor) -> Result<()> {
    let existing = variable.grad();
    match existing {
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
