//! `torch.autograd.graph.saved_tensors_hooks(pack_hook, unpack_hook)`, `save_on_cpu` and
//! `disable_saved_tensors_hooks`, as PyTorch 2.15 runs them (`torch/autograd/graph.py`,
//! `torch/csrc/autograd/saved_variable.cpp`, `aten/src/ATen/SavedTensorHooks.cpp`):
//!
//! - the innermost pair in effect when a node saves a tensor packs it: the node keeps what
//!   `pack_hook` returned instead of the tensor (a real leak source when the hook stores the
//!   tensor elsewhere, or returns it unchanged for an output: a cycle PyTorch's collector
//!   cannot see, pytorch#115255);
//! - backward calls `unpack_hook` on that object when the node runs, and the tensor it returns
//!   lives for the node's formula only; `grad_fn._saved_*` calls it too;
//! - releasing the node's saved tensors drops the packed object.
//!
//! `save_on_cpu` is run here, not through the program: its pack copies a device tensor to the
//! host (`tensor.cpu()`) and its unpack copies it back (`tensor.to(device)`), at the moments
//! PyTorch runs them. A program's own hooks are Python: a node saves the tensor as pending
//! ([`Runtime::defer_pack`]) and the program runs `pack_hook` on it when the operation returns
//! to it ([`take_pending_packs`]), in the order the tensors were saved.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::checkpoint::Packing;
use super::{Callbacks, Kind, Node, ProgramObject, SavedState};
use crate::base::{Device, Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::Tensor;

/// A pair of saved-tensor hooks put in effect by a `with` block.
pub enum SavedTensorsHooks {
    /// `torch.autograd.graph.save_on_cpu(pin_memory)`: saved device tensors go to the host
    /// (pinned or not, which only changes host memory), and come back as fresh device copies.
    ToHost {
        /// `pin_memory`.
        pin_memory: bool,
    },
    /// `saved_tensors_hooks(pack_hook, unpack_hook)` with the program's callables.
    Program {
        /// `pack_hook(tensor) -> Any`.
        pack: ProgramObject,
        /// `unpack_hook(packed) -> Tensor`.
        unpack: ProgramObject,
    },
}

impl std::fmt::Debug for SavedTensorsHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SavedTensorsHooks::ToHost { pin_memory } => f
                .debug_struct("ToHost")
                .field("pin_memory", pin_memory)
                .finish(),
            SavedTensorsHooks::Program { .. } => f.write_str("Program"),
        }
    }
}

/// What a node keeps for one tensor saved under hooks.
enum Packed {
    /// Waiting for the program's `pack_hook`.
    Pending(Tensor),
    /// What the program's `pack_hook` returned.
    Object(ProgramObject),
    /// `save_on_cpu`'s `(tensor.device, tensor.cpu())`.
    Host { device: Device, tensor: Tensor },
    /// Released by backward, or abandoned when a pack hook raised.
    Released,
}

/// One saved tensor under hooks: PyTorch's `SavedVariable` with `hooks_` set.
pub(crate) struct Hooked {
    hooks: Rc<SavedTensorsHooks>,
    packed: RefCell<Packed>,
    /// The unpacked tensor while its node's formula runs (a local of PyTorch's `apply`).
    unpacked: RefCell<Option<Tensor>>,
    /// Whether the node's own output was saved: unpacked, it gets the node as its history.
    pub(super) is_output: bool,
    /// The saved input's history (`save_metadata`'s `grad_fn_`), weakly: the node's edge
    /// holds it already.
    history: Option<(Weak<Node>, usize)>,
    /// A leaf's `requires_grad`, which the unpacked tensor gets back.
    requires_grad: bool,
    /// The saved tensor's sizes and dtype, which the formula's kernels rely on.
    shape: Vec<usize>,
    dtype: crate::base::DType,
}

/// A saved tensor waiting for the program's `pack_hook`.
pub struct PendingPack(Rc<Hooked>);

impl PendingPack {
    /// The tensor to pass to `pack_hook`: the saved tensor itself (an output with its
    /// history, as PyTorch passes it).
    pub fn tensor(&self) -> Option<Tensor> {
        match &*self.0.packed.borrow() {
            Packed::Pending(t) => Some(t.clone()),
            _ => None,
        }
    }

