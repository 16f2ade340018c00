//! The cyclic garbage collector, built on what every value references ([`Referents`]).
//!
//! Reference counting frees an object when its last reference goes, but a reference cycle
//! (`self.history.append(self)`, a closure stored on the object it captures, an exception
//! kept in a local of a frame its traceback holds) keeps every object in it alive. CPython
//! frees those only in its cyclic collector, and so does this engine, with CPython 3.12's rules
//! (`Modules/gcmodule.c`): container objects are tracked in three generations; a collection of
//! generation *g* examines generations 0 to *g*, subtracts the references the examined objects
//! hold to each other from their reference counts, keeps whatever is still referenced from
//! outside (and all it reaches), and frees the rest by clearing it; survivors move one
//! generation up. Generation 0 is collected when more than 700 tracked objects were allocated
//! and are still alive since its last collection, generation 1 after 10 collections of
//! generation 0, generation 2 after 10 of generation 1 when objects waiting for their first
//! full collection are more than a quarter of those that survived the last one.
//! `gc.collect()` collects all three. `gc.disable()` stops the automatic collections.
//!
//! The engine tracks lists, dicts, sets, tuples built by the program, objects, functions,
//! bound methods, classes, exceptions, frames and closure cells; containers made inside torch
//! bindings (a `torch.Size`, a list of parameters) are not tracked, which only makes the
//! collector more conservative: what they reference is treated as referenced from outside.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::{Rc, Weak};

use super::dict::Dict;
use super::pyobj::{BoundMethod, CellRef, Class, ExcObj, Frame, Function, Instance};
use super::refs::Referents;
use super::value::{ListRef, Slot, Value};
use crate::autograd::{HookList, ProgramObject};

/// A view of one run's cyclic collector, for an observer: what it would free now.
#[derive(Clone, Copy)]
pub struct Cycles<'a>(pub(crate) &'a Gc);

impl Cycles<'_> {
    /// The objects that only reference cycles keep alive, which the next full collection
    /// (`gc.collect()`) frees; frames and cells are reached through them.
    pub fn garbage(&self) -> Vec<Value> {
        self.0.unreachable()
    }
}

impl fmt::Debug for Cycles<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cycles")
    }
}

/// An object the collector tracks, weakly: tracking never keeps anything alive.
#[derive(Debug, Clone)]
enum Tracked {
    List(Weak<RefCell<Vec<Slot>>>),
    Dict(Weak<RefCell<Dict>>),
    Tuple(Weak<Vec<Value>>),
    Instance(Weak<Instance>),
    Function(Weak<Function>),
    Bound(Weak<BoundMethod>),
    Class(Weak<Class>),
    Exc(Weak<ExcObj>),
    Frame(Weak<Frame>),
    Cell(Weak<RefCell<Option<Value>>>),
    Hooks(Weak<RefCell<Vec<ProgramObject>>>),
}

/// A tracked object, held strongly during a collection.
enum Strong {
    List(ListRef),
    Dict(Rc<RefCell<Dict>>),
    Tuple(Rc<Vec<Value>>),
    Instance(Rc<Instance>),
    Function(Rc<Function>),
    Bound(Rc<BoundMethod>),
    Class(Rc<Class>),
    Exc(Rc<ExcObj>),
    Frame(Rc<Frame>),
    Cell(CellRef),
    /// One of a module's hook lists: a library module is no tracked object, and it may be
    /// held by many names, so its lists are tracked in its place.
    Hooks(HookList),
}

fn ptr<T: ?Sized>(rc: &Rc<T>) -> usize {
    Rc::as_ptr(rc) as *const () as usize
}

