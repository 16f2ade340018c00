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

use std::cell::Cell;

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

thread_local! {
    // Per thread, because stack bounds and the calibration are facts about one thread's stack;
    // no runtime's state lives here.
    static WALK: Cell<Walk> = const { Cell::new(Walk::Unknown) };
}

/// Fills `out` with at most `max` return addresses, innermost first, by the cheapest capture
/// this thread can trust.
pub(super) fn capture(out: &mut Vec<usize>, max: usize) {
    let walk = match WALK.with(Cell::get) {
        Walk::Unknown => {
            let verdict = calibrate();
            WALK.with(|w| w.set(verdict));
            verdict
        }
        known => known,
    };
    match walk {
        Walk::Trusted { low, high } if walk_frame_pointers(out, max, low, high) => {}
        _ => {
            out.clear();
            unwind(out, max);
        }
    }
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
                // walked[0] returns into `capture`, walked[1] into `both`; from walked[2]
                // (into `nested(0)`) on, both lists see the same frames.
                let start = unwound
                    .iter()
                    .position(|ip| *ip == walked[2])
                    .expect("the walk's frames are ones the unwinder sees");
                let common = (walked.len() - 2).min(unwound.len() - start);
                assert!(common >= 6, "the walk sees the nested calls: {walked:x?}");
                assert_eq!(&walked[2..2 + common], &unwound[start..start + common]);
            }
            Walk::Untrusted => assert!(!walked.is_empty()),
            Walk::Unknown => panic!("the first capture calibrates the thread"),
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
