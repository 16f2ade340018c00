//! Reports as a bug ticket or a viewer gets them: the same run gives the same bytes, and every
//! format says what the scenario did.

use std::path::Path;

use leakharness::check::{check_file, CheckOptions, FileOutcome};
use leakharness::device::Backend;
use leakharness::report::{human_summary, memory_snapshot, render_html, render_markdown, Report};

fn report(path: &str, backend: Backend) -> Report {
    let options = CheckOptions {
        backend,
        ..CheckOptions::default()
    };
    // Relative to the package root, where cargo runs tests, so snapshots name it portably.
    match check_file(Path::new(path), &options) {
        FileOutcome::Checked(mut r) => {
            // The platform differs between the machines that run the tests; the rest must not.
            r.environment.os = "linux x86_64".into();
            *r
        }
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
        assert_eq!(render_html(&a), render_html(&b), "{backend}");
        // The memory snapshot too, but for its timestamps.
        let without_times = |r: &Report| {
            let mut snapshot = memory_snapshot(r).unwrap();
            for event in snapshot["device_traces"][0].as_array_mut().unwrap() {
                event["time_us"] = 0.into();
            }
            snapshot
        };
        assert_eq!(without_times(&a), without_times(&b), "{backend}");
    }
}

/// What a ticket gets for a leak found as expected, and for a scenario that misses its
/// expectation: the Markdown report and the human summary, reviewed as snapshots.
#[test]
fn markdown_and_human_reports_of_a_leak() {
    let mut r = report("scenarios/leaks/losses_appended_attached.py", Backend::Meta);
    r.command =
        Some("leakharness run scenarios/leaks/losses_appended_attached.py --backend meta".into());
    // A growth leak is the program's doing: its report shows scenario lines, no Rust stack.
    assert!(!render_markdown(&r).contains("<details>"));
    insta::assert_snapshot!("leak_as_expected.md", render_markdown(&r));
    insta::assert_snapshot!("leak_as_expected.human", human_summary(&r));
    let failing = report(
        "tests/fixtures/failing/claims_clean_but_leaks.py",
        Backend::Meta,
    );
    insta::assert_snapshot!("unexpected_leak.md", render_markdown(&failing));
    insta::assert_snapshot!("unexpected_leak.human", human_summary(&failing));
}

#[test]
fn markdown_of_a_clean_run_and_of_an_oom() {
    let clean = report("scenarios/clean/losses_appended_item.py", Backend::Meta);
    insta::assert_snapshot!("clean.md", render_markdown(&clean));
    let oom = report("scenarios/oom/adam_on_small_device.py", Backend::Meta);
    insta::assert_snapshot!("oom.md", render_markdown(&oom));
}

fn leakharness(args: &[&str], report_dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_leakharness"))
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("leakharness-reports-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn json_output_is_a_valid_report_for_a_file_that_does_not_parse() {
    let dir = temp_dir("json-invalid");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/invalid/unsupported.py",
            "scenarios/leaks/design_example.py",
            "--backend",
            "meta",
            "--format",
            "json",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("docs/report-schema.json").unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(reports.len(), 2, "{stdout}");
    for r in &reports {
        let errors: Vec<String> = validator.iter_errors(r).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    let by_name = |name: &str| {
        reports
            .iter()
            .find(|r| r["scenario"].as_str().unwrap().ends_with(name))
            .unwrap()
    };
    let invalid = by_name("unsupported.py");
    assert_eq!(invalid["verdict"], "error");
    assert_eq!(invalid["error"]["line"], 3);
    assert!(by_name("design_example.py")["command"]
        .as_str()
        .unwrap()
        .starts_with("leakharness run "));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn jsonl_output_is_one_event_a_line() {
    let dir = temp_dir("jsonl");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/failing/claims_clean_but_leaks.py",
            "--backend",
            "meta",
            "--format",
            "jsonl",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(1));
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"started"));
    assert_eq!(names.last(), Some(&"finished"));
    assert!(
        names.contains(&"iteration") && names.contains(&"leak"),
        "{names:?}"
    );
    assert_eq!(events.last().unwrap()["outcome"], "Unexpected leak");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn allowed_leaks_pass_and_stale_allowances_are_reported() {
    let r = report("tests/fixtures/allowed/accepted_history.py", Backend::Meta);
    assert!(r.passed, "{}", human_summary(&r));
    assert_eq!(leakharness::report::outcome(&r), "Allowed leak");
    let allowed = r.leaks[0].allowed.as_deref().unwrap();
    assert!(
        allowed.contains("(header): the caller trims the history every epoch"),
        "{allowed}"
    );
    let stale: Vec<&str> = r
        .stale_allowances
        .iter()
        .map(|a| a.reason.as_str())
        .collect();
    assert_eq!(stale, ["fixed long ago", "no longer happens"]);
    // Named as the user would, relative to where they run.
    assert_eq!(
        r.stale_allowances[1].from,
        "tests/fixtures/allowed/leakharness.toml"
    );
    let md = render_markdown(&r);
    assert!(
        md.contains("**Allowed:** allowed up to 1024 bytes per iteration"),
        "{md}"
    );
    assert!(md.contains("## Stale allowances"), "{md}");
    assert!(human_summary(&r).contains("stale allowance"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("docs/report-schema.json").unwrap()).unwrap();
    let json = serde_json::to_value(&r).unwrap();
    let errors: Vec<String> = jsonschema::validator_for(&schema)
        .unwrap()
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_bad_leakharness_toml_is_an_error_at_its_line_and_column() {
    let dir = temp_dir("bad-toml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        "tests/fixtures/allowed/accepted_history.py",
        dir.join("s.py"),
    )
    .unwrap();
    std::fs::write(
        dir.join("leakharness.toml"),
        "[[allow]]\nreason = \"x\"\nmax-per-iteration = \"1KiB\"\nsize = 3\n",
    )
    .unwrap();
    match check_file(
        &dir.join("s.py"),
        &CheckOptions {
            backend: Backend::Meta,
            ..CheckOptions::default()
        },
    ) {
        FileOutcome::Invalid(message) => assert!(
            message.contains("leakharness.toml:4:1: error: unknown field `size`"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_command_line_says_a_leak_is_allowed_and_lists_stale_allowances() {
    let dir = temp_dir("allowed-cli");
    let out = leakharness(
        &["run", "tests/fixtures/allowed", "--backend", "meta"],
        &dir,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("accepted_history.py ... ok (leak allowed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stale allowance, it accepts no leak any more (remove it): line 99"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
