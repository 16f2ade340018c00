//! The scenario's own objects: frames, functions, classes, instances, exceptions, iterators and
//! the objects of the standard-library modules scenarios import.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};

use super::dict::DictRef;
use super::value::{ListRef, Value};
use crate::base::OutOfMemory;
use crate::scenario::{FunctionDef, Span};

/// A variable captured by a closure: shared between the frame that binds it and every function
/// that reads it, as CPython's cell objects are.
pub type CellRef = Rc<RefCell<Option<Value>>>;

/// How a name is reached from code, decided once per scope before anything runs (CPython's
/// symbol table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A local variable of a function, by its slot.
    Fast(usize),
    /// A local captured by an inner function, or a free variable of this one: the frame's cell.
    Cell(usize),
    /// A module-level name (then a builtin).
    Global,
    /// A name of a class body's namespace (then a global).
    ClassLocal,
    /// A name read in a class body that an enclosing function binds: the namespace, then the
    /// cell.
    ClassFree(usize),
}

/// What kind of scope a [`Code`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// The module.
    Module,
    /// A `def` or `lambda`.
    Function,
    /// A `class` body.
    Class,
    /// A comprehension or generator expression.
    Comprehension,
}

/// The names of one scope and how each is reached.
#[derive(Debug)]
pub struct Code {
    /// The qualified name: `Trainer.train`, `train.<locals>.hook`, `<listcomp>`.
    pub qualname: Rc<str>,
    /// What kind of scope.
    pub kind: ScopeKind,
    /// Local variables, parameters first.
    pub fast: Vec<Rc<str>>,
    /// Locals that inner functions capture, then free variables from enclosing functions.
    pub cells: Vec<Rc<str>>,
    /// How many of `cells` are this scope's own (the rest are free variables).
    pub own_cells: usize,
    /// Every name the scope mentions.
    pub access: HashMap<Rc<str>, Access>,
    /// Whether this is a generator function (its body has `yield`).
    pub generator: bool,
}

impl Code {
    /// How `name` is reached: names the analysis never saw are globals.
    pub fn access(&self, name: &str) -> Access {
        match self.access.get(name) {
            Some(a) => *a,
            None if self.kind == ScopeKind::Class => Access::ClassLocal,
            None => Access::Global,
        }
    }
}

/// One activation of a function, a class body, a comprehension or the module.
#[derive(Debug)]
pub struct Frame {
    /// The scope it runs.
    pub code: Rc<Code>,
    /// Local variables by slot; `None` while unbound.
    pub fast: RefCell<Vec<Option<Value>>>,
    /// Cells: captured locals, then free variables.
    pub cells: Vec<CellRef>,
    /// A class body's namespace.
    pub class_ns: Option<DictRef>,
    /// The statement (or call) running now, for tracebacks.
    pub at: Cell<Span>,
    /// The function running, for `super()`.
    pub func: Option<Rc<Function>>,
    /// For each local bound so far: the statement that last bound it, and whether that
    /// statement rebound it from its own value (`x += y`, a running total).
    pub bound_at: RefCell<HashMap<Rc<str>, (Span, bool)>>,
}

/// A frame, shared by the interpreter's stack and by tracebacks that keep it alive.
pub type FrameRef = Rc<Frame>;

impl Frame {
    /// The name tracebacks and retention paths show: `train()`, `Trainer.train()`, `<module>`.
    pub fn display_name(&self) -> String {
        match self.code.kind {
            ScopeKind::Module => "<module>".into(),
            _ => format!("{}()", self.code.qualname),
        }
    }

    /// The statement that last bound local `name`, and whether it accumulates.
    pub fn binding(&self, name: &str) -> Option<(Span, bool)> {
        self.bound_at.borrow().get(name).copied()
    }

    /// The bound locals and cells of this frame, by name, in slot order.
    pub fn locals(&self) -> Vec<(Rc<str>, Value)> {
        let mut out: Vec<(Rc<str>, Value)> = self
            .code
            .fast
            .iter()
            .zip(self.fast.borrow().iter())
            .filter_map(|(n, v)| v.clone().map(|v| (n.clone(), v)))
            .collect();
        for (n, c) in self.code.cells.iter().zip(&self.cells) {
            if let Some(v) = c.borrow().clone() {
                out.push((n.clone(), v));
            }
        }
        out
    }
}

