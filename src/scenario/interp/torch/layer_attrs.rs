//! The constructor settings that custom modules read off library layers (`module.out_channels`,
//! `conv.groups`, `bn.eps`, `embedding.padding_idx`), as PyTorch keeps them on the object: a
//! `Linear`'s from its weight (`(out_features, in_features)`, exact), every other layer's
//! from the layer's own configuration ([`Layer::setting`](crate::nn::Layer::setting),
//! [`Stateless::setting`](crate::nn::Stateless::setting) for the layers without parameters).

use std::rc::Rc;

use super::super::objects::{ModuleKind, ModuleRef};
use super::super::value::Value;
use crate::nn::Setting;

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
        ModuleKind::Layer(l) => l.setting(attr).map(value),
        ModuleKind::Stateless(l) => l.setting(attr).map(value),
        _ => None,
    }
}

/// A setting as the Python value PyTorch stores.
fn value(s: Setting) -> Value {
    match s {
        Setting::Int(i) => Value::Int(i),
        Setting::Float(f) => Value::Float(f),
        Setting::Bool(b) => Value::Bool(b),
        Setting::Ints(v) => Value::Tuple(Rc::new(
            v.into_iter().map(|d| Value::Int(d as i64)).collect(),
        )),
        Setting::Str(s) => Value::Str(s.into()),
        Setting::None => Value::None,
    }
}
