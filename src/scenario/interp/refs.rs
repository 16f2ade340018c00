//! What every value references.
//!
//! [`Referents`] is the one way to ask a scenario value (or a frame) what it holds: every
//! reference, with an [`Edge`] that names it the way a retention path shows it (`local
//! tr_loss`, `.history`, `[3]`, `cell acts`, `traceback frame train()`). The leak checker's
//! walker follows it from the roots (module names and the locals of running frames, both in
//! [`IterationEnd`](super::IterationEnd)); the cyclic collector (`collector.rs`) follows it to
//! find the references objects hold to each other.
//!
//! Tensors list nothing here: what a tensor holds (its gradient, its `grad_fn` and the tensors
//! saved for backward) belongs to the runtime, and the walker reads it from the tensor itself.
//!
use std::fmt;
use std::rc::Rc;

use super::dict::Dict;
use super::pyobj::{Frame, Native};
use super::value::Value;
use crate::scenario::Span;
use crate::tensor::Tensor;

/// How a value references another: one step of a retention path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edge {
    /// A local variable of a frame: `train(): local tr_loss`.
    Local {
        /// The frame, as `train()` or `Trainer.train()`.
        frame: String,
        /// The variable.
        name: Rc<str>,
    },
    /// A variable captured by a closure, in its cell: `cell acts`.
    Cell(Rc<str>),
    /// An attribute: `.history`.
    Attr(Rc<str>),
    /// A registered parameter, buffer or submodule of an `nn.Module`: `.fc1`.
    Registered(Rc<str>),
    /// A list, tuple or deque element: `[3]`.
    Item(usize),
    /// A dict value: `['loss']`.
    Key(String),
    /// A dict key or set element.
    DictKey(String),
    /// A default argument value of a function.
    Default(usize),
    /// The object a bound method is bound to: `__self__`.
    Receiver,
    /// The function of a bound method, `partial` or decorator wrapper.
    Function,
    /// A class of an object, or a base of a class.
    Class,
    /// A reference of a frame an exception's traceback keeps: `traceback frame train(): local x`.
    Traceback(String),
    /// `__cause__` or `__context__` of an exception.
    Chained,
    /// An argument of an exception: `args[0]`.
    Arg(usize),
    /// What an iterator still holds.
    Pending,
    /// A forward (pre-)hook of a module: `._forward_hooks[0]`.
    Hook {
        /// Which of the module's hook lists.
        kind: super::module::HookKind,
        /// Its place in the list.
        index: usize,
        /// The statement that registered it, with its scenario call stack.
        registered_at: Option<std::sync::Arc<crate::alloc::Location>>,
    },
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edge::Local { frame, name } => write!(f, "{frame}: local {name}"),
            Edge::Cell(name) => write!(f, "cell {name}"),
            Edge::Attr(name) | Edge::Registered(name) => write!(f, ".{name}"),
            Edge::Item(i) => write!(f, "[{i}]"),
            Edge::Key(k) => write!(f, "[{k}]"),
            Edge::DictKey(k) => write!(f, "key {k}"),
            Edge::Default(i) => write!(f, ".__defaults__[{i}]"),
            Edge::Receiver => f.write_str(".__self__"),
            Edge::Function => f.write_str(".__func__"),
            Edge::Class => f.write_str(".__class__"),
            Edge::Traceback(frame) => write!(f, "traceback frame {frame}"),
            Edge::Chained => f.write_str(".__context__"),
            Edge::Arg(i) => write!(f, ".args[{i}]"),
            Edge::Pending => f.write_str("(pending items)"),
            Edge::Hook { kind, index, .. } => write!(f, ".{}[{index}]", kind.attribute()),
        }
    }
}

/// Lists what a value references.
///
/// ```
/// use leakharness::scenario::interp::{Edge, Referents, Value};
///
/// let t = Value::Tuple(std::rc::Rc::new(vec![Value::Int(1), Value::Str("a".into())]));
/// let mut seen = Vec::new();
/// t.referents(&mut |edge, v| seen.push((edge, v.to_string())));
/// assert_eq!(seen, [(Edge::Item(0), "1".to_string()), (Edge::Item(1), "a".to_string())]);
/// ```
pub trait Referents {
    /// Calls `visit` once for every reference this value holds, with how it holds it.
    /// References to cells and frames (which are not values) are listed as the values they
    /// contain: a closure's captured variables as [`Edge::Cell`], a traceback's frames' locals
    /// under [`Edge::Traceback`] then [`Edge::Local`].
    fn referents(&self, visit: &mut dyn FnMut(Edge, &Value));

    /// The runtime tensor this value is, if it is one: what a tensor holds (its gradient, its
    /// `grad_fn` and the tensors saved for backward) is read from the tensor itself.
    fn tensor(&self) -> Option<&Tensor> {
        None
    }

