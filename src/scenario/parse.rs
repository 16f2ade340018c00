//! From scenario source text to the scenario AST.
//!
//! Python is parsed with rustpython-parser, then converted to [`ast`](super::ast) node by node.
//! Conversion keeps going after a construct outside the subset so that one run reports every
//! problem in the file, and nothing is run unless the whole file is inside the subset.

use std::path::{Path, PathBuf};

use rustpython_parser::ast as py;
use rustpython_parser::ast::Ranged;
use rustpython_parser::text_size::TextRange;
use rustpython_parser::{parse, Mode};

use super::ast::*;
use super::error::{LoadError, ScenarioError, ScenarioErrors};
use super::header::{parse_header, Header};

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

/// The modules a scenario may import.
pub const IMPORTABLE_MODULES: [&str; 4] =
    ["torch", "torch.nn", "torch.nn.functional", "torch.optim"];

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
/// let errors = parse_scenario(Path::new("s.py"), "while True:\n    pass\n").unwrap_err();
/// assert_eq!((errors.0[0].line, errors.0[0].col), (1, 1));
/// ```
pub fn parse_scenario(path: &Path, source: &str) -> Result<Scenario, ScenarioErrors> {
    let mut errors = Vec::new();
    let header = parse_header(path, source).unwrap_or_else(|header_errors| {
        errors.extend(header_errors);
        Header::default()
    });
    let mut converter = Converter {
        path,
        source,
        lines: LineIndex::new(source),
        errors: Vec::new(),
    };
    let body = match parse(source, Mode::Module, &path.to_string_lossy()) {
        Ok(py::Mod::Module(module)) => converter.body(&module.body),
        Ok(_) => Vec::new(),
        Err(error) => {
            let offset = usize::from(error.offset);
            let span = converter.lines.span(offset, offset);
            converter.errors.push(ScenarioError::new(
                path,
                span,
                source,
                format!("syntax error: {}", error.error),
            ));
            Vec::new()
        }
    };
    errors.extend(converter.errors);
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

/// Byte offsets of line starts, to turn the parser's byte offsets into 1-based line and
/// character column.
struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(source: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { source, starts }
    }

    fn position(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let col = self
            .source
            .get(start..)
            .unwrap_or("")
            .char_indices()
            .take_while(|&(i, _)| start + i < offset)
            .count();
        (to_u32(line), to_u32(col + 1))
    }

    fn span(&self, start: usize, end: usize) -> Span {
        let (line, col) = self.position(start);
        let (end_line, end_col) = self.position(end);
        Span {
            line,
            col,
            end_line,
            end_col,
        }
    }

    fn range(&self, range: TextRange) -> Span {
        self.span(usize::from(range.start()), usize::from(range.end()))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Converter<'a> {
    path: &'a Path,
    source: &'a str,
    lines: LineIndex<'a>,
    errors: Vec<ScenarioError>,
}

impl Converter<'_> {
    fn span(&self, range: TextRange) -> Span {
        self.lines.range(range)
    }

    /// Records that `construct`, at `range`, is outside the subset.
    fn reject<T>(&mut self, range: TextRange, construct: &str, help: &str) -> Option<T> {
        let span = self.span(range);
        self.errors.push(
            ScenarioError::new(
                self.path,
                span,
                self.source,
                format!("{construct} is not supported in scenarios"),
            )
            .with_help(help),
        );
        None
    }

    fn body(&mut self, stmts: &[py::Stmt]) -> Vec<Stmt> {
        stmts.iter().filter_map(|s| self.stmt(s)).collect()
    }

    /// Converts each expression, reporting all failures, and succeeds only if all succeed.
    fn exprs(&mut self, exprs: &[py::Expr]) -> Option<Vec<Expr>> {
        let converted: Vec<Option<Expr>> = exprs.iter().map(|e| self.expr(e)).collect();
        converted.into_iter().collect()
    }

    /// Walks the bodies of a rejected compound statement so that problems inside it are
    /// reported in the same run.
    fn check_nested(&mut self, bodies: &[&[py::Stmt]]) {
        for body in bodies {
            self.body(body);
        }
    }

    fn reject_decorators(&mut self, decorators: &[py::Expr]) {
        for decorator in decorators {
            self.reject::<()>(
                decorator.range(),
                "a decorator",
                "inline the function body where it is called",
            );
        }
    }

    fn stmt(&mut self, stmt: &py::Stmt) -> Option<Stmt> {
        let range = stmt.range();
        let kind = match stmt {
            py::Stmt::FunctionDef(def) => {
                self.reject_decorators(&def.decorator_list);
                self.check_nested(&[&def.body]);
                return self.reject(
                    range,
                    "a function definition",
                    "inline the function body where it is called",
                );
            }
            py::Stmt::AsyncFunctionDef(def) => {
                self.reject_decorators(&def.decorator_list);
                self.check_nested(&[&def.body]);
                return self.reject(
                    range,
                    "an async function definition",
                    "inline the function body where it is called",
                );
            }
            py::Stmt::ClassDef(class) => {
                self.reject_decorators(&class.decorator_list);
                self.check_nested(&[&class.body]);
                return self.reject(
                    range,
                    "a class definition",
                    "build models from library modules, e.g. `nn.Sequential(nn.Linear(4, 8), nn.ReLU())`",
                );
            }
            py::Stmt::Return(_) => {
                return self.reject(
                    range,
                    "`return`",
                    "scenarios have no functions; remove the `return`",
                )
            }
            py::Stmt::Delete(del) => {
                let names: Vec<Option<Name>> = del
                    .targets
                    .iter()
                    .map(|target| match target {
                        py::Expr::Name(name) => Some(self.name(name)),
                        other => self.reject(
                            other.range(),
                            "`del` of anything but a variable",
                            "delete variables only, e.g. `del x`",
                        ),
                    })
                    .collect();
                StmtKind::Del(names.into_iter().collect::<Option<_>>()?)
            }
            py::Stmt::Assign(assign) => {
                if assign.targets.len() > 1 {
                    self.expr(&assign.value);
                    return self.reject(
                        range,
                        "chained assignment",
                        "write one assignment per line",
                    );
                }
                let target = assign.targets.first().and_then(|t| self.target(t));
                let value = self.expr(&assign.value);
                StmtKind::Assign {
                    target: target?,
                    value: value?,
                }
            }
            py::Stmt::AugAssign(aug) => {
                let target = match aug.target.as_ref() {
                    py::Expr::Name(name) => Some(self.name(name)),
                    other => self.reject(
                        other.range(),
                        "augmented assignment to an attribute or item",
                        "update a variable, e.g. `total += x`, or assign with `=`",
                    ),
                };
                let op = match aug.op {
                    py::Operator::Add => Some(AugOp::Add),
                    py::Operator::Sub => Some(AugOp::Sub),
                    py::Operator::Mult => Some(AugOp::Mul),
                    py::Operator::Div => Some(AugOp::Div),
                    other => self.reject(
                        range,
                        &format!("`{}=`", operator_symbol(other)),
                        "use `+=`, `-=`, `*=` or `/=`, or write `x = x op y`",
                    ),
                };
                let value = self.expr(&aug.value);
                StmtKind::AugAssign {
                    target: target?,
                    op: op?,
                    value: value?,
                }
            }
            py::Stmt::AnnAssign(_) => {
                return self.reject(
                    range,
                    "an annotated assignment",
                    "drop the type annotation: `x = value`",
                )
            }
            py::Stmt::TypeAlias(_) => {
                return self.reject(range, "a `type` alias", "remove the type alias")
            }
            py::Stmt::For(for_) => return self.for_loop(for_, range),
            py::Stmt::AsyncFor(for_) => {
                self.check_nested(&[&for_.body, &for_.orelse]);
                return self.reject(
                    range,
                    "`async for`",
                    "write the loop as `for i in range(n):`",
                );
            }
            py::Stmt::While(while_) => {
                self.check_nested(&[&while_.body, &while_.orelse]);
                return self.reject(
                    range,
                    "a `while` loop",
                    "write the loop as `for i in range(n):`",
                );
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
            py::Stmt::With(with) => return self.with(with, range),
            py::Stmt::AsyncWith(with) => {
                self.check_nested(&[&with.body]);
                return self.reject(range, "`async with`", "write `with torch.no_grad():`");
            }
            py::Stmt::Match(_) => {
                return self.reject(range, "a `match` statement", "use `if`, `elif` and `else`")
            }
            py::Stmt::Raise(_) => {
                return self.reject(range, "`raise`", "use `assert condition, \"message\"`")
            }
            py::Stmt::Try(try_) => {
                let handlers = handler_bodies(&try_.handlers);
                self.check_nested(&[&try_.body, &try_.orelse, &try_.finalbody]);
                self.check_nested(&handlers);
                return self.reject(range, "a `try` statement", TRY_HELP);
            }
            py::Stmt::TryStar(try_) => {
                let handlers = handler_bodies(&try_.handlers);
                self.check_nested(&[&try_.body, &try_.orelse, &try_.finalbody]);
                self.check_nested(&handlers);
                return self.reject(range, "a `try` statement", TRY_HELP);
            }
            py::Stmt::Assert(assert) => {
                let test = self.expr(&assert.test);
                let msg = assert.msg.as_deref().map(|m| self.expr(m));
                StmtKind::Assert {
                    test: test?,
                    msg: match msg {
                        Some(msg) => Some(msg?),
                        None => None,
                    },
                }
            }
            py::Stmt::Import(import) => {
                let names: Vec<Option<ImportAlias>> = import
                    .names
                    .iter()
                    .map(|alias| {
                        if IMPORTABLE_MODULES.contains(&alias.name.as_str()) {
                            Some(self.alias(alias))
                        } else {
                            self.reject_import(alias.range(), alias.name.as_str())
                        }
                    })
                    .collect();
                StmtKind::Import(names.into_iter().collect::<Option<_>>()?)
            }
            py::Stmt::ImportFrom(import) => {
                let module = import.module.as_ref().map_or("", |m| m.as_str());
                let level = import.level.map_or(0, |level| level.to_u32());
                if level > 0 || !IMPORTABLE_MODULES.contains(&module) {
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
                    names: names.into_iter().collect::<Option<_>>()?,
                }
            }
            py::Stmt::Global(_) | py::Stmt::Nonlocal(_) => {
                let construct = if stmt.is_global_stmt() {
                    "`global`"
                } else {
                    "`nonlocal`"
                };
                return self.reject(
                    range,
                    construct,
                    "scenarios have a single scope; remove the declaration",
                );
            }
            py::Stmt::Expr(expr) => StmtKind::Expr(self.expr(&expr.value)?),
            py::Stmt::Pass(_) => StmtKind::Pass,
            py::Stmt::Break(_) | py::Stmt::Continue(_) => {
                let construct = if stmt.is_break_stmt() {
                    "`break`"
                } else {
                    "`continue`"
                };
                return self.reject(
                    range,
                    construct,
                    "loop over a smaller `range(...)`, or guard the rest of the body with `if`",
                );
            }
        };
        Some(Stmt {
            kind,
            span: self.span(range),
        })
    }

    /// Converts a block, which succeeds only if every statement in it does.
    fn block(&mut self, stmts: &[py::Stmt]) -> Option<Vec<Stmt>> {
        let before = self.errors.len();
        let body = self.body(stmts);
        (self.errors.len() == before).then_some(body)
    }

    fn reject_import<T>(&mut self, range: TextRange, module: &str) -> Option<T> {
        self.reject(
            range,
            &format!("importing `{module}`"),
            "scenarios may import only torch, torch.nn, torch.nn.functional and torch.optim",
        )
    }

    fn for_loop(&mut self, for_: &py::StmtFor, range: TextRange) -> Option<Stmt> {
        let var = match for_.target.as_ref() {
            py::Expr::Name(name) => Some(self.name(name)),
            other => self.reject(
                other.range(),
                "a `for` loop target other than one name",
                "loop over indices with `for i in range(len(xs)):` and index with `xs[i]`",
            ),
        };
        let range_call = match for_.iter.as_ref() {
            py::Expr::Call(call)
                if matches!(call.func.as_ref(), py::Expr::Name(f) if f.id.as_str() == "range")
                    && call.keywords.is_empty()
                    && (1..=3).contains(&call.args.len()) =>
            {
                self.exprs(&call.args).map(|args| RangeCall {
                    args,
                    span: self.span(call.range),
                })
            }
            other => self.reject(
                other.range(),
                "a `for` loop over something other than `range(...)`",
                "write the loop as `for i in range(n):` and index into lists with `xs[i]`",
            ),
        };
        let orelse = if let Some(first) = for_.orelse.first() {
            self.check_nested(&[&for_.orelse]);
            self.reject(
                first.range(),
                "`for ... else`",
                "move the `else` block after the loop",
            )
        } else {
            Some(())
        };
        let body = self.block(&for_.body);
        orelse?;
        Some(Stmt {
            kind: StmtKind::For {
                var: var?,
                range: range_call?,
                body: body?,
            },
            span: self.span(range),
        })
    }

    fn with(&mut self, with: &py::StmtWith, range: TextRange) -> Option<Stmt> {
        let context = match with.items.as_slice() {
            [item] => match &item.optional_vars {
                Some(vars) => self.reject(
                    vars.range(),
                    "`with ... as`",
                    "write the block as `with torch.no_grad():`, without `as`",
                ),
                None => self.expr(&item.context_expr),
            },
            _ => self.reject(
                range,
                "a `with` statement with several context managers",
                "nest one `with` block inside another",
            ),
        };
        let body = self.block(&with.body);
        Some(Stmt {
            kind: StmtKind::With {
                context: context?,
                body: body?,
            },
            span: self.span(range),
        })
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
            span: self.span(alias.range),
        }
    }

    fn target(&mut self, target: &py::Expr) -> Option<Target> {
        const HELP: &str =
            "assign to a name (`x = ...`), a tuple of names (`a, b = ...`) or an attribute (`p.grad = None`)";
        match target {
            py::Expr::Name(name) => Some(Target::Name(self.name(name))),
            py::Expr::Tuple(tuple) => {
                let names: Vec<Option<Name>> = tuple
                    .elts
                    .iter()
                    .map(|elt| match elt {
                        py::Expr::Name(name) => Some(self.name(name)),
                        other => self.reject(
                            other.range(),
                            "unpacking into something other than a name",
                            HELP,
                        ),
                    })
                    .collect();
                let names = names.into_iter().collect::<Option<_>>()?;
                Some(Target::Tuple(names, self.span(tuple.range)))
            }
            py::Expr::Attribute(attribute) => {
                let value = self.expr(&attribute.value)?;
                Some(Target::Attribute {
                    value,
                    attr: attribute.attr.to_string(),
                    span: self.span(attribute.range),
                })
            }
            py::Expr::Subscript(_) => self.reject(
                target.range(),
                "assignment to an item (`x[i] = ...`)",
                "build lists with `append`, or assign to a name",
            ),
            other => self.reject(other.range(), "this assignment target", HELP),
        }
    }

    fn expr(&mut self, expr: &py::Expr) -> Option<Expr> {
        let range = expr.range();
        let kind = match expr {
            py::Expr::BoolOp(bool_op) => ExprKind::BoolOp {
                op: match bool_op.op {
                    py::BoolOp::And => BoolOp::And,
                    py::BoolOp::Or => BoolOp::Or,
                },
                values: self.exprs(&bool_op.values)?,
            },
            py::Expr::NamedExpr(_) => {
                return self.reject(
                    range,
                    "an assignment expression (`:=`)",
                    "assign the value on its own line first",
                )
            }
            py::Expr::BinOp(bin) => {
                let op = match bin.op {
                    py::Operator::Add => Some(BinOp::Add),
                    py::Operator::Sub => Some(BinOp::Sub),
                    py::Operator::Mult => Some(BinOp::Mul),
                    py::Operator::Div => Some(BinOp::Div),
                    py::Operator::FloorDiv => Some(BinOp::FloorDiv),
                    py::Operator::Mod => Some(BinOp::Mod),
                    py::Operator::MatMult => Some(BinOp::MatMul),
                    py::Operator::Pow => Some(BinOp::Pow),
                    other => self.reject(
                        range,
                        &format!("the `{}` operator", operator_symbol(other)),
                        "use + - * / // % @ or **",
                    ),
                };
                let left = self.expr(&bin.left);
                let right = self.expr(&bin.right);
                ExprKind::BinOp {
                    left: Box::new(left?),
                    op: op?,
                    right: Box::new(right?),
                }
            }
            py::Expr::UnaryOp(unary) => {
                let op = match unary.op {
                    py::UnaryOp::USub => Some(UnaryOp::Neg),
                    py::UnaryOp::UAdd => Some(UnaryOp::Pos),
                    py::UnaryOp::Not => Some(UnaryOp::Not),
                    py::UnaryOp::Invert => self.reject(
                        range,
                        "the `~` operator",
                        "use `not` for booleans, or arithmetic",
                    ),
                };
                let operand = self.expr(&unary.operand);
                ExprKind::UnaryOp {
                    op: op?,
                    operand: Box::new(operand?),
                }
            }
            py::Expr::Lambda(_) => {
                return self.reject(
                    range,
                    "a lambda",
                    "write the expression where the function would be called",
                )
            }
            py::Expr::IfExp(if_exp) => {
                let body = self.expr(&if_exp.body);
                let test = self.expr(&if_exp.test);
                let orelse = self.expr(&if_exp.orelse);
                ExprKind::IfExp {
                    test: Box::new(test?),
                    body: Box::new(body?),
                    orelse: Box::new(orelse?),
                }
            }
            py::Expr::Dict(_) => {
                return self.reject(range, "a dict literal", "use separate variables, or a list")
            }
            py::Expr::Set(_) => return self.reject(range, "a set literal", "use a list"),
            py::Expr::ListComp(_) => {
                return self.reject(range, "a list comprehension", COMPREHENSION_HELP)
            }
            py::Expr::SetComp(_) => {
                return self.reject(range, "a set comprehension", COMPREHENSION_HELP)
            }
            py::Expr::DictComp(_) => {
                return self.reject(range, "a dict comprehension", COMPREHENSION_HELP)
            }
            py::Expr::GeneratorExp(_) => {
                return self.reject(range, "a generator expression", COMPREHENSION_HELP)
            }
            py::Expr::Await(_) => {
                return self.reject(range, "`await`", "call the function directly")
            }
            py::Expr::Yield(_) | py::Expr::YieldFrom(_) => {
                return self.reject(
                    range,
                    "`yield`",
                    "scenarios have no functions; compute the values in a loop",
                )
            }
            py::Expr::Compare(compare) => {
                let left = self.expr(&compare.left);
                let comparators = self.exprs(&compare.comparators);
                ExprKind::Compare {
                    left: Box::new(left?),
                    ops: compare.ops.iter().map(|&op| cmp_op(op)).collect(),
                    comparators: comparators?,
                }
            }
            py::Expr::Call(call) => {
                let func = self.expr(&call.func);
                let args: Vec<Option<Expr>> = call
                    .args
                    .iter()
                    .map(|arg| match arg {
                        py::Expr::Starred(_) => self.reject(
                            arg.range(),
                            "a starred argument (`*args`)",
                            "pass the arguments one by one",
                        ),
                        other => self.expr(other),
                    })
                    .collect();
                let keywords: Vec<Option<Keyword>> = call
                    .keywords
                    .iter()
                    .map(|keyword| self.keyword(keyword))
                    .collect();
                ExprKind::Call {
                    func: Box::new(func?),
                    args: args.into_iter().collect::<Option<_>>()?,
                    keywords: keywords.into_iter().collect::<Option<_>>()?,
                }
            }
            py::Expr::FormattedValue(_) | py::Expr::JoinedStr(_) => return self.reject(
                range,
                "an f-string",
                "pass the values to `print` as separate arguments: `print(\"loss\", loss.item())`",
            ),
            py::Expr::Constant(constant) => return self.constant(&constant.value, range),
            py::Expr::Attribute(attribute) => ExprKind::Attribute {
                value: Box::new(self.expr(&attribute.value)?),
                attr: attribute.attr.to_string(),
            },
            py::Expr::Subscript(subscript) => {
                let value = self.expr(&subscript.value);
                let index = self.expr(&subscript.slice);
                ExprKind::Subscript {
                    value: Box::new(value?),
                    index: Box::new(index?),
                }
            }
            py::Expr::Starred(_) => {
                return self.reject(
                    range,
                    "a starred expression",
                    "write the elements out one by one",
                )
            }
            py::Expr::Name(name) => ExprKind::Name(name.id.to_string()),
            py::Expr::List(list) => ExprKind::List(self.exprs(&list.elts)?),
            py::Expr::Tuple(tuple) => ExprKind::Tuple(self.exprs(&tuple.elts)?),
            py::Expr::Slice(_) => {
                return self.reject(
                    range,
                    "a slice",
                    "index with a single position, e.g. `x[0]` or `x[-1]`",
                )
            }
        };
        Some(Expr {
            kind,
            span: self.span(range),
        })
    }

    fn keyword(&mut self, keyword: &py::Keyword) -> Option<Keyword> {
        let Some(name) = &keyword.arg else {
            return self.reject(
                keyword.range,
                "a `**` argument",
                "pass keyword arguments by name, e.g. `lr=0.1`",
            );
        };
        Some(Keyword {
            name: name.to_string(),
            value: self.expr(&keyword.value)?,
            span: self.span(keyword.range),
        })
    }

    fn constant(&mut self, constant: &py::Constant, range: TextRange) -> Option<Expr> {
        let kind = match constant {
            py::Constant::None => ExprKind::None,
            py::Constant::Bool(b) => ExprKind::Bool(*b),
            py::Constant::Str(s) => ExprKind::Str(s.clone()),
            py::Constant::Int(i) => match i.to_string().parse::<i64>() {
                Ok(i) => ExprKind::Int(i),
                Err(_) => {
                    return self.reject(
                        range,
                        "an integer literal this large",
                        "use a value that fits in 64 bits",
                    )
                }
            },
            py::Constant::Float(f) => ExprKind::Float(*f),
            py::Constant::Bytes(_) => {
                return self.reject(range, "a bytes literal", "use a str literal")
            }
            py::Constant::Complex { .. } => {
                return self.reject(range, "a complex literal", "use a float")
            }
            py::Constant::Ellipsis => {
                return self.reject(range, "`...`", "write `pass`, or `None` for a value")
            }
            py::Constant::Tuple(_) => {
                return self.reject(range, "a constant tuple", "write the tuple as `(a, b)`")
            }
        };
        Some(Expr {
            kind,
            span: self.span(range),
        })
    }
}

