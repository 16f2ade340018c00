//! The standard-library and third-party modules training scripts import (`time`, `math`,
//! `random`, `collections`, `itertools`, `functools`, `typing`, `dataclasses`, `copy`,
//! `logging`, `gc`, `os`, `sys`, `tqdm`, `numpy` on host numbers, `warnings`, `contextlib`),
//! and the torch names that are engine objects rather than tensor operations (`nn.Module`,
//! `torch.autograd.Variable`, `torch.OutOfMemoryError`). This file holds the module table and
//! the modules' functions; `random`, `itertools` and the library objects are in its child
//! modules.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::builtins::new_list;
use super::dict::{Dict, DictKind, Key};
use super::ops::path;
use super::pyobj::Native;
use super::value::Value;
use super::{torch, CallArgs, Interp, X};
use crate::scenario::Span;

mod itertools;
mod native;
mod random;

use itertools::itertools;
pub(super) use native::{call_native, call_native_method, native_attr};
use random::random;

/// Modules that are not torch's, and the names each one has.
const MODULES: [(&str, &[&str]); 23] = [
    (
        "time",
        &["time", "perf_counter", "monotonic", "sleep", "process_time"],
    ),
    (
        "math",
        &[
            "sqrt", "log", "log2", "log10", "exp", "ceil", "floor", "pi", "e", "inf", "nan",
            "isnan", "isinf", "isfinite", "cos", "sin", "tanh", "pow", "fabs", "prod", "fsum",
        ],
    ),
    (
        "random",
        &[
            "seed",
            "random",
            "randint",
            "uniform",
            "choice",
            "shuffle",
            "gauss",
            "sample",
            "randrange",
        ],
    ),
    (
        "collections",
        &[
            "defaultdict",
            "deque",
            "OrderedDict",
            "Counter",
            "namedtuple",
            "abc",
        ],
    ),
    (
        "collections.abc",
        &["Mapping", "Iterable", "Sequence", "Callable"],
    ),
    (
        "itertools",
        &[
            "count",
            "chain",
            "islice",
            "cycle",
            "repeat",
            "product",
            "zip_longest",
            "accumulate",
        ],
    ),
    (
        "functools",
        &["partial", "wraps", "reduce", "lru_cache", "cache"],
    ),
    (
        "typing",
        &[
            "Any",
            "Optional",
            "List",
            "Dict",
            "Tuple",
            "Union",
            "Callable",
            "Iterable",
            "Iterator",
            "Sequence",
            "Mapping",
            "Set",
            "Type",
            "NamedTuple",
            "TypeVar",
            "Generic",
            "Protocol",
            "cast",
            "TYPE_CHECKING",
            "Literal",
            "Generator",
        ],
    ),
    ("dataclasses", &["dataclass", "field", "asdict"]),
    ("copy", &["copy", "deepcopy"]),
    (
        "logging",
        &[
            "getLogger",
            "basicConfig",
            "INFO",
            "DEBUG",
            "WARNING",
            "ERROR",
            "CRITICAL",
            "info",
            "debug",
            "warning",
            "error",
            "critical",
            "StreamHandler",
            "Formatter",
        ],
    ),
    (
        "gc",
        &[
            "collect",
            "disable",
            "enable",
            "isenabled",
            "get_count",
            "get_threshold",
            "set_threshold",
        ],
    ),
    ("os", &["environ", "getenv", "cpu_count", "getpid"]),
    (
        "sys",
        &[
            "argv",
            "version",
            "version_info",
            "exit",
            "exc_info",
            "getrecursionlimit",
            "setrecursionlimit",
            "maxsize",
            "platform",
        ],
    ),
    ("tqdm", &["tqdm", "trange"]),
    ("tqdm.auto", &["tqdm", "trange"]),
    (
        "numpy",
        &[
            "mean", "array", "sum", "std", "max", "min", "float32", "float64", "sqrt", "inf",
            "nan", "median",
        ],
    ),
    ("warnings", &["warn", "filterwarnings", "simplefilter"]),
    ("contextlib", &["nullcontext", "suppress"]),
    ("__future__", &["annotations", "print_function", "division"]),
    ("torch.autograd", &["Variable", "Function"]),
    ("torch.utils", &["data"]),
    ("torch.utils.data", &["Dataset", "IterableDataset"]),
];

/// Whether `p` names a module (for `repr` and error messages).
pub(super) fn is_module(p: &str) -> bool {
    MODULES.iter().any(|(m, _)| *m == p)
        || matches!(
            p,
            "torch" | "torch.nn" | "torch.nn.functional" | "torch.optim" | "torch.cuda"
        )
}

