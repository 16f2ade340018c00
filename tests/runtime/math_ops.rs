//! The element-wise math past the basics (`sin`, `cos`, `log1p`, `expm1`, `rsqrt`, the
//! rounding functions), the sorts (`topk`, `sort`, `argsort`), `tril`, the checks (`any`,
//! `all`, `isinf`, `isfinite`), `cumsum`/`flip`/`repeat`, `softplus`, `dropout2d` and constant
//! padding: what each forward
//! allocates and what its node keeps, in exact bytes on cpu and meta, what backward allocates
//! (derivatives.yaml's formulas, docs/autograd.md), and every gradient against finite
//! differences of an f64 reference.

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Tensor};

use super::runtime_gradcheck::{check, identity, Case};

fn rt(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

fn leaf(rt: &Runtime, shape: &[usize]) -> Tensor {
    rt.randn(shape, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

type UnaryFn = fn(&Tensor) -> leakharness::tensor::Result<Tensor>;

/// Each function's output is its one allocation; its node keeps `self`, `result` or nothing;
/// backward allocates the temporaries of its formula (`self.cos()` for sin, `self.sin()` and
/// its negation for cos, `self + 1` for log1p, `result + 1` for expm1, `-0.5 * grad` and
/// `result.pow(3)` for rsqrt) and then the input's gradient (`zeros_like(grad)` for the
/// rounding functions).
#[test]
fn math_nodes_keep_what_derivatives_yaml_reads() {
    let cases: [(UnaryFn, &str, Option<&str>, u64); 10] = [
        (Tensor::sin, "SinBackward0", Some("self"), 1),
        (Tensor::cos, "CosBackward0", Some("self"), 2),
        (Tensor::log1p, "Log1PBackward0", Some("self"), 1),
        (Tensor::expm1, "Expm1Backward0", Some("result"), 1),
        (Tensor::rsqrt, "RsqrtBackward0", Some("result"), 2),
        (Tensor::floor, "FloorBackward0", None, 0),
        (Tensor::ceil, "CeilBackward0", None, 0),
        (Tensor::round, "RoundBackward0", None, 0),
        (Tensor::trunc, "TruncBackward0", None, 0),
        (Tensor::sign, "SignBackward0", None, 0),
    ];
    for backend in [Backend::Cpu, Backend::Meta] {
        for (f, node, saved, temporaries) in cases {
            let rt = rt(backend);
            // 32×10 f32: 1,280 bytes, 1,536 rounded.
            let x = leaf(&rt, &[32, 10]);
            let y = f(&x).unwrap();
            assert_eq!(y.dtype(), DType::F32);
            assert_eq!(rt.memory_allocated(), 2 * 1536, "{node}: one output");
            let g = y.grad_fn().unwrap();
            assert_eq!(g.name(), node);
            let names: Vec<&str> = g.saved_tensors().iter().map(|s| s.name).collect();
            assert_eq!(names, saved.into_iter().collect::<Vec<_>>(), "{node}");
            let s = y.sum().unwrap();
            drop((y, g));
            let kept = if saved == Some("result") { 1536 } else { 0 };
            assert_eq!(rt.memory_allocated(), 1536 + kept + 512, "{node}: kept");
            rt.allocator_mut().reset_peak_memory_stats();
            s.backward(None, false).unwrap();
            // x, what the node kept, the loss, the seed gradient, the temporaries and x.grad.
            let peak = 1536 + kept + 512 + 512 + 1536 * temporaries + 1536;
            assert_eq!(rt.allocator().max_memory_allocated(), peak, "{node}: peak");
            assert_eq!(rt.memory_allocated(), 1536 + 512 + 1536, "{node}: after");
        }
    }
}

/// Rounding an integer tensor copies it (its dtype kept); sin of one is float32, as PyTorch
/// promotes integers for the float functions.
#[test]
fn integers_round_to_themselves_and_promote_for_sin() {
    let rt = rt(Backend::Cpu);
    let i = rt.tensor_i64(&[-3, 0, 7], &[3], Device::Cuda).unwrap();
    for r in [i.floor(), i.ceil(), i.round(), i.trunc()] {
        let r = r.unwrap();
        assert_eq!(r.dtype(), DType::I64);
        assert!(!r.shares_storage(&i));
        assert_eq!(r.to_vec_f32(), [-3.0, 0.0, 7.0]);
    }
    assert_eq!(i.sin().unwrap().dtype(), DType::F32);
    let s = i.sign().unwrap();
    assert_eq!(s.dtype(), DType::I64);
    assert_eq!(s.to_vec_f32(), [-1.0, 0.0, 1.0]);
    assert_eq!(
        i.round_decimals(-1).unwrap_err().to_string(),
        "\"round_cpu\" not implemented for 'Long'"
    );
    let r = rt
        .tensor(&[1.25, 2.35, -1.25, 125.0], &[4], Device::Cuda)
        .unwrap()
        .round_decimals(1)
        .unwrap();
    // As 2.15 printed: tensor([  1.2000,   2.4000,  -1.2000, 125.0000]).
    assert_eq!(r.to_vec_f32(), [1.2, 2.4, -1.2, 125.0]);
    let r = rt
        .tensor(&[1250.0, 1350.0], &[2], Device::Cuda)
        .unwrap()
        .round_decimals(-2)
        .unwrap();
    assert_eq!(r.to_vec_f32(), [1200.0, 1400.0]);
    let halves = rt
        .tensor(&[0.5, 1.5, 2.5, -0.5, -2.5, 2.4999], &[6], Device::Cuda)
        .unwrap();
    // Halves go to the even neighbour, as C's nearbyint.
    assert_eq!(
        halves.round().unwrap().to_vec_f32(),
        [0.0, 2.0, 2.0, -0.0, -2.0, 2.0]
    );
}

/// topk and sort allocate the values, then the int64 indices; the node keeps the indices; its
/// backward is `at::zeros(sizes).scatter_(dim, indices, grad)`: zeros of the input's shape,
/// scattered into in place, which become `.grad`. argsort frees the values it sorted.
#[test]
fn sorts_keep_their_indices() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[32, 10]); // 1,536 B
        let (v, i) = x.topk(3, 1, true).unwrap();
        // 32×3 f32 = 384 B → 512; 32×3 int64 = 768 B → 1,024.
        assert_eq!(rt.memory_allocated(), 1536 + 512 + 1024);
        assert_eq!(v.shape(), &[32, 3]);
        assert_eq!(i.dtype(), DType::I64);
        let g = v.grad_fn().unwrap();
        assert_eq!(g.name(), "TopkBackward0");
        let names: Vec<&str> = g.saved_tensors().iter().map(|s| s.name).collect();
        assert_eq!(names, ["indices"]);
        // The indices stay alive through the node when the program drops them.
        drop((i, g));
        assert_eq!(rt.memory_allocated(), 1536 + 512 + 1024);
        let s = v.sum().unwrap();
        drop(v);
        rt.allocator_mut().reset_peak_memory_stats();
        s.backward(None, false).unwrap();
        // x, indices, loss, seed and the zeros scattered into, which become x.grad; the node
        // releases the indices when it has run.
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            1536 + 1024 + 512 + 512 + 1536
        );
        assert_eq!(rt.memory_allocated(), 1536 + 512 + 1536);
        drop(s);
        assert_eq!(rt.memory_allocated(), 1536 + 1536);

        let (sorted, order) = x.sort(0, false).unwrap();
        assert_eq!(sorted.grad_fn().unwrap().name(), "SortBackward0");
        // 1,536 for the values and 32×10 int64 = 2,560 B → 2,560 for the indices.
        assert_eq!(rt.memory_allocated(), 1536 * 3 + 2560);
        drop((sorted, order));
        rt.allocator_mut().reset_peak_memory_stats();
        let a = x.argsort(1, true).unwrap();
        assert_eq!(a.dtype(), DType::I64);
        assert!(a.grad_fn().is_none());
        assert_eq!(rt.allocator().max_memory_allocated(), 1536 * 3 + 2560);
        assert_eq!(rt.memory_allocated(), 1536 * 2 + 2560);
    }
}

