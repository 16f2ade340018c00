//! The interpreter: runs a parsed scenario on a [`Runtime`], with Python's module-level name
//! semantics, and tells an [`Observer`] about loop iterations and the end of the program.
//!
//! Names live in one module scope. Rebinding a name drops its old value and `del` drops it,
//! exactly when Python's reference counting would; at the end of the program every name is
//! dropped in reverse order of creation. Every allocation made while a statement runs is tagged
//! with that statement's location and the iteration of each enclosing loop.

mod args;
mod builtins;
mod objects;
mod torch;
mod validate;
mod value;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use args::CallArgs;
pub use objects::{ModuleKind, ModuleRef, OptimizerRef};
pub use validate::validate;
pub use value::{ListRef, Slot, Value};

use crate::alloc::{Location, LocationGuard};
use crate::base::TensorError;
use crate::base::{AllocError, OutOfMemory};
use crate::runtime::Runtime;
use crate::scenario::{
    AugOp, BinOp, BoolOp, CmpOp, Expr, ExprKind, ImportAlias, Scenario, ScenarioError, Span, Stmt,
    StmtKind, Target, UnaryOp,
};

/// Limits and loop scaling for one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// At most this many statements are executed (`#@ max-steps`, default 1,000,000).
    pub max_steps: u64,
    /// The run stops with an error after this much wall time.
    pub time_limit: Duration,
    /// Loops (by the line and column of their `for`) whose iteration count is multiplied, so the
    /// leak checker can compare a run against one with more iterations.
    pub loop_scale: Vec<((u32, u32), u32)>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_steps: 1_000_000,
            time_limit: Duration::from_secs(120),
            loop_scale: Vec::new(),
        }
    }
}

/// A name of the program and what it holds.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// The statement that last bound it.
    pub bound_at: Span,
    /// Whether that statement rebound the name from its own value (`x += y`, `x = x + y`): a
    /// running total.
    pub accumulates: bool,
}

/// The module scope: names in order of creation.
#[derive(Debug, Default)]
pub struct Env {
    bindings: Vec<Binding>,
}

impl Env {
    /// Every name, in order of creation.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.bindings
            .iter()
            .find(|b| b.name == name)
            .map(|b| &b.value)
    }

    fn set(&mut self, name: &str, value: Value, bound_at: Span, accumulates: bool) {
        match self.bindings.iter_mut().find(|b| b.name == name) {
            Some(b) => {
                // The old value is dropped here, when Python would drop it.
                b.value = value;
                b.bound_at = bound_at;
                b.accumulates = accumulates;
            }
            None => self.bindings.push(Binding {
                name: name.to_string(),
                value,
                bound_at,
                accumulates,
            }),
        }
    }

    fn remove(&mut self, name: &str) -> Option<Binding> {
        let i = self.bindings.iter().position(|b| b.name == name)?;
        Some(self.bindings.remove(i))
    }
}

/// The end of one loop iteration, as an [`Observer`] sees it.
pub struct IterationEnd<'a> {
    /// The runtime.
    pub rt: &'a Runtime,
    /// The program's names at that moment.
    pub env: &'a Env,
    /// The `for` statement.
    pub loop_at: Span,
    /// The iteration of each enclosing loop, outermost first, ending with this loop's.
    pub index: &'a [u32],
    /// Whether this was the loop's last iteration.
    pub last: bool,
}

/// Whether a run goes on after an observer has seen an iteration end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep running.
    Continue,
    /// Stop here, as if the program ended (its names are still dropped).
    Stop,
}

/// Told what happens while a scenario runs. The leak checker is one.
pub trait Observer {
    /// A loop iteration just ended.
    fn iteration_end(&mut self, _at: &IterationEnd<'_>) -> Control {
        Control::Continue
    }

    /// A statement is about to run (each time it runs; compound statements too, once per entry).
    /// Per-statement memory traces read the allocator here.
    fn statement_start(&mut self, _rt: &Runtime, _stmt: &Stmt) {}

    /// The program ended, failed, or was stopped, and its names are about to be dropped.
    fn before_teardown(&mut self, _rt: &Runtime, _env: &Env, _failure: Option<&Failure>) {}
}

