//! Python's builtins, the methods of the builtin types, and int/float arithmetic as Python
//! does it.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::rc::Rc;

use super::dict::{Dict, DictKind, DictRef, Key};
use super::exc;
use super::pyobj::{Iter, Native};
use super::value::{ListRef, Path, Slot, Value};
use super::{number as num, stdlib, torch, CallArgs, Interp, Num, Unwind, X};
use crate::scenario::{BinOp, Span};

/// Builtin functions and types scenarios may call by name.
const BUILTINS: [&str; 56] = [
    "print",
    "len",
    "range",
    "float",
    "int",
    "str",
    "bool",
    "list",
    "tuple",
    "dict",
    "set",
    "frozenset",
    "min",
    "max",
    "abs",
    "sum",
    "round",
    "isinstance",
    "issubclass",
    "hasattr",
    "getattr",
    "setattr",
    "delattr",
    "enumerate",
    "zip",
    "sorted",
    "reversed",
    "map",
    "filter",
    "any",
    "all",
    "iter",
    "next",
    "format",
    "repr",
    "type",
    "id",
    "hash",
    "callable",
    "divmod",
    "pow",
    "super",
    "object",
    "staticmethod",
    "classmethod",
    "property",
    "vars",
    "chr",
    "ord",
    "NotImplemented",
    "Ellipsis",
    "slice",
    "exit",
    "quit",
    "open",
    "input",
];

/// Names of builtin types (for `type(x)`, `isinstance`, and printing them).
const TYPES: [&str; 13] = [
    "int",
    "float",
    "str",
    "bool",
    "list",
    "tuple",
    "dict",
    "set",
    "frozenset",
    "object",
    "range",
    "slice",
    "type",
];

/// The builtin called `name`, when a scenario reads a name it never bound.
pub(super) fn builtin(name: &str) -> Option<Value> {
    if BUILTINS.contains(&name) || exc::is_exception_type(name) {
        return Some(Value::Path(Path(name.into())));
    }
    None
}

/// Whether a builtin path names a type.
pub(super) fn is_type_name(path: &str) -> bool {
    TYPES.contains(&path)
        || exc::is_exception_type(path)
        || matches!(
            path,
            "torch.Tensor"
                | "torch.nn.Module"
                | "torch.nn.Parameter"
                | "torch.nn.ModuleList"
                | "torch.nn.ModuleDict"
                | "torch.utils.data.Dataset"
                | "torch.utils.data.IterableDataset"
                | "torch.autograd.Function"
        )
}

/// Whether a scenario class may derive from the library type at `path`.
pub(super) fn is_subclassable(path: &str) -> bool {
    path == "object"
        || exc::is_exception_type(path)
        || super::module::is_module_base(path)
        || matches!(
            path,
            "torch.utils.data.Dataset"
                | "torch.utils.data.IterableDataset"
                | "torch.utils.data.Sampler"
                | "torch.autograd.Function"
                | "dict"
                | "list"
                | "typing.NamedTuple"
                | "typing.Generic"
                | "typing.Protocol"
        )
}

/// How an error message names a value that is not a class.
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::Path(p) => format!("`{}`", p.0),
        other => format!("a {} object", other.type_name()),
    }
}

/// Records a class body's annotated name (`x: int = 0`) in `__annotations__`, in order, so
/// `@dataclass` can find its fields.
pub(super) fn note_annotation(ns: &DictRef, name: &str) {
    let key = Key::Str("__annotations__".into());
    let existing = ns.borrow().get(&key);
    let ann = match existing {
        Some(Value::Dict(d)) => d,
        _ => {
            let d = Dict::shared(DictKind::Plain);
            ns.borrow_mut().insert(
                key,
                Value::Str("__annotations__".into()),
                Value::Dict(d.clone()),
            );
            d
        }
    };
    ann.borrow_mut()
        .insert(Key::Str(name.into()), Value::Str(name.into()), Value::None);
}

/// The name of the special method of `op`: `add` for `__add__`.
pub(super) fn dunder(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "add",
        BinOp::Sub => "sub",
        BinOp::Mul => "mul",
        BinOp::Div => "truediv",
        BinOp::FloorDiv => "floordiv",
        BinOp::Mod => "mod",
        BinOp::MatMul => "matmul",
        BinOp::Pow => "pow",
        BinOp::LShift => "lshift",
        BinOp::RShift => "rshift",
        BinOp::BitAnd => "and",
        BinOp::BitOr => "or",
        BinOp::BitXor => "xor",
    }
}

/// `type(v)`.
pub(super) fn type_of(v: &Value) -> Value {
    match v {
        Value::Instance(i) => Value::Class(i.class.clone()),
        Value::Exception(e) => match &e.class {
            Some(c) => Value::Class(c.clone()),
            None => Value::Path(Path(e.kind.clone())),
        },
        Value::Tensor(_) => Value::Path(Path("torch.Tensor".into())),
        Value::Class(_) => Value::Path(Path("type".into())),
        other => Value::Path(Path(other.type_name().into())),
    }
}

/// Number of values in a range.
pub(super) fn range_len(v: &Value) -> usize {
    let Value::Range(start, stop, step) = *v else {
        return 0;
    };
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let n = if (step > 0 && start < stop) || (step < 0 && start > stop) {
        ((stop - start).abs() - 1) / step.abs() + 1
    } else {
        0
    };
    usize::try_from(n).unwrap_or(usize::MAX)
}

pub(super) fn range_contains(v: &Value, i: i64) -> bool {
    let Value::Range(start, stop, step) = *v else {
        return false;
    };
    let inside = if step > 0 {
        start <= i && i < stop
    } else {
        stop < i && i <= start
    };
    inside && (i128::from(i) - i128::from(start)) % i128::from(step) == 0
}

/// A slice object `lower:upper:step`.
pub(super) fn slice_value(parts: Vec<Value>) -> Value {
    let mut parts = parts.into_iter();
    let mut next = || parts.next().unwrap_or(Value::None);
    Value::Native(Rc::new(Native::Slice(next(), next(), next())))
}

/// Wraps values as a fresh Python list stored at `span`.
pub(crate) fn new_list(values: Vec<Value>, span: Span) -> Value {
    Value::List(Rc::new(RefCell::new(
        values
            .into_iter()
            .map(|value| Slot {
                value,
                stored_at: span,
            })
            .collect(),
    )))
}

/// The list methods scenarios may call.
pub(super) fn is_list_method(name: &str) -> bool {
    LIST_METHODS.contains(&name)
}

const LIST_METHODS: [&str; 11] = [
    "append", "extend", "clear", "pop", "insert", "remove", "index", "count", "sort", "reverse",
    "copy",
];
const DICT_METHODS: [&str; 11] = [
    "get",
    "items",
    "keys",
    "values",
    "update",
    "pop",
    "setdefault",
    "clear",
    "copy",
    "popitem",
    "most_common",
];
const SET_METHODS: [&str; 8] = [
    "add",
    "discard",
    "remove",
    "update",
    "union",
    "intersection",
    "difference",
    "clear",
];
const STR_METHODS: [&str; 22] = [
    "format",
    "join",
    "split",
    "strip",
    "lstrip",
    "rstrip",
    "upper",
    "lower",
    "replace",
    "startswith",
    "endswith",
    "ljust",
    "rjust",
    "center",
    "zfill",
    "title",
    "capitalize",
    "find",
    "count",
    "rsplit",
    "splitlines",
    "isdigit",
];
const DEQUE_METHODS: [&str; 7] = [
    "append",
    "appendleft",
    "pop",
    "popleft",
    "clear",
    "extend",
    "maxlen",
];

