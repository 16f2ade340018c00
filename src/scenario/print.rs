//! From the scenario AST back to Python source.
//!
//! Output follows black's style for this subset (4-space indents, double quotes, spaces around
//! binary operators, none around `=` in keyword arguments, `**` hugging simple operands) except
//! that long lines are not wrapped. Parentheses are added exactly where precedence needs them, so
//! printing and parsing again gives back the same tree (see [`strip_spans`](super::strip_spans)).

use std::fmt::Write;

use super::ast::*;
use super::header::Header;
use super::parse::Scenario;
use crate::base::header_size;

/// Prints a whole scenario: its header as `#@ key: value` lines (the description first, as a
/// plain comment), then its body.
///
/// ```
/// use std::path::Path;
/// use leakharness::scenario::{parse_scenario, print_scenario};
///
/// let source = "#@ expect: leak tensor-list\nimport torch\nxs = []\nfor i in range(3):\n    xs.append(torch.ones(2)*2)\n";
/// let scenario = parse_scenario(Path::new("s.py"), source).unwrap();
/// assert_eq!(
///     print_scenario(&scenario),
///     "#@ expect: leak tensor-list\nimport torch\n\nxs = []\nfor i in range(3):\n    xs.append(torch.ones(2) * 2)\n",
/// );
/// ```
pub fn print_scenario(scenario: &Scenario) -> String {
    let mut out = print_header(&scenario.header);
    out.push_str(&print_body(&scenario.body));
    out
}

