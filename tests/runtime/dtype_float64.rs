//! float64 in exact bytes and values: 8 bytes an element in every byte count (requested
//! bytes and the blocks they round to), promotion with float32 as torch 2.15 promotes, values
//! that survive creation, copies, sums and `item()` exactly, and the same allocations on cpu
//! and meta.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device};

fn requested(rt: &Runtime) -> i64 {
    rt.allocator().stats().requested_bytes.all.current
}

/// Every step's (requested, allocated) bytes above the start, and the allocator's events.
fn float64_program(backend: Backend) -> (Vec<(i64, u64)>, Vec<EventKind>) {
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let (r0, a0) = (requested(&rt), rt.memory_allocated());
    let mut seen = Vec::new();
    let mut note = |rt: &Runtime| seen.push((requested(rt) - r0, rt.memory_allocated() - a0));
    let doubles = rt.zeros(&[100], DType::F64, Device::Cuda).unwrap();
    note(&rt);
    let floats = rt.ones(&[300], DType::F32, Device::Cuda).unwrap();
    let cast = floats.to_dtype(DType::F64).unwrap();
    note(&rt);
    let sum = cast.sum().unwrap();
    assert_eq!(sum.dtype(), DType::F64);
    note(&rt);
    // float64 is the wider float: a float32 operand with dimensions does not narrow it.
    let wide = doubles
        .add(&rt.zeros(&[100], DType::F32, Device::Cuda).unwrap())
        .unwrap();
    assert_eq!(wide.dtype(), DType::F64);
    // A 0-dim float64 does not widen a float32 tensor with dimensions; a Python float does
    // not widen either.
    let narrow = floats.mul(&sum).unwrap();
    assert_eq!(narrow.dtype(), DType::F32);
    assert_eq!(floats.mul_scalar(2.5).unwrap().dtype(), DType::F32);
    note(&rt);
    drop((doubles, floats, cast, sum, wide, narrow));
    note(&rt);
    let trace = rt.allocator().history().trace();
    (seen, trace)
}

#[test]
fn float64_takes_eight_bytes_an_element_on_cpu_and_meta() {
    let (meta, meta_trace) = float64_program(Backend::Meta);
    let (cpu, cpu_trace) = float64_program(Backend::Cpu);
    assert_eq!(
        meta,
        vec![
            // zeros(100, float64): 800 bytes in a 1,024-byte block.
            (800, 1024),
            // ones(300) (1,200 B, 1,536) and its float64 copy (2,400 B, 2,560).
            (4400, 5120),
            // The float64 sum: 8 bytes, a 512-byte block.
            (4408, 5632),
            // float64 + float32 is float64 (800 B; the float32 operand, 400 B, was a
            // temporary); float32 * 0-dim float64 is float32 (1,200 B, 1,536).
            (6408, 8192),
            (0, 0),
        ]
    );
    assert_eq!(cpu, meta);
    assert_eq!(cpu_trace, meta_trace);
}

#[test]
fn float64_values_survive_creation_copies_and_sums() {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let values = [0.1, 1e300, -2.5, 1.0 / 3.0];
    for device in [Device::Cpu, Device::Cuda] {
        let t = rt.tensor_f64(&values, &[4], DType::F64, device).unwrap();
        assert_eq!(t.to_vec_f64(), values);
        assert_eq!(t.clone_tensor().unwrap().to_vec_f64(), values);
        assert_eq!(t.to(Device::Cpu).unwrap().to_vec_f64(), values);
        assert_eq!(t.narrow(0, 0, 1).unwrap().item().unwrap(), 0.1);
        // 0.1 + 0.2 in float64 is 0.30000000000000004, which float32 arithmetic would not give.
        let pair = rt
            .tensor_f64(&[0.1, 0.2], &[2], DType::F64, device)
            .unwrap();
        assert_eq!(pair.sum().unwrap().item().unwrap(), 0.1 + 0.2);
        let truncated = t.to_dtype(DType::I64).unwrap().to_vec_i64();
        assert_eq!((truncated[0], truncated[2]), (0, -2));
        assert_eq!(t.to_dtype(DType::F32).unwrap().to_vec_f32()[0], 0.1f32);
        let filled = rt.zeros(&[2], DType::F64, device).unwrap();
        filled.fill_(0.1).unwrap();
        assert_eq!(filled.to_vec_f64(), [0.1, 0.1]);
    }
}

/// The float64 loads and stores of the kernels (`DT_F64` in kernels/prelude.cuh) on a real
/// GPU: values made, copied, cast, filled and summed on the device keep what the host keeps.
/// Without a CUDA device it says it was skipped and passes (`LEAKHARNESS_REQUIRE_CUDA=1`
/// makes that a failure).
#[test]
fn float64_values_survive_on_a_gpu() {
    let rt = match Runtime::new(Backend::Cuda, RuntimeOptions::default()) {
        Ok(rt) => rt,
        Err(e) if std::env::var("LEAKHARNESS_REQUIRE_CUDA").as_deref() == Ok("1") => {
            panic!("LEAKHARNESS_REQUIRE_CUDA=1 but: {e}")
        }
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "float64 on a GPU: skipped: {e}");
            return;
        }
    };
    let values = [0.1, 1e300, -2.5, 1.0 / 3.0];
    let t = rt
        .tensor_f64(&values, &[4], DType::F64, Device::Cuda)
        .unwrap();
    assert_eq!(t.clone_tensor().unwrap().to_vec_f64(), values);
    let strided = rt
        .tensor_f64(&values, &[2, 2], DType::F64, Device::Cuda)
        .unwrap();
    assert_eq!(
        strided.t().unwrap().clone_tensor().unwrap().to_vec_f64(),
        [0.1, -2.5, 1e300, 1.0 / 3.0]
    );
    let truncated = t.to_dtype(DType::I64).unwrap().to_vec_i64();
    assert_eq!((truncated[0], truncated[2]), (0, -2));
    assert_eq!(
        t.to_dtype(DType::F32).unwrap().to_vec_f32()[3],
        (1.0f64 / 3.0) as f32
    );
    let filled = rt.zeros(&[3], DType::F64, Device::Cuda).unwrap();
    filled.fill_(0.1).unwrap();
    assert_eq!(filled.to_vec_f64(), [0.1; 3]);
    let ints = rt.tensor_i64(&[1 << 40, -7], &[2], Device::Cuda).unwrap();
    assert_eq!(
        ints.to_dtype(DType::F64).unwrap().to_vec_f64(),
        [(1i64 << 40) as f64, -7.0]
    );
}
