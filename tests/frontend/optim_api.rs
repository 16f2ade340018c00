//! `torch.optim`'s Python surface beyond `step`: `param_groups` (edited in place, read at the
//! next step), `add_param_group`, `state_dict` (references to the state, not copies) and
//! `load_state_dict`, with the output PyTorch 2.15 prints for the same programs.

use std::path::Path;

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions};
use leakharness::scenario::parse_scenario;

/// What the program prints on `backend`; panics with the error if it failed.
fn output_on(backend: Backend, src: &str) -> Vec<String> {
    let scenario = parse_scenario(Path::new("t.py"), src).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let r = run(&scenario, &rt, &RunOptions::default(), &mut ());
    if let Some(f) = r.failure {
        panic!("{}", f.error);
    }
    r.output
}

/// The same program and, line for line, what PyTorch 2.15 printed for it.
const STATE_DICT_PROGRAM: &str = r#"import torch
import torch.nn as nn

model = nn.Linear(4, 2)
opt = torch.optim.Adam(model.parameters(), lr=0.1)
print(opt)
model(torch.randn(3, 4)).sum().backward()
opt.step()
sd = opt.state_dict()
print(sorted(sd.keys()), sd["param_groups"])
print(sorted(sd["state"][0].keys()))
opt.param_groups[0]["lr"] = 0.01
print(opt.state_dict()["param_groups"][0]["lr"])
q = torch.zeros(3, requires_grad=True)
opt.add_param_group({"params": [q], "lr": 0.5})
print(len(opt.param_groups), opt.param_groups[1]["lr"], opt.param_groups[1]["betas"])
opt2 = torch.optim.Adam(nn.Linear(4, 2).parameters())
try:
    opt2.load_state_dict(opt.state_dict())
except ValueError as e:
    print("ValueError", e)
m2 = nn.Linear(4, 2)
o2 = torch.optim.Adam(m2.parameters(), lr=0.3)
o1 = torch.optim.Adam(model.parameters(), lr=0.1)
model(torch.randn(3, 4)).sum().backward()
o1.step()
o2.load_state_dict(o1.state_dict())
print(o2.param_groups[0]["lr"])
print(o2.state_dict()["state"][0]["exp_avg"] is o1.state_dict()["state"][0]["exp_avg"])
try:
    opt.add_param_group({"params": q})
except ValueError as e:
    print("ValueError", e)
s = torch.optim.SGD([{"params": model.weight}, {"params": model.bias, "lr": 0.5}], lr=0.1, momentum=0.9)
print(s)
"#;

#[test]
fn param_groups_state_dict_and_add_param_group_print_what_pytorch_prints() {
    let expected = [
        "Adam (",
        "Parameter Group 0",
        "    amsgrad: False",
        "    betas: (0.9, 0.999)",
        "    capturable: False",
        "    decoupled_weight_decay: False",
        "    differentiable: False",
        "    eps: 1e-08",
        "    foreach: None",
        "    fused: None",
        "    lr: 0.1",
        "    maximize: False",
        "    weight_decay: 0",
        ")",
        "['param_groups', 'state'] [{'lr': 0.1, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0, 'amsgrad': False, 'maximize': False, 'foreach': None, 'capturable': False, 'differentiable': False, 'fused': None, 'decoupled_weight_decay': False, 'params': [0, 1]}]",
        "['exp_avg', 'exp_avg_sq', 'step']",
        "0.01",
        "2 0.5 (0.9, 0.999)",
        "ValueError loaded state dict has a different number of parameter groups",
        "0.1",
        "True",
        "ValueError some parameters appear in more than one parameter group",
        "SGD (",
        "Parameter Group 0",
        "    dampening: 0",
        "    differentiable: False",
        "    foreach: None",
        "    fused: None",
        "    lr: 0.1",
        "    maximize: False",
        "    momentum: 0.9",
        "    nesterov: False",
        "    weight_decay: 0",
        "",
        "Parameter Group 1",
        "    dampening: 0",
        "    differentiable: False",
        "    foreach: None",
        "    fused: None",
        "    lr: 0.5",
        "    maximize: False",
        "    momentum: 0.9",
        "    nesterov: False",
        "    weight_decay: 0",
        ")",
    ];
    assert_eq!(output_on(Backend::Cpu, STATE_DICT_PROGRAM), expected);
}
