//! The autograd surface that calls back into the program: `tensor.backward()` and
//! `torch.autograd.backward`/`grad` (with `create_graph`), `tensor.register_hook`,
//! `torch.autograd.Function` subclasses (`apply`, `ctx.save_for_backward`, `ctx.saved_tensors`,
//! `ctx.needs_input_grad`, attributes on `ctx`), `torch.set_grad_enabled` and
//! `torch.inference_mode`.
//!
//! The runtime's graph holds the program's objects as [`ProgramObject`]s (a hook, a `ctx`);
//! here they are [`ProgramValue`]s, so that the leak walker and [`Callbacks`] find the Python
//! value again. Python exceptions raised in a hook or a `backward` stop the pass and propagate
//! from the statement that started it, as in PyTorch.

use std::rc::Rc;

use super::args::bound;
use super::args::CallArgs;
use super::dict::{Dict, DictKind, Key};
use super::ops::path;
use super::pyobj::{Class, Instance};
use super::value::Value;
use super::{Interp, Unwind, X};
use crate::autograd::{self, BackwardOptions, Callbacks, CheckpointFrame, Node, ProgramObject};
use crate::base::{Result as TResult, TensorError};
use crate::scenario::Span;
use crate::tensor::Tensor;

/// A Python value the autograd graph holds: a tensor hook.
#[derive(Debug)]
struct ProgramValue(Value);

/// A custom Function's `ctx` as its node holds it, with what backward needs besides: the
/// class whose `backward` runs and which arguments of `forward` were tensors (the node's
/// edges, in order).
#[derive(Debug)]
struct FunctionCtx {
    ctx: Value,
    function: Value,
    tensor_args: Vec<usize>,
    /// How many arguments `forward` got after `ctx`: how many gradients `backward` returns.
    args: usize,
}

/// The Python value behind an object the graph holds (a hook, a `ctx`), if this engine put
/// it there.
pub fn program_value(o: &ProgramObject) -> Option<&Value> {
    if let Some(c) = o.downcast_ref::<FunctionCtx>() {
        return Some(&c.ctx);
    }
    o.downcast_ref::<ProgramValue>().map(|p| &p.0)
}

pub(super) fn hold(v: Value) -> ProgramObject {
    Rc::new(ProgramValue(v))
}

/// The library base of the classes whose objects are a custom Function's `ctx`.
const CTX_BASE: &str = "torch.autograd.function.BackwardCFunction";
const FUNCTION_BASE: &str = "torch.autograd.Function";

/// Whether `v`, read from an attribute of `ctx` (a copy `Dict::items` made), is an output of
/// `ctx`'s own node that nothing but that attribute holds.
pub(super) fn owned_output_of(v: &Value, ctx: &Rc<Instance>) -> bool {
    let Value::Tensor(t) = v else {
        return false;
    };
    t.use_count() == 2
        && t.grad_fn()
            .and_then(|n| n.custom_ctx())
            .as_ref()
            .and_then(program_value)
            .is_some_and(|c| matches!(c, Value::Instance(c) if Rc::ptr_eq(c, ctx)))
}

/// Whether `c` subclasses `torch.autograd.Function`.
pub(super) fn is_function_class(c: &Class) -> bool {
    c.builtin_base.as_deref() == Some(FUNCTION_BASE)
}

/// Whether `i` is a custom Function's `ctx`.
pub(super) fn is_ctx(i: &Instance) -> bool {
    i.class.builtin_base.as_deref() == Some(CTX_BASE)
}

/// The methods a `ctx` has besides its attributes.
pub(super) fn is_ctx_method(attr: &str) -> bool {
    matches!(
        attr,
        "save_for_backward" | "mark_non_differentiable" | "mark_dirty" | "set_materialize_grads"
    )
}

/// Runs the engine with the interpreter answering its callbacks; an exception a callback
/// raised comes back as itself.
struct EngineCalls<'i, 's> {
    it: &'i mut Interp<'s>,
    span: Span,
    raised: Option<Unwind>,
}

impl EngineCalls<'_, '_> {
    fn raised(&mut self, u: Unwind) -> TensorError {
        self.raised = Some(u);
        TensorError::Invalid("a Python callback raised".into())
    }

    fn finish<T>(self, r: TResult<T>) -> X<T> {
        match (r, self.raised) {
            (Err(_), Some(u)) => Err(u),
            (Err(e), None) => {
                let f = self.it.tensor_error(self.span, e);
                self.it.lift(Err(f))
            }
            (Ok(v), _) => Ok(v),
        }
    }
}

