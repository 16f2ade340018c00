//! Forward hooks of every module, library (`nn.Linear`, `nn.Sequential`, ...) or scenario
//! subclass, as `torch/nn/modules/module.py` (`register_forward_pre_hook`,
//! `register_forward_hook`, `_call_impl`) runs them:
//!
//! - a pre-hook is called as `hook(module, args)` (or `hook(module, args, kwargs)` with
//!   `with_kwargs=True`); what it returns, when not `None`, replaces the arguments (a single
//!   value becomes a 1-tuple; with kwargs it must be a pair `(args, kwargs)`);
//! - a hook is called as `hook(module, args, output)` (or `hook(module, args, kwargs, output)`)
//!   with the arguments after the pre-hooks; what it returns, when not `None`, replaces the
//!   output for the hooks after it and for the caller;
//! - `prepend=True` puts the hook before those already registered;
//! - the handle holds the hook list and the hook weakly, as `RemovableHandle` holds its dict:
//!   keeping handles keeps no hook alive, and `remove()` of a removed hook does nothing;
//! - `nn.Sequential` calls each child as `module(input)`, so its children's hooks fire.
//!
//! Each hook remembers the statement that registered it (with its interned Python stack), so
//! the leak checker can report a hook's captures at the registration, not at the model.
//!
//! Full backward hooks (`register_full_backward_hook`, `register_full_backward_pre_hook`) are
//! kept in the same way; `backward_hooks.rs` runs them.

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use super::super::dict::{Dict, DictKind, Key};
use super::super::objects::ModuleRef;
use super::super::pyobj::Native;
use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use crate::alloc::Location;
use crate::autograd::{push_hook, HookList, ProgramObject};
use crate::scenario::Span;

/// One registered module hook: the callable and how it was registered.
pub(crate) struct ModuleHook {
    /// The callable.
    pub(crate) hook: Value,
    /// `with_kwargs=True`: the hook also gets the keyword arguments.
    with_kwargs: bool,
    /// The statement that registered it, with its scenario call stack.
    pub(crate) registered_at: Option<Arc<Location>>,
}

/// The module methods that register hooks.
pub(crate) const REGISTER: [&str; 4] = [
    "register_forward_pre_hook",
    "register_forward_hook",
    "register_full_backward_pre_hook",
    "register_full_backward_hook",
];

/// A module's forward pre-hooks, forward hooks, backward pre-hooks and full backward hooks, in
/// calling order. Clones share the lists, as every handle on one module (`model` and
/// `model[0]`'s parent's child) is the same object.
#[derive(Clone, Default)]
pub struct ModuleHooks {
    pub(crate) forward_pre: HookList,
    pub(crate) forward: HookList,
    pub(crate) backward_pre: HookList,
    pub(crate) backward: HookList,
}

impl fmt::Debug for ModuleHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleHooks")
            .field("forward_pre", &self.forward_pre.borrow().len())
            .field("forward", &self.forward.borrow().len())
            .field("backward_pre", &self.backward_pre.borrow().len())
            .field("backward", &self.backward.borrow().len())
            .finish()
    }
}

/// Which of a module's hook lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// `_forward_pre_hooks`.
    ForwardPre,
    /// `_forward_hooks`.
    Forward,
    /// `_backward_pre_hooks`.
    BackwardPre,
    /// `_backward_hooks`.
    Backward,
}

impl HookKind {
    /// The attribute PyTorch keeps these hooks in.
    pub fn attribute(self) -> &'static str {
        match self {
            HookKind::ForwardPre => "_forward_pre_hooks",
            HookKind::Forward => "_forward_hooks",
            HookKind::BackwardPre => "_backward_pre_hooks",
            HookKind::Backward => "_backward_hooks",
        }
    }
}

/// A registered hook as the leak walk and the collector see it.
pub(crate) fn entry(o: &ProgramObject) -> Option<&ModuleHook> {
    o.downcast_ref::<ModuleHook>()
}

impl ModuleHooks {
    /// Whether no hook is registered.
    pub(crate) fn is_empty(&self) -> bool {
        self.lists().iter().all(|l| l.borrow().is_empty())
    }

    /// Whether a backward hook or backward pre-hook is registered: then calling the module
    /// wraps its inputs and outputs (`BackwardHook`).
    pub(crate) fn has_backward(&self) -> bool {
        !self.backward_pre.borrow().is_empty() || !self.backward.borrow().is_empty()
    }

