//! The scenario AST: leakharness's own syntax tree for the Python that scenarios may use.
//!
//! The tree is deliberately independent of the parser's types, so that the interpreter, the
//! printer and the random generators depend only on the subset, not on a parser version.
//!
//! Every node carries a [`Span`]. Spans take part in `==`, because tests and error reports care
//! about them; to compare two trees by structure alone, compare [`strip_spans`] of both (the
//! printer → parser round trip does exactly that).
//!
//! This file holds the node types; their constructors and span clearing are in `spans`.

mod spans;

pub use spans::strip_spans;

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

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// What the statement is.
    pub kind: StmtKind,
    /// The whole statement, including a compound statement's body.
    pub span: Span,
}

/// The statements scenarios may use: Python 3's, less `async`, `match` and `type`.
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
    /// `a = b = value`: one or more targets, assigned left to right.
    Assign {
        /// Where the value goes, in the order Python assigns them.
        targets: Vec<Target>,
        /// The assigned value.
        value: Expr,
    },
    /// `target: annotation = value`; the annotation is never evaluated (as under
    /// `from __future__ import annotations`).
    AnnAssign {
        /// Where the value goes.
        target: Target,
        /// The annotation, kept for printing.
        annotation: Expr,
        /// The value, if any.
        value: Option<Expr>,
    },
    /// `target op= value`, for every binary operator.
    AugAssign {
        /// The updated name, attribute or item.
        target: Target,
        /// The operator before `=`.
        op: BinOp,
        /// The right-hand side.
        value: Expr,
    },
    /// An expression evaluated for its effect, e.g. `loss.backward()`.
    Expr(Expr),
    /// `del a, b.c, d[0]`.
    Del(Vec<Target>),
    /// `for target in iter:` with its body and `else` block.
    For {
        /// The loop variable(s).
        target: Target,
        /// The iterated expression.
        iter: Expr,
        /// The loop body, never empty.
        body: Vec<Stmt>,
        /// Run when the loop ends without `break`.
        orelse: Vec<Stmt>,
    },
    /// `while test:` with its body and `else` block.
    While {
        /// The condition.
        test: Expr,
        /// The loop body, never empty.
        body: Vec<Stmt>,
        /// Run when the loop ends without `break`.
        orelse: Vec<Stmt>,
    },
    /// `with a as x, b:` with its body.
    With {
        /// The context managers, entered left to right.
        items: Vec<WithItem>,
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
    /// `break`.
    Break,
    /// `continue`.
    Continue,
    /// `return` or `return value`.
    Return(Option<Expr>),
    /// `def name(params):` with its decorators.
    FunctionDef(std::rc::Rc<FunctionDef>),
    /// `class Name(bases):` with its decorators.
    ClassDef(std::rc::Rc<ClassDef>),
    /// `try:` with handlers, `else` and `finally`.
    Try {
        /// The guarded block.
        body: Vec<Stmt>,
        /// The `except` clauses, in order.
        handlers: Vec<Handler>,
        /// Run when the body raised nothing.
        orelse: Vec<Stmt>,
        /// Run however the statement is left.
        finalbody: Vec<Stmt>,
    },
    /// `raise`, `raise exc`, `raise exc from cause`.
    Raise {
        /// The exception (a class or an instance); re-raises the handled one when absent.
        exc: Option<Expr>,
        /// The `from` clause.
        cause: Option<Expr>,
    },
    /// `global a, b`.
    Global(Vec<Name>),
    /// `nonlocal a, b`.
    Nonlocal(Vec<Name>),
}

/// One `context as target` item of a `with` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct WithItem {
    /// The context manager.
    pub context: Expr,
    /// Where `__enter__`'s result goes.
    pub target: Option<Target>,
}

/// One `except` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Handler {
    /// The exception class or tuple of classes; a bare `except:` when absent.
    pub typ: Option<Expr>,
    /// The name after `as`.
    pub name: Option<Name>,
    /// The clause's body.
    pub body: Vec<Stmt>,
    /// The whole clause.
    pub span: Span,
}

/// A function: `def` statements and lambdas (whose body is one `return`).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    /// The function's name (`<lambda>` for lambdas).
    pub name: Name,
    /// Its parameters.
    pub params: Params,
    /// Its body.
    pub body: Vec<Stmt>,
    /// Decorators, outermost first.
    pub decorators: Vec<Expr>,
    /// The return annotation, never evaluated.
    pub returns: Option<Expr>,
    /// Whether this is a lambda, printed as `lambda params: expr`.
    pub is_lambda: bool,
}

/// The parameters of a function, in Python's order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    /// Positional-or-keyword parameters, the positional-only ones first.
    pub args: Vec<Param>,
    /// How many of `args` are positional-only (before `/`).
    pub posonly: usize,
    /// `*args`.
    pub vararg: Option<Param>,
    /// Keyword-only parameters (after `*` or `*args`).
    pub kwonly: Vec<Param>,
    /// `**kwargs`.
    pub kwarg: Option<Param>,
}

/// One parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: Name,
    /// Its default value, evaluated once when the `def` runs.
    pub default: Option<Expr>,
    /// Its annotation, never evaluated.
    pub annotation: Option<Expr>,
}

