//! `expandable_segments:True`, each rule of `c10/cuda/CUDACachingAllocator.cpp` (commit 001074d)
//! pinned in exact bytes; docs/allocator.md lists the functions they come from.

use leakharness::alloc::{
    round_size, BlockState, CachingAllocator, EventKind, Pool, Purpose, SegmentInfo,
};
use leakharness::device::{CpuDevice, DeviceMemory, MetaDevice};
use proptest::prelude::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn with(conf: &str) -> CachingAllocator {
    let mut a = CachingAllocator::new(Box::new(MetaDevice::new(80 * GIB).unwrap()));
    a.set_config(conf.parse().unwrap());
    a
}

fn expandable() -> CachingAllocator {
    with("expandable_segments:True")
}

/// Each snapshot entry as (offset of its start in the segment, size), in MiB.
fn runs(a: &CachingAllocator) -> Vec<(u64, u64)> {
    a.snapshot()
        .segments
        .iter()
        .map(|s| (s.blocks[0].offset / MIB, s.size / MIB))
        .collect()
}

/// Blocks of a snapshot entry as (offset, size, allocated), sizes in bytes.
fn blocks(s: &SegmentInfo) -> Vec<(u64, u64, bool)> {
    s.blocks
        .iter()
        .map(|b| (b.offset, b.size, b.state == BlockState::ActiveAllocated))
        .collect()
}

#[test]
fn one_small_tensor_maps_one_2_mib_page_and_counts_no_segment() {
    let mut a = expandable();
    let x = a.allocate(4, Purpose::UserTensor).unwrap();
    assert_eq!(a.memory_allocated(), 512);
    assert_eq!(a.memory_reserved(), 2 * MIB);
    let s = a.stats();
    // map_block counts reserved bytes and a device allocation, never a segment; and
    // expandable blocks stay out of the inactive-split statistics (alloc_found_block).
    assert_eq!(s.segment.all.current, 0);
    assert_eq!(s.num_device_alloc, 1);
    assert_eq!(s.inactive_split.all.current, 0);
    assert_eq!(s.inactive_split_bytes.all.current, 0);
    let snap = a.snapshot();
    assert_eq!(snap.segments.len(), 1);
    assert!(snap.segments[0].expandable);
    assert_eq!(
        blocks(&snap.segments[0]),
        [(0, 512, true), (512, 2 * MIB - 512, false)]
    );
    a.free(x.id).unwrap();
    assert_eq!(a.stats().inactive_split_bytes.all.current, 0);
    assert_eq!(a.empty_cache().unwrap(), 2 * MIB);
    assert_eq!(a.memory_reserved(), 0);
    assert_eq!(a.stats().num_device_free, 1);
    assert!(a.snapshot().segments.is_empty());
}

#[test]
fn the_same_tensor_without_the_option_counts_a_segment_and_its_split_remainder() {
    let mut a = with("");
    a.allocate(4, Purpose::UserTensor).unwrap();
    let s = a.stats();
    assert_eq!(s.segment.all.current, 1);
    assert_eq!(s.inactive_split.all.current, 1);
    assert_eq!(s.inactive_split_bytes.all.current as u64, 2 * MIB - 512);
}

