//! Every differentiable operation's backward against central finite differences of an
//! independent f64 reference implementation of its forward, on the cpu backend. The loss is
//! `sum(op(inputs) * w)` with fixed random weights `w`, so the upstream gradient is not uniform.

use leakharness::device::Backend;
use leakharness::nn::Reduction;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{
    BatchNormOptions, ConvOptions, ConvPadding, Device, PoolOptions, Result, Tensor,
};

pub(super) type Ref<'a> = dyn Fn(&[Vec<f64>]) -> Vec<f64> + 'a;

/// One gradient check (also used by the other test modules of the runtime).
pub(super) struct Case<'a> {
    pub(super) name: &'a str,
    pub(super) inputs: Vec<(Vec<usize>, bool)>,
    pub(super) op: &'a dyn Fn(&[Tensor]) -> Result<Tensor>,
    pub(super) reference: &'a Ref<'a>,
    /// Maps random normals to valid inputs (positive for pow, away from relu's kink).
    pub(super) shape_values: fn(f32) -> f32,
}

pub(super) fn identity(v: f32) -> f32 {
    v
}

fn away_from_zero(v: f32) -> f32 {
    if v.abs() < 0.1 {
        v.signum() * 0.1 + v
    } else {
        v
    }
}

fn positive(v: f32) -> f32 {
    v.abs() + 0.5
}

pub(super) fn check(case: Case<'_>) {
    let rt = Runtime::new(
        Backend::Cpu,
        RuntimeOptions {
            seed: 7,
            ..RuntimeOptions::default()
        },
    )
    .unwrap();
    let values: Vec<Vec<f32>> = case
        .inputs
        .iter()
        .map(|(shape, _)| {
            rt.randn(shape, Device::Cpu)
                .unwrap()
                .to_vec_f32()
                .into_iter()
                .map(case.shape_values)
                .collect()
        })
        .collect();
    let tensors: Vec<Tensor> = case
        .inputs
        .iter()
        .zip(&values)
        .map(|((shape, grad), v)| {
            rt.tensor(v, shape, Device::Cuda)
                .unwrap()
                .requires_grad_(*grad)
                .unwrap()
        })
        .collect();
    let out = (case.op)(&tensors).unwrap();
    let w = rt.randn(out.shape(), Device::Cuda).unwrap();
    let wv: Vec<f64> = w.to_vec_f32().into_iter().map(f64::from).collect();
    let as_f64: Vec<Vec<f64>> = values
        .iter()
        .map(|v| v.iter().map(|&x| x as f64).collect())
        .collect();
    let forward = (case.reference)(&as_f64);
    let got = out.to_vec_f32();
    assert_eq!(forward.len(), got.len(), "{}: output size", case.name);
    for (r, g) in forward.iter().zip(&got) {
        assert!(
            (r - *g as f64).abs() <= 1e-4 * r.abs().max(1.0),
            "{}: forward {g} vs {r}",
            case.name
        );
    }
    let loss = |xs: &[Vec<f64>]| -> f64 {
        (case.reference)(xs)
            .iter()
            .zip(&wv)
            .map(|(a, b)| a * b)
            .sum()
    };
    out.mul(&w)
        .unwrap()
        .sum()
        .unwrap()
        .backward(None, false)
        .unwrap();

    for (i, ((_, needs), t)) in case.inputs.iter().zip(&tensors).enumerate() {
        if !needs {
            assert!(t.grad().is_none());
            continue;
        }
        let analytic = t
            .grad()
            .unwrap_or_else(|| panic!("{}: no grad for input {i}", case.name));
        assert_eq!(analytic.shape(), t.shape(), "{}: grad shape", case.name);
        let analytic = analytic.to_vec_f32();
        let eps = 1e-6;
        for j in 0..as_f64[i].len() {
            let mut plus = as_f64.clone();
            plus[i][j] += eps;
            let mut minus = as_f64.clone();
            minus[i][j] -= eps;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * eps);
            let a = analytic[j] as f64;
            assert!(
                (a - numeric).abs() <= 2e-3 * numeric.abs().max(1.0),
                "{}: d/d input{i}[{j}]: analytic {a}, numeric {numeric}",
                case.name
            );
        }
    }
}

fn broadcast(
    a: &[f64],
    b: &[f64],
    f: impl Fn(f64, f64) -> f64,
    rows: usize,
    cols: usize,
    b_row: bool,
) -> Vec<f64> {
    // a is (rows, cols); b is (cols) when b_row, else (rows, cols).
    (0..rows * cols)
        .map(|k| f(a[k], if b_row { b[k % cols] } else { b[k] }))
        .collect()
}

fn mm(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            out[i * m + j] = (0..k).map(|p| a[i * k + p] * b[p * m + j]).sum();
        }
    }
    out
}

fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows * cols)
        .map(|k| a[(k % rows) * cols + k / rows])
        .collect()
}

fn log_softmax_rows(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
        for c in 0..cols {
            out[r * cols + c] = row[c] - lse;
        }
    }
    out
}

macro_rules! case {
    ($name:ident, [$(($shape:expr_2021, $grad:expr_2021)),*], $op:expr_2021, $reference:expr_2021) => {
        case!($name, [$(($shape, $grad)),*], $op, $reference, identity);
    };
    ($name:ident, [$(($shape:expr_2021, $grad:expr_2021)),*], $op:expr_2021, $reference:expr_2021, $values:expr_2021) => {
        #[test]
        fn $name() {
            check(Case {
                name: stringify!($name),
                inputs: vec![$(($shape.to_vec(), $grad)),*],
                op: &$op,
                reference: &$reference,
                shape_values: $values,
            });
        }
    };
}

