//! One training step of an MLP (batch 64, 784-1024-1024-10, cross-entropy, SGD with momentum)
//! on the cpu backend with allocation stack capture on and off, and on the meta backend, where
//! the number that matters is steps per second of pure memory simulation.

use divan::Bencher;
use leakharness::alloc::StackCapture;
use leakharness::device::Backend;
use leakharness::nn::{CrossEntropyLoss, Linear, Module, ReLU, Sequential};
use leakharness::optim::{Optimizer, Sgd, SgdOptions};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

fn main() {
    divan::main();
}

struct Setup {
    model: Sequential,
    opt: Sgd,
    x: Tensor,
    y: Tensor,
}

fn setup(backend: Backend, capture: bool) -> Setup {
    let rt = Runtime::new(
        backend,
        RuntimeOptions {
            stack_capture: Some(StackCapture {
                enabled: capture,
                ..StackCapture::default()
            }),
            ..RuntimeOptions::default()
        },
    )
    .unwrap();
    let model = Sequential::new(vec![
        Box::new(Linear::new(&rt, 784, 1024, true).unwrap()),
        Box::new(ReLU::new(false)),
        Box::new(Linear::new(&rt, 1024, 1024, true).unwrap()),
        Box::new(ReLU::new(false)),
        Box::new(Linear::new(&rt, 1024, 10, true).unwrap()),
    ]);
    model.to(Device::Cuda).unwrap();
    let opt = Sgd::new(
        model.parameters(),
        SgdOptions {
            lr: 0.01,
            momentum: 0.9,
            ..SgdOptions::default()
        },
    )
    .unwrap();
    let x = rt.randn(&[64, 784], Device::Cuda).unwrap();
    let y = rt.randint(0, 10, &[64], Device::Cuda).unwrap();
    Setup { model, opt, x, y }
}

fn step(s: &mut Setup) {
    let loss = CrossEntropyLoss::default()
        .forward(&s.model.forward(&s.x).unwrap(), &s.y)
        .unwrap();
    loss.backward(None, false).unwrap();
    s.opt.step().unwrap();
    s.opt.zero_grad(true).unwrap();
    divan::black_box(loss.item().unwrap());
}

/// A cpu training step; `capture` switches allocation stack capture.
#[divan::bench(args = [false, true], sample_count = 10)]
fn cpu_training_step(bencher: Bencher, capture: bool) {
    let mut s = setup(Backend::Cpu, capture);
    bencher.bench_local(|| step(&mut s));
}

/// A meta training step (memory effects only): its inverse is steps per second.
#[divan::bench(args = [false, true])]
fn meta_training_step(bencher: Bencher, capture: bool) {
    let mut s = setup(Backend::Meta, capture);
    bencher
        .counter(divan::counter::ItemsCount::new(1usize))
        .bench_local(|| step(&mut s));
}