/// Whether `recv.name` is a method of a builtin type.
pub(super) fn has_builtin_method(recv: &Value, name: &str) -> bool {
    match recv {
        Value::List(_) => LIST_METHODS.contains(&name),
        Value::Dict(_) => DICT_METHODS.contains(&name),
        Value::Set(_) => SET_METHODS.contains(&name) || name == "copy",
        Value::Str(_) => STR_METHODS.contains(&name),
        Value::Tuple(_) => matches!(name, "index" | "count"),
        Value::Float(_) => matches!(name, "is_integer" | "hex"),
        Value::Int(_) => name == "bit_length",
        Value::Native(n) => match &**n {
            Native::Deque(..) => DEQUE_METHODS.contains(&name),
            Native::Logger(_) => matches!(
                name,
                "info"
                    | "debug"
                    | "warning"
                    | "error"
                    | "critical"
                    | "exception"
                    | "setLevel"
                    | "addHandler"
                    | "log"
                    | "warn"
            ),
            Native::Tqdm(_) => matches!(
                name,
                "set_description"
                    | "set_postfix"
                    | "update"
                    | "close"
                    | "write"
                    | "refresh"
                    | "set_postfix_str"
            ),
            Native::NamedTuple(..) => matches!(name, "_asdict" | "_replace"),
            _ => false,
        },
        Value::Iterator(_) => name == "__next__",
        _ => false,
    }
}

/// Calls a builtin, library or torch function by its path.
pub(super) fn call_path(it: &mut Interp<'_>, path: &str, args: CallArgs, span: Span) -> X<Value> {
    if BUILTINS.contains(&path) {
        return call_builtin(it, path, args, span);
    }
    if exc::is_exception_type(path) {
        let e = it.new_exception(path, None, args.pos, None, None);
        return Ok(Value::Exception(e));
    }
    if let Some(r) = stdlib::call(it, path, &args, span) {
        return r;
    }
    if let Some(r) = super::module::call(it, path, &args, span) {
        return r;
    }
    // Torch takes lists where Python passes any iterable (`filter(...)`, a generator).
    let mut args = args;
    for v in args
        .pos
        .iter_mut()
        .chain(args.kw.iter_mut().map(|(_, v)| v))
    {
        if matches!(v, Value::Iterator(_)) {
            let items = it.collect(v.clone(), span)?;
            *v = new_list(items, span);
        }
    }
    torch::call_path(it, path, args, span)
}

fn type_error(it: &mut Interp<'_>, span: Span, message: String) -> Unwind {
    it.raise("TypeError", message, span)
}

fn exactly_one(it: &mut Interp<'_>, name: &str, args: &CallArgs, span: Span) -> X<Value> {
    match (args.pos.as_slice(), args.kw.is_empty()) {
        ([v], true) => Ok(v.clone()),
        _ => Err(type_error(
            it,
            span,
            format!(
                "{name}() takes exactly one argument ({} given)",
                args.pos.len() + args.kw.len()
            ),
        )),
    }
}

fn int_arg(it: &mut Interp<'_>, v: &Value, span: Span) -> X<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(*b as i64),
        Value::Tensor(t) if t.numel() == 1 => {
            let r = torch::item(t).map_err(|e| it.tensor_error(span, e));
            Ok(it.lift(r)? as i64)
        }
        other => Err(type_error(
            it,
            span,
            format!(
                "'{}' object cannot be interpreted as an integer",
                other.type_name()
            ),
        )),
    }
}

