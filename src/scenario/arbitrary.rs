//! Proptest strategies producing random scenario ASTs inside the subset.
//!
//! Everything generated prints to Python that parses back to the same tree (ignoring spans), so
//! these strategies drive the printer/parser round-trip test, and are the syntactic base for
//! generators of runnable scenarios. Spans are all [`Span::default()`](super::Span).
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! use leakharness::scenario::{arbitrary, print_body};
//!
//! let mut runner = TestRunner::deterministic();
//! let body = arbitrary::scenario_body().new_tree(&mut runner).unwrap().current();
//! assert!(!print_body(&body).is_empty());
//! ```

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::ast::*;
use super::header::{Header, BACKENDS};
use super::parse::IMPORTABLE_MODULES;
use crate::base::{Expect, LeakKind};

const NAMES: [&str; 13] = [
    "x", "y", "loss", "model", "opt", "losses", "total", "step", "i", "F", "nn", "torch", "device",
];
const ATTRIBUTES: [&str; 10] = [
    "cuda",
    "grad",
    "backward",
    "item",
    "shape",
    "append",
    "to",
    "sum",
    "weight",
    "zero_grad",
];
const KEYWORDS: [&str; 6] = [
    "device",
    "lr",
    "dim",
    "retain_graph",
    "requires_grad",
    "set_to_none",
];

fn name_id() -> impl Strategy<Value = String> {
    select(&NAMES[..]).prop_map(String::from)
}

fn name() -> impl Strategy<Value = Name> {
    name_id().prop_map(Name::new)
}

fn attribute() -> impl Strategy<Value = String> {
    select(&ATTRIBUTES[..]).prop_map(String::from)
}

fn expr(kind: ExprKind) -> Expr {
    Expr::new(kind)
}

/// Literals and names: the leaves of [`expr_strategy`]. Numbers are never negative, because
/// Python spells `-1` as a unary minus applied to `1`.
pub fn leaf_expr_strategy() -> BoxedStrategy<Expr> {
    use proptest::num::f64 as float;
    prop_oneof![
        prop_oneof![0i64..100, 0i64..=i64::MAX].prop_map(ExprKind::Int),
        (float::POSITIVE | float::NORMAL | float::SUBNORMAL | float::ZERO)
            .prop_map(ExprKind::Float),
        any::<bool>().prop_map(ExprKind::Bool),
        Just(ExprKind::None),
        "[a-zA-Z0-9 _.,:'\"\\\\\n\té€-]{0,10}".prop_map(ExprKind::Str),
        name_id().prop_map(ExprKind::Name),
    ]
    .prop_map(expr)
    .boxed()
}

fn bin_op() -> impl Strategy<Value = BinOp> {
    select(vec![
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::FloorDiv,
        BinOp::Mod,
        BinOp::MatMul,
        BinOp::Pow,
        BinOp::LShift,
        BinOp::RShift,
        BinOp::BitAnd,
        BinOp::BitOr,
        BinOp::BitXor,
    ])
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    select(vec![
        CmpOp::Eq,
        CmpOp::NotEq,
        CmpOp::Lt,
        CmpOp::LtE,
        CmpOp::Gt,
        CmpOp::GtE,
        CmpOp::Is,
        CmpOp::IsNot,
        CmpOp::In,
        CmpOp::NotIn,
    ])
}

