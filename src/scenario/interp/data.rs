//! `torch.utils.data` as `torch/utils/data/` runs it in one process: `TensorDataset`,
//! `Subset`, `random_split`, user `Dataset` subclasses (anything with `__len__` and
//! `__getitem__`, lists too), and `DataLoader` with `batch_size`, a seeded `shuffle`,
//! `drop_last`, `collate_fn` and `default_collate`.
//!
//! Iterating a loader is lazy, as `_SingleProcessDataLoaderIter` is: the sampler's order is
//! drawn when the iterator is made, and each `next` fetches one batch's samples and collates
//! them, so only the batch the program holds is alive. `num_workers`, `pin_memory` and the
//! other process options are accepted and change nothing on the device: workers and pinned
//! host buffers are host memory.

use std::rc::Rc;

use super::args::bound;
use super::args::CallArgs;
use super::dict::{Dict, DictKind, Key};
use super::ops::path;
use super::pyobj::{Iter, Native};
use super::value::Value;
use super::{Interp, Unwind, X};
use crate::base::{DType, Device};
use crate::scenario::Span;

/// A `DataLoader`: what iterating it needs.
#[derive(Debug)]
pub struct Loader {
    dataset: Value,
    /// `None`: samples are yielded one by one, not collated (`batch_size=None`).
    batch_size: Option<usize>,
    shuffle: bool,
    drop_last: bool,
    /// `None` for `default_collate`.
    collate_fn: Option<Value>,
}

impl Loader {
    /// The values the loader holds, for the collector and the leak walker.
    pub(super) fn referents(&self) -> impl Iterator<Item = &Value> {
        std::iter::once(&self.dataset).chain(self.collate_fn.as_ref())
    }
}

fn type_error(it: &mut Interp<'_>, message: String, span: Span) -> Unwind {
    it.raise("TypeError", message, span)
}

fn int_arg(it: &mut Interp<'_>, v: &Value, what: &str, span: Span) -> X<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(type_error(
            it,
            format!("{what} should be an int, not {}", other.type_name()),
            span,
        )),
    }
}

fn bool_arg(it: &mut Interp<'_>, v: Option<&Value>, what: &str, span: Span) -> X<bool> {
    match v {
        None | Some(Value::None) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(type_error(
            it,
            format!(
                "{what} should be a boolean value, but got {}",
                other.type_name()
            ),
            span,
        )),
    }
}

/// `torch.utils.data.TensorDataset(*tensors)`.
pub(super) fn tensor_dataset(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    if !args.kw.is_empty() {
        return Err(type_error(
            it,
            "TensorDataset() takes no keyword arguments".into(),
            span,
        ));
    }
    let mut first = None;
    for v in &args.pos {
        let Value::Tensor(t) = v else {
            return Err(type_error(
                it,
                format!("TensorDataset takes tensors, not {}", v.type_name()),
                span,
            ));
        };
        let n = t.shape().first().copied();
        if first.is_some() && n != first {
            return Err(it.raise(
                "AssertionError",
                "Size mismatch between tensors".into(),
                span,
            ));
        }
        first = n;
    }
    Ok(Value::Native(Rc::new(Native::TensorDataset(args.pos))))
}

/// `torch.utils.data.Subset(dataset, indices)`.
pub(super) fn subset(it: &mut Interp<'_>, _name: &str, args: CallArgs, span: Span) -> X<Value> {
    let b = bound(it, args.bind("Subset", &["dataset", "indices"], 2), span)?;
    let dataset = b.raw("dataset").cloned().unwrap_or(Value::None);
    let indices = it.collect(b.raw("indices").cloned().unwrap_or(Value::None), span)?;
    let indices = indices
        .iter()
        .map(|v| int_arg(it, v, "index", span))
        .collect::<X<Vec<i64>>>()?;
    Ok(Value::Native(Rc::new(Native::Subset(dataset, indices))))
}

/// A permutation of `0..n` drawn from the runtime's host generator (PyTorch's
/// `torch.randperm(n)`: the same memory, not the same order).
fn permutation(it: &Interp<'_>, n: usize) -> Vec<usize> {
    let mut stream = it.rt.random_stream(Device::Cpu, n);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = stream.next_u32() as usize % (i + 1);
        order.swap(i, j);
    }
    order
}

