//! PyTorch's caching-allocator rules pinned in exact bytes, fault injection, bad input and
//! isolation between allocator instances.

use leakharness::alloc::{AllocError, CachingAllocator, Pool, Purpose, StackCapture};
use leakharness::device::{DeviceMemory, FaultInjector, MetaDevice};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn meta(capacity: u64) -> CachingAllocator {
    CachingAllocator::new(Box::new(MetaDevice::new(capacity).unwrap()))
}

#[test]
fn one_f32_takes_512_bytes_of_a_2_mib_small_segment() {
    let mut a = meta(80 * GIB);
    let x = a.allocate(4, Purpose::UserTensor).unwrap();
    assert_eq!(x.size, 512);
    assert_eq!(x.requested, 4);
    assert_eq!(a.memory_allocated(), 512);
    assert_eq!(a.memory_reserved(), 2 * MIB);
    let s = a.stats();
    assert_eq!(s.allocated_bytes.small_pool.current, 512);
    assert_eq!(s.allocated_bytes.large_pool.current, 0);
    assert_eq!(s.requested_bytes.all.current, 4);
    // The rest of the segment is a split-off free block that empty_cache cannot release.
    assert_eq!(s.inactive_split_bytes.all.current as u64, 2 * MIB - 512);
    assert_eq!(s.inactive_split.all.current, 1);
}

#[test]
fn exactly_one_mib_is_small_pool_and_one_byte_more_is_large() {
    let mut a = meta(80 * GIB);
    a.allocate(MIB, Purpose::UserTensor).unwrap();
    assert_eq!(a.stats().reserved_bytes.small_pool.current as u64, 2 * MIB);
    let b = a.allocate(MIB + 1, Purpose::UserTensor).unwrap();
    assert_eq!(b.size, MIB + 512);
    assert_eq!(a.stats().reserved_bytes.large_pool.current as u64, 20 * MIB);
    assert_eq!(a.memory_reserved(), 22 * MIB);
}

#[test]
fn small_pool_packs_requests_into_one_segment_until_full() {
    let mut a = meta(80 * GIB);
    for _ in 0..4096 {
        a.allocate(512, Purpose::Temporary).unwrap();
    }
    assert_eq!(a.memory_reserved(), 2 * MIB);
    assert_eq!(
        a.stats().inactive_split.all.current,
        0,
        "the last block takes the segment's end"
    );
    a.allocate(1, Purpose::Temporary).unwrap();
    assert_eq!(a.memory_reserved(), 4 * MIB);
}

#[test]
fn one_point_two_megabytes_opens_a_20_mib_segment() {
    let mut a = meta(80 * GIB);
    let x = a.allocate(1_200_000, Purpose::UserTensor).unwrap();
    assert_eq!(x.size, 1_200_128);
    assert_eq!(a.memory_reserved(), 20 * MIB);
    assert_eq!(a.stats().segment.large_pool.current, 1);
}

