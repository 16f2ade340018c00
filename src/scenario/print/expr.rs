//! Printing expressions: binding strength and where parentheses go, calls, subscripts,
//! comprehensions, f-strings, and numbers and strings written as black writes them.

use std::fmt::Write;

use super::super::ast::*;
use super::{params_to, target_to};

// Binding strength, loosest first, following the Python grammar.
pub(super) const LOWEST: u8 = 0;
const LAMBDA: u8 = 1;
pub(super) const IF_EXP: u8 = 2;
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

pub(super) fn expr_to(out: &mut String, expr: &Expr, min: u8) {
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
pub(super) fn primary_value_to(out: &mut String, value: &Expr) {
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

pub(super) fn comma_separated(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item_to(out, item);
    }
}

pub(super) fn keywords_to(out: &mut String, keywords: &[Keyword], mut comma: bool) {
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
pub(super) fn subscript_index_to(out: &mut String, index: &Expr) {
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