    /// The `pack_hook` in effect when the tensor was saved.
    pub fn pack_hook(&self) -> Option<ProgramObject> {
        match &*self.0.hooks {
            SavedTensorsHooks::Program { pack, .. } => Some(pack.clone()),
            SavedTensorsHooks::ToHost { .. } => None,
        }
    }

    /// Stores what `pack_hook` returned; the node no longer holds the tensor.
    pub fn fill(&self, packed: ProgramObject) {
        let old = self.0.packed.replace(Packed::Object(packed));
        drop(old);
    }

    /// `pack_hook` raised: the operation failed, and its node keeps nothing for this tensor.
    pub fn abandon(&self) {
        let old = self.0.packed.replace(Packed::Released);
        drop(old);
    }
}

/// Puts `hooks` in effect until the guard drops: PyTorch's
/// `_push_saved_tensors_default_hooks`, which fails with the message of a
/// `disable_saved_tensors_hooks` in effect.
pub fn push_saved_tensors_hooks(
    rt: &Runtime,
    hooks: SavedTensorsHooks,
) -> Result<super::SavedHookGuard> {
    if let Some(message) = rt.saved_tensor_hooks_disabled() {
        return Err(TensorError::Invalid(message.to_string()));
    }
    rt.push_saved_tensor_hook(Rc::new(super::checkpoint::SavedHook::Tensors(Rc::new(
        hooks,
    ))));
    Ok(super::SavedHookGuard(rt.clone()))
}

/// `torch._C._autograd._saved_tensors_hooks_disable(message)`: fails with `message` when
/// hooks are in effect already. Returns the message it replaced, for the caller to put back.
pub fn disable_saved_tensors_hooks(rt: &Runtime, message: &str) -> Result<Option<Rc<str>>> {
    if rt.saved_tensor_hook_depth() > 0 {
        return Err(TensorError::Invalid(message.to_string()));
    }
    let previous = rt.saved_tensor_hooks_disabled();
    rt.set_saved_tensor_hooks_disabled(Some(message.into()));
    Ok(previous)
}

/// Ends a `disable_saved_tensors_hooks` block, putting back the message it replaced.
pub fn restore_saved_tensors_hooks(rt: &Runtime, previous: Option<Rc<str>>) {
    rt.set_saved_tensor_hooks_disabled(previous);
}

/// The saved tensors waiting for the program's `pack_hook`, in save order.
pub fn take_pending_packs(rt: &Runtime) -> Vec<PendingPack> {
    rt.take_pending_packs()
        .into_iter()
        .filter_map(|p| p.downcast::<Hooked>().ok().map(PendingPack))
        .collect()
}

/// Saves `t` under `hooks` (PyTorch's `set_hooks_and_pack_data`): `save_on_cpu` packs at
/// once, under no_grad; the program's hooks wait for the program.
pub(super) fn pack(hooks: Rc<SavedTensorsHooks>, t: &Tensor, is_output: bool) -> Rc<Hooked> {
    let history = match (is_output, t.grad_fn()) {
        (false, Some(node)) => Some((Rc::downgrade(&node), t.output_nr())),
        _ => None,
    };
    let requires_grad = t.grad_fn().is_none() && t.requires_grad();
    let packed = match &*hooks {
        SavedTensorsHooks::ToHost { .. } => {
            let rt = t.runtime().clone();
            let _no_grad = rt.no_grad();
            match t.cpu() {
                Ok(host) => Packed::Host {
                    device: t.device(),
                    tensor: host,
                },
                // The copy fails only when the run is being stopped (its deadline or
                // interrupt); the node then keeps the tensor, and the run stops at the next
                // operation.
                Err(_) => Packed::Pending(t.clone()),
            }
        }
        SavedTensorsHooks::Program { .. } => Packed::Pending(t.clone()),
    };
    let program = matches!(&*hooks, SavedTensorsHooks::Program { .. });
    let hooked = Rc::new(Hooked {
        hooks,
        packed: RefCell::new(packed),
        unpacked: RefCell::new(None),
        is_output,
        history,
        requires_grad,
        shape: t.shape().to_vec(),
        dtype: t.dtype(),
    });
    if program {
        t.runtime().defer_pack(hooked.clone());
    }
    hooked
}

/// What unpacking a saved tensor under hooks needs from the program.
pub enum Unpack {
    /// Nothing: the tensor is here (`save_on_cpu`'s device copy, or a pack still pending).
    Tensor(Tensor),
    /// The program's `unpack_hook` on what its `pack_hook` returned.
    Program {
        /// `unpack_hook`.
        unpack: ProgramObject,
        /// What `pack_hook` returned.
        packed: ProgramObject,
    },
}

