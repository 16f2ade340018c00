//! The scenario front end: parsing Python into the scenario AST, rejecting what the engine does
//! not run with located errors (all in one round), header comments, and printing back to Python.

use std::path::Path;

use leakharness::scenario::*;
use proptest::prelude::*;

const DESIGN_EXAMPLE: &str = r#"# Appending the attached loss keeps every step's graph alive.
#@ expect: leak retained-graph
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
losses = []
for step in range(8):
    x = torch.randn(32, 64, device=device)
    loss = nn.functional.mse_loss(model(x), torch.randn(32, 10, device=device))
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(loss)
"#;

fn parse(source: &str) -> Result<Scenario, ScenarioErrors> {
    parse_scenario(Path::new("s.py"), source)
}

#[test]
fn design_example_round_trips() {
    let scenario = parse(DESIGN_EXAMPLE).unwrap();
    let printed = print_scenario(&scenario);
    println!("{printed}");
    let again = parse(&printed).unwrap();
    assert_eq!(strip_spans(&scenario.body), strip_spans(&again.body));
    assert_eq!(scenario.header, again.header);
}

#[test]
fn a_lone_starred_index_is_a_one_element_tuple_as_in_cpython() {
    // The fuzzer's finding (tests/fixtures/fuzz/scenario-7b370ffc51b80fdd.py): `s[*a]` was kept
    // as a bare starred index and printed back as `s[(*a)]`, which does not parse.
    let scenario = parse("d = {}\nd[*a] = d[*a, 1]\n").unwrap();
    let printed = print_scenario(&scenario);
    assert!(printed.contains("d[*a,] = d[*a, 1]"), "{printed}");
    let again = parse(&printed).unwrap();
    assert_eq!(strip_spans(&scenario.body), strip_spans(&again.body));
    let StmtKind::Assign { value, .. } = &scenario.body[1].kind else {
        panic!("{:?}", scenario.body[1]);
    };
    let ExprKind::Subscript { index, .. } = &value.kind else {
        panic!("{value:?}");
    };
    assert!(matches!(&index.kind, ExprKind::Tuple(items) if items.len() == 2));
}

#[test]
fn a_starred_comprehension_element_is_cpythons_syntax_error() {
    // The fuzzer's crash of 2026-11-28 (tests/fixtures/fuzz/): rustpython's parser takes
    // `[*x for ...]`, which CPython's compiler refuses; it was printed back as `[(*x) for ...]`,
    // which does not parse.
    // (rustpython's parser refuses the set comprehension and the generator itself.)
    for refused in ["y = {*a for a in b}\n", "y = list(*a for a in b)\n"] {
        assert!(parse(refused).is_err(), "{refused}");
    }
    for source in ["y = [*a for a in b]\n", "y = [*(a, 1) for a in b if a]\n"] {
        let errors = parse(source).unwrap_err().to_string();
        assert!(
            errors.contains("s.py:1:")
                && errors
                    .contains("syntax error: iterable unpacking cannot be used in comprehension"),
            "{source}: {errors}"
        );
    }
    assert!(parse("y = [(*a,) for a in b]\n").is_ok());
}

/// proptest's 256 cases (or `PROPTEST_CASES`) where `.ci/run` asks for full counts
/// (`LEAKHARNESS_FULL_PROPERTIES=1`); a quarter of them in a developer's `cargo test`, where
/// printing and parsing back generated bodies was the frontend binary's slowest test.
fn body_cases() -> ProptestConfig {
    let config = ProptestConfig::default();
    let full = std::env::var_os("LEAKHARNESS_FULL_PROPERTIES").is_some_and(|v| v == "1");
    if full || std::env::var_os("PROPTEST_CASES").is_some() {
        config
    } else {
        ProptestConfig {
            cases: config.cases / 4,
            ..config
        }
    }
}

