//! Python's dict (and set, and the dict subclasses of `collections`): insertion-ordered, keyed by
//! hashable values with Python's equality (`1 == 1.0 == True`).

use std::cell::RefCell;
use std::rc::Rc;

use indexmap::IndexMap;

use super::value::Value;

/// A hashable key: what Python hashes and compares a dict key by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// `None`.
    None,
    /// Ints, bools and floats with an integral value, which Python treats as equal keys.
    Int(i64),
    /// Other floats, by their bits (NaN keys are rare enough to ignore Python's identity rule).
    Float(u64),
    /// A string.
    Str(Rc<str>),
    /// A tuple of hashable items.
    Tuple(Vec<Key>),
    /// Objects hashed by identity: tensors, modules, functions, classes, instances.
    Id(usize),
    /// Types, functions and modules of the library, by their path.
    Path(Rc<str>),
}

impl Key {
    /// The key of `v`, or `None` when `v` is unhashable (a list, dict or set).
    pub fn of(v: &Value) -> Option<Key> {
        Some(match v {
            Value::None => Key::None,
            Value::Bool(b) => Key::Int(*b as i64),
            Value::Int(i) => Key::Int(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Key::Int(*f as i64),
            Value::Float(f) => Key::Float(f.to_bits()),
            Value::Str(s) => Key::Str(s.clone()),
            Value::Tuple(t) => Key::Tuple(t.iter().map(Key::of).collect::<Option<_>>()?),
            Value::Path(p) => Key::Path(p.0.clone()),
            Value::DType(d) => Key::Path(format!("{d}").into()),
            Value::Device(d) => Key::Path(format!("{d:?}").into()),
            Value::Range(a, b, c) => Key::Tuple(vec![Key::Int(*a), Key::Int(*b), Key::Int(*c)]),
            Value::List(_) | Value::Dict(_) | Value::Set(_) => return None,
            other => Key::Id(other.identity()?),
        })
    }
}

/// What kind of mapping a dict is, which decides how missing keys and `repr` behave.
#[derive(Debug, Clone)]
pub enum DictKind {
    /// A plain dict (or an `OrderedDict`, which behaves the same for memory).
    Plain,
    /// `OrderedDict`, shown as such.
    Ordered,
    /// `defaultdict(factory)`.
    Default(Value),
    /// `Counter`: missing keys read as 0.
    Counter,
}

/// The entries of a dict or set, in insertion order.
#[derive(Debug)]
pub struct Dict {
    entries: IndexMap<Key, (Value, Value)>,
    /// What kind of mapping this is.
    pub kind: DictKind,
}

/// A dict shared between the names that hold it.
pub type DictRef = Rc<RefCell<Dict>>;

impl Dict {
    /// An empty mapping of `kind`.
    pub fn new(kind: DictKind) -> Dict {
        Dict {
            entries: IndexMap::new(),
            kind,
        }
    }

    /// A fresh shared dict.
    pub fn shared(kind: DictKind) -> DictRef {
        Rc::new(RefCell::new(Dict::new(kind)))
    }

    /// Python's type name.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            DictKind::Plain => "dict",
            DictKind::Ordered => "OrderedDict",
            DictKind::Default(_) => "defaultdict",
            DictKind::Counter => "Counter",
        }
    }

    pub(super) fn repr_brackets(&self) -> (String, &'static str) {
        match &self.kind {
            DictKind::Plain => ("{".into(), "}"),
            DictKind::Ordered => ("OrderedDict({".into(), "})"),
            DictKind::Default(f) => (format!("defaultdict({f}, {{"), "})"),
            DictKind::Counter => ("Counter({".into(), "})"),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &Key) -> Option<Value> {
        self.entries.get(key).map(|(_, v)| v.clone())
    }

    /// Stores `value` under `key` (written as `k`), keeping the position of an existing key;
    /// returns the value it replaces, to be dropped by the caller when Python would.
    pub fn insert(&mut self, key: Key, k: Value, value: Value) -> Option<Value> {
        match self.entries.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, value)),
            None => {
                self.entries.insert(key, (k, value));
                None
            }
        }
    }

    /// Removes `key`, keeping the order of the others, and returns its value.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        self.entries.shift_remove(key).map(|(_, v)| v)
    }

    /// Removes and returns the last entry (`popitem`).
    pub fn pop_last(&mut self) -> Option<(Value, Value)> {
        self.entries.pop().map(|(_, kv)| kv)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &Key) -> bool {
        self.entries.contains_key(key)
    }

    /// The keys as written, in order.
    pub fn keys(&self) -> Vec<Value> {
        self.entries.values().map(|(k, _)| k.clone()).collect()
    }

    /// The values, in order.
    pub fn values(&self) -> Vec<Value> {
        self.entries.values().map(|(_, v)| v.clone()).collect()
    }

    /// The entries, in order.
    pub fn items(&self) -> Vec<(Value, Value)> {
        self.entries.values().cloned().collect()
    }

    /// Takes every entry out, to be dropped by the caller with no borrow held.
    pub fn take(&mut self) -> Vec<(Value, Value)> {
        self.entries.drain(..).map(|(_, kv)| kv).collect()
    }
}
