//! From scenario source text to the scenario AST.
//!
//! Python is parsed with rustpython-parser, then converted to [`ast`](super::ast) node by node.
//! Conversion keeps going after a construct outside the subset so that one run reports every
//! problem in the file, and nothing is run unless the whole file is inside the subset.
//!
//! This file holds the entry points and the conversion of statements; expressions are converted
//! in `expr`, and byte offsets become lines and columns in `lines`.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustpython_parser::ast::Ranged;
use rustpython_parser::lexer::lex;
use rustpython_parser::text_size::TextRange;
use rustpython_parser::{ast as py, parse_tokens, Mode, Tok};

use super::ast::*;
use super::error::{LoadError, ScenarioError, ScenarioErrors};
use super::header::{parse_header, Header};

mod expr;
mod lines;

use expr::bin_op;
use lines::LineIndex;

/// A parsed scenario file: its header and the statements of its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Where the scenario was read from; used in error messages.
    pub path: PathBuf,
    /// The full source text, kept for error messages that quote lines.
    pub source: String,
    /// The `#@` header.
    pub header: Header,
    /// The top-level statements.
    pub body: Vec<Stmt>,
}

/// The modules a scenario may import: torch's, and the standard-library and third-party modules
/// that training scripts import (chosen from the scripts of `scenarios/real/`; see
/// `docs/scenarios.md`). Submodules of these are importable too when the interpreter knows them.
pub const IMPORTABLE_MODULES: [&str; 31] = [
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.utils",
    "torch.nn.utils.rnn",
    "torch.optim",
    "torch.cuda",
    "torch.autograd",
    "torch.autograd.graph",
    "torch.utils",
    "torch.utils.data",
    "torch.utils.checkpoint",
    "__future__",
    "collections",
    "copy",
    "dataclasses",
    "functools",
    "gc",
    "itertools",
    "logging",
    "math",
    "numpy",
    "os",
    "random",
    "sys",
    "time",
    "tqdm",
    "tqdm.auto",
    "typing",
    "warnings",
    "contextlib",
];

/// Parses scenario `source`, read from `path`, into a [`Scenario`].
///
/// Returns every header error, the syntax error if any, and every construct outside the subset,
/// in source order.
///
/// ```
/// use std::path::Path;
/// use leakharness::scenario::{parse_scenario, Expect, StmtKind};
///
/// let source = "#@ expect: oom\nimport torch\nx = torch.zeros(4)\n";
/// let scenario = parse_scenario(Path::new("s.py"), source).unwrap();
/// assert_eq!(scenario.header.expect, Expect::Oom);
/// assert!(matches!(scenario.body[1].kind, StmtKind::Assign { .. }));
///
/// let errors = parse_scenario(Path::new("s.py"), "async def f():\n    pass\n").unwrap_err();
/// assert_eq!((errors.0[0].line, errors.0[0].col), (1, 1));
/// ```
pub fn parse_scenario(path: &Path, source: &str) -> Result<Scenario, ScenarioErrors> {
    // CPython's tokenizer skips a UTF-8 byte-order mark; lines and columns count after it.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut errors = Vec::new();
    let header = parse_header(path, source).unwrap_or_else(|header_errors| {
        errors.extend(header_errors);
        Header::default()
    });
    let lines = LineIndex::new(source);
    // The parser's own tree nests as deep as the input (a 100,000-term `a + a + ...` is a
    // 100,000-deep tree) and is dropped recursively: that happens on a stack sized for it.
    let converted = std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("parser".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(s, || Converted(convert(path, source, &lines)));
        match spawned {
            Ok(handle) => {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    .0
            }
            Err(_) => convert(path, source, &lines),
        }
    });
    let (body, converter_errors) = converted;
    errors.extend(converter_errors);
    if errors.is_empty() {
        Ok(Scenario {
            path: path.to_path_buf(),
            source: source.to_string(),
            header,
            body,
        })
    } else {
        errors.sort_by_key(|e| (e.line, e.col));
        Err(ScenarioErrors(errors))
    }
}

/// The converted statements and errors, moved out of the parser thread.
struct Converted((Vec<Stmt>, Vec<ScenarioError>));

// SAFETY: the tree's `Rc`s are all created on the parser thread, and the thread keeps no clone
// of any of them once `convert` returns: the whole tree moves to the caller, which only reads it
// after `join`, so no reference count is ever touched by two threads.
unsafe impl Send for Converted {}

