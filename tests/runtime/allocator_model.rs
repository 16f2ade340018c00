//! The caching allocator against a reference model (proptest-state-machine): random sequences
//! of allocations, frees, empty_cache and limit changes, with the allocator's invariants checked
//! after every step.

use std::collections::BTreeMap;

use leakharness::alloc::{
    round_size, AllocError, BlockState, CachingAllocator, Purpose, MIN_BLOCK_SIZE, SMALL_SIZE,
};
use leakharness::device::MetaDevice;
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

const MIB: u64 = 1 << 20;
/// Small enough that random programs run into out-of-memory now and then.
const CAPACITY: u64 = 160 * MIB;

#[derive(Debug, Clone)]
enum Transition {
    Alloc(u64),
    Free(usize),
    EmptyCache,
    SetLimit(Option<u64>),
}

/// The reference: which allocation requests were made and which of them were freed. Whether a
/// request succeeds depends on fragmentation, which only the allocator knows; the test accepts
/// an out-of-memory only when the allocator's own state proves it was unavoidable.
#[derive(Debug, Clone, Default)]
struct Model {
    requests: Vec<u64>,
    freed: Vec<bool>,
}

impl Model {
    fn live_slots(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.requests.len()).filter(|&i| !self.freed[i])
    }
}

fn request_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 1..=4096u64,
        2 => 4097..=SMALL_SIZE,
        1 => Just(SMALL_SIZE),
        1 => Just(SMALL_SIZE + 1),
        2 => (SMALL_SIZE + 1)..(10 * MIB),
        1 => Just(10 * MIB - 1),
        1 => Just(10 * MIB),
        1 => (10 * MIB)..(48 * MIB),
    ]
}

struct AllocatorMachine;

impl ReferenceStateMachine for AllocatorMachine {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let live: Vec<usize> = state.live_slots().collect();
        let limit = prop_oneof![Just(None), (8 * MIB..=CAPACITY).prop_map(Some)];
        if live.is_empty() {
            prop_oneof![
                6 => request_size().prop_map(Transition::Alloc),
                1 => Just(Transition::EmptyCache),
                1 => limit.prop_map(Transition::SetLimit),
            ]
            .boxed()
        } else {
            prop_oneof![
                6 => request_size().prop_map(Transition::Alloc),
                5 => proptest::sample::select(live).prop_map(Transition::Free),
                1 => Just(Transition::EmptyCache),
                1 => limit.prop_map(Transition::SetLimit),
            ]
            .boxed()
        }
    }

    fn apply(mut state: Model, t: &Transition) -> Model {
        match t {
            Transition::Alloc(size) => {
                state.requests.push(*size);
                state.freed.push(false);
            }
            Transition::Free(slot) => state.freed[*slot] = true,
            Transition::EmptyCache | Transition::SetLimit(_) => {}
        }
        state
    }

    fn preconditions(state: &Model, t: &Transition) -> bool {
        match t {
            Transition::Free(slot) => *slot < state.requests.len() && !state.freed[*slot],
            _ => true,
        }
    }
}

struct Sut {
    alloc: CachingAllocator,
    /// Handle per request slot; `None` for requests that ran out of memory.
    handles: BTreeMap<usize, Option<leakharness::alloc::Allocation>>,
}

/// The address of the cached block PyTorch's `get_free_block` picks for `size`, worked out from
/// the snapshot: the smallest inactive block of the request's pool that is large enough, the
/// lowest (segment, offset) among equal sizes. `None` when a new segment is needed.
fn best_fit(a: &CachingAllocator, size: u64) -> Option<u64> {
    let rounded = round_size(size).unwrap();
    let pool = leakharness::alloc::pool_for(rounded);
    a.snapshot()
        .segments
        .iter()
        .filter(|s| s.pool == pool)
        .flat_map(|s| s.blocks.iter().map(move |b| (b, s.segment)))
        .filter(|(b, _)| b.state == BlockState::Inactive && b.size >= rounded)
        .min_by_key(|(b, segment)| (b.size, *segment, b.offset))
        .map(|(b, _)| b.address.0)
}

/// An out-of-memory is legitimate only if no cached block of the request's pool could hold it
/// and a new segment would not fit under the capacity or limit.
fn assert_oom_was_unavoidable(a: &CachingAllocator, size: u64) {
    let rounded = round_size(size).unwrap();
    let pool = leakharness::alloc::pool_for(rounded);
    let snap = a.snapshot();
    let fits = snap
        .segments
        .iter()
        .filter(|s| s.pool == pool)
        .flat_map(|s| &s.blocks)
        .any(|b| b.state == BlockState::Inactive && b.size >= rounded);
    assert!(!fits, "OOM for {size} bytes although a cached block fits");
    let needed = leakharness::alloc::allocation_size(rounded).unwrap();
    let room = a.memory_limit().unwrap_or(CAPACITY).min(CAPACITY);
    assert!(
        a.memory_reserved() + needed > room,
        "OOM for {size} bytes with room to spare"
    );
    let whole_free = snap.segments.iter().filter(|s| s.allocated == 0).count();
    assert_eq!(whole_free, 0, "the cache is released before OOM is raised");
}

impl StateMachineTest for AllocatorMachine {
    type SystemUnderTest = Sut;
    type Reference = AllocatorMachine;