impl Callbacks for EngineCalls<'_, '_> {
    fn recompute(&mut self, frame: &Rc<CheckpointFrame>) -> TResult<()> {
        let r = super::torch::checkpoint_recompute(self.it, frame, self.span);
        r.map_err(|u| self.raised(u))
    }

    fn unpack_saved(&mut self, unpack: &ProgramObject, packed: &ProgramObject) -> TResult<Tensor> {
        let r = super::torch::run_unpack_hook(self.it, unpack, packed, self.span);
        r.map_err(|u| self.raised(u))
    }

    fn tensor_hook(&mut self, hook: &ProgramObject, grad: &Tensor) -> TResult<Option<Tensor>> {
        if let Some(call) = super::module::backward_hook(hook) {
            let r = call.run(self.it, grad, self.span);
            return r.map_err(|u| self.raised(u));
        }
        let Some(f) = program_value(hook).cloned() else {
            return Ok(None);
        };
        match self.it.call(
            f,
            CallArgs::positional(vec![Value::Tensor(grad.clone())]),
            self.span,
        ) {
            Ok(Value::None) => Ok(None),
            Ok(Value::Tensor(t)) => Ok(Some(t)),
            Ok(other) => {
                let u = self.it.raise(
                    "TypeError",
                    format!(
                        "expected Tensor or None (got {}) as the return value of a hook",
                        other.type_name()
                    ),
                    self.span,
                );
                Err(self.raised(u))
            }
            Err(u) => Err(self.raised(u)),
        }
    }

    fn custom_backward(
        &mut self,
        ctx: &ProgramObject,
        node: &Rc<Node>,
        grad: &Tensor,
    ) -> TResult<Vec<Option<Tensor>>> {
        let Some(FunctionCtx {
            ctx,
            function,
            tensor_args,
            args,
        }) = ctx.downcast_ref::<FunctionCtx>()
        else {
            return Err(TensorError::Invalid(format!(
                "{} has no ctx of this program",
                node.name()
            )));
        };
        let (ctx, function, tensor_args, expected) =
            (ctx.clone(), function.clone(), tensor_args.clone(), *args);
        let backward = match self.it.get_attr(function, "backward", self.span) {
            Ok(b) => b,
            Err(u) => return Err(self.raised(u)),
        };
        self.it.running_backward.push(node.clone());
        let r = self.it.call(
            backward,
            CallArgs::positional(vec![ctx, Value::Tensor(grad.clone())]),
            self.span,
        );
        self.it.running_backward.pop();
        let returned = match r {
            Ok(v) => v,
            Err(u) => return Err(self.raised(u)),
        };
        let items = match returned {
            Value::Tuple(t) => t.as_ref().clone(),
            other => vec![other],
        };
        // More gradients than inputs are accepted when the extra ones are None.
        let extra_none = items
            .iter()
            .skip(expected)
            .all(|v| matches!(v, Value::None));
        if items.len() < expected || !extra_none {
            let u = self.it.raise(
                "RuntimeError",
                format!(
                    "function {} returned an incorrect number of gradients (expected {}, got {})",
                    node.name(),
                    expected,
                    items.len()
                ),
                self.span,
            );
            return Err(self.raised(u));
        }
        // One gradient per argument of `forward`; the engine wants one per tensor input.
        let mut grads = Vec::with_capacity(tensor_args.len());
        for (i, item) in items.iter().enumerate() {
            if !tensor_args.contains(&i) && !matches!(item, Value::None) {
                let u = self.it.raise(
                    "RuntimeError",
                    format!(
                        "function {} returned a gradient different than None at position {}, but the corresponding forward input was not a Variable",
                        node.name(),
                        i + 1
                    ),
                    self.span,
                );
                return Err(self.raised(u));
            }
        }
        for &i in &tensor_args {
            grads.push(match items.get(i) {
                Some(Value::Tensor(t)) => Some(t.clone()),
                _ => None,
            });
        }
        Ok(grads)
    }
}

fn bool_arg(it: &mut Interp<'_>, v: Option<&Value>, name: &str, span: Span) -> X<Option<bool>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(it.raise(
            "TypeError",
            format!("{name} must be bool, not {}", other.type_name()),
            span,
        )),
    }
}