impl Tracked {
    fn upgrade(&self) -> Option<Strong> {
        Some(match self {
            Tracked::List(w) => Strong::List(w.upgrade()?),
            Tracked::Dict(w) => Strong::Dict(w.upgrade()?),
            Tracked::Tuple(w) => Strong::Tuple(w.upgrade()?),
            Tracked::Instance(w) => Strong::Instance(w.upgrade()?),
            Tracked::Function(w) => Strong::Function(w.upgrade()?),
            Tracked::Bound(w) => Strong::Bound(w.upgrade()?),
            Tracked::Class(w) => Strong::Class(w.upgrade()?),
            Tracked::Exc(w) => Strong::Exc(w.upgrade()?),
            Tracked::Frame(w) => Strong::Frame(w.upgrade()?),
            Tracked::Cell(w) => Strong::Cell(w.upgrade()?),
            Tracked::Hooks(w) => Strong::Hooks(w.upgrade()?),
        })
    }

    fn alive(&self) -> bool {
        match self {
            Tracked::List(w) => w.strong_count() > 0,
            Tracked::Dict(w) => w.strong_count() > 0,
            Tracked::Tuple(w) => w.strong_count() > 0,
            Tracked::Instance(w) => w.strong_count() > 0,
            Tracked::Function(w) => w.strong_count() > 0,
            Tracked::Bound(w) => w.strong_count() > 0,
            Tracked::Class(w) => w.strong_count() > 0,
            Tracked::Exc(w) => w.strong_count() > 0,
            Tracked::Frame(w) => w.strong_count() > 0,
            Tracked::Cell(w) => w.strong_count() > 0,
            Tracked::Hooks(w) => w.strong_count() > 0,
        }
    }
}

/// The identity a value's heap object has in the collector, if it is one it can track.
fn value_id(v: &Value) -> Option<usize> {
    match v {
        Value::List(l) => Some(ptr(l)),
        Value::Dict(d) | Value::Set(d) => Some(ptr(d)),
        Value::Tuple(t) => Some(ptr(t)),
        Value::Instance(i) => Some(ptr(i)),
        Value::Function(f) => Some(ptr(f)),
        Value::BoundMethod(b) => Some(ptr(b)),
        Value::Class(c) => Some(ptr(c)),
        Value::Exception(e) => Some(ptr(e)),
        _ => None,
    }
}

/// A reference the collector counts: to a value's object, a cell or a frame.
fn push_value(out: &mut Vec<usize>, v: &Value) {
    if let Some(id) = value_id(v) {
        out.push(id);
    } else if let Value::Module(m) = v {
        // Each handle of a library module holds its hook lists once; its children are held
        // by the module, which the collector does not see, so they count as held from outside.
        for list in m.1.lists() {
            out.push(ptr(list));
        }
    } else {
        // Untracked wrappers (a `partial`, a deque, a `Method`) pass their references on: the
        // collector counts them as this object's.
        v.referents(&mut |_, inner| push_value(out, inner));
    }
}

/// Empties a module's hook list, its hooks going to `grave`.
fn clear_hooks(list: &HookList, grave: &mut Vec<Value>) {
    let hooks: Vec<ProgramObject> = list.borrow_mut().drain(..).collect();
    grave.extend(
        hooks
            .iter()
            .filter_map(|h| super::module::hook_entry(h).map(|h| h.hook.clone())),
    );
}

/// Owners of a side table (`__dict__`) shared with something else are referenced from
/// outside: the program holds the table.
fn shared<T>(rc: &Rc<T>) -> bool {
    Rc::strong_count(rc) > 1
}

impl Strong {
    fn id(&self) -> usize {
        match self {
            Strong::List(r) => ptr(r),
            Strong::Dict(r) => ptr(r),
            Strong::Tuple(r) => ptr(r),
            Strong::Instance(r) => ptr(r),
            Strong::Function(r) => ptr(r),
            Strong::Bound(r) => ptr(r),
            Strong::Class(r) => ptr(r),
            Strong::Exc(r) => ptr(r),
            Strong::Frame(r) => ptr(r),
            Strong::Cell(r) => ptr(r),
            Strong::Hooks(r) => ptr(r),
        }
    }

