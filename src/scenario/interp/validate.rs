//! Checks made before a scenario runs, all reported in one round: what CPython's compiler
//! rejects (`return` outside a function, `break` outside a loop, a `nonlocal` with no binding),
//! names that no statement anywhere binds, names imported from a module that lacks them, and
//! attributes of torch and the other modules that the engine does not have. Python finds the
//! last three only when the line runs; a scenario reports them before any memory is touched.

use std::collections::{BTreeMap, BTreeSet};

use super::builtins::builtin;
use super::import_binding;
use super::scope::Scopes;
use super::stdlib::attribute_of_module;
use super::value::Value;
use crate::scenario::{
    Expr, ExprKind, FPart, Scenario, ScenarioError, ScenarioErrors, Stmt, StmtKind, Target,
};

/// All the errors of a scenario that can be found without running it.
pub fn validate(scenario: &Scenario) -> Result<(), ScenarioErrors> {
    let mut v = Validator {
        scenario,
        bound: BTreeSet::new(),
        namespaces: BTreeMap::new(),
        rebound: BTreeSet::new(),
        errors: Vec::new(),
    };
    for (span, message) in Scopes::analyze(&scenario.body).errors {
        v.errors.push(
            ScenarioError::new(&scenario.path, span, &scenario.source, message)
                .with_help("Python rejects this before running anything"),
        );
    }
    v.collect(&scenario.body);
    // A name bound by an import and by nothing else always holds that module.
    for name in &v.rebound {
        v.namespaces.remove(name);
    }
    v.check_block(&scenario.body);
    if v.errors.is_empty() {
        Ok(())
    } else {
        v.errors.sort_by_key(|e| (e.line, e.col));
        v.errors
            .dedup_by(|a, b| (a.line, a.col, &a.message) == (b.line, b.col, &b.message));
        Err(ScenarioErrors(v.errors))
    }
}

struct Validator<'a> {
    scenario: &'a Scenario,
    /// Every name any statement of any scope binds.
    bound: BTreeSet<String>,
    /// Names bound by imports to a module path.
    namespaces: BTreeMap<String, String>,
    /// Names bound by something other than an import.
    rebound: BTreeSet<String>,
    errors: Vec<ScenarioError>,
}

const HELP: &str = "see docs/scenarios.md for the Python and the torch API that run";