/// MaxBackward0 runs the same `value_selecting_reduction_backward`: one input-sized buffer at
/// backward's peak (2.15's profiler: `zeros`, `scatter_`). A `TorchDispatchMode` trace shows
/// `new_zeros` and an out-of-place `scatter`, two buffers: ATen's tensor-subclass branch,
/// which the mode itself selects.
#[test]
fn max_dim_backward_scatters_into_one_buffer_of_zeros() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[32, 10]); // 1,536 B
        let (v, i) = x.max_dim(1, false, false).unwrap();
        drop(i);
        let s = v.sum().unwrap();
        drop(v);
        // x, the indices (32 int64: 512), the loss.
        assert_eq!(rt.memory_allocated(), 1536 + 512 + 512);
        rt.allocator_mut().reset_peak_memory_stats();
        s.backward(None, false).unwrap();
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            1536 + 512 + 512 + 512 + 1536
        );
        assert_eq!(rt.memory_allocated(), 1536 + 512 + 1536);
    }
}

/// A 0-dim tensor sorts its one element, and the gradient goes back to it.
#[test]
fn a_zero_dim_tensor_sorts_and_backpropagates() {
    let rt = rt(Backend::Cpu);
    let x = rt
        .tensor(&[2.5], &[], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let (v, i) = x.sort(-1, false).unwrap();
    assert_eq!(v.shape(), &[] as &[usize]);
    assert_eq!(i.to_vec_f32(), [0.0]);
    v.mul_scalar(3.0).unwrap().backward(None, false).unwrap();
    assert_eq!(x.grad().unwrap().to_vec_f32(), [3.0]);
    let (t, _) = x.topk(1, 0, true).unwrap();
    assert_eq!(t.to_vec_f32(), [2.5]);
}

/// The values and indices follow ATen's CPU order: NaN above every number, ties in index
/// order.
#[test]
fn sort_order_puts_nan_last_and_keeps_ties() {
    let rt = rt(Backend::Cpu);
    let x = rt
        .tensor(&[2.0, f32::NAN, -1.0, 2.0, 0.5], &[5], Device::Cuda)
        .unwrap();
    let (v, i) = x.sort(0, false).unwrap();
    let v = v.to_vec_f32();
    assert_eq!(&v[..4], &[-1.0, 0.5, 2.0, 2.0]);
    assert!(v[4].is_nan());
    assert_eq!(i.to_vec_f32(), [2.0, 4.0, 0.0, 3.0, 1.0]);
    // 2.15 printed values [nan, 2.] with indices [1, 3]: which of two equal values its CPU
    // topk picks comes from std::nth_element; here the first one.
    let (top, ti) = x.topk(2, -1, true).unwrap();
    let top = top.to_vec_f32();
    assert!(top[0].is_nan());
    assert_eq!(top[1], 2.0);
    assert_eq!(ti.to_vec_f32()[0], 1.0);
    assert_eq!(
        x.argsort(0, true).unwrap().to_vec_f32(),
        [1.0, 0.0, 3.0, 4.0, 2.0]
    );
    let (low, li) = x.topk(2, 0, false).unwrap();
    assert_eq!(low.to_vec_f32(), [-1.0, 0.5]);
    assert_eq!(li.to_vec_f32(), [2.0, 4.0]);
    assert_eq!(
        x.topk(6, 0, true).unwrap_err().to_string(),
        "selected index k out of range"
    );
}

/// tril keeps the lower triangle and TrilBackward0 saves nothing.
#[test]
fn tril_keeps_the_lower_triangle() {
    let rt = rt(Backend::Cpu);
    let x = rt.ones(&[3, 4], DType::F32, Device::Cuda).unwrap();
    assert_eq!(
        x.tril(0).unwrap().to_vec_f32(),
        [1., 0., 0., 0., 1., 1., 0., 0., 1., 1., 1., 0.]
    );
    assert_eq!(
        x.tril(-1).unwrap().to_vec_f32(),
        [0., 0., 0., 0., 1., 0., 0., 0., 1., 1., 0., 0.]
    );
    let l = leaf(&rt, &[3, 4]).tril(1).unwrap();
    let g = l.grad_fn().unwrap();
    assert_eq!(g.name(), "TrilBackward0");
    assert!(g.saved_tensors().is_empty());
}

fn unary_case(name: &str, op: UnaryFn, reference: fn(f64) -> f64, values: fn(f32) -> f32) {
    check(Case {
        name,
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| op(&t[0]),
        reference: &|x: &[Vec<f64>]| x[0].iter().map(|&v| reference(v)).collect(),
        shape_values: values,
    });
}

fn positive(v: f32) -> f32 {
    v.abs() + 0.5
}

#[test]
fn math_gradients_match_finite_differences() {
    unary_case("sin", Tensor::sin, f64::sin, identity);
    unary_case("cos", Tensor::cos, f64::cos, identity);
    unary_case("log1p", Tensor::log1p, f64::ln_1p, positive);
    unary_case("expm1", Tensor::expm1, f64::exp_m1, identity);
    unary_case("rsqrt", Tensor::rsqrt, |v| 1.0 / v.sqrt(), positive);
    // Random normals lie far (in units of the step) from the jumps.
    unary_case("floor", Tensor::floor, f64::floor, identity);
    unary_case("round", Tensor::round, f64::round, identity);
    unary_case("sign", Tensor::sign, f64::signum, identity);
}

/// The k largest of each row, in order (the inputs are random, so without ties).
fn top_rows(x: &[f64], cols: usize, k: usize, largest: bool) -> Vec<f64> {
    x.chunks(cols)
        .flat_map(|r| {
            let mut r = r.to_vec();
            r.sort_by(|a, b| a.partial_cmp(b).unwrap());
            if largest {
                r.reverse();
            }
            r.truncate(k);
            r
        })
        .collect()
}

#[test]
fn sort_gradients_match_finite_differences() {
    check(Case {
        name: "topk",
        inputs: vec![(vec![3, 5], true)],
        op: &|t: &[Tensor]| Ok(t[0].topk(2, 1, true)?.0),
        reference: &|x: &[Vec<f64>]| top_rows(&x[0], 5, 2, true),
        shape_values: identity,
    });
    check(Case {
        name: "sort",
        inputs: vec![(vec![3, 5], true)],
        op: &|t: &[Tensor]| Ok(t[0].sort(-1, false)?.0),
        reference: &|x: &[Vec<f64>]| top_rows(&x[0], 5, 5, false),
        shape_values: identity,
    });
    check(Case {
        name: "tril",
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| t[0].tril(0),
        reference: &|x: &[Vec<f64>]| {
            (0..12)
                .map(|at| if at % 4 <= at / 4 { x[0][at] } else { 0.0 })
                .collect()
        },
        shape_values: identity,
    });
}

/// `any` is one bool output; `isfinite` of a float tensor is ATen's composite, `abs`, `!= inf`,
/// `self == self`, their product, with the temporaries alive to the end; `isinf` one output.
#[test]
fn checks_allocate_what_aten_does() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[32, 10]); // 1,536 B
        let a = x.any().unwrap();
        assert_eq!(a.dtype(), DType::Bool);
        assert!(a.grad_fn().is_none());
        assert_eq!(rt.memory_allocated(), 1536 + 512);
        drop(a);
        rt.allocator_mut().reset_peak_memory_stats();
        let f = x.isfinite().unwrap();
        // x, abs, the three 320-byte bool tensors.
        assert_eq!(rt.allocator().max_memory_allocated(), 1536 + 1536 + 3 * 512);
        assert_eq!(rt.memory_allocated(), 1536 + 512);
        assert!(f.grad_fn().is_none());
        drop(f);
        rt.allocator_mut().reset_peak_memory_stats();
        let i = x.isinf().unwrap();
        assert_eq!(rt.allocator().max_memory_allocated(), 1536 + 512);
        drop(i);
        let d = x.all_dim(1, true).unwrap();
        assert_eq!(d.shape(), &[32, 1]);
    }
}

