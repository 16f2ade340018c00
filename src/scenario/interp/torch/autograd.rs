//! `torch.autograd.*` and the tensor methods that run the autograd engine (`backward`,
//! `register_hook`); the grad-mode functions of `torch.*` are in `functions::TORCH`. Their handlers
//! (`src/scenario/interp/autograd.rs`) return Python exceptions as they are, since the engine
//! calls back into the program (hooks, custom Functions) and what those raise must reach the
//! program's `except` unchanged.

use super::super::autograd as engine;
use super::{entry, EngineMethodFn, Entry, Function, Run};

/// `torch.autograd.*` (the `Function` base class and `Variable` are in `stdlib`'s module list).
pub(super) const AUTOGRAD: &[Function] = &[
    entry("grad", Run::Python(engine::grad)),
    entry("backward", Run::Python(engine::backward_function)),
];

/// Tensor methods that run the engine.
pub(super) const METHODS: &[Entry<EngineMethodFn>] = &[
    entry("backward", engine::backward_method),
    entry("register_hook", engine::register_hook),
];