proptest! {
    #![proptest_config(body_cases())]
    #[test]
    fn printed_bodies_parse_back(body in arbitrary::scenario_body()) {
        let printed = print_body(&body);
        let parsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}\n--- printed:\n{printed}")))?;
        prop_assert_eq!(strip_spans(&parsed.body), body, "printed:\n{}", printed);
    }
}

proptest! {
    #[test]
    fn printed_headers_parse_back(header in arbitrary::header_strategy()) {
        let printed = print_header(&header);
        let parsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}\n--- printed:\n{printed}")))?;
        prop_assert_eq!(parsed.header, header, "printed:\n{}", printed);
    }
}

// ---------------------------------------------------------------------------------------------
// Building expected trees.

fn e(kind: ExprKind) -> Expr {
    Expr::new(kind)
}

fn name(id: &str) -> Expr {
    e(ExprKind::Name(id.to_string()))
}

fn int(i: i64) -> Expr {
    e(ExprKind::Int(i))
}

fn string(s: &str) -> Expr {
    e(ExprKind::Str(s.to_string()))
}

fn attr(value: Expr, attr: &str) -> Expr {
    e(ExprKind::Attribute {
        value: Box::new(value),
        attr: attr.to_string(),
    })
}

fn call(func: Expr, args: Vec<Expr>, keywords: Vec<(&str, Expr)>) -> Expr {
    e(ExprKind::Call {
        func: Box::new(func),
        args,
        keywords: keywords
            .into_iter()
            .map(|(name, value)| Keyword {
                name: Some(name.to_string()),
                value,
                span: Span::default(),
            })
            .collect(),
    })
}

fn bin(left: Expr, op: BinOp, right: Expr) -> Expr {
    e(ExprKind::BinOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    })
}

fn unary(op: UnaryOp, operand: Expr) -> Expr {
    e(ExprKind::UnaryOp {
        op,
        operand: Box::new(operand),
    })
}

fn s(kind: StmtKind) -> Stmt {
    Stmt::new(kind)
}

fn alias(name: &str, alias: Option<&str>) -> ImportAlias {
    ImportAlias {
        name: name.to_string(),
        alias: alias.map(String::from),
        span: Span::default(),
    }
}

fn assign(target: &str, value: Expr) -> Stmt {
    s(StmtKind::Assign {
        targets: vec![Target::Name(Name::new(target))],
        value,
    })
}

fn tname(id: &str) -> Target {
    Target::Name(Name::new(id))
}

fn body_of(source: &str) -> Vec<Stmt> {
    match parse(source) {
        Ok(scenario) => strip_spans(&scenario.body),
        Err(errors) => panic!("{source:?} should parse:\n{errors}"),
    }
}

fn expr_of(source: &str) -> Expr {
    match body_of(source).as_slice() {
        [Stmt {
            kind: StmtKind::Expr(expr),
            ..
        }] => expr.clone(),
        other => panic!("{source:?} is not one expression statement: {other:?}"),
    }
}

fn span(line: u32, col: u32, end_line: u32, end_col: u32) -> Span {
    Span {
        line,
        col,
        end_line,
        end_col,
    }
}

// ---------------------------------------------------------------------------------------------
// Every item of the subset.

#[test]
fn imports() {
    assert_eq!(
        body_of("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport torch.optim as optim\nfrom torch import nn, optim as o\n"),
        vec![
            s(StmtKind::Import(vec![alias("torch", None)])),
            s(StmtKind::Import(vec![alias("torch.nn", Some("nn"))])),
            s(StmtKind::Import(vec![alias("torch.nn.functional", Some("F"))])),
            s(StmtKind::Import(vec![alias("torch.optim", Some("optim"))])),
            s(StmtKind::ImportFrom {
                module: "torch".to_string(),
                names: vec![alias("nn", None), alias("optim", Some("o"))],
            }),
        ]
    );
}

