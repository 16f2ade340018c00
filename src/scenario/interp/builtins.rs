//! Python's builtins, the methods of the builtin types, and int/float arithmetic as Python
//! does it. This file holds the builtin functions and types; the builtin types' methods,
//! arithmetic and sequence operators are in its child modules.

use std::cell::RefCell;
use std::rc::Rc;

use super::dict::{Dict, DictKind, DictRef, Key};
use super::pyobj::{Iter, Native};
use super::value::{Path, Slot, Value};
use super::{exc, number as num, stdlib, torch, CallArgs, Interp, Num, Unwind, X};
use crate::scenario::{BinOp, Span};

mod arith;
mod methods;
mod sequences;

pub(super) use arith::{arith, equal, order};
use arith::{round_half_even, to_float, to_int};
pub(super) use methods::{call_method, filled, has_builtin_method, is_list_method, pad};
pub(super) use sequences::sequence_op;

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

/// `nn.Module.__init__` and the other library bases' `__init__` on a scenario object.
pub(super) fn call_base_init(it: &mut Interp<'_>, base: &str, args: CallArgs, span: Span) -> X<()> {
    if super::module::is_module_base(base) {
        return super::module::module_init(it, base, args, span);
    }
    Ok(())
}
