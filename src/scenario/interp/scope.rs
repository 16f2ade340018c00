//! The symbol-table pass: which names of each function, class body and comprehension are
//! locals, globals, or cells shared with inner functions, decided before anything runs, as
//! CPython's compiler decides it (`Python/symtable.c`): a name assigned anywhere in a function is
//! local to the whole function unless declared `global` or `nonlocal`; a name read but not
//! assigned is free when an enclosing function binds it, global otherwise; class bodies do not
//! enclose the functions defined in them; comprehensions are scopes of their own.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use indexmap::IndexSet;

use super::pyobj::{Access, Code, ScopeKind};
use crate::scenario::{
    ClassDef, Comprehension, Expr, ExprKind, FPart, FunctionDef, Span, Stmt, StmtKind, Target,
};

/// The scopes of a scenario.
#[derive(Debug)]
pub struct Scopes {
    /// The module scope.
    pub module: Rc<Code>,
    by_node: HashMap<usize, Rc<Code>>,
    /// Problems CPython's compiler reports as `SyntaxError` (`return` outside a function, a
    /// `nonlocal` with no binding, ...).
    pub errors: Vec<(Span, String)>,
}

impl Scopes {
    /// Analyzes every scope of `body`.
    pub fn analyze(body: &[Stmt]) -> Scopes {
        let mut raw = Raw::new(ScopeKind::Module, "<module>".into(), 0);
        let mut errors = Vec::new();
        let mut w = Walker {
            scope: &mut raw,
            errors: &mut errors,
            loop_depth: 0,
            in_function: false,
        };
        w.block(body);
        let mut by_node = HashMap::new();
        let module = resolve(raw, &HashSet::new(), &mut by_node, &mut errors).0;
        Scopes {
            module,
            by_node,
            errors,
        }
    }

    /// The scope of a `def` or `lambda`.
    pub fn function(&self, def: &Rc<FunctionDef>) -> Option<Rc<Code>> {
        self.by_node.get(&(Rc::as_ptr(def) as usize)).cloned()
    }

    /// The scope of a class body.
    pub fn class(&self, class: &Rc<ClassDef>) -> Option<Rc<Code>> {
        self.by_node.get(&(Rc::as_ptr(class) as usize)).cloned()
    }

    /// The scope of a comprehension expression.
    pub fn comprehension(&self, e: &Expr) -> Option<Rc<Code>> {
        self.by_node.get(&(e as *const Expr as usize)).cloned()
    }
}

/// What the walk finds in one scope.
struct Raw {
    kind: ScopeKind,
    qualname: Rc<str>,
    node: usize,
    params: Vec<Rc<str>>,
    bound: IndexSet<Rc<str>>,
    globals: IndexSet<Rc<str>>,
    nonlocals: Vec<(Rc<str>, Span)>,
    used: IndexSet<Rc<str>>,
    children: Vec<Raw>,
    generator: bool,
}

impl Raw {
    fn new(kind: ScopeKind, qualname: Rc<str>, node: usize) -> Raw {
        Raw {
            kind,
            qualname,
            node,
            params: Vec::new(),
            bound: IndexSet::new(),
            globals: IndexSet::new(),
            nonlocals: Vec::new(),
            used: IndexSet::new(),
            children: Vec::new(),
            generator: false,
        }
    }

    /// The prefix of qualified names of scopes defined inside this one.
    fn child_prefix(&self) -> String {
        match self.kind {
            ScopeKind::Module => String::new(),
            ScopeKind::Class => format!("{}.", self.qualname),
            _ => format!("{}.<locals>.", self.qualname),
        }
    }
}

struct Walker<'a> {
    scope: &'a mut Raw,
    errors: &'a mut Vec<(Span, String)>,
    loop_depth: usize,
    in_function: bool,
}