fn call_builtin(it: &mut Interp<'_>, name: &str, args: CallArgs, span: Span) -> X<Value> {
    match name {
        "print" => {
            let sep = match args.keyword("sep") {
                Some(Value::Str(s)) => s.to_string(),
                _ => " ".to_string(),
            };
            let mut parts = Vec::with_capacity(args.pos.len());
            for v in &args.pos {
                parts.push(it.str_of(v, span)?);
            }
            let end = match args.keyword("end") {
                Some(Value::Str(s)) => s.to_string(),
                _ => "\n".into(),
            };
            let text = parts.join(&sep) + &end;
            it.emit(&text);
            Ok(Value::None)
        }
        "len" => {
            let v = exactly_one(it, name, &args, span)?;
            Ok(Value::Int(it.len_of(&v, span)? as i64))
        }
        "range" => {
            let mut bounds = Vec::new();
            for v in &args.pos {
                bounds.push(int_arg(it, v, span)?);
            }
            let (a, b, c) = match bounds[..] {
                [stop] => (0, stop, 1),
                [start, stop] => (start, stop, 1),
                [start, stop, step] => (start, stop, step),
                _ => {
                    return Err(type_error(
                        it,
                        span,
                        format!("range expected at most 3 arguments, got {}", bounds.len()),
                    ))
                }
            };
            if c == 0 {
                return Err(it.raise("ValueError", "range() arg 3 must not be zero".into(), span));
            }
            Ok(Value::Range(a, b, c))
        }
        "float" => match args.pos.first() {
            None => Ok(Value::Float(0.0)),
            Some(v) => to_float(it, v, span),
        },
        "int" => match args.pos.first() {
            None => Ok(Value::Int(0)),
            Some(v) => to_int(it, v, span),
        },
        "str" => match args.pos.first() {
            None => Ok(Value::Str("".into())),
            Some(v) => Ok(Value::Str(it.str_of(v, span)?.into())),
        },
        "repr" => {
            let v = exactly_one(it, name, &args, span)?;
            Ok(Value::Str(it.repr_of(&v, span)?.into()))
        }
        "bool" => match args.pos.first() {
            None => Ok(Value::Bool(false)),
            Some(v) => Ok(Value::Bool(it.truthy(v, span)?)),
        },
        "list" => {
            let items = match args.pos.first() {
                Some(v) => it.collect(v.clone(), span)?,
                None => Vec::new(),
            };
            let l = new_list(items, span);
            it.gc.track_value(&l);
            Ok(l)
        }
        "tuple" => {
            let items = match args.pos.first() {
                Some(v) => it.collect(v.clone(), span)?,
                None => Vec::new(),
            };
            Ok(Value::Tuple(Rc::new(items)))
        }
        "set" | "frozenset" => {
            let set = Dict::shared(DictKind::Plain);
            if let Some(v) = args.pos.first() {
                for item in it.collect(v.clone(), span)? {
                    let k = it.key(&item, span)?;
                    set.borrow_mut().insert(k, item, Value::None);
                }
            }
            Ok(Value::Set(set))
        }
        "dict" => {
            let d = Dict::shared(DictKind::Plain);
            if let Some(v) = args.pos.first() {
                for (k, v) in it.mapping_items(v, span)? {
                    let key = it.key(&k, span)?;
                    d.borrow_mut().insert(key, k, v);
                }
            }
            for (k, v) in args.kw {
                d.borrow_mut().insert(
                    Key::Str(k.as_str().into()),
                    Value::Str(k.as_str().into()),
                    v,
                );
            }
            let v = Value::Dict(d);
            it.gc.track_value(&v);
            Ok(v)
        }
        "min" | "max" => {
            let items = match args.pos.as_slice() {
                [single] => it.collect(single.clone(), span)?,
                [] => {
                    return Err(type_error(
                        it,
                        span,
                        format!("{name} expected at least 1 argument, got 0"),
                    ))
                }
                many => many.to_vec(),
            };
            let key = args
                .keyword("key")
                .cloned()
                .filter(|k| !matches!(k, Value::None));
            let default = args.keyword("default").cloned();
            let mut best: Option<(Value, Value)> = None;
            for v in items {
                let k = match &key {
                    Some(f) => it.call(f.clone(), CallArgs::positional(vec![v.clone()]), span)?,
                    None => v.clone(),
                };
                best = Some(match best {
                    None => (v, k),
                    Some((bv, bk)) => {
                        let better = if name == "min" {
                            it.less(&k, &bk, span)?
                        } else {
                            it.less(&bk, &k, span)?
                        };
                        if better {
                            (v, k)
                        } else {
                            (bv, bk)
                        }
                    }
                });
            }
            match (best, default) {
                (Some((v, _)), _) => Ok(v),
                (None, Some(d)) => Ok(d),
                (None, None) => Err(it.raise(
                    "ValueError",
                    format!("{name}() arg is an empty sequence"),
                    span,
                )),
            }
        }
        "sum" => {
            let Some(iterable) = args.pos.first() else {
                return Err(type_error(
                    it,
                    span,
                    "sum() takes at least 1 positional argument (0 given)".into(),
                ));
            };
            let items = it.collect(iterable.clone(), span)?;
            // Python's sum starts from 0, so summing tensors computes `0 + t0 + t1 ...`.
            let mut total = args
                .pos
                .get(1)
                .cloned()
                .or_else(|| args.keyword("start").cloned())
                .unwrap_or(Value::Int(0));
            for v in items {
                total = it.binary(total, BinOp::Add, v, span)?;
            }
            Ok(total)
        }
        "abs" => {
            let v = exactly_one(it, name, &args, span)?;
            match v {
                Value::Int(i) => i.checked_abs().map(Value::Int).ok_or_else(|| {
                    it.raise(
                        "OverflowError",
                        "integer result does not fit in 64 bits".into(),
                        span,
                    )
                }),
                Value::Bool(b) => Ok(Value::Int(b as i64)),
                Value::Float(f) => Ok(Value::Float(f.abs())),
                Value::Tensor(_) => it.call_method_by_name(v, "abs", CallArgs::default(), span),
                other => Err(type_error(
                    it,
                    span,
                    format!("bad operand type for abs(): '{}'", other.type_name()),
                )),
            }
        }
        "round" => {
            let v = args.pos.first().cloned().unwrap_or(Value::None);
            let digits = args
                .pos
                .get(1)
                .cloned()
                .or_else(|| args.keyword("ndigits").cloned());
            let x = match num(&v) {
                Some(Num::Int(i)) => return Ok(Value::Int(i)),
                Some(Num::Float(f)) => f,
                None => match &v {
                    Value::Tensor(t) => {
                        let r = torch::item(t).map_err(|e| it.tensor_error(span, e));
                        it.lift(r)?
                    }
                    other => {
                        return Err(type_error(
                            it,
                            span,
                            format!("type {} doesn't define __round__ method", other.type_name()),
                        ))
                    }
                },
            };
            match digits {
                None | Some(Value::None) => Ok(Value::Int(round_half_even(x) as i64)),
                Some(d) => {
                    let d = int_arg(it, &d, span)?;
                    let scale = 10f64.powi(d as i32);
                    Ok(Value::Float(round_half_even(x * scale) / scale))
                }
            }
        }
        "divmod" => {
            let (a, b) = (args.pos.first().cloned(), args.pos.get(1).cloned());
            let (Some(a), Some(b)) = (a, b) else {
                return Err(type_error(it, span, "divmod expected 2 arguments".into()));
            };
            let q = it.binary(a.clone(), BinOp::FloorDiv, b.clone(), span)?;
            let r = it.binary(a, BinOp::Mod, b, span)?;
            Ok(Value::Tuple(Rc::new(vec![q, r])))
        }
        "pow" => {
            let (a, b) = (args.pos.first().cloned(), args.pos.get(1).cloned());
            let (Some(a), Some(b)) = (a, b) else {
                return Err(type_error(it, span, "pow expected 2 arguments".into()));
            };
            it.binary(a, BinOp::Pow, b, span)
        }
        "isinstance" | "issubclass" => {
            let (Some(v), Some(t)) = (args.pos.first(), args.pos.get(1)) else {
                return Err(type_error(
                    it,
                    span,
                    format!("{name} expected 2 arguments, got {}", args.pos.len()),
                ));
            };
            let r = if name == "isinstance" {
                it.isinstance(v, t)
            } else {
                it.issubclass(v, t)
            };
            Ok(Value::Bool(r))
        }
        "hasattr" => {
            let (Some(v), Some(Value::Str(a))) = (args.pos.first(), args.pos.get(1)) else {
                return Err(type_error(
                    it,
                    span,
                    "hasattr(): attribute name must be string".into(),
                ));
            };
            match it.get_attr(v.clone(), a, span) {
                Ok(_) => Ok(Value::Bool(true)),
                Err(Unwind::Exc(e)) if exc::is_subclass_name(&e.kind, "AttributeError") => {
                    Ok(Value::Bool(false))
                }
                Err(u) => Err(u),
            }
        }
        "getattr" => {
            let (Some(v), Some(Value::Str(a))) = (args.pos.first(), args.pos.get(1)) else {
                return Err(type_error(
                    it,
                    span,
                    "getattr(): attribute name must be string".into(),
                ));
            };
            match (it.get_attr(v.clone(), a, span), args.pos.get(2)) {
                (Ok(v), _) => Ok(v),
                (Err(Unwind::Exc(e)), Some(default))
                    if exc::is_subclass_name(&e.kind, "AttributeError") =>
                {
                    Ok(default.clone())
                }
                (Err(u), _) => Err(u),
            }
        }
        "setattr" => {
            let (Some(obj), Some(Value::Str(a)), Some(v)) =
                (args.pos.first(), args.pos.get(1), args.pos.get(2))
            else {
                return Err(type_error(it, span, "setattr expected 3 arguments".into()));
            };
            it.set_attr(obj, a, v.clone(), span)?;
            Ok(Value::None)
        }
        "delattr" => {
            let (Some(obj), Some(Value::Str(a))) = (args.pos.first(), args.pos.get(1)) else {
                return Err(type_error(it, span, "delattr expected 2 arguments".into()));
            };
            it.del_attr(obj, a, span)?;
            Ok(Value::None)
        }
        "enumerate" => {
            let Some(v) = args.pos.first() else {
                return Err(type_error(
                    it,
                    span,
                    "enumerate() missing required argument 'iterable'".into(),
                ));
            };
            let start = match args.pos.get(1).or_else(|| args.keyword("start")) {
                Some(s) => int_arg(it, s, span)?,
                None => 0,
            };
            let inner = it.iter(v.clone(), span)?;
            Ok(iterator(Iter::Enumerate(inner, start)))
        }
        "zip" => {
            let mut inners = Vec::new();
            for v in &args.pos {
                inners.push(it.iter(v.clone(), span)?);
            }
            Ok(iterator(Iter::Zip(inners)))
        }
        "map" => {
            let Some((f, rest)) = args.pos.split_first() else {
                return Err(type_error(
                    it,
                    span,
                    "map() must have at least two arguments.".into(),
                ));
            };
            let mut inners = Vec::new();
            for v in rest {
                inners.push(it.iter(v.clone(), span)?);
            }
            Ok(iterator(Iter::Map(f.clone(), inners)))
        }
        "filter" => {
            let (Some(f), Some(v)) = (args.pos.first(), args.pos.get(1)) else {
                return Err(type_error(it, span, "filter expected 2 arguments".into()));
            };
            let inner = it.iter(v.clone(), span)?;
            Ok(iterator(Iter::Filter(f.clone(), inner)))
        }
        "reversed" => {
            let v = exactly_one(it, name, &args, span)?;
            let mut items = it.collect(v, span)?;
            items.reverse();
            Ok(iterator(Iter::Values(items.into(), "list_reverseiterator")))
        }
        "sorted" => {
            let Some(v) = args.pos.first() else {
                return Err(type_error(
                    it,
                    span,
                    "sorted expected 1 argument, got 0".into(),
                ));
            };
            let items = it.collect(v.clone(), span)?;
            let sorted = it.sort_values(
                items,
                args.keyword("key").cloned(),
                args.keyword("reverse").cloned(),
                span,
            )?;
            let l = new_list(sorted, span);
            it.gc.track_value(&l);
            Ok(l)
        }
        "any" | "all" => {
            let v = exactly_one(it, name, &args, span)?;
            let iter = it.iter(v, span)?;
            while let Some(x) = it.next(&iter, span)? {
                let t = it.truthy(&x, span)?;
                if name == "any" && t {
                    return Ok(Value::Bool(true));
                }
                if name == "all" && !t {
                    return Ok(Value::Bool(false));
                }
            }
            Ok(Value::Bool(name == "all"))
        }
        "iter" => {
            let v = exactly_one(it, name, &args, span)?;
            it.iter(v, span)
        }
        "next" => {
            let Some(v) = args.pos.first() else {
                return Err(type_error(
                    it,
                    span,
                    "next expected at least 1 argument, got 0".into(),
                ));
            };
            match it.next(v, span)? {
                Some(x) => Ok(x),
                None => match args.pos.get(1) {
                    Some(d) => Ok(d.clone()),
                    None => {
                        let e = it.new_exception("StopIteration", None, Vec::new(), None, None);
                        e.traceback.borrow_mut().push((it.frame().clone(), span));
                        Err(Unwind::Exc(e))
                    }
                },
            }
        }
        "format" => {
            let v = args.pos.first().cloned().unwrap_or(Value::None);
            let spec = match args.pos.get(1) {
                Some(Value::Str(s)) => s.to_string(),
                _ => String::new(),
            };
            Ok(Value::Str(it.format_value(&v, &spec, span)?.into()))
        }
        "type" => {
            let v = exactly_one(it, name, &args, span)?;
            Ok(type_of(&v))
        }
        "id" => {
            let v = exactly_one(it, name, &args, span)?;
            Ok(Value::Int(v.identity().map_or(0, |i| i as i64)))
        }
        "hash" => {
            let v = exactly_one(it, name, &args, span)?;
            let k = it.key(&v, span)?;
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            k.hash(&mut h);
            Ok(Value::Int(h.finish() as i64))
        }
        "callable" => {
            let v = exactly_one(it, name, &args, span)?;
            Ok(Value::Bool(
                matches!(
                    v,
                    Value::Function(_)
                        | Value::BoundMethod(_)
                        | Value::Class(_)
                        | Value::Path(_)
                        | Value::Method(..)
                        | Value::Module(_)
                ) || it.lookup_method(&v, "__call__").is_some()
                    || super::module::is_module_instance(&v),
            ))
        }
        "chr" => {
            let v = exactly_one(it, name, &args, span)?;
            let i = int_arg(it, &v, span)?;
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| {
                    it.raise(
                        "ValueError",
                        "chr() arg not in range(0x110000)".into(),
                        span,
                    )
                })?;
            Ok(Value::Str(c.to_string().into()))
        }
        "ord" => {
            let v = exactly_one(it, name, &args, span)?;
            match v {
                Value::Str(s) if s.chars().count() == 1 => {
                    Ok(Value::Int(s.chars().next().map_or(0, |c| c as i64)))
                }
                other => Err(type_error(
                    it,
                    span,
                    format!("ord() expected a character, but got {}", other.type_name()),
                )),
            }
        }
        "super" => it.super_call(&args, span),
        "staticmethod" => {
            let v = exactly_one(it, name, &args, span)?;
            Ok(Value::Native(Rc::new(Native::StaticMethod(v))))
        }
        "classmethod" => {
            let v = exactly_one(it, name, &args, span)?;
            Ok(Value::Native(Rc::new(Native::ClassMethod(v))))
        }
        "property" => {
            let fget = args.pos.first().cloned().unwrap_or(Value::None);
            let fset = args.pos.get(1).cloned().unwrap_or(Value::None);
            Ok(Value::Native(Rc::new(Native::Property(
                fget,
                RefCell::new(fset),
            ))))
        }
        "vars" => {
            let v = exactly_one(it, name, &args, span)?;
            match v {
                Value::Instance(i) => Ok(Value::Dict(i.dict.clone())),
                other => Err(type_error(
                    it,
                    span,
                    format!(
                        "vars() argument must have __dict__ attribute, not {}",
                        other.type_name()
                    ),
                )),
            }
        }
        "object" => Ok(Value::Instance(Rc::new(super::pyobj::Instance {
            class: it.object_class(),
            dict: Dict::shared(DictKind::Plain),
            module: RefCell::new(None),
        }))),
        "slice" => Ok(slice_value(args.pos)),
        "exit" | "quit" => Err(it.raise("SystemExit", String::new(), span)),
        "open" | "input" => {
            let f = it
                .fail(
                    span,
                    format!("RuntimeError: {name}() is not supported in scenarios"),
                )
                .with_help("scenarios are self-contained: make the data with torch.randn");
            it.lift(Err(f))
        }
        "NotImplemented" | "Ellipsis" => Err(type_error(
            it,
            span,
            format!("'{name}' object is not callable"),
        )),
        _ => unreachable!("call_builtin is called only for the names in BUILTINS"),
    }
}

