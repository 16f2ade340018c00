//! The standard-library and third-party modules training scripts import (`time`, `math`,
//! `random`, `collections`, `itertools`, `functools`, `typing`, `dataclasses`, `copy`,
//! `logging`, `gc`, `os`, `sys`, `tqdm`, `numpy` on host numbers, `warnings`, `contextlib`),
//! and the torch names that are engine objects rather than tensor operations (`nn.Module`,
//! `torch.autograd.Variable`, `torch.OutOfMemoryError`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::builtins::new_list;
use super::dict::{Dict, DictKind, Key};
use super::ops::path;
use super::pyobj::{Iter, Native};
use super::value::Value;
use super::{torch, CallArgs, Interp, Unwind, X};
use crate::scenario::Span;

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

/// The `random` module, on the interpreter's own generator (splitmix64: seeded runs repeat,
/// but the numbers are not CPython's Mersenne Twister's).
fn random(it: &mut Interp<'_>, name: &str, args: &CallArgs, span: Span) -> X<Value> {
    let next = |it: &mut Interp<'_>| {
        it.random_state = it.random_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = it.random_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(i)) => *i,
        _ => 0,
    };
    match name {
        "seed" => {
            it.random_state = int(args.pos.first()) as u64;
            Ok(Value::None)
        }
        "random" => Ok(Value::Float(next(it))),
        "uniform" => {
            let a = float_of(
                it,
                &args.pos.first().cloned().unwrap_or(Value::Int(0)),
                span,
            )?;
            let b = float_of(it, &args.pos.get(1).cloned().unwrap_or(Value::Int(1)), span)?;
            Ok(Value::Float(a + (b - a) * next(it)))
        }
        "gauss" => {
            let mu = float_of(
                it,
                &args.pos.first().cloned().unwrap_or(Value::Int(0)),
                span,
            )?;
            let sigma = float_of(it, &args.pos.get(1).cloned().unwrap_or(Value::Int(1)), span)?;
            let (u1, u2) = (next(it).max(1e-300), next(it));
            Ok(Value::Float(
                mu + sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos(),
            ))
        }
        "randint" | "randrange" => {
            let (a, b) = match (args.pos.first(), args.pos.get(1)) {
                (Some(_), Some(_)) => (int(args.pos.first()), int(args.pos.get(1))),
                _ => (0, int(args.pos.first())),
            };
            let hi = if name == "randint" { b } else { b - 1 };
            if hi < a {
                return Err(it.raise("ValueError", "empty range for randrange()".into(), span));
            }
            let n = (hi - a + 1) as f64;
            Ok(Value::Int(a + (next(it) * n) as i64))
        }
        "choice" => {
            let items = it.collect(args.pos.first().cloned().unwrap_or(Value::None), span)?;
            if items.is_empty() {
                return Err(it.raise(
                    "IndexError",
                    "Cannot choose from an empty sequence".into(),
                    span,
                ));
            }
            let i = (next(it) * items.len() as f64) as usize;
            Ok(items[i.min(items.len() - 1)].clone())
        }
        "sample" => {
            let mut items = it.collect(args.pos.first().cloned().unwrap_or(Value::None), span)?;
            let k = int(args.pos.get(1)).max(0) as usize;
            let mut out = Vec::new();
            while out.len() < k && !items.is_empty() {
                let i = (next(it) * items.len() as f64) as usize;
                out.push(items.remove(i.min(items.len() - 1)));
            }
            Ok(it.list(out, span))
        }
        "shuffle" => {
            if let Some(Value::List(l)) = args.pos.first() {
                let n = l.borrow().len();
                for i in (1..n).rev() {
                    let j = ((next(it) * (i + 1) as f64) as usize).min(i);
                    l.borrow_mut().swap(i, j);
                }
            }
            Ok(Value::None)
        }
        _ => Ok(Value::None),
    }
}