/// Prints header comment lines; `expect` is always written, other keys only when set.
pub fn print_header(header: &Header) -> String {
    let mut out = String::new();
    if let Some(description) = &header.description {
        for line in description.lines() {
            push_line(&mut out, &format!("# {line}"));
        }
    }
    push_line(&mut out, &format!("#@ expect: {}", header.expect));
    if let Some(bytes) = header.device_memory {
        push_line(
            &mut out,
            &format!("#@ device-memory: {}", header_size(bytes)),
        );
    }
    if let Some(steps) = header.max_steps {
        push_line(&mut out, &format!("#@ max-steps: {steps}"));
    }
    if let Some(backend) = &header.backend {
        push_line(&mut out, &format!("#@ backend: {backend}"));
    }
    if let Some(iterations) = header.iterations {
        push_line(&mut out, &format!("#@ iterations: {iterations}"));
    }
    if let Some(conf) = &header.alloc_conf {
        push_line(&mut out, &format!("#@ alloc-conf: {conf}"));
    }
    for allowance in &header.allow {
        push_line(&mut out, &format!("#@ allow: {allowance}"));
    }
    out
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

/// Prints top-level statements, one per line, with a blank line after the leading imports.
///
/// An empty block inside a compound statement, which only a tree built in code can have, is
/// printed as `pass` so that the output is still valid Python.
pub fn print_body(body: &[Stmt]) -> String {
    let mut out = String::new();
    let imports = body
        .iter()
        .take_while(|s| matches!(s.kind, StmtKind::Import(_) | StmtKind::ImportFrom { .. }))
        .count();
    for (i, stmt) in body.iter().enumerate() {
        if i == imports && imports > 0 {
            out.push('\n');
        }
        stmt_to(&mut out, stmt, 0);
    }
    out
}

/// Prints one expression, parenthesized only where needed inside it.
///
/// ```
/// use leakharness::scenario::{print_expr, BinOp, Expr, ExprKind};
///
/// let int = |i| Expr::new(ExprKind::Int(i));
/// let sum = Expr::new(ExprKind::BinOp { left: Box::new(int(1)), op: BinOp::Add, right: Box::new(int(2)) });
/// let product = ExprKind::BinOp { left: Box::new(sum), op: BinOp::Mul, right: Box::new(int(3)) };
/// assert_eq!(print_expr(&Expr::new(product)), "(1 + 2) * 3");
/// ```
pub fn print_expr(expr: &Expr) -> String {
    let mut out = String::new();
    expr_to(&mut out, expr, LOWEST);
    out
}

fn indent(out: &mut String, depth: usize) {
    out.push_str(&"    ".repeat(depth));
}

fn block_to(out: &mut String, body: &[Stmt], depth: usize) {
    if body.is_empty() {
        indent(out, depth);
        out.push_str("pass\n");
    }
    for stmt in body {
        stmt_to(out, stmt, depth);
    }
}

fn stmt_to(out: &mut String, stmt: &Stmt, depth: usize) {
    indent(out, depth);
    match &stmt.kind {
        StmtKind::Import(names) => {
            out.push_str("import ");
            aliases_to(out, names);
        }
        StmtKind::ImportFrom { module, names } => {
            let _ = write!(out, "from {module} import ");
            aliases_to(out, names);
        }
        StmtKind::Assign { targets, value } => {
            for target in targets {
                top_target_to(out, target);
                out.push_str(" = ");
            }
            expr_to(out, value, LOWEST);
        }
        StmtKind::AnnAssign {
            target,
            annotation,
            value,
        } => {
            target_to(out, target);
            out.push_str(": ");
            expr_to(out, annotation, IF_EXP);
            if let Some(value) = value {
                out.push_str(" = ");
                expr_to(out, value, LOWEST);
            }
        }
        StmtKind::AugAssign { target, op, value } => {
            target_to(out, target);
            let _ = write!(out, " {}= ", op.symbol());
            expr_to(out, value, LOWEST);
        }
        StmtKind::Expr(expr) => expr_to(out, expr, LOWEST),
        StmtKind::Del(targets) => {
            out.push_str("del ");
            for (i, t) in targets.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                target_to(out, t);
            }
        }
        StmtKind::Return(value) => {
            out.push_str("return");
            if let Some(value) = value {
                out.push(' ');
                expr_to(out, value, LOWEST);
            }
        }
        StmtKind::Pass => out.push_str("pass"),
        StmtKind::Break => out.push_str("break"),
        StmtKind::Continue => out.push_str("continue"),
        StmtKind::Global(names) | StmtKind::Nonlocal(names) => {
            out.push_str(if matches!(stmt.kind, StmtKind::Global(_)) {
                "global "
            } else {
                "nonlocal "
            });
            let ids: Vec<&str> = names.iter().map(|n| n.id.as_str()).collect();
            out.push_str(&ids.join(", "));
        }
        StmtKind::Raise { exc, cause } => {
            out.push_str("raise");
            if let Some(exc) = exc {
                out.push(' ');
                expr_to(out, exc, IF_EXP);
            }
            if let Some(cause) = cause {
                out.push_str(" from ");
                expr_to(out, cause, IF_EXP);
            }
        }
        StmtKind::Assert { test, msg } => {
            out.push_str("assert ");
            expr_to(out, test, IF_EXP);
            if let Some(msg) = msg {
                out.push_str(", ");
                expr_to(out, msg, IF_EXP);
            }
        }
        StmtKind::For {
            target,
            iter,
            body,
            orelse,
        } => {
            out.push_str("for ");
            top_target_to(out, target);
            out.push_str(" in ");
            expr_to(out, iter, LOWEST);
            out.push_str(":\n");
            block_to(out, body, depth + 1);
            else_to(out, orelse, depth);
            return;
        }
        StmtKind::While { test, body, orelse } => {
            out.push_str("while ");
            expr_to(out, test, LOWEST);
            out.push_str(":\n");
            block_to(out, body, depth + 1);
            else_to(out, orelse, depth);
            return;
        }
        StmtKind::With { items, body } => {
            out.push_str("with ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                // `with (a, b):` means two context managers, so a tuple needs a second pair.
                if matches!(item.context.kind, ExprKind::Tuple(_)) {
                    out.push('(');
                    expr_to(out, &item.context, LOWEST);
                    out.push(')');
                } else {
                    expr_to(out, &item.context, IF_EXP);
                }
                if let Some(target) = &item.target {
                    out.push_str(" as ");
                    target_to(out, target);
                }
            }
            out.push_str(":\n");
            block_to(out, body, depth + 1);
            return;
        }
        StmtKind::If { test, body, orelse } => {
            if_to(out, "if", test, body, orelse, depth);
            return;
        }
        StmtKind::Try {
            body,
            handlers,
            orelse,
            finalbody,
        } => {
            out.push_str("try:\n");
            block_to(out, body, depth + 1);
            for h in handlers {
                indent(out, depth);
                out.push_str("except");
                if let Some(typ) = &h.typ {
                    out.push(' ');
                    expr_to(out, typ, IF_EXP);
                }
                if let Some(name) = &h.name {
                    let _ = write!(out, " as {}", name.id);
                }
                out.push_str(":\n");
                block_to(out, &h.body, depth + 1);
            }
            else_to(out, orelse, depth);
            if !finalbody.is_empty() || handlers.is_empty() {
                indent(out, depth);
                out.push_str("finally:\n");
                block_to(out, finalbody, depth + 1);
            }
            return;
        }
        StmtKind::FunctionDef(def) => {
            decorators_to(out, &def.decorators, depth);
            let _ = write!(out, "def {}(", def.name.id);
            params_to(out, &def.params, true);
            out.push(')');
            if let Some(returns) = &def.returns {
                out.push_str(" -> ");
                expr_to(out, returns, IF_EXP);
            }
            out.push_str(":\n");
            block_to(out, &def.body, depth + 1);
            return;
        }
        StmtKind::ClassDef(class) => {
            decorators_to(out, &class.decorators, depth);
            let _ = write!(out, "class {}", class.name.id);
            if !class.bases.is_empty() || !class.keywords.is_empty() {
                out.push('(');
                comma_separated(out, &class.bases);
                keywords_to(out, &class.keywords, !class.bases.is_empty());
                out.push(')');
            }
            out.push_str(":\n");
            block_to(out, &class.body, depth + 1);
            return;
        }
    }
    out.push('\n');
}