fn iterator(i: Iter) -> Value {
    Value::Iterator(Rc::new(RefCell::new(i)))
}

/// Python's `round`: halves go to the even neighbour.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

fn to_float(it: &mut Interp<'_>, v: &Value, span: Span) -> X<Value> {
    match v {
        Value::Int(i) => Ok(Value::Float(*i as f64)),
        Value::Bool(b) => Ok(Value::Float(*b as i64 as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::Str(s) => {
            let t = s.trim();
            let parsed = match t.to_ascii_lowercase().as_str() {
                "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "nan" => Some(f64::NAN),
                _ => t.parse::<f64>().ok(),
            };
            parsed.map(Value::Float).ok_or_else(|| {
                it.raise(
                    "ValueError",
                    format!("could not convert string to float: '{s}'"),
                    span,
                )
            })
        }
        Value::Tensor(t) => {
            let r = torch::item(t).map_err(|e| it.tensor_error(span, e));
            Ok(Value::Float(it.lift(r)?))
        }
        other => Err(type_error(
            it,
            span,
            format!(
                "float() argument must be a string or a real number, not '{}'",
                other.type_name()
            ),
        )),
    }
}

fn to_int(it: &mut Interp<'_>, v: &Value, span: Span) -> X<Value> {
    match v {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Bool(b) => Ok(Value::Int(*b as i64)),
        Value::Float(f) if f.is_finite() => Ok(Value::Int(f.trunc() as i64)),
        Value::Float(_) => Err(it.raise(
            "OverflowError",
            "cannot convert float infinity or NaN to integer".into(),
            span,
        )),
        Value::Str(s) => s.trim().parse::<i64>().map(Value::Int).map_err(|_| {
            it.raise(
                "ValueError",
                format!("invalid literal for int() with base 10: '{s}'"),
                span,
            )
        }),
        Value::Tensor(t) => {
            let r = torch::item(t).map_err(|e| it.tensor_error(span, e));
            Ok(Value::Int(it.lift(r)?.trunc() as i64))
        }
        other => Err(type_error(
            it,
            span,
            format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                other.type_name()
            ),
        )),
    }
}

/// How many copies a sequence repetition makes between two looks at the clock: a few
/// microseconds of copying, so that `'ab' * 2**31` stops at the time limit, not seconds after.
const REPEATS_BETWEEN_TIME_CHECKS: usize = 1 << 14;

/// Runs `copy` `times` times, stopping the run at the time limit between copies.
fn repeat_within_time(
    it: &mut Interp<'_>,
    span: Span,
    times: usize,
    mut copy: impl FnMut(),
) -> X<()> {
    for i in 0..times {
        if i % REPEATS_BETWEEN_TIME_CHECKS == 0 {
            it.check_time(span)?;
        }
        copy();
    }
    Ok(())
}

/// An empty vector with room for `len * times + more` items, or Python's `MemoryError` when
/// the host cannot give it (CPython raises it where its allocation fails; a Rust allocation
/// failure would abort the process instead).
fn sized<T>(it: &mut Interp<'_>, span: Span, len: usize, times: usize, more: usize) -> X<Vec<T>> {
    let mut out = Vec::new();
    let fits = len
        .checked_mul(times)
        .and_then(|n| n.checked_add(more))
        .is_some_and(|n| out.try_reserve_exact(n).is_ok());
    if fits {
        Ok(out)
    } else {
        Err(it.raise("MemoryError", String::new(), span))
    }
}

/// `+` and `*` of sequences, `|` of sets and dicts, `%` of strings.
pub(super) fn sequence_op(
    it: &mut Interp<'_>,
    l: &Value,
    op: BinOp,
    r: &Value,
    span: Span,
) -> X<Option<Value>> {
    Ok(Some(match (l, op, r) {
        (Value::List(a), BinOp::Add, Value::List(b)) => {
            let (a, b) = (a.borrow(), b.borrow());
            let mut items = sized(it, span, a.len(), 1, b.len())?;
            items.extend(a.iter().cloned());
            items.extend(b.iter().cloned());
            Value::List(Rc::new(RefCell::new(items)))
        }
        (Value::Tuple(a), BinOp::Add, Value::Tuple(b)) => {
            let mut items = sized(it, span, a.len(), 1, b.len())?;
            items.extend(a.iter().cloned());
            items.extend(b.iter().cloned());
            Value::Tuple(Rc::new(items))
        }
        (Value::Str(a), BinOp::Add, Value::Str(b)) => {
            let mut out =
                String::from_utf8(sized(it, span, a.len(), 1, b.len())?).unwrap_or_default();
            out.push_str(a);
            out.push_str(b);
            Value::Str(out.into())
        }
        (Value::Str(s), BinOp::Mul, n) | (n, BinOp::Mul, Value::Str(s))
            if matches!(n, Value::Int(_) | Value::Bool(_)) =>
        {
            let k = int_arg(it, n, span)?.max(0) as usize;
            let mut out = String::from_utf8(sized(it, span, s.len(), k, 0)?).unwrap_or_default();
            repeat_within_time(it, span, k, || out.push_str(s))?;
            Value::Str(out.into())
        }
        (Value::List(l), BinOp::Mul, n) | (n, BinOp::Mul, Value::List(l))
            if matches!(n, Value::Int(_) | Value::Bool(_)) =>
        {
            let k = int_arg(it, n, span)?.max(0) as usize;
            let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
            let mut out = sized(it, span, items.len(), k, 0)?;
            repeat_within_time(it, span, k, || out.extend(items.iter().cloned()))?;
            new_list(out, span)
        }
        (Value::Tuple(t), BinOp::Mul, n) | (n, BinOp::Mul, Value::Tuple(t))
            if matches!(n, Value::Int(_) | Value::Bool(_)) =>
        {
            let k = int_arg(it, n, span)?.max(0) as usize;
            let mut out = sized(it, span, t.len(), k, 0)?;
            repeat_within_time(it, span, k, || out.extend(t.iter().cloned()))?;
            Value::Tuple(Rc::new(out))
        }
        (
            Value::Set(a),
            BinOp::BitOr | BinOp::BitAnd | BinOp::Sub | BinOp::BitXor,
            Value::Set(b),
        ) => {
            let (a, b) = (a.borrow(), b.borrow());
            let out = Dict::shared(DictKind::Plain);
            for (k, v) in a.items() {
                let key = Key::of(&k).unwrap_or(Key::None);
                let inb = b.contains(&key);
                let keep = match op {
                    BinOp::BitOr | BinOp::Sub | BinOp::BitXor => !inb || op == BinOp::BitOr,
                    _ => inb,
                };
                if keep {
                    out.borrow_mut().insert(key, k, v);
                }
            }
            if matches!(op, BinOp::BitOr | BinOp::BitXor) {
                for (k, v) in b.items() {
                    let key = Key::of(&k).unwrap_or(Key::None);
                    if !a.contains(&key) {
                        out.borrow_mut().insert(key, k, v);
                    }
                }
            }
            Value::Set(out)
        }
        (Value::Dict(a), BinOp::BitOr, Value::Dict(b)) => {
            let out = Dict::shared(DictKind::Plain);
            for (k, v) in a.borrow().items().into_iter().chain(b.borrow().items()) {
                let key = Key::of(&k).unwrap_or(Key::None);
                out.borrow_mut().insert(key, k, v);
            }
            Value::Dict(out)
        }
        (Value::Str(fmt), BinOp::Mod, args) => {
            let args = match args {
                Value::Tuple(t) => t.as_ref().clone(),
                other => vec![other.clone()],
            };
            Value::Str(it.percent_format(fmt, &args, span)?.into())
        }
        _ => return Ok(None),
    }))
}

fn py_floor_div(a: i64, b: i64) -> Option<i64> {
    let q = a.checked_div(b)?;
    Some(if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    })
}

