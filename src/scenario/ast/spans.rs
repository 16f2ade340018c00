//! Trees built in code (`Expr::new`, `Stmt::new`, `Name::new`), and spans cleared to compare
//! trees by structure ([`strip_spans`]).

use super::{
    Comprehension, Expr, ExprKind, FPart, FunctionDef, Name, Param, Span, Stmt, StmtKind, Target,
};

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
        let all = |items: &mut Vec<Expr>| items.iter_mut().for_each(Expr::clear_spans);
        match &mut self.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Ellipsis
            | ExprKind::Str(_)
            | ExprKind::Name(_) => {}
            ExprKind::FString(parts) => clear_fparts(parts),
            ExprKind::List(items) | ExprKind::Tuple(items) | ExprKind::Set(items) => all(items),
            ExprKind::Dict(items) => {
                for (k, v) in items {
                    if let Some(k) = k {
                        k.clear_spans();
                    }
                    v.clear_spans();
                }
            }
            ExprKind::Yield(value) => {
                if let Some(v) = value {
                    v.clear_spans();
                }
            }
            ExprKind::Starred(value)
            | ExprKind::YieldFrom(value)
            | ExprKind::Attribute { value, .. }
            | ExprKind::UnaryOp { operand: value, .. } => value.clear_spans(),
            ExprKind::Call {
                func,
                args,
                keywords,
            } => {
                func.clear_spans();
                all(args);
                for keyword in keywords {
                    keyword.span = Span::default();
                    keyword.value.clear_spans();
                }
            }
            ExprKind::Subscript { value, index } => {
                value.clear_spans();
                index.clear_spans();
            }
            ExprKind::Slice { lower, upper, step } => {
                for e in [lower, upper, step].into_iter().flatten() {
                    e.clear_spans();
                }
            }
            ExprKind::BinOp { left, right, .. } => {
                left.clear_spans();
                right.clear_spans();
            }
            ExprKind::Compare {
                left, comparators, ..
            } => {
                left.clear_spans();
                all(comparators);
            }
            ExprKind::BoolOp { values, .. } => all(values),
            ExprKind::IfExp { test, body, orelse } => {
                test.clear_spans();
                body.clear_spans();
                orelse.clear_spans();
            }
            ExprKind::Lambda(def) => std::rc::Rc::make_mut(def).clear_spans(),
            ExprKind::ListComp { elt, generators }
            | ExprKind::SetComp { elt, generators }
            | ExprKind::GeneratorExp { elt, generators } => {
                elt.clear_spans();
                clear_generators(generators);
            }
            ExprKind::DictComp {
                key,
                value,
                generators,
            } => {
                key.clear_spans();
                value.clear_spans();
                clear_generators(generators);
            }
        }
    }
}

fn clear_fparts(parts: &mut [FPart]) {
    for part in parts {
        if let FPart::Value { value, spec, .. } = part {
            value.clear_spans();
            clear_fparts(spec);
        }
    }
}

