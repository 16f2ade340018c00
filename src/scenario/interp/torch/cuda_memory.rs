//! `torch.cuda.memory`: the allocator settings a script may change while it runs.

use super::super::args::CallArgs;
use super::super::value::Value;
use super::super::{Interp, R};
use super::args::bind;
use super::{entry, Function, Run};
use crate::scenario::Span;

/// `torch.cuda.memory.*` beyond what `torch.cuda` re-exports.
pub(super) const CUDA_MEMORY: &[Function] = &[entry(
    "_set_allocator_settings",
    Run::Call(set_allocator_settings),
)];

/// `_set_allocator_settings(env)`: the caching allocator follows `env`, in
/// `PYTORCH_CUDA_ALLOC_CONF`'s syntax, from now on (`AllocatorConfig::update`); cached blocks
/// keep their sizes. A string PyTorch refuses raises its RuntimeError.
fn set_allocator_settings(it: &mut Interp<'_>, _: &str, args: CallArgs, span: Span) -> R<Value> {
    let name = "torch.cuda.memory._set_allocator_settings";
    let b = bind(it, &args, name, &["env"], 1, span)?;
    let Some(Value::Str(text)) = b.raw("env") else {
        return Err(it.fail(span, format!("TypeError: {name}() expects a string")));
    };
    let rt = it.rt.clone();
    let mut config = *rt.allocator().config();
    config
        .update(text)
        .map_err(|e| it.fail(span, format!("RuntimeError: {}", e.message)))?;
    rt.allocator_mut().set_config(config);
    Ok(Value::None)
}
