//! Stack capture by walking the frame-pointer chain, for builds that keep frame pointers (this
//! repository's, through `.cargo/config.toml`; Rust's standard library has kept them since
//! 2024). Each frame holds the caller's frame pointer and the return address just above it,
//! so a walk costs two loads a frame instead of a DWARF lookup.
//!
//! A walk is trusted only where it can be checked: every frame pointer must lie inside the
//! thread's stack, be aligned, and move towards the stack's base, or the walk ends there; and
//! the first capture of each thread is compared with the DWARF unwinder's, frame by frame. A
//! build without frame pointers (a crate that depends on leakharness without the setting)
//! fails that comparison, and that thread keeps using the unwinder.
//!
//! A walk follows the chain one dependent load at a time, and consecutive captures on a thread
//! mostly share their outer frames (the training loop, the harness, `main`) at the same
//! addresses. Each walk therefore remembers the frame records it read; when the next walk
//! reaches a frame pointer the last one also went through, the rest of the last walk's records
//! are checked against memory with independent loads instead of followed one by one. A record
//! that differs ends the check and the walk goes on the plain way, so the result is always what
//! the plain walk reads.

use std::cell::{Cell, RefCell};

use super::stacks::{hash_finish, hash_ips, hash_term};

/// What this thread has learned about its frame pointers.
#[derive(Clone, Copy)]
enum Walk {
    /// Not checked yet.
    Unknown,
    /// Frame pointers agree with the unwinder, inside these stack bounds.
    Trusted { low: usize, high: usize },
    /// Use the unwinder.
    Untrusted,
}

/// Most frames a walk is remembered for; a deeper capture walks the plain way.
const REMEMBERED: usize = 64;

/// The frame records one walk read.
#[derive(Clone, Copy)]
struct Records {
    /// Frames pushed.
    len: usize,
    /// Each pushed frame's frame pointer, then the value the walk would have gone on from (the
    /// saved frame pointer read in the last record, or the frame pointer it stopped at):
    /// `fps[k + 1]` is always the saved frame pointer read at `fps[k]`.
    fps: [usize; REMEMBERED + 1],
    /// Each pushed frame's return address.
    rets: [usize; REMEMBERED],
    /// `sums[k]`: the sum of the hash terms of the first `k` return addresses.
    sums: [u64; REMEMBERED + 1],
}

/// The last walk's records and a buffer for the next one's.
struct LastWalk {
    records: [Records; 2],
    /// Which of `records` holds the last walk.
    last: usize,
}

impl LastWalk {
    const EMPTY: Records = Records {
        len: 0,
        fps: [0; REMEMBERED + 1],
        rets: [0; REMEMBERED],
        sums: [0; REMEMBERED + 1],
    };
}

thread_local! {
    // Per thread, because stack bounds, the calibration and the frame records a walk read are
    // facts about one thread's stack; no runtime's state lives here.
    static WALK: Cell<Walk> = const { Cell::new(Walk::Unknown) };
    static LAST_WALK: RefCell<LastWalk> = const {
        RefCell::new(LastWalk {
            records: [LastWalk::EMPTY; 2],
            last: 0,
        })
    };
}

/// Fills `out`, empty, with at most `max` return addresses, innermost first, by the cheapest
/// capture this thread can trust; returns their [`hash_ips`].
pub(super) fn capture(out: &mut Vec<usize>, max: usize) -> u64 {
    let walk = match WALK.with(Cell::get) {
        Walk::Unknown => {
            let verdict = calibrate();
            WALK.with(|w| w.set(verdict));
            verdict
        }
        known => known,
    };
    if let Walk::Trusted { low, high } = walk {
        if max <= REMEMBERED {
            let walked =
                LAST_WALK.with_borrow_mut(|last| walk_remembering(out, max, low, high, last));
            if let Some(walked) = walked {
                return walked.hash;
            }
        } else if walk_frame_pointers(out, max, low, high) {
            return hash_ips(out);
        }
    }
    out.clear();
    unwind(out, max);
    hash_ips(out)
}

/// Captures with the DWARF unwinder (the `backtrace` crate).
pub(super) fn unwind(out: &mut Vec<usize>, max: usize) {
    if max == 0 {
        return;
    }
    let mut push = |frame: &backtrace::Frame| {
        out.push(frame.ip() as usize);
        out.len() < max
    };
    // The synchronized `trace` takes a process-wide lock that only Windows' dbghelp needs;
    // with scenarios checked in parallel threads it would serialize every allocation.
    #[cfg(unix)]
    // SAFETY: on unix the unwinder (libgcc's _Unwind_Backtrace) is thread-safe.
    unsafe {
        backtrace::trace_unsynchronized(&mut push)
    };
    #[cfg(not(unix))]
    backtrace::trace(&mut push);
}

