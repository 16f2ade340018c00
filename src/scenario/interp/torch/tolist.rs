//! `Tensor.tolist()`: the values as nested Python lists of numbers, one level per dimension
//! (a 0-dim tensor gives the number itself, as `item()` does). PyTorch copies a device tensor
//! to the host first (`tensor_to_list` in `torch/csrc/utils/tensor_list.cpp`), so the call
//! allocates nothing on the device and the lists keep no tensor alive: the usual fix for a list
//! of device predictions that grows.

use super::super::value::Value;
use super::super::Interp;
use super::args::method;
use crate::scenario::Span;
use crate::tensor::Tensor;

// `tolist()`.
method!(tolist, [], 0, |c| {
    let numbers = numbers(c.t);
    Ok(nest(c.it, c.t.shape(), &numbers, c.span))
});

/// Every element as the Python number `tolist()` gives for its dtype, in row-major order:
/// floats as doubles (a float64 tensor's exactly), integers as ints, bools as bools. Where a device tensor has no
/// values (the meta backend) these are zeros, as `item()` gives there.
fn numbers(t: &Tensor) -> Vec<Value> {
    let dtype = t.dtype();
    if dtype.is_floating_point() {
        t.to_vec_f64().into_iter().map(Value::Float).collect()
    } else if dtype.is_integer() {
        t.to_vec_i64().into_iter().map(Value::Int).collect()
    } else {
        t.read_bool()
            .unwrap_or_else(|| vec![false; t.numel()])
            .into_iter()
            .map(Value::Bool)
            .collect()
    }
}

/// The list for `shape` over `values` (row-major); the number itself for a 0-dim shape.
fn nest(it: &mut Interp<'_>, shape: &[usize], values: &[Value], span: Span) -> Value {
    let Some((&n, inner)) = shape.split_first() else {
        return values.first().cloned().unwrap_or(Value::None);
    };
    let stride: usize = inner.iter().product();
    let items = (0..n)
        .map(|i| {
            let part = values.get(i * stride..(i + 1) * stride).unwrap_or(&[]);
            if inner.is_empty() {
                part.first().cloned().unwrap_or(Value::None)
            } else {
                nest(it, inner, part, span)
            }
        })
        .collect();
    it.list(items, span)
}
