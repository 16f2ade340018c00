//! int32 in exact bytes: 4 bytes an element in every byte count (requested bytes and the
//! blocks they round to), integer sums that widen to int64, and `GradScaler`'s
//! `_growth_tracker`, which torch/amp/grad_scaler.py makes with `dtype=torch.int32` (4 bytes
//! requested, where the int64 stand-in used to ask for 8). cpu and meta make the same
//! allocations.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::optim::{GradScaler, GradScalerOptions};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device};

fn requested(rt: &Runtime) -> i64 {
    rt.allocator().stats().requested_bytes.all.current
}

/// Every step's (requested, allocated) bytes above the start, and the allocator's events.
fn int32_program(backend: Backend) -> (Vec<(i64, u64)>, Vec<EventKind>) {
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let (r0, a0) = (requested(&rt), rt.memory_allocated());
    let mut seen = Vec::new();
    let mut note = |rt: &Runtime| seen.push((requested(rt) - r0, rt.memory_allocated() - a0));
    let ints = rt.zeros(&[100], DType::I32, Device::Cuda).unwrap();
    note(&rt);
    let floats = rt.ones(&[300], DType::F32, Device::Cuda).unwrap();
    let cast = floats.to_dtype(DType::I32).unwrap();
    note(&rt);
    let sum = cast.sum().unwrap();
    assert_eq!(sum.dtype(), DType::I64);
    note(&rt);
    let added = ints.add_scalar(1.0).unwrap();
    assert_eq!(added.dtype(), DType::F32, "int32 + 1.0 is float32");
    let wide = ints
        .add(&rt.zeros(&[100], DType::I64, Device::Cuda).unwrap())
        .unwrap();
    assert_eq!(wide.dtype(), DType::I64);
    note(&rt);
    let mut scaler = GradScaler::new(GradScalerOptions::default()).unwrap();
    let loss = rt.zeros(&[], DType::F32, Device::Cuda).unwrap();
    let before = (requested(&rt), rt.memory_allocated());
    let scaled = scaler.scale(&loss).unwrap();
    let tracker = scaler
        .named_tensors()
        .into_iter()
        .find(|(n, _)| *n == "_growth_tracker")
        .unwrap()
        .1;
    assert_eq!(tracker.dtype(), DType::I32);
    // _scale (4), _growth_tracker (4) and the scaled loss (4), a 512-byte block each.
    assert_eq!(requested(&rt) - before.0, 12);
    assert_eq!(rt.memory_allocated() - before.1, 3 * 512);
    drop((ints, floats, cast, sum, added, wide, scaled));
    note(&rt);
    let trace = rt.allocator().history().trace();
    (seen, trace)
}

#[test]
fn int32_takes_four_bytes_an_element_on_cpu_and_meta() {
    let (meta, meta_trace) = int32_program(Backend::Meta);
    let (cpu, cpu_trace) = int32_program(Backend::Cpu);
    assert_eq!(
        meta,
        vec![
            // zeros(100, int32): 400 bytes in a 512-byte block.
            (400, 512),
            // ones(300) (1,200 B) and its int32 copy (1,200 B): 1,536-byte blocks.
            (2800, 3584),
            // The int32 sum is int64: 8 bytes.
            (2808, 4096),
            // int32 + 1.0 is a float32 (400 B), int32 + int64 an int64 (800 B); the int64
            // operand was a temporary.
            (4008, 5632),
            // The scaler's _scale and _growth_tracker stay, with the loss.
            (12, 1536),
        ]
    );
    assert_eq!(cpu, meta);
    assert_eq!(cpu_trace, meta_trace);
}

#[test]
fn int32_values_wrap_and_read_as_integers() {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let big = rt
        .tensor_i64(&[i64::from(i32::MAX), -3], &[2], Device::Cpu)
        .unwrap()
        .to_dtype(DType::I32)
        .unwrap();
    let wrapped = big.add_scalar(1i64).unwrap();
    assert_eq!(wrapped.dtype(), DType::I32);
    assert_eq!(wrapped.to_vec_i64(), vec![i64::from(i32::MIN), -2]);
    assert_eq!(
        rt.tensor(&[1.7, -2.7], &[2], Device::Cpu)
            .unwrap()
            .to_dtype(DType::I32)
            .unwrap()
            .to_vec_i64(),
        vec![1, -2]
    );
}