    /// The autograd node this value is, if it is a `grad_fn` the program holds: what the node
    /// saved and the nodes after it are read from the node itself.
    fn node(&self) -> Option<Rc<crate::autograd::Node>> {
        None
    }

    /// For a list, each element with the statement that stored it (`losses.append(loss)`):
    /// the leak checker attributes a list's elements to those statements.
    fn stored_elements(&self) -> Option<Vec<(Value, Span)>> {
        None
    }
}

fn dict_referents(d: &Dict, visit: &mut dyn FnMut(Edge, &Value)) {
    for (k, v) in d.items() {
        if k.identity().is_some() {
            visit(Edge::DictKey(super::value::repr(&k)), &k);
        }
        visit(Edge::Key(super::value::repr(&k)), &v);
    }
}

fn hook_referents(hooks: &super::module::ModuleHooks, visit: &mut dyn FnMut(Edge, &Value)) {
    hooks.each(&mut |kind, index, h| {
        visit(
            Edge::Hook {
                kind,
                index,
                registered_at: h.registered_at.clone(),
            },
            &h.hook,
        )
    });
}

fn attrs(d: &Dict, visit: &mut dyn FnMut(Edge, &Value)) {
    for (k, v) in d.items() {
        visit(Edge::Attr(k.to_string().into()), &v);
    }
}

impl Referents for Frame {
    fn referents(&self, visit: &mut dyn FnMut(Edge, &Value)) {
        let frame = self.display_name();
        for (name, v) in self.locals() {
            visit(
                Edge::Local {
                    frame: frame.clone(),
                    name,
                },
                &v,
            );
        }
        if let Some(ns) = &self.class_ns {
            attrs(&ns.borrow(), visit);
        }
    }
}