#[test]
fn assignments() {
    assert_eq!(body_of("x = 1\n"), vec![assign("x", int(1))]);
    assert_eq!(
        body_of("a, b = t\n"),
        vec![s(StmtKind::Assign {
            targets: vec![Target::Tuple(vec![tname("a"), tname("b")], Span::default())],
            value: name("t"),
        })]
    );
    assert_eq!(
        body_of("p.grad = None\n"),
        vec![s(StmtKind::Assign {
            targets: vec![Target::Attribute {
                value: name("p"),
                attr: "grad".to_string(),
                span: Span::default(),
            }],
            value: e(ExprKind::None),
        })]
    );
    assert_eq!(
        body_of("a = d[k] = 1\n"),
        vec![s(StmtKind::Assign {
            targets: vec![
                tname("a"),
                Target::Subscript {
                    value: name("d"),
                    index: name("k"),
                    span: Span::default(),
                }
            ],
            value: int(1),
        })]
    );
    assert_eq!(
        body_of("first, *rest = xs\n"),
        vec![s(StmtKind::Assign {
            targets: vec![Target::Tuple(
                vec![
                    tname("first"),
                    Target::Starred(Box::new(tname("rest")), Span::default())
                ],
                Span::default()
            )],
            value: name("xs"),
        })]
    );
}

#[test]
fn augmented_assignments() {
    let ops = [
        ("+=", BinOp::Add),
        ("-=", BinOp::Sub),
        ("*=", BinOp::Mul),
        ("/=", BinOp::Div),
        ("//=", BinOp::FloorDiv),
        ("**=", BinOp::Pow),
        ("|=", BinOp::BitOr),
        ("<<=", BinOp::LShift),
    ];
    for (text, op) in ops {
        assert_eq!(
            body_of(&format!("total {text} loss.item()\n")),
            vec![s(StmtKind::AugAssign {
                target: tname("total"),
                op,
                value: call(attr(name("loss"), "item"), vec![], vec![]),
            })],
            "{text}"
        );
    }
}

#[test]
fn expression_del_assert_pass() {
    assert_eq!(
        body_of("loss.backward()\ndel x, y\nassert x\nassert x, \"msg\"\npass\n"),
        vec![
            s(StmtKind::Expr(call(
                attr(name("loss"), "backward"),
                vec![],
                vec![]
            ))),
            s(StmtKind::Del(vec![tname("x"), tname("y")])),
            s(StmtKind::Assert {
                test: name("x"),
                msg: None
            }),
            s(StmtKind::Assert {
                test: name("x"),
                msg: Some(string("msg"))
            }),
            s(StmtKind::Pass),
        ]
    );
}

#[test]
fn nested_for_loops_over_range() {
    let range = |args| call(name("range"), args, vec![]);
    assert_eq!(
        body_of("for i in range(8):\n    for j in range(1, 9, 2):\n        pass\n    x = i\n"),
        vec![s(StmtKind::For {
            target: tname("i"),
            iter: range(vec![int(8)]),
            body: vec![
                s(StmtKind::For {
                    target: tname("j"),
                    iter: range(vec![int(1), int(9), int(2)]),
                    body: vec![s(StmtKind::Pass)],
                    orelse: vec![],
                }),
                assign("x", name("i")),
            ],
            orelse: vec![],
        })]
    );
}

#[test]
fn with_blocks_take_any_context() {
    for context in ["no_grad", "enable_grad"] {
        assert_eq!(
            body_of(&format!("with torch.{context}():\n    pass\n")),
            vec![s(StmtKind::With {
                items: vec![WithItem {
                    context: call(attr(name("torch"), context), vec![], vec![]),
                    target: None,
                }],
                body: vec![s(StmtKind::Pass)],
            })]
        );
    }
    assert!(matches!(
        body_of("with a as x, b:\n    pass\n")[0].kind,
        StmtKind::With { ref items, .. } if items.len() == 2 && items[0].target.is_some()
    ));
}