fn else_to(out: &mut String, orelse: &[Stmt], depth: usize) {
    if !orelse.is_empty() {
        indent(out, depth);
        out.push_str("else:\n");
        block_to(out, orelse, depth + 1);
    }
}

fn decorators_to(out: &mut String, decorators: &[Expr], depth: usize) {
    for d in decorators {
        out.push('@');
        expr_to(out, d, LOWEST);
        out.push('\n');
        indent(out, depth);
    }
}

fn param_to(out: &mut String, p: &Param, annotations: bool) {
    out.push_str(&p.name.id);
    match (&p.annotation, annotations) {
        (Some(a), true) => {
            out.push_str(": ");
            expr_to(out, a, IF_EXP);
            if let Some(d) = &p.default {
                out.push_str(" = ");
                expr_to(out, d, IF_EXP);
            }
        }
        _ => {
            if let Some(d) = &p.default {
                out.push('=');
                expr_to(out, d, IF_EXP);
            }
        }
    }
}

/// Parameters as written; lambdas cannot have annotations.
fn params_to(out: &mut String, params: &Params, annotations: bool) {
    let mut parts: Vec<String> = Vec::new();
    for (i, p) in params.args.iter().enumerate() {
        let mut s = String::new();
        param_to(&mut s, p, annotations);
        parts.push(s);
        if i + 1 == params.posonly {
            parts.push("/".into());
        }
    }
    if let Some(v) = &params.vararg {
        let mut s = String::from("*");
        param_to(&mut s, v, annotations);
        parts.push(s);
    } else if !params.kwonly.is_empty() {
        parts.push("*".into());
    }
    for p in &params.kwonly {
        let mut s = String::new();
        param_to(&mut s, p, annotations);
        parts.push(s);
    }
    if let Some(k) = &params.kwarg {
        let mut s = String::from("**");
        param_to(&mut s, k, annotations);
        parts.push(s);
    }
    out.push_str(&parts.join(", "));
}

fn if_to(
    out: &mut String,
    keyword: &str,
    test: &Expr,
    body: &[Stmt],
    orelse: &[Stmt],
    depth: usize,
) {
    let _ = write!(out, "{keyword} ");
    expr_to(out, test, LOWEST);
    out.push_str(":\n");
    block_to(out, body, depth + 1);
    match orelse {
        [] => {}
        // A lone `if` in the else branch is exactly what Python parses `elif` into.
        [Stmt {
            kind: StmtKind::If { test, body, orelse },
            ..
        }] => {
            indent(out, depth);
            if_to(out, "elif", test, body, orelse, depth);
        }
        _ => {
            indent(out, depth);
            out.push_str("else:\n");
            block_to(out, orelse, depth + 1);
        }
    }
}

fn aliases_to(out: &mut String, names: &[ImportAlias]) {
    for (i, alias) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&alias.name);
        if let Some(alias) = &alias.alias {
            let _ = write!(out, " as {alias}");
        }
    }
}

/// A target where a bare tuple reads back the same: `a, b = ...`, `for i, x in ...`.
fn top_target_to(out: &mut String, target: &Target) {
    match target {
        Target::Tuple(items, _) if items.len() >= 2 => {
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                target_to(out, t);
            }
        }
        other => target_to(out, other),
    }
}