impl Validator<'_> {
    fn bind(&mut self, name: &str) {
        self.bound.insert(name.to_string());
        self.rebound.insert(name.to_string());
    }

    fn error(&mut self, span: crate::scenario::Span, message: String, help: &str) {
        self.errors.push(
            ScenarioError::new(&self.scenario.path, span, &self.scenario.source, message)
                .with_help(help),
        );
    }

    fn bind_target(&mut self, t: &Target) {
        match t {
            Target::Name(n) => self.bind(&n.id),
            Target::Tuple(items, _) => items.iter().for_each(|t| self.bind_target(t)),
            Target::Starred(inner, _) => self.bind_target(inner),
            Target::Attribute { .. } | Target::Subscript { .. } => {}
        }
    }

    /// Records every binding of the program, in every scope.
    fn collect(&mut self, body: &[Stmt]) {
        for s in body {
            match &s.kind {
                StmtKind::Import(aliases) => {
                    for a in aliases {
                        let (name, path) = import_binding(a);
                        self.bound.insert(name.clone());
                        self.namespaces.insert(name, path);
                    }
                }
                StmtKind::ImportFrom { module, names } => {
                    for a in names {
                        let name = a.alias.clone().unwrap_or_else(|| a.name.clone());
                        self.bound.insert(name.clone());
                        match attribute_of_module(module, &a.name) {
                            Some(Value::Path(p)) => {
                                self.namespaces.insert(name, p.0.to_string());
                            }
                            Some(_) => {}
                            None => self.error(
                                a.span,
                                format!("ImportError: cannot import name '{}' from '{module}' (not supported in scenarios)", a.name),
                                HELP,
                            ),
                        }
                    }
                }
                StmtKind::Assign { targets, .. } => {
                    targets.iter().for_each(|t| self.bind_target(t))
                }
                StmtKind::AnnAssign { target, .. } | StmtKind::AugAssign { target, .. } => {
                    self.bind_target(target)
                }
                StmtKind::For { target, .. } => self.bind_target(target),
                StmtKind::With { items, .. } => {
                    for i in items {
                        if let Some(t) = &i.target {
                            self.bind_target(t);
                        }
                    }
                }
                StmtKind::FunctionDef(def) => {
                    self.bind(&def.name.id);
                    self.function_params(&def.params);
                }
                StmtKind::ClassDef(class) => self.bind(&class.name.id),
                StmtKind::Try { handlers, .. } => {
                    for h in handlers {
                        if let Some(n) = &h.name {
                            self.bind(&n.id);
                        }
                    }
                }
                StmtKind::Global(names) | StmtKind::Nonlocal(names) => {
                    names.iter().for_each(|n| self.bind(&n.id))
                }
                _ => {}
            }
            for block in s.blocks() {
                self.collect(block);
            }
            self.collect_exprs_of(s);
        }
    }

    fn function_params(&mut self, p: &crate::scenario::Params) {
        for param in p
            .args
            .iter()
            .chain(&p.vararg)
            .chain(&p.kwonly)
            .chain(&p.kwarg)
        {
            self.bind(&param.name.id);
        }
    }

    /// Bindings made inside expressions: lambda parameters and comprehension targets.
    fn collect_exprs_of(&mut self, s: &Stmt) {
        let mut exprs: Vec<&Expr> = Vec::new();
        stmt_exprs(s, &mut exprs);
        for e in exprs {
            self.collect_expr(e);
        }
    }

    fn collect_expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Lambda(def) => {
                self.function_params(&def.params);
                for s in &def.body {
                    self.collect_exprs_of(s);
                }
            }
            ExprKind::ListComp { generators, .. }
            | ExprKind::SetComp { generators, .. }
            | ExprKind::GeneratorExp { generators, .. }
            | ExprKind::DictComp { generators, .. } => {
                for g in generators {
                    self.bind_target(&g.target);
                }
            }
            _ => {}
        }
        for child in expr_children(e) {
            self.collect_expr(child);
        }
    }

    fn check_block(&mut self, body: &[Stmt]) {
        for s in body {
            let mut exprs: Vec<&Expr> = Vec::new();
            stmt_exprs(s, &mut exprs);
            for e in exprs {
                self.expr(e);
            }
            for block in s.blocks() {
                self.check_block(block);
            }
        }
    }

    /// The module an expression always denotes, if any (`nn`, `torch.nn`).
    fn namespace_of(&self, e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Name(n) => self.namespaces.get(n).cloned(),
            ExprKind::Attribute { value, attr } => {
                let base = self.namespace_of(value)?;
                match attribute_of_module(&base, attr) {
                    Some(Value::Path(p)) if super::stdlib::is_module(&p.0) => Some(p.0.to_string()),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Name(n) => {
                if !self.bound.contains(n) && builtin(n).is_none() && n != "__name__" {
                    self.error(
                        e.span,
                        format!("NameError: name '{n}' is not defined"),
                        "assign it (or import it) before using it",
                    );
                }
                return;
            }
            ExprKind::Attribute { value, attr } => {
                if let Some(ns) = self.namespace_of(value) {
                    if attribute_of_module(&ns, attr).is_none() {
                        self.error(
                            e.span,
                            format!("`{ns}.{attr}` is not supported in scenarios"),
                            HELP,
                        );
                    }
                    return;
                }
            }
            _ => {}
        }
        for child in expr_children(e) {
            self.expr(child);
        }
    }
}

