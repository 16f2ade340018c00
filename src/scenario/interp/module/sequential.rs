//! `nn.Sequential(...)` holding a module written in the scenario: the library's `Sequential`
//! holds library modules only, so a Sequential with any scenario module in it is a container
//! object like `nn.ModuleList` (children registered as `0`, `1`, ...) whose `forward` passes
//! its one input through the children in order, as `Sequential.forward` in 2.15's
//! `torch/nn/modules/container.py` does. Hooks, `parameters()`, `.cuda()`, `repr` and indexing
//! are the containers' own.

use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use super::tree::children;
use super::{module_class, module_init, new_instance};
use crate::scenario::Span;

/// `nn.Sequential(*modules)` as a scenario container.
pub(in crate::scenario::interp) fn sequential_of(
    it: &mut Interp<'_>,
    modules: Vec<Value>,
    span: Span,
) -> X<Value> {
    let obj = new_instance(it, module_class("Sequential", "torch.nn.Sequential"));
    module_init(
        it,
        "torch.nn.Sequential",
        CallArgs::positional(vec![obj.clone()]),
        span,
    )?;
    for (i, m) in modules.into_iter().enumerate() {
        if !super::is_module_instance(&m) {
            return Err(it.raise(
                "TypeError",
                format!("{} is not a Module subclass", m.type_name()),
                span,
            ));
        }
        it.set_attr(&obj, &i.to_string(), m, span)?;
    }
    Ok(obj)
}

/// `Sequential.forward(input)`: each child called on what the previous one returned.
pub(super) fn forward(it: &mut Interp<'_>, obj: &Value, args: CallArgs, span: Span) -> X<Value> {
    let mut x = match (args.pos.as_slice(), args.kw.is_empty()) {
        ([x], true) => x.clone(),
        _ => {
            return Err(it.raise(
                "TypeError",
                "Sequential.forward() takes one input".into(),
                span,
            ))
        }
    };
    for (_, m) in children(obj) {
        x = it.call(m, CallArgs::positional(vec![x]), span)?;
    }
    Ok(x)
}
