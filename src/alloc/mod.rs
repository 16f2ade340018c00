//! The caching allocator: PyTorch's CUDA caching allocator rules and statistics, one instance per
//! runtime, every allocation tagged with its purpose, scenario location and stack.
//!
//! The rules are those of `c10/cuda/CUDACachingAllocator.cpp` with its default configuration
//! (see `docs/allocator.md`): sizes round up to 512 bytes; requests of at most 1 MiB come from
//! the small pool, carved out of 2 MiB segments; larger ones from the large pool, out of 20 MiB
//! segments below 10 MiB and otherwise out of a segment of the size rounded up to 2 MiB; the
//! smallest cached block that fits is used and split when enough remains; freed blocks merge
//! with free neighbours; a failed device allocation releases the cache and retries once before
//! raising out-of-memory.
//!
//! This file holds the size rules and the allocator's request path; segments (device
//! allocation, merging, garbage collection, release, out-of-memory) are in `segments`, and
//! [`LocationGuard`] in `guard`.
//!
//! ```
//! use leakharness::alloc::{CachingAllocator, Purpose};
//! use leakharness::device::MetaDevice;
//!
//! let mut a = CachingAllocator::new(Box::new(MetaDevice::new(80 << 30).unwrap()));
//! let x = a.allocate(4, Purpose::UserTensor).unwrap(); // one f32
//! assert_eq!(a.memory_allocated(), 512);
//! assert_eq!(a.memory_reserved(), 2 << 20);
//! a.free(x.id).unwrap();
//! a.empty_cache().unwrap();
//! assert_eq!(a.memory_reserved(), 0);
//! ```

mod bins;
mod config;
mod expandable;
mod frames;
mod guard;
mod history;
mod pystack;
mod segments;
mod stacks;
mod stats;
mod summary;
mod tag;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

pub use crate::base::{format_size, AllocError, BlockId, OutOfMemory};
pub use config::{AllocatorConfig, ConfigError};
pub use guard::LocationGuard;
pub use history::{BlockInfo, BlockState, Event, EventKind, History, Place, SegmentInfo, Snapshot};
pub use pystack::{PyFrame, PyStackId, PyStackTable};
pub use stacks::{Frame, StackCapture, StackId, StackTable, Unwinder};
pub use stats::{MemoryStats, Pool, Stat, StatArray};
pub use summary::memory_summary;
pub use tag::{Location, Purpose, Tag};

use crate::base::DeviceError;
use crate::device::{Backend, DeviceMemory, DevicePtr, MemInfo};
use bins::{FreeBins, FreeKey};

/// Every size is rounded up to a multiple of this (kMinBlockSize).
pub const MIN_BLOCK_SIZE: u64 = 512;
/// Largest request served by the small pool (kSmallSize).
pub const SMALL_SIZE: u64 = 1 << 20;
/// Segment size of the small pool (kSmallBuffer).
pub const SMALL_BUFFER: u64 = 2 << 20;
/// Segment size for large requests under [`MIN_LARGE_ALLOC`] (kLargeBuffer).
pub const LARGE_BUFFER: u64 = 20 << 20;
/// Large requests from this size on get a segment of their own size (kMinLargeAlloc).
pub const MIN_LARGE_ALLOC: u64 = 10 << 20;
/// Larger segments are rounded up to a multiple of this (kRoundLarge).
pub const ROUND_LARGE: u64 = 2 << 20;

/// Default number of events the history keeps.
pub const DEFAULT_HISTORY: usize = 100_000;

/// The size a request is rounded up to (`round_size`), or `None` when that overflows.
///
/// ```
/// use leakharness::alloc::round_size;
/// assert_eq!(round_size(1), Some(512));
/// assert_eq!(round_size(513), Some(1024));
/// ```
pub fn round_size(size: u64) -> Option<u64> {
    if size < MIN_BLOCK_SIZE {
        Some(MIN_BLOCK_SIZE)
    } else {
        size.checked_next_multiple_of(MIN_BLOCK_SIZE)
    }
}