fn itertools(it: &mut Interp<'_>, name: &str, args: &CallArgs, span: Span) -> X<Value> {
    let iterator = |i: Iter| Value::Iterator(Rc::new(RefCell::new(i)));
    let int = |v: Option<&Value>, d: i64| match v {
        Some(Value::Int(i)) => *i,
        _ => d,
    };
    match name {
        "count" => Ok(iterator(Iter::Count(
            int(args.pos.first(), 0),
            int(args.pos.get(1), 1),
        ))),
        "chain" => Ok(iterator(Iter::Chain(args.pos.iter().cloned().collect()))),
        "cycle" => {
            let inner = it.iter(args.pos.first().cloned().unwrap_or(Value::None), span)?;
            Ok(iterator(Iter::Cycle(Vec::new(), Some(inner), 0)))
        }
        "islice" => {
            let inner = it.iter(args.pos.first().cloned().unwrap_or(Value::None), span)?;
            let (start, stop, step) = match &args.pos[1..] {
                [stop] => (0, Some(stop), 1),
                [start, stop] => (int(Some(start), 0), Some(stop), 1),
                [start, stop, step, ..] => (int(Some(start), 0), Some(stop), int(Some(step), 1)),
                [] => (0, None, 1),
            };
            let stop = match stop {
                Some(Value::Int(s)) => Some((*s).max(0) as usize),
                _ => None,
            };
            Ok(iterator(Iter::Islice {
                inner,
                next: start.max(0) as usize,
                pos: 0,
                stop,
                step: step.max(1) as usize,
            }))
        }
        "repeat" => {
            let v = args.pos.first().cloned().unwrap_or(Value::None);
            match args.pos.get(1).or_else(|| args.keyword("times")) {
                Some(Value::Int(n)) => Ok(iterator(Iter::Values(
                    std::iter::repeat_n(v, (*n).max(0) as usize).collect(),
                    "itertools.repeat",
                ))),
                _ => Ok(iterator(Iter::Cycle(vec![v], None, 0))),
            }
        }
        "product" => {
            let mut pools = Vec::new();
            for p in &args.pos {
                pools.push(it.collect(p.clone(), span)?);
            }
            let mut out: Vec<Vec<Value>> = vec![Vec::new()];
            for pool in pools {
                let mut next = Vec::new();
                for prefix in &out {
                    for v in &pool {
                        let mut t = prefix.clone();
                        t.push(v.clone());
                        next.push(t);
                    }
                }
                out = next;
            }
            Ok(iterator(Iter::Values(
                out.into_iter().map(|t| Value::Tuple(Rc::new(t))).collect(),
                "itertools.product",
            )))
        }
        "zip_longest" => {
            let mut cols = Vec::new();
            for p in &args.pos {
                cols.push(it.collect(p.clone(), span)?);
            }
            let fill = args.keyword("fillvalue").cloned().unwrap_or(Value::None);
            let n = cols.iter().map(Vec::len).max().unwrap_or(0);
            let rows = (0..n)
                .map(|i| {
                    Value::Tuple(Rc::new(
                        cols.iter()
                            .map(|c| c.get(i).cloned().unwrap_or_else(|| fill.clone()))
                            .collect(),
                    ))
                })
                .collect();
            Ok(iterator(Iter::Values(rows, "itertools.zip_longest")))
        }
        _ => {
            let items = it.collect(args.pos.first().cloned().unwrap_or(Value::None), span)?;
            let mut acc: Option<Value> = None;
            let mut out = VecDeque::new();
            for v in items {
                let next = match acc {
                    None => v,
                    Some(a) => it.binary(a, crate::scenario::BinOp::Add, v, span)?,
                };
                out.push_back(next.clone());
                acc = Some(next);
            }
            Ok(iterator(Iter::Values(out, "itertools.accumulate")))
        }
    }
}