/// Walks both ways from here and trusts frame pointers when every return address the walk
/// found past this function is, in order, one the unwinder found too.
#[inline(never)]
fn calibrate() -> Walk {
    let Some((low, high)) = stack_bounds() else {
        return Walk::Untrusted;
    };
    let mut walked = Vec::new();
    if !walk_frame_pointers(&mut walked, 64, low, high) || walked.len() < 3 {
        return Walk::Untrusted;
    }
    let mut unwound = Vec::new();
    unwind(&mut unwound, 128);
    // The walk's first address is the return into this function from the walk, the
    // unwinder's the return from itself: the two agree from this function's caller on.
    let Some(start) = unwound.iter().position(|&ip| ip == walked[1]) else {
        return Walk::Untrusted;
    };
    let agree = unwound[start..]
        .iter()
        .zip(&walked[1..])
        .all(|(a, b)| a == b);
    if agree {
        Walk::Trusted { low, high }
    } else {
        Walk::Untrusted
    }
}

/// Follows the frame-pointer chain from the caller of this function until `max` frames, the
/// outermost frame, or a frame pointer that leaves the stack or runs backwards: code without
/// frame pointers, which in a build that keeps them is only the C library's start of the
/// thread, below `main` or the thread's closure (frames a report never shows). `false` when
/// there is no frame pointer to start from.
#[inline(never)]
fn walk_frame_pointers(out: &mut Vec<usize>, max: usize, low: usize, high: usize) -> bool {
    let Some(mut fp) = frame_pointer() else {
        return false;
    };
    let word = std::mem::size_of::<usize>();
    while out.len() < max {
        if fp < low || fp.saturating_add(2 * word) > high || fp % word != 0 {
            break;
        }
        // SAFETY: `fp` lies inside this thread's stack, aligned, with room for two words:
        // the saved frame pointer and the return address of a frame that is still live,
        // since every frame above this one is a caller of this function.
        let (next, ret) = unsafe {
            let slot = fp as *const usize;
            (slot.read(), slot.add(1).read())
        };
        if ret == 0 {
            break;
        }
        out.push(ret);
        if next <= fp {
            break;
        }
        fp = next;
    }
    true
}

/// The walk of [`walk_frame_pointers`], `max` at most [`REMEMBERED`], that goes through the
/// last walk's records where it can. The first time it reaches a frame pointer the last walk
/// also pushed, it compares all the last walk's records from there on with memory, with
/// independent loads; from the first record after which all still hold, the plain walk would
/// read them again, so where the walk reaches one of those it takes their return addresses as
/// they are. Frame pointers along a chain only grow, so the reached one is found by scanning
/// the last walk's list alongside. The stack's hash is summed up on the way, from the last
/// walk's sums where its frames come at the same positions. `None` when there is no frame
/// pointer to start from. `out` starts empty.
#[inline(never)]
fn walk_remembering(
    out: &mut Vec<usize>,
    max: usize,
    low: usize,
    high: usize,
    last: &mut LastWalk,
) -> Option<Walked> {
    let mut fp = frame_pointer()?;
    debug_assert!(out.is_empty(), "a capture starts from an empty list");
    let word = std::mem::size_of::<usize>();
    let [first, second] = &mut last.records;
    let (prev, next) = if last.last == 0 {
        (&*first, second)
    } else {
        (&*second, first)
    };
    out.reserve(max);
    next.sums[0] = 0;
    // The first of the last walk's frame pointers not below `fp`.
    let mut scan = 0;
    // From which of the last walk's records on all still hold; `None` until compared.
    let mut hold_from = None;
    let mut n = 0;
    #[cfg(test)]
    let mut reused = 0;
    loop {
        if n == max {
            break;
        }
        while scan < prev.len && prev.fps[scan] < fp {
            scan += 1;
        }
        if scan < prev.len && prev.fps[scan] == fp {
            let from = *hold_from.get_or_insert_with(|| first_holding(prev, scan));
            if scan >= from {
                let take = (prev.len - scan).min(max - n);
                out.extend_from_slice(&prev.rets[scan..scan + take]);
                next.fps[n..n + take].copy_from_slice(&prev.fps[scan..scan + take]);
                next.rets[n..n + take].copy_from_slice(&prev.rets[scan..scan + take]);
                let mut sum = next.sums[n];
                let sums = next.sums[n + 1..=n + take].iter_mut();
                if n == scan {
                    // At the same positions: the terms are the last walk's.
                    let shift = sum.wrapping_sub(prev.sums[scan]);
                    for (to, &was) in sums.zip(&prev.sums[scan + 1..=scan + take]) {
                        *to = was.wrapping_add(shift);
                    }
                } else {
                    for ((to, &ret), position) in sums.zip(&prev.rets[scan..scan + take]).zip(n..) {
                        sum = sum.wrapping_add(hash_term(ret, position));
                        *to = sum;
                    }
                }
                n += take;
                #[cfg(test)]
                {
                    reused += take;
                }
                let end = scan + take;
                // What the last walk read in its last record taken: where to go on from.
                fp = prev.fps[end];
                if end < prev.len || fp <= prev.fps[end - 1] {
                    // Stopped by `max` inside the last walk's frames, or where the chain
                    // turned back, as the plain walk stops.
                    break;
                }
                // Past the last walk's frames: the plain way from here.
                scan = prev.len;
                continue;
            }
        }
        if fp < low || fp.saturating_add(2 * word) > high || fp % word != 0 {
            break;
        }
        // SAFETY: as in `walk_frame_pointers`: inside this thread's stack, aligned, a live
        // caller's frame record.
        let (saved, ret) = unsafe {
            let slot = fp as *const usize;
            (slot.read(), slot.add(1).read())
        };
        if ret == 0 {
            break;
        }
        out.push(ret);
        next.fps[n] = fp;
        next.rets[n] = ret;
        next.sums[n + 1] = next.sums[n].wrapping_add(hash_term(ret, n));
        n += 1;
        let turned_back = saved <= fp;
        fp = saved;
        if turned_back {
            break;
        }
    }
    next.fps[n] = fp;
    next.len = n;
    last.last ^= 1;
    Some(Walked {
        #[cfg(test)]
        reused,
        hash: hash_finish(next.sums[n], n),
    })
}

