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
        StmtKind::Assign { target, value } => {
            target_to(out, target);
            out.push_str(" = ");
            expr_to(out, value, LOWEST);
        }
        StmtKind::AugAssign { target, op, value } => {
            let _ = write!(out, "{} {}= ", target.id, op.bin_op().symbol());
            expr_to(out, value, LOWEST);
        }
        StmtKind::Expr(expr) => expr_to(out, expr, LOWEST),
        StmtKind::Del(names) => {
            out.push_str("del ");
            names_to(out, names);
        }
        StmtKind::For { var, range, body } => {
            let _ = write!(out, "for {} in range(", var.id);
            comma_separated(out, &range.args);
            out.push_str("):\n");
            block_to(out, body, depth + 1);
            return;
        }
        StmtKind::With { context, body } => {
            // `with (a, b):` means two context managers, so a tuple needs a second pair.
            if matches!(context.kind, ExprKind::Tuple(_)) {
                out.push_str("with (");
                expr_to(out, context, LOWEST);
                out.push_str("):\n");
            } else {
                out.push_str("with ");
                expr_to(out, context, LOWEST);
                out.push_str(":\n");
            }
            block_to(out, body, depth + 1);
            return;
        }
        StmtKind::If { test, body, orelse } => {
            if_to(out, "if", test, body, orelse, depth);
            return;
        }
        StmtKind::Assert { test, msg } => {
            out.push_str("assert ");
            expr_to(out, test, LOWEST);
            if let Some(msg) = msg {
                out.push_str(", ");
                expr_to(out, msg, LOWEST);
            }
        }
        StmtKind::Pass => out.push_str("pass"),
    }
    out.push('\n');
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

fn names_to(out: &mut String, names: &[Name]) {
    let ids: Vec<&str> = names.iter().map(|n| n.id.as_str()).collect();
    out.push_str(&ids.join(", "));
}

fn target_to(out: &mut String, target: &Target) {
    match target {
        Target::Name(name) => out.push_str(&name.id),
        Target::Tuple(names, _) if names.len() >= 2 => names_to(out, names),
        Target::Tuple(names, _) => {
            out.push('(');
            names_to(out, names);
            if names.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Target::Attribute { value, attr, .. } => {
            primary_value_to(out, value);
            let _ = write!(out, ".{attr}");
        }
    }
}

// Binding strength, loosest first, following the Python grammar.
const LOWEST: u8 = 0;
const IF_EXP: u8 = 1;
const OR: u8 = 2;
const AND: u8 = 3;
const NOT: u8 = 4;
const COMPARE: u8 = 5;
const SUM: u8 = 6;
const PRODUCT: u8 = 7;
const UNARY: u8 = 8;
const POWER: u8 = 9;
const PRIMARY: u8 = 10;
const ATOM: u8 = 11;

fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
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
        _ => ATOM,
    }
}

fn bin_precedence(op: BinOp) -> u8 {
    match op {
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

fn comma_separated(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        expr_to(out, item, IF_EXP);
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
        ExprKind::Str(s) => string_to(out, s),
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
        ExprKind::Call {
            func,
            args,
            keywords,
        } => {
            primary_value_to(out, func);
            out.push('(');
            comma_separated(out, args);
            for (i, keyword) in keywords.iter().enumerate() {
                if i > 0 || !args.is_empty() {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}=", keyword.name);
                expr_to(out, &keyword.value, IF_EXP);
            }
            out.push(')');
        }
        ExprKind::Attribute { value, attr } => {
            primary_value_to(out, value);
            let _ = write!(out, ".{attr}");
        }
        ExprKind::Subscript { value, index } => {
            primary_value_to(out, value);
            out.push('[');
            expr_to(out, index, IF_EXP);
            out.push(']');
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
                UnaryOp::Neg | UnaryOp::Pos => UNARY,
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
    out.push(quote);
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
            context: one,
            body: vec![Stmt::new(StmtKind::Pass)],
        });
        assert_eq!(print_body(&[stmt]), "with ((0,)):\n    pass\n");
    }

    #[test]
    fn empty_blocks_print_as_pass() {
        let stmt = Stmt::new(StmtKind::With {
            context: Expr::new(ExprKind::Name("ctx".into())),
            body: vec![],
        });
        assert_eq!(print_body(&[stmt]), "with ctx:\n    pass\n");
    }
}
