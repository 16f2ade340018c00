//! What every allocation is tagged with: why it exists and where it was made.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::stacks::StackId;

/// What a block of device memory is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// A model parameter.
    Parameter,
    /// A parameter's `.grad`.
    Gradient,
    /// A tensor an autograd node saved for backward.
    SavedActivation,
    /// Optimizer state (momentum buffers, Adam moments).
    OptimizerState,
    /// An intermediate result nothing has kept yet.
    Temporary,
    /// A tensor the program created itself (randn, zeros, ...).
    UserTensor,
    /// A cuBLAS or cuBLASLt workspace, which PyTorch takes from its caching allocator at a
    /// thread's first matrix product and keeps for the life of the process.
    Workspace,
}

impl Purpose {
    /// All purposes, in report order.
    pub const ALL: [Purpose; 7] = [
        Purpose::Parameter,
        Purpose::Gradient,
        Purpose::SavedActivation,
        Purpose::OptimizerState,
        Purpose::Temporary,
        Purpose::UserTensor,
        Purpose::Workspace,
    ];

    /// The kebab-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Parameter => "parameter",
            Purpose::Gradient => "gradient",
            Purpose::SavedActivation => "saved-activation",
            Purpose::OptimizerState => "optimizer-state",
            Purpose::Temporary => "temporary",
            Purpose::UserTensor => "user-tensor",
            Purpose::Workspace => "workspace",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where in a scenario an allocation was made: the statement, and the iteration of each loop
/// around it (outermost first), so a leak can say "allocated at x.py:11 in iteration 7".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    /// The scenario file.
    pub file: Arc<str>,
    /// 1-based line of the statement.
    pub line: u32,
    /// 1-based column of the statement.
    pub column: u32,
    /// Iteration (0-based) of each enclosing loop, outermost first.
    pub iterations: Vec<u32>,
    /// The scenario call stack of the statement (this statement, the call that ran its
    /// function, ...), interned in the allocator's [`PyStackTable`](super::PyStackTable).
    #[serde(skip)]
    pub stack: Option<super::PyStackId>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)?;
        if !self.iterations.is_empty() {
            let its: Vec<String> = self.iterations.iter().map(u32::to_string).collect();
            write!(f, " in iteration {}", its.join("/"))?;
        }
        Ok(())
    }
}

/// The tag of one allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    /// What the memory is for.
    pub purpose: Purpose,
    /// The scenario statement running when it was allocated, if any.
    pub location: Option<Arc<Location>>,
    /// The Rust stack that allocated it, when capture is on.
    pub stack: Option<StackId>,
}