/// A function written in the scenario.
#[derive(Debug)]
pub struct Function {
    /// Its definition.
    pub def: Rc<FunctionDef>,
    /// Its scope.
    pub code: Rc<Code>,
    /// `Trainer.train`, `<lambda>`.
    pub qualname: Rc<str>,
    /// Defaults of the last positional parameters, evaluated when the `def` ran.
    pub defaults: Vec<Value>,
    /// Defaults of the keyword-only parameters.
    pub kw_defaults: Vec<Option<Value>>,
    /// The cells of its free variables.
    pub closure: Vec<CellRef>,
    /// The class whose body defined it, for `super()` with no arguments.
    pub owner: RefCell<Weak<Class>>,
    /// Attributes set on the function (`functools.wraps`, `fn.calls = 0`).
    pub attrs: DictRef,
}

/// A class written in the scenario.
#[derive(Debug)]
pub struct Class {
    /// Its name.
    pub name: Rc<str>,
    /// Its bases: scenario classes, or library types (`nn.Module`, `Exception`, `object`).
    pub bases: Vec<Value>,
    /// The namespace: methods and class attributes.
    pub dict: DictRef,
    /// The library type it derives from, if any (`torch.nn.Module`, `ValueError`, ...).
    pub builtin_base: Option<Rc<str>>,
}

impl Class {
    /// The method resolution order: this class and its scenario ancestors, by C3 linearization.
    pub fn mro(self: &Rc<Class>) -> Vec<Rc<Class>> {
        let mut seqs: Vec<Vec<Rc<Class>>> = self
            .bases
            .iter()
            .filter_map(|b| match b {
                Value::Class(c) => Some(c.mro()),
                _ => None,
            })
            .collect();
        seqs.push(
            self.bases
                .iter()
                .filter_map(|b| match b {
                    Value::Class(c) => Some(c.clone()),
                    _ => None,
                })
                .collect(),
        );
        let mut out = vec![self.clone()];
        loop {
            seqs.retain(|s| !s.is_empty());
            let Some(head) = seqs
                .iter()
                .map(|s| s[0].clone())
                .find(|h| !seqs.iter().any(|s| s[1..].iter().any(|c| Rc::ptr_eq(c, h))))
            else {
                // An inconsistent hierarchy: Python refuses it at class creation; keep
                // depth-first order instead.
                for s in seqs {
                    for c in s {
                        if !out.iter().any(|o| Rc::ptr_eq(o, &c)) {
                            out.push(c);
                        }
                    }
                }
                return out;
            };
            for s in &mut seqs {
                if Rc::ptr_eq(&s[0], &head) {
                    s.remove(0);
                }
            }
            out.push(head);
        }
    }

    /// Whether this class is `other` or derives from it.
    pub fn is_subclass(self: &Rc<Class>, other: &Rc<Class>) -> bool {
        self.mro().iter().any(|c| Rc::ptr_eq(c, other))
    }

    /// The attribute `name` found along the MRO, with the class that defines it.
    pub fn lookup(self: &Rc<Class>, name: &str) -> Option<(Value, Rc<Class>)> {
        let key = super::dict::Key::Str(name.into());
        self.mro()
            .into_iter()
            .find_map(|c| c.dict.borrow().get(&key).map(|v| (v, c.clone())))
    }
}

/// The state `nn.Module.__init__` gives an object: its parameters, buffers and submodules in
/// registration order, and its hooks.
#[derive(Debug, Default)]
pub struct ModuleState {
    /// `_parameters`: tensors registered by assigning an `nn.Parameter` (or `None`).
    pub params: Vec<(Rc<str>, Value)>,
    /// `_buffers`: tensors registered with `register_buffer`.
    pub buffers: Vec<(Rc<str>, Value)>,
    /// `_modules`: submodules registered by assignment.
    pub modules: Vec<(Rc<str>, Value)>,
    /// `training`.
    pub training: bool,
    /// `register_forward_pre_hook` and `register_forward_hook` hooks.
    pub hooks: super::module::ModuleHooks,
}

