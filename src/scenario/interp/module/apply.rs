//! `module.to(device)`, `.cuda()`, `.cpu()` and the dtype conversions of scenario modules in
//! `nn.Module._apply`'s order (`torch/nn/modules/module.py`): each child first, recursively,
//! in registration order; then the module's own parameters, each followed by its `.grad`;
//! then its own buffers. A library module inside the tree moves itself in the same order
//! (`Module::to`, [`crate::nn::apply_order`]). A module or tensor reached twice (shared) is
//! visited once: the second visit would find it converted already and copy nothing.

use std::collections::HashSet;

use super::super::objects::ModuleRef;
use super::super::value::Value;
use super::super::{Interp, X};
use super::tree::{children, own_tensors};
use crate::alloc::Purpose;
use crate::base::Device;
use crate::scenario::Span;
use crate::tensor::Tensor;

/// One step of `_apply`.
pub(super) enum Step {
    /// A library module (no scenario children): it converts its own tensors.
    Library(ModuleRef),
    /// A parameter (its gradient follows it) or a buffer of a scenario module.
    Tensor(Tensor),
}

/// The steps of `_apply` over `m`'s tree.
pub(super) fn steps(m: &Value) -> Vec<Step> {
    let mut out = Vec::new();
    visit(m, &mut HashSet::new(), &mut HashSet::new(), &mut out);
    out
}

fn visit(
    m: &Value,
    modules: &mut HashSet<usize>,
    tensors: &mut HashSet<usize>,
    out: &mut Vec<Step>,
) {
    if let Some(id) = m.identity() {
        if !modules.insert(id) {
            return;
        }
    }
    for (_, child) in children(m) {
        visit(&child, modules, tensors, out);
    }
    match m {
        Value::Module(lib) if lib.children().is_none() => out.push(Step::Library(lib.clone())),
        Value::Instance(_) => {
            for (_, t) in own_tensors(m, false)
                .into_iter()
                .chain(own_tensors(m, true))
            {
                if let Value::Tensor(t) = t {
                    if tensors.insert(t.id()) {
                        out.push(Step::Tensor(t));
                    }
                }
            }
        }
        _ => {}
    }
}

/// Moves `recv`'s tree to `device`: a parameter keeps its identity and takes the copy as its
/// data (`param.data = fn(param)`), then its gradient does the same.
pub(super) fn move_to(it: &mut Interp<'_>, recv: &Value, device: Device, span: Span) -> X<()> {
    for step in steps(recv) {
        match step {
            Step::Library(lib) => {
                let r = lib.to(device).map_err(|e| it.tensor_error(span, e));
                it.lift(r)?;
            }
            Step::Tensor(t) => {
                let _no_grad = it.rt.no_grad();
                if t.device() != device {
                    let moved = t.to(device).map_err(|e| it.tensor_error(span, e));
                    let moved = it.lift(moved)?;
                    let r = t.set_data(&moved).map_err(|e| it.tensor_error(span, e));
                    it.lift(r)?;
                }
                if let Some(g) = t.grad().filter(|g| g.device() != device) {
                    let r = g
                        .copy_for(device, Purpose::Gradient)
                        .and_then(|moved| g.set_data(&moved))
                        .map_err(|e| it.tensor_error(span, e));
                    it.lift(r)?;
                }
            }
        }
    }
    Ok(())
}

/// The tensors a dtype conversion of `recv` visits, in `_apply`'s order, a library module's
/// own in theirs.
pub(super) fn tensors(recv: &Value) -> Vec<Tensor> {
    let mut out = Vec::new();
    for step in steps(recv) {
        match step {
            Step::Library(lib) => {
                let mut named = lib.named_parameters();
                named.extend(lib.named_buffers());
                out.extend(crate::nn::apply_order(named).into_iter().map(|(_, t)| t));
            }
            Step::Tensor(t) => out.push(t),
        }
    }
    out
}
