//! The cpu backend's host kernels on operands where they live (`src/tensor/kernel/strided.rs`
//! and the strided products in `kernel/host.rs`): transposed, sliced and broadcast views,
//! in-place operations on the output itself, views that overlap their output, operations
//! large enough to be cut across threads. Each result is checked against the same arithmetic
//! done here on the values in row-major order.

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

fn cpu() -> Runtime {
    Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap()
}

/// A device tensor of `shape` whose element i is 0.5·(i mod 97) − 7: exactly representable
/// values, few of them equal.
fn ramp(rt: &Runtime, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.5 - 7.0).collect();
    rt.tensor(&data, shape, Device::Cuda).unwrap()
}

/// The elements of a row-major (rows × cols) matrix transposed.
fn transposed(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| v[r * cols + c]))
        .collect()
}

#[test]
fn element_wise_ops_read_transposed_and_broadcast_views_in_place() {
    let rt = cpu();
    let a = ramp(&rt, &[6, 5]);
    let at = a.t().unwrap(); // 5 × 6, strides (1, 5)
    let bias = ramp(&rt, &[6]); // broadcast along rows
    let got = at.mul(&bias).unwrap().to_vec_f32();
    let (av, bv) = (a.to_vec_f32(), bias.to_vec_f32());
    let want: Vec<f32> = transposed(&av, 6, 5)
        .iter()
        .enumerate()
        .map(|(i, &x)| x * bv[i % 6])
        .collect();
    assert_eq!(got, want);
    // A row of the transpose is a column of `a`: elements 5 apart.
    let row = at.select(2).unwrap();
    let got = row.add(&row).unwrap().to_vec_f32();
    let want: Vec<f32> = (0..6).map(|r| 2.0 * av[r * 5 + 2]).collect();
    assert_eq!(got, want);
}

#[test]
fn an_in_place_op_reads_its_output_and_a_copy_of_a_transpose() {
    let rt = cpu();
    let x = ramp(&rt, &[4, 4]);
    let before = x.to_vec_f32();
    // x += x: the operand is the output itself.
    x.add_(&x).unwrap();
    let doubled: Vec<f32> = before.iter().map(|v| v + v).collect();
    assert_eq!(x.to_vec_f32(), doubled);
    // x *= x.t(): the operand overlaps the output without being it, so every element must be
    // read before any is written (the copying path).
    x.mul_(&x.t().unwrap()).unwrap();
    let t = transposed(&doubled, 4, 4);
    let want: Vec<f32> = doubled.iter().zip(&t).map(|(a, b)| a * b).collect();
    assert_eq!(x.to_vec_f32(), want);
    // copy of a transpose into a fresh tensor
    let c = x.t().unwrap().contiguous().unwrap();
    assert_eq!(c.to_vec_f32(), transposed(&want, 4, 4));
}

#[test]
fn large_element_wise_ops_cut_across_threads_give_every_element() {
    // 3 × 100,000 elements: past the 65,536 at which the host cuts work into chunks.
    let rt = cpu();
    let a = ramp(&rt, &[300, 1000]);
    let b = ramp(&rt, &[1000]);
    let got = a.sub(&b).unwrap().relu().unwrap().to_vec_f32();
    let (av, bv) = (a.to_vec_f32(), b.to_vec_f32());
    let want: Vec<f32> = av
        .iter()
        .enumerate()
        .map(|(i, &x)| (x - bv[i % 1000]).max(0.0))
        .collect();
    assert_eq!(got, want);
    // in place, through a transposed view of the output: rows of unit stride are not there,
    // so this is the copying path; it must agree.
    let t = a.t().unwrap();
    t.mul_(&rt.tensor(&[2.0], &[1], Device::Cuda).unwrap())
        .unwrap();
    let twice: Vec<f32> = av.iter().map(|v| v * 2.0).collect();
    assert_eq!(a.to_vec_f32(), twice);
}

#[test]
fn sums_over_dims_of_strided_views_add_in_row_major_order() {
    let rt = cpu();
    let a = ramp(&rt, &[30, 20]);
    let av = a.to_vec_f32();
    let t = a.t().unwrap(); // 20 × 30
    let tv = transposed(&av, 30, 20);
    for (dim, len) in [(0isize, 30usize), (1, 20)] {
        let got = t.sum_dim(&[dim], false).unwrap().to_vec_f32();
        let want: Vec<f32> = if dim == 0 {
            (0..30)
                .map(|c| (0..20).map(|r| tv[r * 30 + c] as f64).sum::<f64>() as f32)
                .collect()
        } else {
            (0..20)
                .map(|r| (0..30).map(|c| tv[r * 30 + c] as f64).sum::<f64>() as f32)
                .collect()
        };
        assert_eq!(got.len(), len);
        assert_eq!(got, want, "sum over dim {dim}");
    }
}

#[test]
fn products_of_transposed_views_equal_products_of_their_copies() {
    let rt = cpu();
    let a = ramp(&rt, &[7, 9]); // used as a.t(): 9 × 7
    let b = ramp(&rt, &[5, 7]); // used as b.t(): 7 × 5
    let strided = a.t().unwrap().mm(&b.t().unwrap()).unwrap().to_vec_f32();
    let copies = a
        .t()
        .unwrap()
        .contiguous()
        .unwrap()
        .mm(&b.t().unwrap().contiguous().unwrap())
        .unwrap()
        .to_vec_f32();
    let (av, bv) = (a.to_vec_f32(), b.to_vec_f32());
    let want: Vec<f32> = (0..9)
        .flat_map(|i| {
            let (av, bv) = (&av, &bv);
            (0..5).map(move |j| (0..7).map(|k| av[k * 9 + i] * bv[j * 7 + k]).sum::<f32>())
        })
        .collect();
    assert_eq!(strided.len(), 45);
    for ((s, c), w) in strided.iter().zip(&copies).zip(&want) {
        assert!((s - c).abs() <= 1e-4 * w.abs().max(1.0), "{s} vs {c}");
        assert!((s - w).abs() <= 1e-4 * w.abs().max(1.0), "{s} vs {w}");
    }
}

#[test]
fn log_softmax_rows_cut_across_threads_match_the_row_formula() {
    let rt = cpu();
    let x = ramp(&rt, &[80, 1000]);
    let xv = x.to_vec_f32();
    let got = x.log_softmax(1).unwrap().to_vec_f32();
    for r in [0, 41, 79] {
        let row = &xv[r * 1000..(r + 1) * 1000];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = row
            .iter()
            .map(|&v| ((v - max) as f64).exp())
            .sum::<f64>()
            .ln() as f32
            + max;
        let want: Vec<f32> = row.iter().map(|&v| v - lse).collect();
        assert_eq!(&got[r * 1000..(r + 1) * 1000], &want[..], "row {r}");
    }
}