/// cumsum, flip and repeat allocate their output and save no tensor; cumsum's backward is
/// flip, cumsum, flip (three allocations), repeat's a view of the gradient summed over the
/// repeats.
#[test]
fn rearranging_nodes_save_nothing() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[32, 10]); // 1,536 B
        let cases: [(UnaryFn, &str, u64, u64); 3] = [
            (|t| t.cumsum(1), "CumsumBackward0", 1536, 2),
            (|t| t.flip(&[0]), "FlipBackward0", 1536, 0),
            (|t| t.repeat(&[2, 1]), "RepeatBackward0", 2560, 0),
        ];
        for (f, node, out_bytes, temporaries) in cases {
            let y = f(&x).unwrap();
            assert_eq!(rt.memory_allocated(), 1536 + out_bytes, "{node}");
            let g = y.grad_fn().unwrap();
            assert_eq!(g.name(), node);
            assert!(g.saved_tensors().is_empty(), "{node}");
            let s = y.sum().unwrap();
            drop((y, g));
            rt.allocator_mut().reset_peak_memory_stats();
            s.backward(None, false).unwrap();
            // x, the loss, the seed, the temporaries, x.grad.
            let peak = 1536 + 512 + 512 + 1536 * temporaries + 1536;
            assert_eq!(rt.allocator().max_memory_allocated(), peak, "{node}");
            drop(s);
            x.set_grad(None);
            assert_eq!(rt.memory_allocated(), 1536, "{node}");
        }
    }
}