case!(
    add_broadcast,
    [([3, 4], true), ([4], true)],
    |t: &[Tensor]| t[0].add(&t[1]),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| a + b, 3, 4, true)
);
case!(
    add_alpha_only_other,
    [([3, 4], false), ([3, 4], true)],
    |t: &[Tensor]| t[0].add_alpha(&t[1], 2.5),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| a + 2.5 * b, 3, 4, false)
);
case!(
    sub_broadcast,
    [([3, 4], true), ([4], true)],
    |t: &[Tensor]| t[0].sub(&t[1]),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| a - b, 3, 4, true)
);
case!(
    mul_both,
    [([3, 4], true), ([3, 4], true)],
    |t: &[Tensor]| t[0].mul(&t[1]),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| a * b, 3, 4, false)
);
case!(
    mul_broadcast,
    [([3, 4], true), ([4], true)],
    |t: &[Tensor]| t[0].mul(&t[1]),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| a * b, 3, 4, true)
);
case!(
    div_both,
    [([3, 4], true), ([3, 4], true)],
    |t: &[Tensor]| t[0].div(&t[1]),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| a / b, 3, 4, false),
    positive
);
case!(
    div_broadcast_other_only,
    [([3, 4], false), ([4], true)],
    |t: &[Tensor]| t[0].div(&t[1]),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| a / b, 3, 4, true),
    positive
);
case!(
    scalar_arithmetic,
    [([5], true)],
    |t: &[Tensor]| t[0]
        .add_scalar(1.5)?
        .mul_scalar(-2.0)?
        .sub_scalar(0.5)?
        .div_scalar(4.0),
    |x: &[Vec<f64>]| x[0]
        .iter()
        .map(|v| ((v + 1.5) * -2.0 - 0.5) / 4.0)
        .collect()
);
case!(
    pow_square,
    [([6], true)],
    |t: &[Tensor]| t[0].pow(2.0),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v * v).collect()
);
case!(
    pow_fractional,
    [([6], true)],
    |t: &[Tensor]| t[0].pow(1.5),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.powf(1.5)).collect(),
    positive
);
case!(
    pow_zero,
    [([3], true)],
    |t: &[Tensor]| t[0].pow(0.0),
    |x: &[Vec<f64>]| x[0].iter().map(|_| 1.0).collect()
);
case!(
    neg,
    [([4], true)],
    |t: &[Tensor]| t[0].neg(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| -v).collect()
);
case!(
    mm_both,
    [([3, 5], true), ([5, 2], true)],
    |t: &[Tensor]| t[0].mm(&t[1]),
    |x: &[Vec<f64>]| mm(&x[0], &x[1], 3, 5, 2)
);
case!(
    matmul_with_transposed_operand,
    [([3, 5], true), ([2, 5], true)],
    |t: &[Tensor]| t[0].matmul(&t[1].t()?),
    |x: &[Vec<f64>]| mm(&x[0], &transpose(&x[1], 2, 5), 3, 5, 2)
);
case!(
    matmul_with_transposed_left,
    [([5, 3], true), ([5, 2], true)],
    |t: &[Tensor]| t[0].t()?.matmul(&t[1]),
    |x: &[Vec<f64>]| mm(&transpose(&x[0], 5, 3), &x[1], 3, 5, 2)
);
case!(
    addmm_linear,
    [([2], true), ([3, 4], true), ([2, 4], true)],
    |t: &[Tensor]| t[0].addmm(&t[1], &t[2].t()?),
    |x: &[Vec<f64>]| {
        let p = mm(&x[1], &transpose(&x[2], 2, 4), 3, 4, 2);
        p.iter().enumerate().map(|(k, v)| v + x[0][k % 2]).collect()
    }
);
case!(
    relu,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].relu(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.max(0.0)).collect(),
    away_from_zero
);
case!(
    relu_in_place_on_intermediate,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].mul_scalar(2.0)?.relu_(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| (2.0 * v).max(0.0)).collect(),
    away_from_zero
);
case!(
    in_place_arithmetic_on_intermediate,
    [([4], true), ([4], true)],
    |t: &[Tensor]| {
        let h = t[0].mul_scalar(1.0)?;
        h.add_(&t[1])?;
        h.sub_scalar_(1.0)?;
        h.mul_scalar_(3.0)?;
        h.sub_(&t[1].mul_scalar(0.5)?)
    },
    |x: &[Vec<f64>]| x[0]
        .iter()
        .zip(&x[1])
        .map(|(a, b)| (a + b - 1.0) * 3.0 - 0.5 * b)
        .collect()
);
case!(
    sum_all,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].sum(),
    |x: &[Vec<f64>]| vec![x[0].iter().sum()]
);
case!(
    sum_dim,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].sum_dim(&[0], false),
    |x: &[Vec<f64>]| (0..4)
        .map(|c| (0..3).map(|r| x[0][r * 4 + c]).sum())
        .collect()
);
case!(
    sum_dim_keepdim,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].sum_dim(&[-1], true),
    |x: &[Vec<f64>]| (0..3)
        .map(|r| x[0][r * 4..r * 4 + 4].iter().sum())
        .collect()
);
case!(
    mean_all,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].mean(),
    |x: &[Vec<f64>]| vec![x[0].iter().sum::<f64>() / 12.0]
);
case!(
    mean_dim,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].mean_dim(&[1], false),
    |x: &[Vec<f64>]| (0..3)
        .map(|r| x[0][r * 4..r * 4 + 4].iter().sum::<f64>() / 4.0)
        .collect()
);
case!(
    expand,
    [([1, 4], true)],
    |t: &[Tensor]| t[0].expand(&[3, 4]),
    |x: &[Vec<f64>]| (0..12).map(|k| x[0][k % 4]).collect()
);
case!(
    unsqueeze,
    [([4], true)],
    |t: &[Tensor]| t[0].unsqueeze(0)?.expand(&[2, 4]),
    |x: &[Vec<f64>]| (0..8).map(|k| x[0][k % 4]).collect()
);
case!(
    view_and_flatten,
    [([2, 3, 2], true)],
    |t: &[Tensor]| t[0].view(&[3, -1])?.mul_scalar(2.0)?.flatten(0, 1),
    |x: &[Vec<f64>]| x[0].iter().map(|v| 2.0 * v).collect()
);
case!(
    reshape_of_a_transpose_copies,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].t()?.reshape(&[12]),
    |x: &[Vec<f64>]| transpose(&x[0], 3, 4)
);
case!(
    zero_and_fill_cut_the_history_before_them,
    [([4], true)],
    |t: &[Tensor]| {
        let a = t[0].mul_scalar(2.0)?;
        a.zero_()?;
        let b = t[0].mul_scalar(3.0)?;
        b.fill_(1.5)?;
        a.add(&b)?.add(&t[0])
    },
    |x: &[Vec<f64>]| x[0].iter().map(|v| 1.5 + v).collect()
);
case!(
    in_place_mul_by_a_constant_tensor,
    [([4], true), ([4], false)],
    |t: &[Tensor]| {
        let h = t[0].add_scalar(1.0)?;
        h.mul_(&t[1])?;
        h.add_alpha_(&t[0], -0.5)
    },
    |x: &[Vec<f64>]| x[0]
        .iter()
        .zip(&x[1])
        .map(|(a, c)| (a + 1.0) * c - 0.5 * a)
        .collect()
);
case!(
    clone,
    [([4], true)],
    |t: &[Tensor]| t[0].clone_tensor(),
    |x: &[Vec<f64>]| x[0].clone()
);
case!(
    host_device_round_trip,
    [([4], true)],
    |t: &[Tensor]| t[0].cpu()?.mul_scalar(2.0)?.cuda(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| 2.0 * v).collect()
);
case!(
    mse_loss_mean,
    [([3, 4], true), ([3, 4], true)],
    |t: &[Tensor]| t[0].mse_loss(&t[1], Reduction::Mean),
    |x: &[Vec<f64>]| vec![
        x[0].iter()
            .zip(&x[1])
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            / 12.0
    ]
);
case!(
    mse_loss_sum,
    [([3, 4], true), ([3, 4], false)],
    |t: &[Tensor]| t[0].mse_loss(&t[1], Reduction::Sum),
    |x: &[Vec<f64>]| vec![x[0]
        .iter()
        .zip(&x[1])
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()]
);
case!(
    mse_loss_none_broadcast,
    [([3, 4], true), ([4], false)],
    |t: &[Tensor]| t[0].mse_loss(&t[1], Reduction::None),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| (a - b) * (a - b), 3, 4, true)
);
case!(
    log_softmax,
    [([3, 5], true)],
    |t: &[Tensor]| t[0].log_softmax(1),
    |x: &[Vec<f64>]| log_softmax_rows(&x[0], 3, 5)
);