/// Calls a library object (`partial(...)`, a namedtuple class, a `@no_grad` function).
pub(super) fn call_native(
    it: &mut Interp<'_>,
    n: &Rc<Native>,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match &**n {
        Native::FetchBatch(loader) => {
            let indices = args.pos.first().cloned().unwrap_or(Value::None);
            super::data::fetch(it, loader, &indices, span)
        }
        Native::Partial(f, pos, kw) => {
            let mut all = CallArgs {
                pos: pos.clone(),
                kw: kw.clone(),
            };
            all.pos.extend(args.pos);
            for (k, v) in args.kw {
                all.kw.retain(|(name, _)| *name != k);
                all.kw.push((k, v));
            }
            it.call(f.clone(), all, span)
        }
        Native::NamedTupleType(_, fields) => {
            let mut values = args.pos.clone();
            for f in &fields[values.len().min(fields.len())..] {
                match args.keyword(f) {
                    Some(v) => values.push(v.clone()),
                    None => {
                        return Err(it.raise(
                            "TypeError",
                            format!("missing required argument: '{f}'"),
                            span,
                        ))
                    }
                }
            }
            Ok(Value::Native(Rc::new(Native::NamedTuple(
                n.clone(),
                Rc::new(values),
            ))))
        }
        Native::WithGrad(on, f) => {
            let _mode = it.rt.set_grad_enabled(*on);
            it.call(f.clone(), args, span)
        }
        Native::Wraps(_) => Ok(args.pos.first().cloned().unwrap_or(Value::None)),
        Native::StaticMethod(f) | Native::ClassMethod(f) => it.call(f.clone(), args, span),
        Native::DataclassInit(fields) => {
            let mut pos = args.pos.into_iter();
            let Some(obj) = pos.next() else {
                return Err(it.raise("TypeError", "__init__() missing 'self'".into(), span));
            };
            let given: Vec<Value> = pos.collect();
            for (i, (name, default)) in fields.iter().enumerate() {
                let v = match given.get(i).cloned().or_else(|| {
                    args.kw
                        .iter()
                        .find(|(k, _)| **k == **name)
                        .map(|(_, v)| v.clone())
                }) {
                    Some(v) => v,
                    None => match default {
                        Some(Value::Native(d)) if matches!(&**d, Native::FieldFactory(_)) => {
                            let Native::FieldFactory(f) = &**d else {
                                unreachable!()
                            };
                            it.call(f.clone(), CallArgs::default(), span)?
                        }
                        Some(d) => d.clone(),
                        None => {
                            return Err(it.raise(
                                "TypeError",
                                format!(
                                    "__init__() missing 1 required positional argument: '{name}'"
                                ),
                                span,
                            ))
                        }
                    },
                };
                it.set_attr(&obj, name, v, span)?;
            }
            if let Some(post) = it.lookup_method(&obj, "__post_init__") {
                it.call(post, CallArgs::default(), span)?;
            }
            Ok(Value::None)
        }
        other => Err(it.raise(
            "TypeError",
            format!("'{}' object is not callable", other.type_name()),
            span,
        )),
    }
}

/// Methods of library objects: `deque.append`, `logger.info`, `tqdm.set_postfix`.
pub(super) fn call_native_method(
    it: &mut Interp<'_>,
    n: &Rc<Native>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match &**n {
        Native::Deque(d, maxlen) => {
            match name {
                "append" | "appendleft" => {
                    let v = args.pos.first().cloned().unwrap_or(Value::None);
                    let dropped = {
                        let mut d = d.borrow_mut();
                        if name == "append" {
                            d.push_back(v);
                        } else {
                            d.push_front(v);
                        }
                        // A full deque drops from the other end: the bounded-history idiom.
                        match maxlen {
                            Some(m) if d.len() > *m => {
                                if name == "append" {
                                    d.pop_front()
                                } else {
                                    d.pop_back()
                                }
                            }
                            _ => None,
                        }
                    };
                    drop(dropped);
                    Ok(Value::None)
                }
                "extend" => {
                    let items =
                        it.collect(args.pos.first().cloned().unwrap_or(Value::None), span)?;
                    for v in items {
                        call_native_method(it, n, "append", CallArgs::positional(vec![v]), span)?;
                    }
                    Ok(Value::None)
                }
                "pop" | "popleft" => {
                    let v = if name == "pop" {
                        d.borrow_mut().pop_back()
                    } else {
                        d.borrow_mut().pop_front()
                    };
                    v.ok_or_else(|| it.raise("IndexError", "pop from an empty deque".into(), span))
                }
                "clear" => {
                    let items = std::mem::take(&mut *d.borrow_mut());
                    drop(items);
                    Ok(Value::None)
                }
                _ => Err(it.raise(
                    "AttributeError",
                    format!("'deque' object has no attribute '{name}'"),
                    span,
                )),
            }
        }
        Native::Logger(logger) => {
            let level = match name {
                "debug" => 10,
                "info" => 20,
                "warning" | "warn" => 30,
                "error" | "exception" => 40,
                "critical" => 50,
                "log" => match args.pos.first() {
                    Some(Value::Int(l)) => *l,
                    _ => 20,
                },
                _ => return Ok(Value::None),
            };
            let skip = usize::from(name == "log");
            if level >= it.log_level {
                let fmt = match args.pos.get(skip) {
                    Some(v) => it.str_of(v, span)?,
                    None => String::new(),
                };
                let rest = args.pos.get(skip + 1..).unwrap_or(&[]).to_vec();
                let message = if rest.is_empty() {
                    fmt
                } else {
                    it.percent_format(&fmt, &rest, span)?
                };
                let level_name = match level {
                    10 => "DEBUG",
                    20 => "INFO",
                    30 => "WARNING",
                    40 => "ERROR",
                    _ => "CRITICAL",
                };
                it.emit(&format!("{level_name}:{logger}:{message}"));
            }
            Ok(Value::None)
        }
        Native::Tqdm(_) => {
            if name == "write" {
                let text = match args.pos.first() {
                    Some(v) => it.str_of(v, span)?,
                    None => String::new(),
                };
                it.emit(&text);
            }
            Ok(Value::None)
        }
        Native::NamedTuple(t, values) => {
            let Native::NamedTupleType(_, fields) = &**t else {
                return Ok(Value::None);
            };
            match name {
                "_asdict" => {
                    let d = Dict::shared(DictKind::Plain);
                    for (f, v) in fields.iter().zip(values.iter()) {
                        d.borrow_mut().insert(
                            Key::Str(f.clone()),
                            Value::Str(f.clone()),
                            v.clone(),
                        );
                    }
                    Ok(Value::Dict(d))
                }
                _ => {
                    let mut values = values.as_ref().clone();
                    for (k, v) in &args.kw {
                        if let Some(i) = fields.iter().position(|f| **f == **k) {
                            values[i] = v.clone();
                        }
                    }
                    Ok(Value::Native(Rc::new(Native::NamedTuple(
                        t.clone(),
                        Rc::new(values),
                    ))))
                }
            }
        }
        Native::Property(fget, _) if name == "setter" => {
            let fset = args.pos.first().cloned().unwrap_or(Value::None);
            Ok(Value::Native(Rc::new(Native::Property(
                fget.clone(),
                RefCell::new(fset),
            ))))
        }
        Native::TensorHookHandle(handle) if name == "remove" => {
            handle.remove();
            Ok(Value::None)
        }
        other => Err(it.raise(
            "AttributeError",
            format!("'{}' object has no attribute '{name}'", other.type_name()),
            span,
        )),
    }
}

