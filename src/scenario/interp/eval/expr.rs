//! Expressions: what each expression kind evaluates to, displays with `*x`, comprehensions in
//! their own frame, f-strings, and the function and class objects that `def` and `class` make.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::super::dict::{Dict, DictKind, Key};
use super::super::pyobj::{Class, Function, Iter, Native};
use super::super::value::{Path, Value};
use super::super::{builtins, CallArgs, Interp, Unwind, X};
use crate::scenario::{BoolOp, ClassDef, Comprehension, Expr, ExprKind, FPart, FunctionDef, Span};

impl Interp<'_> {
    /// Evaluates `e`; the program's saved-tensor pack hooks run on what its operations saved
    /// (`torch.autograd.graph.saved_tensors_hooks`) before the value is used.
    pub(in crate::scenario::interp) fn expr(&mut self, e: &Expr) -> X<Value> {
        let v = self.expr_value(e);
        super::super::torch::settle_packs(self, v, e.span)
    }

    fn expr_value(&mut self, e: &Expr) -> X<Value> {
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
    fn closure_for(&mut self, code: &super::super::Code) -> Vec<super::super::pyobj::CellRef> {
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

    pub(super) fn make_function(&mut self, def: &Rc<FunctionDef>) -> X<Value> {
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

    pub(super) fn make_class(&mut self, class: &Rc<ClassDef>, span: Span) -> X<Value> {
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
}