case!(
    exp,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].exp(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.exp()).collect()
);
case!(
    log,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].log(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.ln()).collect(),
    positive
);
case!(
    sqrt,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].sqrt(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.sqrt()).collect(),
    positive
);
case!(
    tanh,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].tanh(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.tanh()).collect()
);
case!(
    sigmoid,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].sigmoid(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect()
);
case!(
    abs,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].abs(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.abs()).collect(),
    away_from_zero
);
case!(
    gelu,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].gelu(),
    |x: &[Vec<f64>]| x[0]
        .iter()
        .map(|v| 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2)))
        .collect()
);
case!(
    silu,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].silu(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v / (1.0 + (-v).exp())).collect()
);
case!(
    transpose_then_scale,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].transpose(0, -1)?.mul_scalar(2.0),
    |x: &[Vec<f64>]| transpose(&x[0], 3, 4).iter().map(|v| 2.0 * v).collect()
);
case!(
    permute_3d,
    [([2, 3, 4], true)],
    |t: &[Tensor]| t[0].permute(&[2, 0, 1])?.contiguous(),
    |x: &[Vec<f64>]| {
        // out[k][i][j] = x[i][j][k]
        let mut out = vec![0.0; 24];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    out[(k * 2 + i) * 3 + j] = x[0][(i * 3 + j) * 4 + k];
                }
            }
        }
        out
    }
);
case!(
    squeeze_then_exp,
    [([3, 1, 4], true)],
    |t: &[Tensor]| t[0].squeeze(Some(1))?.exp(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.exp()).collect()
);
case!(
    softmax_rows,
    [([3, 5], true)],
    |t: &[Tensor]| t[0].softmax(-1),
    |x: &[Vec<f64>]| log_softmax_rows(&x[0], 3, 5)
        .iter()
        .map(|v| v.exp())
        .collect()
);
case!(
    softmax_over_first_dim,
    [([3, 5], true)],
    |t: &[Tensor]| t[0].softmax(0),
    |x: &[Vec<f64>]| {
        let t = log_softmax_rows(&transpose(&x[0], 3, 5), 5, 3);
        transpose(&t, 5, 3).iter().map(|v| v.exp()).collect()
    }
);