    /// References from outside the collector's view: the strong count less this handle, plus
    /// one when a side table is shared.
    fn external_count(&self) -> isize {
        let (count, side) = match self {
            Strong::List(r) => (Rc::strong_count(r), false),
            Strong::Dict(r) => (Rc::strong_count(r), false),
            Strong::Tuple(r) => (Rc::strong_count(r), false),
            Strong::Instance(r) => (Rc::strong_count(r), shared(&r.dict)),
            Strong::Function(r) => (Rc::strong_count(r), shared(&r.attrs)),
            Strong::Bound(r) => (Rc::strong_count(r), false),
            Strong::Class(r) => (Rc::strong_count(r), shared(&r.dict)),
            Strong::Exc(r) => (Rc::strong_count(r), shared(&r.dict)),
            Strong::Frame(r) => (Rc::strong_count(r), false),
            Strong::Cell(r) => (Rc::strong_count(r), false),
            Strong::Hooks(r) => (Rc::strong_count(r), false),
        };
        count as isize - 1 + isize::from(side)
    }

    /// The tracked-kind objects this one references, once per reference.
    fn children(&self) -> Vec<usize> {
        let mut out = Vec::new();
        match self {
            Strong::Frame(f) => {
                for v in f.fast.borrow().iter().flatten() {
                    push_value(&mut out, v);
                }
                for c in &f.cells {
                    out.push(ptr(c));
                }
                if let Some(ns) = &f.class_ns {
                    for (k, v) in ns.borrow().items() {
                        push_value(&mut out, &k);
                        push_value(&mut out, &v);
                    }
                }
                if let Some(func) = &f.func {
                    out.push(ptr(func));
                }
            }
            Strong::Cell(c) => {
                if let Some(v) = c.borrow().as_ref() {
                    push_value(&mut out, v);
                }
            }
            Strong::Hooks(list) => {
                for h in list.borrow().iter() {
                    if let Some(h) = super::module::hook_entry(h) {
                        push_value(&mut out, &h.hook);
                    }
                }
            }
            Strong::Function(f) => {
                for c in &f.closure {
                    out.push(ptr(c));
                }
                for d in f.defaults.iter().chain(f.kw_defaults.iter().flatten()) {
                    push_value(&mut out, d);
                }
                for (k, v) in f.attrs.borrow().items() {
                    push_value(&mut out, &k);
                    push_value(&mut out, &v);
                }
            }
            Strong::Exc(e) => {
                for (frame, _) in e.traceback.borrow().iter() {
                    out.push(ptr(frame));
                }
                for v in e.args.borrow().iter() {
                    push_value(&mut out, v);
                }
                for v in e.cause.borrow().iter().chain(e.context.borrow().iter()) {
                    push_value(&mut out, v);
                }
                for (k, v) in e.dict.borrow().items() {
                    push_value(&mut out, &k);
                    push_value(&mut out, &v);
                }
                if let Some(c) = &e.class {
                    out.push(ptr(c));
                }
            }
            Strong::Instance(i) => {
                out.push(ptr(&i.class));
                for (k, v) in i.dict.borrow().items() {
                    push_value(&mut out, &k);
                    push_value(&mut out, &v);
                    if super::autograd::owned_output_of(&v, i) {
                        // `ctx.out = out`: the output's node owns this ctx, and PyTorch's
                        // `THPVariable_subclass_traverse` visits `grad_fn` of a tensor only
                        // its Python object holds, so the collector sees the cycle.
                        out.push(ptr(i));
                    }
                }
                if let Some(s) = i.module.borrow().as_ref() {
                    for (_, v) in s.params.iter().chain(&s.buffers).chain(&s.modules) {
                        push_value(&mut out, v);
                    }
                    for list in s.hooks.lists() {
                        out.push(ptr(list));
                    }
                }
            }
            Strong::Class(c) => {
                for b in &c.bases {
                    push_value(&mut out, b);
                }
                for (k, v) in c.dict.borrow().items() {
                    push_value(&mut out, &k);
                    push_value(&mut out, &v);
                }
            }
            Strong::List(l) => {
                for s in l.borrow().iter() {
                    push_value(&mut out, &s.value);
                }
            }
            Strong::Dict(d) => {
                for (k, v) in d.borrow().items() {
                    push_value(&mut out, &k);
                    push_value(&mut out, &v);
                }
            }
            Strong::Tuple(t) => {
                for v in t.iter() {
                    push_value(&mut out, v);
                }
            }
            Strong::Bound(b) => {
                push_value(&mut out, &b.receiver);
                push_value(&mut out, &b.func);
            }
        }
        out
    }