/// An observer that watches nothing.
impl Observer for () {}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// An `assert` failed.
    Assertion,
    /// The device ran out of memory.
    OutOfMemory(Box<OutOfMemory>),
    /// Any other error: Python's or PyTorch's exception, or a limit.
    Error,
}

/// A failed run: what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its kind.
    pub kind: FailureKind,
    /// The message at its location.
    pub error: ScenarioError,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    /// `None` when the program ran to its end.
    pub failure: Option<Failure>,
    /// Lines printed by the program.
    pub output: Vec<String>,
    /// Statements executed.
    pub steps: u64,
}

/// Runs `scenario` on `rt` to its end (or its first error), then drops every name.
pub fn run(
    scenario: &Scenario,
    rt: &Runtime,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> RunResult {
    let mut interp = Interp {
        scenario,
        rt: rt.clone(),
        options,
        observer,
        env: Env::default(),
        output: Vec::new(),
        steps: 0,
        loops: Vec::new(),
        started: Instant::now(),
        file: Arc::from(scenario.path.display().to_string()),
    };
    let failure = match interp.block(&scenario.body) {
        Ok(()) | Err(Flow::Stopped) => None,
        Err(Flow::Failed(f)) => Some(f),
    };
    interp
        .observer
        .before_teardown(&interp.rt, &interp.env, failure.as_ref());
    let Interp {
        env, output, steps, ..
    } = interp;
    // Python drops a module's names in reverse order of creation when the program ends.
    let mut bindings = env.bindings;
    while let Some(b) = bindings.pop() {
        drop(b);
    }
    RunResult {
        failure,
        output,
        steps,
    }
}

/// Why execution left a block early.
enum Flow {
    /// An error, assertion or limit.
    Failed(Failure),
    /// The observer asked to stop.
    Stopped,
}

impl From<Failure> for Flow {
    fn from(f: Failure) -> Flow {
        Flow::Failed(f)
    }
}

type R<T> = Result<T, Failure>;

struct Interp<'s> {
    scenario: &'s Scenario,
    rt: Runtime,
    options: &'s RunOptions,
    observer: &'s mut dyn Observer,
    env: Env,
    output: Vec<String>,
    steps: u64,
    loops: Vec<u32>,
    started: Instant,
    file: Arc<str>,
}

/// The name an `import` item binds and the module path it binds it to: `import torch.nn` binds
/// `torch` to `torch`; `import torch.nn as nn` binds `nn` to `torch.nn`.
fn import_binding(a: &ImportAlias) -> (String, String) {
    match &a.alias {
        Some(alias) => (alias.clone(), a.name.clone()),
        None => {
            let top = a.name.split('.').next().unwrap_or(&a.name).to_string();
            (top.clone(), top)
        }
    }
}

/// Whether `expr` reads the variable `name`: `x = x + y` rebinds a running total.
fn mentions(expr: &Expr, name: &str) -> bool {
    match &expr.kind {
        ExprKind::Name(n) => n == name,
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::None
        | ExprKind::Str(_) => false,
        ExprKind::List(items) | ExprKind::Tuple(items) => items.iter().any(|e| mentions(e, name)),
        ExprKind::Call {
            func,
            args,
            keywords,
        } => {
            mentions(func, name)
                || args.iter().any(|e| mentions(e, name))
                || keywords.iter().any(|k| mentions(&k.value, name))
        }
        ExprKind::Attribute { value, .. } => mentions(value, name),
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
    }
}

