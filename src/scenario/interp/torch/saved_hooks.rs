//! `torch.autograd.graph`: `saved_tensors_hooks(pack_hook, unpack_hook)`, `save_on_cpu(
//! pin_memory=False, device_type="cuda")` and `disable_saved_tensors_hooks(error_message)`,
//! context managers over the runtime's saved-tensor hooks (`crate::autograd`, "saved_hooks";
//! `docs/autograd.md`, "Saved-tensor hooks").
//!
//! A node saves a tensor inside a Rust operation, which cannot call back into the program; the
//! runtime queues it, and [`run_pack_hooks`] runs `pack_hook` on each queued tensor when the
//! expression that ran the operation returns, in save order, under `no_grad`, as PyTorch runs
//! it inside the operation. `unpack_hook` runs from the engine's callbacks at backward and on
//! `grad_fn._saved_*`.

use std::rc::Rc;

use super::super::args::{bound, CallArgs};
use super::super::autograd::{hold, program_value};
use super::super::pyobj::Native;
use super::super::value::Value;
use super::super::{Interp, X};
use super::{entry, Function, Run};
use crate::autograd::{self as engine, HookedSaved, ProgramObject, SavedHookGuard, Unpack};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// `torch.autograd.graph.*`.
pub(super) const GRAPH: &[Function] = &[
    entry("saved_tensors_hooks", Run::Python(saved_tensors_hooks)),
    entry("save_on_cpu", Run::Python(save_on_cpu)),
    entry(
        "disable_saved_tensors_hooks",
        Run::Python(disable_saved_tensors_hooks),
    ),
];

/// A saved-tensor hooks context manager, before it is entered.
#[derive(Debug, Clone)]
pub enum HooksManager {
    /// `saved_tensors_hooks(pack_hook, unpack_hook)`.
    Program {
        /// `pack_hook`.
        pack: Value,
        /// `unpack_hook`.
        unpack: Value,
    },
    /// `save_on_cpu(pin_memory)`.
    OnCpu {
        /// `pin_memory`.
        pin_memory: bool,
    },
    /// `disable_saved_tensors_hooks(error_message)`.
    Disable(Rc<str>),
}

impl HooksManager {
    /// Python's type name.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            HooksManager::Program { .. } => "saved_tensors_hooks",
            HooksManager::OnCpu { .. } => "save_on_cpu",
            HooksManager::Disable(_) => "_GeneratorContextManager",
        }
    }

    /// The program's values it holds (the two hooks).
    pub(crate) fn referents(&self) -> Vec<&Value> {
        match self {
            HooksManager::Program { pack, unpack } => vec![pack, unpack],
            HooksManager::OnCpu { .. } | HooksManager::Disable(_) => Vec::new(),
        }
    }
}

/// What entering a [`HooksManager`] put in effect, undone when dropped.
pub(crate) enum HooksEntered {
    /// The hooks, until the guard pops them.
    Hooks {
        /// Pops them when dropped.
        _guard: SavedHookGuard,
    },
    /// Hooks disabled; the message this replaced comes back at the end.
    Disabled(crate::runtime::Runtime, Option<Rc<str>>),
}

impl Drop for HooksEntered {
    fn drop(&mut self) {
        if let HooksEntered::Disabled(rt, previous) = self {
            engine::restore_saved_tensors_hooks(rt, previous.take());
        }
    }
}

fn manager(m: HooksManager) -> Value {
    Value::Native(Rc::new(Native::SavedTensorsHooks(m)))
}