fn py_mod(a: i64, b: i64) -> Option<i64> {
    let r = a.checked_rem(b)?;
    Some(if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    })
}

fn py_fmod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
        r + b
    } else {
        r
    }
}

/// Python's arithmetic on ints and floats; the error message starts with the exception type.
pub(super) fn arith(a: Num, op: BinOp, b: Num) -> Result<Value, String> {
    let overflow = || "OverflowError: integer result does not fit in 64 bits".to_string();
    let zero_div = |what: &str| format!("ZeroDivisionError: {what}");
    let unsupported = |t: &str| {
        format!(
            "TypeError: unsupported operand type(s) for {}: '{t}' and '{t}'",
            op.symbol()
        )
    };
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => match op {
            BinOp::Add => x.checked_add(y).map(Value::Int).ok_or_else(overflow),
            BinOp::Sub => x.checked_sub(y).map(Value::Int).ok_or_else(overflow),
            BinOp::Mul => x.checked_mul(y).map(Value::Int).ok_or_else(overflow),
            BinOp::Div if y == 0 => Err(zero_div("division by zero")),
            BinOp::Div => Ok(Value::Float(x as f64 / y as f64)),
            BinOp::FloorDiv if y == 0 => Err(zero_div("integer division or modulo by zero")),
            BinOp::FloorDiv => py_floor_div(x, y).map(Value::Int).ok_or_else(overflow),
            BinOp::Mod if y == 0 => Err(zero_div("integer modulo by zero")),
            BinOp::Mod => py_mod(x, y).map(Value::Int).ok_or_else(overflow),
            BinOp::Pow if y >= 0 => u32::try_from(y)
                .ok()
                .and_then(|e| x.checked_pow(e))
                .map(Value::Int)
                .ok_or_else(overflow),
            BinOp::Pow => Ok(Value::Float((x as f64).powf(y as f64))),
            BinOp::MatMul => Err(unsupported("int")),
            BinOp::BitAnd => Ok(Value::Int(x & y)),
            BinOp::BitOr => Ok(Value::Int(x | y)),
            BinOp::BitXor => Ok(Value::Int(x ^ y)),
            BinOp::LShift if y < 0 => Err("ValueError: negative shift count".into()),
            BinOp::LShift => u32::try_from(y)
                .ok()
                .filter(|&s| s < 64 && (x << s) >> s == x)
                .map(|s| Value::Int(x << s))
                .ok_or_else(overflow),
            BinOp::RShift if y < 0 => Err("ValueError: negative shift count".into()),
            BinOp::RShift => Ok(Value::Int(x >> y.min(63))),
        },
        _ => {
            let (x, y) = (as_f64(a), as_f64(b));
            match op {
                BinOp::Add => Ok(Value::Float(x + y)),
                BinOp::Sub => Ok(Value::Float(x - y)),
                BinOp::Mul => Ok(Value::Float(x * y)),
                BinOp::Div if y == 0.0 => Err(zero_div("float division by zero")),
                BinOp::Div => Ok(Value::Float(x / y)),
                BinOp::FloorDiv if y == 0.0 => Err(zero_div("float floor division by zero")),
                BinOp::FloorDiv => Ok(Value::Float((x / y).floor())),
                BinOp::Mod if y == 0.0 => Err(zero_div("float modulo")),
                BinOp::Mod => Ok(Value::Float(py_fmod(x, y))),
                BinOp::Pow if x == 0.0 && y < 0.0 => {
                    Err(zero_div("0.0 cannot be raised to a negative power"))
                }
                BinOp::Pow => Ok(Value::Float(x.powf(y))),
                _ => Err(unsupported("float")),
            }
        }
    }
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