#[test]
fn if_elif_else() {
    assert_eq!(
        body_of("if a:\n    x = 1\nelif b:\n    x = 2\nelse:\n    x = 3\n"),
        vec![s(StmtKind::If {
            test: name("a"),
            body: vec![assign("x", int(1))],
            orelse: vec![s(StmtKind::If {
                test: name("b"),
                body: vec![assign("x", int(2))],
                orelse: vec![assign("x", int(3))],
            })],
        })]
    );
}

#[test]
fn literals_and_containers() {
    assert_eq!(expr_of("42\n"), int(42));
    assert_eq!(expr_of("1e-3\n"), e(ExprKind::Float(0.001)));
    assert_eq!(expr_of("True\n"), e(ExprKind::Bool(true)));
    assert_eq!(expr_of("False\n"), e(ExprKind::Bool(false)));
    assert_eq!(expr_of("None\n"), e(ExprKind::None));
    assert_eq!(expr_of("'cuda'\n"), string("cuda"));
    assert_eq!(expr_of("x\n"), name("x"));
    assert_eq!(
        expr_of("[1, x]\n"),
        e(ExprKind::List(vec![int(1), name("x")]))
    );
    assert_eq!(expr_of("[]\n"), e(ExprKind::List(vec![])));
    assert_eq!(
        expr_of("(1, x)\n"),
        e(ExprKind::Tuple(vec![int(1), name("x")]))
    );
    assert_eq!(expr_of("()\n"), e(ExprKind::Tuple(vec![])));
}

#[test]
fn calls_attributes_subscripts() {
    assert_eq!(
        expr_of("torch.randn(32, 64, device=device)\n"),
        call(
            attr(name("torch"), "randn"),
            vec![int(32), int(64)],
            vec![("device", name("device"))]
        )
    );
    assert_eq!(
        expr_of("xs[-1]\n"),
        e(ExprKind::Subscript {
            value: Box::new(name("xs")),
            index: Box::new(unary(UnaryOp::Neg, int(1))),
        })
    );
    assert_eq!(
        expr_of("x.shape[0]\n"),
        e(ExprKind::Subscript {
            value: Box::new(attr(name("x"), "shape")),
            index: Box::new(int(0)),
        })
    );
}

#[test]
fn binary_and_unary_operators() {
    let ops = [
        ("+", BinOp::Add),
        ("-", BinOp::Sub),
        ("*", BinOp::Mul),
        ("/", BinOp::Div),
        ("//", BinOp::FloorDiv),
        ("%", BinOp::Mod),
        ("@", BinOp::MatMul),
        ("**", BinOp::Pow),
    ];
    for (text, op) in ops {
        assert_eq!(
            expr_of(&format!("a {text} b\n")),
            bin(name("a"), op, name("b"))
        );
    }
    assert_eq!(
        expr_of("a + b * c\n"),
        bin(name("a"), BinOp::Add, bin(name("b"), BinOp::Mul, name("c")))
    );
    assert_eq!(expr_of("-x\n"), unary(UnaryOp::Neg, name("x")));
    assert_eq!(expr_of("+x\n"), unary(UnaryOp::Pos, name("x")));
    assert_eq!(expr_of("not x\n"), unary(UnaryOp::Not, name("x")));
}

#[test]
fn comparison_chains() {
    let ops = [
        ("==", CmpOp::Eq),
        ("!=", CmpOp::NotEq),
        ("<", CmpOp::Lt),
        ("<=", CmpOp::LtE),
        (">", CmpOp::Gt),
        (">=", CmpOp::GtE),
        ("is", CmpOp::Is),
        ("is not", CmpOp::IsNot),
        ("in", CmpOp::In),
        ("not in", CmpOp::NotIn),
    ];
    for (text, op) in ops {
        assert_eq!(
            expr_of(&format!("a {text} b\n")),
            e(ExprKind::Compare {
                left: Box::new(name("a")),
                ops: vec![op],
                comparators: vec![name("b")],
            })
        );
    }
    assert_eq!(
        expr_of("0 <= i < n\n"),
        e(ExprKind::Compare {
            left: Box::new(int(0)),
            ops: vec![CmpOp::LtE, CmpOp::Lt],
            comparators: vec![name("i"), name("n")],
        })
    );
}

