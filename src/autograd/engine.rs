//! The backward pass, following `torch/csrc/autograd/engine.cpp`: find the nodes reachable
//! from the root and count their dependencies, then run ready nodes latest-created first
//! (AccumulateGrad before anything else), summing gradients that meet in a node's input
//! buffer. The order matters because it decides when each gradient and saved tensor is freed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;

use super::{gradient_edge, InputMeta, Kind, Node};
use crate::alloc::Purpose;
use crate::tensor::{format_shape, Result, Tensor, TensorError};

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

    let mut dependencies: HashMap<Key, usize> = HashMap::new();
    let mut seen: HashMap<Key, Rc<Node>> = HashMap::new();
    let mut stack = vec![edge.node.clone()];
    seen.insert(Rc::as_ptr(&edge.node), edge.node.clone());
    while let Some(node) = stack.pop() {
        for (next, _) in node.edge_nodes().into_iter().flatten() {
            let key = Rc::as_ptr(&next);
            *dependencies.entry(key).or_insert(0) += 1;
            if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(key) {
                e.insert(next.clone());
                stack.push(next);
            }
        }
    }

    let mut buffers: HashMap<Key, Tensor> = HashMap::new();
    // Ties (AccumulateGrad nodes all have the highest number) run in the order they became
    // ready, so the schedule never depends on addresses and is the same on every backend.
    let mut ready = BinaryHeap::new();
    let mut pushed = 0u64;
    let root_key = Rc::as_ptr(&edge.node);
    buffers.insert(root_key, grad);
    ready.push((edge.node.sequence_nr(), Reverse(pushed), root_key as usize));
    drop(edge);

    while let Some((_, _, key)) = ready.pop() {
        let key = key as Key;
        let node = seen[&key].clone();
        let input = buffers.remove(&key);
        let outputs = match (&node.kind, input) {
            (_, None) => Vec::new(),
            (Kind::AccumulateGrad { variable }, Some(g)) => {
                let variable = variable.borrow().clone();
                if let Some(v) = variable {
                    accumulate_grad(&v, g)?;
                }
                Vec::new()
            }
            (Kind::Function { .. }, Some(g)) => {
                let edges = node.edge_nodes();
                let needs: Vec<bool> = edges.iter().map(Option::is_some).collect();
                let formula = node.formula().expect("function nodes have a formula");
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
            || rt.planted(crate::runtime::PlantedBug::BackwardKeepsSaved))
            && !rt.planted(crate::runtime::PlantedBug::RetainGraphIgnored);
        if !retain_graph {
            node.release_saved();
        }
        for (grad, edge) in outputs {
            let Some((next, _)) = edge else { continue };
            let next_key = Rc::as_ptr(&next);
            if let Some(g) = grad {
                match buffers.remove(&next_key) {
                    None => {
                        buffers.insert(next_key, g);
                    }
                    Some(old) => {
                        let sum = accumulate_input(old, g)?;
                        buffers.insert(next_key, sum);
                    }
                }
            }
            let deps = dependencies
                .get_mut(&next_key)
                .expect("counted during discovery");
            *deps -= 1;
            if *deps == 0 {
                pushed += 1;
                ready.push((next.sequence_nr(), Reverse(pushed), next_key as usize));
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
