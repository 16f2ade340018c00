//! What a retaining statement is, read from the scenario's source: evidence the rules need
//! that the values alone do not carry (a value does not know the call that made it).

use crate::scenario::{Expr, ExprKind, Stmt, StmtKind, Target};

/// The statement that starts at `at` (line, column), at any depth of `body`.
pub(super) fn find(body: &[Stmt], at: (u32, u32)) -> Option<&Stmt> {
    for s in body {
        if (s.span.line, s.span.col) == at {
            return Some(s);
        }
        let inside = (s.span.line, s.span.col) <= at && at < (s.span.end_line, s.span.end_col);
        if inside {
            if let Some(found) = s.blocks().into_iter().find_map(|b| find(b, at)) {
                return Some(found);
            }
        }
    }
    None
}

/// Calls that combine a running value with a new one: rebinding a name from one of them is a
/// running total (`total = torch.add(total, loss)`), not a carried state.
const COMBINING: [&str; 6] = ["add", "sum", "cat", "stack", "concat", "maximum"];

/// Whether the statement at `at` carries a state: an assignment whose value is a call (of a
/// user function, a module, a method of another object) that takes a name the statement binds,
/// as `hidden = cell(x, hidden)` or `out, (h, c) = lstm(x, (h, c))`. A method of the bound
/// value itself (`total = total.add(loss)`) and the combining functions of [`COMBINING`] make a
/// running total instead.
pub(super) fn carries_state(body: &[Stmt], at: (u32, u32)) -> bool {
    let Some(Stmt {
        kind: StmtKind::Assign { targets, value },
        ..
    }) = find(body, at)
    else {
        return false;
    };
    let ExprKind::Call {
        func,
        args,
        keywords,
    } = &value.kind
    else {
        return false;
    };
    let mut bound = Vec::new();
    for t in targets {
        names(t, &mut bound);
    }
    let callee = match &func.kind {
        ExprKind::Name(n) => n.as_str(),
        ExprKind::Attribute { value, attr } => {
            if let ExprKind::Name(receiver) = &value.kind {
                if bound.contains(&receiver.as_str()) {
                    return false;
                }
            }
            attr.as_str()
        }
        _ => "",
    };
    if COMBINING.contains(&callee) {
        return false;
    }
    bound.iter().any(|name| {
        args.iter().any(|a| mentions(a, name)) || keywords.iter().any(|k| mentions(&k.value, name))
    })
}

/// The statement of the custom `autograd.Function` class `function` that sets the attribute
/// `attr` of its `ctx` (`ctx.out = out`): in `forward` first, else in another of its methods;
/// `ctx` is each method's first parameter, whatever its name.
pub(super) fn ctx_attribute(body: &[Stmt], function: &str, attr: &str) -> Option<(u32, u32)> {
    let class = find_class(body, function)?;
    let methods: Vec<&crate::scenario::FunctionDef> = class
        .body
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::FunctionDef(def) => Some(&**def),
            _ => None,
        })
        .collect();
    let forward_first = methods
        .iter()
        .filter(|m| m.name.id == "forward")
        .chain(methods.iter().filter(|m| m.name.id != "forward"));
    forward_first.into_iter().find_map(|m| {
        let ctx = &m.params.args.first()?.name.id;
        sets_attribute(&m.body, ctx, attr)
    })
}

fn find_class<'a>(body: &'a [Stmt], name: &str) -> Option<&'a crate::scenario::ClassDef> {
    body.iter().find_map(|s| match &s.kind {
        StmtKind::ClassDef(c) if c.name.id == name => Some(&**c),
        _ => s.blocks().into_iter().find_map(|b| find_class(b, name)),
    })
}

/// The first statement of `body`, at any depth, that assigns `object.attr`.
fn sets_attribute(body: &[Stmt], object: &str, attr: &str) -> Option<(u32, u32)> {
    body.iter().find_map(|s| {
        if let StmtKind::Assign { targets, .. } = &s.kind {
            let hit = targets.iter().any(|t| {
                matches!(t, Target::Attribute { value, attr: a, .. }
                    if a == attr && matches!(&value.kind, ExprKind::Name(n) if n == object))
            });
            if hit {
                return Some((s.span.line, s.span.col));
            }
        }
        match &s.kind {
            // A nested function's `ctx` is another name.
            StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => None,
            _ => s
                .blocks()
                .into_iter()
                .find_map(|b| sets_attribute(b, object, attr)),
        }
    })
}

/// The names a target binds.
fn names<'a>(t: &'a Target, out: &mut Vec<&'a str>) {
    match t {
        Target::Name(n) => out.push(&n.id),
        Target::Tuple(items, _) => items.iter().for_each(|i| names(i, out)),
        Target::Starred(inner, _) => names(inner, out),
        _ => {}
    }
}

/// Whether `name` is passed on by `e`: the name itself, or inside a tuple or list of them. An
/// expression computed from the name (`h * 0.5`, `h.detach()`) is a new value, not the state.
fn mentions(e: &Expr, name: &str) -> bool {
    match &e.kind {
        ExprKind::Name(n) => n == name,
        ExprKind::Tuple(items) | ExprKind::List(items) => items.iter().any(|i| mentions(i, name)),
        ExprKind::Starred(inner) => mentions(inner, name),
        _ => false,
    }
}