/// The value `import name` gives, or `None` for a module scenarios cannot import.
pub(super) fn import(name: &str) -> Option<Value> {
    (is_module(name) || torch::attribute_of_path(parent(name), leaf(name)).is_some())
        .then(|| path(name))
}

fn parent(p: &str) -> &str {
    p.rsplit_once('.').map_or("", |(a, _)| a)
}

fn leaf(p: &str) -> &str {
    p.rsplit_once('.').map_or(p, |(_, b)| b)
}

/// `module.attr`, for torch's modules and the others.
pub(super) fn attribute_of_module(module: &str, attr: &str) -> Option<Value> {
    let joined = format!("{module}.{attr}");
    if let Some(v) = super::module::torch_attribute(module, attr) {
        return Some(v);
    }
    if let Some(v) = torch::attribute_of_path(module, attr) {
        return Some(v);
    }
    if is_module(&joined) {
        return Some(path(&joined));
    }
    let (_, names) = MODULES.iter().find(|(m, _)| *m == module)?;
    if !names.contains(&attr) {
        return None;
    }
    Some(match (module, attr) {
        ("math", "pi") => Value::Float(std::f64::consts::PI),
        ("math", "e") => Value::Float(std::f64::consts::E),
        ("math" | "numpy", "inf") => Value::Float(f64::INFINITY),
        ("math" | "numpy", "nan") => Value::Float(f64::NAN),
        ("logging", "DEBUG") => Value::Int(10),
        ("logging", "INFO") => Value::Int(20),
        ("logging", "WARNING") => Value::Int(30),
        ("logging", "ERROR") => Value::Int(40),
        ("logging", "CRITICAL") => Value::Int(50),
        ("sys", "argv") => new_list(vec![Value::Str("scenario.py".into())], Span::default()),
        ("sys", "version") => Value::Str("3.12.0 (leakharness)".into()),
        ("sys", "version_info") => {
            Value::Tuple(Rc::new(vec![Value::Int(3), Value::Int(12), Value::Int(0)]))
        }
        ("sys", "maxsize") => Value::Int(i64::MAX),
        ("sys", "platform") => Value::Str("linux".into()),
        ("typing", "TYPE_CHECKING") => Value::Bool(false),
        ("__future__", _) => Value::None,
        ("numpy", "float32" | "float64") => path("float"),
        _ => path(&joined),
    })
}

fn arg(args: &CallArgs, i: usize, name: &str) -> Option<Value> {
    args.pos
        .get(i)
        .cloned()
        .or_else(|| args.keyword(name).cloned())
}

fn float_of(it: &mut Interp<'_>, v: &Value, span: Span) -> X<f64> {
    match super::number(v) {
        Some(super::Num::Int(i)) => Ok(i as f64),
        Some(super::Num::Float(f)) => Ok(f),
        None => match v {
            Value::Tensor(t) => {
                let r = torch::item(t).map_err(|e| it.tensor_error(span, e));
                it.lift(r)
            }
            other => Err(it.raise(
                "TypeError",
                format!("must be real number, not {}", other.type_name()),
                span,
            )),
        },
    }
}

/// Calls a function of a non-torch module; `None` when `p` is not one.
pub(super) fn call(it: &mut Interp<'_>, p: &str, args: &CallArgs, span: Span) -> Option<X<Value>> {
    let (module, name) = (parent(p), leaf(p));
    let known = MODULES
        .iter()
        .any(|(m, names)| *m == module && names.contains(&name));
    if !known {
        return None;
    }
    Some(call_known(it, module, name, args, span))
}