    /// The object as a value, for those that are values (frames and cells are reached
    /// through the functions, generators and tracebacks that hold them).
    fn value(&self) -> Option<Value> {
        Some(match self {
            Strong::List(r) => Value::List(r.clone()),
            Strong::Dict(r) => Value::Dict(r.clone()),
            Strong::Tuple(r) => Value::Tuple(r.clone()),
            Strong::Instance(r) => Value::Instance(r.clone()),
            Strong::Function(r) => Value::Function(r.clone()),
            Strong::Bound(r) => Value::BoundMethod(r.clone()),
            Strong::Class(r) => Value::Class(r.clone()),
            Strong::Exc(r) => Value::Exception(r.clone()),
            Strong::Frame(_) | Strong::Cell(_) | Strong::Hooks(_) => return None,
        })
    }

    /// Breaks this object's references (CPython's `tp_clear`), handing them to `grave` to be
    /// dropped once every unreachable object is cleared.
    fn clear(&self, grave: &mut Vec<Value>) {
        match self {
            Strong::List(l) => grave.extend(l.borrow_mut().drain(..).map(|s| s.value)),
            Strong::Dict(d) => {
                for (k, v) in d.borrow_mut().take() {
                    grave.push(k);
                    grave.push(v);
                }
            }
            Strong::Instance(i) => {
                for (k, v) in i.dict.borrow_mut().take() {
                    grave.push(k);
                    grave.push(v);
                }
                if let Some(s) = i.module.borrow_mut().take() {
                    for (_, v) in s.params.into_iter().chain(s.buffers).chain(s.modules) {
                        grave.push(v);
                    }
                    for list in s.hooks.lists() {
                        clear_hooks(list, grave);
                    }
                }
            }
            Strong::Function(f) => {
                for (k, v) in f.attrs.borrow_mut().take() {
                    grave.push(k);
                    grave.push(v);
                }
            }
            Strong::Class(c) => {
                for (k, v) in c.dict.borrow_mut().take() {
                    grave.push(k);
                    grave.push(v);
                }
            }
            Strong::Exc(e) => {
                grave.append(&mut e.args.borrow_mut());
                grave.extend(e.cause.borrow_mut().take());
                grave.extend(e.context.borrow_mut().take());
                for (k, v) in e.dict.borrow_mut().take() {
                    grave.push(k);
                    grave.push(v);
                }
                // Frames are not values: they go when the traceback list does, after the
                // others are cleared.
                let frames = std::mem::take(&mut *e.traceback.borrow_mut());
                for (frame, _) in frames {
                    let locals: Vec<Value> = frame
                        .fast
                        .borrow_mut()
                        .iter_mut()
                        .filter_map(Option::take)
                        .collect();
                    grave.extend(locals);
                }
            }
            Strong::Frame(f) => {
                let locals: Vec<Value> = f
                    .fast
                    .borrow_mut()
                    .iter_mut()
                    .filter_map(Option::take)
                    .collect();
                grave.extend(locals);
            }
            Strong::Cell(c) => grave.extend(c.borrow_mut().take()),
            Strong::Hooks(list) => clear_hooks(list, grave),
            // Immutable: cleared through the mutable objects of their cycle.
            Strong::Tuple(_) | Strong::Bound(_) => {}
        }
    }
}

