//! `torch.optim.lr_scheduler`: the learning rates of each scheduler, step by step, as the
//! floats PyTorch 2.15 prints for the same program (its chainable `get_lr()` forms, computed
//! in the same order), and what the schedulers write into `param_groups`.

use std::path::Path;

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions};
use leakharness::scenario::parse_scenario;

fn output(src: &str) -> Vec<String> {
    let scenario = parse_scenario(Path::new("t.py"), src).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let r = run(&scenario, &rt, &RunOptions::default(), &mut ());
    if let Some(f) = r.failure {
        panic!("{}", f.error);
    }
    r.output
}

/// Every scheduler of the subset, a few steps each.
const PROGRAM: &str = r#"import torch
import torch.nn as nn
from torch.optim import lr_scheduler

model = nn.Linear(4, 2)


def run(make_opt, make_sched, steps):
    opt = make_opt()
    sched = make_sched(opt)
    lrs = [sched.get_last_lr()]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs


sgd = lambda: torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
adam = lambda: torch.optim.Adam(model.parameters(), lr=0.01)
print(run(sgd, lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 7))
print(run(sgd, lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1), 6))
print(run(sgd, lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9), 5))
print(run(sgd, lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.001), 10))
print(run(sgd, lambda o: lr_scheduler.LambdaLR(o, lambda epoch: 0.95 ** epoch), 4))
print(run(sgd, lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4), 6))
print(run(adam, lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10), 9))
opt = adam()
one = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
opt.step()
one.step()
print(opt.param_groups[0]["betas"], opt.param_groups[0]["initial_lr"], opt.param_groups[0]["min_lr"])
opt = sgd()
one = lr_scheduler.OneCycleLR(opt, max_lr=[0.2], epochs=2, steps_per_epoch=3, anneal_strategy="linear", three_phase=True)
lrs = []
for _ in range(5):
    opt.step()
    one.step()
    lrs.append((one.get_last_lr()[0], opt.param_groups[0]["momentum"]))
print(lrs)
opt = sgd()
plateau = lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, cooldown=1)
plateau_lrs = []
for loss in [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8]:
    plateau.step(torch.tensor(loss))
    plateau_lrs.append(plateau.get_last_lr()[0])
print(plateau_lrs)
print(sorted(k for k in opt.param_groups[0].keys()))
"#;

#[test]
fn every_scheduler_gives_pytorchs_learning_rates() {
    let expected = [
        "[[0.1], [0.1], [0.1], [0.05], [0.05], [0.05], [0.025], [0.025]]",
        "[[0.1], [0.1], [0.010000000000000002], [0.010000000000000002], [0.010000000000000002], [0.00010000000000000005], [0.00010000000000000005]]",
        "[[0.1], [0.09000000000000001], [0.08100000000000002], [0.07290000000000002], [0.06561000000000002], [0.05904900000000002]]",
        "[[0.1], [0.0855017856687341], [0.0505], [0.0154982143312659], [0.001], [0.015498214331265896], [0.05050000000000001], [0.08550178566873413], [0.10000000000000003], [0.08550178566873413], [0.05050000000000003]]",
        "[[0.1], [0.095], [0.09025], [0.0857375], [0.081450625]]",
        "[[0.025], [0.043750000000000004], [0.06250000000000001], [0.08125000000000002], [0.10000000000000002], [0.10000000000000002], [0.10000000000000002]]",
        "[[0.0040000000000000036], [0.052000000000000005], [0.1], [0.09504846320134738], [0.0811745653949763], [0.06112620219362893], [0.03887419780637107], [0.0188258346050237], [0.004951936798652629], [4e-07]]",
        "(0.8999999999999999, 0.999) 0.004 4e-07",
        "[(0.15199999999999997, 0.875), (0.007058917647058823, 0.95), (0.004706211764705882, 0.95), (0.0023535058823529412, 0.95), (8.000000000004531e-07, 0.95)]",
        "[0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025]",
        "['dampening', 'differentiable', 'foreach', 'fused', 'lr', 'maximize', 'momentum', 'nesterov', 'params', 'weight_decay']",
    ];
    assert_eq!(output(PROGRAM), expected);
}
