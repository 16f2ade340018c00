//! Statements and expressions: what each construct does, with CPython's order of evaluation and
//! of freeing.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::builtins;
use super::dict::{Dict, DictKind, Key};
use super::exc;
use super::pyobj::{BoundMethod, Class, ExcObj, Function, Instance, Iter, Native};
use super::value::{Path, Slot, Value};
use super::{import_binding, number, stdlib, torch, CallArgs, Interp, Unwind, X};
use crate::alloc::LocationGuard;
use crate::scenario::{
    BinOp, BoolOp, ClassDef, CmpOp, Comprehension, Expr, ExprKind, FPart, FunctionDef, Span, Stmt,
    StmtKind, Target, UnaryOp,
};

/// Whether `expr` reads the variable `name`: `x = x + y` rebinds a running total.
fn mentions(expr: &Expr, name: &str) -> bool {
    match &expr.kind {
        ExprKind::Name(n) => n == name,
        ExprKind::List(items) | ExprKind::Tuple(items) | ExprKind::Set(items) => {
            items.iter().any(|e| mentions(e, name))
        }
        ExprKind::Call {
            func,
            args,
            keywords,
        } => {
            mentions(func, name)
                || args.iter().any(|e| mentions(e, name))
                || keywords.iter().any(|k| mentions(&k.value, name))
        }
        ExprKind::Attribute { value, .. } | ExprKind::Starred(value) => mentions(value, name),
        ExprKind::Subscript { value, index } => mentions(value, name) || mentions(index, name),
        ExprKind::BinOp { left, right, .. } => mentions(left, name) || mentions(right, name),
        ExprKind::UnaryOp { operand, .. } => mentions(operand, name),
        ExprKind::Compare {
            left, comparators, ..
        } => mentions(left, name) || comparators.iter().any(|e| mentions(e, name)),
        ExprKind::BoolOp { values, .. } => values.iter().any(|e| mentions(e, name)),
        ExprKind::IfExp { test, body, orelse } => {
            mentions(test, name) || mentions(body, name) || mentions(orelse, name)
        }
        _ => false,
    }
}