fn target_to(out: &mut String, target: &Target) {
    match target {
        Target::Name(name) => out.push_str(&name.id),
        Target::Tuple(items, _) => {
            out.push('(');
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                target_to(out, t);
            }
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Target::Starred(inner, _) => {
            out.push('*');
            target_to(out, inner);
        }
        Target::Attribute { value, attr, .. } => {
            primary_value_to(out, value);
            let _ = write!(out, ".{attr}");
        }
        Target::Subscript { value, index, .. } => {
            primary_value_to(out, value);
            out.push('[');
            subscript_index_to(out, index);
            out.push(']');
        }
    }
}

// Binding strength, loosest first, following the Python grammar.
const LOWEST: u8 = 0;
const LAMBDA: u8 = 1;
const IF_EXP: u8 = 2;
const OR: u8 = 3;
const AND: u8 = 4;
const NOT: u8 = 5;
const COMPARE: u8 = 6;
const BIT_OR: u8 = 7;
const BIT_XOR: u8 = 8;
const BIT_AND: u8 = 9;
const SHIFT: u8 = 10;
const SUM: u8 = 11;
const PRODUCT: u8 = 12;
const UNARY: u8 = 13;
const POWER: u8 = 14;
const PRIMARY: u8 = 15;
const ATOM: u8 = 16;

fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Lambda(_) => LAMBDA,
        ExprKind::Yield(_) | ExprKind::YieldFrom(_) => LOWEST,
        ExprKind::IfExp { .. } => IF_EXP,
        ExprKind::BoolOp { op: BoolOp::Or, .. } => OR,
        ExprKind::BoolOp {
            op: BoolOp::And, ..
        } => AND,
        ExprKind::UnaryOp {
            op: UnaryOp::Not, ..
        } => NOT,
        ExprKind::Compare { .. } => COMPARE,
        ExprKind::BinOp { op, .. } => bin_precedence(*op),
        ExprKind::UnaryOp { .. } => UNARY,
        ExprKind::Int(i) if *i < 0 => UNARY,
        ExprKind::Float(f) if f.is_sign_negative() && !f.is_nan() => UNARY,
        ExprKind::Float(f) if f.is_nan() => PRIMARY,
        ExprKind::Call { .. } | ExprKind::Attribute { .. } | ExprKind::Subscript { .. } => PRIMARY,
        // A bare tuple, slice or starred item only reads back right where a comma list is
        // allowed; everywhere else they are parenthesized.
        ExprKind::Starred(_) | ExprKind::Slice { .. } => LOWEST,
        _ => ATOM,
    }
}

fn bin_precedence(op: BinOp) -> u8 {
    match op {
        BinOp::BitOr => BIT_OR,
        BinOp::BitXor => BIT_XOR,
        BinOp::BitAnd => BIT_AND,
        BinOp::LShift | BinOp::RShift => SHIFT,
        BinOp::Add | BinOp::Sub => SUM,
        BinOp::Mul | BinOp::Div | BinOp::FloorDiv | BinOp::Mod | BinOp::MatMul => PRODUCT,
        BinOp::Pow => POWER,
    }
}

fn expr_to(out: &mut String, expr: &Expr, min: u8) {
    let parenthesize = precedence(expr) < min;
    if parenthesize {
        out.push('(');
    }
    bare_expr_to(out, expr);
    if parenthesize {
        out.push(')');
    }
}

/// The object before `.attr`, `(...)` or `[...]`; an integer literal needs parentheses there
/// because `1.real` would lex as a float.
fn primary_value_to(out: &mut String, value: &Expr) {
    if matches!(value.kind, ExprKind::Int(_)) {
        out.push('(');
        bare_expr_to(out, value);
        out.push(')');
    } else {
        expr_to(out, value, PRIMARY);
    }
}

/// An item of a list, tuple, set or call: `*x` stays bare there.
fn item_to(out: &mut String, item: &Expr) {
    if let ExprKind::Starred(value) = &item.kind {
        out.push('*');
        expr_to(out, value, BIT_OR);
    } else {
        expr_to(out, item, IF_EXP);
    }
}

fn comma_separated(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item_to(out, item);
    }
}

fn keywords_to(out: &mut String, keywords: &[Keyword], mut comma: bool) {
    for keyword in keywords {
        if comma {
            out.push_str(", ");
        }
        comma = true;
        match &keyword.name {
            Some(name) => {
                let _ = write!(out, "{name}=");
            }
            None => out.push_str("**"),
        }
        expr_to(out, &keyword.value, IF_EXP);
    }
}

