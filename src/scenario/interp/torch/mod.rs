//! The torch API of the subset (`docs/scenarios.md`, "Library surface"): torch functions,
//! `nn` modules, optimizers, and tensor methods and attributes, bound to the runtime.
//!
//! Each Python surface is one table of names and the functions that run them: tensor methods
//! ([`tensor::METHODS`]), `torch.*` and `torch.cuda.*` ([`functions`]), `torch.nn` classes,
//! `torch.nn.functional` and `torch.nn.utils` ([`nn`]), and `torch.optim` ([`optim`]).
//! Validation (does the name exist?), dispatch (what does a call run?) and the docs test (is
//! every name listed in `docs/fidelity.md`, "Supported surface"?) all read these tables, so a
//! new op is a handler and one line per surface it appears on.

mod amp;
mod args;
mod arith_options;
mod autograd;
mod cells;
mod checkpoint;
mod conv_transpose;
mod cuda_memory;
mod data;
mod encoding;
mod functions;
mod indexing;
mod init;
mod instance_norm;
mod interpolate;
mod layer_attrs;
mod layers;
mod legacy;
mod like;
mod logic;
mod losses;
mod math;
mod nn;
pub(super) mod optim;
mod pool1d;
mod ranges;
mod rnn_utils;
mod saved_hooks;
pub(super) mod sched;
mod spellings;
mod split;
mod subscript;
mod tensor;
mod tensor_str;
mod tolist;
mod transformer;
mod triangular;
mod values;

pub(super) use amp::{
    convert_module, module_dtype, scaler_method, visit_scaler, AutocastArgs, SCALER_METHODS,
};
pub(super) use checkpoint::checkpoint_recompute;
pub(super) use nn::call_module;
pub(super) use saved_hooks::{
    enter as enter_saved_hooks, read_saved, run_unpack_hook, settle_packs, HooksEntered,
    HooksManager,
};
pub(super) use subscript::{tensor_getitem, tensor_setitem};
pub(super) use values::{
    binary, compare, device_named, display, get_attr, inplace_binary, item, len, module_index,
    module_name, neg, set_attr, tensor_bool,
};

use super::args::CallArgs;
use super::builtins::is_list_method;
use super::objects::{ModuleRef, OptimizerRef};
use super::value::{Path, Value};
use super::{Interp, R, X};
use crate::base::DType;
use crate::scenario::Span;
use crate::tensor::Tensor;

/// One name of a Python surface and what calling it runs.
pub(super) struct Entry<F: 'static> {
    pub(super) name: &'static str,
    pub(super) run: F,
}

/// A name of a surface bound to its handler.
const fn entry<F>(name: &'static str, run: F) -> Entry<F> {
    Entry { name, run }
}

