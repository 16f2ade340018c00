//! A crate of one's own runs its scenarios under `cargo test` through the public harness:
//! `examples/user-crate` depends on leakharness by path and has a `leaks/` folder of scenarios.
//!
//! Its build shares this package's target directory and lock file, so only leakharness itself
//! and the example are compiled again; the dependencies are already built.

use std::process::Command;

#[test]
fn the_example_crate_runs_its_own_scenarios_under_cargo_test() {
    let root = env!("CARGO_MANIFEST_DIR");
    let reports =
        std::env::temp_dir().join(format!("leakharness-user-crate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&reports);
    // The example resolves its dependencies from this package's lock file: the same versions,
    // all already downloaded and built, so it builds offline and only compiles what differs.
    std::fs::copy(
        format!("{root}/Cargo.lock"),
        format!("{root}/examples/user-crate/Cargo.lock"),
    )
    .expect("the lock file is copied");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--offline", "--manifest-path"])
        .arg(format!("{root}/examples/user-crate/Cargo.toml"))
        .args(["--test", "leaks", "--", "--test-threads", "2"])
        .env("CARGO_TARGET_DIR", format!("{root}/target"))
        .env("LEAKHARNESS_BACKEND", "meta")
        .env("LEAKHARNESS_REPORT_DIR", &reports)
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "test train_step.py",
        "test eval_without_no_grad.py",
        "test result: ok. 2 passed",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // The reports went where the variable said, with the command that reruns the test.
    let md = std::fs::read_to_string(reports.join("eval_without_no_grad.md")).unwrap();
    assert!(
        md.contains(
            "LEAKHARNESS_BACKEND=meta cargo test --test leaks -- --exact eval_without_no_grad.py"
        ),
        "{md}"
    );
    let _ = std::fs::remove_dir_all(&reports);
}
