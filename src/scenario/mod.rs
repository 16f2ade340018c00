//! Scenarios: training programs in Python with PyTorch, with `#@` header comments saying what
//! running them must produce.
//!
//! The front end turns a `.py` file into a [`Scenario`] ([`parse_scenario`], [`load`]), rejecting
//! everything the engine does not run before anything runs, and turns a scenario back into Python
//! ([`print_scenario`]). [`arbitrary`] generates random scenario ASTs for property tests.
//! The subset is documented in `docs/scenarios.md`.

// The interpreter, CLI and test harness build on this API; keep all of it documented.
#![warn(missing_docs)]

pub mod arbitrary;
mod ast;
mod error;
mod header;
pub mod interp;
mod parse;
mod print;

pub use crate::base::{header_size, parse_size, Expect, LeakKind, SizeError, UnknownLeakKind};
pub use ast::{
    strip_spans, BinOp, BoolOp, ClassDef, CmpOp, Comprehension, Expr, ExprKind, FPart, FunctionDef,
    Handler, ImportAlias, Keyword, Name, Param, Params, Span, Stmt, StmtKind, Target, UnaryOp,
    WithItem,
};
pub use error::{escape_control, LoadError, ScenarioError, ScenarioErrors};
pub use header::{Header, BACKENDS, HEADER_KEYS};
pub use parse::{load, parse_scenario, Scenario, IMPORTABLE_MODULES};
pub use print::{print_body, print_expr, print_header, print_scenario};