impl Referents for Value {
    fn tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    fn node(&self) -> Option<Rc<crate::autograd::Node>> {
        match self {
            Value::Native(n) => match &**n {
                Native::GradFn(node) => Some(node.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    fn stored_elements(&self) -> Option<Vec<(Value, Span)>> {
        match self {
            Value::List(l) => Some(
                l.borrow()
                    .iter()
                    .map(|s| (s.value.clone(), s.stored_at))
                    .collect(),
            ),
            _ => None,
        }
    }

    fn referents(&self, visit: &mut dyn FnMut(Edge, &Value)) {
        match self {
            Value::List(l) => {
                let items: Vec<Value> = l.borrow().iter().map(|s| s.value.clone()).collect();
                for (i, v) in items.iter().enumerate() {
                    visit(Edge::Item(i), v);
                }
            }
            Value::Tuple(t) => {
                for (i, v) in t.iter().enumerate() {
                    visit(Edge::Item(i), v);
                }
            }
            Value::Dict(d) | Value::Set(d) => dict_referents(&d.borrow(), visit),
            Value::Instance(i) => {
                attrs(&i.dict.borrow(), visit);
                if let Some(s) = i.module.borrow().as_ref() {
                    for (n, v) in s.params.iter().chain(&s.buffers).chain(&s.modules) {
                        visit(Edge::Registered(n.clone()), v);
                    }
                    hook_referents(&s.hooks, visit);
                }
            }
            Value::Function(f) => {
                for (i, d) in f.defaults.iter().enumerate() {
                    visit(Edge::Default(i), d);
                }
                for d in f.kw_defaults.iter().flatten() {
                    visit(Edge::Default(f.defaults.len()), d);
                }
                let names = &f.code.cells[f.code.own_cells..];
                for (name, cell) in names.iter().zip(&f.closure) {
                    if let Some(v) = cell.borrow().clone() {
                        visit(Edge::Cell(name.clone()), &v);
                    }
                }
                attrs(&f.attrs.borrow(), visit);
            }
            Value::Class(c) => {
                for b in &c.bases {
                    visit(Edge::Class, b);
                }
                attrs(&c.dict.borrow(), visit);
            }
            Value::Exception(e) => {
                for (i, a) in e.args.borrow().iter().enumerate() {
                    visit(Edge::Arg(i), a);
                }
                for v in e.cause.borrow().iter().chain(e.context.borrow().iter()) {
                    visit(Edge::Chained, v);
                }
                attrs(&e.dict.borrow(), visit);
                // A frame's edges name it already (`train(): local x`).
                for (frame, _) in e.traceback.borrow().iter() {
                    frame.referents(&mut |edge, v| visit(Edge::Traceback(edge.to_string()), v));
                }
            }
            Value::BoundMethod(b) => {
                visit(Edge::Receiver, &b.receiver);
                visit(Edge::Function, &b.func);
            }
            Value::Method(recv, _) => visit(Edge::Receiver, recv),
            Value::Module(m) => {
                for (n, p) in m.named_parameters().into_iter().chain(m.named_buffers()) {
                    visit(Edge::Registered(n.into()), &Value::Tensor(p));
                }
                hook_referents(&m.1, visit);
                // A child's hooks (its parameters are listed above, by their dotted names).
                for (i, c) in m.children().unwrap_or_default().iter().enumerate() {
                    visit(
                        Edge::Registered(i.to_string().into()),
                        &Value::Module(c.clone()),
                    );
                }
            }
            Value::Optimizer(o) => {
                for (n, t) in o.state_tensors() {
                    visit(Edge::Attr(n.into()), &Value::Tensor(t));
                }
            }
            Value::Scheduler(s) => {
                for (n, v) in s.0.borrow().referents() {
                    visit(Edge::Attr(n.into()), &v);
                }
            }
            Value::Iterator(it) => {
                use super::pyobj::Iter;
                match &*it.borrow() {
                    Iter::List(l, _) => visit(Edge::Pending, &Value::List(l.clone())),
                    Iter::Values(vs, _) => vs.iter().for_each(|v| visit(Edge::Pending, v)),
                    Iter::TensorRows(t, _) => visit(Edge::Pending, &Value::Tensor(t.clone())),
                    Iter::Enumerate(v, _) | Iter::Filter(_, v) | Iter::GetItem(v, _) => {
                        visit(Edge::Pending, v)
                    }
                    Iter::Zip(vs) | Iter::Map(_, vs) => {
                        vs.iter().for_each(|v| visit(Edge::Pending, v))
                    }
                    Iter::Chain(vs) => vs.iter().for_each(|v| visit(Edge::Pending, v)),
                    Iter::Cycle(vs, inner, _) => vs
                        .iter()
                        .chain(inner.iter())
                        .for_each(|v| visit(Edge::Pending, v)),
                    Iter::Islice { inner, .. } => visit(Edge::Pending, inner),
                    Iter::Generator(g) => {
                        if let Some(frame) = g.frame() {
                            frame.referents(visit);
                        }
                    }
                    Iter::Range { .. } | Iter::Count(..) | Iter::Done => {}
                }
            }
            Value::Native(n) => match &**n {
                Native::Deque(d, _) => {
                    for (i, v) in d.borrow().iter().enumerate() {
                        visit(Edge::Item(i), v);
                    }
                }
                Native::Partial(f, args, kw) => {
                    visit(Edge::Function, f);
                    for (i, a) in args.iter().enumerate() {
                        visit(Edge::Arg(i), a);
                    }
                    for (k, v) in kw {
                        visit(Edge::Key(k.clone()), v);
                    }
                }
                Native::NamedTuple(_, values) => {
                    for (i, v) in values.iter().enumerate() {
                        visit(Edge::Item(i), v);
                    }
                }
                Native::StaticMethod(f)
                | Native::ClassMethod(f)
                | Native::WithGrad(_, f)
                | Native::WithAutocast(_, f)
                | Native::Wraps(f)
                | Native::FieldFactory(f)
                | Native::NullContext(f)
                | Native::Tqdm(f) => visit(Edge::Function, f),
                Native::Property(g, s) => {
                    visit(Edge::Function, g);
                    visit(Edge::Function, &s.borrow());
                }
                Native::Super(o, _) => visit(Edge::Receiver, o),
                Native::Slice(a, b, c) => {
                    for v in [a, b, c] {
                        visit(Edge::Pending, v);
                    }
                }
                Native::TensorDataset(tensors) => {
                    for (i, t) in tensors.iter().enumerate() {
                        visit(Edge::Item(i), t);
                    }
                }
                Native::GradScaler(s) => super::torch::visit_scaler(s, visit),
                Native::SavedTensorsHooks(m) => {
                    for f in m.referents() {
                        visit(Edge::Function, f);
                    }
                }
                Native::Subset(dataset, _) => visit(Edge::Attr("dataset".into()), dataset),
                Native::DataLoader(l) | Native::FetchBatch(l) => {
                    for v in l.referents() {
                        visit(Edge::Attr("dataset".into()), v);
                    }
                }
                // A hook's handle holds the hook list and the hook weakly.
                Native::Logger(_)
                | Native::NamedTupleType(..)
                | Native::DataclassInit(_)
                | Native::TensorHookHandle(_)
                | Native::GradFn(_)
                | Native::GradModeSet(..)
                | Native::Autocast(_) => {}
            },
            Value::None
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Str(_)
            | Value::Range(..)
            | Value::Tensor(_)
            | Value::DType(_)
            | Value::Device(_)
            | Value::Path(_)
            | Value::GradMode(_) => {}
        }
    }
}
