//! `torch.utils.checkpoint`: `checkpoint(function, *args, use_reentrant=...)` and
//! `checkpoint_sequential(functions, segments, input, use_reentrant=...)`, as PyTorch 2.15's
//! `torch/utils/checkpoint.py` runs them (`docs/autograd.md`, "Checkpointing").
//!
//! The reentrant variant (`use_reentrant=True`, and the default when the argument is left out,
//! with 2.15's warning) is PyTorch's `CheckpointFunction`, a `torch.autograd.Function`: its
//! `forward` runs the function under `no_grad`, saves only the tensor inputs and keeps the
//! function on `ctx`; its `backward` runs the function again with grad on detached inputs,
//! under the random state forward saw, and calls `torch.autograd.backward` on what it
//! recomputed (a backward inside the backward). Here it is that Function, its two methods being
//! this file's `forward` and `backward`, so the graph, `ctx` and the recomputation are the
//! ones every custom Function gets.
//!
//! The non-reentrant variant (`use_reentrant=False`, PyTorch's recommendation) runs the
//! function with grad on under saved-tensor hooks (`crate::autograd::checkpoint_forward`): its
//! graph is recorded as usual but every tensor a node would save is left out, and the frame
//! keeps the function, its arguments and forward's random state. The first backward that
//! unpacks one of those tensors reruns the function under that state
//! ([`checkpoint_recompute`]), refilling every holder of the frame.

use std::rc::Rc;

use super::super::args::{bound, CallArgs};
use super::super::autograd::{apply, backward_function, ctx_method, hold, saved_tensors};
use super::super::dict::{Dict, DictKind, Key};
use super::super::pyobj::{Class, Instance};
use super::super::value::{Path, Value};
use super::super::{Interp, X};
use super::{entry, Function, Run};
use crate::autograd::{self as engine, CheckpointFrame};
use crate::runtime::RngState;
use crate::scenario::Span;

/// `torch.utils.checkpoint.*`.
pub(super) const CHECKPOINT: &[Function] = &[
    entry("checkpoint", Run::Python(checkpoint)),
    entry("checkpoint_sequential", Run::Python(checkpoint_sequential)),
];

/// The methods of `torch.utils.checkpoint.CheckpointFunction`, the reentrant variant.
pub(super) const CHECKPOINT_FUNCTION: &[Function] = &[
    entry("forward", Run::Python(forward)),
    entry("backward", Run::Python(backward)),
];

const FUNCTION_PATH: &str = "torch.utils.checkpoint.CheckpointFunction";

/// 2.15's warning when `use_reentrant` is not passed (it then takes the reentrant variant).
const USE_REENTRANT_WARNING: &str = "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. In a future release, calling checkpoint without use_reentrant will raise an exception. use_reentrant=False is recommended, but if you need to preserve the current default behavior, you can pass use_reentrant=True. Refer to docs for more details on the differences between the two variants.";

const SEQUENTIAL_WARNING: &str = "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed explicitly. In a future release, we will raise an exception if use_reentrant is not passed. use_reentrant=False is recommended, but if you need to preserve the current default behavior, you can pass use_reentrant=True. Refer to docs for more details on the differences between the two variants.";

fn set(i: &Instance, attr: &str, v: Value) {
    let old = i
        .dict
        .borrow_mut()
        .insert(Key::Str(attr.into()), Value::Str(attr.into()), v);
    drop(old);
}

fn get(i: &Instance, attr: &str) -> Value {
    i.dict
        .borrow()
        .get(&Key::Str(attr.into()))
        .unwrap_or(Value::None)
}

/// The `CheckpointFunction` class: a `torch.autograd.Function` whose methods are this file's.
fn checkpoint_function() -> Rc<Class> {
    let dict = Dict::shared(DictKind::Plain);
    for method in ["forward", "backward"] {
        let path = Value::Path(Path(format!("{FUNCTION_PATH}.{method}").into()));
        dict.borrow_mut()
            .insert(Key::Str(method.into()), Value::Str(method.into()), path);
    }
    Rc::new(Class {
        name: "CheckpointFunction".into(),
        bases: vec![Value::Path(Path("torch.autograd.Function".into()))],
        dict,
        builtin_base: Some("torch.autograd.Function".into()),
    })
}