/// What [`walk_remembering`] found besides the addresses.
struct Walked {
    /// How many frames came from the last walk, which the tests check.
    #[cfg(test)]
    reused: usize,
    /// The stack's [`hash_ips`].
    hash: u64,
}

/// The first index from `start` on after which every record of `prev` still holds what it
/// read (each frame's saved frame pointer and return address); `prev.len` when the last one
/// changed. The loads do not depend on each other, so they run side by side.
fn first_holding(prev: &Records, start: usize) -> usize {
    let range = start..prev.len;
    prev.fps[range.clone()]
        .iter()
        .zip(&prev.fps[start + 1..=prev.len])
        .zip(&prev.rets[range.clone()])
        .zip(range)
        .fold(start, |from, (((&fp, &saved), &ret), k)| {
            // SAFETY: `fp` was pushed by an earlier walk of this thread inside the same stack
            // bounds, aligned, with room for two words, and lies at or above the frame the
            // current walk has reached (`start`'s), so in a live caller's part of the stack.
            let (now_saved, now_ret) = unsafe {
                let slot = fp as *const usize;
                (slot.read(), slot.add(1).read())
            };
            if now_saved == saved && now_ret == ret {
                from
            } else {
                k + 1
            }
        })
}

/// The frame pointer of the function this is inlined into: the walk, whose own frame (saved
/// caller's frame pointer, return address into its caller) is the first one read.
#[inline(always)]
fn frame_pointer() -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        let fp: usize;
        // SAFETY: reads a register.
        unsafe {
            std::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
        };
        Some(fp)
    }
    #[cfg(target_arch = "aarch64")]
    {
        let fp: usize;
        // SAFETY: reads a register.
        unsafe {
            std::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
        };
        Some(fp)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        None
    }
}

/// The lowest and highest address of this thread's stack.
#[cfg(target_os = "linux")]
fn stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialized by pthread_getattr_np before it is read and destroyed
    // once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut base: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut base, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        ok.then(|| (base as usize, base as usize + size))
    }
}

