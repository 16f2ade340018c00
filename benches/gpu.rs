//! GPU benchmarks, run only where a CUDA device is present (otherwise they say so and exit):
//! one MLP training step (batch 512, four 4096-wide linear layers, cross-entropy, SGD with
//! momentum) on the cuda backend, to compare with `benches/pytorch_mlp_step.py`; and a cached
//! allocation and free through the caching allocator against raw cuMemAlloc + cuMemFree.

use std::io::Write;

use cudarc::driver::result;
use divan::Bencher;
use leakharness::alloc::Purpose;
use leakharness::device::{cuda_device_count, Backend};
use leakharness::nn::{CrossEntropyLoss, Linear, Module, ReLU, Sequential};
use leakharness::optim::{Optimizer, Sgd, SgdOptions};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

fn main() {
    match cuda_device_count() {
        Ok(n) if n > 0 => divan::main(),
        Ok(_) => skipped("no CUDA device"),
        Err(e) => skipped(&e.to_string()),
    }
}

fn skipped(why: &str) {
    let _ = writeln!(std::io::stdout(), "gpu benchmarks skipped: {why}");
}

const BATCH: usize = 512;
const WIDTH: usize = 4096;

struct Setup {
    rt: Runtime,
    model: Sequential,
    opt: Sgd,
    x: Tensor,
    y: Tensor,
}

fn setup() -> Setup {
    let rt = Runtime::new(Backend::Cuda, RuntimeOptions::default()).unwrap();
    let mut layers: Vec<Box<dyn Module>> = Vec::new();
    for i in 0..4 {
        if i > 0 {
            layers.push(Box::new(ReLU::new(false)));
        }
        layers.push(Box::new(
            Linear::new_on(&rt, WIDTH, WIDTH, true, Device::Cuda).unwrap(),
        ));
    }
    let model = Sequential::new(layers);
    let opt = Sgd::new(
        model.parameters(),
        SgdOptions {
            lr: 0.01,
            momentum: 0.9,
            ..SgdOptions::default()
        },
    )
    .unwrap();
    let x = rt.randn(&[BATCH, WIDTH], Device::Cuda).unwrap();
    let y = rt.randint(0, WIDTH as i64, &[BATCH], Device::Cuda).unwrap();
    Setup {
        rt,
        model,
        opt,
        x,
        y,
    }
}

/// Forward, backward, optimizer step; `item()` synchronizes, so the time is the GPU's.
#[divan::bench(sample_count = 20)]
fn mlp_training_step(bencher: Bencher) {
    let mut s = setup();
    bencher.bench_local(|| {
        let loss = CrossEntropyLoss::default()
            .forward(&s.model.forward(&s.x).unwrap(), &s.y)
            .unwrap();
        loss.backward(None, false).unwrap();
        s.opt.step().unwrap();
        s.opt.zero_grad(true).unwrap();
        divan::black_box(loss.item().unwrap());
    });
    drop(s.rt);
}

/// A 4 MiB block from the caching allocator's cache and back (after a first call has
/// reserved the segment).
#[divan::bench]
fn cached_alloc_free(bencher: Bencher) {
    let rt = Runtime::new(Backend::Cuda, RuntimeOptions::default()).unwrap();
    let mut a = rt.allocator_mut();
    let warm = a.allocate(4 << 20, Purpose::Temporary).unwrap();
    a.free(warm.id).unwrap();
    bencher.bench_local(|| {
        let b = a.allocate(4 << 20, Purpose::Temporary).unwrap();
        a.free(b.id).unwrap();
    });
}

/// The same 4 MiB straight from the driver: what the cache saves.
#[divan::bench]
fn driver_alloc_free(bencher: Bencher) {
    let rt = Runtime::new(Backend::Cuda, RuntimeOptions::default()).unwrap();
    rt.gpu().unwrap().synchronize().unwrap();
    bencher.bench_local(|| {
        // SAFETY: the runtime's context is current on this thread (made so by Runtime::new),
        // and the pointer is freed right away, once.
        unsafe {
            let p = result::malloc_sync(4 << 20).unwrap();
            result::free_sync(p).unwrap();
        }
    });
}