/// A tensor or a sequence of tensors, as `torch.autograd.grad` takes `outputs` and `inputs`.
fn tensors(it: &mut Interp<'_>, v: Option<&Value>, name: &str, span: Span) -> X<Vec<Tensor>> {
    let items = match v {
        Some(Value::Tensor(t)) => return Ok(vec![t.clone()]),
        Some(v @ (Value::List(_) | Value::Tuple(_))) => it.collect(v.clone(), span)?,
        other => {
            let got = other.map_or("nothing".to_string(), Value::type_name);
            return Err(it.raise(
                "TypeError",
                format!("{name} must be a Tensor or a sequence of Tensors, not {got}"),
                span,
            ));
        }
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Tensor(t) => Ok(t),
            other => Err(it.raise(
                "TypeError",
                format!(
                    "{name} must contain only Tensors, not {}",
                    other.type_name()
                ),
                span,
            )),
        })
        .collect()
}

/// Gradients for the roots: absent, one tensor, or a sequence with `None` where implicit.
fn optional_tensors(
    it: &mut Interp<'_>,
    v: Option<&Value>,
    name: &str,
    span: Span,
) -> X<Vec<Option<Tensor>>> {
    let items = match v {
        None | Some(Value::None) => return Ok(Vec::new()),
        Some(Value::Tensor(t)) => return Ok(vec![Some(t.clone())]),
        Some(v) => it.collect(v.clone(), span)?,
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Tensor(t) => Ok(Some(t)),
            Value::None => Ok(None),
            other => Err(it.raise(
                "TypeError",
                format!(
                    "{name} must contain Tensors or None, not {}",
                    other.type_name()
                ),
                span,
            )),
        })
        .collect()
}

/// `torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph)`.
pub(super) fn backward_function(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(
        it,
        args.bind(
            "backward",
            &[
                "tensors",
                "grad_tensors",
                "retain_graph",
                "create_graph",
                "inputs",
            ],
            1,
        ),
        span,
    )?;
    if b.get("inputs").is_some() {
        return Err(inputs_unsupported(it, span));
    }
    let roots = tensors(it, b.raw("tensors"), "tensors", span)?;
    let grads = optional_tensors(it, b.get("grad_tensors"), "grad_tensors", span)?;
    let options = BackwardOptions {
        retain_graph: bool_arg(it, b.get("retain_graph"), "retain_graph", span)?,
        create_graph: bool_arg(it, b.get("create_graph"), "create_graph", span)?.unwrap_or(false),
    };
    run_backward(it, &roots, &grads, options, span)
}

fn inputs_unsupported(it: &mut Interp<'_>, span: Span) -> Unwind {
    it.raise(
        "NotImplementedError",
        "backward(inputs=...) is not supported in scenarios; use torch.autograd.grad".into(),
        span,
    )
}

/// `torch.set_grad_enabled(mode)`: takes effect at the call, as in PyTorch; as a context
/// manager it puts back the mode it found.
pub(super) fn set_grad_enabled(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(it, args.bind("set_grad_enabled", &["mode"], 1), span)?;
    let Some(mode) = bool_arg(it, b.get("mode"), "mode", span)? else {
        return Err(it.raise("TypeError", "set_grad_enabled() needs a bool".into(), span));
    };
    let previous = it.rt.is_grad_enabled();
    it.rt.set_grad_mode(mode);
    Ok(Value::Native(Rc::new(super::pyobj::Native::GradModeSet(
        previous, mode,
    ))))
}

/// `torch.inference_mode(mode=True)`, as a context or a decorator. Memory-wise it is
/// `no_grad`: no graph, nothing saved (inference tensors also skip version counters, which
/// hold no memory).
pub(super) fn inference_mode(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(it, args.bind("inference_mode", &["mode"], 0), span)?;
    let mode = bool_arg(it, b.get("mode"), "mode", span)?.unwrap_or(true);
    Ok(Value::GradMode(!mode))
}

/// `torch.is_grad_enabled()`.
pub(super) fn is_grad_enabled(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    bound(it, args.bind("is_grad_enabled", &[], 0), span)?;
    Ok(Value::Bool(it.rt.is_grad_enabled()))
}

fn run_backward(
    it: &mut Interp<'_>,
    roots: &[Tensor],
    grads: &[Option<Tensor>],
    options: BackwardOptions,
    span: Span,
) -> X<Value> {
    let mut calls = EngineCalls {
        it,
        span,
        raised: None,
    };
    let r = autograd::backward(roots, grads, options, &mut calls);
    calls.finish(r)?;
    it.backward_ran();
    Ok(Value::None)
}

