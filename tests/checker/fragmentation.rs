//! `fragmentation` (`docs/leaks.md`): reserved memory that grows with a loop while allocated
//! memory does not, in the caching allocator's exact bytes, with the segments the report shows;
//! and its fixed and look-alike forms, which are clean.

use std::path::Path;

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::device::Backend;
use leakharness::report::{LeakKind, Report, Verdict};
use leakharness::scenario::load;

const MIB: u64 = 1 << 20;

fn check(file: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    check_scenario(
        &load(&path).unwrap(),
        &CheckOptions {
            backend: Backend::Meta,
            ..CheckOptions::default()
        },
    )
    .unwrap()
}

/// Batch `step` is padded to 1280 + 256·step positions of 256 f32: 10 MiB + 2 MiB·step, at
/// least 10 MiB, so each gets a segment of its own size (`kMinLargeAlloc`, rounded to 2 MiB)
/// and none fits in the smaller ones cached before it. Four steps open 10 + 12 + 14 + 16 MiB;
/// eight open 18 + 20 + 22 + 24 MiB more: 84 MiB over 4 extra steps, 21 MiB per step.
#[test]
fn growing_padded_batches_open_a_segment_each_and_report_fragmentation() {
    let r = check("leaks/frag_growing_sequence.py");
    assert_eq!(r.verdict, Verdict::Leak);
    assert!(r.passed);
    let [leak] = r.leaks.as_slice() else {
        panic!("one leak: {:#?}", r.leaks)
    };
    assert_eq!(leak.kinds, [LeakKind::Fragmentation]);
    assert_eq!(
        (leak.retained_by.line, leak.retained_by.statement.as_str()),
        (11, "padded = torch.zeros(8, longest, 256, device=device)")
    );
    assert_eq!(leak.bytes_per_iteration, 21 * MIB);
    assert_eq!(leak.graph_nodes_per_iteration, 0);
    assert!(
        leak.help.contains("expandable_segments:True"),
        "{}",
        leak.help
    );
    assert!(
        leak.help.starts_with("pad the varying dimension"),
        "{}",
        leak.help
    );
    let [site] = leak.alloc_sites.as_slice() else {
        panic!("one statement opens segments: {:#?}", leak.alloc_sites)
    };
    assert_eq!((site.at.line, site.bytes, site.count), (11, 21 * MIB, 1));

    let f = leak.fragmentation.as_ref().expect("the segments");
    // The doubled run: proj (16 KiB) and the last `scores` (512 B) share a 2 MiB small
    // segment; the 32 MiB cuBLAS workspace of the first matmul has one of its own.
    let large: Vec<(u64, u64, Vec<u64>)> = f
        .segments
        .iter()
        .filter(|s| s.pool == "large")
        .map(|s| (s.size, s.allocated, s.free_blocks.clone()))
        .collect();
    let mut expected = vec![(10 * MIB, 0, vec![10 * MIB])];
    expected.push((32 * MIB, 32 * MIB, vec![]));
    expected.extend((1..8).map(|i| ((10 + 2 * i) * MIB, 0, vec![(10 + 2 * i) * MIB])));
    assert_eq!(large, expected);
    assert_eq!(
        f.reserved,
        2 * MIB + 32 * MIB + (10..=24).step_by(2).sum::<u64>() * MIB
    );
    assert_eq!(f.allocated, 32 * MIB + 16 * 1024 + 512);
    // The most allocated at once: the workspace, proj, the last 24 MiB batch, and two 8×16
    // products (the new one is made while the previous step's is still bound to `scores`).
    assert_eq!(f.peak_allocated, 32 * MIB + 24 * MIB + 16 * 1024 + 2 * 512);
    let padded_segments = f
        .segments
        .iter()
        .filter(|s| s.opened_by.as_ref().is_some_and(|at| at.line == 11))
        .count();
    assert_eq!(padded_segments, 8);
}

#[test]
fn the_fixed_form_padded_to_one_length_reuses_its_block_and_is_clean() {
    let r = check("clean/frag_padded_to_fixed_length.py");
    assert_eq!(
        (r.verdict, r.passed),
        (Verdict::Clean, true),
        "{:#?}",
        r.leaks
    );
    let reserved: Vec<u64> = r.iterations.iter().map(|p| p.reserved).collect();
    assert!(reserved.windows(2).all(|w| w[0] == w[1]), "{reserved:?}");
}

/// The smaller last batch is carved from a cached block of a full one and merges back: after
/// the first epoch the cache neither grows nor shrinks.
#[test]
fn a_smaller_last_batch_is_not_fragmentation() {
    let r = check("clean/frag_last_batch_smaller.py");
    assert_eq!(
        (r.verdict, r.passed),
        (Verdict::Clean, true),
        "{:#?}",
        r.leaks
    );
    let epochs: Vec<u64> = r
        .iterations
        .iter()
        .filter(|p| p.index.len() == 1)
        .map(|p| p.reserved)
        .collect();
    assert_eq!(epochs.len(), 3);
    assert!(epochs.windows(2).all(|w| w[0] == w[1]), "{epochs:?}");
}

/// The reserved bytes at the end of the loop of `file` run for `steps` steps instead of 4.
fn reserved_after(file: &str, steps: u32) -> u64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let source = std::fs::read_to_string(&path)
        .unwrap()
        .replace("range(4)", &format!("range({steps})"));
    let scenario = leakharness::scenario::parse_scenario(&path, &source).unwrap();
    let r = check_scenario(
        &scenario,
        &CheckOptions {
            backend: Backend::Meta,
            ..CheckOptions::default()
        },
    )
    .unwrap();
    r.iterations.last().unwrap().reserved
}

/// The same growing batches with `expandable_segments:True` (docs/allocator.md): the large
/// pool is one segment of 20 MiB pages. The 10 MiB batch maps page 0, the 32 MiB cuBLAS
/// workspace pages 1 and 2 after it, and every later batch is carved from the free end
/// (42 MiB on) and merges back when deleted; batch 5 (20 MiB) maps page 3. Reserved follows
/// the largest batch, where without the option it climbs by each batch's own segment.
#[test]
fn expandable_segments_take_the_growing_batches_from_one_segment_and_are_clean() {
    let file = "clean/expandable_segments_growing_sequence.py";
    let r = check(file);
    assert_eq!(
        (r.verdict, r.passed),
        (Verdict::Clean, true),
        "{:#?}",
        r.leaks
    );
    let reserved: Vec<u64> = r.iterations.iter().map(|p| p.reserved / MIB).collect();
    // The 2 MiB small page for proj and the last scores, and pages 0 to 2.
    assert_eq!(reserved, [62; 4]);
    assert_eq!(
        [8, 12].map(|steps| reserved_after(file, steps) / MIB),
        [82, 82]
    );
    // Without the option: 2 MiB, the 32 MiB workspace, and one segment per batch.
    let plain = "leaks/frag_growing_sequence.py";
    assert_eq!(
        [4, 8, 12].map(|steps| reserved_after(plain, steps) / MIB),
        [86, 170, 286]
    );
}
