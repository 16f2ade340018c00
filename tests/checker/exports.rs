//! The files other tools open: the PyTorch memory snapshot (pytorch.org/memory_viz), Chrome
//! trace events (ui.perfetto.dev) and JUnit XML (CI), made by `leakharness run`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

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
    let dir =
        std::env::temp_dir().join(format!("leakharness-exports-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The opcodes memory_viz's own unpickler (torch/utils/viz/MemoryViz.js) knows, with the
/// bytes of argument each takes (`None`: a length-prefixed one). Anything else it rejects.
fn memory_viz_argument(opcode: u8) -> Option<Option<usize>> {
    Some(match opcode {
        b'e' | b'}' | b']' | b'(' | 0x94 | b'u' | b'.' | 0x86 | b'a' | 0x89 | 0x88 | b'N'
        | b')' | b't' | 0x85 | 0x87 | b'l' | b'd' | b's' => Some(0),
        0x80 | b'K' | b'h' | b'q' => Some(1),
        b'M' => Some(2),
        b'J' | b'j' | b'r' => Some(4),
        0x95 | b'G' => Some(8),
        0x8a | 0x8c | b'X' => None,
        _ => return None,
    })
}

/// Walks the pickle's opcodes; the protocol it declares.
fn check_opcodes(bytes: &[u8]) -> u8 {
    assert_eq!(bytes[0], 0x80, "starts with PROTO");
    let protocol = bytes[1];
    let mut i = 0;
    loop {
        let op = bytes[i];
        i += 1;
        let arg = memory_viz_argument(op)
            .unwrap_or_else(|| panic!("opcode {op:#x} at {} is one memory_viz cannot read", i - 1));
        i += match (op, arg) {
            (_, Some(n)) => n,
            (0x8a | 0x8c, None) => 1 + bytes[i] as usize,
            (_, None) => 4 + u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize,
        };
        if op == b'.' {
            assert_eq!(i, bytes.len(), "STOP ends the file");
            return protocol;
        }
    }
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn snapshot_pickle_is_what_memory_viz_loads() {
    let dir = temp_dir("snapshot");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/failing/claims_clean_but_leaks.py",
            "--backend",
            "meta",
            "--snapshot",
        ],
        &dir,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(dir.join("claims_clean_but_leaks.pickle")).unwrap();
    let protocol = check_opcodes(&bytes);
    assert!((2..=4).contains(&protocol), "protocol {protocol}");
    // Plain dicts, lists, strings and numbers: it decodes into JSON's data model.
    let snapshot: Value = serde_pickle::from_slice(&bytes, serde_pickle::DeOptions::new()).unwrap();
    let segments = snapshot["segments"].as_array().unwrap();
    let trace = snapshot["device_traces"][0].as_array().unwrap();
    assert!(!trace.is_empty());
    // Each segment's blocks are contiguous and cover it, as memory_viz assumes when it
    // gives each block the address after the one before.
    assert!(
        !segments.is_empty(),
        "the leak is still held at the snapshot"
    );
    assert!(segments.iter().any(|s| s["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["state"] == "inactive")));
    for s in segments {
        let mut at = as_u64(&s["address"]);
        for b in s["blocks"].as_array().unwrap() {
            assert_eq!(as_u64(&b["address"]), at, "{s}");
            at += as_u64(&b["size"]);
        }
        assert_eq!(at, as_u64(&s["address"]) + as_u64(&s["total_size"]));
    }
    let actions: std::collections::BTreeSet<&str> = trace
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // No segment is freed before the snapshot: empty_cache runs at teardown.
    for action in ["alloc", "free_requested", "free_completed", "segment_alloc"] {
        assert!(actions.contains(action), "{actions:?}");
    }
    // Every event is in memory_viz's category legend, "unknown" included (its loader needs it).
    let categories: std::collections::BTreeSet<&str> = trace
        .iter()
        .map(|e| e["category"].as_str().unwrap())
        .collect();
    assert!(
        categories.contains("unknown") && categories.contains("parameter"),
        "{categories:?}"
    );
    // Frames are the scenario's: the leaking allocation is line 12 of the fixture.
    let leaked = trace
        .iter()
        .filter(|e| e["action"] == "alloc")
        .find(|e| e["frames"][0]["line"] == 12)
        .expect("an allocation at line 12");
    assert_eq!(
        leaked["frames"][0]["filename"],
        "tests/fixtures/failing/claims_clean_but_leaks.py"
    );
    assert!(leaked["frames"][0]["name"].is_string());
    // Trace entries carry the size asked for, as PyTorch's record_trace does (an H100
    // snapshot shows a mean loss as 4), the segments the 512-byte block.
    let line_12: Vec<u64> = trace
        .iter()
        .filter(|e| e["action"] == "alloc" && e["frames"][0]["line"] == 12)
        .map(|e| as_u64(&e["size"]))
        .collect();
    assert!(line_12.contains(&4), "{line_12:?}");
    // The trace replays: what is allocated and never freed is exactly what the segments hold.
    let allocs = trace.iter().filter(|e| e["action"] == "alloc").count();
    let frees = trace
        .iter()
        .filter(|e| e["action"] == "free_completed")
        .count();
    let active = segments
        .iter()
        .flat_map(|s| s["blocks"].as_array().unwrap())
        .filter(|b| b["state"] == "active_allocated")
        .count();
    assert_eq!(allocs, frees + active);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trace_events_have_memory_and_graph_counters_and_a_slice_per_statement() {
    let dir = temp_dir("trace");
    let out = leakharness(
        &[
            "run",
            "scenarios/leaks/losses_appended_attached.py",
            "--backend",
            "meta",
            "--trace-events",
        ],
        &dir,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("losses_appended_attached.trace.json")).unwrap(),
    )
    .unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let named = |ph: &str, name: &str| {
        events
            .iter()
            .filter(|e| e["ph"] == ph && e["name"].as_str().unwrap().starts_with(name))
            .collect::<Vec<_>>()
    };
    let memory = named("C", "device memory");
    assert!(memory.iter().any(|e| as_u64(&e["args"]["allocated"]) > 0));
    assert!(memory.iter().all(|e| e["args"]["reserved"].is_u64()));
    // One graph-node sample per iteration of the 8-step loop.
    assert_eq!(named("C", "graph nodes").len(), 8);
    let slices = named("X", "line 17: loss = criterion(model(data), target)");
    assert_eq!(slices.len(), 8, "one slice per run of the statement");
    for e in events.iter().filter(|e| e["ph"] != "M") {
        assert!(e["ts"].as_f64().unwrap() >= 0.0 && e["pid"].is_u64(), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn junit_has_a_case_per_scenario_and_follows_the_junit_schema() {
    let dir = temp_dir("junit");
    let junit = dir.join("junit.xml");
    let out = leakharness(
        &[
            "run",
            "tests/fixtures/failing/claims_clean_but_leaks.py",
            "tests/fixtures/invalid/unsupported.py",
            "scenarios/clean/losses_appended_item.py",
            "--backend",
            "meta",
            "--junit",
            junit.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"0\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"Unexpected leak\""),
        "{xml}"
    );
    assert!(
        xml.contains("expected clean, found leak"),
        "the failure text is the human summary"
    );
    match Command::new("xmllint")
        .args(["--noout", "--schema", "tests/fixtures/schemas/junit.xsd"])
        .arg(&junit)
        .output()
    {
        Ok(lint) => assert!(
            lint.status.success(),
            "{}",
            String::from_utf8_lossy(&lint.stderr)
        ),
        Err(_) if std::env::var("LEAKHARNESS_REQUIRE_XMLLINT").as_deref() == Ok("1") => {
            panic!("LEAKHARNESS_REQUIRE_XMLLINT=1 but xmllint cannot run")
        }
        // Straight to stderr: the harness would hide eprintln! output of a passing test.
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "junit_has_a_case_per_scenario_and_follows_the_junit_schema: skipped the schema check: no xmllint (apt-get install libxml2-utils): {e}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