/// An object of a scenario class.
#[derive(Debug)]
pub struct Instance {
    /// Its class.
    pub class: Rc<Class>,
    /// Its attributes (`__dict__`).
    pub dict: DictRef,
    /// The `nn.Module` state, once `nn.Module.__init__` ran.
    pub module: RefCell<Option<ModuleState>>,
}

/// An exception object, builtin or of a scenario class.
#[derive(Debug)]
pub struct ExcObj {
    /// The builtin exception type it is, or derives from: `ValueError`, `torch.OutOfMemoryError`.
    pub kind: Rc<str>,
    /// The scenario class, for user exceptions.
    pub class: Option<Rc<Class>>,
    /// `args`.
    pub args: RefCell<Vec<Value>>,
    /// The frames it passed through and the line in each, outermost first: the traceback,
    /// which keeps the frames, and their locals, alive as long as the exception is.
    pub traceback: RefCell<Vec<(FrameRef, Span)>>,
    /// `__cause__` (`raise ... from`).
    pub cause: RefCell<Option<Value>>,
    /// `__context__`: the exception being handled when this one was raised.
    pub context: RefCell<Option<Value>>,
    /// Attributes set on it.
    pub dict: DictRef,
    /// The allocator's report, for out-of-memory errors.
    pub oom: Option<Box<OutOfMemory>>,
    /// A hint for the `= help:` line.
    pub help: Option<String>,
}

impl ExcObj {
    /// Python's type name.
    pub fn type_name(&self) -> Rc<str> {
        match &self.class {
            Some(c) => c.name.clone(),
            None => self.kind.rsplit('.').next().unwrap_or(&self.kind).into(),
        }
    }

    /// `str(e)`. A `KeyError` of one argument shows that argument's repr, so
    /// `str(KeyError('x'))` is `'x'` with its quotes (CPython's `KeyError_str`).
    pub fn message(&self) -> String {
        let args = self.args.borrow();
        match args.as_slice() {
            [] => String::new(),
            [one] if &*self.kind == "KeyError" => super::value::repr(one),
            [one] => one.to_string(),
            many => Value::Tuple(Rc::new(many.to_vec())).to_string(),
        }
    }

    /// `repr(e)`.
    pub fn repr(&self) -> String {
        let args = self.args.borrow();
        let inner: Vec<String> = args.iter().map(super::value::repr).collect();
        format!("{}({})", self.type_name(), inner.join(", "))
    }
}

/// A scenario function bound to the object it was read from.
#[derive(Debug)]
pub struct BoundMethod {
    /// `self` (or the class, for class methods).
    pub receiver: Value,
    /// The function.
    pub func: Value,
}

impl BoundMethod {
    pub(super) fn func_name(&self) -> String {
        match &self.func {
            Value::Function(f) => f.qualname.to_string(),
            other => other.to_string(),
        }
    }
}