case!(
    cat_along_rows_and_columns,
    [([2, 3], true), ([1, 3], false), ([3, 3], true)],
    |t: &[Tensor]| {
        let rows = Tensor::cat(&[t[0].clone(), t[1].clone(), t[2].clone()], 0)?;
        Tensor::cat(&[rows.clone(), rows.exp()?], -1)
    },
    |x: &[Vec<f64>]| {
        let rows: Vec<f64> = x.concat();
        let mut out = Vec::new();
        for r in rows.chunks(3) {
            out.extend_from_slice(r);
            out.extend(r.iter().map(|v| v.exp()));
        }
        out
    }
);
case!(
    stack_in_the_middle,
    [([2, 3], true), ([2, 3], true)],
    |t: &[Tensor]| Tensor::stack(&[t[0].clone(), t[1].mul(&t[1])?], 1),
    |x: &[Vec<f64>]| {
        // out[i][k][j]: k = 0 from the first input, 1 from the second squared.
        let mut out = Vec::new();
        for i in 0..2 {
            out.extend_from_slice(&x[0][i * 3..i * 3 + 3]);
            out.extend(x[1][i * 3..i * 3 + 3].iter().map(|v| v * v));
        }
        out
    }
);
case!(
    narrow_and_select,
    [([4, 5], true)],
    |t: &[Tensor]| t[0]
        .narrow(1, 1, 3)?
        .mul(&t[0].select_dim(0, -1)?.narrow(0, 0, 3)?),
    |x: &[Vec<f64>]| {
        let mut out = Vec::new();
        for i in 0..4 {
            for j in 1..4 {
                out.push(x[0][i * 5 + j] * x[0][3 * 5 + j - 1]);
            }
        }
        out
    }
);

fn layer_norm_rows(x: &[f64], w: Option<&[f64]>, b: Option<&[f64]>, n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for row in x.chunks(n) {
        let mean = row.iter().sum::<f64>() / n as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        for (j, v) in row.iter().enumerate() {
            let h = (v - mean) / (var + 1e-5).sqrt();
            out.push(h * w.map_or(1.0, |w| w[j]) + b.map_or(0.0, |b| b[j]));
        }
    }
    out
}

case!(
    layer_norm_with_weight_and_bias,
    [([4, 2, 3], true), ([2, 3], true), ([2, 3], true)],
    |t: &[Tensor]| t[0].layer_norm(&[2, 3], Some(&t[1]), Some(&t[2]), 1e-5),
    |x: &[Vec<f64>]| layer_norm_rows(&x[0], Some(&x[1]), Some(&x[2]), 6)
);
case!(
    layer_norm_without_affine,
    [([3, 5], true)],
    |t: &[Tensor]| t[0].layer_norm(&[5], None, None, 1e-5),
    |x: &[Vec<f64>]| layer_norm_rows(&x[0], None, None, 5)
);
case!(
    layer_norm_bias_only_needs_grad,
    [([3, 4], false), ([4], false), ([4], true)],
    |t: &[Tensor]| t[0].layer_norm(&[4], Some(&t[1]), Some(&t[2]), 1e-5),
    |x: &[Vec<f64>]| layer_norm_rows(&x[0], Some(&x[1]), Some(&x[2]), 4)
);

case!(
    l1_loss_sum,
    [([3, 4], true), ([3, 4], true)],
    |t: &[Tensor]| t[0].l1_loss(&t[1], Reduction::Sum),
    |x: &[Vec<f64>]| vec![x[0].iter().zip(&x[1]).map(|(a, b)| (a - b).abs()).sum()]
);

/// (b, n, k) @ (b, k, m) on row-major batches.
fn bmm_ref(a: &[f64], b: &[f64], batch: usize, n: usize, k: usize, m: usize) -> Vec<f64> {
    (0..batch)
        .flat_map(|i| {
            mm(
                &a[i * n * k..(i + 1) * n * k],
                &b[i * k * m..(i + 1) * k * m],
                n,
                k,
                m,
            )
        })
        .collect()
}

case!(
    bmm_both,
    [([3, 2, 4], true), ([3, 4, 5], true)],
    |t: &[Tensor]| t[0].bmm(&t[1]),
    |x: &[Vec<f64>]| bmm_ref(&x[0], &x[1], 3, 2, 4, 5)
);
case!(
    matmul_batch_at_matrix_folds,
    [([2, 3, 4], true), ([4, 5], true)],
    |t: &[Tensor]| t[0].matmul(&t[1]),
    |x: &[Vec<f64>]| mm(&x[0], &x[1], 6, 4, 5)
);
case!(
    matmul_4d_batches,
    [([2, 3, 2, 4], true), ([2, 3, 4, 2], true)],
    |t: &[Tensor]| t[0].matmul(&t[1]),
    |x: &[Vec<f64>]| bmm_ref(&x[0], &x[1], 6, 2, 4, 2)
);

case!(
    max_over_rows,
    [([3, 4], true)],
    |t: &[Tensor]| Ok(t[0].max_dim(1, false, false)?.0),
    |x: &[Vec<f64>]| x[0]
        .chunks(4)
        .map(|r| r.iter().cloned().fold(f64::MIN, f64::max))
        .collect()
);
case!(
    min_over_columns_keepdim,
    [([3, 4], true)],
    |t: &[Tensor]| Ok(t[0].max_dim(0, true, true)?.0),
    |x: &[Vec<f64>]| (0..4)
        .map(|j| (0..3).map(|i| x[0][i * 4 + j]).fold(f64::MAX, f64::min))
        .collect()
);

fn cross_entropy_case(reduction: Reduction) {
    let targets = [2i64, 0, 4];
    check(Case {
        name: "cross_entropy",
        inputs: vec![(vec![3, 5], true)],
        op: &|t: &[Tensor]| {
            let target = t[0].runtime().tensor_i64(&targets, &[3], Device::Cuda)?;
            t[0].cross_entropy(&target, reduction)
        },
        reference: &|x: &[Vec<f64>]| {
            let l = log_softmax_rows(&x[0], 3, 5);
            let per: Vec<f64> = targets
                .iter()
                .enumerate()
                .map(|(i, &c)| -l[i * 5 + c as usize])
                .collect();
            match reduction {
                Reduction::None => per,
                Reduction::Sum => vec![per.iter().sum()],
                Reduction::Mean => vec![per.iter().sum::<f64>() / 3.0],
            }
        },
        shape_values: identity,
    });
}

