//! Statements and expressions: what each construct does, with CPython's order of evaluation and
//! of freeing. This file holds the statements; expressions, calls, iteration and operators are
//! in its child modules.

use std::rc::Rc;

use super::pyobj::{ExcObj, Native};
use super::value::{Slot, Value};
use super::{builtins, exc, import_binding, stdlib, torch, CallArgs, Interp, Unwind, X};
use crate::alloc::LocationGuard;
use crate::scenario::{BinOp, Expr, ExprKind, Span, Stmt, StmtKind, Target};

mod call;
mod expr;
mod iterate;
mod operators;

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
                autocast: None,
                saved_hooks: None,
            }),
            Value::Native(n) => match &**n {
                Native::NullContext(v) => Ok(Entered {
                    value: v.clone(),
                    grad: None,
                    autocast: None,
                    saved_hooks: None,
                }),
                Native::Tqdm(_) => Ok(Entered {
                    value: manager.clone(),
                    grad: None,
                    autocast: None,
                    saved_hooks: None,
                }),
                Native::SavedTensorsHooks(m) => Ok(Entered {
                    value: Value::None,
                    grad: None,
                    autocast: None,
                    saved_hooks: Some(super::torch::enter_saved_hooks(self, m, span)?),
                }),
                Native::Autocast(a) => Ok(Entered {
                    value: manager.clone(),
                    grad: None,
                    autocast: Some(
                        self.rt
                            .autocast(a.device, a.dtype, a.enabled, a.cache_enabled),
                    ),
                    saved_hooks: None,
                }),
                // The call already set the mode; the guard puts back the one it replaced.
                Native::GradModeSet(previous, mode) => {
                    self.rt.set_grad_mode(*previous);
                    Ok(Entered {
                        value: Value::None,
                        grad: Some(self.rt.set_grad_enabled(*mode)),
                        autocast: None,
                        saved_hooks: None,
                    })
                }
                _ => Err(self.not_a_context_manager(manager, span)),
            },
            Value::Instance(_) => {
                let enter = self.get_attr(manager.clone(), "__enter__", span)?;
                let value = self.call(enter, CallArgs::default(), span)?;
                Ok(Entered {
                    value,
                    grad: None,
                    autocast: None,
                    saved_hooks: None,
                })
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
        drop(entered.autocast);
        drop(entered.saved_hooks);
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
                let starred = items.iter().position(|t| matches!(t, Target::Starred(..)));
                let values = match starred {
                    None => self.collect_at_most(v, items.len() + 1, *span)?,
                    Some(_) => self.collect(v, *span)?,
                };
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
}

/// What entering a context manager gave, to undo on exit.
struct Entered {
    value: Value,
    /// Restores the grad mode when dropped.
    grad: Option<crate::runtime::GradModeGuard>,
    /// Leaves the autocast region (clearing the weight-cast cache at the outermost) when
    /// dropped.
    autocast: Option<crate::tensor::AutocastGuard>,
    /// Pops saved-tensor hooks, or enables them again, when dropped.
    saved_hooks: Option<super::torch::HooksEntered>,
}
