//! The held-by path of a leak goes to a block the loop has left behind (the oldest one
//! allocated in a loop), from the name that reaches it: for an LSTM whose state is carried
//! without detach, the state the script holds, not the output the current chunk just made.

use std::path::Path;

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::device::Backend;
use leakharness::report::{LeakKind, Report};
use leakharness::scenario::{load, parse_scenario};

fn meta() -> CheckOptions {
    CheckOptions {
        backend: Backend::Meta,
        ..CheckOptions::default()
    }
}

fn path_of(r: &Report) -> &[String] {
    let [leak] = r.leaks.as_slice() else {
        panic!("one leak: {:#?}", r.leaks)
    };
    assert!(
        leak.kinds.contains(&LeakKind::CarriedState),
        "{:?}",
        leak.kinds
    );
    &leak.retention_path
}

#[test]
fn a_carried_lstm_state_is_held_by_the_state_down_to_the_first_chunk() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join("leaks/lstm_hidden_not_detached.py");
    let r = check_scenario(&load(&scenario).unwrap(), &meta()).unwrap();
    let path = path_of(&r);
    assert_eq!(&path[..2], ["hidden", "[0]"], "{path:#?}");
    let last = path.last().unwrap();
    assert!(last.ends_with("in iteration 0"), "{path:#?}");
}

#[test]
fn separate_h_and_c_names_start_the_path_at_one_of_them() {
    let text = r#"import torch
import torch.nn as nn

lstm = nn.LSTM(8, 16).cuda()
h = torch.zeros(1, 4, 16, device="cuda")
c = torch.zeros(1, 4, 16, device="cuda")
for i in range(4):
    chunk = torch.rand(3, 4, 8, device="cuda")
    out, (h, c) = lstm(chunk, (h, c))
"#;
    let scenario = parse_scenario("lstm_hc.py".as_ref(), text).unwrap();
    let r = check_scenario(&scenario, &meta()).unwrap();
    let path = path_of(&r);
    assert!(path[0] == "h" || path[0] == "c", "{path:#?}");
    assert!(
        path.last().unwrap().ends_with("in iteration 0"),
        "{path:#?}"
    );
}
