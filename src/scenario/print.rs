//! From the scenario AST back to Python source.
//!
//! Output follows black's style for this subset (4-space indents, double quotes, spaces around
//! binary operators, none around `=` in keyword arguments, `**` hugging simple operands) except
//! that long lines are not wrapped. Parentheses are added exactly where precedence needs them, so
//! printing and parsing again gives back the same tree (see [`strip_spans`](super::strip_spans)).
//!
//! This file prints headers and statements; expressions are printed in `expr`.

use std::fmt::Write;

use super::ast::*;
use super::header::Header;
use super::parse::Scenario;
use crate::base::header_size;

mod expr;

use expr::{
    comma_separated, expr_to, keywords_to, primary_value_to, subscript_index_to, IF_EXP, LOWEST,
};

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