/// Python's `==` on non-tensor values.
pub(super) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q))
        }
        (Value::List(x), Value::List(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| equal(&p.value, &q.value))
        }
        (Value::Dict(x), Value::Dict(y)) | (Value::Set(x), Value::Set(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.items().iter().all(|(k, v)| {
                    Key::of(k)
                        .and_then(|k| y.get(&k))
                        .is_some_and(|w| equal(v, &w))
                })
        }
        (Value::DType(x), Value::DType(y)) => x == y,
        (Value::Device(x), Value::Device(y)) => x == y,
        // torch.device compares equal to its string form in scenarios' `x.device == "cuda"`.
        (Value::Device(d), Value::Str(s)) | (Value::Str(s), Value::Device(d)) => {
            torch::device_named(s) == Some(*d)
        }
        (Value::Path(x), Value::Path(y)) => x == y,
        (Value::Range(..), Value::Range(..)) => {
            let (ra, rb) = (range_len(a), range_len(b));
            ra == rb && format!("{a}") == format!("{b}")
        }
        _ => match (num(a), num(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
            (Some(x), Some(y)) => as_f64(x) == as_f64(y),
            _ => match (a.identity(), b.identity()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        },
    }
}

/// Python's ordering of numbers, strings and sequences; `None` where Python raises TypeError.
pub(super) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Tuple(x), Value::Tuple(y)) => seq_order(x, y),
        (Value::List(x), Value::List(y)) => {
            let x: Vec<Value> = x.borrow().iter().map(|s| s.value.clone()).collect();
            let y: Vec<Value> = y.borrow().iter().map(|s| s.value.clone()).collect();
            seq_order(&x, &y)
        }
        _ => match (num(a)?, num(b)?) {
            (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
            (x, y) => as_f64(x).partial_cmp(&as_f64(y)),
        },
    }
}

fn seq_order(x: &[Value], y: &[Value]) -> Option<Ordering> {
    for (p, q) in x.iter().zip(y) {
        if !equal(p, q) {
            return order(p, q);
        }
    }
    Some(x.len().cmp(&y.len()))
}

/// `nn.Module.__init__` and the other library bases' `__init__` on a scenario object.
pub(super) fn call_base_init(it: &mut Interp<'_>, base: &str, args: CallArgs, span: Span) -> X<()> {
    if super::module::is_module_base(base) {
        return super::module::module_init(it, base, args, span);
    }
    Ok(())
}

