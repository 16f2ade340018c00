//! Full backward hooks, as `torch/utils/hooks.py`'s `BackwardHook` runs them for a module with
//! `register_full_backward_hook` or `register_full_backward_pre_hook` hooks (PyTorch 2.15):
//!
//! - calling the module passes its tensor inputs through `BackwardHookFunction` when one
//!   requires grad (`setup_input_hook`), and its output after the forward hooks
//!   (`setup_output_hook`): views whose node, BackwardHookFunctionBackward, hands the gradient
//!   on, so a hooked call adds two nodes and no bytes;
//! - when the gradient of the output arrives, the backward pre-hooks run as
//!   `hook(module, grad_output)` (a return value replaces it) and the `BackwardHook` keeps
//!   `grad_output`; when the gradient of the input arrives, the backward hooks run as
//!   `hook(module, grad_input, grad_output)` (a return value replaces `grad_input`) and the
//!   kept `grad_output` is let go; when no input requires grad, the backward hooks run at once
//!   with `grad_input` all `None`;
//! - the graph holds the `BackwardHook`, and through it the module.
//!
//! Modelled for modules called with one tensor (and any other arguments) that return one
//! tensor, which is what the hooks of layer-inspection tools (Grad-CAM, saliency) see.

use std::cell::RefCell;
use std::rc::Rc;

use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use super::hooks::{entry, ModuleHooks};
use crate::autograd::ProgramObject;
use crate::scenario::Span;
use crate::tensor::Tensor;

/// 2.15's warning when the backward hooks fire with no input requiring grad.
const NO_INPUT_WARNING: &str = "Full backward hook is firing when gradients are computed with respect to module outputs since no inputs require gradients. See https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html#torch.nn.Module.register_full_backward_hook for more details.";

/// What one call's `BackwardHook` holds between the two sides of the backward pass.
pub(crate) struct State {
    module: Value,
    hooks: ModuleHooks,
    /// `grad_output` after the pre-hooks, from the output's gradient until the input's.
    grad_outputs: Option<Value>,
    /// Whether an input went through `BackwardHookFunction` (one required grad).
    input_hooked: bool,
}

/// One call's `BackwardHook`, as the output's or the input's node holds it.
pub(crate) struct BackwardHookCall {
    state: Rc<RefCell<State>>,
    output_side: bool,
}

/// `setup_input_hook`: the arguments with the one tensor that requires grad (under grad mode)
/// replaced by its BackwardHookFunction view, whose gradient runs the backward hooks.
pub(super) fn setup_input(
    it: &mut Interp<'_>,
    module: &Value,
    hooks: &ModuleHooks,
    mut args: Vec<Value>,
    span: Span,
) -> X<(Rc<RefCell<State>>, Vec<Value>)> {
    let tensors: Vec<usize> = (0..args.len())
        .filter(|&i| matches!(args[i], Value::Tensor(_)))
        .collect();
    let requires = tensors
        .iter()
        .any(|&i| matches!(&args[i], Value::Tensor(t) if t.requires_grad()));
    let hooked = requires && it.rt.is_grad_enabled();
    if hooked && tensors.len() > 1 {
        return Err(it.raise(
            "NotImplementedError",
            "full backward hooks on a module called with several tensors are not supported in scenarios".into(),
            span,
        ));
    }
    let state = Rc::new(RefCell::new(State {
        module: module.clone(),
        hooks: hooks.clone(),
        grad_outputs: None,
        input_hooked: hooked,
    }));
    if let (true, Some(&i)) = (hooked, tensors.first()) {
        if let Value::Tensor(t) = &args[i] {
            let view = t.backward_hook_view();
            attach(it, &view, &state, false, span)?;
            args[i] = Value::Tensor(view);
        }
    }
    Ok((state, args))
}

/// `setup_output_hook`: the output replaced by its BackwardHookFunction view, whose gradient
/// runs the backward pre-hooks (and the backward hooks when no input was hooked).
pub(super) fn setup_output(
    it: &mut Interp<'_>,
    state: Rc<RefCell<State>>,
    out: Value,
    span: Span,
) -> X<Value> {
    let Value::Tensor(t) = &out else {
        if matches!(out, Value::Tuple(_)) {
            return Err(it.raise(
                "NotImplementedError",
                "full backward hooks on a module returning a tuple are not supported in scenarios"
                    .into(),
                span,
            ));
        }
        return Ok(out);
    };
    if !(t.requires_grad() && it.rt.is_grad_enabled()) {
        return Ok(out);
    }
    let view = t.backward_hook_view();
    attach(it, &view, &state, true, span)?;
    Ok(Value::Tensor(view))
}