#[test]
fn cross_entropy_mean() {
    cross_entropy_case(Reduction::Mean);
}

#[test]
fn cross_entropy_sum() {
    cross_entropy_case(Reduction::Sum);
}

#[test]
fn cross_entropy_none() {
    cross_entropy_case(Reduction::None);
}

#[test]
fn gradients_meeting_in_one_node_are_summed() {
    check(Case {
        name: "shared_input",
        inputs: vec![(vec![4], true)],
        op: &|t: &[Tensor]| {
            let h = t[0].mul_scalar(2.0)?;
            h.mul(&h)?.add(&h)
        },
        reference: &|x: &[Vec<f64>]| x[0].iter().map(|v| 4.0 * v * v + 2.0 * v).collect(),
        shape_values: identity,
    });
}

case!(
    clamp_both_bounds,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].clamp(Some(-0.5), Some(0.5)),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.clamp(-0.5, 0.5)).collect()
);
case!(
    clamp_min_only,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].clamp(Some(0.2), None),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.max(0.2)).collect()
);
case!(
    clamp_min_function,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].clamp_min(-0.2),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.max(-0.2)).collect()
);
case!(
    clamp_max_function,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].clamp_max(0.3),
    |x: &[Vec<f64>]| x[0].iter().map(|v| v.min(0.3)).collect()
);
case!(
    maximum_broadcast,
    [([3, 4], true), ([4], true)],
    |t: &[Tensor]| t[0].maximum(&t[1]),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], f64::max, 3, 4, true)
);
case!(
    minimum_both,
    [([3, 4], true), ([3, 4], true)],
    |t: &[Tensor]| t[0].minimum(&t[1]),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], f64::min, 3, 4, false)
);
case!(
    where_broadcast,
    [([3, 4], false), ([3, 4], true), ([4], true)],
    |t: &[Tensor]| Tensor::r#where(&t[0].gt_scalar(0.0)?, &t[1], &t[2]),
    |x: &[Vec<f64>]| (0..12)
        .map(|k| if x[0][k] > 0.0 { x[1][k] } else { x[2][k % 4] })
        .collect()
);

case!(
    strided_slice_and_select,
    [([4, 5], true)],
    |t: &[Tensor]| t[0]
        .slice(1, Some(-4), None, 2)?
        .slice(0, Some(1), Some(3), 1),
    // rows 1..3, columns 1 and 3
    |x: &[Vec<f64>]| [1, 2]
        .iter()
        .flat_map(|r| [1, 3].map(|c| x[0][r * 5 + c]))
        .collect()
);

fn smooth_l1(d: f64, beta: f64) -> f64 {
    if d.abs() < beta {
        0.5 * d * d / beta
    } else {
        d.abs() - 0.5 * beta
    }
}

case!(
    smooth_l1_loss_mean_both,
    [([3, 4], true), ([3, 4], true)],
    |t: &[Tensor]| t[0].smooth_l1_loss(&t[1], Reduction::Mean, 0.7),
    |x: &[Vec<f64>]| vec![
        x[0].iter()
            .zip(&x[1])
            .map(|(a, b)| smooth_l1(a - b, 0.7))
            .sum::<f64>()
            / 12.0
    ]
);
case!(
    smooth_l1_loss_none_broadcast,
    [([3, 4], true), ([4], false)],
    |t: &[Tensor]| t[0].smooth_l1_loss(&t[1], Reduction::None, 1.0),
    |x: &[Vec<f64>]| broadcast(&x[0], &x[1], |a, b| smooth_l1(a - b, 1.0), 3, 4, true)
);

// ---- layer operations (src/tensor/conv.rs, pool.rs, batchnorm.rs, embedding.rs) ------------

/// A direct (loop) 2-d convolution: x (n, c, h, w), weight (o, c / groups, kh, kw).
#[allow(clippy::too_many_arguments)]
fn conv2d_ref(
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    [n, c, h, wd]: [usize; 4],
    [o, kh, kw]: [usize; 3],
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
    groups: usize,
) -> Vec<f64> {
    let oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) / stride[0] + 1;
    let ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) / stride[1] + 1;
    let (cg, og) = (c / groups, o / groups);
    let mut out = vec![0.0; n * o * oh * ow];
    for i in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for y in 0..oh {
                for xx in 0..ow {
                    let mut s = b.map_or(0.0, |b| b[oc]);
                    for ic in 0..cg {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy = (y * stride[0] + ki * dil[0]) as isize - pad[0] as isize;
                                let ix = (xx * stride[1] + kj * dil[1]) as isize - pad[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xv =
                                    x[((i * c + g * cg + ic) * h + iy as usize) * wd + ix as usize];
                                s += xv * w[((oc * cg + ic) * kh + ki) * kw + kj];
                            }
                        }
                    }
                    out[((i * o + oc) * oh + y) * ow + xx] = s;
                }
            }
        }
    }
    out
}

fn conv_options(
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
    groups: usize,
) -> ConvOptions {
    ConvOptions {
        stride: stride.to_vec(),
        padding: ConvPadding::Explicit(pad.to_vec()),
        dilation: dil.to_vec(),
        groups,
    }
}

