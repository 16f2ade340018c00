//! Deliberate runtime bugs, named here so that every layer that plants one can refer to it.

/// Deliberate runtime bugs that the property tests (`tests/planted_bugs.rs`) must catch. Each
/// is a small `#[cfg(feature = "planted-bugs")]` branch at the place of the behaviour it
/// breaks, active only on a runtime created with it in `RuntimeOptions::planted_bug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlantedBug {
    /// `backward()` never releases the tensors saved for backward.
    BackwardKeepsSaved,
    /// `backward(retain_graph=True)` releases the saved tensors anyway.
    RetainGraphIgnored,
    /// Operations under `torch.no_grad()` still record autograd nodes.
    NoGradRecords,
    /// `zero_grad(set_to_none=True)` zeroes the gradients instead of dropping them.
    ZeroGradKeepsGrads,
    /// The allocator never merges a freed block with its free neighbours.
    NeverCoalesces,
    /// `empty_cache()` keeps one wholly free segment.
    EmptyCacheKeepsSegment,
    /// `detach()` returns the tensor itself, graph and all.
    DetachKeepsGraph,
    /// `del a, b` unbinds only the first name.
    DelFirstNameOnly,
    /// The cyclic collector finds a cycle of dicts unreachable but never frees it.
    CollectorMissesDictCycles,
    /// An exception stays on the interpreter's stack of handled exceptions after its `except`
    /// block, and with it its traceback's frames.
    HandledExceptionKept,
    /// A module hook's handle does nothing on `remove()`: the hook stays registered, with
    /// what its closure captures.
    HookRemoveKeepsHook,
    /// With `expandable_segments:True`, `empty_cache()` rounds the end of a free block down
    /// from its last byte instead of its end, so a free block that ends on a page boundary
    /// keeps its last page mapped.
    UnmapKeepsLastPage,
}

impl PlantedBug {
    /// Every planted bug.
    pub const ALL: [PlantedBug; 12] = [
        PlantedBug::BackwardKeepsSaved,
        PlantedBug::RetainGraphIgnored,
        PlantedBug::NoGradRecords,
        PlantedBug::ZeroGradKeepsGrads,
        PlantedBug::NeverCoalesces,
        PlantedBug::EmptyCacheKeepsSegment,
        PlantedBug::DetachKeepsGraph,
        PlantedBug::DelFirstNameOnly,
        PlantedBug::CollectorMissesDictCycles,
        PlantedBug::HandledExceptionKept,
        PlantedBug::HookRemoveKeepsHook,
        PlantedBug::UnmapKeepsLastPage,
    ];
}