#[test]
fn boolean_operators_and_conditional_expressions() {
    assert_eq!(
        expr_of("a and b and c\n"),
        e(ExprKind::BoolOp {
            op: BoolOp::And,
            values: vec![name("a"), name("b"), name("c")],
        })
    );
    assert_eq!(
        expr_of("a or b\n"),
        e(ExprKind::BoolOp {
            op: BoolOp::Or,
            values: vec![name("a"), name("b")],
        })
    );
    assert_eq!(
        expr_of("\"cuda\" if ok else \"cpu\"\n"),
        e(ExprKind::IfExp {
            test: Box::new(name("ok")),
            body: Box::new(string("cuda")),
            orelse: Box::new(string("cpu")),
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Spans.

#[test]
fn spans_of_nested_nodes_are_one_based_character_columns() {
    let source = "x = 1\nfor i in range(2):\n    y = \"é\" + foo(a, b=c[-1])\n";
    let body = parse(source).unwrap().body;
    let StmtKind::For {
        target,
        iter,
        body: loop_body,
        ..
    } = &body[1].kind
    else {
        panic!("expected a for loop: {:?}", body[1]);
    };
    assert_eq!(body[1].span, span(2, 1, 3, 30));
    assert_eq!(target.span(), span(2, 5, 2, 6));
    assert_eq!(iter.span, span(2, 10, 2, 18));
    let ExprKind::Call { args, .. } = &iter.kind else {
        panic!("expected a call: {iter:?}");
    };
    assert_eq!(args[0].span, span(2, 16, 2, 17));
    let stmt = &loop_body[0];
    assert_eq!(stmt.span, span(3, 5, 3, 30));
    let StmtKind::Assign { targets, value } = &stmt.kind else {
        panic!("expected an assignment: {stmt:?}");
    };
    let [Target::Name(y)] = targets.as_slice() else {
        panic!("expected one name target: {targets:?}");
    };
    assert_eq!(y.span, span(3, 5, 3, 6));
    assert_eq!(value.span, span(3, 9, 3, 30));
    let ExprKind::BinOp { left, right, .. } = &value.kind else {
        panic!("expected a binary operation: {value:?}");
    };
    assert_eq!(left.span, span(3, 9, 3, 12));
    // After the two-byte `é`, columns still count characters.
    assert_eq!(right.span, span(3, 15, 3, 30));
    let ExprKind::Call {
        func,
        args,
        keywords,
    } = &right.kind
    else {
        panic!("expected a call: {right:?}");
    };
    assert_eq!(func.span, span(3, 15, 3, 18));
    assert_eq!(args[0].span, span(3, 19, 3, 20));
    assert_eq!(keywords[0].span, span(3, 22, 3, 29));
    let subscript = &keywords[0].value;
    assert_eq!(subscript.span, span(3, 24, 3, 29));
    let ExprKind::Subscript { index, .. } = &subscript.kind else {
        panic!("expected a subscript: {subscript:?}");
    };
    assert_eq!(index.span, span(3, 26, 3, 28));
}

// ---------------------------------------------------------------------------------------------
// Rejected constructs.

fn errors_of(source: &str) -> Vec<ScenarioError> {
    match parse(source) {
        Ok(scenario) => panic!(
            "{source:?} should be rejected, parsed as {:?}",
            scenario.body
        ),
        Err(errors) => errors.0,
    }
}

#[test]
fn constructs_the_engine_does_not_run_are_rejected_at_their_location() {
    let cases: &[(&str, u32, u32, &str)] = &[
        (
            "async def f():\n    pass\n",
            1,
            1,
            "async function definition",
        ),
        ("await f()\n", 1, 1, "`await`"),
        ("import requests\n", 1, 8, "importing `requests`"),
        (
            "import torch, torchvision.models\n",
            1,
            15,
            "importing `torchvision.models`",
        ),
        ("from PIL import Image\n", 1, 1, "importing `PIL`"),
        ("from . import x\n", 1, 1, "importing `.`"),
        ("from torch import *\n", 1, 19, "`import *`"),
        ("if (n := 3):\n    pass\n", 1, 5, "assignment expression"),
        ("x = 100000000000000000000\n", 1, 5, "integer literal"),
        ("x = b'a'\n", 1, 5, "bytes literal"),
        ("x = 1j\n", 1, 5, "complex literal"),
        ("match x:\n    case 1:\n        pass\n", 1, 1, "`match`"),
        (
            "try:\n    pass\nexcept* ValueError:\n    pass\n",
            1,
            1,
            "`except*`",
        ),
        (
            "async def f():\n    async with a:\n        pass\n",
            1,
            1,
            "async",
        ),
    ];
    for &(source, line, col, construct) in cases {
        let errors = errors_of(source);
        let first = &errors[0];
        assert_eq!(
            (first.line, first.col),
            (line, col),
            "{source:?}: {}",
            ScenarioErrors(errors.clone())
        );
        assert!(
            first.message.contains(construct)
                && first.message.ends_with("is not supported in scenarios"),
            "{source:?}: message {:?} should name {construct:?}",
            first.message
        );
        assert!(first.help.is_some(), "{source:?} has no help");
    }
}

#[test]
fn python_that_training_scripts_use_parses() {
    let source = r#"import time, math, random, gc, logging
from collections import defaultdict, deque
from typing import List, Optional
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, d: int = 4, *, hidden=8, **kw) -> None:
        super().__init__()
        self.fc = nn.Linear(d, hidden)

    @property
    def size(self):
        return 1

    def forward(self, x):
        return self.fc(x)


def train(model, steps, *args, log=print):
    history = defaultdict(list)
    for i, (x, y) in enumerate(zip(range(steps), range(steps))):
        try:
            loss = model(torch.randn(2, 4))
        except (RuntimeError, ValueError) as e:
            raise RuntimeError("bad") from e
        else:
            history["loss"].append(loss.item())
        finally:
            pass
        if i % 2 == 0:
            continue
        while False:
            break
        else:
            pass
    stats = {k: sum(v) / len(v) for k, v in history.items() if v}
    names = [n for n, _ in model.named_parameters()]
    total = sum(x ** 2 for x in range(3))
    log(f"{total:.3f} {names!r} {stats}")
    return stats


if __name__ == "__main__":
    counter = 0
    def bump():
        global counter
        counter += 1
    f = lambda a, b=2: a * b
    x: float = 1.0
    d = {**{"a": 1}, "b": 2}
    s = {1, 2} | {3}
    first, *rest = [1, 2, 3]
    del d["a"], rest[0]
    train(Net(), 2)
"#;
    let scenario = parse(source).unwrap();
    let printed = print_scenario(&scenario);
    let again = parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(strip_spans(&scenario.body), strip_spans(&again.body));
}

#[test]
fn all_errors_are_reported_at_once_in_source_order() {
    let source = "import numpy, requests\nwhile True:\n    xs = [b'i' for i in y]\nclass C:\n    async def f(self):\n        return 1\nz = lambda: (n := 0)\n";
    let positions: Vec<(u32, u32)> = errors_of(source).iter().map(|e| (e.line, e.col)).collect();
    assert_eq!(positions, vec![(1, 15), (3, 11), (5, 5), (7, 14)]);
}

#[test]
fn error_display_is_rustc_like() {
    let error = &errors_of("x = 1\ny = b'abc'\n")[0];
    assert_eq!(
        error.to_string(),
        "s.py:2:5: error: a bytes literal is not supported in scenarios\n  |\n2 | y = b'abc'\n  |     ^\n  = help: use a str literal"
    );
}

#[test]
fn syntax_errors_are_located() {
    let errors = errors_of("x = 1\nfor i in range(3)\n    pass\n");
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].col), (2, 18));
    assert!(
        errors[0].message.starts_with("syntax error"),
        "{}",
        errors[0]
    );
    let errors = errors_of("if x:\npass\n");
    assert_eq!((errors[0].line, errors[0].col), (2, 1));
    assert!(
        errors[0].message.contains("indented block"),
        "{}",
        errors[0]
    );
}

