//! `PYTORCH_CUDA_ALLOC_CONF` options, each rule of `c10/cuda/CUDACachingAllocator.cpp` pinned in
//! exact bytes (docs/allocator.md lists the source lines).

use leakharness::alloc::{AllocatorConfig, CachingAllocator, EventKind, Purpose};
use leakharness::device::MetaDevice;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn with(conf: &str) -> CachingAllocator {
    let mut a = CachingAllocator::new(Box::new(MetaDevice::new(80 * GIB).unwrap()));
    a.set_config(conf.parse().unwrap());
    a
}

fn segment_sizes(a: &CachingAllocator) -> Vec<u64> {
    a.snapshot().segments.iter().map(|s| s.size / MIB).collect()
}

fn released_segments(a: &CachingAllocator) -> Vec<u64> {
    a.history()
        .events()
        .filter_map(|e| match e.kind {
            EventKind::SegmentFree { size, .. } => Some(size / MIB),
            _ => None,
        })
        .collect()
}

#[test]
fn an_oversize_block_serves_neither_a_smaller_request_nor_one_20_mib_below_it() {
    let mut a = with("max_split_size_mb:32");
    let x = a.allocate(40 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(a.stats().oversize_segments.current, 1);
    assert_eq!(a.stats().oversize_allocations.current, 1);
    a.free(x.id).unwrap();
    assert_eq!(a.stats().oversize_allocations.current, 0);
    // 8 MiB is under max_split_size: the cached 40 MiB block is not split for it (without the
    // option it would be), so a 20 MiB segment is opened.
    let small = a.allocate(8 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(segment_sizes(&a), [40, 20]);
    // 33 MiB is oversize; the 40 MiB block is less than 20 MiB larger, so it is handed out
    // whole, unsplit.
    let near = a.allocate(33 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(near.size, 40 * MIB);
    assert_eq!(a.memory_allocated(), 48 * MIB);
    a.free(near.id).unwrap();
    // 34 MiB + 20 MiB rounding limit = 54 MiB: a cached 60 MiB block is too large for it.
    let y = a.allocate(60 * MIB, Purpose::Temporary).unwrap();
    a.free(y.id).unwrap();
    let far = a.allocate(34 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(far.size, 40 * MIB, "the 40 MiB block, not the 60 MiB one");
    let far2 = a.allocate(20 * MIB + 1, Purpose::Temporary).unwrap();
    assert_eq!(
        segment_sizes(&a),
        [40, 20, 60, 22],
        "20 MiB + 1 byte is under max_split_size: the 60 MiB block is not split for it"
    );
    assert_eq!(a.stats().oversize_segments.current, 2);
    let d = a.stats().as_dict();
    assert_eq!(d["max_split_size"], 32 * MIB as i64);
    assert_eq!(d["oversize_segments.peak"], 2);
    for id in [small.id, far.id, far2.id] {
        a.free(id).unwrap();
    }
    a.empty_cache().unwrap();
    assert_eq!(a.stats().oversize_segments.current, 0);
    assert_eq!(a.stats().num_sync_all_streams, 1);
}

#[test]
fn max_non_split_rounding_mb_widens_what_an_oversize_block_may_serve() {
    let mut a = with("max_split_size_mb:32,max_non_split_rounding_mb:40");
    let y = a.allocate(60 * MIB, Purpose::Temporary).unwrap();
    a.free(y.id).unwrap();
    // 34 MiB + 40 MiB = 74 MiB > 60 MiB: the cached block serves it whole.
    let x = a.allocate(34 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(x.size, 60 * MIB);
    assert_eq!(segment_sizes(&a), [60]);
}

#[test]
fn at_the_limit_the_smallest_covering_oversize_block_is_released_first() {
    let mut a = with("max_split_size_mb:32");
    a.set_memory_limit(Some(100 * MIB)).unwrap();
    let x = a.allocate(40 * MIB, Purpose::Temporary).unwrap();
    let y = a.allocate(50 * MIB, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    a.free(y.id).unwrap();
    // 30 MiB may not split a cached oversize block; a 30 MiB segment passes the limit, so
    // `release_available_cached_blocks` frees the smallest oversize block of at least
    // max(30, 32) MiB, the 40 MiB one, and the allocation succeeds without the full release.
    a.allocate(30 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(segment_sizes(&a), [50, 30]);
    assert_eq!(released_segments(&a), [40]);
    let s = a.stats();
    assert_eq!(
        (s.num_alloc_retries, s.num_sync_all_streams, s.num_ooms),
        (0, 0, 0)
    );
}

#[test]
fn when_no_oversize_block_covers_the_request_the_largest_go_first() {
    let mut a = with("max_split_size_mb:32");
    a.set_memory_limit(Some(100 * MIB)).unwrap();
    let small = a.allocate(4 * MIB, Purpose::Temporary).unwrap();
    let x = a.allocate(34 * MIB, Purpose::Temporary).unwrap();
    let y = a.allocate(36 * MIB, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    a.free(y.id).unwrap();
    // 60 MiB: no cached block is large enough and 20 + 70 + 60 passes the limit. Oversize
    // blocks are released from the largest down until 60 MiB are covered: 36, then 34.
    a.allocate(60 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(released_segments(&a), [36, 34]);
    assert_eq!(segment_sizes(&a), [20, 60]);
    assert_eq!(a.stats().num_alloc_retries, 0);
    a.free(small.id).unwrap();
}

#[test]
fn without_max_split_size_the_limit_releases_the_whole_cache_and_counts_a_retry() {
    let mut a = with("");
    a.set_memory_limit(Some(100 * MIB)).unwrap();
    let x = a.allocate(40 * MIB, Purpose::Temporary).unwrap();
    let y = a.allocate(50 * MIB, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    a.free(y.id).unwrap();
    a.allocate(60 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(released_segments(&a), [40, 50]);
    let s = a.stats();
    assert_eq!((s.num_alloc_retries, s.num_sync_all_streams), (1, 1));
    assert_eq!(s.as_dict()["num_sync_all_streams"], 1);
}

#[test]
fn roundup_power2_divisions_rounds_to_equal_steps_between_powers_of_two() {
    let mut a = with("roundup_power2_divisions:[1:2,2:1,4:4,>:4]");
    // 1.2 MiB, interval 1-2 MiB, 2 divisions: steps of 512 KiB, so 1.5 MiB.
    let x = a.allocate(1_200_000, Purpose::Temporary).unwrap();
    assert_eq!(x.size, 1_572_864);
    // 2.5 MiB, interval 2-4 MiB, 1 division: plain 512-byte rounding.
    let y = a.allocate(2_500_000, Purpose::Temporary).unwrap();
    assert_eq!(y.size, 2_500_096);
    // 5 MB, interval 4-8 MiB, 4 divisions: steps of 1 MiB, so 5 MiB.
    let z = a.allocate(5_000_000, Purpose::Temporary).unwrap();
    assert_eq!(z.size, 5 * MIB);
    // Under 1 MiB the first interval's 2 divisions apply: 600 KiB becomes 768 KiB, in the
    // small pool.
    let w = a.allocate(600 * 1024, Purpose::Temporary).unwrap();
    assert_eq!(w.size, 768 * 1024);
    assert_eq!(a.stats().allocated_bytes.small_pool.current, 768 * 1024);
    // The request is what was asked for; allocated counts the rounded size.
    assert_eq!(
        a.stats().requested_bytes.all.current,
        1_200_000 + 2_500_000 + 5_000_000 + 600 * 1024
    );
    // A power of two stays as it is.
    assert_eq!(
        a.allocate(4 * MIB, Purpose::Temporary).unwrap().size,
        4 * MIB
    );
}

#[test]
fn garbage_collection_releases_the_oldest_cached_blocks_until_under_the_threshold() {
    let mut a = with("garbage_collection_threshold:0.33");
    // The threshold is 33 % of the limit: 66 MiB of 200 MiB.
    a.set_memory_limit(Some(200 * MIB)).unwrap();
    let x = a.allocate(40 * MIB, Purpose::Temporary).unwrap();
    let y = a.allocate(30 * MIB, Purpose::Temporary).unwrap();
    let z = a.allocate(22 * MIB, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    // 44 MiB fits no cached block; reserved (92 MiB) is over 66 MiB, so the cached 40 MiB
    // block goes back before the new segment is allocated.
    let d = a.allocate(44 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(released_segments(&a), [40]);
    a.free(y.id).unwrap();
    a.free(z.id).unwrap();
    // 21 MiB reuses the 22 MiB block whole (1 MiB left is not split): that block is now
    // younger than the 30 MiB one by one search.
    let f = a.allocate(21 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(f.size, 22 * MIB);
    a.free(f.id).unwrap();
    // 60 MiB: 96 MiB reserved is 30 MiB over the threshold. Ages are 2 (30 MiB block) and 1
    // (22 MiB block), the average 1.5: only the older block goes, and that is enough.
    a.allocate(60 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(released_segments(&a), [40, 30]);
    assert_eq!(segment_sizes(&a), [22, 44, 60]);
    assert_eq!(a.memory_reserved(), 126 * MIB);
    assert_eq!(a.stats().num_alloc_retries, 0);
    a.free(d.id).unwrap();
}

#[test]
fn garbage_collection_needs_a_memory_limit_as_pytorch_needs_a_fraction() {
    let mut a = with("garbage_collection_threshold:0.33");
    let x = a.allocate(40 * MIB, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    a.allocate(44 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(released_segments(&a), Vec::<u64>::new());
    assert_eq!(a.memory_reserved(), 84 * MIB);
}

#[test]
fn the_default_configuration_is_pytorchs_with_the_variable_unset() {
    let a = with("");
    assert_eq!(*a.config(), AllocatorConfig::default());
    assert_eq!(a.stats().as_dict()["max_split_size"], -1);
    assert_eq!(a.config().round_size(1_200_000), Some(1_200_128));
    assert_eq!(a.config().max_non_split_rounding(), 20 * MIB);
}