/// What goes between `[` and `]`: slices and tuples of them stay bare.
fn subscript_index_to(out: &mut String, index: &Expr) {
    match &index.kind {
        ExprKind::Slice { .. } => bare_expr_to(out, index),
        ExprKind::Tuple(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if matches!(item.kind, ExprKind::Slice { .. }) {
                    bare_expr_to(out, item);
                } else {
                    item_to(out, item);
                }
            }
            if items.len() == 1 {
                out.push(',');
            }
        }
        _ => expr_to(out, index, IF_EXP),
    }
}

fn generators_to(out: &mut String, generators: &[Comprehension]) {
    for g in generators {
        out.push_str(" for ");
        match &g.target {
            Target::Tuple(items, _) if !items.is_empty() => {
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    target_to(out, t);
                }
                if items.len() == 1 {
                    out.push(',');
                }
            }
            t => target_to(out, t),
        }
        out.push_str(" in ");
        expr_to(out, &g.iter, OR);
        for cond in &g.ifs {
            out.push_str(" if ");
            expr_to(out, cond, OR);
        }
    }
}

fn fparts_to(out: &mut String, parts: &[FPart], quote: char) {
    for part in parts {
        match part {
            FPart::Lit(s) => {
                let mut escaped = String::new();
                string_body_to(&mut escaped, s, quote);
                out.push_str(&escaped.replace('{', "{{").replace('}', "}}"));
            }
            FPart::Value {
                value,
                conversion,
                spec,
            } => {
                out.push('{');
                // A space keeps `{ {a: b}}` from reading as an escaped brace.
                let mut inner = String::new();
                expr_to(&mut inner, value, IF_EXP);
                if inner.starts_with('{') {
                    out.push(' ');
                }
                out.push_str(&inner);
                if let Some(c) = conversion {
                    let _ = write!(out, "!{c}");
                }
                if !spec.is_empty() {
                    out.push(':');
                    fparts_to(out, spec, quote);
                }
                out.push('}');
            }
        }
    }
}