/// CPython's tokenizer refuses more than 200 open brackets (`MAXLEVEL`, Parser/tokenizer.h).
const MAX_PAREN_LEVEL: usize = 200;
/// CPython's tokenizer refuses a 100th indentation level (`MAXINDENT`, Parser/tokenizer.h).
const MAX_INDENT: usize = 100;
/// The deepest expression tree the converter accepts. CPython's compiler stops at three times
/// the recursion limit (`COMPILER_STACK_FRAME_SCALE`, Python/compile.c); the passes after this
/// one (validation, printing) run on the caller's stack, so the limit here is the recursion
/// limit itself, which no written program comes near (docs/reliability.md).
const MAX_EXPR_DEPTH: usize = 1000;
/// The stack the parser's tree is converted and dropped on: reserved, committed only as used.
const PARSER_STACK: usize = 256 << 20;

/// Parses and converts `source`, stopping, as CPython's tokenizer does, at the first bracket or
/// indentation past its limit.
fn convert(path: &Path, source: &str, lines: &LineIndex) -> (Vec<Stmt>, Vec<ScenarioError>) {
    let mut converter = Converter {
        path,
        lines,
        errors: Vec::new(),
        depth: 0,
        too_deep: false,
    };
    let mut limit: Option<(usize, &str)> = None;
    let (mut level, mut indent) = (0usize, 0usize);
    let tokens = lex(source, Mode::Module).map_while(|token| {
        if let Ok((tok, range)) = &token {
            let exceeded = match tok {
                Tok::Lpar | Tok::Lsqb | Tok::Lbrace => {
                    level += 1;
                    (level > MAX_PAREN_LEVEL).then_some("too many nested parentheses")
                }
                Tok::Rpar | Tok::Rsqb | Tok::Rbrace => {
                    level = level.saturating_sub(1);
                    None
                }
                Tok::Indent => {
                    indent += 1;
                    (indent >= MAX_INDENT).then_some("too many levels of indentation")
                }
                Tok::Dedent => {
                    indent = indent.saturating_sub(1);
                    None
                }
                _ => None,
            };
            if let Some(message) = exceeded {
                limit = Some((usize::from(range.start()), message));
                return None;
            }
        }
        Some(token)
    });
    let parsed = parse_tokens(tokens, Mode::Module, &path.to_string_lossy());
    let body = match (limit, parsed) {
        (Some((offset, message)), _) => {
            let span = lines.span(offset, offset);
            converter
                .errors
                .push(converter.error(span, format!("syntax error: {message}")));
            Vec::new()
        }
        (None, Ok(py::Mod::Module(module))) => converter.body(&module.body),
        (None, Ok(_)) => Vec::new(),
        (None, Err(error)) => {
            let offset = usize::from(error.offset);
            let span = lines.span(offset, offset);
            converter
                .errors
                .push(converter.error(span, format!("syntax error: {}", error.error)));
            Vec::new()
        }
    };
    (body, converter.errors)
}

/// Reads and parses the scenario file at `path`.
///
/// A file that is not UTF-8 is reported at the line and column of its first bad byte.
pub fn load(path: &Path) -> Result<Scenario, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match String::from_utf8(bytes) {
        Ok(source) => Ok(parse_scenario(path, &source)?),
        Err(error) => {
            let bytes = error.as_bytes();
            let valid = String::from_utf8_lossy(&bytes[..error.utf8_error().valid_up_to()]);
            let lossy = String::from_utf8_lossy(bytes);
            let span = LineIndex::new(&valid).span(valid.len(), valid.len());
            let error = ScenarioError::new(path, span, &lossy, "file is not valid UTF-8")
                .with_help("save the scenario as UTF-8");
            Err(LoadError::Invalid(error.into()))
        }
    }
}

struct Converter<'a> {
    path: &'a Path,
    lines: &'a LineIndex<'a>,
    errors: Vec<ScenarioError>,
    /// How many expressions enclose the one being converted.
    depth: usize,
    /// Whether an expression past [`MAX_EXPR_DEPTH`] has been reported.
    too_deep: bool,
}

/// Collects the `Option`s of a list of conversions: every item is converted (so every error is
/// reported), and the list succeeds only if all of them do.
fn all<T>(items: Vec<Option<T>>) -> Option<Vec<T>> {
    items.into_iter().collect()
}

