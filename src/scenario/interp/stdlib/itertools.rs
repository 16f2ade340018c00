//! The `itertools` module: its functions, as lazy iterators where Python's are.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::super::pyobj::Iter;
use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use crate::scenario::Span;

pub(super) fn itertools(it: &mut Interp<'_>, name: &str, args: &CallArgs, span: Span) -> X<Value> {
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