#[test]
fn a_larger_request_grows_the_segment_by_20_mib_pages_instead_of_opening_one() {
    let mut a = expandable();
    let x = a.allocate(3 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(a.memory_reserved(), 20 * MIB);
    // The 17 MiB free at the mapped end and one more 20 MiB page hold it, right after x.
    let y = a.allocate(30 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(a.memory_reserved(), 40 * MIB);
    assert_eq!(y.ptr.0 - x.ptr.0, 3 * MIB);
    assert_eq!(runs(&a), [(0, 40)]);
    assert_eq!(
        blocks(&a.snapshot().segments[0]),
        [
            (0, 3 * MIB, true),
            (3 * MIB, 30 * MIB, true),
            (33 * MIB, 7 * MIB, false)
        ]
    );
    let maps: Vec<(u64, u64)> = a
        .history()
        .events()
        .filter_map(|e| match e.kind {
            EventKind::SegmentMap { offset, size, .. } => Some((offset / MIB, size / MIB)),
            _ => None,
        })
        .collect();
    assert_eq!(maps, [(0, 20), (20, 20)]);
    // Without the option: a 20 MiB segment for x and one of 30 MiB for y.
    let mut plain = with("");
    plain.allocate(3 * MIB, Purpose::UserTensor).unwrap();
    plain.allocate(30 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(plain.memory_reserved(), 50 * MIB);
}

#[test]
fn every_block_is_split_when_512_bytes_remain() {
    // should_split: with the option on, the large pool splits as the small one does.
    let mut a = expandable();
    let x = a.allocate(20 * MIB - 512, Purpose::UserTensor).unwrap();
    assert_eq!(x.size, 20 * MIB - 512);
    let mut plain = with("");
    let y = plain.allocate(20 * MIB - 512, Purpose::UserTensor).unwrap();
    assert_eq!(y.size, 20 * MIB, "1 MiB or less left: handed out whole");
}

#[test]
fn best_fit_passes_over_the_block_that_could_grow() {
    let mut a = expandable();
    let x = a.allocate(8 * MIB, Purpose::UserTensor).unwrap();
    let _y = a.allocate(8 * MIB, Purpose::UserTensor).unwrap();
    a.free(x.id).unwrap();
    // Free: 8 MiB at 0 and 4 MiB at 16 MiB, the mapped end. The smaller one is the plain best
    // fit, but it could grow to the whole address space, so the 8 MiB block is taken.
    let z = a.allocate(3 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(z.ptr, x.ptr);
    assert_eq!(a.memory_reserved(), 20 * MIB);
}

#[test]
fn empty_cache_unmaps_whole_free_pages_anywhere_and_maps_the_gap_again_first() {
    let mut a = expandable();
    let x = a.allocate(3 * MIB, Purpose::UserTensor).unwrap();
    let y = a.allocate(37 * MIB, Purpose::UserTensor).unwrap();
    let z = a.allocate(10 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(runs(&a), [(0, 60)]);
    a.free(y.id).unwrap();
    // Free: 3..40 MiB and 50..60 MiB. Only the page 20..40 lies wholly inside a free block.
    assert_eq!(a.empty_cache().unwrap(), 20 * MIB);
    assert_eq!(a.memory_reserved(), 40 * MIB);
    assert_eq!(a.stats().num_device_free, 1);
    assert_eq!(runs(&a), [(0, 20), (40, 20)]);
    let snap = a.snapshot();
    assert_eq!(
        blocks(&snap.segments[0]),
        [(0, 3 * MIB, true), (3 * MIB, 17 * MIB, false)]
    );
    assert_eq!(
        blocks(&snap.segments[1]),
        [(40 * MIB, 10 * MIB, true), (50 * MIB, 10 * MIB, false)]
    );
    // 25 MiB fits no free block; the lowest room is the free 17 MiB and the unmapped page
    // after it, which is mapped again.
    let w = a.allocate(25 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(w.ptr.0 - x.ptr.0, 3 * MIB);
    assert_eq!(a.memory_reserved(), 60 * MIB);
    assert_eq!(runs(&a), [(0, 60)]);
    for id in [x.id, z.id, w.id] {
        a.free(id).unwrap();
    }
    assert_eq!(a.empty_cache().unwrap(), 60 * MIB);
    assert_eq!(a.memory_reserved(), 0);
    assert!(a.snapshot().segments.is_empty());
    assert_eq!(a.stats().num_device_alloc, 4);
    // One unmap for the one free block the whole mapped range had become.
    assert_eq!(a.stats().num_device_free, 2);
}

#[test]
fn the_limit_is_checked_against_the_segment_a_plain_allocator_would_open() {
    // alloc_block compares reserved + get_allocation_size(12 MiB) = 12 MiB with the limit, then
    // maps a whole 20 MiB page: reserved ends above the limit, as in PyTorch.
    let mut a = expandable();
    a.set_memory_limit(Some(16 * MIB)).unwrap();
    a.allocate(12 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(a.memory_reserved(), 20 * MIB);
    // 9 MiB fits none of the 8 MiB left free, and 20 + 20 MiB is over the limit.
    let e = a.allocate(9 * MIB, Purpose::UserTensor).unwrap_err();
    assert!(e.to_string().contains("out of memory"), "{e}");
    assert_eq!(a.stats().num_alloc_retries, 1);
    assert_eq!(a.stats().num_ooms, 1);
}

#[test]
fn the_pools_grow_separate_segments_and_the_cpu_backend_computes_in_them() {
    let mut a = CachingAllocator::new(Box::new(CpuDevice::new(Some(GIB)).unwrap()));
    a.set_config("expandable_segments:True".parse().unwrap());
    let small = a.allocate(4096, Purpose::UserTensor).unwrap();
    let large = a.allocate(24 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(a.memory_reserved(), 2 * MIB + 40 * MIB);
    assert_eq!(a.snapshot().segments.len(), 2);
    // A block spanning two pages is one contiguous range of host memory.
    let p = a.host_address(large.ptr).unwrap();
    // SAFETY: the block is live and 24 MiB long.
    unsafe {
        p.write_bytes(7, large.size as usize);
        assert_eq!(*p.add(large.size as usize - 1), 7);
    }
    a.free(small.id).unwrap();
    a.free(large.id).unwrap();
    assert_eq!(a.empty_cache().unwrap(), 42 * MIB);
    assert_eq!(a.mem_info().unwrap().free, GIB);
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(u64),
    /// Frees the live allocation at this index (modulo their count).
    Free(usize),
    EmptyCache,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..=MIB).prop_map(Op::Alloc),
        2 => (MIB + 1..=48 * MIB).prop_map(Op::Alloc),
        3 => any::<usize>().prop_map(Op::Free),
        1 => Just(Op::EmptyCache),
    ]
}

/// Runs `ops` under `expandable_segments:True` on `device`, checking after every step what
/// the rules imply: mapped runs are whole pages, blocks tile them, free neighbours are merged,
/// reserved is what is mapped, and no segment or inactive split is counted. Returns the trace.
fn run_checked(device: Box<dyn DeviceMemory>, ops: &[Op]) -> Vec<EventKind> {
    let mut a = CachingAllocator::new(device);
    a.set_config("expandable_segments:True".parse().unwrap());
    let capacity = a.mem_info().unwrap().total;
    let mut live = Vec::new();
    for op in ops {
        match *op {
            Op::Alloc(n) => {
                if let Ok(x) = a.allocate(n, Purpose::UserTensor) {
                    let rounded = round_size(n).unwrap();
                    assert!(
                        x.size >= rounded && x.size - rounded < 512,
                        "{n} → {}",
                        x.size
                    );
                    live.push(x.id);
                }
            }
            Op::Free(i) if !live.is_empty() => {
                let id = live.swap_remove(i % live.len());
                a.free(id).unwrap();
            }
            Op::Free(_) => {}
            Op::EmptyCache => {
                a.empty_cache().unwrap();
            }
        }
        let snap = a.snapshot();
        let mut mapped = 0;
        let mut allocated = 0;
        for s in &snap.segments {
            let page = match s.pool {
                Pool::Small => 2 * MIB,
                Pool::Large => 20 * MIB,
            };
            assert!(s.expandable);
            assert_eq!(s.blocks[0].offset % page, 0, "{s:?}");
            assert_eq!(s.size % page, 0, "{s:?}");
            let mut at = s.blocks[0].offset;
            for pair in s.blocks.windows(2) {
                let both_free = pair.iter().all(|b| b.state != BlockState::ActiveAllocated);
                assert!(!both_free, "free neighbours merge: {s:?}");
            }
            for b in &s.blocks {
                assert_eq!(b.offset, at, "blocks tile the run: {s:?}");
                at += b.size;
            }
            mapped += s.size;
            allocated += s.allocated;
        }
        assert_eq!(a.memory_reserved(), mapped);
        assert_eq!(a.memory_allocated(), allocated);
        assert_eq!(a.mem_info().unwrap().free, capacity - mapped);
        let stats = a.stats();
        assert_eq!(stats.segment.all.current, 0);
        assert_eq!(stats.inactive_split_bytes.all.current, 0);
    }
    for id in live {
        a.free(id).unwrap();
    }
    a.empty_cache().unwrap();
    assert_eq!(a.memory_reserved(), 0);
    assert!(a.snapshot().segments.is_empty());
    assert_eq!(a.mem_info().unwrap().free, capacity);
    a.history().trace()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random programs keep the expandable segments' invariants, give every byte back at the
    /// end, and make the same trace on meta and cpu.
    #[test]
    fn random_programs_keep_the_invariants_on_meta_and_cpu_alike(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let meta = run_checked(Box::new(MetaDevice::new(256 * MIB).unwrap()), &ops);
        let cpu = run_checked(Box::new(CpuDevice::new(Some(256 * MIB)).unwrap()), &ops);
        prop_assert_eq!(meta, cpu);
    }
}