impl Interp<'_> {
    fn fail(&self, span: Span, message: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Error,
            error: ScenarioError::new(&self.scenario.path, span, &self.scenario.source, message),
        }
    }

    /// A runtime error as PyTorch raises it; out-of-memory keeps its details for the report.
    fn tensor_error(&self, span: Span, e: TensorError) -> Failure {
        match e {
            TensorError::Alloc(AllocError::OutOfMemory(oom)) => {
                let message = format!("torch.OutOfMemoryError: {}", oom.message);
                Failure {
                    kind: FailureKind::OutOfMemory(oom),
                    error: ScenarioError::new(
                        &self.scenario.path,
                        span,
                        &self.scenario.source,
                        message,
                    ),
                }
            }
            other => self.fail(span, python_message(&other)),
        }
    }

    fn location(&self, span: Span) -> Arc<Location> {
        Arc::new(Location {
            file: self.file.clone(),
            line: span.line,
            column: span.col,
            iterations: self.loops.clone(),
        })
    }

    fn step(&mut self, span: Span) -> R<()> {
        self.steps += 1;
        if self.steps > self.options.max_steps {
            return Err(self
                .fail(
                    span,
                    format!(
                        "the scenario executed more than {} statements and was stopped",
                        self.options.max_steps
                    ),
                )
                .with_help("raise the limit with `#@ max-steps: N`, or make the loops shorter"));
        }
        let elapsed = self.started.elapsed();
        if elapsed > self.options.time_limit {
            let stopped = self.fail(
                span,
                format!(
                    "the scenario ran longer than {:?} (stopped after {:.1}s, {} statements) and was stopped",
                    self.options.time_limit,
                    elapsed.as_secs_f64(),
                    self.steps
                ),
            );
            // Real arithmetic is what takes the time on cpu; the memory verdict does not need it.
            return Err(if self.rt.backend() == crate::device::Backend::Cpu {
                stopped.with_help(
                    "for memory-only checking, `--backend meta` runs the same scenario without arithmetic, far faster; or raise `--time-limit`",
                )
            } else {
                stopped.with_help("raise `--time-limit`, or make the loops shorter")
            });
        }
        Ok(())
    }

    fn block(&mut self, body: &[Stmt]) -> Result<(), Flow> {
        for stmt in body {
            self.stmt(stmt)?;
        }
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<(), Flow> {
        self.step(stmt.span)?;
        self.observer.statement_start(&self.rt, stmt);
        let rt = self.rt.clone();
        let _here = LocationGuard::enter(rt.allocator_cell(), self.location(stmt.span));
        match &stmt.kind {
            StmtKind::Import(aliases) => {
                for a in aliases {
                    let (name, path) = import_binding(a);
                    self.env
                        .set(&name, torch::namespace(&path), stmt.span, false);
                }
            }
            StmtKind::ImportFrom { module, names } => {
                for a in names {
                    let value = torch::attribute_of_path(module, &a.name).ok_or_else(|| {
                        self.fail(
                            a.span,
                            format!(
                                "ImportError: cannot import name '{}' from '{module}'",
                                a.name
                            ),
                        )
                    })?;
                    self.env.set(
                        a.alias.as_deref().unwrap_or(&a.name),
                        value,
                        stmt.span,
                        false,
                    );
                }
            }
            StmtKind::Assign { target, value } => {
                let v = self.expr(value)?;
                self.assign(target, v, value, stmt.span)?;
            }
            StmtKind::AugAssign { target, op, value } => {
                let current = self
                    .env
                    .get(&target.id)
                    .cloned()
                    .ok_or_else(|| self.name_error(&target.id, target.span))?;
                let rhs = self.expr(value)?;
                let result = self.aug_assign(current, *op, rhs, stmt.span)?;
                self.env.set(&target.id, result, stmt.span, true);
            }
            StmtKind::Expr(e) => {
                self.expr(e)?;
            }
            StmtKind::Del(names) => {
                // Planted bug: only the first name of `del a, b` is unbound.
                #[cfg(feature = "planted-bugs")]
                let names = if self.rt.planted(crate::base::PlantedBug::DelFirstNameOnly) {
                    &names[..1]
                } else {
                    &names[..]
                };
                for n in names {
                    let removed = self
                        .env
                        .remove(&n.id)
                        .ok_or_else(|| self.name_error(&n.id, n.span))?;
                    drop(removed);
                }
            }
            StmtKind::For { var, range, body } => {
                let mut bounds = Vec::new();
                for a in &range.args {
                    match self.expr(a)? {
                        Value::Int(i) => bounds.push(i),
                        Value::Bool(b) => bounds.push(b as i64),
                        other => {
                            return Err(Flow::Failed(self.fail(
                                a.span,
                                format!(
                                    "TypeError: '{}' object cannot be interpreted as an integer",
                                    other.type_name()
                                ),
                            )))
                        }
                    }
                }
                let (start, stop, step) = match bounds[..] {
                    [stop] => (0, stop, 1),
                    [start, stop] => (start, stop, 1),
                    [start, stop, step] => (start, stop, step),
                    _ => {
                        return Err(Flow::Failed(self.fail(
                            range.span,
                            format!(
                                "TypeError: range expected at most 3 arguments, got {}",
                                bounds.len()
                            ),
                        )))
                    }
                };
                if step == 0 {
                    return Err(Flow::Failed(
                        self.fail(range.span, "ValueError: range() arg 3 must not be zero"),
                    ));
                }
                // In i128, so that no range of 64-bit ints overflows while counting.
                let (start_w, stop_w, step_w) =
                    (i128::from(start), i128::from(stop), i128::from(step));
                let count: i128 = if (step > 0 && start < stop) || (step < 0 && start > stop) {
                    ((stop_w - start_w).abs() - 1) / step_w.abs() + 1
                } else {
                    0
                };
                let scale = self
                    .options
                    .loop_scale
                    .iter()
                    .find(|(at, _)| *at == (stmt.span.line, stmt.span.col))
                    .map_or(1, |(_, f)| i128::from(*f));
                drop(_here);
                // Iteration numbers are u32 in tags and reports; no scenario gets near that.
                let Ok(total) = u32::try_from(count * scale) else {
                    return Err(Flow::Failed(self.fail(
                        range.span,
                        format!("OverflowError: a loop of {count} iterations is too long for a scenario"),
                    )));
                };
                for k in 0..total {
                    // A scaled loop can pass the range's end; clamp rather than wrap near the limits.
                    let i = (start_w + i128::from(k) * step_w)
                        .clamp(i64::MIN.into(), i64::MAX.into()) as i64;
                    self.env.set(&var.id, Value::Int(i), stmt.span, false);
                    self.loops.push(k);
                    let mut result = self.block(body);
                    if result.is_ok() {
                        let end = IterationEnd {
                            rt: &self.rt,
                            env: &self.env,
                            loop_at: stmt.span,
                            index: &self.loops,
                            last: k + 1 == total,
                        };
                        if self.observer.iteration_end(&end) == Control::Stop {
                            result = Err(Flow::Stopped);
                        }
                    }
                    self.loops.pop();
                    result?;
                }
            }
            StmtKind::With { context, body } => {
                let mode = match self.expr(context)? {
                    Value::GradMode(on) => on,
                    other => {
                        return Err(Flow::Failed(self.fail(
                            context.span,
                            format!(
                            "TypeError: '{}' object does not support the context manager protocol",
                            other.type_name()
                        ),
                        )))
                    }
                };
                let _mode = self.rt.set_grad_enabled(mode);
                drop(_here);
                self.block(body)?;
            }
            StmtKind::If { test, body, orelse } => {
                let t = self.expr(test)?;
                let cond = self.truthy(&t, test.span)?;
                drop(_here);
                self.block(if cond { body } else { orelse })?;
            }
            StmtKind::Assert { test, msg } => {
                let t = self.expr(test)?;
                if !self.truthy(&t, test.span)? {
                    let message = match msg {
                        Some(m) => format!("AssertionError: {}", self.expr(m)?),
                        None => "AssertionError".to_string(),
                    };
                    let mut failure = self.fail(stmt.span, message);
                    failure.kind = FailureKind::Assertion;
                    return Err(Flow::Failed(failure));
                }
            }
            StmtKind::Pass => {}
        }
        Ok(())
    }

    fn name_error(&self, name: &str, span: Span) -> Failure {
        self.fail(span, format!("NameError: name '{name}' is not defined"))
    }

    fn assign(&mut self, target: &Target, v: Value, value_expr: &Expr, at: Span) -> R<()> {
        match target {
            Target::Name(n) => {
                let accumulates = mentions(value_expr, &n.id);
                self.env.set(&n.id, v, at, accumulates);
            }
            Target::Tuple(names, span) => {
                let items: Vec<Value> = match &v {
                    Value::Tuple(t) => t.as_ref().clone(),
                    Value::List(l) => l.borrow().iter().map(|s| s.value.clone()).collect(),
                    other => {
                        return Err(self.fail(
                            *span,
                            format!(
                                "TypeError: cannot unpack non-iterable {} object",
                                other.type_name()
                            ),
                        ))
                    }
                };
                if items.len() != names.len() {
                    let message = if items.len() > names.len() {
                        format!(
                            "ValueError: too many values to unpack (expected {})",
                            names.len()
                        )
                    } else {
                        format!(
                            "ValueError: not enough values to unpack (expected {}, got {})",
                            names.len(),
                            items.len()
                        )
                    };
                    return Err(self.fail(*span, message));
                }
                drop(v);
                for (n, item) in names.iter().zip(items) {
                    self.env.set(&n.id, item, at, false);
                }
            }
            Target::Attribute { value, attr, span } => {
                let obj = self.expr(value)?;
                torch::set_attr(&obj, attr, v).map_err(|m| self.fail(*span, m))?;
            }
        }
        Ok(())
    }

    fn aug_assign(&mut self, current: Value, op: AugOp, rhs: Value, span: Span) -> R<Value> {
        match (&current, op) {
            // Tensors update in place (`__iadd__`), as do lists with `+=`.
            (Value::Tensor(t), _) => {
                torch::inplace_binary(t, op.bin_op(), &rhs)
                    .map_err(|e| self.tensor_error(span, e))?;
                Ok(current)
            }
            (Value::List(l), AugOp::Add) => {
                let items = self.iterate(&rhs, span)?;
                for item in &items {
                    builtins::check_nesting(self, Some(l), item, span)?;
                }
                l.borrow_mut().extend(items.into_iter().map(|value| Slot {
                    value,
                    stored_at: span,
                }));
                Ok(current)
            }
            _ => self.binary(current, op.bin_op(), rhs, span),
        }
    }

    fn truthy(&self, v: &Value, span: Span) -> R<bool> {
        match v.truthy() {
            Some(b) => Ok(b),
            None => match v {
                Value::Tensor(t) => torch::tensor_bool(t).map_err(|e| self.tensor_error(span, e)),
                _ => Ok(true),
            },
        }
    }

    /// The items of an iterable value (lists, tuples; what `extend` and `sum` accept).
    fn iterate(&self, v: &Value, span: Span) -> R<Vec<Value>> {
        match v {
            Value::List(l) => Ok(l.borrow().iter().map(|s| s.value.clone()).collect()),
            Value::Tuple(t) => Ok(t.as_ref().clone()),
            other => Err(self.fail(
                span,
                format!("TypeError: '{}' object is not iterable", other.type_name()),
            )),
        }
    }

    fn expr(&mut self, e: &Expr) -> R<Value> {
        Ok(match &e.kind {
            ExprKind::Int(i) => Value::Int(*i),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::None => Value::None,
            ExprKind::Str(s) => Value::Str(s.as_str().into()),
            ExprKind::Name(n) => match self.env.get(n) {
                Some(v) => v.clone(),
                None => builtins::builtin(n).ok_or_else(|| self.name_error(n, e.span))?,
            },
            ExprKind::List(items) => {
                let mut slots = Vec::with_capacity(items.len());
                for item in items {
                    let value = self.expr(item)?;
                    builtins::check_nesting(self, None, &value, e.span)?;
                    slots.push(Slot {
                        value,
                        stored_at: e.span,
                    });
                }
                Value::List(std::rc::Rc::new(std::cell::RefCell::new(slots)))
            }
            ExprKind::Tuple(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    let value = self.expr(item)?;
                    builtins::check_nesting(self, None, &value, e.span)?;
                    values.push(value);
                }
                Value::Tuple(std::rc::Rc::new(values))
            }
            ExprKind::Call {
                func,
                args,
                keywords,
            } => {
                let callee = self.expr(func)?;
                let mut call = CallArgs::default();
                for a in args {
                    call.pos.push(self.expr(a)?);
                }
                for k in keywords {
                    call.kw.push((k.name.clone(), self.expr(&k.value)?));
                }
                self.call(callee, call, e.span)?
            }
            ExprKind::Attribute { value, attr } => {
                let obj = self.expr(value)?;
                self.attribute(obj, attr, e.span)?
            }
            ExprKind::Subscript { value, index } => {
                let obj = self.expr(value)?;
                let idx = self.expr(index)?;
                self.subscript(obj, idx, e.span)?
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
        })
    }

    fn attribute(&mut self, obj: Value, attr: &str, span: Span) -> R<Value> {
        match &obj {
            Value::Path(p) => torch::attribute_of_path(&p.0, attr).ok_or_else(|| {
                self.fail(
                    span,
                    format!("AttributeError: module '{}' has no attribute '{attr}'", p.0),
                )
            }),
            _ => match torch::get_attr(&obj, attr) {
                Some(v) => Ok(v),
                None if torch::has_method(&obj, attr) => {
                    Ok(Value::Method(Box::new(obj), attr.into()))
                }
                None => Err(self.fail(
                    span,
                    format!(
                        "AttributeError: '{}' object has no attribute '{attr}'",
                        obj.type_name()
                    ),
                )),
            },
        }
    }

    fn call(&mut self, callee: Value, args: CallArgs, span: Span) -> R<Value> {
        match callee {
            Value::Path(p) => {
                if let Some(result) = builtins::call_builtin(self, &p.0, &args, span) {
                    return result;
                }
                torch::call_path(self, &p.0, args, span)
            }
            Value::Method(recv, name) => {
                if let Value::List(l) = recv.as_ref() {
                    return builtins::call_list_method(self, l, &name, args, span);
                }
                torch::call_method(self, *recv, &name, args, span)
            }
            Value::Module(m) => torch::call_module(self, &m, args, span),
            other => Err(self.fail(
                span,
                format!("TypeError: '{}' object is not callable", other.type_name()),
            )),
        }
    }

    fn subscript(&mut self, obj: Value, idx: Value, span: Span) -> R<Value> {
        let Value::Int(i) = idx else {
            return Err(self.fail(
                span,
                format!(
                    "TypeError: indices must be integers, not {}",
                    idx.type_name()
                ),
            ));
        };
        let at = |len: usize| -> Option<usize> {
            let j = if i < 0 { i + len as i64 } else { i };
            (0..len as i64).contains(&j).then_some(j as usize)
        };
        match &obj {
            Value::List(l) => {
                let l = l.borrow();
                at(l.len())
                    .map(|j| l[j].value.clone())
                    .ok_or_else(|| self.fail(span, "IndexError: list index out of range"))
            }
            Value::Tuple(t) => at(t.len())
                .map(|j| t[j].clone())
                .ok_or_else(|| self.fail(span, "IndexError: tuple index out of range")),
            Value::Module(m) => torch::module_index(m, i).map_err(|msg| self.fail(span, msg)),
            Value::Tensor(t) => t
                .select(i)
                .map(Value::Tensor)
                .map_err(|e| self.tensor_error(span, e)),
            other => Err(self.fail(
                span,
                format!(
                    "TypeError: '{}' object is not subscriptable",
                    other.type_name()
                ),
            )),
        }
    }

    fn unary(&mut self, op: UnaryOp, v: Value, span: Span) -> R<Value> {
        match (op, &v) {
            (UnaryOp::Not, _) => Ok(Value::Bool(!self.truthy(&v, span)?)),
            (UnaryOp::Neg, Value::Int(i)) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| self.overflow(span)),
            (UnaryOp::Neg, Value::Bool(b)) => Ok(Value::Int(-(*b as i64))),
            (UnaryOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
            (UnaryOp::Pos, Value::Int(_) | Value::Float(_)) => Ok(v),
            (UnaryOp::Pos, Value::Bool(b)) => Ok(Value::Int(*b as i64)),
            (UnaryOp::Neg, Value::Tensor(t)) => torch::neg(t)
                .map(Value::Tensor)
                .map_err(|e| self.tensor_error(span, e)),
            (UnaryOp::Pos, Value::Tensor(_)) => Ok(v),
            _ => Err(self.fail(
                span,
                format!(
                    "TypeError: bad operand type for unary {}: '{}'",
                    op.symbol(),
                    v.type_name()
                ),
            )),
        }
    }

    fn overflow(&self, span: Span) -> Failure {
        self.fail(
            span,
            "OverflowError: integer result does not fit in 64 bits",
        )
        .with_help("scenarios compute with 64-bit integers")
    }

    fn binary(&mut self, l: Value, op: BinOp, r: Value, span: Span) -> R<Value> {
        if matches!(l, Value::Tensor(_)) || matches!(r, Value::Tensor(_)) {
            return torch::binary(&l, op, &r).map_err(|e| match e {
                Ok(tensor_error) => self.tensor_error(span, tensor_error),
                Err(message) => self.fail(span, message),
            });
        }
        match (&l, &r) {
            (Value::List(a), Value::List(b)) if op == BinOp::Add => {
                let mut items = a.borrow().clone();
                items.extend(b.borrow().iter().cloned());
                return Ok(Value::List(std::rc::Rc::new(std::cell::RefCell::new(
                    items,
                ))));
            }
            (Value::Str(a), Value::Str(b)) if op == BinOp::Add => {
                return Ok(Value::Str(format!("{a}{b}").into()))
            }
            _ => {}
        }
        let unsupported = || {
            self.fail(
                span,
                format!(
                    "TypeError: unsupported operand type(s) for {}: '{}' and '{}'",
                    op.symbol(),
                    l.type_name(),
                    r.type_name()
                ),
            )
        };
        let (Some(a), Some(b)) = (number(&l), number(&r)) else {
            return Err(unsupported());
        };
        builtins::arith(a, op, b).map_err(|m| self.fail(span, m))
    }

    fn compare(&mut self, l: &Value, op: CmpOp, r: &Value, span: Span) -> R<Value> {
        if matches!(l, Value::Tensor(_)) || matches!(r, Value::Tensor(_)) {
            if let Some(result) = torch::compare(l, op, r) {
                return result.map_err(|e| self.tensor_error(span, e));
            }
        }
        let result = match op {
            CmpOp::Is | CmpOp::IsNot => {
                let same = match (l, r) {
                    (Value::None, Value::None) => true,
                    (Value::Bool(a), Value::Bool(b)) => a == b,
                    (Value::Tensor(a), Value::Tensor(b)) => a.is_same(b),
                    (Value::List(a), Value::List(b)) => std::rc::Rc::ptr_eq(a, b),
                    _ => false,
                };
                same == (op == CmpOp::Is)
            }
            CmpOp::In | CmpOp::NotIn => {
                let items = self.iterate(r, span)?;
                let mut found = false;
                for item in &items {
                    if builtins::equal(l, item) {
                        found = true;
                        break;
                    }
                }
                found == (op == CmpOp::In)
            }
            CmpOp::Eq => builtins::equal(l, r),
            CmpOp::NotEq => !builtins::equal(l, r),
            CmpOp::Lt | CmpOp::LtE | CmpOp::Gt | CmpOp::GtE => {
                let ord = builtins::order(l, r).ok_or_else(|| {
                    self.fail(
                        span,
                        format!(
                            "TypeError: '{}' not supported between instances of '{}' and '{}'",
                            op.symbol(),
                            l.type_name(),
                            r.type_name()
                        ),
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
}

/// A runtime error as Python shows it: PyTorch raises RuntimeError for all of these.
fn python_message(e: &TensorError) -> String {
    format!("RuntimeError: {e}")
}

/// A Python number (bools are ints), for arithmetic.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

/// A Python number (bools are ints), or `None` for anything else.
fn number(v: &Value) -> Option<Num> {
    match v {
        Value::Int(i) => Some(Num::Int(*i)),
        Value::Bool(b) => Some(Num::Int(*b as i64)),
        Value::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

impl Failure {
    fn with_help(mut self, help: impl Into<String>) -> Failure {
        self.error = self.error.with_help(help);
        self
    }
}