fn bare_expr_to(out: &mut String, expr: &Expr) {
    match &expr.kind {
        ExprKind::Int(i) => {
            let _ = write!(out, "{i}");
        }
        ExprKind::Float(f) => float_to(out, *f),
        ExprKind::Bool(true) => out.push_str("True"),
        ExprKind::Bool(false) => out.push_str("False"),
        ExprKind::None => out.push_str("None"),
        ExprKind::Ellipsis => out.push_str("..."),
        ExprKind::Str(s) => string_to(out, s),
        ExprKind::FString(parts) => {
            // Python before 3.12 forbids the f-string's own quote inside its expressions, so
            // they use the other one.
            out.push_str("f'");
            fparts_to(out, parts, '\'');
            out.push('\'');
        }
        ExprKind::Name(name) => out.push_str(name),
        ExprKind::List(items) => {
            out.push('[');
            comma_separated(out, items);
            out.push(']');
        }
        ExprKind::Tuple(items) => {
            out.push('(');
            comma_separated(out, items);
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        ExprKind::Set(items) if items.is_empty() => out.push_str("set()"),
        ExprKind::Set(items) => {
            out.push('{');
            comma_separated(out, items);
            out.push('}');
        }
        ExprKind::Dict(items) => {
            out.push('{');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match k {
                    Some(k) => {
                        expr_to(out, k, IF_EXP);
                        out.push_str(": ");
                        expr_to(out, v, IF_EXP);
                    }
                    None => {
                        out.push_str("**");
                        expr_to(out, v, BIT_OR);
                    }
                }
            }
            out.push('}');
        }
        ExprKind::Starred(value) => {
            out.push('*');
            expr_to(out, value, BIT_OR);
        }
        ExprKind::Yield(value) => {
            out.push_str("yield");
            if let Some(v) = value {
                out.push(' ');
                expr_to(out, v, LOWEST);
            }
        }
        ExprKind::YieldFrom(value) => {
            out.push_str("yield from ");
            expr_to(out, value, IF_EXP);
        }
        ExprKind::Call {
            func,
            args,
            keywords,
        } => {
            primary_value_to(out, func);
            out.push('(');
            // A lone generator expression argument keeps its own parentheses.
            comma_separated(out, args);
            keywords_to(out, keywords, !args.is_empty());
            out.push(')');
        }
        ExprKind::Attribute { value, attr } => {
            primary_value_to(out, value);
            let _ = write!(out, ".{attr}");
        }
        ExprKind::Subscript { value, index } => {
            primary_value_to(out, value);
            out.push('[');
            subscript_index_to(out, index);
            out.push(']');
        }
        ExprKind::Slice { lower, upper, step } => {
            if let Some(l) = lower {
                expr_to(out, l, IF_EXP);
            }
            out.push(':');
            if let Some(u) = upper {
                expr_to(out, u, IF_EXP);
            }
            if let Some(s) = step {
                out.push(':');
                expr_to(out, s, IF_EXP);
            }
        }
        ExprKind::BinOp {
            left,
            op: BinOp::Pow,
            right,
        } => {
            expr_to(out, left, PRIMARY);
            let hug = is_simple_power_operand(left) && is_simple_power_operand(right);
            out.push_str(if hug { "**" } else { " ** " });
            expr_to(out, right, UNARY);
        }
        ExprKind::BinOp { left, op, right } => {
            let precedence = bin_precedence(*op);
            expr_to(out, left, precedence);
            let _ = write!(out, " {} ", op.symbol());
            expr_to(out, right, precedence + 1);
        }
        ExprKind::UnaryOp { op, operand } => {
            out.push_str(op.symbol());
            let min = match op {
                UnaryOp::Neg | UnaryOp::Pos | UnaryOp::Invert => UNARY,
                UnaryOp::Not => {
                    out.push(' ');
                    NOT
                }
            };
            expr_to(out, operand, min);
        }
        ExprKind::Compare {
            left,
            ops,
            comparators,
        } => {
            expr_to(out, left, COMPARE + 1);
            for (op, comparator) in ops.iter().zip(comparators) {
                let _ = write!(out, " {} ", op.symbol());
                expr_to(out, comparator, COMPARE + 1);
            }
        }
        ExprKind::BoolOp { op, values } => {
            let (word, precedence) = match op {
                BoolOp::And => (" and ", AND),
                BoolOp::Or => (" or ", OR),
            };
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(word);
                }
                expr_to(out, value, precedence + 1);
            }
        }
        ExprKind::IfExp { test, body, orelse } => {
            expr_to(out, body, IF_EXP + 1);
            out.push_str(" if ");
            expr_to(out, test, IF_EXP + 1);
            out.push_str(" else ");
            expr_to(out, orelse, IF_EXP);
        }
        ExprKind::Lambda(def) => {
            out.push_str("lambda");
            let mut params = String::new();
            params_to(&mut params, &def.params, false);
            if !params.is_empty() {
                out.push(' ');
                out.push_str(&params);
            }
            out.push_str(": ");
            if let [Stmt {
                kind: StmtKind::Return(Some(body)),
                ..
            }] = def.body.as_slice()
            {
                expr_to(out, body, IF_EXP);
            } else {
                out.push_str("None");
            }
        }
        ExprKind::ListComp { elt, generators } => {
            out.push('[');
            expr_to(out, elt, IF_EXP);
            generators_to(out, generators);
            out.push(']');
        }
        ExprKind::SetComp { elt, generators } => {
            out.push('{');
            expr_to(out, elt, IF_EXP);
            generators_to(out, generators);
            out.push('}');
        }
        ExprKind::GeneratorExp { elt, generators } => {
            out.push('(');
            expr_to(out, elt, IF_EXP);
            generators_to(out, generators);
            out.push(')');
        }
        ExprKind::DictComp {
            key,
            value,
            generators,
        } => {
            out.push('{');
            expr_to(out, key, IF_EXP);
            out.push_str(": ");
            expr_to(out, value, IF_EXP);
            generators_to(out, generators);
            out.push('}');
        }
    }
}

/// Black writes `x**2` but `x ** f(y)`: operands that are names, numbers, dotted names or
/// negated numbers hug the operator.
fn is_simple_power_operand(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Name(_) => true,
        ExprKind::Int(i) => *i >= 0,
        ExprKind::Float(f) => f.is_finite() && !f.is_sign_negative(),
        ExprKind::UnaryOp {
            op: UnaryOp::Neg,
            operand,
        } => {
            matches!(operand.kind, ExprKind::Int(_) | ExprKind::Float(_))
                && is_simple_power_operand(operand)
        }
        ExprKind::Attribute { value, .. } => {
            matches!(value.kind, ExprKind::Name(_) | ExprKind::Attribute { .. })
                && is_simple_power_operand(value)
        }
        _ => false,
    }
}

