//! The saved-tensor hooks of non-reentrant checkpointing, as `torch/utils/checkpoint.py`
//! (2.15) installs them with `torch.autograd.graph.saved_tensors_hooks`:
//!
//! - in forward (`_checkpoint_hook`), every tensor a node would save is packed into an empty
//!   holder: the node is recorded as usual but keeps no tensor, and the checkpoint's frame
//!   keeps the function and its inputs to run it again;
//! - at backward, the first unpack of a holder reruns the function (`_recomputation_hook`):
//!   the k-th tensor the rerun saves fills the k-th holder, and the rerun's own graph is
//!   dropped. PyTorch stops the rerun as soon as every holder is filled (`early_stop`); here
//!   it runs to the end, which only adds temporaries.
//!
//! A node's saved slot then points at the frame ([`SavedHook`]), which the leak walker follows
//! to the inputs the frame keeps.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::saved_hooks::SavedTensorsHooks;
use super::ProgramObject;
use crate::base::{Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::Tensor;

/// One `checkpoint(...)` call: the program's means to rerun it, and what the rerun saved.
pub struct CheckpointFrame {
    program: ProgramObject,
    /// The holders handed out in forward, in order.
    packed: Cell<usize>,
    /// What the rerun saved, by pack order; cleared as the nodes release them.
    recomputed: RefCell<Vec<Option<Tensor>>>,
    ran: Cell<bool>,
}

impl std::fmt::Debug for CheckpointFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointFrame")
            .field("packed", &self.packed.get())
            .field("ran", &self.ran.get())
            .finish_non_exhaustive()
    }
}

impl CheckpointFrame {
    /// A frame whose rerun the program's [`super::Callbacks::recompute`] knows from
    /// `program` (the function and its inputs, which the frame keeps alive).
    pub fn new(program: ProgramObject) -> Rc<CheckpointFrame> {
        Rc::new(CheckpointFrame {
            program,
            packed: Cell::new(0),
            recomputed: RefCell::new(Vec::new()),
            ran: Cell::new(false),
        })
    }

    /// What the program gave to rerun the function.
    pub fn program(&self) -> &ProgramObject {
        &self.program
    }

    /// Whether the rerun has happened.
    pub fn recomputed(&self) -> bool {
        self.ran.get()
    }

    fn hand_out(&self) -> usize {
        let at = self.packed.get();
        self.packed.set(at + 1);
        at
    }

    /// The tensor the rerun saved for holder `at`.
    pub(crate) fn slot(&self, at: usize) -> Option<Tensor> {
        self.recomputed.borrow().get(at).cloned().flatten()
    }

    pub(crate) fn release(&self, at: usize) {
        let old = self
            .recomputed
            .borrow_mut()
            .get_mut(at)
            .and_then(Option::take);
        drop(old);
    }

    /// The end of the backward pass that reran the function: what it recomputed is freed, and
    /// the next pass (of a retained graph) reruns it.
    pub(crate) fn reset(&self) {
        self.ran.set(false);
        let old = std::mem::take(&mut *self.recomputed.borrow_mut());
        drop(old);
    }

    fn fill(&self, t: &Tensor) {
        let mut slots = self.recomputed.borrow_mut();
        // Saves beyond the holders (the rerun running past PyTorch's early stop) are dropped.
        if slots.len() < self.packed.get() {
            slots.push(Some(t.detach()));
        }
    }
}

/// A saved-tensor hook in effect on a runtime.
pub(crate) enum SavedHook {
    /// Forward of a checkpointed function: saves become holders of this frame.
    Pack(Rc<CheckpointFrame>),
    /// The rerun of this frame's function: saves fill its holders.
    Recompute(Rc<CheckpointFrame>),
    /// `saved_tensors_hooks` / `save_on_cpu` of the program.
    Tensors(Rc<SavedTensorsHooks>),
}

/// How a node keeps one tensor it saves, under the innermost hook in effect.
pub(crate) enum Packing {
    /// No hook: the tensor itself.
    Plain,
    /// Forward of a checkpoint: holder `at` of the frame, the tensor left out.
    Holder(Rc<CheckpointFrame>, usize),
    /// A checkpoint's rerun: the tensor went to the frame, the rerun's node keeps nothing.
    Dropped,
    /// The program's saved-tensor hooks.
    Hooks(Rc<SavedTensorsHooks>),
}

/// How a node keeps `t` under the innermost hook.
pub(crate) fn packing(rt: &Runtime, t: &Tensor) -> Packing {
    let Some(hook) = rt.saved_tensor_hook() else {
        return Packing::Plain;
    };
    match hook.downcast_ref::<SavedHook>() {
        None => Packing::Plain,
        Some(SavedHook::Pack(frame)) => Packing::Holder(frame.clone(), frame.hand_out()),
        Some(SavedHook::Recompute(frame)) => {
            frame.fill(t);
            Packing::Dropped
        }
        Some(SavedHook::Tensors(hooks)) => Packing::Hooks(hooks.clone()),
    }
}

/// Keeps a saved-tensor hook in effect until dropped.
#[must_use = "the hook ends when the guard is dropped"]
pub struct SavedHookGuard(pub(super) Runtime);

impl Drop for SavedHookGuard {
    fn drop(&mut self) {
        self.0.pop_saved_tensor_hook();
    }
}

/// Runs the forward of a checkpointed function: until the guard drops, what nodes save is
/// packed into `frame`'s holders. Fails, as PyTorch's `saved_tensors_hooks` does, inside
/// `disable_saved_tensors_hooks`.
pub fn checkpoint_forward(rt: &Runtime, frame: &Rc<CheckpointFrame>) -> Result<SavedHookGuard> {
    if let Some(message) = rt.saved_tensor_hooks_disabled() {
        return Err(TensorError::Invalid(message.to_string()));
    }
    rt.push_saved_tensor_hook(Rc::new(SavedHook::Pack(frame.clone())));
    Ok(SavedHookGuard(rt.clone()))
}

/// Runs the rerun of `frame`'s function: until the guard drops, what nodes save fills the
/// frame's holders in order. The frame counts as recomputed from here.
pub fn checkpoint_recompute(rt: &Runtime, frame: &Rc<CheckpointFrame>) -> SavedHookGuard {
    frame.ran.set(true);
    rt.push_saved_tensor_hook(Rc::new(SavedHook::Recompute(frame.clone())));
    SavedHookGuard(rt.clone())
}