    fn init_test(_: &Model) -> Sut {
        let mut alloc = CachingAllocator::new(Box::new(MetaDevice::new(CAPACITY).unwrap()));
        alloc.set_stack_capture(leakharness::alloc::StackCapture {
            enabled: false,
            max_frames: 0,
            ..leakharness::alloc::StackCapture::default()
        });
        Sut {
            alloc,
            handles: BTreeMap::new(),
        }
    }

    fn apply(mut sut: Sut, model: &Model, t: Transition) -> Sut {
        match t {
            Transition::Alloc(size) => {
                let slot = model.requests.len() - 1;
                let best = best_fit(&sut.alloc, size);
                match sut.alloc.allocate(size, Purpose::Temporary) {
                    Ok(a) => {
                        if let Some(address) = best {
                            assert_eq!(
                                a.ptr.0, address,
                                "{size} bytes: not the block PyTorch's best fit picks"
                            );
                        }
                        let rounded = round_size(size).unwrap();
                        // A block is handed out whole only when too little would remain to split.
                        let unsplit_limit = if rounded <= SMALL_SIZE {
                            MIN_BLOCK_SIZE
                        } else {
                            SMALL_SIZE + 1
                        };
                        assert!(
                            a.size >= rounded && a.size - rounded < unsplit_limit,
                            "{size} -> {}",
                            a.size
                        );
                        sut.handles.insert(slot, Some(a));
                    }
                    Err(AllocError::OutOfMemory(_)) => {
                        assert_oom_was_unavoidable(&sut.alloc, size);
                        sut.handles.insert(slot, None);
                    }
                    Err(e) => panic!("allocating {size} bytes: {e}"),
                }
            }
            Transition::Free(slot) => {
                if let Some(a) = sut.handles[&slot] {
                    sut.alloc.free(a.id).unwrap();
                }
            }
            Transition::EmptyCache => {
                sut.alloc.empty_cache().unwrap();
                assert!(sut
                    .alloc
                    .snapshot()
                    .segments
                    .iter()
                    .all(|s| s.allocated > 0));
            }
            Transition::SetLimit(limit) => match sut.alloc.set_memory_limit(limit) {
                Ok(()) => {}
                Err(AllocError::LimitBelowUsage { limit, in_use }) => {
                    assert!(in_use > limit);
                    assert!(sut
                        .alloc
                        .snapshot()
                        .segments
                        .iter()
                        .all(|s| s.allocated > 0));
                }
                Err(e) => panic!("setting limit {limit:?}: {e}"),
            },
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let a = &sut.alloc;
        let live: Vec<_> = model.live_slots().filter_map(|s| sut.handles[&s]).collect();
        let live_bytes: u64 = live.iter().map(|x| x.size).sum();
        let live_requested: u64 = live.iter().map(|x| x.requested).sum();
        assert_eq!(
            a.memory_allocated(),
            live_bytes,
            "allocated = sum of live block sizes"
        );
        let s = a.stats();
        assert_eq!(s.requested_bytes.all.current as u64, live_requested);
        assert_eq!(s.allocation.all.current as usize, live.len());
        assert_eq!(
            s.active_bytes.all, s.allocated_bytes.all,
            "no stream uses: active = allocated"
        );
        for arr in [
            &s.allocated_bytes,
            &s.reserved_bytes,
            &s.inactive_split_bytes,
            &s.segment,
        ] {
            assert_eq!(
                arr.all.current,
                arr.small_pool.current + arr.large_pool.current
            );
        }

        let snap = a.snapshot();
        let reserved: u64 = snap.segments.iter().map(|s| s.size).sum();
        assert_eq!(
            a.memory_reserved(),
            reserved,
            "reserved = sum of segment sizes"
        );
        let mut split_free = 0;
        let mut split_free_bytes = 0;
        let mut ranges = Vec::new();
        for seg in &snap.segments {
            let mut expected_offset = 0;
            for pair in seg.blocks.windows(2) {
                assert!(
                    !(pair[0].state == BlockState::Inactive
                        && pair[1].state == BlockState::Inactive),
                    "free neighbours left uncoalesced in segment {}",
                    seg.segment
                );
            }
            for b in &seg.blocks {
                assert_eq!(b.offset, expected_offset, "blocks tile their segment");
                expected_offset += b.size;
                if b.state == BlockState::Inactive && seg.blocks.len() > 1 {
                    split_free += 1;
                    split_free_bytes += b.size;
                }
                if b.state == BlockState::ActiveAllocated {
                    ranges.push((b.address.0, b.address.0 + b.size));
                }
            }
            assert_eq!(
                expected_offset, seg.size,
                "every block lies inside its segment"
            );
        }
        ranges.sort();
        for w in ranges.windows(2) {
            assert!(w[0].1 <= w[1].0, "live blocks overlap");
        }
        assert_eq!(s.inactive_split.all.current, split_free);
        assert_eq!(s.inactive_split_bytes.all.current as u64, split_free_bytes);
        if let Some(limit) = a.memory_limit() {
            assert!(a.memory_reserved() <= limit);
        }
    }

    fn teardown(mut sut: Sut, model: Model) {
        for slot in model.live_slots() {
            if let Some(a) = sut.handles[&slot] {
                sut.alloc.free(a.id).unwrap();
            }
        }
        sut.alloc.empty_cache().unwrap();
        assert_eq!(sut.alloc.memory_allocated(), 0);
        assert_eq!(sut.alloc.memory_reserved(), 0);
        let info = sut.alloc.mem_info().unwrap();
        assert_eq!(info.free, info.total);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn allocator_matches_reference_model(sequential 1..120 => AllocatorMachine);
}