/// `saved_tensors_hooks(pack_hook, unpack_hook)`.
fn saved_tensors_hooks(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> X<Value> {
    let b = bound(
        it,
        args.bind("saved_tensors_hooks", &["pack_hook", "unpack_hook"], 2),
        span,
    )?;
    let pack = b.raw("pack_hook").cloned().unwrap_or(Value::None);
    let unpack = b.raw("unpack_hook").cloned().unwrap_or(Value::None);
    Ok(manager(HooksManager::Program { pack, unpack }))
}

/// `save_on_cpu(pin_memory=False, device_type="cuda")`.
fn save_on_cpu(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> X<Value> {
    let b = bound(
        it,
        args.bind("save_on_cpu", &["pin_memory", "device_type"], 0),
        span,
    )?;
    if let Some(d) = b.get("device_type") {
        if !matches!(d, Value::Str(s) if &**s == "cuda") {
            return Err(it.raise(
                "NotImplementedError",
                format!(
                    "save_on_cpu(device_type={}) is not supported in scenarios: only \"cuda\"",
                    super::super::value::repr(d)
                ),
                span,
            ));
        }
    }
    let pin_memory = match b.get("pin_memory") {
        Some(v) => it.truthy(v, span)?,
        None => false,
    };
    Ok(manager(HooksManager::OnCpu { pin_memory }))
}

/// `disable_saved_tensors_hooks(error_message)`.
fn disable_saved_tensors_hooks(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(
        it,
        args.bind("disable_saved_tensors_hooks", &["error_message"], 1),
        span,
    )?;
    match b.raw("error_message") {
        Some(Value::Str(m)) => Ok(manager(HooksManager::Disable(m.clone()))),
        Some(other) => Err(it.raise(
            "TypeError",
            format!(
                "_saved_tensors_hooks_disable(): argument 'message' must be str, not {}",
                other.type_name()
            ),
            span,
        )),
        None => Err(it.raise(
            "TypeError",
            "disable_saved_tensors_hooks() missing 1 required positional argument: 'error_message'"
                .into(),
            span,
        )),
    }
}

/// `manager.__enter__()`: the hooks in effect (PyTorch's `_push_saved_tensors_default_hooks`,
/// which raises the message of a `disable_saved_tensors_hooks` in effect), or hooks disabled
/// (which raises its own message when hooks are in effect).
pub(crate) fn enter(it: &mut Interp<'_>, m: &HooksManager, span: Span) -> X<HooksEntered> {
    let pushed = match m {
        HooksManager::Program { pack, unpack } => engine::push_saved_tensors_hooks(
            &it.rt,
            engine::SavedTensorsHooks::Program {
                pack: hold(pack.clone()),
                unpack: hold(unpack.clone()),
            },
        ),
        HooksManager::OnCpu { pin_memory } => engine::push_saved_tensors_hooks(
            &it.rt,
            engine::SavedTensorsHooks::ToHost {
                pin_memory: *pin_memory,
            },
        ),
        HooksManager::Disable(message) => {
            return match engine::disable_saved_tensors_hooks(&it.rt, message) {
                Ok(previous) => Ok(HooksEntered::Disabled(it.rt.clone(), previous)),
                Err(e) => Err(it.raise("RuntimeError", e.to_string(), span)),
            };
        }
    };
    match pushed {
        Ok(guard) => Ok(HooksEntered::Hooks { _guard: guard }),
        Err(e) => Err(it.raise("RuntimeError", e.to_string(), span)),
    }
}

/// 2.15's error when a pack hook writes its input in place.
const PACK_IN_PLACE: &str = "A saved tensor pack hook is modifying its input in place. Tensors provided as input to pack hook cannot be modified by in-place operations as this can lead to unexpected side-effects. Please open an issue if you need to perform in-place operations on the input to a pack hook.";

/// Runs `pack_hook` on every saved tensor waiting for it, in save order, under `no_grad`
/// (`set_hooks_and_pack_data`). What a hook raises propagates; the tensors after it are
/// abandoned, as the operation PyTorch was running stops there.
pub(crate) fn run_pack_hooks(it: &mut Interp<'_>, span: Span) -> X<()> {
    let mut pending = engine::take_pending_packs(&it.rt).into_iter();
    while let Some(p) = pending.next() {
        let (Some(t), Some(hook)) = (p.tensor(), p.pack_hook()) else {
            continue;
        };
        let Some(f) = program_value(&hook).cloned() else {
            continue;
        };
        let version = t.version();
        let rt = it.rt.clone();
        let packed = {
            let _no_grad = rt.no_grad();
            it.call(
                f,
                CallArgs::positional(vec![Value::Tensor(t.clone())]),
                span,
            )
        };
        let failure = match packed {
            Ok(_) if t.version() != version => {
                Some(it.raise("RuntimeError", PACK_IN_PLACE.into(), span))
            }
            Ok(v) => {
                p.fill(hold(v));
                None
            }
            Err(u) => Some(u),
        };
        if let Some(u) = failure {
            p.abandon();
            pending.for_each(|rest| rest.abandon());
            return Err(u);
        }
    }
    Ok(())
}

/// After an expression or a statement: the pack hooks of what its operations saved run, or,
/// when it raised, those tensors are abandoned (the operation stopped before PyTorch would
/// have packed them).
pub(crate) fn settle_packs<T>(it: &mut Interp<'_>, r: X<T>, span: Span) -> X<T> {
    if !it.rt.has_pending_packs() {
        return r;
    }
    match r {
        Ok(v) => {
            run_pack_hooks(it, span)?;
            Ok(v)
        }
        Err(u) => {
            for p in engine::take_pending_packs(&it.rt) {
                p.abandon();
            }
            Err(u)
        }
    }
}

/// `unpack_hook(packed)`, which must return a tensor.
pub(crate) fn run_unpack_hook(
    it: &mut Interp<'_>,
    unpack: &ProgramObject,
    packed: &ProgramObject,
    span: Span,
) -> X<Tensor> {
    let (Some(f), Some(arg)) = (
        program_value(unpack).cloned(),
        program_value(packed).cloned(),
    ) else {
        return Err(it.raise(
            "RuntimeError",
            "a saved tensor's hooks are not the program's".into(),
            span,
        ));
    };
    match it.call(f, CallArgs::positional(vec![arg]), span)? {
        Value::Tensor(t) => Ok(t),
        other => Err(it.raise(
            "TypeError",
            format!(
                "Output of saved tensor unpack_hook expected to be a Tensor but got result of type {}",
                other.type_name()
            ),
            span,
        )),
    }
}

/// `grad_fn._saved_<name>` of a tensor saved under hooks: unpacked again for each read.
pub(crate) fn read_saved(it: &mut Interp<'_>, saved: &HookedSaved, span: Span) -> X<Value> {
    let first = saved.unpack().map_err(|e| it.tensor_error(span, e));
    let data = match it.lift(first)? {
        Unpack::Tensor(t) => t,
        Unpack::Program { unpack, packed } => run_unpack_hook(it, &unpack, &packed, span)?,
    };
    Ok(Value::Tensor(saved.finish(data)))
}