/// A `class` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDef {
    /// The class name.
    pub name: Name,
    /// The base classes.
    pub bases: Vec<Expr>,
    /// Keywords of the class line (`metaclass=...`).
    pub keywords: Vec<Keyword>,
    /// The class body.
    pub body: Vec<Stmt>,
    /// Decorators, outermost first.
    pub decorators: Vec<Expr>,
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

/// The left-hand side of an assignment, a `for` target, a `del` target.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `x = ...`.
    Name(Name),
    /// `a, (b, *c) = ...` and `[a, b] = ...`; the span covers the whole tuple.
    Tuple(Vec<Target>, Span),
    /// `*rest` inside a tuple target.
    Starred(Box<Target>, Span),
    /// `p.grad = ...`.
    Attribute {
        /// The object whose attribute is set.
        value: Expr,
        /// The attribute name.
        attr: String,
        /// The whole target.
        span: Span,
    },
    /// `d[k] = ...`.
    Subscript {
        /// The container.
        value: Expr,
        /// The key, index or slice.
        index: Expr,
        /// The whole target.
        span: Span,
    },
}

impl Target {
    /// Where the target was written.
    pub fn span(&self) -> Span {
        match self {
            Target::Name(n) => n.span,
            Target::Tuple(_, span)
            | Target::Starred(_, span)
            | Target::Attribute { span, .. }
            | Target::Subscript { span, .. } => *span,
        }
    }
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// One `for target in iter if cond` clause of a comprehension.
#[derive(Debug, Clone, PartialEq)]
pub struct Comprehension {
    /// The loop variable(s).
    pub target: Target,
    /// The iterated expression.
    pub iter: Expr,
    /// The `if` filters.
    pub ifs: Vec<Expr>,
}

/// A piece of an f-string.
#[derive(Debug, Clone, PartialEq)]
pub enum FPart {
    /// Literal text.
    Lit(String),
    /// `{value!conversion:spec}`.
    Value {
        /// The formatted expression.
        value: Box<Expr>,
        /// `'r'`, `'s'` or `'a'`.
        conversion: Option<char>,
        /// The format spec, itself an f-string.
        spec: Vec<FPart>,
    },
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
    /// `...`.
    Ellipsis,
    /// A string literal, with escapes resolved.
    Str(String),
    /// An f-string.
    FString(Vec<FPart>),
    /// A variable or module name.
    Name(String),
    /// `[a, *b]`.
    List(Vec<Expr>),
    /// `(a, b)` or `a, b`.
    Tuple(Vec<Expr>),
    /// `{a, b}`.
    Set(Vec<Expr>),
    /// `{k: v, **d}`: a `None` key is a `**` unpacking.
    Dict(Vec<(Option<Expr>, Expr)>),
    /// `*value` in a call or a literal.
    Starred(Box<Expr>),
    /// `func(args, key=value, **kw)`.
    Call {
        /// The called expression.
        func: Box<Expr>,
        /// Positional arguments, in order (`Starred` for `*args`).
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
    /// `value[index]`.
    Subscript {
        /// The indexed object.
        value: Box<Expr>,
        /// The index: an expression, a `Slice`, or a tuple of them.
        index: Box<Expr>,
    },
    /// `lower:upper:step` inside a subscript.
    Slice {
        /// Start.
        lower: Option<Box<Expr>>,
        /// Stop.
        upper: Option<Box<Expr>>,
        /// Step.
        step: Option<Box<Expr>>,
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
    /// `lambda params: body`, as a function whose body is `return body`.
    Lambda(std::rc::Rc<FunctionDef>),
    /// `[elt for ...]`.
    ListComp {
        /// The element.
        elt: Box<Expr>,
        /// The `for` clauses, outermost first.
        generators: Vec<Comprehension>,
    },
    /// `{elt for ...}`.
    SetComp {
        /// The element.
        elt: Box<Expr>,
        /// The `for` clauses, outermost first.
        generators: Vec<Comprehension>,
    },
    /// `(elt for ...)`.
    GeneratorExp {
        /// The element.
        elt: Box<Expr>,
        /// The `for` clauses, outermost first.
        generators: Vec<Comprehension>,
    },
    /// `yield value` (a generator function's statement or assignment value).
    Yield(Option<Box<Expr>>),
    /// `yield from iterable`.
    YieldFrom(Box<Expr>),
    /// `{key: value for ...}`.
    DictComp {
        /// The key.
        key: Box<Expr>,
        /// The value.
        value: Box<Expr>,
        /// The `for` clauses, outermost first.
        generators: Vec<Comprehension>,
    },
}

/// A `name=value` argument of a call, or `**value` when `name` is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    /// The parameter name; `None` for `**mapping`.
    pub name: Option<String>,
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
    /// `<<`
    LShift,
    /// `>>`
    RShift,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
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
            BinOp::LShift => "<<",
            BinOp::RShift => ">>",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
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
    /// `~x`
    Invert,
}

impl UnaryOp {
    /// The operator as written in Python (`not` without its following space).
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Pos => "+",
            UnaryOp::Not => "not",
            UnaryOp::Invert => "~",
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
