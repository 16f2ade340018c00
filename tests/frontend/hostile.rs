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