#[test]
fn twelve_mib_is_carved_from_a_cached_20_mib_segment_when_it_fits() {
    let mut a = meta(80 * GIB);
    let x = a.allocate(1_200_000, Purpose::UserTensor).unwrap();
    a.free(x.id).unwrap();
    assert_eq!(a.memory_reserved(), 20 * MIB);
    let y = a.allocate(12 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(y.size, 12 * MIB);
    assert_eq!(a.memory_reserved(), 20 * MIB, "served from the cache");
    assert_eq!(a.stats().num_device_alloc, 1);
    // 8 MiB remain, more than 1 MiB: the large-pool block was split.
    assert_eq!(
        a.stats().inactive_split_bytes.large_pool.current as u64,
        8 * MIB
    );
}

#[test]
fn twelve_mib_gets_a_segment_of_its_own_when_the_cache_is_too_small() {
    let mut a = meta(80 * GIB);
    let _keep = a.allocate(9 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(a.memory_reserved(), 20 * MIB);
    a.allocate(12 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(
        a.memory_reserved(),
        32 * MIB,
        "11 MiB left in the 20 MiB segment is not enough"
    );
    // And with nothing cached at all, exactly its size rounded to 2 MiB.
    let mut b = meta(80 * GIB);
    b.allocate(12 * MIB + 1, Purpose::UserTensor).unwrap();
    assert_eq!(b.memory_reserved(), 14 * MIB);
}

#[test]
fn large_pool_does_not_split_when_one_mib_or_less_would_remain() {
    let mut a = meta(80 * GIB);
    // 19 MiB opens a 20 MiB segment (rounded up to 2 MiB); the 1 MiB left is not more than
    // 1 MiB, so PyTorch hands out the whole block.
    let x = a.allocate(19 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(x.size, 20 * MIB);
    a.free(x.id).unwrap();
    // The same holds for a cached block.
    let y = a.allocate(19 * MIB, Purpose::UserTensor).unwrap();
    assert_eq!(y.size, 20 * MIB);
    assert_eq!(a.memory_reserved(), 20 * MIB);
    assert_eq!(a.memory_allocated(), 20 * MIB);
    assert_eq!(a.stats().requested_bytes.all.current as u64, 19 * MIB);
}

#[test]
fn reserved_after_each_empty_cache() {
    let mut a = meta(80 * GIB);
    let small = a.allocate(4 * KIB, Purpose::Temporary).unwrap();
    let mid = a.allocate(3 * MIB, Purpose::Temporary).unwrap();
    let big = a.allocate(30 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(a.memory_reserved(), 2 * MIB + 20 * MIB + 30 * MIB);
    a.empty_cache().unwrap();
    assert_eq!(
        a.memory_reserved(),
        52 * MIB,
        "nothing is free, nothing is released"
    );
    a.free(big.id).unwrap();
    assert_eq!(a.empty_cache().unwrap(), 30 * MIB);
    assert_eq!(a.memory_reserved(), 22 * MIB);
    a.free(mid.id).unwrap();
    a.empty_cache().unwrap();
    assert_eq!(a.memory_reserved(), 2 * MIB);
    a.free(small.id).unwrap();
    a.empty_cache().unwrap();
    assert_eq!(a.memory_reserved(), 0);
    assert_eq!(a.stats().num_device_alloc, 3);
    assert_eq!(a.stats().num_device_free, 3);
}

#[test]
fn freed_neighbours_coalesce_back_into_a_releasable_segment() {
    let mut a = meta(80 * GIB);
    let blocks: Vec<_> = (0..3)
        .map(|_| a.allocate(1000, Purpose::Temporary).unwrap())
        .collect();
    // Free the middle one first: it cannot merge, and is an inactive split block.
    a.free(blocks[1].id).unwrap();
    assert_eq!(a.stats().inactive_split.all.current, 2);
    a.free(blocks[0].id).unwrap();
    a.free(blocks[2].id).unwrap();
    let s = a.stats();
    assert_eq!(s.inactive_split.all.current, 0);
    assert_eq!(s.inactive_split_bytes.all.current, 0);
    let snap = a.snapshot();
    assert_eq!(snap.segments.len(), 1);
    assert_eq!(
        snap.segments[0].blocks.len(),
        1,
        "one free block spans the segment"
    );
    assert_eq!(a.empty_cache().unwrap(), 2 * MIB);
}

#[test]
fn best_fit_picks_the_smallest_free_block_that_fits() {
    let mut a = meta(80 * GIB);
    let big = a.allocate(4096, Purpose::Temporary).unwrap();
    let _sep1 = a.allocate(512, Purpose::Temporary).unwrap();
    let small = a.allocate(1024, Purpose::Temporary).unwrap();
    let _sep2 = a.allocate(512, Purpose::Temporary).unwrap();
    a.free(big.id).unwrap();
    a.free(small.id).unwrap();
    let again = a.allocate(1000, Purpose::Temporary).unwrap();
    assert_eq!(again.ptr, small.ptr, "the 1 KiB hole, not the 4 KiB one");
}

#[test]
fn peak_and_reset_follow_pytorch() {
    let mut a = meta(80 * GIB);
    let x = a.allocate(10 * KIB, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    assert_eq!(a.max_memory_allocated(), 10 * KIB);
    a.reset_peak_memory_stats();
    assert_eq!(a.max_memory_allocated(), 0);
    assert_eq!(
        a.stats().allocated_bytes.all.allocated as u64,
        10 * KIB,
        "totals survive a peak reset"
    );
    let d = a.stats().as_dict();
    assert_eq!(d["allocated_bytes.all.freed"], 10 * 1024);
    assert_eq!(d["max_split_size"], -1);
    assert!(d.contains_key("inactive_split_bytes.small_pool.peak"));
}

#[test]
fn oom_message_is_worded_as_pytorch_words_it() {
    let mut a = meta(24 * MIB);
    let _x = a.allocate(20 * MIB, Purpose::Parameter).unwrap();
    let err = a.allocate(6 * MIB, Purpose::Temporary).unwrap_err();
    let AllocError::OutOfMemory(oom) = err else {
        panic!("expected OOM, got {err:?}")
    };
    assert_eq!(
        oom.message,
        "CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 24.00 MiB of which \
         4.00 MiB is free. Including non-PyTorch memory, this process has 20.00 MiB memory in use. Of the \
         allocated memory 20.00 MiB is allocated by PyTorch, and 0 bytes is reserved by PyTorch but \
         unallocated. If reserved but unallocated memory is large try setting \
         PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for \
         Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
    );
    assert_eq!(a.stats().num_ooms, 1);
    assert_eq!(a.stats().num_alloc_retries, 1);
}

#[test]
fn a_limit_makes_oom_reproducible_and_says_what_is_allowed() {
    let mut a = meta(80 * GIB);
    a.set_memory_limit(Some(3 * MIB)).unwrap();
    // Two 1 MiB requests share one 2 MiB small segment; a third needs a second segment.
    a.allocate(MIB, Purpose::Temporary).unwrap();
    a.allocate(MIB, Purpose::Temporary).unwrap();
    assert_eq!(a.memory_reserved(), 2 * MIB);
    let err = a.allocate(MIB, Purpose::Temporary).unwrap_err();
    assert!(
        err.to_string().contains("Tried to allocate 2.00 MiB."),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("3.00 MiB allowed; Of the allocated memory 2.00 MiB"),
        "{err}"
    );
}

#[test]
fn a_failed_segment_allocation_releases_the_cache_and_retries_once() {
    // Call 0: first small segment. Call 1: a 20 MiB segment. Call 2 fails, call 3 succeeds.
    let dev = FaultInjector::new(Box::new(MetaDevice::new(GIB).unwrap()), [2]);
    let mut a = CachingAllocator::new(Box::new(dev));
    let keep = a.allocate(512, Purpose::Temporary).unwrap();
    let cached = a.allocate(2 * MIB, Purpose::Temporary).unwrap();
    a.free(cached.id).unwrap();
    assert_eq!(a.memory_reserved(), 22 * MIB);
    let big = a.allocate(30 * MIB, Purpose::Temporary).unwrap();
    assert_eq!(a.stats().num_alloc_retries, 1);
    assert_eq!(a.stats().num_ooms, 0);
    assert_eq!(
        a.memory_reserved(),
        2 * MIB + 30 * MIB,
        "the cached 20 MiB segment was released"
    );
    a.free(big.id).unwrap();
    a.free(keep.id).unwrap();
    a.empty_cache().unwrap();
    assert_eq!(a.memory_reserved(), 0);
}

#[test]
fn when_the_retry_fails_too_the_oom_leaves_consistent_statistics_and_no_leak() {
    let dev = FaultInjector::new(Box::new(MetaDevice::new(GIB).unwrap()), [1, 2]);
    let mut a = CachingAllocator::new(Box::new(dev));
    let keep = a.allocate(100, Purpose::Temporary).unwrap();
    let before = a.stats().clone();
    let err = a.allocate(5 * MIB, Purpose::Temporary).unwrap_err();
    assert!(matches!(err, AllocError::OutOfMemory(_)));
    let after = a.stats();
    assert_eq!(after.num_ooms, 1);
    assert_eq!(after.num_alloc_retries, 1);
    assert_eq!(after.allocated_bytes, before.allocated_bytes);
    assert_eq!(after.reserved_bytes, before.reserved_bytes);
    assert_eq!(after.requested_bytes, before.requested_bytes);
    // The allocator still works, and everything goes back.
    let later = a.allocate(5 * MIB, Purpose::Temporary).unwrap();
    a.free(later.id).unwrap();
    a.free(keep.id).unwrap();
    a.empty_cache().unwrap();
    assert_eq!((a.memory_allocated(), a.memory_reserved()), (0, 0));
    let info = a.mem_info().unwrap();
    assert_eq!(info.free, info.total, "the device got every segment back");
}

#[test]
fn bad_requests_are_errors_not_panics() {
    let mut a = meta(GIB);
    assert_eq!(
        a.allocate(0, Purpose::Temporary).unwrap_err(),
        AllocError::ZeroSize
    );
    assert!(matches!(
        a.allocate(u64::MAX, Purpose::Temporary),
        Err(AllocError::TooLarge { .. })
    ));
    assert!(matches!(
        a.allocate(u64::MAX - 4096, Purpose::Temporary),
        Err(AllocError::TooLarge { .. })
    ));
    assert!(matches!(
        a.allocate(2 * GIB, Purpose::Temporary),
        Err(AllocError::OutOfMemory(_))
    ));
    let x = a.allocate(10, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    assert!(
        matches!(a.free(x.id), Err(AllocError::InvalidBlock(_))),
        "double free"
    );
    let _y = a.allocate(10 * MIB, Purpose::Temporary).unwrap();
    let err = a.set_memory_limit(Some(MIB)).unwrap_err();
    assert_eq!(
        err,
        AllocError::LimitBelowUsage {
            limit: MIB,
            in_use: 10 * MIB
        }
    );
    assert!(err.to_string().contains("10485760 bytes are in use"));
    // The cached small segment was released to try to fit under the limit.
    assert_eq!(a.memory_reserved(), 10 * MIB);
}

#[test]
fn tags_carry_purpose_and_stack() {
    let mut a = meta(GIB);
    let x = a.allocate(64, Purpose::Parameter).unwrap();
    a.set_purpose(x.id, Purpose::Gradient).unwrap();
    let tag = a.tag(x.id).unwrap().clone();
    assert_eq!(tag.purpose, Purpose::Gradient);
    let stack = tag.stack.expect("capture is on by default");
    let frames = a.stacks().symbolize(stack).unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f.function.contains("tags_carry_purpose_and_stack")),
        "the stack reaches the test: {frames:#?}"
    );
    assert!(
        !frames[0].function.starts_with("leakharness::alloc"),
        "capture machinery is trimmed"
    );
    // Equal stacks are stored once.
    let n = a.stacks().len();
    for _ in 0..3 {
        a.allocate(64, Purpose::Temporary).unwrap();
    }
    assert_eq!(a.stacks().len(), n + 1);
    a.set_stack_capture(StackCapture {
        enabled: false,
        ..StackCapture::default()
    });
    let y = a.allocate(64, Purpose::Temporary).unwrap();
    assert_eq!(a.tag(y.id).unwrap().stack, None);
}

#[test]
fn the_snapshot_and_history_show_every_block() {
    let mut a = meta(GIB);
    let x = a.allocate(1000, Purpose::UserTensor).unwrap();
    let _y = a.allocate(2 * MIB, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    let snap = a.snapshot();
    assert_eq!(snap.segments.len(), 2);
    assert_eq!(snap.segments[0].pool, Pool::Small);
    let live: Vec<_> = snap.live_blocks().map(|(_, b)| b.size).collect();
    assert_eq!(live, vec![2 * MIB]);
    let actions: Vec<String> = a
        .history()
        .trace()
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        ["segment_alloc", "alloc", "segment_alloc", "alloc", "free"]
    );
}

#[test]
fn the_history_is_bounded() {
    let mut a = meta(GIB);
    a.set_history_capacity(10);
    for _ in 0..100 {
        let x = a.allocate(8, Purpose::Temporary).unwrap();
        a.free(x.id).unwrap();
    }
    assert_eq!(a.history().events().count(), 10);
    assert_eq!(a.history().total_recorded(), 201);
}

#[test]
fn allocators_in_parallel_threads_see_only_their_own_memory() {
    let handles: Vec<_> = (1..=8u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut a = meta(80 * GIB);
                let mut live = Vec::new();
                for i in 0..200 {
                    live.push(a.allocate(t * 1000 + i, Purpose::Temporary).unwrap());
                    if i % 3 == 0 {
                        let x = live.remove(0);
                        a.free(x.id).unwrap();
                    }
                }
                let expected: u64 = live.iter().map(|x| x.size).sum();
                assert_eq!(a.memory_allocated(), expected);
                for x in live {
                    a.free(x.id).unwrap();
                }
                a.empty_cache().unwrap();
                (
                    a.memory_allocated(),
                    a.memory_reserved(),
                    a.stats().allocation.all.allocated,
                )
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), (0, 0, 200));
    }
}

#[test]
fn memory_summary_matches_pytorchs_table() {
    let mut a = meta(80 * GIB);
    a.allocate(4, Purpose::UserTensor).unwrap();
    let summary = a.memory_summary(false);
    let lines: Vec<&str> = summary.lines().collect();
    let expected_head = [
        "|===========================================================================|",
        "|                  PyTorch CUDA memory summary, device ID 0                 |",
        "|---------------------------------------------------------------------------|",
        "|            CUDA OOMs: 0            |        cudaMalloc retries: 0         |",
        "|===========================================================================|",
        "|        Metric         | Cur Usage  | Peak Usage | Tot Alloc  | Tot Freed  |",
        "|---------------------------------------------------------------------------|",
        "| Allocated memory      |    512 B   |    512 B   |    512 B   |      0 B   |",
        "|       from large pool |      0 B   |      0 B   |      0 B   |      0 B   |",
        "|       from small pool |    512 B   |    512 B   |    512 B   |      0 B   |",
    ];
    assert_eq!(&lines[..expected_head.len()], &expected_head);
    assert!(
        summary.contains(
            "| GPU reserved memory   |   2048 KiB |   2048 KiB |   2048 KiB |      0 B   |"
        ),
        "{summary}"
    );
    assert!(
        summary.contains(
            "| Allocations           |       1    |       1    |       1    |       0    |"
        ),
        "{summary}"
    );
    assert_eq!(lines.len(), 47);
    assert!(lines.iter().all(|l| l.chars().count() == 77));
}

#[test]
fn cpu_segments_are_real_host_memory() {
    let mut dev = leakharness::device::CpuDevice::new(Some(64 * MIB)).unwrap();
    let seg = dev.alloc_segment(2 * MIB).unwrap();
    let host = dev.host_address(seg).unwrap();
    assert_eq!(host as u64 % 4096, 0);
    // SAFETY: the segment is 2 MiB of writable host memory owned by `dev`.
    unsafe {
        host.add(2 * MIB as usize - 1).write(7);
        assert_eq!(host.add(2 * MIB as usize - 1).read(), 7);
    }
    assert_eq!(dev.mem_info().unwrap().free, 62 * MIB);
    dev.free_segment(seg, 2 * MIB).unwrap();
    assert_eq!(dev.mem_info().unwrap().free, 64 * MIB);
}
