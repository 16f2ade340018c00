//! Generator functions: calling one makes a generator that owns the function's frame; `next()`
//! runs the body up to its next `yield` and keeps the frame, with its locals, until the body
//! ends (then the frame is freed, as CPython frees an exhausted generator's frame) or the
//! generator is dropped.
//!
//! The body runs as a resumable program: statements that contain no `yield` run as usual;
//! `yield` and `yield from` as statements or as the value of an assignment, and `if`, `for` and
//! `while` around them, keep their position in an explicit stack so the body can stop and go on.
//! A `yield` inside `try` or `with` is reported when the generator reaches it.

use std::rc::Rc;

use super::pyobj::{FrameRef, Function};
use super::value::Value;
use super::{Interp, Unwind, X};
use crate::scenario::{Expr, ExprKind, Span, Stmt, StmtKind, Target};

/// Where a block sits: from the function body, each step is a statement's index and which of
/// its blocks (0 the body, 1 the `else`).
type BlockPath = Vec<(usize, u8)>;

/// One level of the suspended body.
#[derive(Debug)]
enum Pos {
    /// Running a block, at statement `pc`.
    Block(BlockPath, usize),
    /// A `for` (statement `1` of block `0`) over the iterator.
    For(BlockPath, usize, Value),
    /// A `while` (statement `1` of block `0`).
    While(BlockPath, usize),
    /// `yield from` over the iterator.
    YieldFrom(Value),
    /// `targets = yield ...` resumed: the targets get `None` (nothing is ever sent).
    Assign(BlockPath, usize),
}

/// A suspended generator.
#[derive(Debug)]
pub struct GenState {
    func: Rc<Function>,
    /// The frame, until the body ends.
    frame: Option<FrameRef>,
    stack: Vec<Pos>,
    /// The grad mode of a `@torch.no_grad()` (or `enable_grad`) decorator: every resumption
    /// of the body runs in it and the caller's mode comes back at each `yield`
    /// (`_wrap_generator` in 2.15's `torch/utils/_contextlib.py`; pytorch#31497).
    grad_mode: Option<bool>,
}

impl GenState {
    /// A generator about to run `func`'s body in `frame`.
    pub(super) fn new(func: Rc<Function>, frame: FrameRef) -> GenState {
        GenState {
            func,
            frame: Some(frame),
            stack: vec![Pos::Block(Vec::new(), 0)],
            grad_mode: None,
        }
    }

    /// Runs every later resumption of the body in grad mode `on`.
    pub(super) fn set_grad_mode(&mut self, on: bool) {
        self.grad_mode = Some(on);
    }

    /// The frame, while the generator can still run.
    pub fn frame(&self) -> Option<&FrameRef> {
        self.frame.as_ref()
    }
}

fn block<'a>(body: &'a [Stmt], path: &[(usize, u8)]) -> &'a [Stmt] {
    let mut b = body;
    for &(i, which) in path {
        b = match &b[i].kind {
            StmtKind::If { body, orelse, .. }
            | StmtKind::For { body, orelse, .. }
            | StmtKind::While { body, orelse, .. } => {
                if which == 0 {
                    body
                } else {
                    orelse
                }
            }
            _ => &[],
        };
    }
    b
}

fn child(path: &BlockPath, i: usize, which: u8) -> BlockPath {
    let mut p = path.clone();
    p.push((i, which));
    p
}

fn expr_has_yield(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Yield(_) | ExprKind::YieldFrom(_))
        || super::validate::expr_children(e)
            .into_iter()
            .any(expr_has_yield)
}

/// Whether a statement has a `yield` in it (not in functions it defines).
fn has_yield(s: &Stmt) -> bool {
    if matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
        return false;
    }
    let mut exprs = Vec::new();
    super::validate::stmt_exprs(s, &mut exprs);
    exprs.into_iter().any(expr_has_yield) || s.blocks().iter().any(|b| b.iter().any(has_yield))
}

/// Runs the generator to its next value; `None` once the body has ended, and from then on.
pub(super) fn resume(it: &mut Interp<'_>, g: &mut GenState, span: Span) -> X<Option<Value>> {
    let Some(frame) = g.frame.clone() else {
        return Ok(None);
    };
    if it.frames.len() > it.recursion_limit {
        return Err(it.raise(
            "RecursionError",
            "maximum recursion depth exceeded".into(),
            span,
        ));
    }
    it.frames.push(frame);
    let mode = g.grad_mode.map(|on| it.rt.set_grad_enabled(on));
    let r = run(it, g);
    drop(mode);
    it.frames.pop();
    match r {
        Ok(Some(v)) => Ok(Some(v)),
        Ok(None) | Err(Unwind::Return(_)) => {
            // Exhausted: the frame and its locals go now.
            g.frame = None;
            g.stack.clear();
            Ok(None)
        }
        Err(Unwind::Exc(e)) => {
            g.frame = None;
            g.stack.clear();
            let caller = it.frame().clone();
            e.traceback.borrow_mut().insert(0, (caller, span));
            Err(Unwind::Exc(e))
        }
        Err(other) => {
            g.frame = None;
            g.stack.clear();
            Err(other)
        }
    }
}