fn attach(
    it: &mut Interp<'_>,
    view: &Tensor,
    state: &Rc<RefCell<State>>,
    output_side: bool,
    span: Span,
) -> X<()> {
    let call: ProgramObject = Rc::new(BackwardHookCall {
        state: state.clone(),
        output_side,
    });
    let r = view.register_hook(call).map(drop);
    let r = r.map_err(|e| it.tensor_error(span, e));
    it.lift(r)
}

/// The `BackwardHook` behind a hook the graph holds, if it is one.
pub(crate) fn backward_hook(o: &ProgramObject) -> Option<&BackwardHookCall> {
    o.downcast_ref::<BackwardHookCall>()
}

impl BackwardHookCall {
    /// Runs this side's hooks on the gradient arriving at it; `Some` replaces the gradient.
    pub(crate) fn run(&self, it: &mut Interp<'_>, grad: &Tensor, span: Span) -> X<Option<Tensor>> {
        let (module, hooks) = {
            let s = self.state.borrow();
            (s.module.clone(), s.hooks.clone())
        };
        let one = |v: Value| Value::Tuple(Rc::new(vec![v]));
        if self.output_side {
            let mut grad_outputs = one(Value::Tensor(grad.clone()));
            for h in hooks.backward_pre.borrow().clone() {
                let Some(h) = entry(&h) else { continue };
                let call = vec![module.clone(), grad_outputs.clone()];
                let r = it.call(h.hook.clone(), CallArgs::positional(call), span)?;
                if !matches!(r, Value::None) {
                    grad_outputs = tuple_of(r);
                }
            }
            let input_hooked = self.state.borrow().input_hooked;
            if input_hooked {
                self.state.borrow_mut().grad_outputs = Some(grad_outputs.clone());
            } else {
                if !hooks.backward.borrow().is_empty() {
                    it.emit(&format!("UserWarning: {NO_INPUT_WARNING}"));
                }
                let grad_inputs = one(Value::None);
                for h in hooks.backward.borrow().clone() {
                    let Some(h) = entry(&h) else { continue };
                    let call = vec![module.clone(), grad_inputs.clone(), grad_outputs.clone()];
                    let r = it.call(h.hook.clone(), CallArgs::positional(call), span)?;
                    let all_none = match &r {
                        Value::None => true,
                        Value::Tuple(t) => t.iter().all(|v| matches!(v, Value::None)),
                        _ => false,
                    };
                    if !all_none {
                        return Err(it.raise(
                            "RuntimeError",
                            "Backward hook for Modules where no input requires gradient should always return None or None for all gradients.".into(),
                            span,
                        ));
                    }
                }
            }
            return Ok(first_tensor(&grad_outputs).filter(|g| !g.is_same(grad)));
        }
        let grad_outputs = self
            .state
            .borrow_mut()
            .grad_outputs
            .take()
            .unwrap_or_else(|| one(Value::None));
        let mut grad_inputs = one(Value::Tensor(grad.clone()));
        for h in hooks.backward.borrow().clone() {
            let Some(h) = entry(&h) else { continue };
            let call = vec![module.clone(), grad_inputs.clone(), grad_outputs.clone()];
            let r = it.call(h.hook.clone(), CallArgs::positional(call), span)?;
            if !matches!(r, Value::None) {
                grad_inputs = tuple_of(r);
            }
        }
        Ok(first_tensor(&grad_inputs).filter(|g| !g.is_same(grad)))
    }
}

fn tuple_of(v: Value) -> Value {
    match v {
        Value::Tuple(_) => v,
        other => Value::Tuple(Rc::new(vec![other])),
    }
}

fn first_tensor(v: &Value) -> Option<Tensor> {
    match v {
        Value::Tuple(t) => match t.first() {
            Some(Value::Tensor(g)) => Some(g.clone()),
            _ => None,
        },
        _ => None,
    }
}
