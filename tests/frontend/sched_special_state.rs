//! `OneCycleLR` and `ReduceLROnPlateau`'s `state_dict()` and `load_state_dict()`: the dict
//! 2.15 prints (OneCycleLR's phases, anneal type and momentum flags before the base class's
//! counters; ReduceLROnPlateau's own `__dict__`, `min_lrs` as given, `mode_worse`, `best`), and
//! round trips: a scheduler loaded from another's state (with its optimizer's) steps to the
//! same rates, a `ReduceLROnPlateau` made with another `mode` takes the loaded one. Stepping a
//! plateau scheduler with a 0-dim tensor reads `float(metrics)` (the scheduler keeps no
//! tensor). `EXPECTED` is what torch 2.15.0 (CPU) printed for `PROGRAM`.

use leakharness::device::Backend;

const PROGRAM: &str = r#"import torch
from torch.optim import lr_scheduler as L

def one_cycle(kind, opt):
    if kind == "cos":
        return L.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    if kind == "three":
        return L.OneCycleLR(opt, max_lr=1.0, total_steps=10, three_phase=True, anneal_strategy="linear")
    return L.OneCycleLR(opt, max_lr=0.5, epochs=2, steps_per_epoch=5, cycle_momentum=False)

for kind in ["cos", "three", "plain"]:
    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = one_cycle(kind, opt)
    for i in range(3):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    print(sd)
    q = torch.zeros(2, requires_grad=True)
    opt2 = torch.optim.SGD([q], lr=0.1, momentum=0.9)
    sched2 = one_cycle(kind, opt2)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sd)
    for i in range(3):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        print(kind, sched.get_last_lr(), sched2.get_last_lr(), opt2.param_groups[0]["momentum"])

p = torch.zeros(2, requires_grad=True)
adam = torch.optim.Adam([p], lr=0.1)
s = L.OneCycleLR(adam, max_lr=0.2, total_steps=4)
adam.step()
s.step()
print(s.state_dict()["use_beta1"], adam.param_groups[0]["betas"])

opt = torch.optim.SGD([p], lr=0.1)
plateau = L.ReduceLROnPlateau(opt, patience=1)
print(plateau.state_dict())
for m in [1.0, 1.0, 1.0, 0.5, 0.6]:
    plateau.step(m)
sd = plateau.state_dict()
print(sd)
opt2 = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
plateau2 = L.ReduceLROnPlateau(opt2, mode="max", factor=0.5)
plateau2.load_state_dict(sd)
opt2.load_state_dict(opt.state_dict())
for m in [0.7, 0.8, 0.9, 0.2]:
    plateau.step(torch.tensor(m))
    plateau2.step(m)
    print(plateau.get_last_lr(), plateau2.get_last_lr(), plateau2.num_bad_epochs)
other = L.ReduceLROnPlateau(opt, mode="max", threshold_mode="abs", factor=0.5, min_lr=[0.02], eps=1e-3)
for m in [3.0, 2.0, 2.0, 1.0]:
    other.step(m)
print(other.state_dict())
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "{'total_steps': 10, '_schedule_phases': [{'end_step': 2.0, 'start_lr': 'initial_lr', 'end_lr': 'max_lr', 'start_momentum': 'max_momentum', 'end_momentum': 'base_momentum'}, {'end_step': 9, 'start_lr': 'max_lr', 'end_lr': 'min_lr', 'start_momentum': 'base_momentum', 'end_momentum': 'max_momentum'}], '_anneal_func_type': 'cos', 'cycle_momentum': True, 'use_beta1': False, 'base_lrs': [0.04], 'last_epoch': 3, '_step_count': 4, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.9504846320134737]}",
    "cos [0.8117456539497631] [0.8117456539497631] 0.8688255099070633",
    "cos [0.6112620219362893] [0.6112620219362893] 0.8888739533021842",
    "cos [0.38874197806371075] [0.38874197806371075] 0.9111260466978157",
    "{'total_steps': 10, '_schedule_phases': [{'end_step': 2.0, 'start_lr': 'initial_lr', 'end_lr': 'max_lr', 'start_momentum': 'max_momentum', 'end_momentum': 'base_momentum'}, {'end_step': 4.0, 'start_lr': 'max_lr', 'end_lr': 'initial_lr', 'start_momentum': 'base_momentum', 'end_momentum': 'max_momentum'}, {'end_step': 9, 'start_lr': 'initial_lr', 'end_lr': 'min_lr', 'start_momentum': 'max_momentum', 'end_momentum': 'max_momentum'}], '_anneal_func_type': 'linear', 'cycle_momentum': True, 'use_beta1': False, 'base_lrs': [0.04], 'last_epoch': 3, '_step_count': 4, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.52]}",
    "three [0.040000000000000036] [0.040000000000000036] 0.95",
    "three [0.032000799999999996] [0.032000799999999996] 0.95",
    "three [0.024001599999999998] [0.024001599999999998] 0.95",
    "{'total_steps': 10, '_schedule_phases': [{'end_step': 2.0, 'start_lr': 'initial_lr', 'end_lr': 'max_lr', 'start_momentum': 'max_momentum', 'end_momentum': 'base_momentum'}, {'end_step': 9, 'start_lr': 'max_lr', 'end_lr': 'min_lr', 'start_momentum': 'base_momentum', 'end_momentum': 'max_momentum'}], '_anneal_func_type': 'cos', 'cycle_momentum': False, 'base_lrs': [0.02], 'last_epoch': 3, '_step_count': 4, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.47524231600673683]}",
    "plain [0.40587282697488153] [0.40587282697488153] 0.9",
    "plain [0.30563101096814466] [0.30563101096814466] 0.9",
    "plain [0.19437098903185537] [0.19437098903185537] 0.9",
    "True (0.8688255099070633, 0.999)",
    "{'factor': 0.1, 'default_min_lr': 0, 'min_lrs': [0], 'patience': 1, 'cooldown': 0, 'eps': 1e-08, 'last_epoch': 0, '_last_lr': [0.1], 'mode_worse': inf, 'mode': 'min', 'threshold': 0.0001, 'threshold_mode': 'rel', 'best': inf, 'cooldown_counter': 0, 'num_bad_epochs': 0}",
    "{'factor': 0.1, 'default_min_lr': 0, 'min_lrs': [0], 'patience': 1, 'cooldown': 0, 'eps': 1e-08, 'last_epoch': 5, '_last_lr': [0.010000000000000002], 'mode_worse': inf, 'mode': 'min', 'threshold': 0.0001, 'threshold_mode': 'rel', 'best': 0.5, 'cooldown_counter': 0, 'num_bad_epochs': 1}",
    "[0.0010000000000000002] [0.0010000000000000002] 0",
    "[0.0010000000000000002] [0.0010000000000000002] 1",
    "[0.00010000000000000003] [0.00010000000000000003] 0",
    "[0.00010000000000000003] [0.00010000000000000003] 0",
    "{'factor': 0.5, 'default_min_lr': None, 'min_lrs': [0.02], 'patience': 10, 'cooldown': 0, 'eps': 0.001, 'last_epoch': 4, '_last_lr': [0.00010000000000000003], 'mode_worse': -inf, 'mode': 'max', 'threshold': 0.0001, 'threshold_mode': 'abs', 'best': 3.0, 'cooldown_counter': 0, 'num_bad_epochs': 3}",
];