/// The entry named `name` of a table.
fn find<F>(table: &'static [Entry<F>], name: &str) -> Option<&'static Entry<F>> {
    table.iter().find(|e| e.name == name)
}

/// A tensor method: the receiver, the method's name (one handler may serve several), the
/// arguments after the receiver.
type MethodFn = fn(&mut Interp<'_>, &Tensor, &str, CallArgs, Span) -> R<Value>;

/// A tensor method that runs the autograd engine, which calls back into the program: what a
/// hook or a custom Function raises comes back as the exception itself.
type EngineMethodFn = fn(&mut Interp<'_>, &Tensor, &str, CallArgs, Span) -> X<Value>;

/// What a module-level function runs.
#[derive(Clone, Copy)]
enum Run {
    /// The function itself, given its name and arguments as written.
    Call(fn(&mut Interp<'_>, &str, CallArgs, Span) -> R<Value>),
    /// `f(input, *args)`: the tensor method handler of the same name, on `input`.
    OnInput(MethodFn),
    /// A function that may run the program's Python (a hook or a custom Function through the
    /// autograd engine, a Dataset's `__getitem__`): what that raises comes back as the
    /// exception itself.
    Python(fn(&mut Interp<'_>, &str, CallArgs, Span) -> X<Value>),
}

/// A function or class of a module namespace.
type Function = Entry<Run>;

/// Every torch namespace and its functions and classes; a namespace is also an attribute of
/// its parent (`torch.nn`, `torch.cuda`).
const NAMESPACES: [(&str, &[Function]); 20] = [
    ("torch", functions::TORCH),
    ("torch.amp", amp::AMP),
    ("torch.cuda.amp", amp::CUDA_AMP),
    ("torch.cpu.amp", amp::CPU_AMP),
    ("torch.autograd", autograd::AUTOGRAD),
    ("torch.autograd.graph", saved_hooks::GRAPH),
    ("torch.utils.data", data::DATA),
    ("torch.utils.checkpoint", checkpoint::CHECKPOINT),
    (
        "torch.utils.checkpoint.CheckpointFunction",
        checkpoint::CHECKPOINT_FUNCTION,
    ),
    ("torch._C", functions::TORCH_C),
    ("torch.cuda", functions::CUDA),
    ("torch.cuda.memory", cuda_memory::CUDA_MEMORY),
    ("torch.nn", nn::MODULES),
    ("torch.nn.Transformer", nn::TRANSFORMER_STATIC),
    ("torch.nn.functional", nn::FUNCTIONAL),
    ("torch.nn.init", init::INIT),
    ("torch.nn.utils", nn::UTILS),
    ("torch.nn.utils.rnn", rnn_utils::RNN_UTILS),
    ("torch.optim", optim::OPTIMIZERS),
    ("torch.optim.lr_scheduler", sched::SCHEDULERS),
];

/// The value an `import` binds for a module path.
fn namespace(path: &str) -> Value {
    Value::Path(Path(path.into()))
}

/// `module.attr` for a torch namespace: a sub-namespace, a function, or a dtype.
pub(super) fn attribute_of_path(module: &str, attr: &str) -> Option<Value> {
    let joined = format!("{module}.{attr}");
    if NAMESPACES.iter().any(|(m, _)| *m == joined) {
        return Some(namespace(&joined));
    }
    if module == "torch" {
        if let Some(d) = DType::from_torch_name(attr) {
            return Some(Value::DType(d));
        }
    }
    let (_, table) = NAMESPACES.iter().find(|(m, _)| *m == module)?;
    find(table, attr).map(|_| Value::Path(Path(joined.into())))
}

/// Whether `obj.name(...)` is a method of the subset.
pub(super) fn has_method(obj: &Value, name: &str) -> bool {
    match obj {
        Value::Tensor(_) => {
            find(tensor::METHODS, name).is_some() || find(autograd::METHODS, name).is_some()
        }
        Value::Module(_) => find(nn::MODULE_METHODS, name).is_some(),
        Value::Optimizer(_) => find(optim::OPTIMIZER_METHODS, name).is_some(),
        Value::Scheduler(_) => find(sched::SCHEDULER_METHODS, name).is_some(),
        Value::List(_) => is_list_method(name),
        _ => false,
    }
}

/// Calls a torch function or class by its dotted path.
pub(super) fn call_path(it: &mut Interp<'_>, path: &str, args: CallArgs, span: Span) -> X<Value> {
    let (module, name) = path.rsplit_once('.').unwrap_or(("", path));
    let function = NAMESPACES
        .iter()
        .find(|(m, _)| *m == module)
        .and_then(|(_, table)| find(table, name));
    let r = match function.map(|f| f.run) {
        Some(Run::Python(run)) => return run(it, name, args, span),
        Some(Run::Call(run)) => run(it, name, args, span),
        Some(Run::OnInput(run)) => args::split_input(it, name, args, span)
            .and_then(|(input, rest)| run(it, &input, name, rest, span)),
        None => Err(it
            .fail(span, format!("{path} is not supported in scenarios"))
            .with_help("see docs/scenarios.md for the supported torch API")),
    };
    it.lift(r)
}

/// `receiver.name(args)` for tensors, modules and optimizers.
pub(super) fn call_method(
    it: &mut Interp<'_>,
    recv: Value,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    if let Value::Tensor(t) = &recv {
        if let Some(m) = find(autograd::METHODS, name) {
            return (m.run)(it, t, name, args, span);
        }
    }
    if let Value::Scheduler(s) = &recv {
        if let Some(m) = find(sched::SCHEDULER_METHODS, name) {
            return (m.run)(it, s, name, args, span);
        }
    }
    let found = match &recv {
        Value::Tensor(t) => find(tensor::METHODS, name).map(|m| (m.run)(it, t, name, args, span)),
        Value::Module(m) => {
            find(nn::MODULE_METHODS, name).map(|f| (f.run)(it, m, name, args, span))
        }
        Value::Optimizer(o) => {
            find(optim::OPTIMIZER_METHODS, name).map(|f| (f.run)(it, o, name, args, span))
        }
        _ => None,
    };
    let r = found.unwrap_or_else(|| {
        Err(it.fail(
            span,
            format!(
                "AttributeError: '{}' object has no attribute '{name}'",
                recv.type_name()
            ),
        ))
    });
    it.lift(r)
}

/// A method of a built-in module (`Linear`, `Sequential`, a loss).
type ModuleMethodFn = fn(&mut Interp<'_>, &ModuleRef, &str, CallArgs, Span) -> R<Value>;

/// A method of an optimizer.
type OptimizerMethodFn = fn(&mut Interp<'_>, &OptimizerRef, &str, CallArgs, Span) -> R<Value>;

/// A method of a learning-rate scheduler, which may call the program's Python (`LambdaLR`'s
/// functions).
type SchedulerMethodFn =
    fn(&mut Interp<'_>, &sched::SchedulerRef, &str, CallArgs, Span) -> X<Value>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated "Supported surface" section of `docs/fidelity.md`: every table's names.
    fn surface_section() -> String {
        fn line<F>(out: &mut String, title: &str, table: &[Entry<F>]) {
            let mut names: Vec<&str> = table.iter().map(|e| e.name).collect();
            names.sort_unstable();
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            out.push_str(&format!("- {title}: {}\n", names.join(", ")));
        }
        let mut out = String::new();
        let mut methods: Vec<&str> = tensor::METHODS.iter().map(|e| e.name).collect();
        methods.extend(autograd::METHODS.iter().map(|e| e.name));
        let methods: Vec<Entry<()>> = methods.into_iter().map(|n| entry(n, ())).collect();
        line(&mut out, "`Tensor` methods", &methods);
        line(
            &mut out,
            "`nn.Module` methods (built-in modules)",
            nn::MODULE_METHODS,
        );
        line(&mut out, "optimizer methods", optim::OPTIMIZER_METHODS);
        line(&mut out, "scheduler methods", sched::SCHEDULER_METHODS);
        for (module, table) in NAMESPACES {
            line(&mut out, &format!("`{module}`"), table);
        }
        out
    }

    const BEGIN: &str = "<!-- surface:begin -->\n";
    const END: &str = "<!-- surface:end -->";

    /// docs/fidelity.md lists every name of every table, and nothing else, between its
    /// markers; rewrite the section with `LEAKHARNESS_BLESS=1 cargo test --lib surface`.
    #[test]
    fn the_supported_surface_section_lists_every_table_entry() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/fidelity.md");
        let docs = std::fs::read_to_string(file).unwrap();
        let start = docs
            .find(BEGIN)
            .expect("docs/fidelity.md has no surface:begin marker");
        let end = docs
            .find(END)
            .expect("docs/fidelity.md has no surface:end marker");
        let expected = surface_section();
        let found = &docs[start + BEGIN.len()..end];
        if found != expected && std::env::var_os("LEAKHARNESS_BLESS").is_some() {
            let blessed = format!("{}{expected}{}", &docs[..start + BEGIN.len()], &docs[end..]);
            std::fs::write(file, blessed).unwrap();
            return;
        }
        assert_eq!(
            found, expected,
            "docs/fidelity.md's supported surface is stale: rerun with LEAKHARNESS_BLESS=1"
        );
    }

    /// The torch API table of docs/scenarios.md documents every operation on tensors.
    #[test]
    fn the_docs_list_every_operation_of_the_tables() {
        let docs = include_str!("../../../../docs/scenarios.md");
        let surface = &docs[docs.find("## The torch API that runs").unwrap()..];
        let functions = NAMESPACES
            .iter()
            .filter(|(m, _)| matches!(*m, "torch" | "torch.nn.functional"))
            .flat_map(|(_, table)| table.iter().map(|f| f.name));
        let methods = tensor::METHODS
            .iter()
            .map(|m| m.name)
            .chain(autograd::METHODS.iter().map(|m| m.name));
        for name in methods.chain(functions) {
            let forms = [
                format!("`{name}"),
                format!("`F.{name}"),
                format!("`torch.{name}"),
                format!(".{name}("),
            ];
            assert!(
                forms.iter().any(|f| surface.contains(f.as_str())),
                "docs/scenarios.md does not document `{name}`"
            );
        }
    }

    /// Validation accepts exactly the names dispatch runs: every table entry, nothing else.
    #[test]
    fn validation_knows_every_operation_of_the_tables() {
        for (module, table) in NAMESPACES {
            for f in table {
                assert!(
                    attribute_of_path(module, f.name).is_some(),
                    "{module}.{}",
                    f.name
                );
            }
        }
        assert!(attribute_of_path("torch", "gelu").is_none());
        assert!(attribute_of_path("torch.nn.functional", "permute").is_none());
        assert!(attribute_of_path("torch.nn", "Conv7d").is_none());
    }

    /// No table names a function twice (the second entry would never run).
    #[test]
    fn no_table_repeats_a_name() {
        fn unique<F>(what: &str, table: &[Entry<F>]) {
            let mut names: Vec<&str> = table.iter().map(|e| e.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{what} repeats a name");
        }
        unique("Tensor methods", tensor::METHODS);
        unique("engine Tensor methods", autograd::METHODS);
        for m in autograd::METHODS {
            assert!(find(tensor::METHODS, m.name).is_none(), "{} twice", m.name);
        }
        unique("module methods", nn::MODULE_METHODS);
        unique("optimizer methods", optim::OPTIMIZER_METHODS);
        unique("scheduler methods", sched::SCHEDULER_METHODS);
        for (module, table) in NAMESPACES {
            unique(module, table);
        }
    }
}
