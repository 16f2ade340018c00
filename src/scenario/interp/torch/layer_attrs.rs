//! The constructor settings that custom modules read off library layers (`module.out_channels`,
//! `linear.in_features`, `embedding.embedding_dim`), as PyTorch keeps them on the object. They
//! are read from the layer's weight shape, which PyTorch's `reset_parameters` sizes from them:
//! a Conv weight is `(out_channels, in_channels / groups, *kernel_size)`, a Linear weight
//! `(out_features, in_features)`, an Embedding weight `(num_embeddings, embedding_dim)`.

use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use crate::tensor::Tensor;

/// `module.attr` for a constructor setting of a library layer; `None` for other names.
pub(super) fn get(m: &ModuleRef, attr: &str) -> Option<Value> {
    match &*m.0 {
        ModuleKind::Linear(l) => {
            let shape = l.weight.shape();
            match attr {
                "out_features" => Some(Value::Int(shape[0] as i64)),
                "in_features" => Some(Value::Int(shape[1] as i64)),
                _ => None,
            }
        }
        ModuleKind::Layer(l) => {
            let weight = l
                .named_parameters()
                .into_iter()
                .find(|(n, _)| n == "weight")
                .map(|(_, t)| t)?;
            layer(l.class_name(), &l.repr(), &weight, attr)
        }
        _ => None,
    }
}

fn layer(class: &str, repr: &str, weight: &Tensor, attr: &str) -> Option<Value> {
    let shape = weight.shape();
    let int = |i: usize| Some(Value::Int(shape[i] as i64));
    match (class, attr) {
        ("Conv1d" | "Conv2d", "out_channels") => int(0),
        // `in_channels` is the repr's first field (`Conv2d(3, 8, kernel_size=...)`): with
        // `groups` the weight holds only `in_channels / groups`.
        ("Conv1d" | "Conv2d", "in_channels") => {
            let inner = repr.split_once('(')?.1;
            let first = inner.split(',').next()?.trim();
            first.parse::<i64>().ok().map(Value::Int)
        }
        ("Conv1d" | "Conv2d", "kernel_size") => Some(Value::Tuple(std::rc::Rc::new(
            shape[2..].iter().map(|&k| Value::Int(k as i64)).collect(),
        ))),
        ("Embedding", "num_embeddings") => int(0),
        ("Embedding", "embedding_dim") => int(1),
        ("BatchNorm1d" | "BatchNorm2d", "num_features") => int(0),
        _ => None,
    }
}