/// `break`: leave the innermost loop of the suspended body, skipping its `else`.
fn break_loop(g: &mut GenState) {
    while let Some(p) = g.stack.pop() {
        if matches!(p, Pos::For(..) | Pos::While(..)) {
            return;
        }
    }
}

/// `continue`: back to the innermost loop's next iteration.
fn continue_loop(g: &mut GenState) {
    while let Some(p) = g.stack.last() {
        if matches!(p, Pos::For(..) | Pos::While(..)) {
            return;
        }
        g.stack.pop();
    }
}

fn yielded(it: &mut Interp<'_>, v: &Option<Box<Expr>>) -> X<Value> {
    match v {
        Some(e) => it.expr(e),
        None => Ok(Value::None),
    }
}

fn run(it: &mut Interp<'_>, g: &mut GenState) -> X<Option<Value>> {
    let def = g.func.def.clone();
    loop {
        let Some(top) = g.stack.pop() else {
            return Ok(None);
        };
        match top {
            Pos::Block(path, pc) => {
                let body = block(&def.body, &path);
                let Some(stmt) = body.get(pc) else {
                    continue;
                };
                g.stack.push(Pos::Block(path.clone(), pc + 1));
                if !has_yield(stmt) {
                    match it.stmt(stmt) {
                        Ok(()) => {}
                        Err(Unwind::Break) => break_loop(g),
                        Err(Unwind::Continue) => continue_loop(g),
                        Err(u) => return Err(u),
                    }
                    continue;
                }
                it.step(stmt.span)?;
                it.frame().at.set(stmt.span);
                match &stmt.kind {
                    StmtKind::Expr(Expr {
                        kind: ExprKind::Yield(v),
                        ..
                    }) => return yielded(it, v).map(Some),
                    StmtKind::Assign {
                        value:
                            Expr {
                                kind: ExprKind::Yield(v),
                                ..
                            },
                        ..
                    } => {
                        let v = yielded(it, v)?;
                        g.stack.push(Pos::Assign(path, pc));
                        return Ok(Some(v));
                    }
                    StmtKind::Expr(Expr {
                        kind: ExprKind::YieldFrom(e),
                        ..
                    }) => {
                        let src = it.expr(e)?;
                        let iter = it.iter(src, e.span)?;
                        g.stack.push(Pos::YieldFrom(iter));
                    }
                    StmtKind::If { test, .. } => {
                        let t = it.expr(test)?;
                        let c = it.truthy(&t, test.span)?;
                        g.stack.push(Pos::Block(child(&path, pc, u8::from(!c)), 0));
                    }
                    StmtKind::For { iter, .. } => {
                        let v = it.expr(iter)?;
                        let iter = it.iter(v, iter.span)?;
                        g.stack.push(Pos::For(path, pc, iter));
                    }
                    StmtKind::While { .. } => g.stack.push(Pos::While(path, pc)),
                    _ => {
                        let f = it
                            .fail(
                                stmt.span,
                                "RuntimeError: `yield` in this statement is not supported in scenarios",
                            )
                            .with_help(
                                "yield as a statement (`yield x`) or an assignment's value, inside `if`, `for` and `while` only",
                            );
                        return it.lift(Err(f));
                    }
                }
            }
            Pos::For(path, pc, iter) => {
                let stmt = &block(&def.body, &path)[pc];
                let StmtKind::For { target, .. } = &stmt.kind else {
                    continue;
                };
                match it.next(&iter, stmt.span)? {
                    Some(item) => {
                        it.assign(target, item, None, stmt.span)?;
                        g.stack.push(Pos::For(path.clone(), pc, iter));
                        g.stack.push(Pos::Block(child(&path, pc, 0), 0));
                    }
                    None => g.stack.push(Pos::Block(child(&path, pc, 1), 0)),
                }
            }
            Pos::While(path, pc) => {
                let stmt = &block(&def.body, &path)[pc];
                let StmtKind::While { test, .. } = &stmt.kind else {
                    continue;
                };
                let t = it.expr(test)?;
                if it.truthy(&t, test.span)? {
                    g.stack.push(Pos::While(path.clone(), pc));
                    g.stack.push(Pos::Block(child(&path, pc, 0), 0));
                } else {
                    g.stack.push(Pos::Block(child(&path, pc, 1), 0));
                }
            }
            Pos::YieldFrom(iter) => {
                if let Some(v) = it.next(&iter, Span::default())? {
                    g.stack.push(Pos::YieldFrom(iter));
                    return Ok(Some(v));
                }
            }
            Pos::Assign(path, pc) => {
                let stmt = &block(&def.body, &path)[pc];
                if let StmtKind::Assign { targets, .. } = &stmt.kind {
                    for t in targets {
                        assign_none(it, t, stmt.span)?;
                    }
                }
            }
        }
    }
}

fn assign_none(it: &mut Interp<'_>, t: &Target, span: Span) -> X<()> {
    it.assign(t, Value::None, None, span)
}
