//! Time to check a 10-iteration MLP training scenario, re-runs included (the checker runs it
//! as written, and again doubled only when its memory or graph rises after the second
//! iteration, which this clean loop's does not), and a 10-iteration CIFAR-sized conv net and
//! the gallery's small transformer on meta (issue 16's goal: under a second each). Figures in
//! docs/benchmarks.md.

use std::path::Path;

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::device::Backend;
use leakharness::scenario::{parse_scenario, Scenario};

fn main() {
    divan::main();
}

const MLP: &str = r#"# A 10-step MLP training loop that logs its loss on the host.
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
losses = []
for step in range(10):
    x = torch.randn(32, 64, device=device)
    y = torch.randn(32, 10, device=device)
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(loss.item())
"#;

const CONV_NET: &str = r#"# A CIFAR-sized conv net (two Conv-BN-ReLU-MaxPool blocks and a Linear head, batch 32,
# 3x32x32 inputs) trained for 10 steps with SGD momentum, logging its loss on the host.
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(64 * 8 * 8, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


model = Net().to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
losses = []
for step in range(10):
    x = torch.randn(32, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (32,), device=device)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
"#;

fn scenario() -> Scenario {
    parse_scenario(Path::new("mlp.py"), MLP).expect("the bench scenario parses")
}

#[divan::bench(args = ["cpu", "meta"], sample_count = 20)]
fn check_mlp_10_iterations(bencher: divan::Bencher, backend: &str) {
    let backend = if backend == "cpu" {
        Backend::Cpu
    } else {
        Backend::Meta
    };
    let scenario = scenario();
    let options = CheckOptions {
        backend,
        ..CheckOptions::default()
    };
    bencher.bench_local(|| check_scenario(&scenario, &options).map(|r| r.passed));
}

/// The conv net on meta only: on cpu its convolutions compute for real, which is not what
/// this figure is about (how fast the checker answers "does this leak" without a GPU).
#[divan::bench(sample_count = 10)]
fn check_conv_net_10_iterations_meta(bencher: divan::Bencher) {
    let scenario =
        parse_scenario(Path::new("conv_net.py"), CONV_NET).expect("the conv net scenario parses");
    let options = CheckOptions {
        backend: Backend::Meta,
        ..CheckOptions::default()
    };
    bencher.bench_local(|| check_scenario(&scenario, &options).map(|r| r.passed));
}

/// Checking the gallery's small transformer (two hand-written pre-norm blocks with
/// `F.scaled_dot_product_attention`, Adam, 10 steps) on meta: issue 16's goal is under 1 s.
#[divan::bench(sample_count = 10)]
fn check_transformer_10_iterations_on_meta(bencher: divan::Bencher) {
    let scenario = parse_scenario(
        Path::new("transformer_block_training.py"),
        include_str!("../scenarios/clean/transformer_block_training.py"),
    )
    .expect("the gallery's transformer scenario parses");
    let options = CheckOptions {
        backend: Backend::Meta,
        ..CheckOptions::default()
    };
    bencher.bench_local(|| check_scenario(&scenario, &options).map(|r| r.passed));
}
