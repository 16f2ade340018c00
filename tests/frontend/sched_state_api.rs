//! Learning-rate schedulers' `state_dict()` and `load_state_dict()`: the dict 2.15 prints for
//! each class (its settings, `base_lrs`, the counters, `_last_lr`; `LambdaLR`'s functions as
//! None), and a round trip: a scheduler loaded from another's state (with its optimizer's)
//! steps to the same rates. `EXPECTED` is what torch 2.15.0 (CPU) printed for `PROGRAM`.

use leakharness::device::Backend;

const PROGRAM: &str = r#"import torch
from torch.optim import lr_scheduler as L

def make(kind, opt):
    if kind == "step":
        return L.StepLR(opt, 2, 0.5)
    if kind == "multistep":
        return L.MultiStepLR(opt, [2, 4], 0.5)
    if kind == "exp":
        return L.ExponentialLR(opt, 0.9)
    if kind == "cos":
        return L.CosineAnnealingLR(opt, 5, 0.01)
    if kind == "linear":
        return L.LinearLR(opt, 0.5, 1.0, 4)
    return L.LambdaLR(opt, lambda e: 0.9 ** e)

for kind in ["step", "multistep", "exp", "cos", "linear", "lambda"]:
    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(kind, opt)
    for i in range(3):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    if kind != "multistep":
        print(sd)
    q = torch.zeros(2, requires_grad=True)
    opt2 = torch.optim.SGD([q], lr=0.1)
    sched2 = make(kind, opt2)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sd)
    print(sched2.last_epoch, sched2.get_last_lr() == sched.get_last_lr())
    for i in range(3):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        print(kind, sched.get_last_lr(), sched2.get_last_lr())
"#;

const EXPECTED: &[&str] = &[
    "{'step_size': 2, 'gamma': 0.5, 'base_lrs': [0.1], 'last_epoch': 3, '_step_count': 4, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.05]}",
    "3 True",
    "step [0.025] [0.025]",
    "step [0.025] [0.025]",
    "step [0.0125] [0.0125]",
    "3 True",
    "multistep [0.025] [0.025]",
    "multistep [0.025] [0.025]",
    "multistep [0.025] [0.025]",
    "{'gamma': 0.9, 'base_lrs': [0.1], 'last_epoch': 3, '_step_count': 4, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.07290000000000002]}",
    "3 True",
    "exp [0.06561000000000002] [0.06561000000000002]",
    "exp [0.05904900000000002] [0.05904900000000002]",
    "exp [0.05314410000000002] [0.05314410000000002]",
    "{'T_max': 5, 'eta_min': 0.01, 'base_lrs': [0.1], 'last_epoch': 3, '_step_count': 4, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.04109423525312736]}",
    "3 True",
    "cos [0.018594235253127367] [0.018594235253127367]",
    "cos [0.01] [0.01]",
    "cos [0.018594235253127367] [0.018594235253127367]",
    "{'start_factor': 0.5, 'end_factor': 1.0, 'total_iters': 4, 'base_lrs': [0.1], 'last_epoch': 3, '_step_count': 4, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.08750000000000001]}",
    "3 True",
    "linear [0.1] [0.1]",
    "linear [0.1] [0.1]",
    "linear [0.1] [0.1]",
    "{'base_lrs': [0.1], 'last_epoch': 3, '_step_count': 4, '_is_initial': False, '_get_lr_called_within_step': False, '_last_lr': [0.0729], 'lr_lambdas': [None]}",
    "3 True",
    "lambda [0.06561] [0.06561]",
    "lambda [0.05904900000000001] [0.05904900000000001]",
    "lambda [0.05314410000000001] [0.05314410000000001]",
];

#[test]
fn scheduler_state_round_trips_and_prints_what_pytorch_prints() {
    crate::assert_prints(Backend::Meta, PROGRAM, EXPECTED);
}