#[test]
fn rearranging_gradients_match_finite_differences() {
    check(Case {
        name: "cumsum",
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| t[0].cumsum(1),
        reference: &|x: &[Vec<f64>]| {
            x[0].chunks(4)
                .flat_map(|r| {
                    r.iter()
                        .scan(0.0, |acc, v| {
                            *acc += v;
                            Some(*acc)
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        },
        shape_values: identity,
    });
    check(Case {
        name: "flip",
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| t[0].flip(&[0, 1]),
        reference: &|x: &[Vec<f64>]| x[0].iter().rev().copied().collect(),
        shape_values: identity,
    });
    check(Case {
        name: "repeat",
        inputs: vec![(vec![2, 3], true)],
        op: &|t: &[Tensor]| t[0].repeat(&[2, 1, 2]),
        reference: &|x: &[Vec<f64>]| {
            let mut out = Vec::new();
            for _ in 0..2 {
                for r in x[0].chunks(3) {
                    for _ in 0..2 {
                        out.extend_from_slice(r);
                    }
                }
            }
            out
        },
        shape_values: identity,
    });
}

/// softplus keeps `self` and its backward is one kernel; dropout2d's noise is (N, C, 1, 1)
/// and MulBackward0 keeps it; constant padding allocates the padded output and its node keeps
/// no tensor, its backward one cropped copy.
#[test]
fn softplus_dropout2d_and_pad_allocate_what_aten_does() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[4, 8, 4, 4]); // 2,048 B
        let y = x.softplus(1.0, 20.0).unwrap();
        let g = y.grad_fn().unwrap();
        assert_eq!(g.name(), "SoftplusBackward0");
        let names: Vec<&str> = g.saved_tensors().iter().map(|s| s.name).collect();
        assert_eq!(names, ["self"]);
        drop((y, g));
        assert_eq!(rt.memory_allocated(), 2048);

        let d = x.dropout2d(0.5, true).unwrap();
        // The output, and the 4×8 noise (128 B → 512) the node keeps.
        assert_eq!(rt.memory_allocated(), 2048 + 2048 + 512);
        let g = d.grad_fn().unwrap();
        assert_eq!(g.name(), "MulBackward0");
        let names: Vec<&str> = g.saved_tensors().iter().map(|s| s.name).collect();
        assert_eq!(names, ["other"]);
        drop((d, g));
        assert!(x.dropout2d(0.5, false).unwrap().is_same(&x));

        // 4×8×4×7 f32 = 3,584 B → 3,584.
        let p = x.constant_pad(&[1, 2], 0.0).unwrap();
        assert_eq!(p.shape(), &[4, 8, 4, 7]);
        assert_eq!(rt.memory_allocated(), 2048 + 3584);
        let g = p.grad_fn().unwrap();
        assert_eq!(g.name(), "ConstantPadNdBackward0");
        assert!(g.saved_tensors().is_empty());
        let s = p.sum().unwrap();
        drop((p, g));
        rt.allocator_mut().reset_peak_memory_stats();
        s.backward(None, false).unwrap();
        // x, the loss, the seed and x.grad (the cropped gradient).
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            2048 + 512 + 512 + 2048
        );
    }
}