fn clear_generators(generators: &mut [Comprehension]) {
    for g in generators {
        g.target.clear_spans();
        g.iter.clear_spans();
        g.ifs.iter_mut().for_each(Expr::clear_spans);
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

impl Target {
    fn clear_spans(&mut self) {
        match self {
            Target::Name(n) => n.span = Span::default(),
            Target::Tuple(items, span) => {
                *span = Span::default();
                items.iter_mut().for_each(Target::clear_spans);
            }
            Target::Starred(inner, span) => {
                *span = Span::default();
                inner.clear_spans();
            }
            Target::Attribute { value, span, .. } => {
                *span = Span::default();
                value.clear_spans();
            }
            Target::Subscript { value, index, span } => {
                *span = Span::default();
                value.clear_spans();
                index.clear_spans();
            }
        }
    }
}

impl Param {
    fn clear_spans(&mut self) {
        self.name.span = Span::default();
        for e in [&mut self.default, &mut self.annotation]
            .into_iter()
            .flatten()
        {
            e.clear_spans();
        }
    }
}

impl FunctionDef {
    fn clear_spans(&mut self) {
        self.name.span = Span::default();
        let p = &mut self.params;
        p.args
            .iter_mut()
            .chain(p.vararg.iter_mut())
            .chain(p.kwonly.iter_mut())
            .chain(p.kwarg.iter_mut())
            .for_each(Param::clear_spans);
        self.body.iter_mut().for_each(Stmt::clear_spans);
        self.decorators.iter_mut().for_each(Expr::clear_spans);
        if let Some(r) = &mut self.returns {
            r.clear_spans();
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
        let block = |b: &mut Vec<Stmt>| b.iter_mut().for_each(Stmt::clear_spans);
        match &mut self.kind {
            StmtKind::Import(names) | StmtKind::ImportFrom { names, .. } => {
                names.iter_mut().for_each(|n| n.span = Span::default())
            }
            StmtKind::Assign { targets, value } => {
                targets.iter_mut().for_each(Target::clear_spans);
                value.clear_spans();
            }
            StmtKind::AnnAssign {
                target,
                annotation,
                value,
            } => {
                target.clear_spans();
                annotation.clear_spans();
                if let Some(v) = value {
                    v.clear_spans();
                }
            }
            StmtKind::AugAssign { target, value, .. } => {
                target.clear_spans();
                value.clear_spans();
            }
            StmtKind::Expr(expr) => expr.clear_spans(),
            StmtKind::Return(value) => {
                if let Some(v) = value {
                    v.clear_spans();
                }
            }
            StmtKind::Del(targets) => targets.iter_mut().for_each(Target::clear_spans),
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
            } => {
                target.clear_spans();
                iter.clear_spans();
                block(body);
                block(orelse);
            }
            StmtKind::While { test, body, orelse } | StmtKind::If { test, body, orelse } => {
                test.clear_spans();
                block(body);
                block(orelse);
            }
            StmtKind::With { items, body } => {
                for item in items {
                    item.context.clear_spans();
                    if let Some(t) = &mut item.target {
                        t.clear_spans();
                    }
                }
                block(body);
            }
            StmtKind::Assert { test, msg } => {
                test.clear_spans();
                if let Some(msg) = msg {
                    msg.clear_spans();
                }
            }
            StmtKind::Pass | StmtKind::Break | StmtKind::Continue => {}
            StmtKind::FunctionDef(def) => std::rc::Rc::make_mut(def).clear_spans(),
            StmtKind::ClassDef(class) => {
                let class = std::rc::Rc::make_mut(class);
                class.name.span = Span::default();
                class.bases.iter_mut().for_each(Expr::clear_spans);
                for k in &mut class.keywords {
                    k.span = Span::default();
                    k.value.clear_spans();
                }
                block(&mut class.body);
                class.decorators.iter_mut().for_each(Expr::clear_spans);
            }
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                block(body);
                for h in handlers {
                    h.span = Span::default();
                    if let Some(t) = &mut h.typ {
                        t.clear_spans();
                    }
                    if let Some(n) = &mut h.name {
                        n.span = Span::default();
                    }
                    block(&mut h.body);
                }
                block(orelse);
                block(finalbody);
            }
            StmtKind::Raise { exc, cause } => {
                for e in [exc, cause].into_iter().flatten() {
                    e.clear_spans();
                }
            }
            StmtKind::Global(names) | StmtKind::Nonlocal(names) => {
                names.iter_mut().for_each(|n| n.span = Span::default())
            }
        }
    }

    /// The blocks directly inside this statement (bodies, branches, handlers), for walks that
    /// look for statements at any depth.
    pub fn blocks(&self) -> Vec<&[Stmt]> {
        match &self.kind {
            StmtKind::For { body, orelse, .. }
            | StmtKind::While { body, orelse, .. }
            | StmtKind::If { body, orelse, .. } => vec![body, orelse],
            StmtKind::With { body, .. } => vec![body],
            StmtKind::FunctionDef(def) => vec![&def.body],
            StmtKind::ClassDef(class) => vec![&class.body],
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                let mut blocks: Vec<&[Stmt]> = vec![body];
                blocks.extend(handlers.iter().map(|h| h.body.as_slice()));
                blocks.push(orelse);
                blocks.push(finalbody);
                blocks
            }
            _ => Vec::new(),
        }
    }
}

/// A copy of `body` with every span set to [`Span::default()`], for comparing trees by structure.
pub fn strip_spans(body: &[Stmt]) -> Vec<Stmt> {
    let mut body = body.to_vec();
    body.iter_mut().for_each(Stmt::clear_spans);
    body
}
