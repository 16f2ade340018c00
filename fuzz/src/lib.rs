//! What each fuzz target does with one input, shared by the AFL++ binaries in `src/bin/`.
//! `tests/frontend/hostile.rs` replays the saved findings under `tests/fixtures/fuzz/` the same
//! way, so a finding fixed once stays fixed without the fuzzer.

use std::path::Path;
use std::time::Duration;

use leakharness::alloc::{CachingAllocator, Purpose};
use leakharness::device::{Backend, MetaDevice};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, validate, RunOptions};
use leakharness::scenario::{parse_scenario, print_scenario};

/// Per-input limits: enough for the gallery's scenarios at their own sizes, small enough that an
/// input runs in milliseconds and a hang is a finding rather than a slow input.
pub const MAX_STEPS: u64 = 20_000;
/// The wall-time bound of each run of an input.
pub const TIME_LIMIT: Duration = Duration::from_millis(500);
/// The simulated device: small, so that allocating inputs reach out-of-memory quickly.
pub const DEVICE_MEMORY: u64 = 256 << 20;

/// Parse → validate → print and re-parse → run on meta and on cpu. Any panic or abort is a
/// finding; errors are the expected answer to bad input.
pub fn scenario(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.py");
    let Ok(scenario) = parse_scenario(path, source) else {
        return;
    };
    // What the printer writes must parse again: explore writes shrunk programs with it.
    let printed = print_scenario(&scenario);
    if let Err(e) = parse_scenario(path, &printed) {
        panic!("printed scenario does not parse: {e}\n{printed}");
    }
    if validate(&scenario).is_err() {
        return;
    }
    let options = RunOptions {
        max_steps: MAX_STEPS,
        time_limit: TIME_LIMIT,
        ..RunOptions::default()
    };
    for backend in [Backend::Meta, Backend::Cpu] {
        let rt = Runtime::new(
            backend,
            RuntimeOptions {
                device_memory: Some(DEVICE_MEMORY),
                ..RuntimeOptions::default()
            },
        )
        .expect("a simulated device opens");
        run(&scenario, &rt, &options, &mut ());
    }
}

/// The allocator's public API driven by a byte program: each 4-byte step allocates (a size from
/// the bytes, every pool and rounding class), frees a live block, empties the cache or sets a
/// memory limit; after each, the counters must agree with what is live.
pub fn allocator(data: &[u8]) {
    let device = MetaDevice::new(DEVICE_MEMORY).expect("a meta device opens");
    let mut allocator = CachingAllocator::new(Box::new(device));
    let mut live = Vec::new();
    for step in data.chunks_exact(4) {
        let arg = u32::from_le_bytes([0, step[1], step[2], step[3]]) >> 8;
        match step[0] % 4 {
            0 | 1 => {
                // Sizes from 0 up to 2^28 bytes, spread across the small and large pools.
                let size = u64::from(arg) << (step[0] >> 5);
                if let Ok(a) = allocator.allocate(size, Purpose::Temporary) {
                    live.push(a);
                }
            }
            2 if !live.is_empty() => {
                let a = live.swap_remove(arg as usize % live.len());
                allocator.free(a.id).expect("a live block frees");
            }
            2 => {}
            _ => {
                if step[0] & 0x80 != 0 {
                    let limit = (u64::from(arg) << 4).max(1);
                    let _ = allocator.set_memory_limit(Some(limit));
                } else {
                    allocator
                        .empty_cache()
                        .expect("empty_cache on meta succeeds");
                }
            }
        }
        let allocated: u64 = live.iter().map(|a| a.size).sum();
        assert_eq!(allocator.memory_allocated(), allocated);
        assert!(allocator.memory_reserved() >= allocated);
    }
    for a in live {
        allocator.free(a.id).expect("a live block frees");
    }
    allocator
        .empty_cache()
        .expect("empty_cache on meta succeeds");
    assert_eq!(allocator.memory_allocated(), 0);
    assert_eq!(allocator.memory_reserved(), 0);
}