#[test]
fn softplus_and_pad_gradients_match_finite_differences() {
    unary_case(
        "softplus",
        |t| t.softplus(2.0, 1.0),
        |v| {
            if v * 2.0 > 1.0 {
                v
            } else {
                (v * 2.0).exp().ln_1p() / 2.0
            }
        },
        identity,
    );
    check(Case {
        name: "constant_pad",
        inputs: vec![(vec![2, 3], true)],
        op: &|t: &[Tensor]| t[0].constant_pad(&[-1, 2, 1, 0], 0.5),
        reference: &|x: &[Vec<f64>]| {
            let mut out = vec![0.5; 3 * 4];
            for r in 0..2 {
                for c in 0..2 {
                    out[(r + 1) * 4 + c] = x[0][r * 3 + c + 1];
                }
            }
            out
        },
        shape_values: identity,
    });
}

/// roll allocates its output (and, without dims, a contiguous copy of a non-contiguous input
/// first, freed after); RollBackward0 keeps no tensor and rolls the gradient back.
#[test]
fn roll_allocates_its_output() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[32, 10]); // 1,536 B
        let r = x.roll(&[1, -2], &[0, 1]).unwrap();
        assert_eq!(rt.memory_allocated(), 1536 * 2);
        let g = r.grad_fn().unwrap();
        assert_eq!(g.name(), "RollBackward0");
        assert!(g.saved_tensors().is_empty());
        drop((r, g));
        rt.allocator_mut().reset_peak_memory_stats();
        let t = x.t().unwrap().roll(&[3], &[]).unwrap();
        assert_eq!(t.shape(), &[10, 32]);
        assert_eq!(rt.allocator().max_memory_allocated(), 1536 * 3);
        assert_eq!(rt.memory_allocated(), 1536 * 2);
    }
}

#[test]
fn roll_gradients_match_finite_differences() {
    check(Case {
        name: "roll",
        inputs: vec![(vec![3, 4], true)],
        op: &|t: &[Tensor]| t[0].roll(&[1, -1], &[0, 1]),
        reference: &|x: &[Vec<f64>]| {
            (0..12)
                .map(|at| {
                    let (r, c) = (at / 4, at % 4);
                    x[0][((r + 2) % 3) * 4 + (c + 1) % 4]
                })
                .collect()
        },
        shape_values: identity,
    });
}