#[test]
fn non_utf8_files_are_reported_at_the_first_bad_byte() {
    let path = std::env::temp_dir().join(format!("leakharness-non-utf8-{}.py", std::process::id()));
    std::fs::write(&path, b"x = 1\ny = \"\xe9t\xe9\"\n").unwrap();
    let result = load(&path);
    std::fs::remove_file(&path).unwrap();
    let Err(LoadError::Invalid(errors)) = result else {
        panic!("expected an invalid-file error, got {result:?}");
    };
    assert_eq!((errors.0[0].line, errors.0[0].col), (2, 6));
    assert!(errors.0[0].message.contains("UTF-8"));
}

#[test]
fn load_reads_files_and_reports_missing_ones() {
    let path = std::env::temp_dir().join(format!("leakharness-load-{}.py", std::process::id()));
    std::fs::write(&path, DESIGN_EXAMPLE).unwrap();
    let scenario = load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(scenario.unwrap().body.len(), 7);
    assert!(matches!(load(&path), Err(LoadError::Io { .. })));
}

// ---------------------------------------------------------------------------------------------
// Header.

fn header_of(source: &str) -> Header {
    match parse(source) {
        Ok(scenario) => scenario.header,
        Err(errors) => panic!("{source:?} should parse:\n{errors}"),
    }
}