const TRY_HELP: &str =
    "remove the `try` and keep its body; a scenario that must fail says `#@ expect: error`";

const COMPREHENSION_HELP: &str =
    "use a list and append: `xs = []` then `for i in range(n):` with `xs.append(...)`";

fn handler_bodies(handlers: &[py::ExceptHandler]) -> Vec<&[py::Stmt]> {
    handlers
        .iter()
        .map(|py::ExceptHandler::ExceptHandler(handler)| handler.body.as_slice())
        .collect()
}

fn cmp_op(op: py::CmpOp) -> CmpOp {
    match op {
        py::CmpOp::Eq => CmpOp::Eq,
        py::CmpOp::NotEq => CmpOp::NotEq,
        py::CmpOp::Lt => CmpOp::Lt,
        py::CmpOp::LtE => CmpOp::LtE,
        py::CmpOp::Gt => CmpOp::Gt,
        py::CmpOp::GtE => CmpOp::GtE,
        py::CmpOp::Is => CmpOp::Is,
        py::CmpOp::IsNot => CmpOp::IsNot,
        py::CmpOp::In => CmpOp::In,
        py::CmpOp::NotIn => CmpOp::NotIn,
    }
}

fn operator_symbol(op: py::Operator) -> &'static str {
    match op {
        py::Operator::Add => "+",
        py::Operator::Sub => "-",
        py::Operator::Mult => "*",
        py::Operator::MatMult => "@",
        py::Operator::Div => "/",
        py::Operator::Mod => "%",
        py::Operator::Pow => "**",
        py::Operator::LShift => "<<",
        py::Operator::RShift => ">>",
        py::Operator::BitOr => "|",
        py::Operator::BitXor => "^",
        py::Operator::BitAnd => "&",
        py::Operator::FloorDiv => "//",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_characters_from_one() {
        let lines = LineIndex::new("ab\r\nçd\n\nx");
        assert_eq!(lines.position(0), (1, 1));
        assert_eq!(lines.position(1), (1, 2));
        assert_eq!(lines.position(4), (2, 1));
        // `ç` is two bytes but one column.
        assert_eq!(lines.position(6), (2, 2));
        assert_eq!(lines.position(8), (3, 1));
        assert_eq!(lines.position(9), (4, 1));
        assert_eq!(lines.position(10), (4, 2));
    }

    #[test]
    fn offsets_inside_a_character_or_past_the_end_do_not_panic() {
        let lines = LineIndex::new("çç");
        assert_eq!(lines.position(1), (1, 2));
        assert_eq!(lines.position(100), (1, 3));
    }
}