/// `torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
/// allow_unused, materialize_grads)`: a tuple of gradients.
pub(super) fn grad(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> X<Value> {
    let b = bound(
        it,
        args.bind(
            "grad",
            &[
                "outputs",
                "inputs",
                "grad_outputs",
                "retain_graph",
                "create_graph",
                "only_inputs",
                "allow_unused",
                "is_grads_batched",
                "materialize_grads",
            ],
            2,
        ),
        span,
    )?;
    let outputs = tensors(it, b.raw("outputs"), "outputs", span)?;
    let inputs = tensors(it, b.raw("inputs"), "inputs", span)?;
    let grads = optional_tensors(it, b.get("grad_outputs"), "grad_outputs", span)?;
    let options = BackwardOptions {
        retain_graph: bool_arg(it, b.get("retain_graph"), "retain_graph", span)?,
        create_graph: bool_arg(it, b.get("create_graph"), "create_graph", span)?.unwrap_or(false),
    };
    let materialize =
        bool_arg(it, b.get("materialize_grads"), "materialize_grads", span)?.unwrap_or(false);
    let allow_unused =
        bool_arg(it, b.get("allow_unused"), "allow_unused", span)?.unwrap_or(materialize);
    if bool_arg(it, b.get("is_grads_batched"), "is_grads_batched", span)? == Some(true) {
        return Err(it.raise(
            "NotImplementedError",
            "is_grads_batched=True is not supported in scenarios".into(),
            span,
        ));
    }
    let mut calls = EngineCalls {
        it,
        span,
        raised: None,
    };
    let r = autograd::grad(&outputs, &grads, &inputs, options, allow_unused, &mut calls);
    let grads = calls.finish(r)?;
    it.backward_ran();
    let mut out = Vec::with_capacity(grads.len());
    for (g, input) in grads.into_iter().zip(&inputs) {
        out.push(match g {
            Some(g) => Value::Tensor(g),
            // materialize_grads: zeros for the unused inputs.
            None if materialize => {
                let z = input.zeros_like().map_err(|e| it.tensor_error(span, e));
                Value::Tensor(it.lift(z)?)
            }
            None => Value::None,
        });
    }
    Ok(Value::Tuple(Rc::new(out)))
}

/// `tensor.backward(gradient, retain_graph, create_graph)`.
pub(super) fn backward_method(
    it: &mut Interp<'_>,
    t: &Tensor,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(
        it,
        args.bind(
            "backward",
            &["gradient", "retain_graph", "create_graph", "inputs"],
            0,
        ),
        span,
    )?;
    if b.get("inputs").is_some() {
        return Err(inputs_unsupported(it, span));
    }
    let gradient = match b.get("gradient") {
        Some(Value::Tensor(g)) => Some(g.clone()),
        None => None,
        Some(other) => {
            return Err(it.raise(
                "TypeError",
                format!("gradient must be Tensor, not {}", other.type_name()),
                span,
            ))
        }
    };
    let options = BackwardOptions {
        retain_graph: bool_arg(it, b.get("retain_graph"), "retain_graph", span)?,
        create_graph: bool_arg(it, b.get("create_graph"), "create_graph", span)?.unwrap_or(false),
    };
    run_backward(it, std::slice::from_ref(t), &[gradient], options, span)
}

/// `tensor.register_hook(hook)`: a `RemovableHandle`.
pub(super) fn register_hook(
    it: &mut Interp<'_>,
    t: &Tensor,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(it, args.bind("register_hook", &["hook"], 1), span)?;
    let hook = b.raw("hook").cloned().unwrap_or(Value::None);
    let handle = t
        .register_hook(hold(hook))
        .map_err(|e| it.tensor_error(span, e));
    let handle = it.lift(handle)?;
    Ok(Value::Native(Rc::new(
        super::pyobj::Native::TensorHookHandle(handle),
    )))
}

/// `MyFunction.apply(*args)` (`THPFunction_apply`): `forward(ctx, *args)` runs with grad mode
/// off; when grad mode is on and a tensor argument requires grad, the output gets a
/// `MyFunctionBackward` node that owns `ctx` and what `ctx.save_for_backward` saved.
pub(super) fn apply(
    it: &mut Interp<'_>,
    function: &Rc<Class>,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    if !args.kw.is_empty() {
        return Err(it.raise(
            "TypeError",
            "apply() takes no keyword arguments".into(),
            span,
        ));
    }
    let tensor_args: Vec<usize> = args
        .pos
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v, Value::Tensor(_)))
        .map(|(i, _)| i)
        .collect();
    let inputs: Vec<Tensor> = tensor_args
        .iter()
        .filter_map(|&i| match &args.pos[i] {
            Value::Tensor(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    let executable = it.rt.is_grad_enabled() && inputs.iter().any(Tensor::requires_grad);
    // From the inputs alone, as PyTorch fills it: under no_grad it still says which inputs
    // require grad.
    let needs: Vec<Value> = args
        .pos
        .iter()
        .map(|v| Value::Bool(matches!(v, Value::Tensor(t) if t.requires_grad())))
        .collect();
    let ctx_class = Rc::new(Class {
        name: format!("{}Backward", function.name).into(),
        bases: vec![path(CTX_BASE)],
        dict: Dict::shared(DictKind::Plain),
        builtin_base: Some(CTX_BASE.into()),
    });
    let ctx = Rc::new(Instance {
        class: ctx_class,
        dict: Dict::shared(DictKind::Plain),
        module: std::cell::RefCell::new(None),
    });
    it.gc.track_instance(&ctx);
    set(&ctx, "needs_input_grad", Value::Tuple(Rc::new(needs)));
    let forward = it.get_attr(Value::Class(function.clone()), "forward", span)?;
    let mut forward_args = vec![Value::Instance(ctx.clone())];
    forward_args.extend(args.pos.iter().cloned());
    let out = {
        let _no_grad = it.rt.no_grad();
        it.call(forward, CallArgs::positional(forward_args), span)?
    };
    let to_save = take(&ctx, "to_save");
    let Value::Tensor(out) = out else {
        return Err(it.raise(
            "NotImplementedError",
            format!(
                "{}.forward returned {}: custom Functions returning anything but one tensor are not supported in scenarios",
                function.name,
                out.type_name()
            ),
            span,
        ));
    };
    if !executable {
        return Ok(Value::Tensor(out));
    }
    // An input returned as is becomes a new tensor of the same storage, so that the input
    // keeps its own history.
    let out = if inputs.iter().any(|t| t.id() == out.id()) {
        out.detach()
    } else {
        out
    };
    let saved: Vec<Tensor> = match to_save {
        None | Some(Value::None) => Vec::new(),
        Some(v) => it
            .collect(v, span)?
            .into_iter()
            .filter_map(|v| match v {
                Value::Tensor(t) => Some(t),
                _ => None,
            })
            .collect(),
    };
    let held: ProgramObject = Rc::new(FunctionCtx {
        ctx: Value::Instance(ctx),
        function: Value::Class(function.clone()),
        tensor_args,
        args: args.pos.len(),
    });
    let refs: Vec<&Tensor> = inputs.iter().collect();
    autograd::record_custom(&function.name, held, &refs, &saved, &out);
    Ok(Value::Tensor(out))
}

fn set(i: &Instance, attr: &str, v: Value) {
    let old = i
        .dict
        .borrow_mut()
        .insert(Key::Str(attr.into()), Value::Str(attr.into()), v);
    drop(old);
}

fn take(i: &Instance, attr: &str) -> Option<Value> {
    i.dict.borrow_mut().remove(&Key::Str(attr.into()))
}

/// `ctx.saved_tensors`: inside the Function's `backward`, what its node saved (PyTorch's
/// error once a backward released it).
pub(super) fn saved_tensors(it: &mut Interp<'_>, ctx: &Rc<Instance>, span: Span) -> X<Value> {
    let node = it
        .running_backward
        .iter()
        .rev()
        .find(|n| {
            n.custom_ctx()
                .as_ref()
                .and_then(program_value)
                .is_some_and(|v| matches!(v, Value::Instance(i) if Rc::ptr_eq(i, ctx)))
        })
        .cloned();
    let Some(node) = node else {
        return Err(it.raise(
            "NotImplementedError",
            "ctx.saved_tensors outside the Function's backward is not supported in scenarios"
                .into(),
            span,
        ));
    };
    let saved = node.unpack_saved().map_err(|e| it.tensor_error(span, e));
    let saved = it.lift(saved)?;
    Ok(Value::Tuple(Rc::new(
        saved.into_iter().map(Value::Tensor).collect(),
    )))
}

/// `ctx.save_for_backward(*tensors)` and the marks PyTorch takes (which change no memory
/// here: `mark_dirty`'s in-place outputs and non-differentiable outputs still get the node).
pub(super) fn ctx_method(
    it: &mut Interp<'_>,
    ctx: &Rc<Instance>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match name {
        "save_for_backward" => {
            for v in &args.pos {
                if !matches!(v, Value::Tensor(_) | Value::None) {
                    return Err(it.raise(
                        "TypeError",
                        format!(
                            "save_for_backward can only save variables, but argument {} is of type {}",
                            0,
                            v.type_name()
                        ),
                        span,
                    ));
                }
            }
            set(ctx, "to_save", Value::Tuple(Rc::new(args.pos)));
            Ok(Value::None)
        }
        _ => Ok(Value::None),
    }
}
