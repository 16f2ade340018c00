//! The `leakharness` binary as users meet it: exit codes, what it prints for a failing
//! scenario, errors for bad input, and reports that follow the documented schema.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn leakharness(args: &[&str], report_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leakharness"))
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leakharness-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn a_scenario_that_misses_its_expectation_fails_readably_with_exit_1() {
    let dir = temp_dir("failing");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/failing/claims_clean_but_leaks.py",
            "--backend",
            "cpu",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    for expected in [
        "tests/fixtures/failing/claims_clean_but_leaks.py ... FAILED",
        "expected clean, found leak",
        "claims_clean_but_leaks.py:16:5: losses.append(loss)",
        "tensor-list, retained-graph: 512 bytes and",
        "held by losses[0]",
        "help: append loss.item() instead",
        "report: ",
        "0 passed, 1 failed",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let md = std::fs::read_to_string(dir.join("claims_clean_but_leaks.md")).unwrap();
    assert!(
        md.contains(">>   16 |     losses.append(loss)"),
        "the retaining line is marked:\n{md}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_scenarios_exit_2_with_every_error_located() {
    let dir = temp_dir("invalid");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/invalid/unsupported.py",
            "--backend",
            "meta",
        ],
        &dir,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in [
        "tests/fixtures/invalid/unsupported.py:3:8: error: importing `requests` is not supported in scenarios",
        "tests/fixtures/invalid/unsupported.py:5:1: error:",
        "tests/fixtures/invalid/unsupported.py:8:1: error:",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_file_that_is_not_utf8_is_an_error_at_its_line_and_column() {
    let dir = temp_dir("utf8");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/invalid/not_utf8.py",
            "--backend",
            "meta",
        ],
        &dir,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not_utf8.py:1:14: error: file is not valid UTF-8"),
        "{stderr}"
    );
}

#[test]
fn a_runtime_error_is_located_as_pytorch_words_it_and_exits_2() {
    let dir = temp_dir("shape");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/invalid/shape_mismatch.py",
            "--backend",
            "cpu",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(
            "shape_mismatch.py:5:5: error: RuntimeError: mat1 and mat2 shapes cannot be multiplied (8x10 and 16x4)"
        ),
        "{stdout}"
    );
}

#[test]
fn undefined_names_and_unknown_torch_functions_are_found_before_running() {
    let dir = temp_dir("static");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/invalid/name_error.py",
            "--backend",
            "cpu",
        ],
        &dir,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("name_error.py:4:9: error: NameError: name 'z' is not defined"),
        "{stderr}"
    );
    assert!(
        stderr.contains("name_error.py:5:5: error: `torch.histc` is not supported in scenarios"),
        "{stderr}"
    );
}

#[test]
fn a_runaway_scenario_is_stopped_by_the_statement_limit() {
    let dir = temp_dir("limit");
    let out = leakharness(
        &[
            "run",
            "scenarios/clean/gradient_accumulation.py",
            "--backend",
            "meta",
            "--max-steps",
            "50",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("the scenario executed more than 50 statements and was stopped"),
        "{stdout}"
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = temp_dir("args");
    let out = leakharness(&["run", "no/such/dir"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no/such/dir"),
        "{}",
        text(&out.stderr)
    );
    let out = leakharness(&["run", "scenarios", "--backend", "tpu"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown backend `tpu`"));
    let out = leakharness(&["run", "scenarios", "--device-memory", "lots"], &dir);
    assert_eq!(out.status.code(), Some(2));
    if leakharness::device::cuda_device_count().unwrap_or(0) == 0 {
        let out = leakharness(&["run", "scenarios", "--backend", "cuda"], &dir);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains("--backend cuda"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn json_output_and_reports_follow_the_documented_schema() {
    let dir = temp_dir("schema");
    let out = leakharness(
        &["run", "scenarios", "--backend", "meta", "--format", "json"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("docs/report-schema.json").unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema itself is valid");
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert!(lines.len() >= 26, "one JSON report per scenario");
    let mut kinds_seen = std::collections::BTreeSet::new();
    for line in &lines {
        let report: serde_json::Value = serde_json::from_str(line).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", report["scenario"]);
        kinds_seen.insert(report["verdict"].as_str().unwrap().to_string());
    }
    assert!(
        kinds_seen.is_superset(&["clean", "leak", "oom", "error"].map(String::from).into()),
        "{kinds_seen:?}"
    );
    // The files on disk are the same reports.
    let on_disk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("leaks-design_example.json")).unwrap(),
    )
    .unwrap();
    assert!(validator.is_valid(&on_disk));
    assert_eq!(on_disk["verdict"], "leak");
    assert!(dir.join("leaks-design_example.md").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explore_checks_generated_programs_and_reports_no_findings_for_a_correct_checker() {
    let dir = temp_dir("explore");
    let out = Command::new(env!("CARGO_BIN_EXE_leakharness"))
        .args([
            "explore",
            "--cases",
            "6",
            "--seed",
            "3",
            "--backend",
            "meta",
            "--found-dir",
        ])
        .arg(&dir)
        .output()
        .expect("the binary runs");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("6 cases, 0 findings (seed 3)"), "{stdout}");
    assert!(
        !dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_none(),
        "no findings written"
    );
}

/// `leakharness trace` gives the counters before each simple statement, in execution order,
/// in the shape `benches/pytorch_trace.py` records under PyTorch.
#[test]
fn trace_prints_the_counters_before_every_simple_statement() {
    let out = Command::new(env!("CARGO_BIN_EXE_leakharness"))
        .args([
            "trace",
            "scenarios/memory/allocator_rounding_and_segments.py",
            "--backend",
            "meta",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    let samples = trace["samples"].as_array().expect("samples");
    let at = |line: u64| {
        samples
            .iter()
            .find(|s| s["line"] == line)
            .unwrap_or_else(|| panic!("a sample for line {line}"))
    };
    // Nothing before `scale = torch.tensor(1.0)` on line 14; its 512-byte block before the
    // assertion on line 16; the `if` header on line 15 is never sampled.
    assert_eq!(at(14)["allocated"], 0);
    assert_eq!(at(16)["allocated"], 512);
    assert_eq!(at(16)["reserved"], 2 << 20);
    assert!(
        samples.iter().all(|s| s["line"] != 15),
        "line 15 is an `if`"
    );
    assert!(trace["error"].is_null());
}

#[test]
fn a_reader_that_goes_away_ends_the_listing_not_the_run() {
    let dir = temp_dir("closed-pipe");
    let junit = dir.join("junit.xml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakharness"))
        .args([
            "run",
            "scenarios/leaks/design_example.py",
            "--backend",
            "meta",
        ])
        .arg("--report-dir")
        .arg(&dir)
        .arg("--junit")
        .arg(&junit)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // `leakharness run ... | head -0`: the reader closes its end before anything is printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("the binary ends");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(junit.exists(), "the JUnit file is still written");
    let _ = std::fs::remove_dir_all(&dir);
}