    /// Every hook with its list and its index in the list, pre-hooks first.
    pub(crate) fn each(&self, visit: &mut dyn FnMut(HookKind, usize, &ModuleHook)) {
        for (kind, list) in [
            (HookKind::ForwardPre, &self.forward_pre),
            (HookKind::Forward, &self.forward),
            (HookKind::BackwardPre, &self.backward_pre),
            (HookKind::Backward, &self.backward),
        ] {
            let hooks = list.borrow().clone();
            for (i, h) in hooks.iter().enumerate() {
                if let Some(h) = entry(h) {
                    visit(kind, i, h);
                }
            }
        }
    }

    /// The lists, for the collector, which tracks them as containers.
    pub(crate) fn lists(&self) -> [&HookList; 4] {
        [
            &self.forward_pre,
            &self.forward,
            &self.backward_pre,
            &self.backward,
        ]
    }
}

/// The hooks of `v`, a module: a library module's own, or a scenario module's after its
/// `Module.__init__`.
pub(crate) fn hooks_of(v: &Value) -> Option<ModuleHooks> {
    match v {
        Value::Module(m) => Some(m.1.clone()),
        Value::Instance(i) => i.module.borrow().as_ref().map(|s| s.hooks.clone()),
        _ => None,
    }
}

/// `module.register_forward_pre_hook(hook, *, prepend=False, with_kwargs=False)`,
/// `module.register_forward_hook(hook, *, prepend=False, with_kwargs=False,
/// always_call=False)`, `register_full_backward_pre_hook(hook, prepend=False)` and
/// `register_full_backward_hook(hook, prepend=False)`: a `RemovableHandle`.
pub(crate) fn register(
    it: &mut Interp<'_>,
    recv: &Value,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let params: &'static [&'static str] = match name {
        "register_forward_pre_hook" => &["hook", "prepend", "with_kwargs"],
        "register_forward_hook" => &["hook", "prepend", "with_kwargs", "always_call"],
        _ => &["hook", "prepend"],
    };
    if args.pos.len() > 1 {
        return Err(it.raise(
            "TypeError",
            format!(
                "{name}() takes 2 positional arguments but {} were given",
                args.pos.len() + 1
            ),
            span,
        ));
    }
    let b = super::super::args::bound(it, args.bind(name, params, 1), span)?;
    let flag = |it: &mut Interp<'_>, key: &str| -> X<bool> {
        match b.raw(key) {
            None => Ok(false),
            Some(v) => it.truthy(v, span),
        }
    };
    let prepend = flag(it, "prepend")?;
    let with_kwargs = flag(it, "with_kwargs")?;
    if flag(it, "always_call")? {
        let f = it
            .fail(
                span,
                "NotImplementedError: register_forward_hook(always_call=True) is not supported in scenarios".to_string(),
            )
            .with_help("register the hook without always_call; see docs/scenarios.md");
        return it.lift(Err(f));
    }
    let Some(hooks) = hooks_of(recv) else {
        return Err(it.raise(
            "AttributeError",
            format!(
                "'{}' object has no attribute '_forward_hooks'",
                recv.type_name()
            ),
            span,
        ));
    };
    let hook = b.raw("hook").cloned().unwrap_or(Value::None);
    let registered_at = it.rt.allocator_cell().borrow().location().cloned();
    let entry: ProgramObject = Rc::new(ModuleHook {
        hook,
        with_kwargs,
        registered_at,
    });
    let list = match name {
        "register_forward_pre_hook" => &hooks.forward_pre,
        "register_forward_hook" => &hooks.forward,
        "register_full_backward_pre_hook" => &hooks.backward_pre,
        _ => &hooks.backward,
    };
    it.gc.track_hooks(list);
    let handle = push_hook(list, entry, prepend);
    #[cfg(feature = "planted-bugs")]
    let handle = if it.rt.planted(crate::base::PlantedBug::HookRemoveKeepsHook) {
        handle.keeping_hook()
    } else {
        handle
    };
    Ok(Value::Native(Rc::new(Native::TensorHookHandle(handle))))
}

/// The hooks of one list, as they are when the call starts: a hook that registers or removes
/// hooks changes the next call, not this one, as iterating a copy of PyTorch's dict does.
fn snapshot(list: &HookList) -> Vec<ProgramObject> {
    list.borrow().clone()
}

