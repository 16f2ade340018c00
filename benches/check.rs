//! Time to check a 10-iteration MLP training scenario, re-runs included (the checker runs it
//! as written, and again doubled only when its memory or graph rises after the second
//! iteration, which this clean loop's does not). Figures in docs/benchmarks.md.

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
