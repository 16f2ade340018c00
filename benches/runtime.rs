//! One training step of an MLP (batch 64, 784-1024-1024-10, cross-entropy, SGD with momentum)
//! on the cpu backend with allocation stack capture on and off, and on the meta backend, where
//! the number that matters is steps per second of pure memory simulation; and one step of a
//! realistic model on the default cpu backend (3 × Linear(4096, 4096), batch 256), to compare
//! with `benches/pytorch_cpu_mlp_step.py --model 3x4096`.

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

/// The bench MLP: batch 64, 784-1024-1024-10.
const SMALL: Shape = Shape {
    batch: 64,
    widths: &[784, 1024, 1024, 10],
};

/// The realistic model of issue 16: three 4096 × 4096 layers, batch 256, 4096 classes.
const WIDE: Shape = Shape {
    batch: 256,
    widths: &[4096, 4096, 4096, 4096],
};

/// An MLP's batch and layer widths, input first: a Linear between each pair, ReLU between Linears.
struct Shape {
    batch: usize,
    widths: &'static [usize],
}

fn setup(backend: Backend, capture: bool, shape: &Shape) -> Setup {
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
    let mut layers: Vec<Box<dyn Module>> = Vec::new();
    for pair in shape.widths.windows(2) {
        if !layers.is_empty() {
            layers.push(Box::new(ReLU::new(false)));
        }
        layers.push(Box::new(Linear::new(&rt, pair[0], pair[1], true).unwrap()));
    }
    let model = Sequential::new(layers);
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
    let (input, classes) = (shape.widths[0], shape.widths[shape.widths.len() - 1]);
    let x = rt.randn(&[shape.batch, input], Device::Cuda).unwrap();
    let y = rt
        .randint(0, classes as i64, &[shape.batch], Device::Cuda)
        .unwrap();
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
    let mut s = setup(Backend::Cpu, capture, &SMALL);
    bencher.bench_local(|| step(&mut s));
}

/// A meta training step (memory effects only): its inverse is steps per second.
#[divan::bench(args = [false, true])]
fn meta_training_step(bencher: Bencher, capture: bool) {
    let mut s = setup(Backend::Meta, capture, &SMALL);
    bencher
        .counter(divan::counter::ItemsCount::new(1usize))
        .bench_local(|| step(&mut s));
}

/// A step of the 3 × 4096 model on the default cpu backend, capture off (the default); about
/// 77 GFLOP per step, so few samples.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn cpu_training_step_3x4096(bencher: Bencher) {
    let mut s = setup(Backend::Cpu, false, &WIDE);
    bencher.bench_local(|| step(&mut s));
}