#[test]
fn header_keys() {
    let header = header_of(
        "#!/usr/bin/env python\n# Keeps every loss.\n# More words.\n\n#@ expect: leak tensor-list, retained-graph\n#@ device-memory: 24GiB\n#@ max-steps: 10000\n#@ backend: meta\n#@ iterations: 8\n#@ alloc-conf: max_split_size_mb:128, roundup_power2_divisions:4\nimport torch\n",
    );
    assert_eq!(
        header,
        Header {
            expect: Expect::Leak(vec![LeakKind::TensorList, LeakKind::RetainedGraph]),
            device_memory: Some(24 << 30),
            max_steps: Some(10_000),
            backend: Some("meta".to_string()),
            iterations: Some(8),
            description: Some("Keeps every loss.".to_string()),
            alloc_conf: Some("max_split_size_mb:128, roundup_power2_divisions:4".to_string()),
            allow: Vec::new(),
        }
    );
    assert_eq!(header.allocator_config().max_split_size, Some(128 << 20));
    assert_eq!(
        header.allocator_config().roundup_power2_divisions(1 << 20),
        4
    );
    assert_eq!(header_of("x = 1\n"), Header::default());
    assert_eq!(header_of("x = 1\n").expect, Expect::Clean);
    for (text, expect) in [
        ("clean", Expect::Clean),
        ("oom", Expect::Oom),
        ("error", Expect::Error),
        ("leak", Expect::Leak(vec![])),
        (
            "leak attached-metric missing-no-grad",
            Expect::Leak(vec![LeakKind::AttachedMetric, LeakKind::MissingNoGrad]),
        ),
    ] {
        assert_eq!(header_of(&format!("#@ expect: {text}\n")).expect, expect);
    }
}

