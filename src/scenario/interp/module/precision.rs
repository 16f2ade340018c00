//! `module.half()`, `module.bfloat16()` and `module.to(dtype)` of scenario modules: every
//! floating-point parameter, gradient and buffer of the module and its children converted in
//! place (the conversion itself is `torch::convert_module`'s).

use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use super::named_tensors;
use crate::scenario::Span;
use crate::tensor::Tensor;

/// The conversion methods besides `nn.Module`'s others.
pub(super) const METHODS: [&str; 2] = ["half", "bfloat16"];

fn tensors(named: Vec<(String, Value)>) -> Vec<Tensor> {
    named
        .into_iter()
        .filter_map(|(_, v)| match v {
            Value::Tensor(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// Runs `recv.name(*args)` when it converts the module's dtype; `None` otherwise (`to` that
/// only moves, any other method).
pub(super) fn convert(
    it: &mut Interp<'_>,
    recv: &Value,
    name: &str,
    args: &CallArgs,
    span: Span,
) -> Option<X<Value>> {
    let dtype = super::super::torch::module_dtype(name, args)?;
    let params = tensors(named_tensors(recv, false));
    let buffers = tensors(named_tensors(recv, true));
    let r = super::super::torch::convert_module(it, params, buffers, dtype, span);
    Some(it.lift(r).map(|()| recv.clone()))
}