/// `torch.utils.data.random_split(dataset, lengths, generator=None)`: lengths as counts, or
/// fractions that sum to 1 (the remainder spread one by one from the first, as PyTorch does).
pub(super) fn random_split(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(
        it,
        args.bind("random_split", &["dataset", "lengths", "generator"], 2),
        span,
    )?;
    let dataset = b.raw("dataset").cloned().unwrap_or(Value::None);
    let n = it.len_of(&dataset, span)?;
    let lengths = it.collect(b.raw("lengths").cloned().unwrap_or(Value::None), span)?;
    let mut counts = Vec::with_capacity(lengths.len());
    if lengths.iter().all(|v| matches!(v, Value::Float(_))) && !lengths.is_empty() {
        let fractions: Vec<f64> = lengths
            .iter()
            .map(|v| if let Value::Float(f) = v { *f } else { 0.0 })
            .collect();
        for f in &fractions {
            counts.push((n as f64 * f).floor() as usize);
        }
        let rest = n.saturating_sub(counts.iter().sum());
        let len = counts.len();
        for i in 0..rest {
            counts[i % len] += 1;
        }
    } else {
        for v in &lengths {
            counts.push(int_arg(it, v, "length", span)?.max(0) as usize);
        }
    }
    if counts.iter().sum::<usize>() != n {
        return Err(it.raise(
            "ValueError",
            "Sum of input lengths does not equal the length of the input dataset!".into(),
            span,
        ));
    }
    let order = permutation(it, n);
    let mut at = 0;
    let mut parts = Vec::with_capacity(counts.len());
    for c in counts {
        let indices = order[at..at + c].iter().map(|&i| i as i64).collect();
        at += c;
        parts.push(Value::Native(Rc::new(Native::Subset(
            dataset.clone(),
            indices,
        ))));
    }
    Ok(it.list(parts, span))
}

/// `torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=False, ...)`.
pub(super) fn data_loader(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(
        it,
        args.bind(
            "DataLoader",
            &[
                "dataset",
                "batch_size",
                "shuffle",
                "sampler",
                "batch_sampler",
                "num_workers",
                "collate_fn",
                "pin_memory",
                "drop_last",
                "timeout",
                "worker_init_fn",
                "multiprocessing_context",
                "generator",
                "prefetch_factor",
                "persistent_workers",
                "pin_memory_device",
                "in_order",
            ],
            1,
        ),
        span,
    )?;
    for unsupported in ["sampler", "batch_sampler"] {
        if b.get(unsupported).is_some() {
            return Err(it.raise(
                "NotImplementedError",
                format!("DataLoader({unsupported}=...) is not supported in scenarios"),
                span,
            ));
        }
    }
    let batch_size = match b.raw("batch_size") {
        None => Some(1),
        Some(Value::None) => None,
        Some(v) => {
            let n = int_arg(it, v, "batch_size", span)?;
            if n <= 0 {
                return Err(it.raise(
                    "ValueError",
                    format!(
                        "batch_size should be a positive integer value, but got batch_size={n}"
                    ),
                    span,
                ));
            }
            Some(n as usize)
        }
    };
    let shuffle = bool_arg(it, b.get("shuffle"), "shuffle", span)?;
    let drop_last = bool_arg(it, b.get("drop_last"), "drop_last", span)?;
    bool_arg(it, b.get("pin_memory"), "pin_memory", span)?;
    if let Some(w) = b.get("num_workers") {
        int_arg(it, w, "num_workers", span)?;
    }
    let loader = Loader {
        dataset: b.raw("dataset").cloned().unwrap_or(Value::None),
        batch_size,
        shuffle,
        drop_last,
        collate_fn: b.get("collate_fn").cloned(),
    };
    Ok(Value::Native(Rc::new(Native::DataLoader(Rc::new(loader)))))
}

/// `len(loader)`: batches per epoch.
pub(super) fn loader_len(it: &mut Interp<'_>, loader: &Loader, span: Span) -> X<usize> {
    let n = it.len_of(&loader.dataset, span)?;
    Ok(match loader.batch_size {
        None => n,
        Some(b) if loader.drop_last => n / b,
        Some(b) => n.div_ceil(b),
    })
}

