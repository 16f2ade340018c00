//! Names and frames: reading, binding and unbinding a name in the running frame (its locals,
//! its closure cells, or the module's globals), and running a body in a new frame.

use std::rc::Rc;

use super::pyobj::{Access, CellRef, Function};
use super::{builtins, Code, DictRef, Frame, FrameRef, Interp, Key, Unwind, Value, X};
use crate::scenario::{Span, Stmt};

impl Interp<'_> {
    /// Reads `name` in the running frame.
    pub(crate) fn load(&mut self, name: &str, span: Span) -> X<Value> {
        let frame = self.frame().clone();
        let found = match frame.code.access(name) {
            Access::Fast(i) => match frame.fast.borrow().get(i).cloned().flatten() {
                Some(v) => Some(v),
                None => {
                    return Err(self.raise(
                        "UnboundLocalError",
                        format!(
                            "cannot access local variable '{name}' where it is not associated with a value"
                        ),
                        span,
                    ))
                }
            },
            Access::Cell(i) => match frame.cells.get(i).and_then(|c| c.borrow().clone()) {
                Some(v) => Some(v),
                None => {
                    return Err(self.raise(
                        "NameError",
                        format!(
                            "cannot access free variable '{name}' where it is not associated with a value in enclosing scope"
                        ),
                        span,
                    ))
                }
            },
            Access::ClassLocal => frame
                .class_ns
                .as_ref()
                .and_then(|ns| ns.borrow().get(&Key::Str(name.into()))),
            Access::ClassFree(i) => frame
                .class_ns
                .as_ref()
                .and_then(|ns| ns.borrow().get(&Key::Str(name.into())))
                .or_else(|| frame.cells.get(i).and_then(|c| c.borrow().clone())),
            Access::Global => None,
        };
        if let Some(v) = found {
            return Ok(v);
        }
        if let Some(v) = self.env.get(name) {
            return Ok(v.clone());
        }
        builtins::builtin(name)
            .ok_or_else(|| self.raise("NameError", format!("name '{name}' is not defined"), span))
    }

    /// Binds `name` in the running frame; the old value is dropped after the name holds the
    /// new one.
    pub(crate) fn store(&mut self, name: &str, v: Value, at: Span, accumulates: bool) {
        let frame = self.frame().clone();
        let access = frame.code.access(name);
        if matches!(access, Access::Fast(_) | Access::Cell(_)) {
            frame
                .bound_at
                .borrow_mut()
                .insert(name.into(), (at, accumulates));
        }
        match access {
            Access::Fast(i) => {
                let old = frame.fast.borrow_mut().get_mut(i).map(|s| s.replace(v));
                drop(old);
            }
            Access::Cell(i) => {
                let old = frame.cells[i].borrow_mut().replace(v);
                drop(old);
            }
            Access::ClassLocal | Access::ClassFree(_) => {
                if let Some(ns) = &frame.class_ns {
                    let old =
                        ns.borrow_mut()
                            .insert(Key::Str(name.into()), Value::Str(name.into()), v);
                    drop(old);
                }
            }
            Access::Global => self.env.set(name, v, at, accumulates),
        }
    }

    /// Unbinds `name` (`del`, the end of an `except ... as` block); false when it was unbound.
    pub(crate) fn unbind(&mut self, name: &str) -> bool {
        let frame = self.frame().clone();
        match frame.code.access(name) {
            Access::Fast(i) => {
                let old = frame.fast.borrow_mut().get_mut(i).and_then(Option::take);
                old.is_some()
            }
            Access::Cell(i) => {
                let old = frame.cells[i].borrow_mut().take();
                old.is_some()
            }
            Access::ClassLocal | Access::ClassFree(_) => {
                let old = frame
                    .class_ns
                    .as_ref()
                    .and_then(|ns| ns.borrow_mut().remove(&Key::Str(name.into())));
                old.is_some()
            }
            Access::Global => {
                let removed = self.env.remove(name);
                removed.is_some()
            }
        }
    }

    /// Makes a fresh frame for `code`, with unbound locals and cells (free variables from
    /// `closure`).
    pub(super) fn new_frame(
        &mut self,
        code: &Rc<Code>,
        closure: &[CellRef],
        class_ns: Option<DictRef>,
        func: Option<Rc<Function>>,
    ) -> FrameRef {
        let mut cells: Vec<CellRef> = (0..code.own_cells)
            .map(|_| Rc::new(std::cell::RefCell::new(None)))
            .collect();
        cells.extend(closure.iter().cloned());
        let frame = Rc::new(Frame {
            code: code.clone(),
            fast: std::cell::RefCell::new(vec![None; code.fast.len()]),
            cells,
            class_ns,
            at: Default::default(),
            func,
            bound_at: Default::default(),
        });
        self.gc.track_frame(&frame);
        frame
    }

    /// Runs `body` in `frame` pushed on the call stack; the frame is popped (and, unless
    /// something else holds it, freed with its locals) before this returns.
    pub(super) fn run_frame(
        &mut self,
        frame: FrameRef,
        body: &[Stmt],
        call_span: Span,
    ) -> X<Value> {
        if self.frames.len() > self.recursion_limit {
            drop(frame);
            return Err(self.raise(
                "RecursionError",
                "maximum recursion depth exceeded".into(),
                call_span,
            ));
        }
        self.frames.push(frame);
        let result = self.block(body);
        let frame = self.frames.pop();
        let result = match result {
            Ok(()) => Ok(Value::None),
            Err(Unwind::Return(v)) => Ok(v),
            Err(Unwind::Exc(e)) => {
                // Unwinding into the caller: its line joins the traceback, outermost first.
                let caller = self.frame().clone();
                e.traceback.borrow_mut().insert(0, (caller, call_span));
                Err(Unwind::Exc(e))
            }
            Err(Unwind::Break | Unwind::Continue) => Ok(Value::None),
            Err(Unwind::Stop) => Err(Unwind::Stop),
        };
        // The frame goes here, and its locals with it, as when CPython's frame is released at
        // return; a traceback or a generator keeps it.
        drop(frame);
        result
    }
}
