//! In-place operations on views of tensors in a graph: PyTorch's `CopySlices`
//! (torch/csrc/autograd/functions/tensor.cpp) and `rebase_history`
//! (torch/csrc/autograd/variable.cpp), checked against torch 2.15.
//!
//! `out[i, :n] = seq` (or `x[:, 0].mul_(2)`, `x.narrow(..).copy_(y)`) writes into the base's
//! storage, so the base's gradient must go through the operation. The operation's node `fn`
//! is made as for any in-place operation, its first input being the view; then the base's
//! `grad_fn` becomes a `CopySlices` that owns `fn` and keeps the base's and the view's
//! geometry (sizes, strides, offset), no tensor. Its edges are the base's previous history and
//! `fn`'s edges past the first. The view's own history becomes `AsStridedBackward0` of the
//! base (what 2.15 shows as `v.grad_fn`), which saves sizes, strides and an offset, no tensor.
//!
//! Backward of `CopySlices` (`apply_impl`): a new tensor of the base's geometry holding the
//! gradient, the view's slice of it cloned contiguous and handed to `fn`, `fn`'s gradient for
//! the view copied back into the slice; the new tensor is the base's previous history's
//! gradient, `fn`'s other gradients go to its other inputs. Releasing the node (a backward
//! without `retain_graph`) drops `fn`, and with it what `fn` saved.

use std::cell::RefCell;
use std::rc::Rc;

use super::{gradient_edge, Backward, Edge, Formula, Kind, Node, NodeBuilder};
use crate::base::{Result, TensorError};
use crate::tensor::Tensor;

/// Where a tensor lies in its storage: sizes, strides and offset, in elements
/// (`at::TensorGeometry`).
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

impl Geometry {
    fn of(t: &Tensor) -> Geometry {
        Geometry {
            shape: t.shape().to_vec(),
            strides: t.strides().to_vec(),
            offset: t.storage_offset(),
        }
    }

    /// Elements a storage must hold for this geometry from `offset` on
    /// (`_min_storage_size`): 0 when any size is 0.
    fn min_storage(&self, offset: usize) -> usize {
        if self.shape.contains(&0) {
            return 0;
        }
        offset
            + 1
            + self
                .shape
                .iter()
                .zip(&self.strides)
                .map(|(&n, &s)| (n - 1) * s)
                .sum::<usize>()
    }

    /// Whether two elements share an address (a broadcast view): `copy_` into such a view
    /// and `as_strided_backward`'s scatter differ from a plain copy.
    fn overlaps(&self) -> bool {
        self.shape
            .iter()
            .zip(&self.strides)
            .any(|(&n, &s)| n > 1 && s == 0)
    }
}

/// The base's `grad_fn` after an in-place operation with grad on one of its views.
pub(crate) struct CopySlices {
    base: Geometry,
    view: Geometry,
    /// The in-place operation's node; `None` once backward released it.
    wrapped: RefCell<Option<Rc<Node>>>,
}

impl CopySlices {
    /// `CopySlices::apply_impl`: the gradients of the base's previous history (input 0) and
    /// of the wrapped node's other inputs.
    pub(crate) fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let wrapped = self
            .wrapped
            .borrow()
            .clone()
            .ok_or(TensorError::BackwardTwice)?;
        let Kind::Function {
            backward: Backward::Formula(formula),
            ..
        } = &wrapped.kind
        else {
            return Err(TensorError::Invalid(
                "CopySlices wraps a built-in operation's node".into(),
            ));
        };
        wrapped.check_saved()?;
        // result = grad.new_empty_strided(base sizes, base strides); result.copy_(grad)
        let result = grad.empty_strided_like(&self.base.shape, &self.base.strides)?;
        result.copy_values_from(grad)?;
        let grad_slice = result.as_strided_view(
            &self.view.shape,
            &self.view.strides,
            self.view.offset - self.base.offset,
        );
        // fn gets a contiguous clone of the slice, freed when fn's backward returns.
        let res = {
            let slice = grad_slice.contiguous_copy()?;
            formula.apply(&wrapped, &slice, needs)?
        };
        let mut out = vec![None; needs.len()];
        for (i, r) in res.iter().enumerate() {
            let (true, Some(r)) = (needs.get(i).copied().unwrap_or(false), r) else {
                continue;
            };
            if i == 0 {
                grad_slice.copy_values_from(r)?;
                out[0] = Some(result.clone());
            } else {
                out[i] = Some(r.clone());
            }
        }
        Ok(out)
    }

    /// `release_variables`: drops the wrapped node, and what it saved.
    pub(crate) fn release(&self) {
        if let Some(node) = self.wrapped.borrow_mut().take() {
            super::drop_graph(node);
        }
    }

    /// The wrapped node, moved out for an iterative drop of the graph.
    pub(crate) fn take_wrapped(&mut self) -> Option<Rc<Node>> {
        self.wrapped.get_mut().take()
    }
}