/// `iter(loader)`: the sampler's order is drawn now; batches are fetched one per `next`.
pub(super) fn loader_iter(it: &mut Interp<'_>, loader: &Rc<Loader>, span: Span) -> X<Iter> {
    let n = it.len_of(&loader.dataset, span)?;
    let order: Vec<usize> = if loader.shuffle {
        permutation(it, n)
    } else {
        (0..n).collect()
    };
    let batches: Vec<Value> = match loader.batch_size {
        None => order.iter().map(|&i| Value::Int(i as i64)).collect(),
        Some(b) => order
            .chunks(b)
            .filter(|c| !loader.drop_last || c.len() == b)
            .map(|c| Value::Tuple(Rc::new(c.iter().map(|&i| Value::Int(i as i64)).collect())))
            .collect(),
    };
    let indices = Value::Iterator(Rc::new(std::cell::RefCell::new(Iter::Values(
        batches.into(),
        "iterator",
    ))));
    let fetch = Value::Native(Rc::new(Native::FetchBatch(loader.clone())));
    Ok(Iter::Map(fetch, vec![indices]))
}

/// One `next` of a loader's iterator: the samples at `indices`, collated.
pub(super) fn fetch(it: &mut Interp<'_>, loader: &Loader, indices: &Value, span: Span) -> X<Value> {
    let Value::Tuple(indices) = indices else {
        // batch_size=None: one sample, as the dataset returns it.
        return it.get_item(loader.dataset.clone(), indices.clone(), span);
    };
    let mut samples = Vec::with_capacity(indices.len());
    for i in indices.iter() {
        samples.push(it.get_item(loader.dataset.clone(), i.clone(), span)?);
    }
    match &loader.collate_fn {
        Some(f) => {
            let batch = it.list(samples, span);
            it.call(f.clone(), CallArgs::positional(vec![batch]), span)
        }
        None => collate(it, samples, span),
    }
}

/// `torch.utils.data.default_collate(batch)`.
pub(super) fn default_collate(
    it: &mut Interp<'_>,
    _name: &str,
    args: CallArgs,
    span: Span,
) -> X<Value> {
    let b = bound(it, args.bind("default_collate", &["batch"], 1), span)?;
    let batch = it.collect(b.raw("batch").cloned().unwrap_or(Value::None), span)?;
    collate(it, batch, span)
}

/// `default_collate` (`torch/utils/data/_utils/collate.py`): tensors stacked along a new first
/// dimension, numbers made a tensor, strings kept as a list, dicts collated per key, tuples
/// and lists transposed and collated per position (a list comes back, for tuples too).
fn collate(it: &mut Interp<'_>, samples: Vec<Value>, span: Span) -> X<Value> {
    let Some(first) = samples.first().cloned() else {
        return Err(it.raise(
            "IndexError",
            "default_collate: the batch is empty".into(),
            span,
        ));
    };
    match first {
        Value::Tensor(_) => {
            let list = it.list(samples, span);
            it.call(path("torch.stack"), CallArgs::positional(vec![list]), span)
        }
        // `collate_float_fn` makes Python floats a float64 tensor; `collate_int_fn` leaves ints
        // (and bools, which are ints to the type lookup) to `torch.tensor`'s own dtype.
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            let kw = match first {
                Value::Float(_) => vec![("dtype".to_string(), Value::DType(DType::F64))],
                _ => Vec::new(),
            };
            let list = it.list(samples, span);
            let args = CallArgs {
                pos: vec![list],
                kw,
            };
            it.call(path("torch.tensor"), args, span)
        }
        Value::Str(_) => Ok(it.list(samples, span)),
        Value::Dict(d) => {
            let keys = d.borrow().keys();
            let out = Dict::shared(DictKind::Plain);
            for k in keys {
                let mut column = Vec::with_capacity(samples.len());
                for s in &samples {
                    column.push(it.get_item(s.clone(), k.clone(), span)?);
                }
                let v = collate(it, column, span)?;
                let Some(key) = Key::of(&k) else {
                    return Err(type_error(it, "unhashable dict key".into(), span));
                };
                out.borrow_mut().insert(key, k, v);
            }
            Ok(Value::Dict(out))
        }
        Value::Tuple(_) | Value::List(_) => {
            let width = it.len_of(&first, span)?;
            let mut rows = Vec::with_capacity(samples.len());
            for s in samples {
                let row = it.collect(s, span)?;
                if row.len() != width {
                    return Err(it.raise(
                        "RuntimeError",
                        "each element in list of batch should be of equal size".into(),
                        span,
                    ));
                }
                rows.push(row);
            }
            let mut columns = Vec::with_capacity(width);
            for j in 0..width {
                let column = rows.iter().map(|r| r[j].clone()).collect();
                columns.push(collate(it, column, span)?);
            }
            Ok(it.list(columns, span))
        }
        other => Err(type_error(
            it,
            format!(
                "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found <class '{}'>",
                other.type_name()
            ),
            span,
        )),
    }
}
