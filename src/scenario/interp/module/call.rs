//! Calling a module: `model(x)` of a scenario module (forward pre-hooks, `forward`, forward
//! hooks, as `_call_impl` runs them), `super().name(...)` reaching a library base, and the
//! dispatch of the methods the library provides to scenario objects and library modules.

use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use super::methods::{call_instance_method, is_library_module_method};
use super::{hooks, hooks_of, is_module_base, is_module_object, module_init, precision};
use crate::scenario::Span;

/// `model(x)` for scenario modules: pre-hooks, `forward`, hooks. `None` for other objects.
pub(in crate::scenario::interp) fn call_module_instance(
    it: &mut Interp<'_>,
    obj: &Value,
    args: &CallArgs,
    span: Span,
) -> Option<X<Value>> {
    let Value::Instance(i) = obj else {
        return None;
    };
    if !is_module_object(i) || i.class.lookup("__call__").is_some() {
        return None;
    }
    let hooks = hooks_of(obj).unwrap_or_default();
    Some(hooks::call_with_hooks(
        it,
        obj,
        &hooks,
        args.clone(),
        span,
        &mut |it, args| {
            let Some(forward) = it.lookup_method(obj, "forward") else {
                if i.class.builtin_base.as_deref() == Some("torch.nn.Sequential") {
                    return super::sequential::forward(it, obj, args, span);
                }
                return Err(it.raise(
                    "NotImplementedError",
                    format!(
                        "Module [{}] is missing the required \"forward\" function",
                        i.class.name
                    ),
                    span,
                ));
            };
            it.call(forward, args, span)
        },
    ))
}

/// Methods of scenario objects that the library provides (`nn.Module`'s, containers',
/// `super().__init__`), and the extra methods of library modules. `None` when `recv.name` is
/// none of them.
pub(in crate::scenario::interp) fn call_library_module_method(
    it: &mut Interp<'_>,
    recv: &Value,
    name: &str,
    args: &CallArgs,
    span: Span,
) -> Option<X<Value>> {
    if let Some(base_method) = name.strip_prefix("super:") {
        return Some(call_super_method(it, recv, base_method, args.clone(), span));
    }
    match recv {
        Value::Instance(_) => precision::convert(it, recv, name, args, span)
            .or_else(|| Some(call_instance_method(it, recv, name, args.clone(), span))),
        Value::Exception(e) if name == "with_traceback" => Some(Ok(Value::Exception(e.clone()))),
        Value::Module(_) if is_library_module_method(recv, name) => {
            Some(call_instance_method(it, recv, name, args.clone(), span))
        }
        _ => None,
    }
}

/// `super().name(...)` reaching a library base.
fn call_super_method(
    it: &mut Interp<'_>,
    recv: &Value,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match (recv, name) {
        (Value::Exception(e), "__init__") => {
            *e.args.borrow_mut() = args.pos;
            Ok(Value::None)
        }
        (Value::Instance(i), "__init__") => {
            let base = i
                .class
                .builtin_base
                .clone()
                .unwrap_or_else(|| "object".into());
            if is_module_base(&base) {
                module_init(it, &base, CallArgs::positional(vec![recv.clone()]), span)?;
            }
            Ok(Value::None)
        }
        (Value::Instance(_), "__call__") => match call_module_instance(it, recv, &args, span) {
            Some(r) => r,
            None => Err(it.raise("TypeError", "object is not callable".into(), span)),
        },
        _ => call_instance_method(it, recv, name, args, span),
    }
}
