//! The scenario AST: leakharness's own syntax tree for the supported subset of Python.
//!
//! The tree is deliberately independent of the parser's types, so that the interpreter, the
//! printer and the random generators depend only on the subset, not on a parser version.
//!
//! Every node carries a [`Span`]. Spans take part in `==`, because tests and error reports care
//! about them; to compare two trees by structure alone, compare [`strip_spans`] of both (the
//! printer → parser round trip does exactly that).

/// A source region: 1-based line and column of the first character, and of the character just
/// past the end. Columns count Unicode scalar values (characters), not bytes.
///
/// [`Span::default()`] (all zero) marks nodes that were built in code rather than parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Line of the first character, starting at 1.
    pub line: u32,
    /// Column of the first character, starting at 1, in characters.
    pub col: u32,
    /// Line of the end position, starting at 1.
    pub end_line: u32,
    /// Column just past the last character, starting at 1, in characters.
    pub end_col: u32,
}

/// A name together with where it was written: a variable, a loop variable, an import alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The identifier.
    pub id: String,
    /// Where the identifier was written.
    pub span: Span,
}

/// A statement of the subset.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// What the statement is.
    pub kind: StmtKind,
    /// The whole statement, including a compound statement's body.
    pub span: Span,
}

/// The statements of the subset.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `import torch`, `import torch.nn as nn`, `import torch, torch.optim as optim`.
    Import(Vec<ImportAlias>),
    /// `from torch import nn, optim as o`.
    ImportFrom {
        /// The dotted module name, e.g. `torch.nn`.
        module: String,
        /// The imported names with their optional aliases.
        names: Vec<ImportAlias>,
    },
    /// `target = value`.
    Assign {
        /// Where the value goes.
        target: Target,
        /// The assigned value.
        value: Expr,
    },
    /// `name += value` and the other augmented assignments of [`AugOp`].
    AugAssign {
        /// The updated variable.
        target: Name,
        /// The operator before `=`.
        op: AugOp,
        /// The right-hand side.
        value: Expr,
    },
    /// An expression evaluated for its effect, e.g. `loss.backward()`.
    Expr(Expr),
    /// `del a, b`.
    Del(Vec<Name>),
    /// `for var in range(args):` with its body.
    For {
        /// The loop variable.
        var: Name,
        /// The `range(...)` call being iterated.
        range: RangeCall,
        /// The loop body, never empty.
        body: Vec<Stmt>,
    },
    /// `with context:` with its body; which contexts exist is the interpreter's business.
    With {
        /// The context manager expression, e.g. `torch.no_grad()`.
        context: Expr,
        /// The block body, never empty.
        body: Vec<Stmt>,
    },
    /// `if test:` with its body and `else` branch; `elif` is an `If` alone in `orelse`, as in
    /// Python's own AST.
    If {
        /// The condition.
        test: Expr,
        /// Statements run when the condition holds, never empty.
        body: Vec<Stmt>,
        /// Statements of the `else` branch; empty when there is none.
        orelse: Vec<Stmt>,
    },
    /// `assert test` or `assert test, msg`.
    Assert {
        /// The asserted condition.
        test: Expr,
        /// The message shown when the assertion fails.
        msg: Option<Expr>,
    },
    /// `pass`.
    Pass,
}

/// One `module as alias` (or `name as alias`) item of an import statement.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportAlias {
    /// The dotted module name (`import`) or the imported name (`from ... import`).
    pub name: String,
    /// The name after `as`, if any.
    pub alias: Option<String>,
    /// Where the item was written.
    pub span: Span,
}

/// The `range(...)` call of a `for` loop.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeCall {
    /// The positional arguments: `stop`, or `start, stop`, or `start, stop, step`.
    pub args: Vec<Expr>,
    /// The whole call.
    pub span: Span,
}

/// The left-hand side of an assignment.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `x = ...`.
    Name(Name),
    /// `a, b = ...`; the span covers the whole tuple.
    Tuple(Vec<Name>, Span),
    /// `p.grad = ...`.
    Attribute {
        /// The object whose attribute is set.
        value: Expr,
        /// The attribute name.
        attr: String,
        /// The whole target.
        span: Span,
    },
}