impl Walker<'_> {
    fn bind(&mut self, name: &str) {
        self.scope.bound.insert(name.into());
    }

    fn use_name(&mut self, name: &str) {
        self.scope.used.insert(name.into());
    }

    fn block(&mut self, body: &[Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn target(&mut self, t: &Target) {
        match t {
            Target::Name(n) => self.bind(&n.id),
            Target::Tuple(items, _) => items.iter().for_each(|t| self.target(t)),
            Target::Starred(inner, _) => self.target(inner),
            Target::Attribute { value, .. } => self.expr(value),
            Target::Subscript { value, index, .. } => {
                self.expr(value);
                self.expr(index);
            }
        }
    }

    fn child(&mut self, raw: Raw, f: impl FnOnce(&mut Walker<'_>), in_function: bool) {
        let mut raw = raw;
        let mut w = Walker {
            scope: &mut raw,
            errors: self.errors,
            loop_depth: 0,
            in_function,
        };
        f(&mut w);
        self.scope.children.push(raw);
    }

    fn function(&mut self, def: &Rc<FunctionDef>) {
        let p = &def.params;
        for param in p.args.iter().chain(&p.kwonly) {
            if let Some(d) = &param.default {
                self.expr(d);
            }
        }
        let qualname: Rc<str> = format!("{}{}", self.scope.child_prefix(), def.name.id).into();
        let mut raw = Raw::new(ScopeKind::Function, qualname, Rc::as_ptr(def) as usize);
        for param in p
            .args
            .iter()
            .chain(&p.vararg)
            .chain(&p.kwonly)
            .chain(&p.kwarg)
        {
            raw.params.push(param.name.id.as_str().into());
            raw.bound.insert(param.name.id.as_str().into());
        }
        self.child(raw, |w| w.block(&def.body), true);
    }

    fn comprehension(&mut self, e: &Expr, generators: &[Comprehension], elts: &[&Expr]) {
        // The first iterable is evaluated in the enclosing scope and passed in.
        if let Some(first) = generators.first() {
            self.expr(&first.iter);
        }
        let name = match &e.kind {
            ExprKind::ListComp { .. } => "<listcomp>",
            ExprKind::SetComp { .. } => "<setcomp>",
            ExprKind::DictComp { .. } => "<dictcomp>",
            _ => "<genexpr>",
        };
        let qualname: Rc<str> = format!("{}{name}", self.scope.child_prefix()).into();
        let raw = Raw::new(
            ScopeKind::Comprehension,
            qualname,
            e as *const Expr as usize,
        );
        let in_function = self.in_function;
        self.child(
            raw,
            |w| {
                for (i, g) in generators.iter().enumerate() {
                    if i > 0 {
                        w.expr(&g.iter);
                    }
                    w.target(&g.target);
                    g.ifs.iter().for_each(|c| w.expr(c));
                }
                elts.iter().for_each(|e| w.expr(e));
            },
            in_function,
        );
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Import(names) => {
                for a in names {
                    let bound = a
                        .alias
                        .clone()
                        .unwrap_or_else(|| a.name.split('.').next().unwrap_or("").to_string());
                    self.bind(&bound);
                }
            }
            StmtKind::ImportFrom { names, .. } => {
                for a in names {
                    self.bind(a.alias.as_deref().unwrap_or(&a.name));
                }
            }
            StmtKind::Assign { targets, value } => {
                self.expr(value);
                targets.iter().for_each(|t| self.target(t));
            }
            StmtKind::AnnAssign { target, value, .. } => {
                if let Some(v) = value {
                    self.expr(v);
                }
                // A bare annotation `x: int` still makes `x` local, as in CPython.
                self.target(target);
            }
            StmtKind::AugAssign { target, value, .. } => {
                self.expr(value);
                if let Target::Name(n) = target {
                    self.use_name(&n.id);
                }
                self.target(target);
            }
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::Del(targets) => targets.iter().for_each(|t| self.target(t)),
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
            } => {
                self.expr(iter);
                self.target(target);
                self.loop_depth += 1;
                self.block(body);
                self.loop_depth -= 1;
                self.block(orelse);
            }
            StmtKind::While { test, body, orelse } => {
                self.expr(test);
                self.loop_depth += 1;
                self.block(body);
                self.loop_depth -= 1;
                self.block(orelse);
            }
            StmtKind::With { items, body } => {
                for item in items {
                    self.expr(&item.context);
                    if let Some(t) = &item.target {
                        self.target(t);
                    }
                }
                self.block(body);
            }
            StmtKind::If { test, body, orelse } => {
                self.expr(test);
                self.block(body);
                self.block(orelse);
            }
            StmtKind::Assert { test, msg } => {
                self.expr(test);
                if let Some(m) = msg {
                    self.expr(m);
                }
            }
            StmtKind::Pass => {}
            StmtKind::Break | StmtKind::Continue => {
                if self.loop_depth == 0 {
                    let word = if matches!(s.kind, StmtKind::Break) {
                        "break"
                    } else {
                        "continue"
                    };
                    self.errors
                        .push((s.span, format!("SyntaxError: '{word}' outside loop")));
                }
            }
            StmtKind::Return(value) => {
                if !self.in_function {
                    self.errors
                        .push((s.span, "SyntaxError: 'return' outside function".into()));
                }
                if let Some(v) = value {
                    self.expr(v);
                }
            }
            StmtKind::FunctionDef(def) => {
                def.decorators.iter().for_each(|d| self.expr(d));
                self.function(def);
                self.bind(&def.name.id);
            }
            StmtKind::ClassDef(class) => {
                class.decorators.iter().for_each(|d| self.expr(d));
                class.bases.iter().for_each(|b| self.expr(b));
                class.keywords.iter().for_each(|k| self.expr(&k.value));
                let qualname: Rc<str> =
                    format!("{}{}", self.scope.child_prefix(), class.name.id).into();
                let raw = Raw::new(ScopeKind::Class, qualname, Rc::as_ptr(class) as usize);
                self.child(raw, |w| w.block(&class.body), false);
                self.bind(&class.name.id);
            }
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                self.block(body);
                for h in handlers {
                    if let Some(t) = &h.typ {
                        self.expr(t);
                    }
                    if let Some(n) = &h.name {
                        self.bind(&n.id);
                    }
                    self.block(&h.body);
                }
                self.block(orelse);
                self.block(finalbody);
            }
            StmtKind::Raise { exc, cause } => {
                for e in [exc, cause].into_iter().flatten() {
                    self.expr(e);
                }
            }
            StmtKind::Global(names) => {
                for n in names {
                    if self.scope.bound.contains(n.id.as_str())
                        || self.scope.used.contains(n.id.as_str())
                    {
                        self.errors.push((
                            n.span,
                            format!(
                                "SyntaxError: name '{}' is used prior to global declaration",
                                n.id
                            ),
                        ));
                    }
                    self.scope.globals.insert(n.id.as_str().into());
                }
            }
            StmtKind::Nonlocal(names) => {
                for n in names {
                    if self.scope.kind == ScopeKind::Module {
                        self.errors.push((
                            n.span,
                            "SyntaxError: nonlocal declaration not allowed at module level".into(),
                        ));
                    }
                    self.scope.nonlocals.push((n.id.as_str().into(), n.span));
                }
            }
        }
    }

    fn fparts(&mut self, parts: &[FPart]) {
        for p in parts {
            if let FPart::Value { value, spec, .. } = p {
                self.expr(value);
                self.fparts(spec);
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Name(n) => self.use_name(n),
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Ellipsis
            | ExprKind::Str(_) => {}
            ExprKind::FString(parts) => self.fparts(parts),
            ExprKind::List(items) | ExprKind::Tuple(items) | ExprKind::Set(items) => {
                items.iter().for_each(|i| self.expr(i))
            }
            ExprKind::Dict(items) => {
                for (k, v) in items {
                    if let Some(k) = k {
                        self.expr(k);
                    }
                    self.expr(v);
                }
            }
            ExprKind::Starred(v) | ExprKind::Attribute { value: v, .. } => self.expr(v),
            ExprKind::Yield(_) | ExprKind::YieldFrom(_) => {
                match self.scope.kind {
                    ScopeKind::Function => self.scope.generator = true,
                    ScopeKind::Comprehension => self
                        .errors
                        .push((e.span, "SyntaxError: 'yield' inside a comprehension".into())),
                    _ => self
                        .errors
                        .push((e.span, "SyntaxError: 'yield' outside function".into())),
                }
                match &e.kind {
                    ExprKind::Yield(Some(v)) | ExprKind::YieldFrom(v) => self.expr(v),
                    _ => {}
                }
            }
            ExprKind::UnaryOp { operand, .. } => self.expr(operand),
            ExprKind::Call {
                func,
                args,
                keywords,
            } => {
                self.expr(func);
                args.iter().for_each(|a| self.expr(a));
                keywords.iter().for_each(|k| self.expr(&k.value));
                // `super()` reads the defining class through an implicit cell in CPython;
                // here the function object remembers its class instead.
            }
            ExprKind::Subscript { value, index } => {
                self.expr(value);
                self.expr(index);
            }
            ExprKind::Slice { lower, upper, step } => {
                for x in [lower, upper, step].into_iter().flatten() {
                    self.expr(x);
                }
            }
            ExprKind::BinOp { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
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
            ExprKind::Lambda(def) => self.function(def),
            ExprKind::ListComp { elt, generators }
            | ExprKind::SetComp { elt, generators }
            | ExprKind::GeneratorExp { elt, generators } => {
                self.comprehension(e, generators, &[elt])
            }
            ExprKind::DictComp {
                key,
                value,
                generators,
            } => self.comprehension(e, generators, &[key, value]),
        }
    }
}

/// Resolves `raw` given the names its enclosing functions bind; records every scope's [`Code`]
/// in `by_node` and returns this one's with the free variables it needs from outside.
fn resolve(
    raw: Raw,
    enclosing: &HashSet<Rc<str>>,
    by_node: &mut HashMap<usize, Rc<Code>>,
    errors: &mut Vec<(Span, String)>,
) -> (Rc<Code>, IndexSet<Rc<str>>) {
    let function_like = matches!(raw.kind, ScopeKind::Function | ScopeKind::Comprehension);
    let nonlocal_names: IndexSet<Rc<str>> = raw.nonlocals.iter().map(|(n, _)| n.clone()).collect();
    for (n, span) in &raw.nonlocals {
        if !enclosing.contains(n) {
            errors.push((
                *span,
                format!("SyntaxError: no binding for nonlocal '{n}' found"),
            ));
        }
    }
    let locals: IndexSet<Rc<str>> = if raw.kind == ScopeKind::Module {
        IndexSet::new()
    } else {
        raw.bound
            .iter()
            .filter(|n| !raw.globals.contains(*n) && !nonlocal_names.contains(*n))
            .cloned()
            .collect()
    };
    let mut free: IndexSet<Rc<str>> = IndexSet::new();
    if raw.kind != ScopeKind::Module {
        for n in &nonlocal_names {
            free.insert(n.clone());
        }
        for n in &raw.used {
            if !locals.contains(n) && !raw.globals.contains(n) && enclosing.contains(n) {
                free.insert(n.clone());
            }
        }
    }
    // Children see this scope's locals, unless this is a class body.
    let mut inner_enclosing = enclosing.clone();
    if function_like {
        inner_enclosing.extend(locals.iter().cloned());
        // A global declaration hides an enclosing function's binding from inner scopes.
        for g in &raw.globals {
            inner_enclosing.remove(g);
        }
    }
    let mut captured: IndexSet<Rc<str>> = IndexSet::new();
    for child in raw.children {
        let (_, child_free) = resolve(child, &inner_enclosing, by_node, errors);
        for n in child_free {
            if function_like && locals.contains(&n) {
                captured.insert(n);
            } else if raw.kind != ScopeKind::Module {
                // Passed through: this scope needs the cell to build the child's closure.
                free.insert(n);
            }
        }
    }
    let mut access = HashMap::new();
    let mut fast: Vec<Rc<str>> = Vec::new();
    let mut cells: Vec<Rc<str>> = Vec::new();
    match raw.kind {
        ScopeKind::Module => {}
        ScopeKind::Class => {
            cells.extend(free.iter().cloned());
            for n in raw.bound.iter().chain(&raw.used) {
                let a = if raw.globals.contains(n) {
                    Access::Global
                } else if let Some(i) = cells.iter().position(|c| c == n) {
                    if nonlocal_names.contains(n) || !raw.bound.contains(n) {
                        Access::ClassFree(i)
                    } else {
                        Access::ClassLocal
                    }
                } else {
                    Access::ClassLocal
                };
                access.insert(n.clone(), a);
            }
        }
        ScopeKind::Function | ScopeKind::Comprehension => {
            // Parameters keep their positions in `fast` even when captured, so that binding
            // arguments stays positional; a captured parameter is copied into its cell.
            for p in &raw.params {
                if !fast.contains(p) {
                    fast.push(p.clone());
                }
            }
            for n in &locals {
                if captured.contains(n) {
                    cells.push(n.clone());
                } else if !fast.contains(n) {
                    fast.push(n.clone());
                }
            }
            let own = cells.len();
            for n in &free {
                if !cells.contains(n) {
                    cells.push(n.clone());
                }
            }
            for n in raw.bound.iter().chain(&raw.used).chain(&raw.globals) {
                let a = if raw.globals.contains(n) {
                    Access::Global
                } else if let Some(i) = cells.iter().position(|c| c == n) {
                    Access::Cell(i)
                } else if let Some(i) = fast.iter().position(|c| c == n) {
                    Access::Fast(i)
                } else {
                    Access::Global
                };
                access.insert(n.clone(), a);
            }
            let code = Rc::new(Code {
                qualname: raw.qualname,
                kind: raw.kind,
                fast,
                cells,
                own_cells: own,
                access,
                generator: raw.generator,
            });
            by_node.insert(raw.node, code.clone());
            return (code, free);
        }
    }
    let code = Rc::new(Code {
        qualname: raw.qualname,
        kind: raw.kind,
        fast,
        own_cells: 0,
        cells,
        access,
        generator: false,
    });
    if raw.kind != ScopeKind::Module {
        by_node.insert(raw.node, code.clone());
    }
    (code, free)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_scenario;
    use std::path::Path;

    fn scopes(src: &str) -> (Vec<Stmt>, Scopes) {
        let s = parse_scenario(Path::new("t.py"), src).unwrap();
        let scopes = Scopes::analyze(&s.body);
        (s.body, scopes)
    }

    fn def(body: &[Stmt], i: usize) -> Rc<FunctionDef> {
        match &body[i].kind {
            StmtKind::FunctionDef(d) => d.clone(),
            _ => panic!("statement {i} is not a def"),
        }
    }

    #[test]
    fn assigned_anywhere_is_local_read_only_is_global() {
        let (body, s) =
            scopes("x = 1\ndef f():\n    print(x)\n    y = 2\n    if y:\n        x = 3\n");
        let code = s.function(&def(&body, 1)).unwrap();
        assert_eq!(code.access("x"), Access::Fast(1));
        assert_eq!(code.access("print"), Access::Global);
    }

    #[test]
    fn captured_locals_are_cells_and_inner_reads_are_free() {
        let (body, s) = scopes(
            "def f(a):\n    acts = []\n    def hook(m):\n        acts.append(m)\n    return hook\n",
        );
        let outer = s.function(&def(&body, 0)).unwrap();
        assert_eq!(outer.access("acts"), Access::Cell(0));
        assert_eq!(outer.access("a"), Access::Fast(0));
        let StmtKind::FunctionDef(inner) = &def(&body, 0).body[1].kind else {
            panic!()
        };
        let inner = s.function(inner).unwrap();
        assert_eq!(inner.access("acts"), Access::Cell(0));
        assert_eq!(&*inner.qualname, "f.<locals>.hook");
    }

    #[test]
    fn class_bodies_do_not_enclose_methods() {
        let (body, s) = scopes("class A:\n    n = 1\n    def m(self):\n        return n\n");
        let StmtKind::ClassDef(class) = &body[0].kind else {
            panic!()
        };
        let StmtKind::FunctionDef(m) = &class.body[1].kind else {
            panic!()
        };
        let m = s.function(m).unwrap();
        assert_eq!(m.access("n"), Access::Global);
        assert_eq!(&*m.qualname, "A.m");
    }

    #[test]
    fn compiler_errors_are_found_before_running() {
        let (_, s) = scopes("return 1\nbreak\ndef f():\n    nonlocal q\n");
        let messages: Vec<&str> = s.errors.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "SyntaxError: 'return' outside function",
                "SyntaxError: 'break' outside loop",
                "SyntaxError: no binding for nonlocal 'q' found"
            ]
        );
    }
}
