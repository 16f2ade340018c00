//! Scenario call stacks, interned in a trie: a stack is its innermost frame's statement plus
//! the id of the stack that called it, so the interpreter names the stack of every statement
//! with one hash lookup (the caller's id is kept by the running frame) instead of walking its
//! frames, and each distinct stack is stored once.
//!
//! ```
//! use std::sync::Arc;
//! use leakharness::alloc::PyStackTable;
//!
//! let file: Arc<str> = "train.py".into();
//! let mut t = PyStackTable::default();
//! let call = t.intern(None, &file, 30, 5); // the call in the main loop
//! let inner = t.intern(Some(call), &file, 12, 9); // the statement in the function
//! assert_eq!(t.intern(Some(call), &file, 12, 9), inner, "one id per distinct stack");
//! let frames: Vec<String> = t.frames(inner).map(|f| f.to_string()).collect();
//! assert_eq!(frames, ["train.py:12:9", "train.py:30:5"]);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// An interned scenario call stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PyStackId(u32);

/// One frame of a scenario stack: the statement running in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PyFrame {
    /// The scenario file.
    pub file: Arc<str>,
    /// 1-based line of the statement.
    pub line: u32,
    /// 1-based column of the statement.
    pub column: u32,
}

impl fmt::Display for PyFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, Clone)]
struct Node {
    caller: Option<PyStackId>,
    frame: PyFrame,
}

/// The trie of scenario stacks seen by one runtime.
#[derive(Debug, Clone, Default)]
pub struct PyStackTable {
    nodes: Vec<Node>,
    index: HashMap<(Option<PyStackId>, Arc<str>, u32, u32), PyStackId>,
}

impl PyStackTable {
    /// The id of the stack whose innermost frame runs `file:line:column`, called from
    /// `caller` (`None` for module level). A known stack costs one hash lookup.
    pub fn intern(
        &mut self,
        caller: Option<PyStackId>,
        file: &Arc<str>,
        line: u32,
        column: u32,
    ) -> PyStackId {
        self.intern_key((caller, file.clone(), line, column))
    }

    fn intern_key(&mut self, key: (Option<PyStackId>, Arc<str>, u32, u32)) -> PyStackId {
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = PyStackId(u32::try_from(self.nodes.len()).expect("fewer than 2^32 stacks"));
        let (caller, file, line, column) = key.clone();
        self.nodes.push(Node {
            caller,
            frame: PyFrame { file, line, column },
        });
        self.index.insert(key, id);
        id
    }

    /// The frames of `id`, innermost first.
    pub fn frames(&self, id: PyStackId) -> impl Iterator<Item = &PyFrame> + '_ {
        std::iter::successors(self.nodes.get(id.0 as usize), |n| {
            n.caller.and_then(|c| self.nodes.get(c.0 as usize))
        })
        .map(|n| &n.frame)
    }

    /// Distinct stacks interned.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no stack was interned.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