/// A list's methods.
pub(super) fn call_list_method(
    it: &mut Interp<'_>,
    list: &ListRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let pos = &args.pos;
    match (name, pos.as_slice()) {
        ("append", [v]) => {
            list.borrow_mut().push(Slot {
                value: v.clone(),
                stored_at: span,
            });
            Ok(Value::None)
        }
        ("extend", [v]) => {
            let items = it.collect(v.clone(), span)?;
            list.borrow_mut()
                .extend(items.into_iter().map(|value| Slot {
                    value,
                    stored_at: span,
                }));
            Ok(Value::None)
        }
        ("insert", [i, v]) => {
            let i = int_arg(it, i, span)?;
            let len = list.borrow().len() as i64;
            let j = if i < 0 { (i + len).max(0) } else { i.min(len) } as usize;
            list.borrow_mut().insert(
                j,
                Slot {
                    value: v.clone(),
                    stored_at: span,
                },
            );
            Ok(Value::None)
        }
        ("clear", []) => {
            // Take the elements out before dropping them, so their storages are freed with no
            // borrow of the list held.
            let items = std::mem::take(&mut *list.borrow_mut());
            drop(items);
            Ok(Value::None)
        }
        ("pop", rest @ ([] | [_])) => {
            let len = list.borrow().len() as i64;
            let i = match rest {
                [v] => int_arg(it, v, span)?,
                _ => -1,
            };
            if len == 0 {
                return Err(it.raise("IndexError", "pop from empty list".into(), span));
            }
            let j = if i < 0 { i + len } else { i };
            if !(0..len).contains(&j) {
                return Err(it.raise("IndexError", "pop index out of range".into(), span));
            }
            let slot = list.borrow_mut().remove(j as usize);
            Ok(slot.value)
        }
        ("remove" | "index" | "count", [v]) => {
            let items: Vec<Value> = list.borrow().iter().map(|s| s.value.clone()).collect();
            let pos = items.iter().position(|x| equal(x, v));
            match name {
                "count" => Ok(Value::Int(
                    items.iter().filter(|x| equal(x, v)).count() as i64
                )),
                "index" => pos.map(|p| Value::Int(p as i64)).ok_or_else(|| {
                    it.raise(
                        "ValueError",
                        format!("{} is not in list", super::value::repr(v)),
                        span,
                    )
                }),
                _ => match pos {
                    Some(p) => {
                        let removed = list.borrow_mut().remove(p);
                        drop(removed);
                        Ok(Value::None)
                    }
                    None => {
                        Err(it.raise("ValueError", "list.remove(x): x not in list".into(), span))
                    }
                },
            }
        }
        ("sort", []) => {
            let items: Vec<Value> = list.borrow().iter().map(|s| s.value.clone()).collect();
            let sorted = it.sort_values(
                items,
                args.keyword("key").cloned(),
                args.keyword("reverse").cloned(),
                span,
            )?;
            let old = std::mem::replace(
                &mut *list.borrow_mut(),
                sorted
                    .into_iter()
                    .map(|value| Slot {
                        value,
                        stored_at: span,
                    })
                    .collect(),
            );
            drop(old);
            Ok(Value::None)
        }
        ("reverse", []) => {
            list.borrow_mut().reverse();
            Ok(Value::None)
        }
        ("copy", []) => {
            let items: Vec<Value> = list.borrow().iter().map(|s| s.value.clone()).collect();
            Ok(new_list(items, span))
        }
        _ => Err(type_error(
            it,
            span,
            format!(
                "list.{name}() got the wrong arguments ({} given)",
                pos.len()
            ),
        )),
    }
}

fn call_dict_method(
    it: &mut Interp<'_>,
    d: &DictRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let pos = &args.pos;
    match (name, pos.as_slice()) {
        ("get", [k, rest @ ..]) if rest.len() <= 1 => {
            let key = it.key(k, span)?;
            Ok(d.borrow()
                .get(&key)
                .unwrap_or_else(|| rest.first().cloned().unwrap_or(Value::None)))
        }
        ("items", []) => {
            let items: VecDeque<Value> = d
                .borrow()
                .items()
                .into_iter()
                .map(|(k, v)| Value::Tuple(Rc::new(vec![k, v])))
                .collect();
            Ok(iterator(Iter::Values(items, "dict_itemiterator")))
        }
        ("keys", []) => Ok(iterator(Iter::Values(
            d.borrow().keys().into(),
            "dict_keyiterator",
        ))),
        ("values", []) => Ok(iterator(Iter::Values(
            d.borrow().values().into(),
            "dict_valueiterator",
        ))),
        ("update", _) => {
            let mut items = Vec::new();
            if let Some(v) = pos.first() {
                items = it.mapping_items(v, span)?;
            }
            for (k, v) in &args.kw {
                items.push((Value::Str(k.as_str().into()), v.clone()));
            }
            for (k, v) in items {
                let key = it.key(&k, span)?;
                let old = d.borrow_mut().insert(key, k, v);
                drop(old);
            }
            Ok(Value::None)
        }
        ("pop", [k, rest @ ..]) if rest.len() <= 1 => {
            let key = it.key(k, span)?;
            let removed = d.borrow_mut().remove(&key);
            match (removed, rest.first()) {
                (Some(v), _) => Ok(v),
                (None, Some(default)) => Ok(default.clone()),
                (None, None) => Err(it.raise("KeyError", super::value::repr(k), span)),
            }
        }
        ("popitem", []) => {
            let last = d.borrow_mut().pop_last();
            match last {
                Some((k, v)) => Ok(Value::Tuple(Rc::new(vec![k, v]))),
                None => Err(it.raise("KeyError", "'popitem(): dictionary is empty'".into(), span)),
            }
        }
        ("setdefault", [k, rest @ ..]) if rest.len() <= 1 => {
            let key = it.key(k, span)?;
            let existing = d.borrow().get(&key);
            match existing {
                Some(v) => Ok(v),
                None => {
                    let v = rest.first().cloned().unwrap_or(Value::None);
                    d.borrow_mut().insert(key, k.clone(), v.clone());
                    Ok(v)
                }
            }
        }
        ("clear", []) => {
            let items = d.borrow_mut().take();
            drop(items);
            Ok(Value::None)
        }
        ("copy", []) => {
            let kind = d.borrow().kind.clone();
            let out = Dict::shared(kind);
            for (k, v) in d.borrow().items() {
                let key = Key::of(&k).unwrap_or(Key::None);
                out.borrow_mut().insert(key, k, v);
            }
            Ok(Value::Dict(out))
        }
        ("most_common", rest @ ([] | [_])) => {
            let mut items = d.borrow().items();
            items.sort_by(|a, b| order(&b.1, &a.1).unwrap_or(Ordering::Equal));
            if let [n] = rest {
                let n = int_arg(it, n, span)?.max(0) as usize;
                items.truncate(n);
            }
            let values = items
                .into_iter()
                .map(|(k, v)| Value::Tuple(Rc::new(vec![k, v])))
                .collect();
            Ok(new_list(values, span))
        }
        _ => Err(type_error(
            it,
            span,
            format!(
                "dict.{name}() got the wrong arguments ({} given)",
                pos.len()
            ),
        )),
    }
}

fn call_set_method(
    it: &mut Interp<'_>,
    s: &DictRef,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match (name, args.pos.as_slice()) {
        ("add", [v]) => {
            let k = it.key(v, span)?;
            s.borrow_mut().insert(k, v.clone(), Value::None);
            Ok(Value::None)
        }
        ("discard" | "remove", [v]) => {
            let k = it.key(v, span)?;
            let removed = s.borrow_mut().remove(&k);
            if removed.is_none() && name == "remove" {
                return Err(it.raise("KeyError", super::value::repr(v), span));
            }
            Ok(Value::None)
        }
        ("update", items) => {
            for v in items {
                for item in it.collect(v.clone(), span)? {
                    let k = it.key(&item, span)?;
                    s.borrow_mut().insert(k, item, Value::None);
                }
            }
            Ok(Value::None)
        }
        ("union" | "intersection" | "difference", [other]) => {
            let items = it.collect(other.clone(), span)?;
            let other_set = Dict::shared(DictKind::Plain);
            for item in items {
                let k = it.key(&item, span)?;
                other_set.borrow_mut().insert(k, item, Value::None);
            }
            let op = match name {
                "union" => BinOp::BitOr,
                "intersection" => BinOp::BitAnd,
                _ => BinOp::Sub,
            };
            Ok(
                sequence_op(it, &Value::Set(s.clone()), op, &Value::Set(other_set), span)?
                    .unwrap_or(Value::None),
            )
        }
        ("clear", []) => {
            let items = s.borrow_mut().take();
            drop(items);
            Ok(Value::None)
        }
        ("copy", []) => {
            let out = Dict::shared(DictKind::Plain);
            for k in s.borrow().keys() {
                let key = Key::of(&k).unwrap_or(Key::None);
                out.borrow_mut().insert(key, k, Value::None);
            }
            Ok(Value::Set(out))
        }
        _ => Err(type_error(
            it,
            span,
            format!(
                "set.{name}() got the wrong arguments ({} given)",
                args.pos.len()
            ),
        )),
    }
}