#[test]
fn bad_header_values_and_unknown_keys_are_located() {
    let cases: &[(&str, u32, u32, &str)] = &[
        ("#@ expect: leaky\n", 1, 12, "expected `clean`"),
        ("#@ expect: leak tensor-lists\n", 1, 12, "unknown leak kind"),
        ("#@ expect: oom tensor-list\n", 1, 12, "takes no leak kinds"),
        ("#@ device-memory: 24 parsecs\n", 1, 19, "unknown size unit"),
        ("#@ device-memory:\n", 1, 18, "expected a size"),
        ("#@ max-steps: many\n", 1, 15, "whole number"),
        ("#@ iterations: -1\n", 1, 16, "whole number"),
        ("#@ backend: tpu\n", 1, 13, "unknown backend"),
        (
            "#@ alloc-conf: max_split_size_mb:8\n",
            1,
            34,
            "max_split_size_mb too small, must be >= 20",
        ),
        (
            "#@ alloc-conf: expandable_segments:Maybe\n",
            1,
            36,
            "Expected a single True/False argument for expandable_segments",
        ),
        (
            "#@ alloc-conf: max_split_mb:64\n",
            1,
            16,
            "Unrecognized CachingAllocator option: max_split_mb",
        ),
        (
            "# text\n#@ colour: red\n",
            2,
            4,
            "unknown header key `colour`",
        ),
        ("#@ expect: clean\n#@ expect: oom\n", 2, 4, "given twice"),
        ("#@ nothing here\n", 1, 4, "without `key: value`"),
        ("x = 1\n#@ expect: oom\n", 2, 1, "after the first statement"),
    ];
    for &(source, line, col, message) in cases {
        let errors = errors_of(source);
        assert_eq!(
            (errors[0].line, errors[0].col),
            (line, col),
            "{source:?}: {}",
            errors[0]
        );
        assert!(
            errors[0].message.contains(message),
            "{source:?}: {}",
            errors[0]
        );
    }
    let help = errors_of("#@ max_steps: 3\n")[0].help.clone().unwrap();
    assert_eq!(help, "write `max-steps`");
}

#[test]
fn header_and_body_errors_are_reported_together() {
    let errors = errors_of("#@ expect: maybe\nx = b'a'\n");
    let lines: Vec<u32> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 2]);
}

#[test]
fn sizes() {
    assert_eq!(parse_size("24GiB"), Ok(24 << 30));
    assert_eq!(parse_size("512MiB"), Ok(512 << 20));
    assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
    assert_eq!(parse_size("1000"), Ok(1000));
    assert_eq!(parse_size("2 kib"), Ok(2048));
    assert_eq!(parse_size("3KB"), Ok(3000));
    assert_eq!(parse_size("1TB"), Ok(1_000_000_000_000));
    assert_eq!(parse_size("1TiB"), Ok(1 << 40));
    assert_eq!(parse_size("0.5B"), Err(SizeError::Zero("0.5B".into())));
    assert_eq!(parse_size(""), Err(SizeError::Empty));
    assert!(matches!(
        parse_size("1.2.3GB"),
        Err(SizeError::BadNumber(_))
    ));
    assert!(matches!(parse_size("GiB"), Err(SizeError::BadNumber(_))));
    assert!(matches!(parse_size("5 G"), Err(SizeError::BadUnit(_))));
    assert!(matches!(
        parse_size("20000000TiB"),
        Err(SizeError::TooLarge(_))
    ));
    assert_eq!(header_size(1536 << 20), "1536MiB");
    assert_eq!(header_size(0), "0");
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(source in "[a-z0-9 ()\\[\\]:=,.+*#@\"'\\n\\t-é]{0,80}") {
        let _ = parse(&source);
    }
}

#[test]
fn a_tuple_context_keeps_meaning_one_context_manager() {
    let source = "with ((0,)):\n    pass\n";
    let body = body_of(source);
    assert!(matches!(
        &body[0].kind,
        StmtKind::With { items, .. } if matches!(&items[0].context.kind, ExprKind::Tuple(t) if t.len() == 1)
    ));
    assert_eq!(print_body(&body), source);
}