/// Attributes of library objects.
pub(super) fn native_attr(
    it: &mut Interp<'_>,
    n: &Rc<Native>,
    obj: &Value,
    attr: &str,
    span: Span,
) -> X<Value> {
    match &**n {
        Native::Super(o, class) => it.super_attr(o, class, attr, span),
        Native::NamedTuple(t, values) => {
            if let Native::NamedTupleType(_, fields) = &**t {
                if let Some(i) = fields.iter().position(|f| **f == *attr) {
                    return Ok(values[i].clone());
                }
            }
            if super::builtins::has_builtin_method(obj, attr) {
                return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
            }
            Err(no_attr(it, obj, attr, span))
        }
        Native::NamedTupleType(name, fields) => match attr {
            "__name__" => Ok(Value::Str(name.clone())),
            "_fields" => Ok(Value::Tuple(Rc::new(
                fields.iter().map(|f| Value::Str(f.clone())).collect(),
            ))),
            _ => Err(no_attr(it, obj, attr, span)),
        },
        Native::Property(fget, fset) => match attr {
            "setter" => Ok(Value::Method(Box::new(obj.clone()), "setter".into())),
            "fget" => Ok(fget.clone()),
            "fset" => Ok(fset.borrow().clone()),
            _ => Err(no_attr(it, obj, attr, span)),
        },
        Native::TensorHookHandle(_) if attr == "remove" => {
            Ok(Value::Method(Box::new(obj.clone()), attr.into()))
        }
        Native::Tqdm(_) => {
            if super::builtins::has_builtin_method(obj, attr) {
                return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
            }
            Ok(Value::None)
        }
        Native::StaticMethod(f) | Native::ClassMethod(f) if attr == "__func__" => Ok(f.clone()),
        Native::Slice(a, b, c) => match attr {
            "start" => Ok(a.clone()),
            "stop" => Ok(b.clone()),
            "step" => Ok(c.clone()),
            _ => Err(no_attr(it, obj, attr, span)),
        },
        _ => {
            if super::builtins::has_builtin_method(obj, attr) {
                return Ok(Value::Method(Box::new(obj.clone()), attr.into()));
            }
            Err(no_attr(it, obj, attr, span))
        }
    }
}

fn no_attr(it: &mut Interp<'_>, obj: &Value, attr: &str, span: Span) -> Unwind {
    it.raise(
        "AttributeError",
        format!("'{}' object has no attribute '{attr}'", obj.type_name()),
        span,
    )
}