impl Hooked {
    /// The first step of unpacking: `save_on_cpu`'s copy back to the device, or what the
    /// program's `unpack_hook` needs. Released ones fail as PyTorch's `ERR_BACKWARD_TWICE`.
    pub(super) fn unpack(&self) -> Result<Unpack> {
        match &*self.packed.borrow() {
            Packed::Released => Err(TensorError::BackwardTwice),
            Packed::Pending(t) => Ok(Unpack::Tensor(t.clone())),
            Packed::Host { device, tensor } => {
                let rt = tensor.runtime().clone();
                let _no_grad = rt.no_grad();
                Ok(Unpack::Tensor(tensor.to(*device)?))
            }
            Packed::Object(packed) => match &*self.hooks {
                SavedTensorsHooks::Program { unpack, .. } => Ok(Unpack::Program {
                    unpack: unpack.clone(),
                    packed: packed.clone(),
                }),
                SavedTensorsHooks::ToHost { .. } => Err(TensorError::Invalid(
                    "save_on_cpu holds no program object".into(),
                )),
            },
        }
    }

    /// An `unpack_hook`'s tensor must have the saved tensor's sizes and dtype. PyTorch does
    /// not check it there; its backward kernels then fail on the mismatch or compute with it
    /// unchecked, which the kernels here cannot do safely (a fuzzer's find: a stash under one
    /// key for every saved tensor handed the loss's backward the wrong one).
    pub(super) fn check_unpacked(&self, data: &Tensor) -> Result<()> {
        if data.shape() == self.shape.as_slice() && data.dtype() == self.dtype {
            return Ok(());
        }
        Err(TensorError::Invalid(format!(
            "the saved tensor unpack_hook returned a tensor of size {} and dtype {} for a saved tensor of size {} and dtype {}; the backward formula cannot use it",
            crate::tensor::format_shape(data.shape()),
            data.dtype(),
            crate::tensor::format_shape(&self.shape),
            self.dtype
        )))
    }

    /// The unpacked tensor as PyTorch's `SavedVariable::unpack` returns it: with the saved
    /// input's history, the node's own for an output (`saved_for`), or a leaf's
    /// `requires_grad`.
    pub(super) fn with_history(&self, data: Tensor, saved_for: Option<Rc<Node>>) -> Tensor {
        let history = match &self.history {
            Some((node, nr)) => node.upgrade().map(|n| (n, *nr)),
            None if self.is_output => saved_for.map(|n| (n, 0)),
            None => None,
        };
        if history.is_none() && !self.requires_grad {
            return data;
        }
        let out = data.view_raw(
            data.shape().to_vec(),
            data.strides().to_vec(),
            data.0.offset,
        );
        out.0.requires_grad.set(true);
        if let Some((node, nr)) = history {
            out.set_grad_fn(Some(node));
            out.0.output_nr.set(nr);
        }
        out
    }

    /// Keeps `t` as the unpacked tensor for the node's formula.
    pub(super) fn set_unpacked(&self, t: Tensor) {
        let old = self.unpacked.replace(Some(t));
        drop(old);
    }

    /// The tensor unpacked for the formula now running.
    pub(super) fn unpacked(&self) -> Option<Tensor> {
        self.unpacked.borrow().clone()
    }

    /// The formula has run: its unpacked tensor dies with `apply`'s locals.
    pub(super) fn clear_unpacked(&self) {
        let old = self.unpacked.take();
        drop(old);
    }

    /// What the node holds for this tensor: a tensor (pending, or `save_on_cpu`'s host copy).
    pub(super) fn held_tensor(&self) -> Option<Tensor> {
        match &*self.packed.borrow() {
            Packed::Pending(t) | Packed::Host { tensor: t, .. } => Some(t.clone()),
            Packed::Object(_) | Packed::Released => None,
        }
    }

    /// What the node holds for this tensor: the program's packed object.
    pub(super) fn held_object(&self) -> Option<ProgramObject> {
        match &*self.packed.borrow() {
            Packed::Object(o) => Some(o.clone()),
            _ => None,
        }
    }