fn kwargs_dict(kw: &[(String, Value)]) -> Value {
    let d = Dict::shared(DictKind::Plain);
    for (k, v) in kw {
        d.borrow_mut().insert(
            Key::Str(k.as_str().into()),
            Value::Str(k.as_str().into()),
            v.clone(),
        );
    }
    Value::Dict(d)
}

/// `module(*args, **kwargs)` with its forward pre-hooks and forward hooks around `forward`.
pub(crate) fn call_with_hooks(
    it: &mut Interp<'_>,
    module: &Value,
    hooks: &ModuleHooks,
    mut args: CallArgs,
    span: Span,
    forward: &mut dyn FnMut(&mut Interp<'_>, CallArgs) -> X<Value>,
) -> X<Value> {
    for h in snapshot(&hooks.forward_pre) {
        let Some(h) = entry(&h) else { continue };
        let positional = Value::Tuple(Rc::new(args.pos.clone()));
        if h.with_kwargs {
            let call = vec![module.clone(), positional, kwargs_dict(&args.kw)];
            let r = it.call(h.hook.clone(), CallArgs::positional(call), span)?;
            match r {
                Value::None => {}
                Value::Tuple(pair) if pair.len() == 2 => {
                    let new_args = it.collect(pair[0].clone(), span)?;
                    let mut kw = Vec::new();
                    for (k, v) in it.mapping_items(&pair[1], span)? {
                        kw.push((it.str_of(&k, span)?, v));
                    }
                    args = CallArgs { pos: new_args, kw };
                }
                other => {
                    let shown = super::super::value::repr(&other);
                    return Err(it.raise(
                        "RuntimeError",
                        format!(
                            "forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got {shown}."
                        ),
                        span,
                    ));
                }
            }
        } else {
            let r = it.call(
                h.hook.clone(),
                CallArgs::positional(vec![module.clone(), positional]),
                span,
            )?;
            match r {
                Value::None => {}
                Value::Tuple(t) => args.pos = t.as_ref().clone(),
                other => args.pos = vec![other],
            }
        }
    }
    let backward_hook = if hooks.has_backward() {
        let (hook, wrapped) =
            super::backward_hooks::setup_input(it, module, hooks, args.pos, span)?;
        args.pos = wrapped;
        Some(hook)
    } else {
        None
    };
    let positional = Value::Tuple(Rc::new(args.pos.clone()));
    let kwargs = args.kw.clone();
    let mut out = forward(it, args)?;
    for h in snapshot(&hooks.forward) {
        let Some(h) = entry(&h) else { continue };
        let call = if h.with_kwargs {
            vec![
                module.clone(),
                positional.clone(),
                kwargs_dict(&kwargs),
                out.clone(),
            ]
        } else {
            vec![module.clone(), positional.clone(), out.clone()]
        };
        let r = it.call(h.hook.clone(), CallArgs::positional(call), span)?;
        if !matches!(r, Value::None) {
            out = r;
        }
    }
    if let Some(hook) = backward_hook {
        out = super::backward_hooks::setup_output(it, hook, out, span)?;
    }
    Ok(out)
}

/// Whether `m` or a module inside it has a hook: only then does calling it go through the
/// engine, child by child.
fn hooked_within(m: &ModuleRef) -> bool {
    !m.1.is_empty() || m.children().is_some_and(|c| c.iter().any(hooked_within))
}

/// `module(*args)` of a library module. Without hooks in it, the runtime runs it whole; with
/// them, as `_call_impl` does: hooks around `forward`, and `nn.Sequential`'s `forward` calling
/// each child as `module(input)`, so that its children's hooks run too.
pub(crate) fn call_library_module(
    it: &mut Interp<'_>,
    m: &ModuleRef,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    if !hooked_within(m) {
        let r = super::super::torch::call_module(it, m, args, span);
        return it.lift(r);
    }
    let module = Value::Module(m.clone());
    call_with_hooks(it, &module, &m.1, args, span, &mut |it, args| match (
        m.children(),
        args.pos.as_slice(),
    ) {
        (Some(children), [input]) if args.kw.is_empty() => {
            let mut h = input.clone();
            for c in children {
                h = call_library_module(it, c, CallArgs::positional(vec![h]), span)?;
            }
            Ok(h)
        }
        _ => {
            let r = super::super::torch::call_module(it, m, args, span);
            it.lift(r)
        }
    })
}