case!(
    conv2d_padded_with_bias,
    [([2, 3, 5, 5], true), ([4, 3, 3, 3], true), ([4], true)],
    |t: &[Tensor]| t[0].conv2d(&t[1], Some(&t[2]), &conv_options([1, 1], [1, 1], [1, 1], 1)),
    |x: &[Vec<f64>]| conv2d_ref(
        &x[0],
        &x[1],
        Some(&x[2]),
        [2, 3, 5, 5],
        [4, 3, 3],
        [1, 1],
        [1, 1],
        [1, 1],
        1
    )
);
case!(
    conv2d_strided_dilated_grouped,
    [([1, 4, 7, 6], true), ([6, 2, 2, 3], true)],
    |t: &[Tensor]| t[0].conv2d(&t[1], None, &conv_options([2, 1], [1, 0], [2, 1], 2)),
    |x: &[Vec<f64>]| conv2d_ref(
        &x[0],
        &x[1],
        None,
        [1, 4, 7, 6],
        [6, 2, 3],
        [2, 1],
        [1, 0],
        [2, 1],
        2
    )
);
case!(
    conv1d_weight_only,
    [([2, 3, 9], false), ([2, 3, 4], true), ([2], true)],
    |t: &[Tensor]| t[0].conv1d(
        &t[1],
        Some(&t[2]),
        &ConvOptions {
            stride: vec![2],
            padding: ConvPadding::Explicit(vec![1]),
            dilation: vec![1],
            groups: 1,
        }
    ),
    |x: &[Vec<f64>]| conv2d_ref(
        &x[0],
        &x[1],
        Some(&x[2]),
        [2, 3, 1, 9],
        [2, 1, 4],
        [1, 2],
        [0, 1],
        [1, 1],
        1
    )
);

fn pool_ref(
    x: &[f64],
    [planes, h, w]: [usize; 3],
    k: usize,
    s: usize,
    pad: usize,
    f: impl Fn(&[f64], usize) -> f64,
) -> Vec<f64> {
    let (oh, ow) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
    let mut out = Vec::new();
    for p in 0..planes {
        for y in 0..oh {
            for xx in 0..ow {
                let mut vals = Vec::new();
                for i in 0..k {
                    for j in 0..k {
                        let (iy, ix) = (
                            (y * s + i) as isize - pad as isize,
                            (xx * s + j) as isize - pad as isize,
                        );
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            vals.push(x[(p * h + iy as usize) * w + ix as usize]);
                        }
                    }
                }
                out.push(f(&vals, k * k));
            }
        }
    }
    out
}

case!(
    max_pool2d_overlapping_padded,
    [([2, 2, 5, 5], true)],
    |t: &[Tensor]| t[0].max_pool2d(&PoolOptions {
        stride: Some([2, 2]),
        padding: [1, 1],
        ..PoolOptions::new([3, 3])
    }),
    |x: &[Vec<f64>]| pool_ref(&x[0], [4, 5, 5], 3, 2, 1, |v, _| v
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max))
);
case!(
    avg_pool2d_padding_not_counted,
    [([1, 2, 5, 5], true)],
    |t: &[Tensor]| t[0].avg_pool2d(
        &PoolOptions {
            stride: Some([2, 2]),
            padding: [1, 1],
            ..PoolOptions::new([3, 3])
        },
        false,
        None
    ),
    |x: &[Vec<f64>]| pool_ref(&x[0], [2, 5, 5], 3, 2, 1, |v, _| v.iter().sum::<f64>()
        / v.len() as f64)
);
case!(
    avg_pool2d_padding_counted,
    [([1, 2, 4, 4], true)],
    |t: &[Tensor]| t[0].avg_pool2d(
        &PoolOptions {
            padding: [1, 1],
            ..PoolOptions::new([2, 2])
        },
        true,
        None
    ),
    |x: &[Vec<f64>]| pool_ref(&x[0], [2, 4, 4], 2, 2, 1, |v, k| v.iter().sum::<f64>()
        / k as f64)
);
case!(
    adaptive_avg_pool2d_uneven,
    [([2, 5, 7], true)],
    |t: &[Tensor]| t[0].adaptive_avg_pool2d([2, 3]),
    |x: &[Vec<f64>]| {
        let mut out = Vec::new();
        for p in 0..2 {
            for oy in 0..2usize {
                for ox in 0..3usize {
                    let (y0, y1) = (oy * 5 / 2, ((oy + 1) * 5).div_ceil(2));
                    let (x0, x1) = (ox * 7 / 3, ((ox + 1) * 7).div_ceil(3));
                    let mut s = 0.0;
                    for y in y0..y1 {
                        for xx in x0..x1 {
                            s += x[0][(p * 5 + y) * 7 + xx];
                        }
                    }
                    out.push(s / ((y1 - y0) * (x1 - x0)) as f64);
                }
            }
        }
        out
    }
);

/// Training-mode batch norm over (n, c, inner) with the batch's biased variance.
fn batch_norm_ref(x: &[f64], w: &[f64], b: &[f64], n: usize, c: usize, inner: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for ch in 0..c {
        let idx: Vec<usize> = (0..n)
            .flat_map(|i| (0..inner).map(move |k| (i * c + ch) * inner + k))
            .collect();
        let mean = idx.iter().map(|&k| x[k]).sum::<f64>() / idx.len() as f64;
        let var = idx.iter().map(|&k| (x[k] - mean).powi(2)).sum::<f64>() / idx.len() as f64;
        for &k in &idx {
            out[k] = (x[k] - mean) / (var + 1e-5).sqrt() * w[ch] + b[ch];
        }
    }
    out
}

