//! Adam's, RMSprop's and Adagrad's `state["step"]`: a 0-dim float32 host tensor that
//! `optimizer.state` holds (torch/optim/adam.py `_init_group`: `torch.tensor(0.0)`), made at
//! the first step (Adagrad's in its constructor) and incremented in place after that, so the
//! names reach one per parameter, as `scripts/parity.py` finds under PyTorch 2.15. With
//! `capturable=True` it lives on the device instead, where the leak checker counts it.

use std::path::Path;

use leakharness::check::{hold_scenario, CheckOptions, Holding};
use leakharness::device::Backend;
use leakharness::scenario::parse_scenario;

const PROGRAM: &str = r#"import torch
w = torch.zeros(4, 3, requires_grad=True)
b = torch.zeros(3, requires_grad=True)
adam = torch.optim.Adam([w, b])
ada = torch.optim.Adagrad([w])
sgd = torch.optim.SGD([b], lr=0.1, momentum=0.9)
for i in range(2):
    (w.sum() + b.sum()).backward()
    adam.step()
    sgd.step()
    before_next = i
keep = adam.state_dict()["state"][0]["step"]
done = True
"#;

/// The 0-dim float32 tensors (4 bytes) held before the statement on `line`, at its `nth`
/// execution.
fn steps_held(records: &[Holding], line: u32, nth: usize) -> usize {
    let r = records.iter().filter(|r| r.line == line).nth(nth).unwrap();
    r.tensors
        .iter()
        .filter(|t| t.shape.is_empty() && t.dtype == "torch.float32" && t.storage_bytes == 4)
        .count()
}

#[test]
fn step_counters_are_held_as_pytorch_holds_them() {
    let scenario = parse_scenario(Path::new("t.py"), PROGRAM).unwrap();
    let options = CheckOptions {
        backend: Backend::Meta,
        ..CheckOptions::default()
    };
    let h = hold_scenario(&scenario, &options).unwrap();
    assert_eq!(h.error, None);
    // Adagrad's counter exists from its constructor; Adam's two come with its first step; SGD
    // keeps none. The second step updates them in place.
    assert_eq!(steps_held(&h.records, 6, 0), 1, "before SGD is made");
    assert_eq!(steps_held(&h.records, 8, 0), 1, "before the first backward");
    assert_eq!(
        steps_held(&h.records, 10, 0),
        3,
        "after the first Adam step"
    );
    assert_eq!(steps_held(&h.records, 10, 1), 3, "after the second");
    assert_eq!(
        steps_held(&h.records, 13, 0),
        3,
        "a kept step is one of them"
    );
}