    /// Drops what the node holds (PyTorch's `reset_data`); returns a tensor the caller drops
    /// without recursing through its graph.
    pub(super) fn release(&self) -> Option<Tensor> {
        self.clear_unpacked();
        match self.packed.replace(Packed::Released) {
            Packed::Pending(t) | Packed::Host { tensor: t, .. } => Some(t),
            Packed::Object(o) => {
                drop(o);
                None
            }
            Packed::Released => None,
        }
    }
}

// What a node does with the tensors it saved under hooks (here rather than in `mod.rs`, which
// holds the rest of `Node`).

impl SavedState {
    /// How a node keeps `t` (its own output when `is_output`) under the innermost hook in
    /// effect; `None` when no hook is, and the tensor itself is kept.
    pub(super) fn under_hooks(rt: &Runtime, t: &Tensor, is_output: bool) -> Option<SavedState> {
        Some(match super::checkpoint::packing(rt, t) {
            Packing::Plain => return None,
            Packing::Holder(frame, at) => SavedState::Holder { frame, at },
            Packing::Dropped => SavedState::Released,
            Packing::Hooks(hooks) => SavedState::Hooked(pack(hooks, t, is_output)),
        })
    }
}

impl Node {
    /// The program's objects this node keeps for its saved tensors, with the edge a retention
    /// path shows: each checkpoint frame once (it keeps the function's inputs for the rerun)
    /// and what a `pack_hook` returned.
    pub fn kept_objects(&self) -> Vec<(String, ProgramObject)> {
        let mut kept: Vec<(String, ProgramObject)> = self
            .checkpoint_frames()
            .into_iter()
            .map(|f| ("checkpoint frame".to_string(), f.program().clone()))
            .collect();
        if let Kind::Function { saved, .. } = &self.kind {
            for s in saved.borrow().iter() {
                if let SavedState::Hooked(h) = &s.state {
                    if let Some(o) = h.held_object() {
                        kept.push((format!("saved {} (packed)", s.name), o));
                    }
                }
            }
        }
        kept
    }

    /// The tensors this node saved under saved-tensor hooks.
    fn hooked(&self) -> Vec<Rc<Hooked>> {
        match &self.kind {
            Kind::Function { saved, .. } => saved
                .borrow()
                .iter()
                .filter_map(|s| match &s.state {
                    SavedState::Hooked(h) => Some(h.clone()),
                    _ => None,
                })
                .collect(),
            Kind::AccumulateGrad { .. } => Vec::new(),
        }
    }

    /// `grad_fn._saved_<name>` when that tensor was saved under hooks: how to unpack it
    /// (which may need the program's `unpack_hook`); `None` when it was saved plainly.
    pub fn saved_under_hooks(self: &Rc<Self>, name: &str) -> Option<HookedSaved> {
        let Kind::Function { saved, .. } = &self.kind else {
            return None;
        };
        let saved = saved.borrow();
        match &saved.iter().find(|s| s.name == name)?.state {
            SavedState::Hooked(h) => Some(HookedSaved {
                slot: h.clone(),
                node: self.clone(),
            }),
            _ => None,
        }
    }

    /// Backward's unpacking of what this node saved under hooks, before its formula runs:
    /// `save_on_cpu`'s device copies, and the program's `unpack_hook` through `callbacks`.
    pub(crate) fn unpack_hooked(self: &Rc<Self>, callbacks: &mut dyn Callbacks) -> Result<()> {
        for h in self.hooked() {
            let data = match h.unpack()? {
                Unpack::Tensor(t) => t,
                Unpack::Program { unpack, packed } => callbacks.unpack_saved(&unpack, &packed)?,
            };
            h.check_unpacked(&data)?;
            h.set_unpacked(h.with_history(data, Some(self.clone())));
        }
        Ok(())
    }

    /// The formula has run: the tensors unpacked for it die, as `apply`'s locals do.
    pub(crate) fn clear_unpacked(&self) {
        for h in self.hooked() {
            h.clear_unpacked();
        }
    }
}

/// A tensor a node saved under hooks, as `grad_fn._saved_<name>` reads it.
pub struct HookedSaved {
    slot: Rc<Hooked>,
    node: Rc<Node>,
}

impl HookedSaved {
    /// The first step of unpacking: the tensor, or what the program's `unpack_hook` needs.
    pub fn unpack(&self) -> Result<Unpack> {
        self.slot.unpack()
    }

    /// The unpacked tensor with the history PyTorch gives it back.
    pub fn finish(&self, data: Tensor) -> Tensor {
        self.slot.with_history(data, Some(self.node.clone()))
    }
}
