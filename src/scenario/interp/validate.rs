//! Checks made before a scenario runs: names that are never bound anywhere, and torch
//! attributes that do not exist in the subset. Python finds these only when the line runs; a
//! scenario reports all of them at once, before any memory is touched.

use std::collections::{BTreeMap, BTreeSet};

use super::builtins::builtin;
use super::import_binding;
use super::torch::attribute_of_path;
use super::value::Value;
use crate::scenario::{
    Expr, ExprKind, Scenario, ScenarioError, ScenarioErrors, Stmt, StmtKind, Target,
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
        Err(ScenarioErrors(v.errors))
    }
}

struct Validator<'a> {
    scenario: &'a Scenario,
    bound: BTreeSet<String>,
    namespaces: BTreeMap<String, String>,
    rebound: BTreeSet<String>,
    errors: Vec<ScenarioError>,
}

impl Validator<'_> {
    fn bind(&mut self, name: &str) {
        self.bound.insert(name.to_string());
        self.rebound.insert(name.to_string());
    }

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
                        match attribute_of_path(module, &a.name) {
                            Some(Value::Path(p)) => {
                                self.namespaces.insert(name, p.0.to_string());
                            }
                            Some(_) => {}
                            None => self.errors.push(
                                ScenarioError::new(
                                    &self.scenario.path,
                                    a.span,
                                    &self.scenario.source,
                                    format!("`{module}.{}` is not supported in scenarios", a.name),
                                )
                                .with_help("see docs/scenarios.md for the supported torch API"),
                            ),
                        }
                    }
                }
                StmtKind::Assign { target, .. } => match target {
                    Target::Name(n) => self.bind(&n.id),
                    Target::Tuple(names, _) => names.iter().for_each(|n| self.bind(&n.id)),
                    Target::Attribute { .. } => {}
                },
                StmtKind::AugAssign { target, .. } => self.bind(&target.id),
                StmtKind::For { var, body, .. } => {
                    self.bind(&var.id);
                    self.collect(body);
                }
                StmtKind::With { body, .. } => self.collect(body),
                StmtKind::If { body, orelse, .. } => {
                    self.collect(body);
                    self.collect(orelse);
                }
                StmtKind::Expr(_) | StmtKind::Del(_) | StmtKind::Assert { .. } | StmtKind::Pass => {
                }
            }
        }
    }

    fn check_block(&mut self, body: &[Stmt]) {
        for s in body {
            match &s.kind {
                StmtKind::Import(_) | StmtKind::ImportFrom { .. } | StmtKind::Pass => {}
                StmtKind::Assign { target, value } => {
                    if let Target::Attribute { value: obj, .. } = target {
                        self.expr(obj);
                    }
                    self.expr(value);
                }
                StmtKind::AugAssign { value, .. } | StmtKind::Expr(value) => self.expr(value),
                StmtKind::Del(_) => {}
                StmtKind::For { range, body, .. } => {
                    range.args.iter().for_each(|a| self.expr(a));
                    self.check_block(body);
                }
                StmtKind::With { context, body } => {
                    self.expr(context);
                    self.check_block(body);
                }
                StmtKind::If { test, body, orelse } => {
                    self.expr(test);
                    self.check_block(body);
                    self.check_block(orelse);
                }
                StmtKind::Assert { test, msg } => {
                    self.expr(test);
                    if let Some(m) = msg {
                        self.expr(m);
                    }
                }
            }
        }
    }

    /// The torch namespace an expression always denotes, if any (`nn`, `torch.nn`).
    fn namespace_of(&self, e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Name(n) => self.namespaces.get(n).cloned(),
            ExprKind::Attribute { value, attr } => {
                let base = self.namespace_of(value)?;
                match attribute_of_path(&base, attr) {
                    Some(Value::Path(p)) => Some(p.0.to_string()),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn error(&mut self, e: &Expr, message: String, help: &str) {
        self.errors.push(
            ScenarioError::new(&self.scenario.path, e.span, &self.scenario.source, message)
                .with_help(help),
        );
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Name(n) => {
                if !self.bound.contains(n) && builtin(n).is_none() {
                    self.error(
                        e,
                        format!("NameError: name '{n}' is not defined"),
                        "assign it (or import it) before using it",
                    );
                }
            }
            ExprKind::Attribute { value, attr } => {
                if let Some(ns) = self.namespace_of(value) {
                    if attribute_of_path(&ns, attr).is_none() {
                        self.error(
                            e,
                            format!("`{ns}.{attr}` is not supported in scenarios"),
                            "see docs/scenarios.md for the supported torch API",
                        );
                    }
                } else {
                    self.expr(value);
                }
            }
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Str(_) => {}
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                items.iter().for_each(|i| self.expr(i))
            }
            ExprKind::Call {
                func,
                args,
                keywords,
            } => {
                self.expr(func);
                args.iter().for_each(|a| self.expr(a));
                keywords.iter().for_each(|k| self.expr(&k.value));
            }
            ExprKind::Subscript { value, index } => {
                self.expr(value);
                self.expr(index);
            }
            ExprKind::BinOp { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
            ExprKind::UnaryOp { operand, .. } => self.expr(operand),
            ExprKind::Compare {
                left, comparators, ..
            } => {
                self.expr(left);
                comparators.iter().for_each(|c| self.expr(c));
            }
            ExprKind::BoolOp { values, .. } => values.iter().for_each(|v| self.expr(v)),
            ExprKind::IfExp { test, body, orelse } => {
                self.expr(test);
                self.expr(body);
                self.expr(orelse);
            }
        }
    }
}