fn float_to(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("float(\"nan\")");
    } else if f.is_infinite() {
        // Python reads a literal too large for a double as infinity.
        out.push_str(if f > 0.0 { "1e999" } else { "-1e999" });
    } else {
        // Rust's `Debug` gives the shortest text that reads back as the same double, and always
        // marks it as a float (`1.0`, `0.001`, `1e-7`), which Python reads the same way.
        let _ = write!(out, "{f:?}");
    }
}

fn string_to(out: &mut String, s: &str) {
    // Black prefers double quotes unless that needs more escapes.
    let quote = if s.contains('"') && !s.contains('\'') {
        '\''
    } else {
        '"'
    };
    out.push(quote);
    string_body_to(out, s, quote);
    out.push(quote);
}

/// The characters of a string literal between its quotes, escaped.
fn string_body_to(out: &mut String, s: &str, quote: char) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            // Control and non-space whitespace characters could break the line or be invisible.
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                let code = u32::from(c);
                let _ = match code {
                    0..=0xff => write!(out, "\\x{code:02x}"),
                    0x100..=0xffff => write!(out, "\\u{code:04x}"),
                    _ => write!(out, "\\U{code:08x}"),
                };
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(kind: ExprKind) -> String {
        print_expr(&Expr::new(kind))
    }

    #[test]
    fn strings_use_double_quotes_unless_single_quotes_escape_less() {
        assert_eq!(printed(ExprKind::Str("cuda".into())), "\"cuda\"");
        assert_eq!(printed(ExprKind::Str("say \"hi\"".into())), "'say \"hi\"'");
        assert_eq!(
            printed(ExprKind::Str("it's \"x\"".into())),
            "\"it's \\\"x\\\"\""
        );
        assert_eq!(
            printed(ExprKind::Str("a\\b\n\t\u{0}\u{2028}é".into())),
            "\"a\\\\b\\n\\t\\x00\\u2028é\""
        );
    }

    #[test]
    fn floats_read_back_as_the_same_double() {
        assert_eq!(printed(ExprKind::Float(1e-3)), "0.001");
        assert_eq!(printed(ExprKind::Float(1.0)), "1.0");
        assert_eq!(printed(ExprKind::Float(1e-7)), "1e-7");
        assert_eq!(printed(ExprKind::Float(f64::INFINITY)), "1e999");
    }

    #[test]
    fn power_hugs_simple_operands_like_black() {
        let pow = |left, right| ExprKind::BinOp {
            left: Box::new(Expr::new(left)),
            op: BinOp::Pow,
            right: Box::new(Expr::new(right)),
        };
        assert_eq!(
            printed(pow(ExprKind::Name("x".into()), ExprKind::Int(2))),
            "x**2"
        );
        let call = ExprKind::Call {
            func: Box::new(Expr::new(ExprKind::Name("f".into()))),
            args: vec![],
            keywords: vec![],
        };
        assert_eq!(printed(pow(ExprKind::Name("x".into()), call)), "x ** f()");
    }

    #[test]
    fn integer_literals_are_parenthesized_before_an_attribute() {
        let kind = ExprKind::Attribute {
            value: Box::new(Expr::new(ExprKind::Int(1))),
            attr: "real".into(),
        };
        assert_eq!(printed(kind), "(1).real");
    }

    #[test]
    fn a_tuple_context_gets_its_own_parentheses() {
        let one = Expr::new(ExprKind::Tuple(vec![Expr::new(ExprKind::Int(0))]));
        let stmt = Stmt::new(StmtKind::With {
            items: vec![WithItem {
                context: one,
                target: None,
            }],
            body: vec![Stmt::new(StmtKind::Pass)],
        });
        assert_eq!(print_body(&[stmt]), "with ((0,)):\n    pass\n");
    }

    #[test]
    fn empty_blocks_print_as_pass() {
        let stmt = Stmt::new(StmtKind::With {
            items: vec![WithItem {
                context: Expr::new(ExprKind::Name("ctx".into())),
                target: None,
            }],
            body: vec![],
        });
        assert_eq!(print_body(&[stmt]), "with ctx:\n    pass\n");
    }
}