case!(
    batch_norm_training_affine,
    [([3, 2, 2, 3], true), ([2], true), ([2], true)],
    |t: &[Tensor]| t[0].batch_norm(
        [None, None],
        Some(&t[1]),
        Some(&t[2]),
        BatchNormOptions {
            training: true,
            momentum: 0.1,
            eps: 1e-5,
        }
    ),
    |x: &[Vec<f64>]| batch_norm_ref(&x[0], &x[1], &x[2], 3, 2, 6)
);
case!(
    batch_norm_1d_input_only,
    [([5, 3], true), ([3], false), ([3], false)],
    |t: &[Tensor]| t[0].batch_norm(
        [None, None],
        Some(&t[1]),
        Some(&t[2]),
        BatchNormOptions {
            training: true,
            momentum: 0.1,
            eps: 1e-5,
        }
    ),
    |x: &[Vec<f64>]| batch_norm_ref(&x[0], &x[1], &x[2], 5, 3, 1)
);
// padding_idx is left out: its row's gradient is zero by definition, not by differentiation
// (runtime_layers.rs pins it).
case!(
    embedding_rows,
    [([6, 3], true)],
    |t: &[Tensor]| {
        let idx = t[0]
            .runtime()
            .tensor_i64(&[0, 5, 2, 5, 1, 2], &[2, 3], Device::Cuda)?;
        Tensor::embedding(&t[0], &idx, None)
    },
    |x: &[Vec<f64>]| [0usize, 5, 2, 5, 1, 2]
        .iter()
        .flat_map(|&r| x[0][r * 3..r * 3 + 3].to_vec())
        .collect()
);
case!(
    leaky_relu_slope,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].leaky_relu(0.2),
    |x: &[Vec<f64>]| x[0]
        .iter()
        .map(|&v| if v > 0.0 { v } else { 0.2 * v })
        .collect(),
    away_from_zero
);
case!(
    elu_alpha,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].elu(0.7),
    |x: &[Vec<f64>]| x[0]
        .iter()
        .map(|&v| if v > 0.0 { v } else { 0.7 * v.exp_m1() })
        .collect(),
    away_from_zero
);

// Multi-output ops: one piece unused, so backward fills it with zeros before joining.
case!(
    chunk_two_of_three_pieces,
    [([6, 4], true)],
    |t: &[Tensor]| {
        let p = t[0].chunk(3, 0)?;
        p[2].mul(&p[0])
    },
    |x: &[Vec<f64>]| (0..8).map(|i| x[0][16 + i] * x[0][i]).collect()
);
case!(
    split_with_sizes_along_columns,
    [([3, 5], true)],
    |t: &[Tensor]| {
        let p = t[0].split_with_sizes(&[2, 3], 1)?;
        p[1].exp()
    },
    |x: &[Vec<f64>]| (0..3)
        .flat_map(|r| (2..5).map(move |c| (r, c)))
        .map(|(r, c)| x[0][r * 5 + c].exp())
        .collect()
);
case!(
    unbind_rows_summed,
    [([4, 3], true)],
    |t: &[Tensor]| {
        let rows = t[0].unbind(0)?;
        rows[0].mul(&rows[3])?.add(&rows[1])
    },
    |x: &[Vec<f64>]| (0..3)
        .map(|c| x[0][c] * x[0][9 + c] + x[0][3 + c])
        .collect()
);

// In-place activations on pieces that are not views to autograd (what the LSTM cell does).
case!(
    sigmoid_in_place_of_a_result,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].mul_scalar(2.0)?.sigmoid_(),
    |x: &[Vec<f64>]| x[0].iter().map(|v| logistic(2.0 * v)).collect()
);
case!(
    unsafe_chunk_then_tanh_and_sigmoid_in_place,
    [([3, 4], true)],
    |t: &[Tensor]| {
        let p = t[0].mul_scalar(1.0)?.unsafe_chunk(2, 1)?;
        p[0].tanh_()?.mul(&p[1].sigmoid_()?)
    },
    |x: &[Vec<f64>]| (0..3)
        .flat_map(|r| (0..2).map(move |c| (r, c)))
        .map(|(r, c)| x[0][r * 4 + c].tanh() * logistic(x[0][r * 4 + 2 + c]))
        .collect()
);

fn logistic(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// One LSTM layer over (T=2, B=2, 3) with hidden size 2, from zeros: gates i, f, g, o.
fn lstm_ref(x: &[Vec<f64>]) -> Vec<f64> {
    let (w_ih, w_hh, b_ih, b_hh) = (&x[1], &x[2], &x[3], &x[4]);
    let (hidden, input) = (2, 3);
    let mut out = Vec::new();
    let mut h = vec![0.0; 2 * hidden];
    let mut c = vec![0.0; 2 * hidden];
    for t in 0..2 {
        let mut h_next = vec![0.0; 2 * hidden];
        for b in 0..2 {
            let gate = |row: usize| {
                let mut s = b_ih[row] + b_hh[row];
                for k in 0..input {
                    s += w_ih[row * input + k] * x[0][(t * 2 + b) * input + k];
                }
                for k in 0..hidden {
                    s += w_hh[row * hidden + k] * h[b * hidden + k];
                }
                s
            };
            for j in 0..hidden {
                let i = logistic(gate(j));
                let f = logistic(gate(hidden + j));
                let g = gate(2 * hidden + j).tanh();
                let o = logistic(gate(3 * hidden + j));
                let cell = f * c[b * hidden + j] + i * g;
                c[b * hidden + j] = cell;
                h_next[b * hidden + j] = o * cell.tanh();
            }
        }
        h = h_next;
        out.extend(&h);
    }
    out
}

case!(
    lstm_layer_input_and_weights,
    [
        ([2, 2, 3], true),
        ([8, 3], true),
        ([8, 2], true),
        ([8], true),
        ([8], true)
    ],
    |t: &[Tensor]| {
        use leakharness::nn::{Module, Rnn, RnnConfig, RnnMode};
        let m = Rnn::new(t[0].runtime(), RnnMode::Lstm, RnnConfig::new(3, 2))?;
        m.with_parameters(t[1..].to_vec()).forward(&t[0])
    },
    lstm_ref
);

/// softmax(q kᵀ / sqrt(E)) v for (batch 2, length 3, E 4).
fn attention_ref(x: &[Vec<f64>]) -> Vec<f64> {
    let (l, e) = (3, 4);
    let mut out = Vec::new();
    for b in 0..2 {
        let at = |t: &Vec<f64>, i: usize, j: usize| t[(b * l + i) * e + j];
        for i in 0..l {
            let scores: Vec<f64> = (0..l)
                .map(|j| {
                    (0..e)
                        .map(|d| at(&x[0], i, d) * at(&x[1], j, d))
                        .sum::<f64>()
                        / 2.0
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::MIN, f64::max);
            let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = exp.iter().sum();
            for d in 0..e {
                out.push((0..l).map(|j| exp[j] / total * at(&x[2], j, d)).sum());
            }
        }
    }
    out
}

case!(
    scaled_dot_product_attention_math,
    [([2, 3, 4], true), ([2, 3, 4], true), ([2, 3, 4], true)],
    |t: &[Tensor]| Tensor::scaled_dot_product_attention(&t[0], &t[1], &t[2], None),
    attention_ref
);
// ---- var, std, vector norm (13K) ------------------------------------------------------------

/// The variance of `v` with `correction`.
fn variance(v: &[f64], correction: f64) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (v.len() as f64 - correction)
}

/// Column `c` of a rows×cols matrix.
fn column(x: &[f64], c: usize, rows: usize, cols: usize) -> Vec<f64> {
    (0..rows).map(|r| x[r * cols + c]).collect()
}

case!(
    var_dim,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].var(Some(&[1]), 1.0, false),
    |x: &[Vec<f64>]| (0..3)
        .map(|r| variance(&x[0][r * 4..r * 4 + 4], 1.0))
        .collect()
);
case!(
    var_all_uncorrected,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].var(None, 0.0, false),
    |x: &[Vec<f64>]| vec![variance(&x[0], 0.0)]
);
case!(
    std_dim_keepdim,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].std(Some(&[0]), 1.0, true),
    |x: &[Vec<f64>]| (0..4)
        .map(|c| variance(&column(&x[0], c, 3, 4), 1.0).sqrt())
        .collect()
);
case!(
    norm2_all,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].vector_norm(2.0, None, false),
    |x: &[Vec<f64>]| vec![x[0].iter().map(|v| v * v).sum::<f64>().sqrt()]
);
case!(
    norm1_dim,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].vector_norm(1.0, Some(&[-1]), false),
    |x: &[Vec<f64>]| (0..3)
        .map(|r| x[0][r * 4..r * 4 + 4].iter().map(|v| v.abs()).sum())
        .collect(),
    away_from_zero
);