/// AsStridedBackward0: the history of a view after an in-place operation on it, from its
/// base's CopySlices. Keeps the base's geometry and the view's (no tensor).
#[derive(Debug, Clone)]
pub(crate) struct AsStrided {
    base: Geometry,
    view: Geometry,
}

impl AsStrided {
    /// `as_strided_backward` (FunctionsManual.cpp) for a view without overlapping elements:
    /// zeros of the storage both geometries span, the gradient copied in where the view lies,
    /// and the base's geometry of that storage as the result (one allocation).
    pub(crate) fn backward(&self, grad: &Tensor) -> Result<Tensor> {
        let shared = self.base.offset.min(self.view.offset);
        let (inp, out) = (self.base.offset - shared, self.view.offset - shared);
        let size = self.base.min_storage(inp).max(self.view.min_storage(out));
        let storage = grad.zeros_with_len(size)?;
        storage
            .as_strided_view(&self.view.shape, &self.view.strides, out)
            .copy_values_from(grad)?;
        Ok(storage.as_strided_view(&self.base.shape, &self.base.strides, inp))
    }
}

impl NodeBuilder {
    /// This in-place operation writes into `view`, a view of `base`: [`NodeBuilder::finish`]
    /// makes the base's history a CopySlices wrapping the operation's node. A view whose
    /// elements overlap (a broadcast) is refused with PyTorch's message for writing into one.
    pub(crate) fn rebasing(mut self, view: &Tensor, base: Tensor) -> Result<NodeBuilder> {
        if Geometry::of(view).overlaps() {
            return Err(TensorError::Invalid(
                "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.".into(),
            ));
        }
        self.rebase = Some(base);
        Ok(self)
    }
}

/// `rebase_history(view, fn)`: `base`'s history becomes a CopySlices owning `wrapped`, the
/// view's an AsStridedBackward0 of the base.
pub(super) fn rebase_history(wrapped: Rc<Node>, view: &Tensor, base: &Tensor) {
    let rt = base.runtime().clone();
    let geometry = (Geometry::of(base), Geometry::of(view));
    let mut edges: Vec<Option<Edge>> = vec![gradient_edge(base)];
    if let Kind::Function {
        edges: fn_edges, ..
    } = &wrapped.kind
    {
        edges.extend(fn_edges.borrow().iter().skip(1).map(|e| {
            e.as_ref().map(|e| Edge {
                node: e.node.clone(),
                input_nr: e.input_nr,
                meta: e.meta.clone(),
            })
        }));
    }
    let copy_slices = Node::new(
        &rt,
        Kind::Function {
            backward: Backward::CopySlices(CopySlices {
                base: geometry.0.clone(),
                view: geometry.1.clone(),
                wrapped: RefCell::new(Some(wrapped)),
            }),
            edges: RefCell::new(edges),
            saved: RefCell::new(Vec::new()),
        },
    )
    .shared();
    base.0.requires_grad.set(true);
    base.0.output_nr.set(0);
    base.set_grad_fn(Some(copy_slices));
    // `self.grad_fn()` in rebase_history regenerates the view's history at once.
    let as_strided = Node::new(
        &rt,
        Kind::Function {
            backward: Backward::Formula(Formula::AsStrided(AsStrided {
                base: geometry.0,
                view: geometry.1,
            })),
            edges: RefCell::new(vec![gradient_edge(base)]),
            saved: RefCell::new(Vec::new()),
        },
    )
    .shared();
    view.0.requires_grad.set(true);
    view.0.output_nr.set(0);
    view.set_grad_fn(Some(as_strided));
}

impl Node {
    /// For a CopySlices node: the in-place operation's node it owns, with what that node saved,
    /// until backward releases it. It is not one of the node's edges, so whoever walks the
    /// graph for what it holds (the checker) asks for it here.
    pub fn wrapped_node(&self) -> Option<Rc<Node>> {
        match &self.kind {
            Kind::Function {
                backward: Backward::CopySlices(c),
                ..
            } => c.wrapped.borrow().clone(),
            _ => None,
        }
    }
}