/// The live objects of `tracked`, each once, and the indices of those referenced from outside
/// them or reachable from such: CPython's `update_refs`, `subtract_refs` and
/// `move_unreachable`.
fn analyse(tracked: Vec<Tracked>) -> (Vec<(Tracked, Strong)>, HashSet<usize>) {
    let mut ids = HashSet::new();
    let objects: Vec<(Tracked, Strong)> = tracked
        .into_iter()
        .filter_map(|t| t.upgrade().map(|s| (t, s)))
        .filter(|(_, s)| ids.insert(s.id()))
        .collect();
    let index: HashMap<usize, usize> = objects
        .iter()
        .enumerate()
        .map(|(i, (_, s))| (s.id(), i))
        .collect();
    let children: Vec<Vec<usize>> = objects
        .iter()
        .map(|(_, s)| {
            s.children()
                .into_iter()
                .filter_map(|c| index.get(&c).copied())
                .collect()
        })
        .collect();
    let mut refs: Vec<isize> = objects.iter().map(|(_, s)| s.external_count()).collect();
    for kids in &children {
        for &k in kids {
            refs[k] -= 1;
        }
    }
    let mut reachable: HashSet<usize> = HashSet::new();
    let mut stack: Vec<usize> = (0..objects.len()).filter(|&i| refs[i] > 0).collect();
    while let Some(i) = stack.pop() {
        if reachable.insert(i) {
            stack.extend(children[i].iter().copied());
        }
    }
    (objects, reachable)
}

/// CPython 3.12's default thresholds (`gc.get_threshold()`).
const THRESHOLDS: [usize; 3] = [700, 10, 10];

/// The cyclic collector of one run.
#[derive(Debug)]
pub(crate) struct Gc {
    generations: [Vec<Tracked>; 3],
    /// Tracked objects allocated since generation 0 was last collected.
    allocated: usize,
    /// Collections of generation 0 (then 1) since generation 1 (then 2) was collected.
    collections: [usize; 2],
    /// Objects that survived the last full collection.
    long_lived_total: usize,
    /// Objects moved into generation 2 since.
    long_lived_pending: usize,
    /// Whether automatic collections run (`gc.enable()` / `gc.disable()`).
    pub(crate) enabled: bool,
    /// `gc.get_threshold()`.
    pub(crate) thresholds: [usize; 3],
    /// Planted bug: unreachable dicts are left uncleared and untracked.
    #[cfg(feature = "planted-bugs")]
    pub(crate) misses_dict_cycles: bool,
}

impl Default for Gc {
    fn default() -> Gc {
        Gc {
            generations: Default::default(),
            allocated: 0,
            collections: [0, 0],
            long_lived_total: 0,
            long_lived_pending: 0,
            enabled: true,
            thresholds: THRESHOLDS,
            #[cfg(feature = "planted-bugs")]
            misses_dict_cycles: false,
        }
    }
}

impl Gc {
    fn track(&mut self, t: Tracked) {
        self.generations[0].push(t);
        self.allocated += 1;
    }

    /// Tracks the container a value is, if it is one.
    pub(crate) fn track_value(&mut self, v: &Value) {
        match v {
            Value::List(l) => self.track(Tracked::List(Rc::downgrade(l))),
            Value::Dict(d) | Value::Set(d) => self.track(Tracked::Dict(Rc::downgrade(d))),
            Value::Tuple(t) => self.track(Tracked::Tuple(Rc::downgrade(t))),
            Value::BoundMethod(b) => self.track(Tracked::Bound(Rc::downgrade(b))),
            Value::Instance(i) => self.track_instance(i),
            Value::Function(f) => self.track_function(f),
            Value::Class(c) => self.track_class(c),
            Value::Exception(e) => self.track_exception(e),
            _ => {}
        }
    }