/// Int64 indices on `like`'s device.
fn long(like: &Tensor, values: &[i64], shape: &[usize]) -> Tensor {
    like.runtime()
        .tensor_i64(values, shape, like.device())
        .unwrap()
}

case!(
    index_rows_repeated,
    [([4, 3], true)],
    |t: &[Tensor]| t[0].index_tensors(&[Some(long(&t[0], &[0, 2, 2, -1], &[4]))]),
    |x: &[Vec<f64>]| [0, 2, 2, 3]
        .iter()
        .flat_map(|&r| x[0][r * 3..r * 3 + 3].to_vec())
        .collect()
);
case!(
    index_columns_after_slice,
    [([4, 3], true)],
    // x[1:, idx]: SliceBackward0 below IndexBackward0.
    |t: &[Tensor]| t[0]
        .slice(0, Some(1), None, 1)?
        .index_tensors(&[None, Some(long(&t[0], &[2, 0], &[2]))]),
    |x: &[Vec<f64>]| (1..4)
        .flat_map(|r| [x[0][r * 3 + 2], x[0][r * 3]])
        .collect()
);
case!(
    index_two_dims_broadcast,
    [([4, 3], true)],
    // x[[[0], [3]], [1, 2]]: the indices broadcast to 2×2.
    |t: &[Tensor]| t[0].index_tensors(&[
        Some(long(&t[0], &[0, 3], &[2, 1])),
        Some(long(&t[0], &[1, 2], &[2]))
    ]),
    |x: &[Vec<f64>]| vec![x[0][1], x[0][2], x[0][10], x[0][11]]
);
case!(
    index_select_dim1,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].index_select(1, &long(&t[0], &[3, 3, 0], &[3])),
    |x: &[Vec<f64>]| (0..3)
        .flat_map(|r| [x[0][r * 4 + 3], x[0][r * 4 + 3], x[0][r * 4]])
        .collect()
);
case!(
    gather_dim1,
    [([3, 4], true)],
    |t: &[Tensor]| t[0].gather(1, &long(&t[0], &[0, 0, 3, 1, 2, 2], &[3, 2])),
    |x: &[Vec<f64>]| vec![x[0][0], x[0][0], x[0][7], x[0][5], x[0][10], x[0][10]]
);
case!(
    index_put_values_and_self,
    [([4, 3], true), ([3], true)],
    // (x * 1)[[1, 3]] = v: self's gradient is zero at the written rows, v's sums over them.
    |t: &[Tensor]| {
        let w = t[0].mul_scalar(1.0)?;
        w.index_put_(&[Some(long(&t[0], &[1, 3], &[2]))], &t[1], false)?;
        Ok(w)
    },
    |x: &[Vec<f64>]| (0..12)
        .map(|k| if k / 3 == 1 || k / 3 == 3 {
            x[1][k % 3]
        } else {
            x[0][k]
        })
        .collect()
);
case!(
    masked_and_index_fill,
    [([4, 3], true)],
    |t: &[Tensor]| {
        let w = t[0].mul_scalar(1.0)?;
        let mask = t[0].gt_scalar(0.5)?;
        w.masked_fill_(&mask, 0.0)?;
        w.index_fill_(1, &long(&t[0], &[2], &[1]), -1.0)?;
        Ok(w)
    },
    |x: &[Vec<f64>]| (0..12)
        .map(|k| if k % 3 == 2 {
            -1.0
        } else if x[0][k] > 0.5 {
            0.0
        } else {
            x[0][k]
        })
        .collect()
);
