//! Allocator hot paths: a cached alloc+free pair with and without stack capture, symbolizing a
//! stack, and the system allocator for scale. Figures in docs/benchmarks.md.

use leakharness::alloc::{CachingAllocator, Purpose, StackCapture};
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

#[divan::bench]
fn cached_alloc_free(bencher: divan::Bencher) {
    let mut a = warm_allocator(StackCapture {
        enabled: false,
        max_frames: 0,
    });
    bencher.bench_local(|| {
        let x = a
            .allocate(divan::black_box(4096), Purpose::Temporary)
            .unwrap();
        a.free(x.id).unwrap();
    });
}

#[divan::bench(args = [8, 32])]
fn cached_alloc_free_with_stack(bencher: divan::Bencher, frames: usize) {
    let mut a = warm_allocator(StackCapture {
        enabled: true,
        max_frames: frames,
    });
    bencher.bench_local(|| {
        let x = a
            .allocate(divan::black_box(4096), Purpose::Temporary)
            .unwrap();
        a.free(x.id).unwrap();
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

#[divan::bench]
fn system_malloc_free(bencher: divan::Bencher) {
    bencher.bench_local(|| {
        let v: Vec<u8> = Vec::with_capacity(divan::black_box(4096));
        divan::black_box(v.as_ptr());
    });
}
