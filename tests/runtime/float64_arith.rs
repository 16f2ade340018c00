//! float64 arithmetic on device tensors computes in f64 on the cpu backend (values pinned to
//! what torch 2.15 printed for the same operations), and the same program makes the same
//! allocations on cpu and meta: computing in f64 changes values, never memory.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Tensor};

/// `(a + 1) - 1e8`, `x * 3`, `x.exp()`, `x.var()`, `m @ m.t()` and `m.max(dim=1)` on float64
/// cuda tensors: the values and the allocator's events.
fn program(backend: Backend) -> (Vec<Vec<f64>>, Vec<EventKind>) {
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let f64s = |v: &[f64], shape: &[usize]| -> Tensor {
        rt.tensor_f64(v, shape, DType::F64, Device::Cuda).unwrap()
    };
    let a = f64s(&[1e8], &[1]);
    let x = f64s(&[0.1, 0.2, 0.3], &[3]);
    let m = f64s(&[0.1, 0.2, 0.3, 0.7], &[2, 2]);
    let values = vec![
        a.add_scalar(1)
            .unwrap()
            .sub_scalar(1e8)
            .unwrap()
            .to_vec_f64(),
        x.mul_scalar(3).unwrap().to_vec_f64(),
        x.exp().unwrap().to_vec_f64(),
        x.var(None, 1.0, false).unwrap().to_vec_f64(),
        m.matmul(&m.t().unwrap()).unwrap().to_vec_f64(),
        m.max_dim(1, false, false).unwrap().0.to_vec_f64(),
    ];
    (values, rt.allocator().history().trace())
}

#[test]
fn float64_device_arithmetic_computes_in_f64_with_the_same_allocations_on_cpu_and_meta() {
    let (values, cpu_trace) = program(Backend::Cpu);
    let (_, meta_trace) = program(Backend::Meta);
    assert_eq!(cpu_trace, meta_trace);
    assert_eq!(
        values,
        [
            // 0.0 in float32 arithmetic.
            vec![1.0],
            vec![0.30000000000000004, 0.6000000000000001, 0.8999999999999999],
            vec![1.1051709180756477, 1.2214027581601699, 1.3498588075760032],
            vec![0.009999999999999998],
            vec![
                0.05000000000000001,
                0.16999999999999998,
                0.16999999999999998,
                0.58
            ],
            vec![0.2, 0.7],
        ]
    );
}