fn state_value(s: RngState) -> Value {
    Value::Tuple(Rc::new(
        s.parts()
            .into_iter()
            .map(|p| Value::Int(p as i64))
            .collect(),
    ))
}

fn state_of(v: &Value) -> Option<RngState> {
    let Value::Tuple(t) = v else { return None };
    let parts: Vec<u64> = t
        .iter()
        .filter_map(|v| match v {
            Value::Int(i) => Some(*i as u64),
            _ => None,
        })
        .collect();
    RngState::from_parts(&parts)
}

/// `checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, **kwargs)`.
fn checkpoint(it: &mut Interp<'_>, _name: &str, mut args: CallArgs, span: Span) -> X<Value> {
    if args.pos.is_empty() {
        return Err(it.raise(
            "TypeError",
            "checkpoint() missing 1 required positional argument: 'function'".into(),
            span,
        ));
    }
    let function = args.pos.remove(0);
    let mut use_reentrant = None;
    let mut preserve = true;
    let mut kwargs = Vec::new();
    for (k, v) in std::mem::take(&mut args.kw) {
        match (k.as_str(), &v) {
            ("use_reentrant", Value::Bool(b)) => use_reentrant = Some(*b),
            ("use_reentrant", Value::None) => {}
            ("preserve_rng_state", Value::Bool(b)) => preserve = *b,
            ("context_fn" | "determinism_check" | "debug" | "early_stop", _) => {
                return Err(it.raise(
                    "NotImplementedError",
                    format!("checkpoint({k}=...) is not supported in scenarios"),
                    span,
                ))
            }
            _ => kwargs.push((k, v)),
        }
    }
    let reentrant = use_reentrant.unwrap_or_else(|| {
        it.emit(&format!("UserWarning: {USE_REENTRANT_WARNING}"));
        true
    });
    if !reentrant {
        return checkpoint_without_reentrant(it, function, args.pos, kwargs, preserve, span);
    }
    if !kwargs.is_empty() {
        let names: Vec<&str> = kwargs.iter().map(|(k, _)| k.as_str()).collect();
        return Err(it.raise(
            "ValueError",
            format!("Unexpected keyword arguments: {}", names.join(",")),
            span,
        ));
    }
    let any_grad = args
        .pos
        .iter()
        .any(|v| matches!(v, Value::Tensor(t) if t.requires_grad()));
    if !any_grad {
        // `check_backward_validity`: the output then has no node, and nothing inside gets a
        // gradient (the parameters of the function included).
        it.emit("UserWarning: None of the inputs have requires_grad=True. Gradients will be None");
    }
    let mut apply_args = vec![function, Value::Bool(preserve)];
    apply_args.extend(args.pos);
    apply(
        it,
        &checkpoint_function(),
        CallArgs::positional(apply_args),
        span,
    )
}

/// `_checkpoint_without_reentrant_generator` around `function(*args, **kwargs)`: the frame
/// keeps `(function, args, kwargs, forward's random state)` for the rerun.
fn checkpoint_without_reentrant(
    it: &mut Interp<'_>,
    function: Value,
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
    preserve: bool,
    span: Span,
) -> X<Value> {
    let kw = Value::Tuple(Rc::new(
        kwargs
            .iter()
            .map(|(k, v)| Value::Tuple(Rc::new(vec![Value::Str(k.as_str().into()), v.clone()])))
            .collect(),
    ));
    let state = if preserve {
        state_value(it.rt.rng_state())
    } else {
        Value::None
    };
    let program = Value::Tuple(Rc::new(vec![
        function.clone(),
        Value::Tuple(Rc::new(args.clone())),
        kw,
        state,
    ]));
    let frame = CheckpointFrame::new(hold(program));
    let packing = engine::checkpoint_forward(&it.rt, &frame).map_err(|e| it.tensor_error(span, e));
    let _packing = it.lift(packing)?;
    it.call(
        function,
        CallArgs {
            pos: args,
            kw: kwargs,
        },
        span,
    )
}