fn opt<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        Some(Some(v)) => Some(Some(v)),
        Some(None) => None,
        None => Some(None),
    }
}

impl Converter<'_> {
    fn span(&self, range: TextRange) -> Span {
        self.lines.range(range)
    }

    /// An error at `span`, quoting its line from the index rather than rescanning the file.
    fn error(&self, span: Span, message: String) -> ScenarioError {
        ScenarioError::with_source_line(self.path, span, self.lines.line_text(span.line), message)
    }

    /// Records a syntax error CPython's compiler raises where the parser accepted the text.
    fn syntax_error<T>(&mut self, range: TextRange, message: &str) -> Option<T> {
        let span = self.span(range);
        let error = self.error(span, format!("syntax error: {message}"));
        self.errors.push(error);
        None
    }

    /// Records that `construct`, at `range`, is not supported.
    fn reject<T>(&mut self, range: TextRange, construct: &str, help: &str) -> Option<T> {
        let span = self.span(range);
        let error = self.error(span, format!("{construct} is not supported in scenarios"));
        self.errors.push(error.with_help(help));
        None
    }

    fn body(&mut self, stmts: &[py::Stmt]) -> Vec<Stmt> {
        stmts.iter().filter_map(|s| self.stmt(s)).collect()
    }

    /// Converts a block, which succeeds only if every statement in it does.
    fn block(&mut self, stmts: &[py::Stmt]) -> Option<Vec<Stmt>> {
        let before = self.errors.len();
        let body = self.body(stmts);
        (self.errors.len() == before).then_some(body)
    }

    /// Converts each expression, reporting all failures, and succeeds only if all succeed.
    fn exprs(&mut self, exprs: &[py::Expr]) -> Option<Vec<Expr>> {
        let converted: Vec<Option<Expr>> = exprs.iter().map(|e| self.expr(e)).collect();
        all(converted)
    }

    fn opt_expr(&mut self, e: Option<&py::Expr>) -> Option<Option<Expr>> {
        opt(e.map(|e| self.expr(e)))
    }

    fn stmt(&mut self, stmt: &py::Stmt) -> Option<Stmt> {
        let range = stmt.range();
        let kind = match stmt {
            py::Stmt::FunctionDef(def) => StmtKind::FunctionDef(Rc::new(self.function(
                def.name.as_str(),
                range,
                &def.args,
                &def.body,
                &def.decorator_list,
                def.returns.as_deref(),
            )?)),
            py::Stmt::AsyncFunctionDef(def) => {
                self.body(&def.body);
                return self.reject(
                    range,
                    "an async function definition",
                    "scenarios run synchronously; make it a plain `def`",
                );
            }
            py::Stmt::ClassDef(class) => {
                let name = Name {
                    id: class.name.to_string(),
                    span: self.span(range),
                };
                let bases = self.exprs(&class.bases);
                let keywords = all(class.keywords.iter().map(|k| self.keyword(k)).collect());
                let body = self.block(&class.body);
                let decorators = self.exprs(&class.decorator_list);
                StmtKind::ClassDef(Rc::new(ClassDef {
                    name,
                    bases: bases?,
                    keywords: keywords?,
                    body: body?,
                    decorators: decorators?,
                }))
            }
            py::Stmt::Return(ret) => StmtKind::Return(self.opt_expr(ret.value.as_deref())?),
            py::Stmt::Delete(del) => {
                let targets = all(del.targets.iter().map(|t| self.target(t)).collect());
                StmtKind::Del(targets?)
            }
            py::Stmt::Assign(assign) => {
                let targets = all(assign.targets.iter().map(|t| self.target(t)).collect());
                let value = self.expr(&assign.value);
                StmtKind::Assign {
                    targets: targets?,
                    value: value?,
                }
            }
            py::Stmt::AugAssign(aug) => {
                let target = self.target(&aug.target);
                let value = self.expr(&aug.value);
                StmtKind::AugAssign {
                    target: target?,
                    op: bin_op(aug.op),
                    value: value?,
                }
            }
            py::Stmt::AnnAssign(ann) => {
                let target = self.target(&ann.target);
                let annotation = self.expr(&ann.annotation);
                let value = self.opt_expr(ann.value.as_deref());
                StmtKind::AnnAssign {
                    target: target?,
                    annotation: annotation?,
                    value: value?,
                }
            }
            py::Stmt::TypeAlias(_) => {
                return self.reject(range, "a `type` alias", "remove the type alias")
            }
            py::Stmt::For(for_) => {
                let target = self.target(&for_.target);
                let iter = self.expr(&for_.iter);
                let body = self.block(&for_.body);
                let orelse = self.block(&for_.orelse);
                StmtKind::For {
                    target: target?,
                    iter: iter?,
                    body: body?,
                    orelse: orelse?,
                }
            }
            py::Stmt::AsyncFor(for_) => {
                self.body(&for_.body);
                self.body(&for_.orelse);
                return self.reject(range, "`async for`", "write a plain `for` loop");
            }
            py::Stmt::While(while_) => {
                let test = self.expr(&while_.test);
                let body = self.block(&while_.body);
                let orelse = self.block(&while_.orelse);
                StmtKind::While {
                    test: test?,
                    body: body?,
                    orelse: orelse?,
                }
            }
            py::Stmt::If(if_) => {
                let test = self.expr(&if_.test);
                let body = self.block(&if_.body);
                let orelse = self.block(&if_.orelse);
                StmtKind::If {
                    test: test?,
                    body: body?,
                    orelse: orelse?,
                }
            }
            py::Stmt::With(with) => {
                let items: Vec<Option<WithItem>> = with
                    .items
                    .iter()
                    .map(|item| {
                        let context = self.expr(&item.context_expr);
                        let target = opt(item.optional_vars.as_deref().map(|t| self.target(t)));
                        Some(WithItem {
                            context: context?,
                            target: target?,
                        })
                    })
                    .collect();
                let body = self.block(&with.body);
                StmtKind::With {
                    items: all(items)?,
                    body: body?,
                }
            }
            py::Stmt::AsyncWith(with) => {
                self.body(&with.body);
                return self.reject(range, "`async with`", "write a plain `with`");
            }
            py::Stmt::Match(m) => {
                for case in &m.cases {
                    self.body(&case.body);
                }
                return self.reject(range, "a `match` statement", "use `if`, `elif` and `else`");
            }
            py::Stmt::Raise(raise) => {
                let exc = self.opt_expr(raise.exc.as_deref());
                let cause = self.opt_expr(raise.cause.as_deref());
                StmtKind::Raise {
                    exc: exc?,
                    cause: cause?,
                }
            }
            py::Stmt::Try(try_) => {
                self.try_stmt(&try_.body, &try_.handlers, &try_.orelse, &try_.finalbody)?
            }
            py::Stmt::TryStar(try_) => {
                self.try_stmt(&try_.body, &try_.handlers, &try_.orelse, &try_.finalbody);
                return self.reject(range, "`except*`", "use a plain `except`");
            }
            py::Stmt::Assert(assert) => {
                let test = self.expr(&assert.test);
                let msg = self.opt_expr(assert.msg.as_deref());
                StmtKind::Assert {
                    test: test?,
                    msg: msg?,
                }
            }
            py::Stmt::Import(import) => {
                let names: Vec<Option<ImportAlias>> = import
                    .names
                    .iter()
                    .map(|alias| {
                        if importable(alias.name.as_str()) {
                            Some(self.alias(alias))
                        } else {
                            self.reject_import(alias.range(), alias.name.as_str())
                        }
                    })
                    .collect();
                StmtKind::Import(all(names)?)
            }
            py::Stmt::ImportFrom(import) => {
                let module = import.module.as_ref().map_or("", |m| m.as_str());
                let level = import.level.map_or(0, |level| level.to_u32());
                if level > 0 || !importable(module) {
                    let shown = format!("{}{module}", ".".repeat(level as usize));
                    return self.reject_import(range, &shown);
                }
                let names: Vec<Option<ImportAlias>> = import
                    .names
                    .iter()
                    .map(|alias| {
                        if alias.name.as_str() == "*" {
                            self.reject(
                                alias.range(),
                                "`import *`",
                                "import the names you use, e.g. `from torch import nn, optim`",
                            )
                        } else {
                            Some(self.alias(alias))
                        }
                    })
                    .collect();
                StmtKind::ImportFrom {
                    module: module.to_string(),
                    names: all(names)?,
                }
            }
            py::Stmt::Global(g) => StmtKind::Global(self.identifiers(&g.names, range)),
            py::Stmt::Nonlocal(n) => StmtKind::Nonlocal(self.identifiers(&n.names, range)),
            py::Stmt::Expr(expr) => StmtKind::Expr(self.expr(&expr.value)?),
            py::Stmt::Pass(_) => StmtKind::Pass,
            py::Stmt::Break(_) => StmtKind::Break,
            py::Stmt::Continue(_) => StmtKind::Continue,
        };
        Some(Stmt {
            kind,
            span: self.span(range),
        })
    }

    fn identifiers(&self, names: &[py::Identifier], range: TextRange) -> Vec<Name> {
        let span = self.span(range);
        names
            .iter()
            .map(|n| Name {
                id: n.to_string(),
                span,
            })
            .collect()
    }

    fn try_stmt(
        &mut self,
        body: &[py::Stmt],
        handlers: &[py::ExceptHandler],
        orelse: &[py::Stmt],
        finalbody: &[py::Stmt],
    ) -> Option<StmtKind> {
        let body = self.block(body);
        let handlers: Vec<Option<Handler>> = handlers
            .iter()
            .map(|py::ExceptHandler::ExceptHandler(h)| {
                let span = self.span(h.range);
                let typ = self.opt_expr(h.type_.as_deref());
                let body = self.block(&h.body);
                Some(Handler {
                    typ: typ?,
                    name: h.name.as_ref().map(|n| Name {
                        id: n.to_string(),
                        span,
                    }),
                    body: body?,
                    span,
                })
            })
            .collect();
        let orelse = self.block(orelse);
        let finalbody = self.block(finalbody);
        Some(StmtKind::Try {
            body: body?,
            handlers: all(handlers)?,
            orelse: orelse?,
            finalbody: finalbody?,
        })
    }

    fn function(
        &mut self,
        name: &str,
        range: TextRange,
        args: &py::Arguments,
        body: &[py::Stmt],
        decorators: &[py::Expr],
        returns: Option<&py::Expr>,
    ) -> Option<FunctionDef> {
        let params = self.params(args);
        let body = self.block(body);
        let decorators = self.exprs(decorators);
        let returns = self.opt_expr(returns);
        Some(FunctionDef {
            name: Name {
                id: name.to_string(),
                span: self.span(range),
            },
            params: params?,
            body: body?,
            decorators: decorators?,
            returns: returns?,
            is_lambda: false,
        })
    }

    fn param(&mut self, arg: &py::Arg, default: Option<&py::Expr>) -> Option<Param> {
        let default = self.opt_expr(default);
        let annotation = self.opt_expr(arg.annotation.as_deref());
        Some(Param {
            name: Name {
                id: arg.arg.to_string(),
                span: self.span(arg.range),
            },
            default: default?,
            annotation: annotation?,
        })
    }

    fn params(&mut self, args: &py::Arguments) -> Option<Params> {
        let positional: Vec<Option<Param>> = args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .map(|a| self.param(&a.def, a.default.as_deref()))
            .collect();
        let kwonly: Vec<Option<Param>> = args
            .kwonlyargs
            .iter()
            .map(|a| self.param(&a.def, a.default.as_deref()))
            .collect();
        let vararg = opt(args.vararg.as_deref().map(|a| self.param(a, None)));
        let kwarg = opt(args.kwarg.as_deref().map(|a| self.param(a, None)));
        Some(Params {
            args: all(positional)?,
            posonly: args.posonlyargs.len(),
            vararg: vararg?,
            kwonly: all(kwonly)?,
            kwarg: kwarg?,
        })
    }

    fn reject_import<T>(&mut self, range: TextRange, module: &str) -> Option<T> {
        self.reject(
            range,
            &format!("importing `{module}`"),
            &format!(
                "scenarios may import {}; replace what the module gives with random tensors",
                IMPORTABLE_MODULES.join(", ")
            ),
        )
    }

    fn name(&self, name: &py::ExprName) -> Name {
        Name {
            id: name.id.to_string(),
            span: self.span(name.range),
        }
    }

    fn alias(&self, alias: &py::Alias) -> ImportAlias {
        ImportAlias {
            name: alias.name.to_string(),
            alias: alias.asname.as_ref().map(|a| a.to_string()),
            span: self.span(alias.range()),
        }
    }
}

/// Whether `module` may be imported: a listed module or a submodule of one the interpreter
/// knows (`torch.nn.functional`, `collections.abc` are checked when the import runs).
fn importable(module: &str) -> bool {
    IMPORTABLE_MODULES.contains(&module)
}
