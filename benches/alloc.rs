//! Allocator hot paths: a cached alloc+free pair with and without stack capture, symbolizing a
//! stack, and the system allocator for scale. Figures in docs/benchmarks.md.

use leakharness::alloc::{CachingAllocator, Purpose, StackCapture, StackTable, Unwinder};
use leakharness::device::MetaDevice;

fn main() {
    divan::main();
}

fn warm_allocator(capture: StackCapture) -> CachingAllocator {
    let mut a = CachingAllocator::new(Box::new(MetaDevice::new(80 << 30).unwrap()));
    a.set_stack_capture(capture);
    // History off: the bench measures the allocation path, not the ring buffer's growth.
    a.set_history_capacity(0);
    let x = a.allocate(4096, Purpose::Temporary).unwrap();
    a.free(x.id).unwrap();
    a
}

/// A fixed sample size: with divan's automatic one this bench is timed one iteration per sample
/// (its first iteration is slow), below the timer's precision.
#[divan::bench(sample_count = 200, sample_size = 2000)]
fn cached_alloc_free(bencher: divan::Bencher) {
    let mut a = warm_allocator(StackCapture {
        enabled: false,
        max_frames: 0,
        ..StackCapture::default()
    });
    bencher.bench_local(|| {
        let x = a
            .allocate(divan::black_box(4096), Purpose::Temporary)
            .unwrap();
        a.free(x.id).unwrap();
    });
}

const UNWINDERS: [Unwinder; 2] = [Unwinder::FramePointers, Unwinder::Dwarf];

#[divan::bench(args = UNWINDERS)]
fn cached_alloc_free_with_stack(bencher: divan::Bencher, unwinder: Unwinder) {
    let mut a = warm_allocator(StackCapture {
        enabled: true,
        max_frames: 32,
        unwinder,
    });
    bencher.bench_local(|| {
        let x = a
            .allocate(divan::black_box(4096), Purpose::Temporary)
            .unwrap();
        a.free(x.id).unwrap();
    });
}

/// Calls itself `depth` times, then runs `f`: a stack deep enough for 32 frames whatever the
/// harness's own depth.
#[inline(never)]
fn at_depth<R>(depth: usize, f: &mut impl FnMut() -> R) -> R {
    if depth == 0 {
        f()
    } else {
        let r = at_depth(depth - 1, f);
        divan::black_box(depth);
        r
    }
}

/// One 32-frame capture and its interning (a repeated stack: one hash lookup). The same stack
/// every time, so the walk finds all of it in the thread's last walk; see
/// `capture_32_frames_from_two_sites` for stacks that change.
#[divan::bench(args = UNWINDERS)]
fn capture_32_frames(bencher: divan::Bencher, unwinder: Unwinder) {
    let mut table = StackTable::default();
    let mut bencher = Some(bencher);
    at_depth(40, &mut || {
        if let Some(b) = bencher.take() {
            b.bench_local(|| table.capture(32, unwinder));
        }
        let id = table.capture(32, unwinder);
        assert_eq!(
            table.ips(id).map(<[usize]>::len),
            Some(32),
            "a full 32-frame stack"
        );
    });
}

/// Captures through `depth` more frames of its own.
#[inline(never)]
fn capture_through(table: &mut StackTable, depth: usize) -> leakharness::alloc::StackId {
    if depth == 0 {
        table.capture(32, Unwinder::FramePointers)
    } else {
        let id = capture_through(table, depth - 1);
        divan::black_box(depth);
        id
    }
}

/// One 32-frame capture and its interning, alternating between two stacks that differ in their
/// innermost frames and are two frames apart in depth, sharing their outer frames at other
/// positions, as allocations of one training step differ (each op's own frames over the same
/// loop).
#[divan::bench]
fn capture_32_frames_from_two_sites(bencher: divan::Bencher) {
    let mut table = StackTable::default();
    let mut bencher = Some(bencher);
    at_depth(40, &mut || {
        let mut flip = false;
        if let Some(b) = bencher.take() {
            b.bench_local(|| {
                flip = !flip;
                capture_through(&mut table, if flip { 2 } else { 4 })
            });
        }
        assert_ne!(
            capture_through(&mut table, 2),
            capture_through(&mut table, 4),
            "two distinct stacks"
        );
    });
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn symbolize_unique_stack(bencher: divan::Bencher) {
    bencher
        .with_inputs(|| {
            // A fresh allocator each time so the symbol cache is cold.
            let mut a = warm_allocator(StackCapture::default());
            let x = a.allocate(64, Purpose::Temporary).unwrap();
            let stack = a.tag(x.id).unwrap().stack.unwrap();
            (a, stack)
        })
        .bench_local_values(|(mut a, stack)| a.stacks().symbolize(stack).map(|f| f.len()));
}

/// Sampled as the cached pair is, so that the two compare in one run.
#[divan::bench(sample_count = 200, sample_size = 2000)]
fn system_malloc_free(bencher: divan::Bencher) {
    bencher.bench_local(|| {
        let v: Vec<u8> = Vec::with_capacity(divan::black_box(4096));
        divan::black_box(v.as_ptr());
    });
}
