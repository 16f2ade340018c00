//! The optimizer options that used to be refused: Adam/AdamW `amsgrad`, `fused` and
//! `capturable`, RMSprop `centered` and `capturable`. Their state as `state_dict()` shows it
//! (what PyTorch 2.15 printed for the same program), and the errors PyTorch raises for the
//! combinations it rejects.

use std::path::Path;

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions};
use leakharness::scenario::parse_scenario;

/// What the program prints, or its error.
fn run_on(backend: Backend, src: &str) -> Result<Vec<String>, String> {
    let scenario = parse_scenario(Path::new("t.py"), src).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let r = run(&scenario, &rt, &RunOptions::default(), &mut ());
    match r.failure {
        Some(f) => Err(f.error.to_string()),
        None => Ok(r.output),
    }
}

const PROGRAM: &str = r#"import torch
import torch.nn as nn

m = nn.Linear(3, 2)
for name, opt in [("Adam", torch.optim.Adam(m.parameters(), amsgrad=True)), ("AdamW", torch.optim.AdamW(m.parameters(), fused=True)), ("RMSprop", torch.optim.RMSprop(m.parameters(), centered=True, momentum=0.9))]:
    m(torch.ones(4, 3)).sum().backward()
    opt.step()
    s = opt.state_dict()["state"][0]
    print(name, sorted(s.keys()), s["step"].item(), s["step"].dtype, s["step"].device)
    print(opt.param_groups[0]["amsgrad"] if "amsgrad" in opt.param_groups[0] else opt.param_groups[0]["centered"], opt.param_groups[0].get("fused"))
try:
    torch.optim.Adam(m.parameters(), fused=True, foreach=True)
except RuntimeError as e:
    print("RuntimeError:", e)
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "Adam ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step'] 1.0 torch.float32 cpu",
    "True None",
    "AdamW ['exp_avg', 'exp_avg_sq', 'step'] 1.0 torch.float32 cpu",
    "False True",
    "RMSprop ['grad_avg', 'momentum_buffer', 'square_avg', 'step'] 1.0 torch.float32 cpu",
    "True None",
    "RuntimeError: `fused` and `foreach` cannot be `True` together.",
];

#[test]
fn amsgrad_fused_and_centered_state_prints_what_pytorch_prints() {
    for backend in [Backend::Cpu, Backend::Meta] {
        assert_eq!(run_on(backend, PROGRAM).unwrap(), EXPECTED, "{backend:?}");
    }
}

/// A capturable step keeps `step` on the parameter's device; on host parameters PyTorch's
/// step asserts.
#[test]
fn capturable_keeps_the_step_on_the_device_and_refuses_host_parameters() {
    let on_device = r#"import torch
p = torch.zeros(3, device="cuda", requires_grad=True)
opt = torch.optim.Adam([p], capturable=True)
p.grad = torch.ones(3, device="cuda")
opt.step()
print(opt.state_dict()["state"][0]["step"].device)
opt = torch.optim.RMSprop([p], capturable=True)
opt.step()
print(opt.state_dict()["state"][0]["step"].device)
"#;
    let out = run_on(Backend::Meta, on_device).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|d| d.starts_with("cuda")), "{out:?}");
    let on_host = r#"import torch
p = torch.zeros(3, requires_grad=True)
opt = torch.optim.Adam([p], capturable=True)
p.grad = torch.ones(3)
opt.step()
"#;
    let err = run_on(Backend::Meta, on_host).unwrap_err();
    assert!(
        err.contains("If capturable=True, params and state_steps must be on supported devices"),
        "{err}"
    );
}

#[test]
fn a_grad_scaler_step_of_a_fused_optimizer_is_refused_with_help() {
    let src = r#"import torch
p = torch.zeros(3, device="cuda", requires_grad=True)
opt = torch.optim.Adam([p], fused=True)
scaler = torch.amp.GradScaler("cuda")
scaler.scale((p * 2).sum()).backward()
scaler.step(opt)
"#;
    let err = run_on(Backend::Meta, src).unwrap_err();
    assert!(
        err.contains("GradScaler.step with a fused=True optimizer is not supported in scenarios"),
        "{err}"
    );
}