impl Interp<'_> {
    pub(super) fn exec(&mut self, stmt: &Stmt, here: LocationGuard<'_>) -> X<()> {
        match &stmt.kind {
            StmtKind::Import(aliases) => {
                for a in aliases {
                    let (name, path) = import_binding(a);
                    let module = stdlib::import(&a.name).ok_or_else(|| {
                        self.raise(
                            "ModuleNotFoundError",
                            format!("No module named '{}'", a.name),
                            a.span,
                        )
                    })?;
                    let value = if path == a.name {
                        module
                    } else {
                        stdlib::import(&path).unwrap_or(module)
                    };
                    self.store(&name, value, stmt.span, false);
                }
            }
            StmtKind::ImportFrom { module, names } => {
                for a in names {
                    let value = self.module_attr(module, &a.name).ok_or_else(|| {
                        self.raise(
                            "ImportError",
                            format!("cannot import name '{}' from '{module}'", a.name),
                            a.span,
                        )
                    })?;
                    self.store(
                        a.alias.as_deref().unwrap_or(&a.name),
                        value,
                        stmt.span,
                        false,
                    );
                }
            }
            StmtKind::Assign { targets, value } => {
                let v = self.expr(value)?;
                for t in targets {
                    self.assign(t, v.clone(), Some(value), stmt.span)?;
                }
            }
            StmtKind::AnnAssign { target, value, .. } => {
                if let Some(value) = value {
                    let v = self.expr(value)?;
                    self.assign(target, v, Some(value), stmt.span)?;
                }
                // In a class body, an annotated name is a field `@dataclass` will find.
                if let (Target::Name(n), Some(ns)) = (target, self.frame().class_ns.clone()) {
                    builtins::note_annotation(&ns, &n.id);
                }
            }
            StmtKind::AugAssign { target, op, value } => {
                self.aug_assign(target, *op, value, stmt.span)?
            }
            StmtKind::Expr(e) => {
                self.expr(e)?;
            }
            StmtKind::Del(targets) => {
                // Planted bug: only the first target of `del a, b` is unbound.
                #[cfg(feature = "planted-bugs")]
                let targets = if self.rt.planted(crate::base::PlantedBug::DelFirstNameOnly) {
                    &targets[..1]
                } else {
                    &targets[..]
                };
                for t in targets {
                    self.delete(t)?;
                }
            }
            StmtKind::Pass => {}
            StmtKind::Break => return Err(Unwind::Break),
            StmtKind::Continue => return Err(Unwind::Continue),
            StmtKind::Return(value) => {
                let v = match value {
                    Some(e) => self.expr(e)?,
                    None => Value::None,
                };
                return Err(Unwind::Return(v));
            }
            StmtKind::Global(_) | StmtKind::Nonlocal(_) => {}
            StmtKind::If { test, body, orelse } => {
                let t = self.expr(test)?;
                let cond = self.truthy(&t, test.span)?;
                drop(t);
                drop(here);
                self.block(if cond { body } else { orelse })?;
            }
            StmtKind::While { test, body, orelse } => {
                drop(here);
                self.while_loop(stmt.span, test, body, orelse)?;
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
            } => {
                let iterable = self.expr(iter)?;
                drop(here);
                self.for_loop(stmt.span, target, iterable, iter.span, body, orelse)?;
            }
            StmtKind::With { items, body } => {
                drop(here);
                self.with(items, body, stmt.span)?;
            }
            StmtKind::Assert { test, msg } => {
                let t = self.expr(test)?;
                if !self.truthy(&t, test.span)? {
                    let args = match msg {
                        Some(m) => vec![self.expr(m)?],
                        None => Vec::new(),
                    };
                    let e = self.new_exception("AssertionError", None, args, None, None);
                    e.traceback
                        .borrow_mut()
                        .push((self.frame().clone(), stmt.span));
                    return Err(Unwind::Exc(e));
                }
            }
            StmtKind::FunctionDef(def) => {
                let f = self.make_function(def)?;
                let decorated = self.decorate(f, &def.decorators)?;
                self.store(&def.name.id, decorated, stmt.span, false);
            }
            StmtKind::ClassDef(class) => {
                drop(here);
                let c = self.make_class(class, stmt.span)?;
                let decorated = self.decorate(c, &class.decorators)?;
                self.store(&class.name.id, decorated, stmt.span, false);
            }
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                drop(here);
                self.try_stmt(body, handlers, orelse, finalbody)?;
            }
            StmtKind::Raise { exc, cause } => return Err(self.raise_stmt(exc, cause, stmt.span)),
        }
        Ok(())
    }

    fn decorate(&mut self, mut v: Value, decorators: &[Expr]) -> X<Value> {
        // Decorators are evaluated top to bottom and applied bottom to top.
        let mut fs = Vec::new();
        for d in decorators {
            fs.push((self.expr(d)?, d.span));
        }
        while let Some((f, span)) = fs.pop() {
            v = self.call(f, CallArgs::positional(vec![v]), span)?;
        }
        Ok(v)
    }

    fn raise_stmt(&mut self, exc: &Option<Expr>, cause: &Option<Expr>, span: Span) -> Unwind {
        let Some(exc) = exc else {
            return match self.handling.last().cloned() {
                Some(e) => {
                    e.traceback.borrow_mut().push((self.frame().clone(), span));
                    Unwind::Exc(e)
                }
                None => self.raise(
                    "RuntimeError",
                    "No active exception to reraise".into(),
                    span,
                ),
            };
        };
        let v = match self.expr(exc) {
            Ok(v) => v,
            Err(u) => return u,
        };
        let e = match self.exception_of(v, span) {
            Ok(e) => e,
            Err(u) => return u,
        };
        if let Some(cause) = cause {
            let c = match self.expr(cause) {
                Ok(c) => c,
                Err(u) => return u,
            };
            let c = match c {
                Value::None => Value::None,
                other => match self.exception_of(other, span) {
                    Ok(ce) => Value::Exception(ce),
                    Err(u) => return u,
                },
            };
            *e.cause.borrow_mut() = Some(c);
        }
        if e.context.borrow().is_none() {
            *e.context.borrow_mut() = self.handling.last().cloned().map(Value::Exception);
        }
        e.traceback.borrow_mut().push((self.frame().clone(), span));
        Unwind::Exc(e)
    }

    /// An exception object from what `raise` was given: an instance, or a class to call.
    fn exception_of(&mut self, v: Value, span: Span) -> X<Rc<ExcObj>> {
        let v = match v {
            Value::Path(p) if exc::is_exception_type(&p.0) => {
                self.call(Value::Path(p), CallArgs::default(), span)?
            }
            Value::Class(c) => self.call(Value::Class(c), CallArgs::default(), span)?,
            other => other,
        };
        match v {
            Value::Exception(e) => Ok(e),
            other => Err(self.raise(
                "TypeError",
                format!(
                    "exceptions must derive from BaseException, not {}",
                    other.type_name()
                ),
                span,
            )),
        }
    }

    fn try_stmt(
        &mut self,
        body: &[Stmt],
        handlers: &[crate::scenario::Handler],
        orelse: &[Stmt],
        finalbody: &[Stmt],
    ) -> X<()> {
        let mut outcome = self.block(body);
        if let Err(Unwind::Exc(e)) = &outcome {
            let e = e.clone();
            if !self.stopping {
                for h in handlers {
                    let matches = match &h.typ {
                        None => true,
                        Some(t) => {
                            let t = match self.expr(t) {
                                Ok(t) => t,
                                Err(u) => {
                                    outcome = Err(u);
                                    break;
                                }
                            };
                            self.exception_matches(&e, &t)
                        }
                    };
                    if !matches {
                        continue;
                    }
                    // Caught: the exception lives in the handler (and in `e` if named).
                    if let Some(n) = &h.name {
                        self.store(&n.id, Value::Exception(e.clone()), h.span, false);
                    }
                    self.handling.push(e.clone());
                    let r = self.block(&h.body);
                    // Planted bug: the handled exception stays on the stack, frames and all.
                    #[cfg(feature = "planted-bugs")]
                    let release = !self
                        .rt
                        .planted(crate::base::PlantedBug::HandledExceptionKept);
                    #[cfg(not(feature = "planted-bugs"))]
                    let release = true;
                    if release {
                        self.handling.pop();
                    }
                    if let Some(n) = &h.name {
                        // `except E as e` ends with `del e`, as CPython compiles it.
                        self.unbind(&n.id);
                    }
                    outcome = r;
                    break;
                }
            }
            drop(e);
        } else if outcome.is_ok() {
            outcome = self.block(orelse);
        }
        if !finalbody.is_empty() {
            match self.block(finalbody) {
                Ok(()) => {}
                // A `return`, `break` or exception in `finally` replaces what was pending.
                Err(u) => outcome = Err(u),
            }
        }
        outcome
    }

    /// Whether exception `e` is caught by `except t`.
    pub(super) fn exception_matches(&mut self, e: &Rc<ExcObj>, t: &Value) -> bool {
        match t {
            Value::Tuple(items) => items.iter().any(|i| self.exception_matches(e, i)),
            Value::Path(p) => exc::is_subclass_name(&e.kind, &p.0),
            Value::Class(c) => e.class.as_ref().is_some_and(|ec| ec.is_subclass(c)),
            _ => false,
        }
    }

    fn while_loop(&mut self, at: Span, test: &Expr, body: &[Stmt], orelse: &[Stmt]) -> X<()> {
        let mut k: u32 = 0;
        let t = self.expr(test)?;
        let mut cond = self.truthy(&t, test.span)?;
        drop(t);
        while cond {
            self.enter_iteration(at, k);
            let r = self.block(body);
            let broke = match r {
                Ok(()) | Err(Unwind::Continue) => false,
                Err(Unwind::Break) => true,
                Err(other) => {
                    self.leave_iteration();
                    return Err(other);
                }
            };
            if !broke {
                // The test decides whether this iteration was the last.
                let t = match self.expr(test) {
                    Ok(t) => t,
                    Err(u) => {
                        self.leave_iteration();
                        return Err(u);
                    }
                };
                cond = match self.truthy(&t, test.span) {
                    Ok(c) => c,
                    Err(u) => {
                        self.leave_iteration();
                        return Err(u);
                    }
                };
            }
            let end = self.iteration_end(at, broke || !cond);
            self.leave_iteration();
            end?;
            if broke {
                return Ok(());
            }
            k = k.saturating_add(1);
        }
        self.block(orelse)
    }

    #[allow(clippy::too_many_arguments)]
    fn for_loop(
        &mut self,
        at: Span,
        target: &Target,
        iterable: Value,
        iter_span: Span,
        body: &[Stmt],
        orelse: &[Stmt],
    ) -> X<()> {
        let scale = self.loop_scale(at);
        // A scaled range runs longer; a re-iterable object is iterated again; a one-shot
        // iterator runs once.
        let (iterable, passes) = match iterable {
            Value::Range(start, stop, step) if scale > 1 => {
                let n = builtins::range_len(&Value::Range(start, stop, step)) as i128;
                let stop = i128::from(start) + n * i128::from(scale) * i128::from(step);
                let stop = stop.clamp(i64::MIN.into(), i64::MAX.into()) as i64;
                (Value::Range(start, stop, step), 1)
            }
            Value::Iterator(_) => (iterable, 1),
            other => (other, scale.max(1)),
        };
        let mut k: u32 = 0;
        for pass in 0..passes {
            let it = self.iter(iterable.clone(), iter_span)?;
            let mut next = self.next(&it, iter_span)?;
            while let Some(item) = next {
                self.assign(target, item, None, at)?;
                self.enter_iteration(at, k);
                let r = self.block(body);
                let broke = match r {
                    Ok(()) | Err(Unwind::Continue) => false,
                    Err(Unwind::Break) => true,
                    Err(other) => {
                        self.leave_iteration();
                        return Err(other);
                    }
                };
                let last;
                if broke {
                    next = None;
                    last = true;
                } else if let Some(remaining) = self.remaining(&it) {
                    last = remaining == 0 && pass + 1 == passes;
                    next = match self.next(&it, iter_span) {
                        Ok(n) => n,
                        Err(u) => {
                            self.leave_iteration();
                            return Err(u);
                        }
                    };
                } else {
                    // Unknown length: fetch the next item first to know whether this was the
                    // last.
                    next = match self.next(&it, iter_span) {
                        Ok(n) => n,
                        Err(u) => {
                            self.leave_iteration();
                            return Err(u);
                        }
                    };
                    last = next.is_none() && pass + 1 == passes;
                }
                let end = self.iteration_end(at, last);
                self.leave_iteration();
                end?;
                if broke {
                    return Ok(());
                }
                k = k.saturating_add(1);
            }
        }
        self.block(orelse)
    }

    fn with(&mut self, items: &[crate::scenario::WithItem], body: &[Stmt], span: Span) -> X<()> {
        let Some((item, rest)) = items.split_first() else {
            return self.block(body);
        };
        let manager = self.expr(&item.context)?;
        let entered = self.enter(&manager, item.context.span)?;
        if let Some(t) = &item.target {
            if let Err(u) = self.assign(t, entered.value.clone(), None, span) {
                self.exit(&manager, entered, item.context.span, None)?;
                return Err(u);
            }
        }
        let r = self.with(rest, body, span);
        let exc = match &r {
            Err(Unwind::Exc(e)) => Some(e.clone()),
            _ => None,
        };
        let suppressed = self.exit(&manager, entered, item.context.span, exc)?;
        match r {
            Err(Unwind::Exc(_)) if suppressed => Ok(()),
            other => other,
        }
    }

    fn enter(&mut self, manager: &Value, span: Span) -> X<Entered> {
        match manager {
            Value::GradMode(on) => Ok(Entered {
                value: Value::None,
                grad: Some(self.rt.set_grad_enabled(*on)),
            }),
            Value::Native(n) => match &**n {
                Native::NullContext(v) => Ok(Entered {
                    value: v.clone(),
                    grad: None,
                }),
                Native::Tqdm(_) => Ok(Entered {
                    value: manager.clone(),
                    grad: None,
                }),
                // The call already set the mode; the guard puts back the one it replaced.
                Native::GradModeSet(previous, mode) => {
                    self.rt.set_grad_mode(*previous);
                    Ok(Entered {
                        value: Value::None,
                        grad: Some(self.rt.set_grad_enabled(*mode)),
                    })
                }
                _ => Err(self.not_a_context_manager(manager, span)),
            },
            Value::Instance(_) => {
                let enter = self.get_attr(manager.clone(), "__enter__", span)?;
                let value = self.call(enter, CallArgs::default(), span)?;
                Ok(Entered { value, grad: None })
            }
            _ => Err(self.not_a_context_manager(manager, span)),
        }
    }

    fn not_a_context_manager(&mut self, v: &Value, span: Span) -> Unwind {
        self.raise(
            "TypeError",
            format!(
                "'{}' object does not support the context manager protocol",
                v.type_name()
            ),
            span,
        )
    }

    /// Leaves a context; true when `__exit__` suppressed the exception.
    fn exit(
        &mut self,
        manager: &Value,
        entered: Entered,
        span: Span,
        exc: Option<Rc<ExcObj>>,
    ) -> X<bool> {
        drop(entered.grad);
        if let Value::Instance(_) = manager {
            let exit = self.get_attr(manager.clone(), "__exit__", span)?;
            let args = match &exc {
                Some(e) => vec![
                    builtins::type_of(&Value::Exception(e.clone())),
                    Value::Exception(e.clone()),
                    Value::None,
                ],
                None => vec![Value::None, Value::None, Value::None],
            };
            let r = self.call(exit, CallArgs::positional(args), span)?;
            return Ok(exc.is_some() && self.truthy(&r, span)?);
        }
        Ok(false)
    }

    /// Binds `v` to a target. `value_expr` is the assigned expression, to tell a running total
    /// (`x = x + y`) from a fresh binding.
    pub(super) fn assign(
        &mut self,
        target: &Target,
        v: Value,
        value_expr: Option<&Expr>,
        at: Span,
    ) -> X<()> {
        match target {
            Target::Name(n) => {
                let accumulates = value_expr.is_some_and(|e| mentions(e, &n.id));
                self.store(&n.id, v, at, accumulates);
            }
            Target::Tuple(items, span) => {
                let values = self.collect(v, *span)?;
                let starred = items.iter().position(|t| matches!(t, Target::Starred(..)));
                match starred {
                    None => {
                        if values.len() != items.len() {
                            let message = if values.len() > items.len() {
                                format!("too many values to unpack (expected {})", items.len())
                            } else {
                                format!(
                                    "not enough values to unpack (expected {}, got {})",
                                    items.len(),
                                    values.len()
                                )
                            };
                            return Err(self.raise("ValueError", message, *span));
                        }
                        for (t, item) in items.iter().zip(values) {
                            self.assign(t, item, None, at)?;
                        }
                    }
                    Some(s) => {
                        let after = items.len() - s - 1;
                        if values.len() < items.len() - 1 {
                            return Err(self.raise(
                                "ValueError",
                                format!(
                                    "not enough values to unpack (expected at least {}, got {})",
                                    items.len() - 1,
                                    values.len()
                                ),
                                *span,
                            ));
                        }
                        let mut values = values;
                        let tail = values.split_off(values.len() - after);
                        let middle = values.split_off(s);
                        for (t, item) in items[..s].iter().zip(values) {
                            self.assign(t, item, None, at)?;
                        }
                        let Target::Starred(inner, _) = &items[s] else {
                            unreachable!("position found a starred target")
                        };
                        self.assign(inner, builtins::new_list(middle, at), None, at)?;
                        for (t, item) in items[s + 1..].iter().zip(tail) {
                            self.assign(t, item, None, at)?;
                        }
                    }
                }
            }
            Target::Starred(_, span) => {
                return Err(self.raise(
                    "SyntaxError",
                    "starred assignment target must be in a list or tuple".into(),
                    *span,
                ))
            }
            Target::Attribute { value, attr, span } => {
                let obj = self.expr(value)?;
                self.set_attr(&obj, attr, v, *span)?;
            }
            Target::Subscript { value, index, span } => {
                let obj = self.expr(value)?;
                let idx = self.expr(index)?;
                self.set_item(&obj, idx, v, *span)?;
            }
        }
        Ok(())
    }

    fn delete(&mut self, t: &Target) -> X<()> {
        match t {
            Target::Name(n) => {
                if !self.unbind(&n.id) {
                    return Err(self.raise(
                        "NameError",
                        format!("name '{}' is not defined", n.id),
                        n.span,
                    ));
                }
            }
            Target::Tuple(items, _) => {
                for i in items {
                    self.delete(i)?;
                }
            }
            Target::Starred(inner, _) => self.delete(inner)?,
            Target::Attribute { value, attr, span } => {
                let obj = self.expr(value)?;
                self.del_attr(&obj, attr, *span)?;
            }
            Target::Subscript { value, index, span } => {
                let obj = self.expr(value)?;
                let idx = self.expr(index)?;
                self.del_item(&obj, idx, *span)?;
            }
        }
        Ok(())
    }

    fn aug_assign(&mut self, target: &Target, op: BinOp, value: &Expr, at: Span) -> X<()> {
        match target {
            Target::Name(n) => {
                let current = self.load(&n.id, n.span)?;
                let rhs = self.expr(value)?;
                let result = self.inplace(current, op, rhs, at)?;
                self.store(&n.id, result, at, true);
            }
            Target::Attribute {
                value: obj,
                attr,
                span,
            } => {
                let o = self.expr(obj)?;
                let current = self.get_attr(o.clone(), attr, *span)?;
                let rhs = self.expr(value)?;
                let result = self.inplace(current, op, rhs, at)?;
                self.set_attr(&o, attr, result, *span)?;
            }
            Target::Subscript {
                value: obj,
                index,
                span,
            } => {
                let o = self.expr(obj)?;
                let i = self.expr(index)?;
                let current = self.get_item(o.clone(), i.clone(), *span)?;
                let rhs = self.expr(value)?;
                let result = self.inplace(current, op, rhs, at)?;
                self.set_item(&o, i, result, *span)?;
            }
            Target::Tuple(_, span) | Target::Starred(_, span) => {
                return Err(self.raise(
                    "SyntaxError",
                    "illegal expression for augmented assignment".into(),
                    *span,
                ))
            }
        }
        Ok(())
    }

    /// `current op= rhs`: in place for tensors (`__iadd__`), lists and sets, else `op`.
    fn inplace(&mut self, current: Value, op: BinOp, rhs: Value, span: Span) -> X<Value> {
        match (&current, op) {
            (Value::Tensor(t), _) if !matches!(op, BinOp::MatMul) => {
                let r = torch::inplace_binary(t, op, &rhs).map_err(|e| self.tensor_error(span, e));
                self.lift(r)?;
                Ok(current)
            }
            (Value::List(l), BinOp::Add) => {
                let items = self.collect(rhs, span)?;
                l.borrow_mut().extend(items.into_iter().map(|value| Slot {
                    value,
                    stored_at: span,
                }));
                Ok(current)
            }
            (Value::Instance(_), _) => {
                let name = format!("__i{}__", builtins::dunder(op));
                if let Ok(m) = self.get_attr(current.clone(), &name, span) {
                    return self.call(m, CallArgs::positional(vec![rhs]), span);
                }
                self.binary(current, op, rhs, span)
            }
            _ => self.binary(current, op, rhs, span),
        }
    }

    pub(super) fn truthy(&mut self, v: &Value, span: Span) -> X<bool> {
        if let Some(b) = v.truthy() {
            return Ok(b);
        }
        match v {
            Value::Tensor(t) => {
                let r = torch::tensor_bool(t).map_err(|e| self.tensor_error(span, e));
                self.lift(r)
            }
            Value::Instance(_) => {
                for name in ["__bool__", "__len__"] {
                    if let Some(m) = self.lookup_method(v, name) {
                        let r = self.call(m, CallArgs::default(), span)?;
                        return Ok(match r {
                            Value::Bool(b) => b,
                            Value::Int(i) => i != 0,
                            _ => true,
                        });
                    }
                }
                Ok(true)
            }
            Value::Native(n) => Ok(match &**n {
                Native::Deque(d, _) => !d.borrow().is_empty(),
                _ => true,
            }),
            _ => Ok(true),
        }
    }

    pub(super) fn expr(&mut self, e: &Expr) -> X<Value> {
        Ok(match &e.kind {
            ExprKind::Int(i) => Value::Int(*i),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::None => Value::None,
            ExprKind::Ellipsis => Value::Path(Path("Ellipsis".into())),
            ExprKind::Str(s) => Value::Str(s.as_str().into()),
            ExprKind::FString(parts) => Value::Str(self.fstring(parts)?.into()),
            ExprKind::Name(n) => self.load(n, e.span)?,
            ExprKind::List(items) => {
                let values = self.items(items)?;
                let l = builtins::new_list(values, e.span);
                self.gc.track_value(&l);
                l
            }
            ExprKind::Tuple(items) => Value::Tuple(Rc::new(self.items(items)?)),
            ExprKind::Set(items) => {
                let values = self.items(items)?;
                let set = Dict::shared(DictKind::Plain);
                for v in values {
                    let k = self.key(&v, e.span)?;
                    set.borrow_mut().insert(k, v, Value::None);
                }
                Value::Set(set)
            }
            ExprKind::Dict(items) => {
                let d = Dict::shared(DictKind::Plain);
                for (k, v) in items {
                    match k {
                        Some(k) => {
                            let kv = self.expr(k)?;
                            let vv = self.expr(v)?;
                            let key = self.key(&kv, k.span)?;
                            let old = d.borrow_mut().insert(key, kv, vv);
                            drop(old);
                        }
                        None => {
                            let other = self.expr(v)?;
                            for (kv, vv) in self.mapping_items(&other, v.span)? {
                                let key = self.key(&kv, v.span)?;
                                let old = d.borrow_mut().insert(key, kv, vv);
                                drop(old);
                            }
                        }
                    }
                }
                let v = Value::Dict(d);
                self.gc.track_value(&v);
                v
            }
            ExprKind::Starred(_) => {
                return Err(self.raise(
                    "SyntaxError",
                    "can't use starred expression here".into(),
                    e.span,
                ))
            }
            ExprKind::Call {
                func,
                args,
                keywords,
            } => {
                let callee = self.expr(func)?;
                let mut call = CallArgs::default();
                for a in args {
                    if let ExprKind::Starred(inner) = &a.kind {
                        let v = self.expr(inner)?;
                        call.pos.extend(self.collect(v, a.span)?);
                    } else {
                        call.pos.push(self.expr(a)?);
                    }
                }
                for k in keywords {
                    let v = self.expr(&k.value)?;
                    match &k.name {
                        Some(name) => call.kw.push((name.clone(), v)),
                        None => {
                            for (kv, vv) in self.mapping_items(&v, k.span)? {
                                let Value::Str(name) = kv else {
                                    return Err(self.raise(
                                        "TypeError",
                                        "keywords must be strings".into(),
                                        k.span,
                                    ));
                                };
                                call.kw.push((name.to_string(), vv));
                            }
                        }
                    }
                }
                self.frame().at.set(e.span);
                self.call(callee, call, e.span)?
            }
            ExprKind::Attribute { value, attr } => {
                let obj = self.expr(value)?;
                self.get_attr(obj, attr, e.span)?
            }
            ExprKind::Subscript { value, index } => {
                let obj = self.expr(value)?;
                let idx = self.expr(index)?;
                self.get_item(obj, idx, e.span)?
            }
            ExprKind::Slice { lower, upper, step } => {
                let mut parts = Vec::with_capacity(3);
                for p in [lower, upper, step] {
                    parts.push(match p {
                        Some(x) => self.expr(x)?,
                        None => Value::None,
                    });
                }
                builtins::slice_value(parts)
            }
            ExprKind::BinOp { left, op, right } => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                self.binary(l, *op, r, e.span)?
            }
            ExprKind::UnaryOp { op, operand } => {
                let v = self.expr(operand)?;
                self.unary(*op, v, e.span)?
            }
            ExprKind::Compare {
                left,
                ops,
                comparators,
            } => {
                let mut l = self.expr(left)?;
                let mut result = Value::Bool(true);
                for (op, c) in ops.iter().zip(comparators) {
                    let r = self.expr(c)?;
                    result = self.compare(&l, *op, &r, e.span)?;
                    // A chain stops at the first false link, as in Python.
                    if ops.len() > 1 && !self.truthy(&result, e.span)? {
                        return Ok(result);
                    }
                    l = r;
                }
                result
            }
            ExprKind::BoolOp { op, values } => {
                let mut last = Value::None;
                for v in values {
                    last = self.expr(v)?;
                    let t = self.truthy(&last, v.span)?;
                    if (*op == BoolOp::And && !t) || (*op == BoolOp::Or && t) {
                        return Ok(last);
                    }
                }
                last
            }
            ExprKind::IfExp { test, body, orelse } => {
                let t = self.expr(test)?;
                if self.truthy(&t, test.span)? {
                    self.expr(body)?
                } else {
                    self.expr(orelse)?
                }
            }
            ExprKind::Lambda(def) => self.make_function(def)?,
            ExprKind::Yield(_) | ExprKind::YieldFrom(_) => {
                let f = self
                    .fail(
                        e.span,
                        "RuntimeError: `yield` inside an expression is not supported in scenarios",
                    )
                    .with_help("yield as a statement: `yield x`, or `y = yield x`");
                return self.lift(Err(f));
            }
            ExprKind::ListComp { elt, generators } => {
                let out = self.comprehension_values(e, elt, generators)?;
                let l = builtins::new_list(out, e.span);
                self.gc.track_value(&l);
                l
            }
            ExprKind::GeneratorExp { elt, generators } => {
                // Evaluated eagerly: the values a consumer would draw one by one are all made
                // first (docs/scenarios.md lists this difference).
                let out = self.comprehension_values(e, elt, generators)?;
                Value::Iterator(Rc::new(RefCell::new(Iter::Values(
                    VecDeque::from(out),
                    "generator",
                ))))
            }
            ExprKind::SetComp { elt, generators } => {
                let out = self.comprehension_values(e, elt, generators)?;
                let set = Dict::shared(DictKind::Plain);
                for v in out {
                    let k = self.key(&v, e.span)?;
                    set.borrow_mut().insert(k, v, Value::None);
                }
                Value::Set(set)
            }
            ExprKind::DictComp {
                key,
                value,
                generators,
            } => {
                let mut out = Vec::new();
                self.comprehension(
                    e,
                    generators,
                    &mut |it, out_ref: &mut Vec<Value>| {
                        let k = it.expr(key)?;
                        let v = it.expr(value)?;
                        out_ref.push(Value::Tuple(Rc::new(vec![k, v])));
                        Ok(())
                    },
                    &mut out,
                )?;
                let d = Dict::shared(DictKind::Plain);
                for kv in out {
                    let Value::Tuple(kv) = kv else { continue };
                    let k = self.key(&kv[0], e.span)?;
                    let old = d.borrow_mut().insert(k, kv[0].clone(), kv[1].clone());
                    drop(old);
                }
                let v = Value::Dict(d);
                self.gc.track_value(&v);
                v
            }
        })
    }

    /// Items of a list, tuple or set display, with `*x` unpacked.
    fn items(&mut self, items: &[Expr]) -> X<Vec<Value>> {
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            if let ExprKind::Starred(inner) = &item.kind {
                let v = self.expr(inner)?;
                values.extend(self.collect(v, item.span)?);
            } else {
                values.push(self.expr(item)?);
            }
        }
        Ok(values)
    }

    /// Runs a comprehension in its own frame, calling `each` for every innermost iteration.
    /// The values `elt` takes over `generators`, in order: a list, set or generator
    /// comprehension's elements.
    fn comprehension_values(
        &mut self,
        e: &Expr,
        elt: &Expr,
        generators: &[Comprehension],
    ) -> X<Vec<Value>> {
        let mut out = Vec::new();
        self.comprehension(
            e,
            generators,
            &mut |it, out_ref: &mut Vec<Value>| {
                out_ref.push(it.expr(elt)?);
                Ok(())
            },
            &mut out,
        )?;
        Ok(out)
    }

    fn comprehension(
        &mut self,
        e: &Expr,
        generators: &[Comprehension],
        each: &mut dyn FnMut(&mut Interp<'_>, &mut Vec<Value>) -> X<()>,
        out: &mut Vec<Value>,
    ) -> X<()> {
        let Some(first) = generators.first() else {
            return Ok(());
        };
        let code = self
            .scopes
            .comprehension(e)
            .expect("every comprehension has a scope");
        let closure = self.closure_for(&code);
        let iterable = self.expr(&first.iter)?;
        let frame = self.new_frame(&code, &closure, None, None);
        if self.frames.len() > self.recursion_limit {
            return Err(self.raise(
                "RecursionError",
                "maximum recursion depth exceeded".into(),
                e.span,
            ));
        }
        self.frames.push(frame);
        let r = self.comprehension_level(generators, 0, Some(iterable), each, out);
        let frame = self.frames.pop();
        if let Err(Unwind::Exc(ex)) = &r {
            let caller = self.frame().clone();
            ex.traceback.borrow_mut().insert(0, (caller, e.span));
        }
        drop(frame);
        r
    }

    fn comprehension_level(
        &mut self,
        generators: &[Comprehension],
        level: usize,
        first: Option<Value>,
        each: &mut dyn FnMut(&mut Interp<'_>, &mut Vec<Value>) -> X<()>,
        out: &mut Vec<Value>,
    ) -> X<()> {
        let Some(g) = generators.get(level) else {
            return each(self, out);
        };
        let iterable = match first {
            Some(v) => v,
            None => self.expr(&g.iter)?,
        };
        let it = self.iter(iterable, g.iter.span)?;
        'items: while let Some(item) = self.next(&it, g.iter.span)? {
            self.assign(&g.target, item, None, g.iter.span)?;
            for cond in &g.ifs {
                let c = self.expr(cond)?;
                if !self.truthy(&c, cond.span)? {
                    continue 'items;
                }
            }
            self.comprehension_level(generators, level + 1, None, each, out)?;
        }
        Ok(())
    }

    fn fstring(&mut self, parts: &[FPart]) -> X<String> {
        let mut out = String::new();
        for p in parts {
            match p {
                FPart::Lit(s) => out.push_str(s),
                FPart::Value {
                    value,
                    conversion,
                    spec,
                } => {
                    let v = self.expr(value)?;
                    let v = match conversion {
                        Some('r') | Some('a') => Value::Str(self.repr_of(&v, value.span)?.into()),
                        Some('s') => Value::Str(self.str_of(&v, value.span)?.into()),
                        _ => v,
                    };
                    let spec = self.fstring(spec)?;
                    out.push_str(&self.format_value(&v, &spec, value.span)?);
                }
            }
        }
        Ok(out)
    }

    /// The cells a function or comprehension defined in the running frame closes over.
    fn closure_for(&mut self, code: &super::Code) -> Vec<super::pyobj::CellRef> {
        let frame = self.frame().clone();
        code.cells[code.own_cells..]
            .iter()
            .map(|name| {
                let i = frame.code.cells.iter().position(|c| c == name);
                match i {
                    Some(i) => frame.cells[i].clone(),
                    // A free variable the running frame does not have (a class body that
                    // never saw the name): an unbound cell.
                    None => Rc::new(RefCell::new(None)),
                }
            })
            .collect()
    }

    fn make_function(&mut self, def: &Rc<FunctionDef>) -> X<Value> {
        let code = self.scopes.function(def).expect("every def has a scope");
        let mut defaults = Vec::new();
        for p in &def.params.args {
            if let Some(d) = &p.default {
                defaults.push(self.expr(d)?);
            }
        }
        let mut kw_defaults = Vec::new();
        for p in &def.params.kwonly {
            kw_defaults.push(match &p.default {
                Some(d) => Some(self.expr(d)?),
                None => None,
            });
        }
        let closure = self.closure_for(&code);
        let f = Rc::new(Function {
            def: def.clone(),
            qualname: code.qualname.clone(),
            code,
            defaults,
            kw_defaults,
            closure,
            owner: RefCell::new(std::rc::Weak::new()),
            attrs: Dict::shared(DictKind::Plain),
        });
        self.gc.track_function(&f);
        Ok(Value::Function(f))
    }

    fn make_class(&mut self, class: &Rc<ClassDef>, span: Span) -> X<Value> {
        let mut bases = Vec::new();
        for b in &class.bases {
            bases.push(self.expr(b)?);
        }
        for k in &class.keywords {
            self.expr(&k.value)?;
        }
        let mut builtin_base: Option<Rc<str>> = None;
        for b in &bases {
            let base = match b {
                Value::Class(c) => c.builtin_base.clone(),
                Value::Path(p) if builtins::is_subclassable(&p.0) => Some(p.0.clone()),
                other => {
                    return Err(self.raise(
                        "TypeError",
                        format!(
                            "a class cannot derive from {} in scenarios",
                            builtins::describe(other)
                        ),
                        span,
                    ))
                }
            };
            if builtin_base.is_none() || builtin_base.as_deref() == Some("object") {
                builtin_base = base.or(builtin_base);
            }
        }
        let code = self.scopes.class(class).expect("every class has a scope");
        let closure = self.closure_for(&code);
        let ns = Dict::shared(DictKind::Plain);
        ns.borrow_mut().insert(
            Key::Str("__qualname__".into()),
            Value::Str("__qualname__".into()),
            Value::Str(code.qualname.clone()),
        );
        let frame = self.new_frame(&code, &closure, Some(ns.clone()), None);
        self.run_frame(frame, &class.body, span)?;
        let c = Rc::new(Class {
            name: class.name.id.as_str().into(),
            bases,
            dict: ns,
            builtin_base,
        });
        // Methods remember their class, for `super()` with no arguments.
        for v in c.dict.borrow().values() {
            let f = match &v {
                Value::Function(f) => Some(f.clone()),
                Value::Native(n) => match &**n {
                    Native::StaticMethod(Value::Function(f))
                    | Native::ClassMethod(Value::Function(f))
                    | Native::Property(Value::Function(f), _) => Some(f.clone()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(f) = f {
                *f.owner.borrow_mut() = Rc::downgrade(&c);
            }
        }
        self.gc.track_class(&c);
        Ok(Value::Class(c))
    }

    /// Calls any callable value.
    pub(crate) fn call(&mut self, callee: Value, args: CallArgs, span: Span) -> X<Value> {
        match callee {
            Value::Function(f) => self.call_function(&f, args, span),
            Value::BoundMethod(b) => {
                let mut args = args;
                args.pos.insert(0, b.receiver.clone());
                self.call(b.func.clone(), args, span)
            }
            Value::Class(c) => self.instantiate(&c, args, span),
            Value::Instance(_) => {
                if let Some(r) = super::module::call_module_instance(self, &callee, &args, span) {
                    return r;
                }
                match self.lookup_method(&callee, "__call__") {
                    Some(m) => self.call(m, args, span),
                    None => Err(self.raise(
                        "TypeError",
                        format!("'{}' object is not callable", callee.type_name()),
                        span,
                    )),
                }
            }
            Value::Path(p) => builtins::call_path(self, &p.0, args, span),
            Value::Method(recv, name) => builtins::call_method(self, *recv, &name, args, span),
            Value::Module(m) => super::module::call_library_module(self, &m, args, span),
            Value::Native(n) => stdlib::call_native(self, &n, args, span),
            other => Err(self.raise(
                "TypeError",
                format!("'{}' object is not callable", other.type_name()),
                span,
            )),
        }
    }

    /// Calls a scenario function: binds the arguments in a new frame and runs the body.
    pub(crate) fn call_function(
        &mut self,
        f: &Rc<Function>,
        args: CallArgs,
        span: Span,
    ) -> X<Value> {
        let frame = self.new_frame(&f.code, &f.closure, None, Some(f.clone()));
        self.bind_params(f, &frame, args, span)?;
        if f.code.generator {
            // The body runs when the generator is iterated; the frame lives in it until then.
            let g = super::generator::GenState::new(f.clone(), frame);
            return Ok(Value::Iterator(Rc::new(RefCell::new(Iter::Generator(
                Box::new(g),
            )))));
        }
        self.run_frame(frame, &f.def.body, span)
    }

    fn bind_params(
        &mut self,
        f: &Rc<Function>,
        frame: &super::FrameRef,
        args: CallArgs,
        span: Span,
    ) -> X<()> {
        let p = &f.def.params;
        let name = &f.qualname;
        let n = p.args.len();
        let mut slots: Vec<Option<Value>> = vec![None; n];
        let mut kwonly: Vec<Option<Value>> = vec![None; p.kwonly.len()];
        let CallArgs { pos, kw } = args;
        let mut extra = Vec::new();
        for (i, v) in pos.into_iter().enumerate() {
            if i < n {
                slots[i] = Some(v);
            } else {
                extra.push(v);
            }
        }
        if !extra.is_empty() && p.vararg.is_none() {
            let given = n + extra.len();
            return Err(self.raise(
                "TypeError",
                format!(
                    "{name}() takes {n} positional argument{} but {given} {} given",
                    if n == 1 { "" } else { "s" },
                    if given == 1 { "was" } else { "were" }
                ),
                span,
            ));
        }
        let kwargs = Dict::shared(DictKind::Plain);
        for (k, v) in kw {
            if let Some(i) = p.args.iter().position(|a| a.name.id == k) {
                if i < p.posonly {
                    if p.kwarg.is_some() {
                        kwargs.borrow_mut().insert(
                            Key::Str(k.as_str().into()),
                            Value::Str(k.as_str().into()),
                            v,
                        );
                        continue;
                    }
                    return Err(self.raise(
                        "TypeError",
                        format!("{name}() got some positional-only arguments passed as keyword arguments: '{k}'"),
                        span,
                    ));
                }
                if slots[i].is_some() {
                    return Err(self.raise(
                        "TypeError",
                        format!("{name}() got multiple values for argument '{k}'"),
                        span,
                    ));
                }
                slots[i] = Some(v);
            } else if let Some(i) = p.kwonly.iter().position(|a| a.name.id == k) {
                kwonly[i] = Some(v);
            } else if p.kwarg.is_some() {
                kwargs.borrow_mut().insert(
                    Key::Str(k.as_str().into()),
                    Value::Str(k.as_str().into()),
                    v,
                );
            } else {
                return Err(self.raise(
                    "TypeError",
                    format!("{name}() got an unexpected keyword argument '{k}'"),
                    span,
                ));
            }
        }
        let first_default = n - f.defaults.len();
        let mut missing = Vec::new();
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() {
                if i >= first_default {
                    *slot = Some(f.defaults[i - first_default].clone());
                } else {
                    missing.push(format!("'{}'", p.args[i].name.id));
                }
            }
        }
        if !missing.is_empty() {
            return Err(self.raise(
                "TypeError",
                format!(
                    "{name}() missing {} required positional argument{}: {}",
                    missing.len(),
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(" and ")
                ),
                span,
            ));
        }
        for (i, slot) in kwonly.iter_mut().enumerate() {
            if slot.is_none() {
                match &f.kw_defaults[i] {
                    Some(d) => *slot = Some(d.clone()),
                    None => {
                        return Err(self.raise(
                            "TypeError",
                            format!(
                                "{name}() missing 1 required keyword-only argument: '{}'",
                                p.kwonly[i].name.id
                            ),
                            span,
                        ))
                    }
                }
            }
        }
        let bind = |param: &str, v: Value| match frame.code.access(param) {
            super::pyobj::Access::Fast(i) => frame.fast.borrow_mut()[i] = Some(v),
            super::pyobj::Access::Cell(i) => *frame.cells[i].borrow_mut() = Some(v),
            _ => {}
        };
        for (param, v) in p.args.iter().zip(slots) {
            bind(&param.name.id, v.expect("filled above"));
        }
        if let Some(va) = &p.vararg {
            bind(&va.name.id, Value::Tuple(Rc::new(extra)));
        }
        for (param, v) in p.kwonly.iter().zip(kwonly) {
            bind(&param.name.id, v.expect("filled above"));
        }
        if let Some(kw) = &p.kwarg {
            let d = Value::Dict(kwargs);
            self.gc.track_value(&d);
            bind(&kw.name.id, d);
        }
        Ok(())
    }

    /// `Class(args)`: a new object, initialized by `__init__`.
    pub(crate) fn instantiate(&mut self, c: &Rc<Class>, args: CallArgs, span: Span) -> X<Value> {
        let base = c.builtin_base.as_deref().unwrap_or("object");
        let obj = if exc::is_exception_type(base) {
            let e = self.new_exception(base, Some(c.clone()), args.pos.clone(), None, None);
            Value::Exception(e)
        } else {
            let i = Rc::new(Instance {
                class: c.clone(),
                dict: Dict::shared(DictKind::Plain),
                module: RefCell::new(None),
            });
            self.gc.track_instance(&i);
            Value::Instance(i)
        };
        if let Some((init, _)) = c.lookup("__init__") {
            let mut args = args;
            args.pos.insert(0, obj.clone());
            let r = self.call(init, args, span)?;
            if !matches!(r, Value::None) {
                return Err(self.raise(
                    "TypeError",
                    format!("__init__() should return None, not '{}'", r.type_name()),
                    span,
                ));
            }
        } else if !exc::is_exception_type(base) && base != "object" {
            // The library base's own __init__ (`nn.Module`, `Dataset`).
            let mut args = args;
            args.pos.insert(0, obj.clone());
            builtins::call_base_init(self, base, args, span)?;
        } else if base == "object" && (!args.pos.is_empty() || !args.kw.is_empty()) {
            return Err(self.raise(
                "TypeError",
                format!("{}() takes no arguments", c.name),
                span,
            ));
        }
        Ok(obj)
    }

    /// The method `name` of a scenario object's class, bound to it.
    pub(crate) fn lookup_method(&mut self, obj: &Value, name: &str) -> Option<Value> {
        let class = match obj {
            Value::Instance(i) => i.class.clone(),
            Value::Exception(e) => e.class.clone()?,
            _ => return None,
        };
        let (f, _) = class.lookup(name)?;
        Some(self.bind_descriptor(f, obj.clone(), &class))
    }

    /// A class attribute read through an object: functions bind to it, static and class
    /// methods unwrap.
    pub(crate) fn bind_descriptor(&mut self, f: Value, obj: Value, class: &Rc<Class>) -> Value {
        match &f {
            Value::Function(_) => {
                // Tracked: a bound method stored on its own object (a hook) is a cycle.
                let b = Value::BoundMethod(Rc::new(BoundMethod {
                    receiver: obj,
                    func: f,
                }));
                self.gc.track_value(&b);
                b
            }
            Value::Native(n) => match &**n {
                Native::StaticMethod(inner) => inner.clone(),
                Native::ClassMethod(inner) => Value::BoundMethod(Rc::new(BoundMethod {
                    receiver: Value::Class(class.clone()),
                    func: inner.clone(),
                })),
                Native::DataclassInit(_) => Value::BoundMethod(Rc::new(BoundMethod {
                    receiver: obj,
                    func: f.clone(),
                })),
                _ => f,
            },
            _ => f,
        }
    }

    /// Every value an iterable yields, as a vector (unpacking, `list(x)`, `*args`).
    pub(crate) fn collect(&mut self, v: Value, span: Span) -> X<Vec<Value>> {
        match &v {
            Value::Tuple(t) => return Ok(t.as_ref().clone()),
            Value::List(l) => return Ok(l.borrow().iter().map(|s| s.value.clone()).collect()),
            _ => {}
        }
        let it = self.iter(v, span)?;
        let mut out = Vec::new();
        while let Some(x) = self.next(&it, span)? {
            out.push(x);
            if out.len() > 10_000_000 {
                return Err(self.raise(
                    "MemoryError",
                    "an endless iterator was collected into a list".into(),
                    span,
                ));
            }
        }
        Ok(out)
    }

    /// `iter(v)`.
    pub(crate) fn iter(&mut self, v: Value, span: Span) -> X<Value> {
        let it = match &v {
            Value::Iterator(_) => return Ok(v),
            Value::List(l) => Iter::List(l.clone(), 0),
            Value::Tuple(t) => Iter::Values(t.iter().cloned().collect(), "tuple_iterator"),
            Value::Range(a, b, c) => Iter::Range {
                next: *a,
                stop: *b,
                step: *c,
            },
            Value::Str(s) => Iter::Values(
                s.chars()
                    .map(|c| Value::Str(c.to_string().into()))
                    .collect(),
                "str_iterator",
            ),
            Value::Dict(d) | Value::Set(d) => {
                Iter::Values(d.borrow().keys().into(), "dict_keyiterator")
            }
            Value::Native(n) => match &**n {
                Native::Deque(d, _) => Iter::Values(d.borrow().clone(), "deque_iterator"),
                Native::Tqdm(inner) => return self.iter(inner.clone(), span),
                Native::DataLoader(l) => super::data::loader_iter(self, &l.clone(), span)?,
                Native::NamedTuple(_, values) => {
                    Iter::Values(values.iter().cloned().collect(), "tuple_iterator")
                }
                _ => return Err(self.not_iterable(&v, span)),
            },
            Value::Module(m) => match m.children() {
                Some(children) => Iter::Values(
                    children.iter().map(|c| Value::Module(c.clone())).collect(),
                    "iterator",
                ),
                None => return Err(self.not_iterable(&v, span)),
            },
            Value::Tensor(t) => {
                let n = t.shape().first().copied().unwrap_or(0);
                let mut items = VecDeque::new();
                for i in 0..n {
                    let r = t.select(i as i64).map_err(|e| self.tensor_error(span, e));
                    items.push_back(Value::Tensor(self.lift(r)?));
                }
                Iter::Values(items, "iterator")
            }
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(&v, "__iter__") {
                    return self.call(m, CallArgs::default(), span);
                }
                if let Some(r) = super::module::iterate_module_container(self, &v) {
                    return Ok(r);
                }
                if self.lookup_method(&v, "__getitem__").is_some() {
                    return Ok(Value::Iterator(Rc::new(RefCell::new(Iter::GetItem(
                        v.clone(),
                        0,
                    )))));
                }
                return Err(self.not_iterable(&v, span));
            }
            _ => return Err(self.not_iterable(&v, span)),
        };
        Ok(Value::Iterator(Rc::new(RefCell::new(it))))
    }

    fn not_iterable(&mut self, v: &Value, span: Span) -> Unwind {
        self.raise(
            "TypeError",
            format!("'{}' object is not iterable", v.type_name()),
            span,
        )
    }

    /// How many items are left in a known-length iterator; `None` when unknown.
    fn remaining(&self, it: &Value) -> Option<usize> {
        let Value::Iterator(it) = it else {
            return None;
        };
        match &*it.borrow() {
            Iter::List(l, i) => Some(l.borrow().len().saturating_sub(*i)),
            Iter::Values(v, _) => Some(v.len()),
            Iter::Range { next, stop, step } => {
                Some(builtins::range_len(&Value::Range(*next, *stop, *step)))
            }
            Iter::Done => Some(0),
            Iter::Enumerate(inner, _) => self.remaining(inner),
            Iter::Zip(inners) => inners.iter().map(|i| self.remaining(i)).min().flatten(),
            _ => None,
        }
    }

    /// `next(it)`: the next item, or `None` when exhausted.
    pub(crate) fn next(&mut self, it: &Value, span: Span) -> X<Option<Value>> {
        let r = match it {
            Value::Iterator(r) => r.clone(),
            Value::Instance(_) => {
                let Some(m) = self.lookup_method(it, "__next__") else {
                    return Err(self.raise(
                        "TypeError",
                        format!("'{}' object is not an iterator", it.type_name()),
                        span,
                    ));
                };
                return match self.call(m, CallArgs::default(), span) {
                    Ok(v) => Ok(Some(v)),
                    Err(Unwind::Exc(e)) if exc::is_subclass_name(&e.kind, "StopIteration") => {
                        Ok(None)
                    }
                    Err(u) => Err(u),
                };
            }
            other => {
                return Err(self.raise(
                    "TypeError",
                    format!("'{}' object is not an iterator", other.type_name()),
                    span,
                ))
            }
        };
        let mut state = std::mem::replace(&mut *r.borrow_mut(), Iter::Done);
        let out = self.advance(&mut state, span);
        if !matches!(state, Iter::Done) && !matches!(out, Ok(None)) {
            *r.borrow_mut() = state;
        }
        out
    }

    fn advance(&mut self, state: &mut Iter, span: Span) -> X<Option<Value>> {
        Ok(match state {
            Iter::Done => None,
            Iter::Generator(g) => super::generator::resume(self, g, span)?,
            Iter::List(l, i) => {
                let v = l.borrow().get(*i).map(|s| s.value.clone());
                *i += 1;
                v
            }
            Iter::Values(v, _) => v.pop_front(),
            Iter::Range { next, stop, step } => {
                if (*step > 0 && *next < *stop) || (*step < 0 && *next > *stop) {
                    let v = *next;
                    *next = next.saturating_add(*step);
                    Some(Value::Int(v))
                } else {
                    None
                }
            }
            Iter::Count(n, step) => {
                let v = *n;
                *n = n.saturating_add(*step);
                Some(Value::Int(v))
            }
            Iter::Enumerate(inner, n) => match self.next(inner, span)? {
                Some(v) => {
                    let i = *n;
                    *n += 1;
                    Some(Value::Tuple(Rc::new(vec![Value::Int(i), v])))
                }
                None => None,
            },
            Iter::Zip(inners) => {
                let mut items = Vec::with_capacity(inners.len());
                for i in inners.iter() {
                    match self.next(i, span)? {
                        Some(v) => items.push(v),
                        None => return Ok(None),
                    }
                }
                if items.is_empty() {
                    None
                } else {
                    Some(Value::Tuple(Rc::new(items)))
                }
            }
            Iter::GetItem(obj, i) => {
                // The old sequence protocol: `obj[0]`, `obj[1]`, ... until IndexError.
                let Some(m) = self.lookup_method(obj, "__getitem__") else {
                    return Ok(None);
                };
                match self.call(m, CallArgs::positional(vec![Value::Int(*i)]), span) {
                    Ok(v) => {
                        *i += 1;
                        Some(v)
                    }
                    Err(Unwind::Exc(e))
                        if exc::is_subclass_name(&e.kind, "IndexError")
                            || exc::is_subclass_name(&e.kind, "StopIteration") =>
                    {
                        None
                    }
                    Err(u) => return Err(u),
                }
            }
            Iter::Map(f, inners) => {
                let mut items = Vec::with_capacity(inners.len());
                for i in inners.iter() {
                    match self.next(i, span)? {
                        Some(v) => items.push(v),
                        None => return Ok(None),
                    }
                }
                let f = f.clone();
                Some(self.call(f, CallArgs::positional(items), span)?)
            }
            Iter::Filter(f, inner) => loop {
                let Some(v) = self.next(inner, span)? else {
                    break None;
                };
                let keep = match &*f {
                    Value::None => self.truthy(&v, span)?,
                    f => {
                        let f = f.clone();
                        let r = self.call(f, CallArgs::positional(vec![v.clone()]), span)?;
                        self.truthy(&r, span)?
                    }
                };
                if keep {
                    break Some(v);
                }
            },
            Iter::Chain(inners) => loop {
                let Some(front) = inners.front().cloned() else {
                    break None;
                };
                let front = match front {
                    Value::Iterator(_) => front,
                    other => {
                        let it = self.iter(other, span)?;
                        inners[0] = it.clone();
                        it
                    }
                };
                match self.next(&front, span)? {
                    Some(v) => break Some(v),
                    None => {
                        inners.pop_front();
                    }
                }
            },
            Iter::Cycle(seen, inner, i) => {
                if let Some(it) = inner.clone() {
                    match self.next(&it, span)? {
                        Some(v) => {
                            seen.push(v.clone());
                            return Ok(Some(v));
                        }
                        None => *inner = None,
                    }
                }
                if seen.is_empty() {
                    None
                } else {
                    let v = seen[*i % seen.len()].clone();
                    *i += 1;
                    Some(v)
                }
            }
            Iter::Islice {
                inner,
                next,
                pos,
                stop,
                step,
            } => loop {
                if stop.is_some_and(|s| *next >= s) {
                    break None;
                }
                let Some(v) = self.next(inner, span)? else {
                    break None;
                };
                let at = *pos;
                *pos += 1;
                if at == *next {
                    *next += *step;
                    break Some(v);
                }
            },
        })
    }

    /// The hashable key of `v`, or TypeError.
    pub(crate) fn key(&mut self, v: &Value, span: Span) -> X<Key> {
        Key::of(v).ok_or_else(|| {
            self.raise(
                "TypeError",
                format!("unhashable type: '{}'", v.type_name()),
                span,
            )
        })
    }

    /// The `(key, value)` pairs of a mapping (`**d`, `dict(d)`, `d.update(...)`).
    pub(crate) fn mapping_items(&mut self, v: &Value, span: Span) -> X<Vec<(Value, Value)>> {
        match v {
            Value::Dict(d) => Ok(d.borrow().items()),
            other => {
                let items = self.collect(other.clone(), span)?;
                let mut out = Vec::new();
                for item in items {
                    let pair = self.collect(item, span)?;
                    if pair.len() != 2 {
                        return Err(self.raise(
                            "ValueError",
                            format!(
                                "dictionary update sequence element has length {}; 2 is required",
                                pair.len()
                            ),
                            span,
                        ));
                    }
                    let mut pair = pair.into_iter();
                    out.push((
                        pair.next().unwrap_or(Value::None),
                        pair.next().unwrap_or(Value::None),
                    ));
                }
                Ok(out)
            }
        }
    }

    pub(super) fn unary(&mut self, op: UnaryOp, v: Value, span: Span) -> X<Value> {
        let r = match (op, &v) {
            (UnaryOp::Not, _) => return Ok(Value::Bool(!self.truthy(&v, span)?)),
            (UnaryOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int),
            (UnaryOp::Neg, Value::Bool(b)) => Some(Value::Int(-(*b as i64))),
            (UnaryOp::Neg, Value::Float(f)) => Some(Value::Float(-f)),
            (UnaryOp::Pos, Value::Int(_) | Value::Float(_)) => Some(v.clone()),
            (UnaryOp::Pos, Value::Bool(b)) => Some(Value::Int(*b as i64)),
            (UnaryOp::Invert, Value::Int(i)) => Some(Value::Int(!i)),
            (UnaryOp::Invert, Value::Bool(b)) => Some(Value::Int(!(*b as i64))),
            (UnaryOp::Neg, Value::Tensor(t)) => {
                let r = torch::neg(t).map_err(|e| self.tensor_error(span, e));
                return Ok(Value::Tensor(self.lift(r)?));
            }
            (UnaryOp::Pos, Value::Tensor(_)) => Some(v.clone()),
            (_, Value::Instance(_)) => {
                let name = match op {
                    UnaryOp::Neg => "__neg__",
                    UnaryOp::Pos => "__pos__",
                    _ => "__invert__",
                };
                if let Some(m) = self.lookup_method(&v, name) {
                    return self.call(m, CallArgs::default(), span);
                }
                None
            }
            _ => None,
        };
        match r {
            Some(v) => Ok(v),
            None if matches!(v, Value::Int(_)) => Err(self.raise(
                "OverflowError",
                "integer result does not fit in 64 bits".into(),
                span,
            )),
            None => Err(self.raise(
                "TypeError",
                format!(
                    "bad operand type for unary {}: '{}'",
                    op.symbol(),
                    v.type_name()
                ),
                span,
            )),
        }
    }

    pub(crate) fn binary(&mut self, l: Value, op: BinOp, r: Value, span: Span) -> X<Value> {
        // `"%.4f" % loss` formats the tensor's number, as `Tensor.__format__` does.
        if let (Value::Str(fmt), BinOp::Mod) = (&l, op) {
            let args = match &r {
                Value::Tuple(t) => t.as_ref().clone(),
                other => vec![other.clone()],
            };
            return Ok(Value::Str(self.percent_format(fmt, &args, span)?.into()));
        }
        if matches!(l, Value::Tensor(_)) || matches!(r, Value::Tensor(_)) {
            let result = torch::binary(&l, op, &r).map_err(|e| match e {
                Ok(tensor_error) => self.tensor_error(span, tensor_error),
                Err(message) => self.fail(span, message),
            });
            return self.lift(result);
        }
        if matches!(l, Value::Instance(_)) || matches!(r, Value::Instance(_)) {
            let name = format!("__{}__", builtins::dunder(op));
            if let Some(m) = self.lookup_method(&l, &name) {
                return self.call(m, CallArgs::positional(vec![r]), span);
            }
            let rname = format!("__r{}__", builtins::dunder(op));
            if let Some(m) = self.lookup_method(&r, &rname) {
                return self.call(m, CallArgs::positional(vec![l]), span);
            }
        }
        if let Some(v) = builtins::sequence_op(self, &l, op, &r, span)? {
            return Ok(v);
        }
        let (Some(a), Some(b)) = (number(&l), number(&r)) else {
            return Err(self.raise(
                "TypeError",
                format!(
                    "unsupported operand type(s) for {}: '{}' and '{}'",
                    op.symbol(),
                    l.type_name(),
                    r.type_name()
                ),
                span,
            ));
        };
        match builtins::arith(a, op, b) {
            Ok(v) => Ok(v),
            Err(m) => {
                let f = self.fail(span, m);
                self.lift(Err(f))
            }
        }
    }

    pub(super) fn compare(&mut self, l: &Value, op: CmpOp, r: &Value, span: Span) -> X<Value> {
        if matches!(l, Value::Tensor(_)) || matches!(r, Value::Tensor(_)) {
            if let Some(result) = torch::compare(l, op, r) {
                let result = result.map_err(|e| self.tensor_error(span, e));
                return self.lift(result);
            }
        }
        let result = match op {
            CmpOp::Is | CmpOp::IsNot => {
                let same = match (l.identity(), r.identity()) {
                    (Some(a), Some(b)) => a == b,
                    (None, None) => match (l, r) {
                        (Value::None, Value::None) => true,
                        (Value::Bool(a), Value::Bool(b)) => a == b,
                        (Value::Path(a), Value::Path(b)) => a == b,
                        (Value::Int(a), Value::Int(b)) => a == b && (-5..=256).contains(a),
                        (Value::DType(a), Value::DType(b)) => a == b,
                        _ => false,
                    },
                    _ => false,
                };
                same == (op == CmpOp::Is)
            }
            CmpOp::In | CmpOp::NotIn => {
                let found = self.contains(r, l, span)?;
                found == (op == CmpOp::In)
            }
            CmpOp::Eq | CmpOp::NotEq => {
                if let Some(m) = self.lookup_method(l, "__eq__") {
                    let v = self.call(m, CallArgs::positional(vec![r.clone()]), span)?;
                    let t = self.truthy(&v, span)?;
                    t == (op == CmpOp::Eq)
                } else {
                    builtins::equal(l, r) == (op == CmpOp::Eq)
                }
            }
            CmpOp::Lt | CmpOp::LtE | CmpOp::Gt | CmpOp::GtE => {
                let ord = builtins::order(l, r).ok_or_else(|| {
                    self.raise(
                        "TypeError",
                        format!(
                            "'{}' not supported between instances of '{}' and '{}'",
                            op.symbol(),
                            l.type_name(),
                            r.type_name()
                        ),
                        span,
                    )
                })?;
                match op {
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::LtE => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                }
            }
        };
        Ok(Value::Bool(result))
    }

    /// `item in container`.
    pub(crate) fn contains(&mut self, container: &Value, item: &Value, span: Span) -> X<bool> {
        match container {
            Value::Dict(d) | Value::Set(d) => {
                let k = self.key(item, span)?;
                Ok(d.borrow().contains(&k))
            }
            Value::Str(s) => match item {
                Value::Str(sub) => Ok(s.contains(&**sub)),
                other => Err(self.raise(
                    "TypeError",
                    format!(
                        "'in <string>' requires string as left operand, not {}",
                        other.type_name()
                    ),
                    span,
                )),
            },
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(container, "__contains__") {
                    let r = self.call(m, CallArgs::positional(vec![item.clone()]), span)?;
                    return self.truthy(&r, span);
                }
                let items = self.collect(container.clone(), span)?;
                Ok(items.iter().any(|x| builtins::equal(item, x)))
            }
            Value::Range(..) => match number(item) {
                Some(super::Num::Int(i)) => {
                    let items = builtins::range_contains(container, i);
                    Ok(items)
                }
                _ => Ok(false),
            },
            other => {
                let items = self.collect(other.clone(), span)?;
                Ok(items.iter().any(|x| builtins::equal(item, x)))
            }
        }
    }
}

/// What entering a context manager gave, to undo on exit.
struct Entered {
    value: Value,
    /// Restores the grad mode when dropped.
    grad: Option<crate::runtime::GradModeGuard>,
}