/// Operators of augmented assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AugOp {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
}

impl AugOp {
    /// The binary operator this augmented assignment applies.
    pub fn bin_op(self) -> BinOp {
        match self {
            AugOp::Add => BinOp::Add,
            AugOp::Sub => BinOp::Sub,
            AugOp::Mul => BinOp::Mul,
            AugOp::Div => BinOp::Div,
        }
    }
}

/// An expression of the subset.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// The expressions of the subset.
///
/// Number literals are never negative when parsed: `-1` is `UnaryOp(Neg, Int(1))`, as in Python.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// An integer literal.
    Int(i64),
    /// A float literal such as `1e-3`.
    Float(f64),
    /// `True` or `False`.
    Bool(bool),
    /// `None`.
    None,
    /// A string literal, with escapes resolved.
    Str(String),
    /// A variable or module name.
    Name(String),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `(a, b)` or `a, b`.
    Tuple(Vec<Expr>),
    /// `func(args, key=value)`.
    Call {
        /// The called expression.
        func: Box<Expr>,
        /// Positional arguments, in order.
        args: Vec<Expr>,
        /// Keyword arguments, in order.
        keywords: Vec<Keyword>,
    },
    /// `value.attr`.
    Attribute {
        /// The object.
        value: Box<Expr>,
        /// The attribute name.
        attr: String,
    },
    /// `value[index]`; the index is a single expression (slices are not in the subset).
    Subscript {
        /// The indexed object.
        value: Box<Expr>,
        /// The index, e.g. `0` or `-1`.
        index: Box<Expr>,
    },
    /// `left op right`.
    BinOp {
        /// Left operand.
        left: Box<Expr>,
        /// The operator.
        op: BinOp,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `op operand`.
    UnaryOp {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `left op1 c1 op2 c2 ...`, a comparison chain; `ops` and `comparators` have equal length.
    Compare {
        /// The leftmost operand.
        left: Box<Expr>,
        /// The operators, left to right.
        ops: Vec<CmpOp>,
        /// The operands after each operator.
        comparators: Vec<Expr>,
    },
    /// `a and b and c` or `a or b`: one operator, two or more operands.
    BoolOp {
        /// The operator.
        op: BoolOp,
        /// The operands, left to right.
        values: Vec<Expr>,
    },
    /// `body if test else orelse`.
    IfExp {
        /// The condition.
        test: Box<Expr>,
        /// The value when the condition holds.
        body: Box<Expr>,
        /// The value otherwise.
        orelse: Box<Expr>,
    },
}

/// A `name=value` argument of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    /// The parameter name.
    pub name: String,
    /// The argument.
    pub value: Expr,
    /// The whole `name=value`.
    pub span: Span,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `//`
    FloorDiv,
    /// `%`
    Mod,
    /// `@`
    MatMul,
    /// `**`
    Pow,
}

impl BinOp {
    /// The operator as written in Python.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::MatMul => "@",
            BinOp::Pow => "**",
        }
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `+x`
    Pos,
    /// `not x`
    Not,
}

impl UnaryOp {
    /// The operator as written in Python (`not` without its following space).
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Pos => "+",
            UnaryOp::Not => "not",
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtE,
    /// `>`
    Gt,
    /// `>=`
    GtE,
    /// `is`
    Is,
    /// `is not`
    IsNot,
    /// `in`
    In,
    /// `not in`
    NotIn,
}

impl CmpOp {
    /// The operator as written in Python.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::NotEq => "!=",
            CmpOp::Lt => "<",
            CmpOp::LtE => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtE => ">=",
            CmpOp::Is => "is",
            CmpOp::IsNot => "is not",
            CmpOp::In => "in",
            CmpOp::NotIn => "not in",
        }
    }
}

/// Boolean operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoolOp {
    /// `and`
    And,
    /// `or`
    Or,
}