/// The rerun of a non-reentrant checkpoint at backward (`_recomputation_hook` around
/// `recompute_fn`): the function again on the same arguments, with grad on, under forward's
/// random state (the surrounding state restored after); what it saves fills the frame's
/// holders and its own graph and outputs are dropped.
pub(crate) fn checkpoint_recompute(
    it: &mut Interp<'_>,
    frame: &Rc<CheckpointFrame>,
    span: Span,
) -> X<()> {
    let program = super::super::autograd::program_value(frame.program()).cloned();
    let Some(Value::Tuple(parts)) = program else {
        return Err(it.raise(
            "RuntimeError",
            "torch.utils.checkpoint: the frame has no function to rerun".into(),
            span,
        ));
    };
    let [function, Value::Tuple(args), Value::Tuple(kw), state] = parts.as_slice() else {
        return Err(it.raise(
            "RuntimeError",
            "torch.utils.checkpoint: the frame has no function to rerun".into(),
            span,
        ));
    };
    let kwargs: Vec<(String, Value)> = kw
        .iter()
        .filter_map(|p| match p {
            Value::Tuple(kv) => match kv.as_slice() {
                [Value::Str(k), v] => Some((k.to_string(), v.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let surrounding = it.rt.rng_state();
    if let Some(s) = state_of(state) {
        it.rt.set_rng_state(s);
    }
    let outputs = {
        let _grad = it.rt.set_grad_enabled(true);
        let _recomputing = engine::checkpoint_recompute(&it.rt, frame);
        it.call(
            function.clone(),
            CallArgs {
                pos: args.as_ref().clone(),
                kw: kwargs,
            },
            span,
        )
    };
    it.rt.set_rng_state(surrounding);
    drop(outputs?);
    Ok(())
}

/// `CheckpointFunction.forward(ctx, run_function, preserve_rng_state, *args)`, under no_grad.
fn forward(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> X<Value> {
    let mut pos = args.pos.into_iter();
    let (Some(Value::Instance(ctx)), Some(run_function), Some(preserve)) =
        (pos.next(), pos.next(), pos.next())
    else {
        return Err(it.raise(
            "TypeError",
            "CheckpointFunction.forward() takes ctx, run_function, preserve_rng_state".into(),
            span,
        ));
    };
    let args: Vec<Value> = pos.collect();
    set(&ctx, "run_function", run_function.clone());
    set(&ctx, "preserve_rng_state", preserve.clone());
    if matches!(preserve, Value::Bool(true)) {
        set(&ctx, "fwd_rng_state", state_value(it.rt.rng_state()));
    }
    let mut inputs = Vec::with_capacity(args.len());
    let mut tensor_indices = Vec::new();
    let mut tensors = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if matches!(a, Value::Tensor(_)) {
            tensor_indices.push(Value::Int(i as i64));
            tensors.push(a.clone());
            inputs.push(Value::None);
        } else {
            inputs.push(a.clone());
        }
    }
    set(&ctx, "inputs", Value::Tuple(Rc::new(inputs)));
    set(
        &ctx,
        "tensor_indices",
        Value::Tuple(Rc::new(tensor_indices)),
    );
    ctx_method(
        it,
        &ctx,
        "save_for_backward",
        CallArgs::positional(tensors),
        span,
    )?;
    it.call(run_function, CallArgs::positional(args), span)
}

/// `CheckpointFunction.backward(ctx, *grads)`: the recomputation and the inner backward.
fn backward(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> X<Value> {
    let mut pos = args.pos.into_iter();
    let Some(Value::Instance(ctx)) = pos.next() else {
        return Err(it.raise(
            "TypeError",
            "CheckpointFunction.backward() takes ctx".into(),
            span,
        ));
    };
    let grads: Vec<Value> = pos.collect();
    let Value::Tuple(saved) = saved_tensors(it, &ctx, span)? else {
        return Err(it.raise("RuntimeError", "no saved tensors".into(), span));
    };
    let Value::Tuple(inputs) = get(&ctx, "inputs") else {
        return Err(it.raise("RuntimeError", "ctx.inputs is missing".into(), span));
    };
    let mut inputs = inputs.as_ref().clone();
    if let Value::Tuple(indices) = get(&ctx, "tensor_indices") {
        for (i, at) in indices.iter().enumerate() {
            if let (Value::Int(at), Some(t)) = (at, saved.get(i)) {
                inputs[*at as usize] = t.clone();
            }
        }
    }
    // `fork_rng`: forward's random state for the recomputation, the surrounding one after.
    let surrounding = it.rt.rng_state();
    if let Some(s) = state_of(&get(&ctx, "fwd_rng_state")) {
        it.rt.set_rng_state(s);
    }
    // `detach_variable`: leaves that require grad as the inputs did.
    let detached: Vec<Value> = inputs
        .iter()
        .map(|v| match v {
            Value::Tensor(t) => {
                let d = t.detach();
                if t.requires_grad() {
                    d.set_requires_grad(true).ok();
                }
                Value::Tensor(d)
            }
            other => other.clone(),
        })
        .collect();
    let outputs = {
        let _grad = it.rt.set_grad_enabled(true);
        let run_function = get(&ctx, "run_function");
        it.call(run_function, CallArgs::positional(detached.clone()), span)
    };
    it.rt.set_rng_state(surrounding);
    let outputs = match outputs? {
        Value::Tuple(t) => t.as_ref().clone(),
        other => vec![other],
    };
    let mut with_grad = Vec::new();
    let mut their_grads = Vec::new();
    for (o, g) in outputs.iter().zip(&grads) {
        if matches!(o, Value::Tensor(t) if t.requires_grad()) {
            with_grad.push(o.clone());
            their_grads.push(g.clone());
        }
    }
    if with_grad.is_empty() {
        return Err(it.raise(
            "RuntimeError",
            "none of output has requires_grad=True, this checkpoint() is not necessary".into(),
            span,
        ));
    }
    drop(outputs);
    backward_function(
        it,
        "backward",
        CallArgs::positional(vec![
            Value::Tuple(Rc::new(with_grad)),
            Value::Tuple(Rc::new(their_grads)),
        ]),
        span,
    )?;
    let mut out = vec![Value::None, Value::None];
    out.extend(detached.iter().map(|v| match v {
        Value::Tensor(t) => t.grad().map_or(Value::None, Value::Tensor),
        _ => Value::None,
    }));
    Ok(Value::Tuple(Rc::new(out)))
}

/// `checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs)`: every
/// segment but the last checkpointed, the last run as it is.
fn checkpoint_sequential(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> X<Value> {
    let b = bound(
        it,
        args.bind(
            "checkpoint_sequential",
            &[
                "functions",
                "segments",
                "input",
                "use_reentrant",
                "preserve_rng_state",
            ],
            3,
        ),
        span,
    )?;
    let functions = b.raw("functions").cloned().unwrap_or(Value::None);
    let functions: Vec<Value> = it.collect(functions, span)?;
    let segments = match b.raw("segments") {
        Some(Value::Int(s)) if *s > 0 => *s as usize,
        _ => {
            return Err(it.raise(
                "TypeError",
                "checkpoint_sequential(): segments must be a positive int".into(),
                span,
            ))
        }
    };
    let mut input = b.raw("input").cloned().unwrap_or(Value::None);
    let use_reentrant = match b.get("use_reentrant") {
        Some(Value::Bool(r)) => *r,
        _ => {
            it.emit(&format!("UserWarning: {SEQUENTIAL_WARNING}"));
            true
        }
    };
    let preserve = !matches!(b.get("preserve_rng_state"), Some(Value::Bool(false)));
    let segment_size = functions.len() / segments;
    let mut end: isize = -1;
    let mut start = 0;
    while start < segment_size * (segments - 1) {
        end = (start + segment_size - 1) as isize;
        // `run_function(start, end, functions)`: the segment's modules in turn, which an
        // `nn.Sequential` of them runs.
        let segment = functions[start..=end as usize].to_vec();
        let sequential = Value::Path(Path("torch.nn.Sequential".into()));
        let run = it.call(sequential, CallArgs::positional(segment), span)?;
        input = checkpoint(
            it,
            "checkpoint",
            CallArgs {
                pos: vec![run, input],
                kw: vec![
                    ("use_reentrant".into(), Value::Bool(use_reentrant)),
                    ("preserve_rng_state".into(), Value::Bool(preserve)),
                ],
            },
            span,
        )?;
        start += segment_size;
    }
    for f in &functions[(end + 1) as usize..] {
        input = it.call(f.clone(), CallArgs::positional(vec![input]), span)?;
    }
    Ok(input)
}
