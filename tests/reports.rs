//! Reports as a bug ticket or a viewer gets them: the same run gives the same bytes, and every
//! format says what the scenario did.

use std::path::Path;

use leakharness::check::{check_file, CheckOptions, FileOutcome};
use leakharness::device::Backend;
use leakharness::report::{render_markdown, Report};

fn report(path: &str, backend: Backend) -> Report {
    let options = CheckOptions {
        backend,
        ..CheckOptions::default()
    };
    match check_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join(path), &options) {
        FileOutcome::Checked(r) => *r,
        other => panic!("{path} was not checked: {other:?}"),
    }
}

#[test]
fn identical_runs_give_identical_reports_on_the_simulated_devices() {
    for backend in [Backend::Cpu, Backend::Meta] {
        // From one call site, so that even the Rust stacks in the JSON are the same.
        let [a, b] = [0, 1].map(|_| report("scenarios/leaks/losses_appended_attached.py", backend));
        // Whatever the host has, the simulated card is the 80 GiB one.
        assert!(a.device.contains("80.00 GiB"), "{}", a.device);
        assert_eq!(
            serde_json::to_string_pretty(&a).unwrap(),
            serde_json::to_string_pretty(&b).unwrap(),
            "{backend}"
        );
        assert_eq!(render_markdown(&a), render_markdown(&b), "{backend}");
    }
}