#[test]
fn one_cycle_and_plateau_state_round_trips_and_prints_what_pytorch_prints() {
    crate::assert_prints(Backend::Meta, PROGRAM, EXPECTED);
}

/// `_init_is_better`'s ValueError for a mode that is neither choice, from the constructor and
/// from `load_state_dict`, as 2.15 words it.
#[test]
fn plateau_refuses_unknown_modes_as_pytorch_does() {
    let program = r#"import torch
p = torch.zeros(1, requires_grad=True)
o = torch.optim.SGD([p], lr=0.1)
for kw in [dict(mode='mean'), dict(threshold_mode='x')]:
    try:
        torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw)
    except ValueError as e:
        print(e)
s = torch.optim.lr_scheduler.ReduceLROnPlateau(o)
sd = s.state_dict()
sd['mode'] = 'avg'
try:
    s.load_state_dict(sd)
except ValueError as e:
    print(e)
"#;
    crate::assert_prints_on_cpu_and_meta(
        program,
        &[
            "mode mean is unknown!",
            "threshold mode x is unknown!",
            "mode avg is unknown!",
        ],
    );
}

/// `CosineAnnealingWarmRestarts` with `T_mult=2`: the rates of four cycles' worth of steps, its
/// state (`_step_count` stays 0: its own `step()` never counts it), and its checks, as torch
/// 2.15 printed them.
#[test]
fn warm_restarts_give_pytorchs_rates_state_and_errors() {
    let program = r#"import torch
w = torch.nn.Parameter(torch.zeros(2))
opt = torch.optim.SGD([w], lr=0.1)
s = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
print(s.state_dict())
lrs = []
for i in range(12):
    opt.step()
    s.step()
    lrs.append(round(s.get_last_lr()[0], 6))
print(lrs)
print(s.T_cur, s.T_i, s.last_epoch)
print(s.state_dict())
try:
    torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0)
except Exception as e:
    print(type(e).__name__, e)
try:
    torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, 2, T_mult=0)
except Exception as e:
    print(type(e).__name__, e)
try:
    torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, 2.5)
except Exception as e:
    print(type(e).__name__, e)"#;
    let expected = r#"{'T_0': 3, 'T_i': 3, 'T_mult': 2, 'eta_min': 0.001, 'T_cur': 0, 'base_lrs': [0.1], 'last_epoch': 0, '_step_count': 0, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.1]}
[0.07525, 0.02575, 0.1, 0.093368, 0.07525, 0.0505, 0.02575, 0.007632, 0.1, 0.098313, 0.093368, 0.085502]
3 12 12
{'T_0': 3, 'T_i': 12, 'T_mult': 2, 'eta_min': 0.001, 'T_cur': 3, 'base_lrs': [0.1], 'last_epoch': 12, '_step_count': 0, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.0855017856687341]}
ValueError Expected positive integer T_0, but got 0
ValueError Expected integer T_mult >= 1, but got 0
ValueError Expected positive integer T_0, but got 2.5"#;
    let lines: Vec<&str> = expected.lines().collect();
    super::assert_prints_on_cpu_and_meta(program, &lines);
}