    /// Tracks a module's hook list: a hook's closure may capture the module.
    pub(crate) fn track_hooks(&mut self, list: &HookList) {
        self.track(Tracked::Hooks(Rc::downgrade(list)));
    }

    pub(crate) fn track_instance(&mut self, i: &Rc<Instance>) {
        self.track(Tracked::Instance(Rc::downgrade(i)));
    }

    /// Tracks a function; its closure cells are tracked with the frame that made them.
    pub(crate) fn track_function(&mut self, f: &Rc<Function>) {
        self.track(Tracked::Function(Rc::downgrade(f)));
    }

    pub(crate) fn track_class(&mut self, c: &Rc<Class>) {
        self.track(Tracked::Class(Rc::downgrade(c)));
    }

    pub(crate) fn track_exception(&mut self, e: &Rc<ExcObj>) {
        self.track(Tracked::Exc(Rc::downgrade(e)));
    }

    pub(crate) fn track_frame(&mut self, f: &Rc<Frame>) {
        self.track(Tracked::Frame(Rc::downgrade(f)));
        for c in &f.cells[..f.code.own_cells] {
            self.track(Tracked::Cell(Rc::downgrade(c)));
        }
    }

    /// `gc.get_count()`.
    pub(crate) fn counts(&self) -> [usize; 3] {
        [self.allocated, self.collections[0], self.collections[1]]
    }

    /// The generation an automatic collection should collect now, if any.
    pub(crate) fn due(&mut self) -> Option<usize> {
        if !self.enabled || self.allocated <= self.thresholds[0] {
            return None;
        }
        // CPython counts allocations less deallocations; the live young objects are that.
        self.generations[0].retain(Tracked::alive);
        self.allocated = self.generations[0].len();
        if self.allocated <= self.thresholds[0] {
            return None;
        }
        if self.collections[1] >= self.thresholds[2]
            && self.long_lived_pending > self.long_lived_total / 4
        {
            Some(2)
        } else if self.collections[0] >= self.thresholds[1] {
            Some(1)
        } else {
            Some(0)
        }
    }

    /// The objects the collector would free if it collected every generation now, without
    /// collecting: what only reference cycles keep alive (`gc.collect()` would free them).
    pub(crate) fn unreachable(&self) -> Vec<Value> {
        let tracked: Vec<Tracked> = self.generations.iter().flatten().cloned().collect();
        let (objects, reachable) = analyse(tracked);
        objects
            .iter()
            .enumerate()
            .filter(|(i, _)| !reachable.contains(i))
            .filter_map(|(_, (_, s))| s.value())
            .collect()
    }

    /// Collects generations `0..=generation`; returns how many unreachable objects it freed.
    pub(crate) fn collect(&mut self, generation: usize) -> usize {
        let generation = generation.min(2);
        let mut tracked: Vec<Tracked> = Vec::new();
        for g in 0..=generation {
            tracked.append(&mut self.generations[g]);
        }
        let (objects, reachable) = analyse(tracked);
        let mut grave = Vec::new();
        let mut freed = 0;
        let next = (generation + 1).min(2);
        let mut survivors = Vec::new();
        for (i, (t, s)) in objects.iter().enumerate() {
            #[cfg(feature = "planted-bugs")]
            if self.misses_dict_cycles && matches!(s, Strong::Dict(_)) {
                continue;
            }
            if reachable.contains(&i) {
                survivors.push(t.clone());
            } else {
                s.clear(&mut grave);
                freed += 1;
            }
        }
        match generation {
            0 => self.collections[0] += 1,
            1 => {
                self.collections[0] = 0;
                self.collections[1] += 1;
                self.long_lived_pending += survivors.len();
            }
            _ => {
                self.collections = [0, 0];
                self.long_lived_total = survivors.len();
                self.long_lived_pending = 0;
            }
        }
        self.generations[next].append(&mut survivors);
        self.allocated = 0;
        drop(objects);
        drop(grave);
        freed
    }
}