/// The pool a rounded size is served from.
pub fn pool_for(size: u64) -> Pool {
    if size <= SMALL_SIZE {
        Pool::Small
    } else {
        Pool::Large
    }
}

/// The size of the segment allocated for a rounded request no cached block can serve
/// (`get_allocation_size`), or `None` when that overflows.
///
/// ```
/// use leakharness::alloc::allocation_size;
/// assert_eq!(allocation_size(512), Some(2 << 20));
/// assert_eq!(allocation_size(1_200_128), Some(20 << 20));
/// assert_eq!(allocation_size(12 << 20), Some(12 << 20));
/// ```
pub fn allocation_size(size: u64) -> Option<u64> {
    if size <= SMALL_SIZE {
        Some(SMALL_BUFFER)
    } else if size < MIN_LARGE_ALLOC {
        Some(LARGE_BUFFER)
    } else {
        size.checked_next_multiple_of(ROUND_LARGE)
    }
}

/// Whether a free block of `block_size` serving a request of `size` is split (`should_split`):
/// in the small pool when at least 512 bytes remain, in the large pool when more than 1 MiB do.
pub fn should_split(pool: Pool, block_size: u64, size: u64) -> bool {
    let remaining = block_size - size;
    match pool {
        Pool::Small => remaining >= MIN_BLOCK_SIZE,
        Pool::Large => remaining > SMALL_SIZE,
    }
}

/// A block handed out by [`CachingAllocator::allocate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// Handle to give back to [`CachingAllocator::free`].
    pub id: BlockId,
    /// Device address of the block.
    pub ptr: DevicePtr,
    /// Size after rounding: what `memory_allocated()` counts.
    pub size: u64,
    /// Size asked for.
    pub requested: u64,
}

#[derive(Debug, Clone)]
struct Block {
    segment: u64,
    /// Its segment's address, kept here so that handing the block out needs no segment lookup.
    base: DevicePtr,
    offset: u64,
    size: u64,
    requested: u64,
    allocated: bool,
    pool: Pool,
    prev: Option<u32>,
    next: Option<u32>,
    tag: Option<Tag>,
    /// Its pool's count of free-block searches when it last became free (`gc_count_base`):
    /// how long a cached block has gone unused, for `garbage_collection_threshold`.
    gc_base: u64,
    /// Whether pages back it. Always true outside expandable segments; an unmapped block is
    /// address space of an expandable segment, whole pages, in neither pool's free bins.
    mapped: bool,
    /// Whether it lies in an expandable segment.
    expandable: bool,
    /// Whether the slot holds a block; false once the block merged into a neighbour or its
    /// segment went back, until the slot is reused. A dead slot is never allocated.
    live: bool,
}

impl Block {
    fn is_split(&self) -> bool {
        self.prev.is_some() || self.next.is_some()
    }
}

#[derive(Debug, Clone)]
struct Segment {
    ptr: DevicePtr,
    size: u64,
    pool: Pool,
    first: u32,
    /// The statement whose request opened it, for the fragmentation report.
    opened_by: Option<Arc<Location>>,
    /// For an expandable segment, the size of the pages it maps; `size` is then its reserved
    /// address space, of which only the mapped pages count as reserved memory.
    page: Option<u64>,
}

/// A caching allocator over one device. Not shared between threads: each runtime owns one.
pub struct CachingAllocator {
    device: Box<dyn DeviceMemory>,
    /// Block slots. A slot is reused rather than set to `None` when its block goes: on the
    /// cached path a block is written and retired once per alloc + free, and moving a whole
    /// `Option<Block>` in and out of a slot stalled on reading back what was just written.
    blocks: Vec<Block>,
    generations: Vec<u32>,
    vacant: Vec<u32>,
    segments: BTreeMap<u64, Segment>,
    next_segment: u64,
    free_small: FreeBins,
    free_large: FreeBins,
    /// Unmapped blocks of expandable segments per pool, in address order (PyTorch's
    /// `BlockPool::unmapped`): (segment, offset, slot).
    unmapped: [BTreeSet<(u64, u64, u32)>; 2],
    /// Free-block searches per pool (`get_free_blocks_call_count`), counted only while garbage
    /// collection is on, as PyTorch counts them.
    searches: [u64; 2],
    config: AllocatorConfig,
    stats: MemoryStats,
    limit: Option<u64>,
    capture: StackCapture,
    stacks: StackTable,
    py_stacks: PyStackTable,
    #[cfg(feature = "planted-bugs")]
    planted_bug: Option<crate::base::PlantedBug>,
    history: History,
    location: Option<Arc<Location>>,
    epoch: Instant,
}