/// Any expression of the subset, nested a few levels deep.
pub fn expr_strategy() -> BoxedStrategy<Expr> {
    leaf_expr_strategy()
        .prop_recursive(4, 48, 4, |inner| {
            let boxed = || inner.clone().prop_map(Box::new);
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(ExprKind::List),
                vec(inner.clone(), 0..4).prop_map(ExprKind::Tuple),
                (
                    boxed(),
                    vec(inner.clone(), 0..3),
                    subsequence(&KEYWORDS[..], 0..3),
                    vec(inner.clone(), 3),
                )
                    .prop_map(|(func, args, names, values)| ExprKind::Call {
                        func,
                        args,
                        keywords: names
                            .into_iter()
                            .zip(values)
                            .map(|(name, value)| Keyword {
                                name: Some(name.to_string()),
                                value,
                                span: Span::default(),
                            })
                            .collect(),
                    }),
                (boxed(), attribute())
                    .prop_map(|(value, attr)| ExprKind::Attribute { value, attr }),
                (boxed(), boxed()).prop_map(|(value, index)| ExprKind::Subscript { value, index }),
                (boxed(), bin_op(), boxed()).prop_map(|(left, op, right)| ExprKind::BinOp {
                    left,
                    op,
                    right
                }),
                (
                    select(vec![
                        UnaryOp::Neg,
                        UnaryOp::Pos,
                        UnaryOp::Not,
                        UnaryOp::Invert
                    ]),
                    boxed()
                )
                    .prop_map(|(op, operand)| ExprKind::UnaryOp { op, operand }),
                (boxed(), vec((cmp_op(), inner.clone()), 1..3)).prop_map(|(left, pairs)| {
                    let (ops, comparators) = pairs.into_iter().unzip();
                    ExprKind::Compare {
                        left,
                        ops,
                        comparators,
                    }
                }),
                (
                    select(vec![BoolOp::And, BoolOp::Or]),
                    vec(inner.clone(), 2..4)
                )
                    .prop_map(|(op, values)| ExprKind::BoolOp { op, values }),
                (boxed(), boxed(), boxed()).prop_map(|(test, body, orelse)| ExprKind::IfExp {
                    test,
                    body,
                    orelse
                }),
                vec((inner.clone(), inner.clone()), 0..3).prop_map(|items| ExprKind::Dict(
                    items.into_iter().map(|(k, v)| (Some(k), v)).collect()
                )),
                vec(inner.clone(), 1..3).prop_map(ExprKind::Set),
                (boxed(), name(), boxed(), vec(inner.clone(), 0..2)).prop_map(
                    |(elt, var, iter, ifs)| ExprKind::ListComp {
                        elt,
                        generators: vec![Comprehension {
                            target: Target::Name(var),
                            iter: *iter,
                            ifs,
                        }],
                    }
                ),
                (
                    boxed(),
                    proptest::option::of(boxed()),
                    proptest::option::of(boxed())
                )
                    .prop_map(|(value, lower, upper)| ExprKind::Subscript {
                        value,
                        index: Box::new(expr(ExprKind::Slice {
                            lower,
                            upper,
                            step: None
                        })),
                    }),
            ]
            .prop_map(expr)
        })
        .boxed()
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        name().prop_map(Target::Name),
        vec(name(), 1..4).prop_map(|names| Target::Tuple(
            names.into_iter().map(Target::Name).collect(),
            Span::default()
        )),
        (expr_strategy(), expr_strategy()).prop_map(|(value, index)| Target::Subscript {
            value,
            index,
            span: Span::default(),
        }),
        (expr_strategy(), attribute()).prop_map(|(value, attr)| Target::Attribute {
            value,
            attr,
            span: Span::default(),
        }),
    ]
}

fn import_alias(names: &'static [&'static str]) -> impl Strategy<Value = ImportAlias> {
    (select(names), proptest::option::of(name_id())).prop_map(|(name, alias)| ImportAlias {
        name: name.to_string(),
        alias,
        span: Span::default(),
    })
}

fn simple_stmt_strategy() -> BoxedStrategy<Stmt> {
    prop_oneof![
        vec(import_alias(&IMPORTABLE_MODULES), 1..3).prop_map(StmtKind::Import),
        (
            select(&IMPORTABLE_MODULES[..]),
            vec(import_alias(&["nn", "optim", "functional", "randn"]), 1..3),
        )
            .prop_map(|(module, names)| StmtKind::ImportFrom {
                module: module.to_string(),
                names,
            }),
        (vec(target(), 1..3), expr_strategy())
            .prop_map(|(targets, value)| StmtKind::Assign { targets, value }),
        (target(), bin_op(), expr_strategy()).prop_map(|(target, op, value)| StmtKind::AugAssign {
            target,
            op,
            value
        }),
        expr_strategy().prop_map(StmtKind::Expr),
        vec(name().prop_map(Target::Name), 1..3).prop_map(StmtKind::Del),
        proptest::option::of(expr_strategy()).prop_map(StmtKind::Return),
        Just(StmtKind::Break),
        Just(StmtKind::Continue),
        (expr_strategy(), proptest::option::of(expr_strategy()))
            .prop_map(|(test, msg)| StmtKind::Assert { test, msg }),
        Just(StmtKind::Pass),
    ]
    .prop_map(Stmt::new)
    .boxed()
}