/// An iterator's state.
#[derive(Debug)]
pub enum Iter {
    /// Over a list, by position, seeing appends as Python's list iterator does.
    List(ListRef, usize),
    /// Over a snapshot of values (tuples, dict views, strings, generator expressions).
    Values(VecDeque<Value>, &'static str),
    /// Over a tensor's rows (`select(0, i)`), each made when it is reached: unpacking
    /// `a, b = big_tensor` looks at three rows, not millions.
    TensorRows(crate::tensor::Tensor, usize),
    /// Over a range.
    Range {
        /// The next value.
        next: i64,
        /// Where it stops.
        stop: i64,
        /// The step.
        step: i64,
    },
    /// `enumerate(inner, start)`.
    Enumerate(Value, i64),
    /// `zip(*inners)`.
    Zip(Vec<Value>),
    /// `map(f, *inners)`.
    Map(Value, Vec<Value>),
    /// `filter(f, inner)`.
    Filter(Value, Value),
    /// `itertools.count(start, step)`.
    Count(i64, i64),
    /// `itertools.chain(*inners)`, on the first.
    Chain(VecDeque<Value>),
    /// `itertools.cycle`: the items seen, and the inner iterator until it is exhausted.
    Cycle(Vec<Value>, Option<Value>, usize),
    /// `itertools.islice(inner, start, stop, step)`: positions still to skip and take.
    Islice {
        /// The inner iterator.
        inner: Value,
        /// Next position to yield.
        next: usize,
        /// Position of the inner iterator.
        pos: usize,
        /// Where to stop.
        stop: Option<usize>,
        /// The step.
        step: usize,
    },
    /// `obj[0]`, `obj[1]`, ... of an object with `__getitem__` and no `__iter__`.
    GetItem(Value, i64),
    /// A generator function's suspended body.
    Generator(Box<super::generator::GenState>),
    /// Exhausted.
    Done,
}

impl Iter {
    /// Python's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Iter::List(..) => "list_iterator",
            Iter::Values(_, name) => name,
            Iter::TensorRows(..) => "iterator",
            Iter::Range { .. } => "range_iterator",
            Iter::Enumerate(..) => "enumerate",
            Iter::Zip(_) => "zip",
            Iter::Map(..) => "map",
            Iter::Filter(..) => "filter",
            Iter::Count(..) => "itertools.count",
            Iter::Chain(_) => "itertools.chain",
            Iter::Cycle(..) => "itertools.cycle",
            Iter::Islice { .. } => "itertools.islice",
            Iter::Generator(_) => "generator",
            Iter::GetItem(..) => "iterator",
            Iter::Done => "iterator",
        }
    }
}

/// An iterator shared between the names that hold it.
pub type IterRef = Rc<RefCell<Iter>>;

/// Objects of library modules other than torch.
#[derive(Debug)]
pub enum Native {
    /// `collections.deque`.
    Deque(RefCell<VecDeque<Value>>, Option<usize>),
    /// A `logging.Logger`.
    Logger(Rc<str>),
    /// `functools.partial(func, *args, **kwargs)`.
    Partial(Value, Vec<Value>, Vec<(String, Value)>),
    /// A class made by `collections.namedtuple`.
    NamedTupleType(Rc<str>, Vec<Rc<str>>),
    /// An object of a namedtuple class.
    NamedTuple(Rc<Native>, Rc<Vec<Value>>),
    /// `staticmethod(f)`.
    StaticMethod(Value),
    /// `classmethod(f)`.
    ClassMethod(Value),
    /// `property(fget, fset)`.
    Property(Value, RefCell<Value>),
    /// The `__init__` that `@dataclass` writes: fields and their defaults.
    DataclassInit(Vec<(Rc<str>, Option<Value>)>),
    /// `tqdm(iterable)`: passes the iterable through.
    Tqdm(Value),
    /// A context manager that does nothing (`contextlib.nullcontext`, `torch.autocast`).
    NullContext(Value),
    /// A decorator factory's product that applies a wrapper: `functools.wraps(f)`.
    Wraps(Value),
    /// `super()`: the object and the class after which lookup starts.
    Super(Value, Rc<Class>),
    /// A function decorated with `@torch.no_grad()` / `@torch.enable_grad()`.
    WithGrad(bool, Value),
    /// `slice(start, stop, step)`.
    Slice(Value, Value, Value),
    /// `dataclasses.field(default_factory=f)`.
    FieldFactory(Value),
    /// What `tensor.register_hook` and a module's `register_forward_hook` and
    /// `register_forward_pre_hook` return: a `RemovableHandle`.
    TensorHookHandle(crate::autograd::HookHandle),
    /// A tensor's `grad_fn`: the autograd node, which holds what it saved and the nodes after
    /// it, so a program that keeps one keeps its graph.
    GradFn(Rc<crate::autograd::Node>),
    /// `torch.set_grad_enabled(mode)`: the mode it replaced (put back when used as a context
    /// manager) and the mode it set.
    GradModeSet(bool, bool),
    /// `torch.utils.data.TensorDataset(*tensors)`.
    TensorDataset(Vec<Value>),
    /// `torch.utils.data.Subset(dataset, indices)` (also what `random_split` returns).
    Subset(Value, Vec<i64>),
    /// `torch.utils.data.DataLoader`.
    DataLoader(Rc<super::data::Loader>),
    /// What a loader's iterator calls on each batch's indices: fetch and collate.
    FetchBatch(Rc<super::data::Loader>),
    /// `torch.autocast(...)`: a context manager entering an autocast region.
    Autocast(super::torch::AutocastArgs),
    /// A function decorated with `@torch.autocast(...)`: it runs inside the region.
    WithAutocast(super::torch::AutocastArgs, Value),
    /// `torch.amp.GradScaler(...)`.
    GradScaler(Rc<RefCell<crate::optim::GradScaler>>),
    /// `torch.autograd.graph.saved_tensors_hooks(...)`, `save_on_cpu(...)`,
    /// `disable_saved_tensors_hooks(...)`: context managers over saved-tensor hooks.
    SavedTensorsHooks(super::torch::HooksManager),
}