/// The expressions directly in a statement (not in its nested blocks).
pub(super) fn stmt_exprs<'a>(s: &'a Stmt, out: &mut Vec<&'a Expr>) {
    fn target<'a>(t: &'a Target, out: &mut Vec<&'a Expr>) {
        match t {
            Target::Name(_) => {}
            Target::Tuple(items, _) => items.iter().for_each(|t| target(t, out)),
            Target::Starred(inner, _) => target(inner, out),
            Target::Attribute { value, .. } => out.push(value),
            Target::Subscript { value, index, .. } => {
                out.push(value);
                out.push(index);
            }
        }
    }
    match &s.kind {
        StmtKind::Assign { targets, value } => {
            targets.iter().for_each(|t| target(t, out));
            out.push(value);
        }
        StmtKind::AnnAssign {
            target: t, value, ..
        } => {
            target(t, out);
            out.extend(value.iter());
        }
        StmtKind::AugAssign {
            target: t, value, ..
        } => {
            target(t, out);
            out.push(value);
        }
        StmtKind::Expr(e) => out.push(e),
        StmtKind::Del(targets) => targets.iter().for_each(|t| target(t, out)),
        StmtKind::For {
            target: t, iter, ..
        } => {
            target(t, out);
            out.push(iter);
        }
        StmtKind::While { test, .. } | StmtKind::If { test, .. } => out.push(test),
        StmtKind::With { items, .. } => {
            for i in items {
                out.push(&i.context);
                if let Some(t) = &i.target {
                    target(t, out);
                }
            }
        }
        StmtKind::Assert { test, msg } => {
            out.push(test);
            out.extend(msg.iter());
        }
        StmtKind::Return(v) => out.extend(v.iter()),
        StmtKind::FunctionDef(def) => {
            out.extend(def.decorators.iter());
            let p = &def.params;
            for param in p.args.iter().chain(&p.kwonly) {
                out.extend(param.default.iter());
            }
        }
        StmtKind::ClassDef(class) => {
            out.extend(class.decorators.iter());
            out.extend(class.bases.iter());
            out.extend(class.keywords.iter().map(|k| &k.value));
        }
        StmtKind::Try { handlers, .. } => {
            for h in handlers {
                out.extend(h.typ.iter());
            }
        }
        StmtKind::Raise { exc, cause } => {
            out.extend(exc.iter());
            out.extend(cause.iter());
        }
        StmtKind::Import(_)
        | StmtKind::ImportFrom { .. }
        | StmtKind::Pass
        | StmtKind::Break
        | StmtKind::Continue
        | StmtKind::Global(_)
        | StmtKind::Nonlocal(_) => {}
    }
}

/// The expressions directly inside an expression (lambda bodies and comprehension parts
/// included).
pub(super) fn expr_children(e: &Expr) -> Vec<&Expr> {
    let mut out: Vec<&Expr> = Vec::new();
    fn fparts<'a>(parts: &'a [FPart], out: &mut Vec<&'a Expr>) {
        for p in parts {
            if let FPart::Value { value, spec, .. } = p {
                out.push(value);
                fparts(spec, out);
            }
        }
    }
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::None
        | ExprKind::Ellipsis
        | ExprKind::Str(_)
        | ExprKind::Name(_) => {}
        ExprKind::FString(parts) => fparts(parts, &mut out),
        ExprKind::List(items) | ExprKind::Tuple(items) | ExprKind::Set(items) => {
            out.extend(items.iter())
        }
        ExprKind::Dict(items) => {
            for (k, v) in items {
                out.extend(k.iter());
                out.push(v);
            }
        }
        ExprKind::Starred(v) | ExprKind::YieldFrom(v) | ExprKind::Attribute { value: v, .. } => {
            out.push(v)
        }
        ExprKind::Yield(v) => out.extend(v.as_deref()),
        ExprKind::UnaryOp { operand, .. } => out.push(operand),
        ExprKind::Call {
            func,
            args,
            keywords,
        } => {
            out.push(func);
            out.extend(args.iter());
            out.extend(keywords.iter().map(|k| &k.value));
        }
        ExprKind::Subscript { value, index } => {
            out.push(value);
            out.push(index);
        }
        ExprKind::Slice { lower, upper, step } => {
            for x in [lower, upper, step].into_iter().flatten() {
                out.push(x);
            }
        }
        ExprKind::BinOp { left, right, .. } => {
            out.push(left);
            out.push(right);
        }
        ExprKind::Compare {
            left, comparators, ..
        } => {
            out.push(left);
            out.extend(comparators.iter());
        }
        ExprKind::BoolOp { values, .. } => out.extend(values.iter()),
        ExprKind::IfExp { test, body, orelse } => {
            out.push(test);
            out.push(body);
            out.push(orelse);
        }
        ExprKind::Lambda(def) => {
            for p in def.params.args.iter().chain(&def.params.kwonly) {
                out.extend(p.default.iter());
            }
            for s in &def.body {
                if let StmtKind::Return(Some(v)) = &s.kind {
                    out.push(v);
                }
            }
        }
        ExprKind::ListComp { elt, generators }
        | ExprKind::SetComp { elt, generators }
        | ExprKind::GeneratorExp { elt, generators } => {
            out.push(elt);
            for g in generators {
                out.push(&g.iter);
                out.extend(g.ifs.iter());
            }
        }
        ExprKind::DictComp {
            key,
            value,
            generators,
        } => {
            out.push(key);
            out.push(value);
            for g in generators {
                out.push(&g.iter);
                out.extend(g.ifs.iter());
            }
        }
    }
    out
}