/// Any statement of the subset, with compound statements nested a few levels deep.
pub fn stmt_strategy() -> BoxedStrategy<Stmt> {
    simple_stmt_strategy()
        .prop_recursive(3, 24, 3, |inner| {
            let block = || vec(inner.clone(), 1..4);
            prop_oneof![
                (target(), expr_strategy(), block(), vec(inner.clone(), 0..2)).prop_map(
                    |(target, iter, body, orelse)| StmtKind::For {
                        target,
                        iter,
                        body,
                        orelse,
                    }
                ),
                (expr_strategy(), block(), vec(inner.clone(), 0..2))
                    .prop_map(|(test, body, orelse)| StmtKind::While { test, body, orelse }),
                (expr_strategy(), proptest::option::of(name()), block()).prop_map(
                    |(context, var, body)| StmtKind::With {
                        items: vec![WithItem {
                            context,
                            target: var.map(Target::Name),
                        }],
                        body,
                    }
                ),
                (
                    name(),
                    subsequence(&NAMES[..], 0..3)
                        .prop_map(|ns| ns.into_iter().map(Name::new).collect::<Vec<_>>()),
                    block()
                )
                    .prop_map(|(name, args, body)| {
                        StmtKind::FunctionDef(std::rc::Rc::new(FunctionDef {
                            name,
                            params: Params {
                                args: args
                                    .into_iter()
                                    .map(|name| Param {
                                        name,
                                        default: None,
                                        annotation: None,
                                    })
                                    .collect(),
                                ..Params::default()
                            },
                            body,
                            decorators: Vec::new(),
                            returns: None,
                            is_lambda: false,
                        }))
                    }),
                (block(), proptest::option::of(name()), block()).prop_map(
                    |(body, name, handler)| StmtKind::Try {
                        body,
                        handlers: vec![Handler {
                            typ: Some(expr(ExprKind::Name("Exception".into()))),
                            name,
                            body: handler,
                            span: Span::default(),
                        }],
                        orelse: Vec::new(),
                        finalbody: Vec::new(),
                    }
                ),
                (expr_strategy(), block(), vec(inner.clone(), 0..3))
                    .prop_map(|(test, body, orelse)| StmtKind::If { test, body, orelse }),
            ]
            .prop_map(Stmt::new)
        })
        .boxed()
}

/// A scenario body: one to eight statements.
pub fn scenario_body() -> BoxedStrategy<Vec<Stmt>> {
    vec(stmt_strategy(), 1..8).boxed()
}

/// Any header whose printed form parses back to it.
pub fn header_strategy() -> BoxedStrategy<Header> {
    let expect = prop_oneof![
        Just(Expect::Clean),
        Just(Expect::Oom),
        Just(Expect::Error),
        subsequence(&LeakKind::ALL[..], 0..=4).prop_map(Expect::Leak),
    ];
    (
        expect,
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(select(&BACKENDS[..]).prop_map(String::from)),
        proptest::option::of(any::<u64>()),
        proptest::option::of("[a-zA-Z]([a-zA-Z0-9 ,.]{0,30}[a-zA-Z0-9.])?"),
    )
        .prop_map(
            |(expect, device_memory, max_steps, backend, iterations, description)| Header {
                expect,
                device_memory,
                max_steps,
                backend,
                iterations,
                description,
                alloc_conf: None,
                allow: Vec::new(),
            },
        )
        .boxed()
}