fn call_str_method(
    it: &mut Interp<'_>,
    s: &Rc<str>,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let str_arg = |i: usize| -> Option<String> {
        match args.pos.get(i) {
            Some(Value::Str(x)) => Some(x.to_string()),
            _ => None,
        }
    };
    let out = |x: String| Ok(Value::Str(x.into()));
    match name {
        "format" => {
            let r = it.str_format(s, &args, span)?;
            out(r)
        }
        "join" => {
            let items = match args.pos.first() {
                Some(v) => it.collect(v.clone(), span)?,
                None => Vec::new(),
            };
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Str(x) => parts.push(x.to_string()),
                    other => {
                        return Err(type_error(
                            it,
                            span,
                            format!(
                                "sequence item {}: expected str instance, {} found",
                                parts.len(),
                                other.type_name()
                            ),
                        ))
                    }
                }
            }
            out(parts.join(s))
        }
        "split" | "rsplit" => {
            let parts: Vec<Value> = match str_arg(0) {
                Some(sep) => s
                    .split(sep.as_str())
                    .map(|p| Value::Str(p.into()))
                    .collect(),
                None => s.split_whitespace().map(|p| Value::Str(p.into())).collect(),
            };
            Ok(new_list(parts, span))
        }
        "splitlines" => Ok(new_list(
            s.lines().map(|p| Value::Str(p.into())).collect(),
            span,
        )),
        "strip" | "lstrip" | "rstrip" => {
            let chars: Vec<char> = str_arg(0).map_or_else(Vec::new, |c| c.chars().collect());
            let pat = |c: char| {
                if chars.is_empty() {
                    c.is_whitespace()
                } else {
                    chars.contains(&c)
                }
            };
            out(match name {
                "strip" => s.trim_matches(pat).to_string(),
                "lstrip" => s.trim_start_matches(pat).to_string(),
                _ => s.trim_end_matches(pat).to_string(),
            })
        }
        "upper" => out(s.to_uppercase()),
        "lower" => out(s.to_lowercase()),
        "title" | "capitalize" => {
            let mut r = String::new();
            let mut start = true;
            for c in s.chars() {
                if start {
                    r.extend(c.to_uppercase());
                } else if name == "capitalize" {
                    r.extend(c.to_lowercase());
                } else {
                    r.push(c);
                }
                start = name == "title" && !c.is_alphanumeric();
            }
            out(r)
        }
        "replace" => match (str_arg(0), str_arg(1)) {
            (Some(a), Some(b)) => out(s.replace(a.as_str(), &b)),
            _ => Err(type_error(
                it,
                span,
                "replace() takes two string arguments".into(),
            )),
        },
        "startswith" | "endswith" => {
            let prefixes: Vec<String> = match args.pos.first() {
                Some(Value::Str(p)) => vec![p.to_string()],
                Some(Value::Tuple(t)) => t.iter().map(|v| v.to_string()).collect(),
                _ => Vec::new(),
            };
            let r = prefixes.iter().any(|p| {
                if name == "startswith" {
                    s.starts_with(p.as_str())
                } else {
                    s.ends_with(p.as_str())
                }
            });
            Ok(Value::Bool(r))
        }
        "find" => Ok(Value::Int(
            str_arg(0)
                .and_then(|p| s.find(p.as_str()))
                .map_or(-1, |i| s[..i].chars().count() as i64),
        )),
        "count" => Ok(Value::Int(
            str_arg(0).map_or(0, |p| s.matches(p.as_str()).count() as i64),
        )),
        "isdigit" => Ok(Value::Bool(
            !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()),
        )),
        "ljust" | "rjust" | "center" | "zfill" => {
            let width = match args.pos.first() {
                Some(v) => int_arg(it, v, span)?.max(0) as usize,
                None => 0,
            };
            let fill = if name == "zfill" {
                '0'
            } else {
                str_arg(1).and_then(|f| f.chars().next()).unwrap_or(' ')
            };
            let align = match name {
                "ljust" => '<',
                "center" => '^',
                _ => '>',
            };
            out(pad(s, width, fill, align))
        }
        _ => Err(it.raise(
            "AttributeError",
            format!("'str' object has no attribute '{name}'"),
            span,
        )),
    }
}

/// Pads `s` to `width` characters with `fill`, aligned left (`<`), right (`>`) or centred.
pub(super) fn pad(s: &str, width: usize, fill: char, align: char) -> String {
    let n = s.chars().count();
    if n >= width {
        return s.to_string();
    }
    let total = width - n;
    let (left, right) = match align {
        '<' => (0, total),
        '^' => (total / 2, total - total / 2),
        _ => (total, 0),
    };
    let f = |k: usize| std::iter::repeat_n(fill, k).collect::<String>();
    format!("{}{s}{}", f(left), f(right))
}

/// Calls the builtin method `name` of `recv`; other receivers go to torch.
pub(super) fn call_method(
    it: &mut Interp<'_>,
    recv: Value,
    name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    match &recv {
        Value::List(l) => return call_list_method(it, &l.clone(), name, args, span),
        Value::Dict(d) => return call_dict_method(it, &d.clone(), name, args, span),
        Value::Set(s) => return call_set_method(it, &s.clone(), name, args, span),
        Value::Str(s) => return call_str_method(it, &s.clone(), name, args, span),
        Value::Tuple(t) => {
            let items = t.as_ref().clone();
            let v = args.pos.first().cloned().unwrap_or(Value::None);
            return match name {
                "count" => Ok(Value::Int(
                    items.iter().filter(|x| equal(x, &v)).count() as i64
                )),
                _ => items
                    .iter()
                    .position(|x| equal(x, &v))
                    .map(|p| Value::Int(p as i64))
                    .ok_or_else(|| {
                        it.raise("ValueError", "tuple.index(x): x not in tuple".into(), span)
                    }),
            };
        }
        Value::Float(f) => {
            return Ok(match name {
                "is_integer" => Value::Bool(f.fract() == 0.0),
                _ => Value::Str(format!("{f:e}").into()),
            })
        }
        Value::Int(i) => return Ok(Value::Int(64 - i.unsigned_abs().leading_zeros() as i64)),
        Value::Iterator(_) => {
            return match it.next(&recv, span)? {
                Some(v) => Ok(v),
                None => Err(it.raise("StopIteration", String::new(), span)),
            }
        }
        Value::Native(n) => return stdlib::call_native_method(it, &n.clone(), name, args, span),
        Value::Class(c) if name == "apply" && super::autograd::is_function_class(c) => {
            return super::autograd::apply(it, &c.clone(), args, span)
        }
        Value::Instance(i) if super::autograd::is_ctx(i) => {
            return super::autograd::ctx_method(it, &i.clone(), name, args, span)
        }
        _ => {}
    }
    if let Some(r) = super::module::call_library_module_method(it, &recv, name, &args, span) {
        return r;
    }
    torch::call_method(it, recv, name, args, span)
}