impl Native {
    /// Python's type name.
    pub fn type_name(&self) -> String {
        match self {
            Native::Deque(..) => "deque".into(),
            Native::Logger(_) => "Logger".into(),
            Native::Partial(..) => "functools.partial".into(),
            Native::NamedTupleType(..) => "type".into(),
            // `torch.return_types.topk` is the class `topk` of that module.
            Native::NamedTuple(t, _) => match &**t {
                Native::NamedTupleType(name, _) => {
                    name.rsplit('.').next().unwrap_or(name).to_string()
                }
                _ => "tuple".into(),
            },
            Native::StaticMethod(_) => "staticmethod".into(),
            Native::ClassMethod(_) => "classmethod".into(),
            Native::Property(..) => "property".into(),
            Native::DataclassInit(_) => "function".into(),
            Native::Tqdm(_) => "tqdm".into(),
            Native::NullContext(_) => "nullcontext".into(),
            Native::Wraps(_) => "functools.partial".into(),
            Native::Super(..) => "super".into(),
            Native::WithGrad(..) => "function".into(),
            Native::Slice(..) => "slice".into(),
            Native::TensorHookHandle(_) => "RemovableHandle".into(),
            Native::GradFn(node) => node.name().to_string(),
            Native::GradModeSet(..) => "set_grad_enabled".into(),
            Native::TensorDataset(_) => "TensorDataset".into(),
            Native::Subset(..) => "Subset".into(),
            Native::DataLoader(_) => "DataLoader".into(),
            Native::FetchBatch(_) => "function".into(),
            Native::FieldFactory(_) => "Field".into(),
            Native::Autocast(_) => "autocast".into(),
            Native::WithAutocast(..) => "function".into(),
            Native::GradScaler(_) => "GradScaler".into(),
            Native::SavedTensorsHooks(m) => m.type_name().into(),
        }
    }

    /// Python's `repr`.
    pub fn repr(&self) -> String {
        match self {
            Native::Deque(items, _) => {
                let items: Vec<String> = items.borrow().iter().map(super::value::repr).collect();
                format!("deque([{}])", items.join(", "))
            }
            Native::Logger(name) => format!("<Logger {name} (INFO)>"),
            Native::NamedTupleType(name, _) => format!("<class '__main__.{name}'>"),
            Native::NamedTuple(t, values) => {
                let Native::NamedTupleType(name, fields) = &**t else {
                    return "()".into();
                };
                let parts: Vec<String> = fields
                    .iter()
                    .zip(values.iter())
                    .map(|(f, v)| format!("{f}={}", super::value::repr(v)))
                    .collect();
                // PyTorch's structseq repr puts each field on a line of its own.
                if name.starts_with("torch.return_types.") {
                    format!("{name}(\n{})", parts.join(",\n"))
                } else {
                    format!("{name}({})", parts.join(", "))
                }
            }
            // PyTorch's repr of a node, with the node's address standing in for the id of its
            // Python object.
            Native::GradFn(node) => format!(
                "<{} object at {:#x}>",
                node.name(),
                Rc::as_ptr(node) as usize
            ),
            other => format!("<{} object>", other.type_name()),
        }
    }
}