impl Expr {
    /// An expression with the default (zero) span, for trees built in code.
    pub fn new(kind: ExprKind) -> Expr {
        Expr {
            kind,
            span: Span::default(),
        }
    }

    /// Sets every span in this expression to [`Span::default()`].
    pub fn clear_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Str(_)
            | ExprKind::Name(_) => {}
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                items.iter_mut().for_each(Expr::clear_spans)
            }
            ExprKind::Call {
                func,
                args,
                keywords,
            } => {
                func.clear_spans();
                args.iter_mut().for_each(Expr::clear_spans);
                for keyword in keywords {
                    keyword.span = Span::default();
                    keyword.value.clear_spans();
                }
            }
            ExprKind::Attribute { value, .. } => value.clear_spans(),
            ExprKind::Subscript { value, index } => {
                value.clear_spans();
                index.clear_spans();
            }
            ExprKind::BinOp { left, right, .. } => {
                left.clear_spans();
                right.clear_spans();
            }
            ExprKind::UnaryOp { operand, .. } => operand.clear_spans(),
            ExprKind::Compare {
                left, comparators, ..
            } => {
                left.clear_spans();
                comparators.iter_mut().for_each(Expr::clear_spans);
            }
            ExprKind::BoolOp { values, .. } => values.iter_mut().for_each(Expr::clear_spans),
            ExprKind::IfExp { test, body, orelse } => {
                test.clear_spans();
                body.clear_spans();
                orelse.clear_spans();
            }
        }
    }
}

impl Name {
    /// A name with the default (zero) span, for trees built in code.
    pub fn new(id: impl Into<String>) -> Name {
        Name {
            id: id.into(),
            span: Span::default(),
        }
    }
}

impl Stmt {
    /// A statement with the default (zero) span, for trees built in code.
    pub fn new(kind: StmtKind) -> Stmt {
        Stmt {
            kind,
            span: Span::default(),
        }
    }

    /// Sets every span in this statement, and in the statements and expressions inside it, to
    /// [`Span::default()`].
    pub fn clear_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            StmtKind::Import(names) | StmtKind::ImportFrom { names, .. } => {
                names.iter_mut().for_each(|n| n.span = Span::default())
            }
            StmtKind::Assign { target, value } => {
                match target {
                    Target::Name(name) => name.span = Span::default(),
                    Target::Tuple(names, span) => {
                        *span = Span::default();
                        names.iter_mut().for_each(|n| n.span = Span::default());
                    }
                    Target::Attribute { value, span, .. } => {
                        *span = Span::default();
                        value.clear_spans();
                    }
                }
                value.clear_spans();
            }
            StmtKind::AugAssign { target, value, .. } => {
                target.span = Span::default();
                value.clear_spans();
            }
            StmtKind::Expr(expr) => expr.clear_spans(),
            StmtKind::Del(names) => names.iter_mut().for_each(|n| n.span = Span::default()),
            StmtKind::For { var, range, body } => {
                var.span = Span::default();
                range.span = Span::default();
                range.args.iter_mut().for_each(Expr::clear_spans);
                body.iter_mut().for_each(Stmt::clear_spans);
            }
            StmtKind::With { context, body } => {
                context.clear_spans();
                body.iter_mut().for_each(Stmt::clear_spans);
            }
            StmtKind::If { test, body, orelse } => {
                test.clear_spans();
                body.iter_mut()
                    .chain(orelse.iter_mut())
                    .for_each(Stmt::clear_spans);
            }
            StmtKind::Assert { test, msg } => {
                test.clear_spans();
                if let Some(msg) = msg {
                    msg.clear_spans();
                }
            }
            StmtKind::Pass => {}
        }
    }
}

/// A copy of `body` with every span set to [`Span::default()`], for comparing trees by structure.
pub fn strip_spans(body: &[Stmt]) -> Vec<Stmt> {
    let mut body = body.to_vec();
    body.iter_mut().for_each(Stmt::clear_spans);
    body
}
