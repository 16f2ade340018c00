//! `module.half()`, `module.bfloat16()` and `module.to(dtype)` of scenario modules: every
//! floating-point parameter, gradient and buffer of the module and its children converted in
//! place, in `Module._apply`'s order (the conversion itself is `torch::convert_module`'s).

use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use crate::scenario::Span;

/// The conversion methods besides `nn.Module`'s others.
pub(super) const METHODS: [&str; 2] = ["half", "bfloat16"];

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
    // Parameters and buffers in `Module._apply`'s order (children first, `apply.rs`).
    let tensors = super::apply::tensors(recv);
    let r = super::super::torch::convert_module(it, tensors, Vec::new(), dtype, span);
    Some(it.lift(r).map(|()| recv.clone()))
}