fn call_known(
    it: &mut Interp<'_>,
    module: &str,
    name: &str,
    args: &CallArgs,
    span: Span,
) -> X<Value> {
    let x0 = arg(args, 0, "x");
    match (module, name) {
        ("time", "sleep") => Ok(Value::None),
        ("time", _) => Ok(Value::Float(it.started.elapsed().as_secs_f64())),
        ("math", "isnan" | "isinf" | "isfinite") => {
            let x = float_of(it, &x0.unwrap_or(Value::None), span)?;
            Ok(Value::Bool(match name {
                "isnan" => x.is_nan(),
                "isinf" => x.is_infinite(),
                _ => x.is_finite(),
            }))
        }
        ("math", "ceil" | "floor") => {
            let x = float_of(it, &x0.unwrap_or(Value::None), span)?;
            Ok(Value::Int(
                if name == "ceil" { x.ceil() } else { x.floor() } as i64,
            ))
        }
        ("math", "pow") => {
            let a = float_of(it, &x0.unwrap_or(Value::None), span)?;
            let b = float_of(it, &arg(args, 1, "y").unwrap_or(Value::None), span)?;
            Ok(Value::Float(a.powf(b)))
        }
        ("math", "prod" | "fsum") => {
            let items = it.collect(x0.unwrap_or(Value::None), span)?;
            let mut acc = if name == "prod" { 1.0 } else { 0.0 };
            for v in &items {
                let x = float_of(it, v, span)?;
                if name == "prod" {
                    acc *= x
                } else {
                    acc += x
                }
            }
            Ok(Value::Float(acc))
        }
        ("math", "log") if args.pos.len() == 2 => {
            let x = float_of(it, &args.pos[0], span)?;
            let b = float_of(it, &args.pos[1], span)?;
            Ok(Value::Float(x.ln() / b.ln()))
        }
        (
            "math" | "numpy",
            "sqrt" | "log" | "log2" | "log10" | "exp" | "cos" | "sin" | "tanh" | "fabs",
        ) => {
            let x = float_of(it, &x0.unwrap_or(Value::None), span)?;
            if matches!(name, "sqrt") && x < 0.0
                || matches!(name, "log" | "log2" | "log10") && x <= 0.0
            {
                return Err(it.raise("ValueError", "math domain error".into(), span));
            }
            Ok(Value::Float(match name {
                "sqrt" => x.sqrt(),
                "log" => x.ln(),
                "log2" => x.log2(),
                "log10" => x.log10(),
                "exp" => x.exp(),
                "cos" => x.cos(),
                "sin" => x.sin(),
                "tanh" => x.tanh(),
                _ => x.abs(),
            }))
        }
        ("random", _) => random(it, name, args, span),
        ("collections", "defaultdict") => {
            let factory = args.pos.first().cloned().unwrap_or(Value::None);
            let d = Dict::shared(if matches!(factory, Value::None) {
                DictKind::Plain
            } else {
                DictKind::Default(factory)
            });
            let v = Value::Dict(d);
            it.gc.track_value(&v);
            Ok(v)
        }
        ("collections", "OrderedDict" | "Counter") => {
            let kind = if name == "Counter" {
                DictKind::Counter
            } else {
                DictKind::Ordered
            };
            let d = Dict::shared(kind);
            if let Some(src) = args.pos.first() {
                if name == "Counter" && !matches!(src, Value::Dict(_)) {
                    for item in it.collect(src.clone(), span)? {
                        let k = it.key(&item, span)?;
                        let n = match d.borrow().get(&k) {
                            Some(Value::Int(n)) => n,
                            _ => 0,
                        };
                        d.borrow_mut().insert(k, item, Value::Int(n + 1));
                    }
                } else {
                    for (k, v) in it.mapping_items(src, span)? {
                        let key = it.key(&k, span)?;
                        d.borrow_mut().insert(key, k, v);
                    }
                }
            }
            let v = Value::Dict(d);
            it.gc.track_value(&v);
            Ok(v)
        }
        ("collections", "deque") => {
            let items = match arg(args, 0, "iterable") {
                Some(v) if !matches!(v, Value::None) => it.collect(v, span)?,
                _ => Vec::new(),
            };
            let maxlen = match args.keyword("maxlen").or(args.pos.get(1)) {
                Some(Value::Int(n)) => Some((*n).max(0) as usize),
                _ => None,
            };
            let mut d: VecDeque<Value> = items.into();
            if let Some(m) = maxlen {
                while d.len() > m {
                    d.pop_front();
                }
            }
            Ok(Value::Native(Rc::new(Native::Deque(
                RefCell::new(d),
                maxlen,
            ))))
        }
        ("collections", "namedtuple") => {
            let type_name = match args.pos.first() {
                Some(Value::Str(s)) => s.clone(),
                _ => "namedtuple".into(),
            };
            let fields: Vec<Rc<str>> = match arg(args, 1, "field_names") {
                Some(Value::Str(s)) => s
                    .replace(',', " ")
                    .split_whitespace()
                    .map(Rc::from)
                    .collect(),
                Some(other) => it
                    .collect(other, span)?
                    .into_iter()
                    .map(|v| Rc::from(v.to_string().as_str()))
                    .collect(),
                None => Vec::new(),
            };
            Ok(Value::Native(Rc::new(Native::NamedTupleType(
                type_name, fields,
            ))))
        }
        ("itertools", _) => itertools(it, name, args, span),
        ("functools", "partial") => {
            let Some((f, rest)) = args.pos.split_first() else {
                return Err(it.raise("TypeError", "partial() missing the function".into(), span));
            };
            Ok(Value::Native(Rc::new(Native::Partial(
                f.clone(),
                rest.to_vec(),
                args.kw.clone(),
            ))))
        }
        ("functools", "wraps") => Ok(Value::Native(Rc::new(Native::Wraps(
            args.pos.first().cloned().unwrap_or(Value::None),
        )))),
        ("functools", "lru_cache" | "cache") => match args.pos.first() {
            // Used bare (`@lru_cache`) it gets the function; with arguments it returns itself.
            Some(f @ (Value::Function(_) | Value::BoundMethod(_))) => Ok(f.clone()),
            _ => Ok(path("functools.lru_cache")),
        },
        ("functools", "reduce") => {
            let (Some(f), Some(items)) = (args.pos.first(), args.pos.get(1)) else {
                return Err(it.raise(
                    "TypeError",
                    "reduce expected at least 2 arguments".into(),
                    span,
                ));
            };
            let mut items = it.collect(items.clone(), span)?.into_iter();
            let mut acc = match args.pos.get(2) {
                Some(init) => init.clone(),
                None => items.next().ok_or_else(|| {
                    it.raise(
                        "TypeError",
                        "reduce() of empty iterable with no initial value".into(),
                        span,
                    )
                })?,
            };
            for v in items {
                acc = it.call(f.clone(), CallArgs::positional(vec![acc, v]), span)?;
            }
            Ok(acc)
        }
        ("typing", "cast") => Ok(args.pos.get(1).cloned().unwrap_or(Value::None)),
        ("typing", "TypeVar" | "NamedTuple") => Ok(path("typing.Any")),
        ("typing", _) => Ok(path(&format!("typing.{name}"))),
        ("dataclasses", "dataclass") => match args.pos.first() {
            Some(Value::Class(c)) => {
                super::module::make_dataclass(c);
                Ok(Value::Class(c.clone()))
            }
            _ => Ok(path("dataclasses.dataclass")),
        },
        ("dataclasses", "field") => {
            if let Some(f) = args.keyword("default_factory") {
                return Ok(Value::Native(Rc::new(Native::FieldFactory(f.clone()))));
            }
            Ok(args.keyword("default").cloned().unwrap_or(Value::None))
        }
        ("dataclasses", "asdict") => {
            let d = Dict::shared(DictKind::Plain);
            if let Some(Value::Instance(i)) = args.pos.first() {
                for (k, v) in i.dict.borrow().items() {
                    let key = Key::of(&k).unwrap_or(Key::None);
                    d.borrow_mut().insert(key, k, v);
                }
            }
            Ok(Value::Dict(d))
        }
        ("copy", "copy" | "deepcopy") => {
            let v = x0.unwrap_or(Value::None);
            super::module::copy_value(it, &v, name == "deepcopy", span)
        }
        ("logging", "getLogger") => {
            let name = match args.pos.first() {
                Some(Value::Str(s)) => s.clone(),
                _ => "root".into(),
            };
            Ok(Value::Native(Rc::new(Native::Logger(name))))
        }
        ("logging", "basicConfig") => {
            if let Some(Value::Int(level)) = args.keyword("level") {
                it.log_level = *level;
            }
            Ok(Value::None)
        }
        ("logging", "StreamHandler" | "Formatter") => Ok(Value::None),
        ("logging", level) => {
            let root = Rc::new(Native::Logger("root".into()));
            call_native_method(it, &root, level, args.clone(), span)
        }
        ("gc", "collect") => Ok(Value::Int(it.gc.collect(2) as i64)),
        ("gc", "disable" | "enable") => {
            it.gc.enabled = name == "enable";
            Ok(Value::None)
        }
        ("gc", "isenabled") => Ok(Value::Bool(it.gc.enabled)),
        ("gc", "get_count") => {
            let c = it.gc.counts();
            Ok(Value::Tuple(Rc::new(
                c.iter().map(|&n| Value::Int(n as i64)).collect(),
            )))
        }
        ("gc", "get_threshold") => {
            let t = it.gc.thresholds;
            Ok(Value::Tuple(Rc::new(
                t.iter().map(|&n| Value::Int(n as i64)).collect(),
            )))
        }
        ("gc", "set_threshold") => {
            for (i, v) in args.pos.iter().take(3).enumerate() {
                if let Value::Int(n) = v {
                    it.gc.thresholds[i] = (*n).max(0) as usize;
                }
            }
            Ok(Value::None)
        }
        ("os", "environ") => Ok(Value::Dict(it.environ.clone())),
        ("os", "getenv") => {
            let key = match args.pos.first() {
                Some(k) => it.key(k, span)?,
                None => Key::None,
            };
            let found = it.environ.borrow().get(&key);
            Ok(found.unwrap_or_else(|| args.pos.get(1).cloned().unwrap_or(Value::None)))
        }
        ("os", "cpu_count") => Ok(Value::Int(1)),
        ("os", "getpid") => Ok(Value::Int(1)),
        ("sys", "exit") => Err(it.raise("SystemExit", String::new(), span)),
        // The traceback is the exception itself, as `__traceback__` gives it: it holds the
        // same frames.
        ("sys", "exc_info") => Ok(Value::Tuple(Rc::new(match it.handling.last() {
            Some(e) => {
                let e = Value::Exception(e.clone());
                vec![super::builtins::type_of(&e), e.clone(), e]
            }
            None => vec![Value::None, Value::None, Value::None],
        }))),
        ("sys", "getrecursionlimit") => Ok(Value::Int(it.recursion_limit as i64)),
        ("sys", "setrecursionlimit") => {
            if let Some(Value::Int(n)) = args.pos.first() {
                it.recursion_limit = (*n).clamp(1, super::MAX_RECURSION_LIMIT as i64) as usize;
            }
            Ok(Value::None)
        }
        ("tqdm" | "tqdm.auto", "tqdm") => Ok(Value::Native(Rc::new(Native::Tqdm(
            arg(args, 0, "iterable").unwrap_or(Value::None),
        )))),
        ("tqdm" | "tqdm.auto", "trange") => {
            let r = super::builtins::call_path(
                it,
                "range",
                CallArgs::positional(args.pos.clone()),
                span,
            )?;
            Ok(Value::Native(Rc::new(Native::Tqdm(r))))
        }
        ("numpy", "array") => {
            let items = it.collect(x0.unwrap_or(Value::None), span)?;
            Ok(it.list(items, span))
        }
        ("numpy", "float32" | "float64") => {
            let x = float_of(it, &x0.unwrap_or(Value::Int(0)), span)?;
            Ok(Value::Float(x))
        }
        ("numpy", _) => {
            let items = it.collect(x0.unwrap_or(Value::None), span)?;
            let mut xs = Vec::with_capacity(items.len());
            for v in &items {
                xs.push(float_of(it, v, span)?);
            }
            if xs.is_empty() && name != "sum" {
                return Ok(Value::Float(f64::NAN));
            }
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            Ok(Value::Float(match name {
                "sum" => xs.iter().sum(),
                "mean" => mean,
                "std" => (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt(),
                "max" => xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                "min" => xs.iter().cloned().fold(f64::INFINITY, f64::min),
                _ => {
                    let mut s = xs.clone();
                    s.sort_by(|a, b| a.total_cmp(b));
                    let m = s.len() / 2;
                    if s.len() % 2 == 0 {
                        (s[m - 1] + s[m]) / 2.0
                    } else {
                        s[m]
                    }
                }
            }))
        }
        ("warnings", "warn") => {
            let text = match args.pos.first() {
                Some(v) => it.str_of(v, span)?,
                None => String::new(),
            };
            it.emit(&format!("UserWarning: {text}"));
            Ok(Value::None)
        }
        ("warnings", _) => Ok(Value::None),
        ("contextlib", "nullcontext") => Ok(Value::Native(Rc::new(Native::NullContext(
            args.pos.first().cloned().unwrap_or(Value::None),
        )))),
        ("torch.autograd", "Variable") => {
            let t = args.pos.first().cloned().unwrap_or(Value::None);
            if let (Value::Tensor(t), Some(Value::Bool(true))) = (&t, args.keyword("requires_grad"))
            {
                let r = t
                    .set_requires_grad(true)
                    .map_err(|e| it.tensor_error(span, e));
                it.lift(r)?;
            }
            Ok(t)
        }
        _ => {
            let f = it
                .fail(
                    span,
                    format!("RuntimeError: {module}.{name}() is not supported in scenarios"),
                )
                .with_help("see docs/scenarios.md for the modules and names that run");
            it.lift(Err(f))
        }
    }
}