#[cfg(not(target_os = "linux"))]
fn stack_bounds() -> Option<(usize, usize)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both captures, from one call site so that every frame above `both` is the same.
    #[inline(never)]
    fn both(walked: &mut Vec<usize>, unwound: &mut Vec<usize>) {
        capture(walked, 16);
        unwind(unwound, 32);
    }

    #[inline(never)]
    fn nested(depth: usize, walked: &mut Vec<usize>, unwound: &mut Vec<usize>) {
        if depth == 0 {
            both(walked, unwound);
        } else {
            nested(depth - 1, walked, unwound);
            std::hint::black_box(depth);
        }
    }

    /// Where frame pointers are kept (this repository's builds), the walk finds the same
    /// return addresses as the unwinder, in the same order.
    #[test]
    fn the_walk_agrees_with_the_unwinder_or_is_not_trusted() {
        let (mut walked, mut unwound) = (Vec::new(), Vec::new());
        nested(5, &mut walked, &mut unwound);
        match WALK.with(Cell::get) {
            Walk::Trusted { .. } => {
                // The walk's first frames are the capture's own (how many depends on
                // inlining), then the return into `both`, from another call than the
                // unwinder's; from the return into `nested(0)` on, both lists see the same
                // frames.
                let (first, start) = walked
                    .iter()
                    .take(8)
                    .enumerate()
                    .find_map(|(i, ip)| unwound.iter().position(|u| u == ip).map(|s| (i, s)))
                    .expect("the walk's frames are ones the unwinder sees");
                let common = (walked.len() - first).min(unwound.len() - start);
                assert!(common >= 6, "the walk sees the nested calls: {walked:x?}");
                assert_eq!(
                    &walked[first..first + common],
                    &unwound[start..start + common]
                );
            }
            Walk::Untrusted => assert!(!walked.is_empty()),
            Walk::Unknown => panic!("the first capture calibrates the thread"),
        }
    }

    /// Both walks, called from one frame so that every frame above this one is the same;
    /// returns how many frames the remembering walk took from its last walk.
    #[inline(never)]
    fn both_walks(
        max: usize,
        last: &mut LastWalk,
        remembered: &mut Vec<usize>,
        plain: &mut Vec<usize>,
    ) -> usize {
        let (low, high) = stack_bounds().expect("stack bounds on linux");
        remembered.clear();
        plain.clear();
        let walked = walk_remembering(remembered, max, low, high, last).expect("a frame pointer");
        assert!(walk_frame_pointers(plain, max, low, high));
        assert_eq!(
            walked.hash,
            hash_ips(remembered),
            "the hash summed on the way"
        );
        walked.reused
    }

    /// Recurses once per element of `path`, each level through `left` or `right` as it says,
    /// so that the frames at one depth differ from one call to the next.
    #[inline(always)]
    fn descend(path: &[bool], f: &mut dyn FnMut()) {
        match path.split_first() {
            None => f(),
            Some((true, rest)) => left(rest, f),
            Some((false, rest)) => right(rest, f),
        }
    }

    #[inline(never)]
    fn left(path: &[bool], f: &mut dyn FnMut()) {
        descend(path, f);
        std::hint::black_box(path.len());
    }

    #[inline(never)]
    fn right(path: &[bool], f: &mut dyn FnMut()) {
        descend(path, f);
        std::hint::black_box(path.len() + 1);
    }

    /// The walk through the last walk's records reads exactly what the plain walk reads, at
    /// the same depth with the same or other callers, deeper, shallower, and cut by every
    /// limit; and it does go through them where the stack above a frame is unchanged.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_remembering_walk_reads_what_the_plain_walk_reads() {
        let mut last = LastWalk {
            records: [LastWalk::EMPTY; 2],
            last: 0,
        };
        let paths: Vec<Vec<bool>> = vec![
            vec![true; 12],
            vec![true; 12],
            vec![false; 12],
            [vec![true; 6], vec![false; 6]].concat(),
            [vec![false; 6], vec![true; 6]].concat(),
            vec![true; 20],
            vec![true; 3],
            vec![false; 40],
            vec![false; 40],
            [true, false].repeat(15),
            [false, true].repeat(15),
            vec![],
        ];
        let (mut remembered, mut plain) = (Vec::new(), Vec::new());
        for max in [1, 2, 7, 16, 32, REMEMBERED] {
            for path in &paths {
                let mut reused = 0;
                descend(path, &mut || {
                    reused = both_walks(max, &mut last, &mut remembered, &mut plain);
                });
                // The first address returns into `both_walks` from each walk's own call.
                assert_eq!(remembered.len(), plain.len(), "max {max}, path {path:?}");
                assert_eq!(remembered[1..], plain[1..], "max {max}, path {path:?}");
                assert!(reused <= remembered.len());
            }
        }
        // The same stack twice, then with another function at the deepest level: the second
        // walk takes every frame from the first (its own first record is the same too), the
        // third all but the few above the changed frame.
        for path in [vec![true; 12], [false, true].repeat(10)] {
            let mut other = path.clone();
            other[path.len() - 1] = !other[path.len() - 1];
            let mut reused = Vec::new();
            let mut lens = Vec::new();
            for p in [&path, &path, &other] {
                descend(p, &mut || {
                    reused.push(both_walks(32, &mut last, &mut remembered, &mut plain));
                });
                assert_eq!(remembered[1..], plain[1..], "path {p:?}");
                lens.push(remembered.len());
            }
            assert_eq!(reused[1], lens[1], "path {path:?}");
            assert!(
                reused[2] + 6 >= lens[2] && reused[2] > 0,
                "{} of {} frames reused",
                reused[2],
                lens[2]
            );
        }
    }

    #[test]
    fn frame_pointers_are_kept_in_this_repository() {
        // `.cargo/config.toml` asks for them; without it this thread would be untrusted.
        let mut out = Vec::new();
        capture(&mut out, 8);
        assert!(matches!(WALK.with(Cell::get), Walk::Trusted { .. }));
    }
}