impl std::fmt::Debug for CachingAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingAllocator")
            .field("device", &self.device.name())
            .field("allocated", &self.memory_allocated())
            .field("reserved", &self.memory_reserved())
            .finish_non_exhaustive()
    }
}

impl CachingAllocator {
    /// An allocator over `device`, capturing 32-frame stacks and keeping the last
    /// [`DEFAULT_HISTORY`] events.
    pub fn new(device: Box<dyn DeviceMemory>) -> Self {
        CachingAllocator {
            device,
            blocks: Vec::new(),
            generations: Vec::new(),
            vacant: Vec::new(),
            segments: BTreeMap::new(),
            next_segment: 0,
            free_small: FreeBins::default(),
            free_large: FreeBins::default(),
            unmapped: [BTreeSet::new(), BTreeSet::new()],
            searches: [0; 2],
            config: AllocatorConfig::default(),
            stats: MemoryStats::default(),
            limit: None,
            capture: StackCapture::default(),
            stacks: StackTable::default(),
            py_stacks: PyStackTable::default(),
            history: History::new(DEFAULT_HISTORY),
            location: None,
            epoch: Instant::now(),
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// Switches a deliberate bug on for this allocator (see [`PlantedBug`](crate::base::PlantedBug)).
    #[cfg(feature = "planted-bugs")]
    pub fn set_planted_bug(&mut self, bug: Option<crate::base::PlantedBug>) {
        self.planted_bug = bug;
    }

    /// Sets how stacks are captured from now on.
    pub fn set_stack_capture(&mut self, capture: StackCapture) {
        self.capture = capture;
    }

    /// Keeps at most `capacity` events from now on (dropping what is already recorded).
    pub fn set_history_capacity(&mut self, capacity: usize) {
        self.history = History::new(capacity);
    }

    /// The backend of the device.
    pub fn backend(&self) -> Backend {
        self.device.backend()
    }

    /// The device's description.
    pub fn device_name(&self) -> String {
        self.device.name()
    }

    /// Total and free memory of the device, as the driver (or simulation) reports them.
    pub fn mem_info(&self) -> Result<MemInfo, DeviceError> {
        self.device.mem_info()
    }

    /// Host address of device memory on the cpu backend.
    pub fn host_address(&self, ptr: DevicePtr) -> Option<*mut u8> {
        self.device.host_address(ptr)
    }

    /// The device, for backends that need more than segments (kernels on cuda).
    pub fn device(&self) -> &dyn DeviceMemory {
        &*self.device
    }

    /// Sets the scenario location that tags allocations from now on; returns the previous one.
    /// Prefer [`LocationGuard`], which puts the previous one back.
    pub fn set_location(&mut self, location: Option<Arc<Location>>) -> Option<Arc<Location>> {
        std::mem::replace(&mut self.location, location)
    }

    /// The scenario location allocations are tagged with now.
    pub fn location(&self) -> Option<&Arc<Location>> {
        self.location.as_ref()
    }

    /// Follows `config` from now on, as `torch.cuda.memory._set_allocator_settings` does: blocks
    /// already cached keep their sizes, later requests are rounded, matched, split and
    /// released by the new options.
    pub fn set_config(&mut self, config: AllocatorConfig) {
        self.stats.max_split_size = config.max_split_size;
        self.config = config;
    }

    /// The options the allocator follows.
    pub fn config(&self) -> &AllocatorConfig {
        &self.config
    }

    /// Limits the bytes this allocator may reserve, like
    /// `torch.cuda.set_per_process_memory_fraction`; `None` lifts the limit. Cached segments are
    /// released if needed; a limit below what live blocks occupy is an error.
    pub fn set_memory_limit(&mut self, limit: Option<u64>) -> Result<(), AllocError> {
        if let Some(limit) = limit {
            if self.memory_reserved() > limit {
                self.release_cached_segments()?;
            }
            if self.memory_reserved() > limit {
                return Err(AllocError::LimitBelowUsage {
                    limit,
                    in_use: self.memory_reserved(),
                });
            }
        }
        self.limit = limit;
        Ok(())
    }

    /// The limit set by [`set_memory_limit`](Self::set_memory_limit).
    pub fn memory_limit(&self) -> Option<u64> {
        self.limit
    }

    /// `torch.cuda.memory_allocated()`.
    pub fn memory_allocated(&self) -> u64 {
        self.stats.allocated_bytes.all.current as u64
    }

    /// `torch.cuda.memory_reserved()`.
    pub fn memory_reserved(&self) -> u64 {
        self.stats.reserved_bytes.all.current as u64
    }

    /// `torch.cuda.max_memory_allocated()`.
    pub fn max_memory_allocated(&self) -> u64 {
        self.stats.allocated_bytes.all.peak as u64
    }

    /// `torch.cuda.max_memory_reserved()`.
    pub fn max_memory_reserved(&self) -> u64 {
        self.stats.reserved_bytes.all.peak as u64
    }

    /// All statistics (`torch.cuda.memory_stats()`).
    pub fn stats(&self) -> &MemoryStats {
        &self.stats
    }

    /// `torch.cuda.reset_peak_memory_stats()`.
    pub fn reset_peak_memory_stats(&mut self) {
        self.stats.reset_peak();
    }

    /// `torch.cuda.memory_summary()`.
    pub fn memory_summary(&self, abbreviated: bool) -> String {
        memory_summary(&self.stats, 0, abbreviated)
    }

    /// The event history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The interned scenario call stacks that [`Location::stack`] ids refer to.
    pub fn py_stacks(&self) -> &PyStackTable {
        &self.py_stacks
    }

    /// The scenario call stacks, for the interpreter to intern the stack of each statement.
    pub fn py_stacks_mut(&mut self) -> &mut PyStackTable {
        &mut self.py_stacks
    }

    /// The interned stacks, for symbolizing.
    pub fn stacks(&mut self) -> &mut StackTable {
        &mut self.stacks
    }

    /// Allocates `requested` bytes for `purpose`, tagged with the current location and stack.
    pub fn allocate(&mut self, requested: u64, purpose: Purpose) -> Result<Allocation, AllocError> {
        if requested == 0 {
            return Err(AllocError::ZeroSize);
        }
        // Built only on the error path: constructing and dropping it every call showed in the
        // cached path's profile.
        let too_large = || AllocError::TooLarge { requested };
        let size = self.config.round_size(requested).ok_or_else(too_large)?;
        let alloc_size = allocation_size(size).ok_or_else(too_large)?;
        let pool = pool_for(size);
        let stack = self.capture.enabled.then(|| {
            self.stacks
                .capture(self.capture.max_frames, self.capture.unwinder)
        });

        let idx = match self.take_free_block(pool, size) {
            Some(idx) => idx,
            None => {
                if self.gc_enabled() {
                    self.garbage_collect()?;
                }
                self.alloc_segment_with_retry(pool, size, alloc_size)?
            }
        };

        let block = self.block(idx);
        let already_split = block.is_split();
        let (segment, base, offset, block_size) =
            (block.segment, block.base, block.offset, block.size);
        // PyTorch leaves expandable segments out of the inactive-split statistics: their free
        // pages can always be unmapped, so a free split block there is not stranded.
        let expandable = block.expandable;
        if self.should_split(pool, block_size, size) {
            let (rem_offset, rem_size, rem_next) = (offset + size, block_size - size, block.next);
            // The remainder is written whole, its age included, and goes into the bins under
            // the key known here, instead of being read back as `insert_free` does.
            let rem = self.insert_block(Block {
                segment,
                base,
                offset: rem_offset,
                size: rem_size,
                requested: 0,
                allocated: false,
                pool,
                prev: Some(idx),
                next: rem_next,
                tag: None,
                gc_base: self.searches[pool as usize],
                mapped: true,
                expandable,
                live: true,
            });
            if let Some(n) = rem_next {
                self.block_mut(n).prev = Some(rem);
            }
            let b = self.block_mut(idx);
            b.next = Some(rem);
            b.size = size;
            self.free_set(pool)
                .insert((rem_size, segment, rem_offset, rem));
            if !expandable && already_split {
                // An inactive split block shrinks by the bytes handed out.
                self.stats.inactive_split_bytes.decrease(pool, size);
            } else if !expandable {
                // A whole segment becomes split: its remainder is a new inactive split block.
                self.stats.inactive_split_bytes.increase(pool, rem_size);
                self.stats.inactive_split.increase(pool, 1);
            }
        } else if already_split && !expandable {
            // An inactive split block becomes active whole.
            self.stats.inactive_split_bytes.decrease(pool, block_size);
            self.stats.inactive_split.decrease(pool, 1);
        }

        let location = self.location.clone();
        let b = self.block_mut(idx);
        b.allocated = true;
        b.requested = requested;
        b.tag = Some(Tag {
            purpose,
            location,
            stack,
        });
        let size = b.size;
        self.stats.allocation.increase(pool, 1);
        self.stats.allocated_bytes.increase(pool, size);
        self.stats.active.increase(pool, 1);
        self.stats.active_bytes.increase(pool, size);
        self.stats.requested_bytes.increase(pool, requested);
        if size >= self.config.max_split_size() {
            self.stats.oversize_allocations.increase(1);
        }
        let place = Place { segment, offset };
        self.record(
            EventKind::Alloc {
                place,
                size,
                requested,
                purpose,
            },
            stack,
        );
        let ptr = base.offset(offset);
        Ok(Allocation {
            id: BlockId {
                index: idx,
                generation: self.generations[idx as usize],
            },
            ptr,
            size,
            requested,
        })
    }

    /// Gives a block back. It stays cached in its segment until [`empty_cache`](Self::empty_cache).
    pub fn free(&mut self, id: BlockId) -> Result<(), AllocError> {
        let idx = self.live_index(id)?;
        let block = self.block_mut(idx);
        block.allocated = false;
        block.tag = None;
        let (pool, original, requested) = (block.pool, block.size, block.requested);
        let place = Place {
            segment: block.segment,
            offset: block.offset,
        };
        block.requested = 0;
        self.stats.allocation.decrease(pool, 1);
        self.stats.allocated_bytes.decrease(pool, original);
        if original >= self.config.max_split_size() {
            self.stats.oversize_allocations.decrease(1);
        }

        let mut net_blocks: i64 = 0;
        let mut net_bytes: i64 = 0;
        for neighbour in [self.block(idx).prev, self.block(idx).next]
            .into_iter()
            .flatten()
        {
            if let Some(subsumed) = self.try_merge(idx, neighbour) {
                net_blocks -= 1;
                net_bytes -= subsumed as i64;
            }
        }
        self.insert_free(idx);
        let block = self.block(idx);
        if block.is_split() {
            net_blocks += 1;
            net_bytes += block.size as i64;
        }
        if !block.expandable {
            self.stats.inactive_split.change(pool, net_blocks);
            self.stats.inactive_split_bytes.change(pool, net_bytes);
        }
        self.stats.active.decrease(pool, 1);
        self.stats.active_bytes.decrease(pool, original);
        self.stats.requested_bytes.decrease(pool, requested);
        self.generations[idx as usize] = self.generations[idx as usize].wrapping_add(1);
        self.record(
            EventKind::Free {
                place,
                size: original,
            },
            None,
        );
        Ok(())
    }

    /// Changes the purpose of a live block (a temporary that autograd saved becomes a saved
    /// activation; a tensor taken over as `.grad` becomes a gradient).
    pub fn set_purpose(&mut self, id: BlockId, purpose: Purpose) -> Result<(), AllocError> {
        let idx = self.live_index(id)?;
        let block = self.block_mut(idx);
        let place = Place {
            segment: block.segment,
            offset: block.offset,
        };
        match block.tag.as_mut() {
            Some(tag) if tag.purpose != purpose => tag.purpose = purpose,
            _ => return Ok(()),
        }
        self.record(EventKind::SetPurpose { place, purpose }, None);
        Ok(())
    }

    /// The size of a live block, as `memory_allocated()` counts it.
    pub fn block_size(&self, id: BlockId) -> Option<u64> {
        let idx = self.live_index(id).ok()?;
        Some(self.block(idx).size)
    }

    /// The tag of a live block.
    pub fn tag(&self, id: BlockId) -> Option<&Tag> {
        let idx = self.live_index(id).ok()?;
        self.block(idx).tag.as_ref()
    }

    /// `torch.cuda.empty_cache()`: returns every wholly free segment to the device.
    pub fn empty_cache(&mut self) -> Result<u64, AllocError> {
        self.stats.num_sync_all_streams += 1;
        let released = self.release_cached_segments()?;
        self.record(EventKind::EmptyCache { released }, None);
        Ok(released)
    }

    /// Every segment and block now, with tags. An expandable segment is listed once per
    /// run of mapped pages, as PyTorch's `snapshot()` lists it; unmapped address space is not
    /// listed.
    pub fn snapshot(&self) -> Snapshot {
        let segments = self
            .segments
            .iter()
            .flat_map(|(&number, seg)| {
                let mut runs: Vec<Vec<BlockInfo>> = Vec::new();
                let mut run = Vec::new();
                let mut cursor = Some(seg.first);
                while let Some(i) = cursor {
                    let b = self.block(i);
                    cursor = b.next;
                    if !b.mapped {
                        if !run.is_empty() {
                            runs.push(std::mem::take(&mut run));
                        }
                        continue;
                    }
                    run.push(BlockInfo {
                        offset: b.offset,
                        address: seg.ptr.offset(b.offset),
                        size: b.size,
                        requested: b.requested,
                        state: if b.allocated {
                            BlockState::ActiveAllocated
                        } else {
                            BlockState::Inactive
                        },
                        tag: b.tag.clone(),
                    });
                }
                if !run.is_empty() {
                    runs.push(run);
                }
                runs.into_iter().map(move |blocks| SegmentInfo {
                    segment: number,
                    address: blocks[0].address,
                    size: blocks.iter().map(|b| b.size).sum(),
                    pool: seg.pool,
                    opened_by: seg.opened_by.clone(),
                    allocated: blocks
                        .iter()
                        .filter(|b| b.state == BlockState::ActiveAllocated)
                        .map(|b| b.size)
                        .sum(),
                    expandable: seg.page.is_some(),
                    blocks,
                })
            })
            .collect();
        Snapshot { segments }
    }

    /// Records an event at the current location. The location is cloned only for a kept
    /// event: each clone of an `Arc` is an atomic increment and its drop a decrement.
    fn record(&mut self, kind: EventKind, stack: Option<StackId>) {
        if self.history.is_enabled() {
            let t = self.epoch.elapsed().as_nanos() as u64;
            self.history.record(t, kind, stack, self.location.clone());
        } else {
            self.history.count();
        }
    }

    fn block(&self, idx: u32) -> &Block {
        let block = &self.blocks[idx as usize];
        debug_assert!(block.live, "block index refers to a live slot");
        block
    }

    fn block_mut(&mut self, idx: u32) -> &mut Block {
        let block = &mut self.blocks[idx as usize];
        debug_assert!(block.live, "block index refers to a live slot");
        block
    }

    fn live_index(&self, id: BlockId) -> Result<u32, AllocError> {
        // A dead slot is never allocated, so `allocated` alone tells a live block.
        let ok = self.generations.get(id.index as usize) == Some(&id.generation)
            && matches!(self.blocks.get(id.index as usize), Some(b) if b.allocated);
        if ok {
            Ok(id.index)
        } else {
            Err(AllocError::InvalidBlock(id))
        }
    }

    /// Puts `block` in a slot. Inlined so that the block is not passed by reference: read
    /// back right after the caller built it with narrower stores, it stalled on store
    /// forwarding (the most expensive instruction of the cached path in `perf annotate`).
    #[inline(always)]
    fn insert_block(&mut self, block: Block) -> u32 {
        debug_assert!(block.live);
        match self.vacant.pop() {
            Some(i) => {
                debug_assert!(!self.blocks[i as usize].live, "a vacant slot is dead");
                self.blocks[i as usize] = block;
                i
            }
            None => {
                self.blocks.push(block);
                self.generations.push(0);
                (self.blocks.len() - 1) as u32
            }
        }
    }

    /// Retires a block's slot: only its flags change, and the tag goes (a free block's is
    /// already gone), so nothing is moved.
    #[inline(always)]
    fn remove_block(&mut self, idx: u32) {
        let block = &mut self.blocks[idx as usize];
        block.live = false;
        block.allocated = false;
        block.tag = None;
        self.generations[idx as usize] = self.generations[idx as usize].wrapping_add(1);
        self.vacant.push(idx);
    }

    #[inline(always)]
    fn free_key(&self, idx: u32) -> (Pool, FreeKey) {
        let b = self.block(idx);
        (b.pool, (b.size, b.segment, b.offset, idx))
    }

    fn free_set(&mut self, pool: Pool) -> &mut FreeBins {
        match pool {
            Pool::Small => &mut self.free_small,
            Pool::Large => &mut self.free_large,
        }
    }

    #[inline(always)]
    fn insert_free(&mut self, idx: u32) {
        let (pool, key) = self.free_key(idx);
        let searches = self.searches[pool as usize];
        self.block_mut(idx).gc_base = searches;
        self.free_set(pool).insert(key);
    }

    #[inline(always)]
    fn remove_free(&mut self, idx: u32) {
        let (pool, key) = self.free_key(idx);
        let removed = self.free_set(pool).remove(&key);
        debug_assert!(removed, "a free block is in its pool's bins");
    }

    /// Best fit (`get_free_block`): the smallest free block of at least `size`, lowest
    /// position first, unless `max_split_size` rules it out: an oversize block serves neither
    /// a smaller request nor one it exceeds by `max_non_split_rounding` or more.
    fn take_free_block(&mut self, pool: Pool, size: u64) -> Option<u32> {
        if self.gc_enabled() {
            self.searches[pool as usize] += 1;
        }
        let found = self.bins(pool).find(size)?;
        let mut key = self.bins(pool).key(found);
        let expandable = self.block(key.3).expandable;
        if expandable {
            key = self.expandable_fit(pool, key)?;
        }
        let max_split = self.config.max_split_size();
        if size < max_split && key.0 >= max_split {
            return None;
        }
        if size >= max_split && key.0 >= size.saturating_add(self.config.max_non_split_rounding()) {
            return None;
        }
        if expandable {
            self.free_set(pool).remove(&key);
        } else {
            // The block found is the one taken: no second search.
            self.free_set(pool).remove_at(found);
        }
        Some(key.3)
    }

    /// `should_split`: in the small pool, or in either with `expandable_segments` on, when at
    /// least 512 bytes remain; otherwise in the large pool when more than 1 MiB remains and
    /// the request is under `max_split_size`.
    fn should_split(&self, pool: Pool, block_size: u64, size: u64) -> bool {
        if self.config.expandable_segments {
            return block_size - size >= MIN_BLOCK_SIZE;
        }
        should_split(pool, block_size, size)
            && (pool == Pool::Small || size < self.config.max_split_size())
    }

    fn bins(&self, pool: Pool) -> &FreeBins {
        match pool {
            Pool::Small => &self.free_small,
            Pool::Large => &self.free_large,
        }
    }
}

impl Drop for CachingAllocator {
    fn drop(&mut self) {
        // Segments go back to the device even when blocks are still live: the runtime that owned
        // them is gone, and a leak must not outlive the test that found it.
        let segments = std::mem::take(&mut self.segments);
        for seg in segments.values() {
            let _ = match seg.page {
                Some(_) => self.device.unreserve(seg.ptr, seg.size),
                None => self.device.free_segment(seg.ptr, seg.size),
            };
        }
    }
}
