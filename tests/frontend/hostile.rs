//! Hostile input (issue 17): nesting, sizes and bytes that a pasted file may hold end in
//! CPython's or PyTorch's error at a location, never in a crash, a hang or a quadratic wait.

use std::path::Path;

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions, RunResult};
use leakharness::scenario::{parse_scenario, Expect, ScenarioErrors};

const DEEP: usize = 10_000;
/// Big inputs in tests; `benches/hostile.rs` times them at 100,000 on the release build, where
/// a debug build would take tens of seconds in the parser alone.
const BIG: usize = 10_000;

fn errors(source: &str) -> ScenarioErrors {
    parse_scenario(Path::new("h.py"), source).expect_err("the file is refused")
}

/// The single error a source gives, as `line:col: message`.
fn only_error(source: &str) -> String {
    let errors = errors(source);
    assert_eq!(errors.0.len(), 1, "{errors}");
    let e = &errors.0[0];
    format!("{}:{}: {}", e.line, e.col, e.message)
}

fn run_cpu(source: &str) -> RunResult {
    let scenario = parse_scenario(Path::new("h.py"), source).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    run(&scenario, &rt, &RunOptions::default(), &mut ())
}

#[test]
fn brackets_past_cpythons_200_levels_are_a_syntax_error_at_the_201st() {
    let parens = format!("x = {}1{}\n", "(".repeat(DEEP), ")".repeat(DEEP));
    let lists = format!("x = {}{}\n", "[".repeat(DEEP), "]".repeat(DEEP));
    let tuples = format!("x = {}1,{}\n", "(".repeat(DEEP), ",)".repeat(DEEP));
    let calls = format!("x = {}{}\n", "f(".repeat(DEEP), ")".repeat(DEEP));
    let dicts = format!("x = {}{}\n", "{1: ".repeat(DEEP), "}".repeat(DEEP));
    for (kind, source) in [("parens", parens), ("lists", lists), ("tuples", tuples)] {
        assert_eq!(
            only_error(&source),
            "1:205: syntax error: too many nested parentheses",
            "{kind}"
        );
    }
    assert_eq!(
        only_error(&dicts),
        "1:805: syntax error: too many nested parentheses"
    );
    // `f(` is two characters: the 201st bracket opens at column 5 + 2 * 200 + 1.
    assert_eq!(
        only_error(&calls),
        "1:406: syntax error: too many nested parentheses"
    );
    // 200 levels are fine.
    let fine = format!("x = {}1{}\n", "[".repeat(200), "]".repeat(200));
    parse_scenario(Path::new("h.py"), &fine).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn indentation_past_cpythons_100_levels_is_an_error_at_line_101() {
    let ifs: String = (0..DEEP)
        .map(|i| format!("{}if x:\n", " ".repeat(i)))
        .collect::<String>()
        + &" ".repeat(DEEP)
        + "pass\n";
    assert_eq!(
        only_error(&ifs),
        "101:1: syntax error: too many levels of indentation"
    );
    // 10,000 levels take 50 MB of indentation; the ifs above show that, a thousand defs do here.
    let defs: String = (0..1000)
        .map(|i| format!("{}def f():\n", " ".repeat(i)))
        .collect::<String>()
        + &" ".repeat(1000)
        + "pass\n";
    assert_eq!(
        only_error(&defs),
        "101:1: syntax error: too many levels of indentation"
    );
}

#[test]
fn expression_trees_past_the_recursion_limit_are_a_recursion_error() {
    let attributes = format!("x = a{}\n", ".b".repeat(DEEP));
    let unary = format!("x = {}1\n", "-".repeat(DEEP));
    let nots = format!("x = {}a\n", "not ".repeat(DEEP));
    let sums = format!("x = a{}\n", " + a".repeat(DEEP));
    for (kind, source) in [
        ("attributes", attributes),
        ("unary", unary),
        ("nots", nots),
        ("sums", sums),
    ] {
        let error = only_error(&source);
        assert!(
            error
                .ends_with(": RecursionError: maximum recursion depth exceeded during compilation"),
            "{kind}: {error}"
        );
    }
    // A thousand levels are inside the limit, as in CPython.
    let fine = format!("x = {}1\n", "-".repeat(999));
    parse_scenario(Path::new("h.py"), &fine).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn long_flat_input_parses_and_runs() {
    let terms = vec!["a"; BIG];
    let chain = format!(
        "a = 1\nx = {}\ny = {}\n",
        terms.join(" and "),
        terms.join(" or ")
    );
    let numbers: Vec<String> = (0..BIG).map(|i| i.to_string()).collect();
    let literal = format!("x = [{}]\nprint(len(x))\n", numbers.join(", "));
    let result = run_cpu(&chain);
    assert!(result.failure.is_none(), "{:?}", result.failure);
    let result = run_cpu(&literal);
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(result.output, [BIG.to_string()]);
}

#[test]
fn every_one_of_ten_thousand_errors_is_reported_in_order() {
    let source = "x = (y := 1)\n".repeat(BIG);
    let errors = errors(&source);
    assert_eq!(errors.0.len(), BIG);
    let last = &errors.0[BIG - 1];
    assert_eq!((last.line, last.col), (BIG as u32, 6));
    assert_eq!(last.source_line, "x = (y := 1)");
}

#[test]
fn print_and_tensor_of_ten_thousand_values_run() {
    let numbers: Vec<String> = (0..BIG).map(|i| (i % 10).to_string()).collect();
    let printed = run_cpu(&format!("print({})\n", numbers.join(", ")));
    assert!(printed.failure.is_none(), "{:?}", printed.failure);
    assert_eq!(printed.output[0].len(), 2 * BIG - 1);
    let tensor = run_cpu(&format!(
        "import torch\nt = torch.tensor([{}])\nprint(t.shape[0])\n",
        numbers.join(", ")
    ));
    assert!(tensor.failure.is_none(), "{:?}", tensor.failure);
    assert_eq!(tensor.output, [BIG.to_string()]);
}

#[test]
fn a_byte_order_mark_does_not_hide_the_first_header_line() {
    let scenario = parse_scenario(
        Path::new("h.py"),
        "\u{feff}#@ expect: oom\nimport torch\nx = (y := 1)\n",
    );
    let errors = scenario.expect_err("the walrus is refused");
    // Columns count after the mark, as CPython's do.
    assert_eq!((errors.0[0].line, errors.0[0].col), (3, 6));
    let scenario =
        parse_scenario(Path::new("h.py"), "\u{feff}#@ expect: oom\nimport torch\n").unwrap();
    assert_eq!(scenario.header.expect, Expect::Oom);
}

fn run_on(backend: Backend, source: &str) -> (RunResult, Runtime) {
    let scenario = parse_scenario(Path::new("h.py"), source).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let result = run(&scenario, &rt, &RunOptions::default(), &mut ());
    (result, rt)
}

fn failure(result: &RunResult) -> String {
    let failure = result.failure.as_ref().expect("the program fails");
    format!(
        "{}:{}: {}",
        failure.error.line, failure.error.col, failure.error.message
    )
}

#[test]
fn a_host_tensor_the_host_cannot_hold_is_pytorchs_runtime_error() {
    // 2^61 float32 elements: more bytes than any address space; PyTorch's allocator fails the
    // same way for 10^9 elements under a 4 GiB `ulimit -v`.
    let (result, _) = run_on(
        Backend::Cpu,
        "import torch
x = torch.zeros(2**61)
",
    );
    assert_eq!(
        failure(&result),
        "2:5: RuntimeError: [enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: \
         can't allocate memory: you tried to allocate 9223372036854775808 bytes. Error code 12 \
         (Cannot allocate memory)"
    );
}

#[test]
fn python_sequences_the_host_cannot_hold_are_memory_errors() {
    for expr in [
        "[0] * 2**62",
        "(0,) * 2**62",
        "'ab' * 2**61",
        "[0, 1] * 2**62",
    ] {
        let (result, _) = run_on(
            Backend::Meta,
            &format!(
                "x = {expr}
"
            ),
        );
        assert_eq!(failure(&result), "1:5: MemoryError: ", "{expr}");
    }
    // Caught as CPython's would be, and the program goes on.
    let (result, _) = run_on(
        Backend::Meta,
        "try:\n    x = [0] * 2**62\nexcept MemoryError:\n    print('caught')\n",
    );
    assert_eq!(result.output, ["caught"]);
}

#[test]
fn meta_tensors_never_hold_values_however_large() {
    let (result, rt) = run_on(
        Backend::Meta,
        "#@ device-memory: 1TiB
import torch
x = torch.zeros(10**10, device='cuda')
y = torch.ones(10**10, device='cuda')
x.fill_(3)
y.zero_()
print(x.shape[0])
",
    );
    assert!(result.failure.is_none(), "{}", failure(&result));
    assert_eq!(result.output, ["10000000000"]);
    assert_eq!(rt.memory_allocated(), 0, "every name dropped at the end");
}

mod cli {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    fn leakharness(args: &[&str], dir: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_leakharness"))
            .args(args)
            .arg("--report-dir")
            .arg(dir.join("reports"))
            .current_dir(dir)
            .output()
            .expect("the binary runs")
    }

    fn fresh(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lh-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const CLEAN: &str = "import torch\nx = torch.zeros(4, device='cuda')\n";

    #[test]
    fn scenarios_with_the_same_name_get_reports_of_their_own() {
        let dir = fresh("names");
        for sub in ["a", "b"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            std::fs::write(dir.join(sub).join("s.py"), CLEAN).unwrap();
        }
        let out = leakharness(&["run", "a/s.py", "b/s.py", "--backend", "meta"], &dir);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let reports = dir.join("reports");
        let first: serde_json::Value =
            serde_json::from_slice(&std::fs::read(reports.join("s.json")).unwrap()).unwrap();
        let second: serde_json::Value =
            serde_json::from_slice(&std::fs::read(reports.join("s~2.json")).unwrap()).unwrap();
        assert_eq!(first["scenario"], "a/s.py");
        assert_eq!(second["scenario"], "b/s.py");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn discovery_walks_each_directory_once_and_reads_only_regular_files() {
        let dir = fresh("discover");
        let tree = dir.join("tree");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("sub").join("s.py"), CLEAN).unwrap();
        // Two links back to the top: without a visited set, 2^depth paths.
        std::os::unix::fs::symlink(&tree, tree.join("sub").join("up")).unwrap();
        std::os::unix::fs::symlink(&tree, tree.join("sub").join("again")).unwrap();
        let fifo = std::ffi::CString::new(tree.join("x.py").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let out = leakharness(&["run", "tree", "--backend", "meta"], &dir);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
        // Named on the command line, a FIFO is refused rather than read.
        let out = leakharness(&["run", "tree/x.py", "--backend", "meta"], &dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("tree/x.py: not a regular file"), "{stderr}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn json_output_is_only_json_and_a_parse_error_is_a_report_with_verdict_error() {
        let dir = fresh("json");
        std::fs::write(
            dir.join("bad.py"),
            format!("x = {}1{}\n", "(".repeat(300), ")".repeat(300)),
        )
        .unwrap();
        let out = leakharness(&["run", "bad.py", "--format", "json"], &dir);
        assert_eq!(out.status.code(), Some(2));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("only JSON");
        assert_eq!(report["verdict"], "error");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("bad.py:1:205: error: syntax error: too many nested parentheses"),
            "{stderr}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn escape_sequences_in_a_scenario_reach_the_terminal_as_text() {
        let dir = fresh("escape");
        std::fs::write(
            dir.join("e.py"),
            "x = 1 # \x1b[2J\x1b]0;title\x07\ny := 2\n",
        )
        .unwrap();
        std::fs::write(dir.join("r.py"), "raise ValueError('\x1b[31mred')\n").unwrap();
        for file in ["e.py", "r.py"] {
            let out = leakharness(&["run", file, "--backend", "meta"], &dir);
            assert_eq!(out.status.code(), Some(2));
            for stream in [&out.stdout, &out.stderr] {
                let text = String::from_utf8_lossy(stream);
                assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_header_after_a_byte_order_mark_is_kept() {
        let dir = fresh("bom");
        std::fs::write(dir.join("b.py"), format!("\u{feff}#@ expect: oom\n{CLEAN}")).unwrap();
        let out = leakharness(&["run", "b.py", "--backend", "meta"], &dir);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains("expected oom"), "{stdout}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_device_memory_header_of_the_largest_size_is_a_capacity_not_an_allocation() {
        let dir = fresh("capacity");
        let max = format!("#@ device-memory: {}\n{CLEAN}", u64::MAX);
        std::fs::write(dir.join("max.py"), max).unwrap();
        for backend in ["cpu", "meta"] {
            let out = leakharness(&["run", "max.py", "--backend", backend], &dir);
            assert_eq!(out.status.code(), Some(0), "{backend}: {out:?}");
        }
        let past = format!("#@ device-memory: 18446744073709551616\n{CLEAN}");
        std::fs::write(dir.join("past.py"), past).unwrap();
        let out = leakharness(&["run", "past.py", "--backend", "meta"], &dir);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("past.py:1:"), "{stderr}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn sigint_and_sigterm_stop_within_a_second_and_leave_no_partial_report() {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            let dir = fresh(&format!("signal{signal}"));
            std::fs::write(dir.join("a.py"), CLEAN).unwrap();
            std::fs::write(dir.join("b.py"), "for i in range(10**12):\n    pass\n").unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_leakharness"))
                .args(["run", "a.py", "b.py", "--backend", "meta"])
                .args(["--max-steps", "1000000000000", "--time-limit", "600"])
                .arg("--report-dir")
                .arg(dir.join("reports"))
                .current_dir(&dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let first = dir.join("reports").join("a.json");
            let waited = std::time::Instant::now();
            while !first.exists() {
                assert!(waited.elapsed().as_secs() < 60, "a.py is never reported");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // b.py is running now, with no end for a long time.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let id = libc::pid_t::try_from(child.id()).unwrap();
            let sent = std::time::Instant::now();
            // SAFETY: sending a signal to the child this test started.
            assert_eq!(unsafe { libc::kill(id, signal) }, 0);
            let out = child.wait_with_output().unwrap();
            let took = sent.elapsed();
            assert!(took.as_millis() < 1500, "stopped after {took:?}");
            assert_eq!(out.status.code(), Some(130));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("interrupted: 1 of 2 scenario files checked"),
                "{stderr}"
            );
            let left: Vec<String> = std::fs::read_dir(dir.join("reports"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with('b') || name.ends_with(".tmp"))
                .collect();
            assert!(left.is_empty(), "{left:?}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// A signal during one long host operation stops it inside (its kernel looks at the run's
    /// interrupt flag between blocks), and the run ends by itself: the JUnit file, which only
    /// a run that ends by itself writes (the handler's fallback ends the process without it),
    /// lists the file that finished and not the one interrupted.
    #[cfg(unix)]
    #[test]
    fn a_signal_inside_one_long_operation_stops_it_and_reports_what_finished() {
        let dir = fresh("signal_inside");
        std::fs::write(dir.join("a.py"), CLEAN).unwrap();
        // Many products of middling size: minutes of work in one statement, in blocks of rows
        // short enough, even unoptimized, for the stop to come long before the handler's
        // fallback (0.9 s) on a loaded machine.
        let products = format!(
            "import torch\na = torch.empty(1024, 1024, device='cuda')\nc = a{}\n",
            " @ a".repeat(60)
        );
        std::fs::write(dir.join("b.py"), products).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_leakharness"))
            .args([
                "run",
                "a.py",
                "b.py",
                "--backend",
                "cpu",
                "--time-limit",
                "600",
            ])
            .args(["--junit", "junit.xml", "--report-dir"])
            .arg(dir.join("reports"))
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let first = dir.join("reports").join("a.json");
        let waited = std::time::Instant::now();
        while !first.exists() {
            assert!(waited.elapsed().as_secs() < 60, "a.py is never reported");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // b.py's products are running now: minutes of work in one statement.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let id = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: sending a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(id, libc::SIGINT) }, 0);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("interrupted: 1 of 2 scenario files checked"),
            "{stderr}"
        );
        let junit = std::fs::read_to_string(dir.join("junit.xml"))
            .expect("a run that stops by itself writes its JUnit file");
        assert!(junit.contains("a.py") && !junit.contains("b.py"), "{junit}");
        let left: Vec<String> = std::fs::read_dir(dir.join("reports"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('b') || name.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The fuzz targets' own code, so that a saved finding replays exactly as the fuzzer ran it.
#[path = "../../fuzz/src/lib.rs"]
mod fuzz_targets;

#[test]
fn every_saved_fuzz_finding_runs_without_a_crash_or_a_hang() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        match path.extension().and_then(|e| e.to_str()) {
            Some("py") => fuzz_targets::scenario(&bytes),
            Some("bin") => fuzz_targets::allocator(&bytes),
            _ => continue,
        }
        replayed += 1;
    }
    assert!(
        replayed >= 15,
        "only {replayed} fuzz regressions found in {}",
        dir.display()
    );
}

/// Runs `source` on `backend` under a 100 ms time limit.
fn run_for_100ms(backend: Backend, source: &str) -> RunResult {
    let scenario = parse_scenario(Path::new("h.py"), source).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let options = RunOptions {
        time_limit: std::time::Duration::from_millis(100),
        ..RunOptions::default()
    };
    run(&scenario, &rt, &options, &mut ())
}

#[test]
fn a_large_random_tensor_stops_at_the_time_limit_while_it_is_drawn() {
    // The fuzzer's hang (tests/fixtures/fuzz/scenario-75ebb372110899df.py): the cpu backend drew
    // all of a `randn` in one go, 16 million normals taking seconds in a debug build, and the
    // limit was looked at only after it. Drawn in blocks, the run stops inside the call.
    for call in ["randn", "rand"] {
        let source = format!("x = torch.{call}(4096, 4096)\nprint('done')\n");
        let result = run_for_100ms(Backend::Cpu, &format!("import torch\n{source}"));
        let stopped = failure(&result);
        assert!(
            stopped.starts_with("2:5: RuntimeError: the scenario ran longer than 100ms"),
            "{call}: {stopped}"
        );
        assert!(result.output.is_empty());
    }
}

#[test]
fn one_long_sequence_repetition_stops_at_the_time_limit_not_after_it() {
    // The fuzzer's hang: a 2 GiB string the host can hold takes seconds to fill. Checked only
    // between statements, the limit would end the run at line 2, after the whole string; it
    // must end inside the repetition, at line 1, having filled about a tenth of a second of it.
    let result = run_for_100ms(Backend::Meta, "y = 'a' * 2**31\nprint('done')\n");
    let stopped = failure(&result);
    assert!(
        stopped.starts_with("1:5: RuntimeError: the scenario ran longer than 100ms"),
        "{stopped}"
    );
    assert!(result.output.is_empty());
}

#[test]
fn unpacking_a_huge_tensor_looks_at_three_rows() {
    // The fuzzer's hang of 2026-11-28 (tests/fixtures/fuzz/): `la, ge = torch.empty(7864320)`
    // made all 7.8 million row views before counting them. Rows are now made as they are
    // reached, and unpacking into two names takes three, as CPython does.
    let result = run_for_100ms(
        Backend::Meta,
        "import torch\nla, ge = torch.empty(30 * 2**20 // 4)\nprint('done')\n",
    );
    let stopped = failure(&result);
    assert!(
        stopped.starts_with("2:")
            && stopped.contains("ValueError: too many values to unpack (expected 2)"),
        "{stopped}"
    );
    let result = run_for_100ms(
        Backend::Cpu,
        "import torch\na, b = torch.ones(2, 3)\nprint(a.shape[0], b.sum().item())\nfor r in torch.zeros(0, 2):\n    print(r)\n",
    );
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(result.output, ["3 3.0"]);
}

#[test]
fn a_huge_format_precision_gives_cpythons_digits_or_its_error() {
    // The fuzzer's crash of 2026-11-28 (tests/fixtures/fuzz/): `f"{x:.2222222222222222f}"`
    // reached Rust's formatter, whose precision stops at 65,535, and panicked. CPython writes
    // any precision up to INT_MAX (the digits past an f64's exact expansion are zeros) and
    // raises "precision too big" above it; these lengths are what CPython 3.11 printed.
    let result = run_for_100ms(
        Backend::Meta,
        "x = 1.5\nprint(len(f'{x:.70000f}'), len(f'{x:.70000e}'), f'{x:.70000g}', len(f'{x:.70000%}'))\ny = f'{x:.2222222222222222f}'\n",
    );
    assert_eq!(result.output, ["70002 70006 1.5 70005"]);
    let stopped = failure(&result);
    assert!(
        stopped.starts_with("3:") && stopped.contains("ValueError: precision too big"),
        "{stopped}"
    );
}

#[test]
fn a_padding_the_host_cannot_hold_is_a_memory_error() {
    // The seventh campaign's crashes of 2026-11-28 (tests/fixtures/fuzz/): an f-string width
    // of 322,222,222,214 made the host allocation abort the process.
    for line in ["y = f'{1:322222222214}'", "y = 'a'.ljust(322222222214)"] {
        let result = run_for_100ms(Backend::Meta, &format!("{line}\n"));
        let stopped = failure(&result);
        assert!(
            stopped.starts_with("1:") && stopped.contains("MemoryError"),
            "{line}: {stopped}"
        );
    }
}

#[test]
fn long_paddings_precisions_fills_and_unpackings_stop_inside_their_statement() {
    // The eighth campaign's hangs of 2026-11-28 (tests/fixtures/fuzz/): a width of 2.2 billion
    // that the host can reserve was filled to the end, and `*a, b = ` a 7.8-million-element
    // tensor made every row view, each seconds past a 0.5 s limit looked at only between
    // statements; so did the zeros of a large precision and the fill of a large host tensor
    // in the ninth. Each must end at its own line, line 1, not at the next statement.
    for line in [
        "y = f'{1.5:-{2**30}.2f}'",
        "y = 'a'.center(2**30)",
        "import torch; *a, b = torch.empty(2**23)",
        // The ninth campaign's: a precision of 522 million and an 8 GiB host `zeros`.
        "y = f'{1.5:.{2**30}f}'",
        "y = f'{1.5:.{2**30}e}'",
        "y = f'{1.5:.{2**30}%}'",
        "import torch; x = torch.zeros(2**28)",
    ] {
        let result = run_for_100ms(Backend::Meta, &format!("{line}\nprint('done')\n"));
        let stopped = failure(&result);
        assert!(
            stopped.starts_with("1:") && stopped.contains("ran longer than 100ms"),
            "{line}: {stopped}"
        );
        assert!(result.output.is_empty());
    }
}

#[test]
fn a_huge_slice_step_and_a_mismatched_unpack_hook_are_answers_not_crashes() {
    // The tenth campaign's crashes of 2026-11-28 (tests/fixtures/fuzz/): `tokens[::2**62] = 0`
    // overflowed the stride (ATen lets it wrap to 0 and assigns the first row), and a stash
    // that filed every saved tensor under one key handed nll_loss's backward a tensor of the
    // wrong size, which indexed past its end.
    let result = run_for_100ms(
        Backend::Meta,
        "import torch\nt = torch.zeros(4, 8, dtype=torch.long)\nt[::2**62] = 1\nprint(tuple(t[::2**62].shape), t.stride(), int(t.sum()))\n",
    );
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(result.output, ["(1, 8) (8, 1) 8"]);
    let stash = "import torch\nimport torch.nn.functional as F\nstore = {}\ndef pack(t):\n    store[0] = t\n    return 0\ndef unpack(k):\n    return store[k]\nw = torch.randn(4, 3, requires_grad=True)\nwith torch.autograd.graph.saved_tensors_hooks(pack, unpack):\n    loss = F.cross_entropy(w, torch.tensor([0, 1, 2, 0]))\nloss.backward()\n";
    let result = run_for_100ms(Backend::Cpu, stash);
    let stopped = failure(&result);
    assert!(
        stopped.starts_with("12:") && stopped.contains("unpack_hook returned a tensor of size"),
        "{stopped}"
    );
}
