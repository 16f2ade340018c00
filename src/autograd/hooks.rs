//! Hooks on a tensor's gradient (`tensor.register_hook`) and the lists and removable handles
//! they share with module hooks: a non-leaf's hooks live on its `grad_fn`, a leaf's on the
//! leaf.

use std::any::Any;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::ProgramObject;
use crate::base::{Result, TensorError};
use crate::tensor::Tensor;

/// Hooks of one tensor (or one module's hooks of one kind), in registration order, shared
/// with the handles that remove them.
pub(crate) type HookList = Rc<RefCell<Vec<ProgramObject>>>;

/// What `tensor.register_hook(hook)` returns: `remove()` takes the hook off the tensor (or
/// its `grad_fn`) again. It holds neither, as PyTorch's `RemovableHandle` holds its dict weakly.
#[derive(Debug, Clone)]
pub struct HookHandle {
    list: Weak<RefCell<Vec<ProgramObject>>>,
    hook: Weak<dyn Any>,
    /// `PlantedBug::HookRemoveKeepsHook`: `remove()` leaves the hook registered.
    #[cfg(feature = "planted-bugs")]
    keeps_hook: bool,
}

impl HookHandle {
    /// `handle.remove()`: drops the hook; a second call, or one after the tensor died, does
    /// nothing.
    pub fn remove(&self) {
        #[cfg(feature = "planted-bugs")]
        if self.keeps_hook {
            return;
        }
        let Some(list) = self.list.upgrade() else {
            return;
        };
        let removed: Vec<ProgramObject> = {
            let mut hooks = list.borrow_mut();
            let (gone, kept) = hooks
                .drain(..)
                .partition(|h| Weak::ptr_eq(&Rc::downgrade(h), &self.hook));
            *hooks = kept;
            gone
        };
        // Dropped after the borrow: the hook's closure may hold the last handle of anything.
        drop(removed);
    }
}

fn register(slot: &RefCell<Option<HookList>>, hook: ProgramObject) -> HookHandle {
    let list = slot
        .borrow_mut()
        .get_or_insert_with(Default::default)
        .clone();
    push_hook(&list, hook, false)
}

/// Adds `hook` to `list` (at the front when `prepend`, as `register_forward_hook(prepend=True)`
/// does) and returns the handle that removes it.
pub(crate) fn push_hook(list: &HookList, hook: ProgramObject, prepend: bool) -> HookHandle {
    let handle = HookHandle {
        list: Rc::downgrade(list),
        hook: Rc::downgrade(&hook),
        #[cfg(feature = "planted-bugs")]
        keeps_hook: false,
    };
    if prepend {
        list.borrow_mut().insert(0, hook);
    } else {
        list.borrow_mut().push(hook);
    }
    handle
}

#[cfg(feature = "planted-bugs")]
impl HookHandle {
    /// This handle with [`PlantedBug::HookRemoveKeepsHook`](crate::base::PlantedBug) planted:
    /// its `remove()` does nothing.
    pub(crate) fn keeping_hook(self) -> HookHandle {
        HookHandle {
            keeps_hook: true,
            ..self
        }
    }
}

pub(super) fn hooks_of(slot: &RefCell<Option<HookList>>) -> Vec<ProgramObject> {
    slot.borrow()
        .as_ref()
        .map(|l| l.borrow().clone())
        .unwrap_or_default()
}

impl Tensor {
    /// `tensor.register_hook(hook)`: `hook` runs on the tensor's gradient during backward
    /// (through [`Callbacks::tensor_hook`]) and may replace it. On a tensor with a `grad_fn`
    /// the node keeps the hook, as PyTorch's `tensor_pre_hooks`; on a leaf, the tensor does.
    pub fn register_hook(&self, hook: ProgramObject) -> Result<HookHandle> {
        if !self.requires_grad() {
            return Err(TensorError::Invalid(
                "cannot register a hook on a tensor that doesn't require gradient".into(),
            ));
        }
        Ok(match self.grad_fn() {
            Some(node) => register(&node.hooks[self.output_nr()], hook),
            None => register(&self.0.hooks, hook),
        })
    }

    /// The hooks a leaf keeps (a non-leaf's are its `grad_fn`'s, [`Node::hooks`]).
    pub fn hooks(&self) -> Vec<ProgramObject> {
        hooks_of(&self.0.hooks)
    }
}
