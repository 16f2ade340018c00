//! Stack capture that is cheap on the allocation path: instruction pointers only, interned by
//! hash so equal stacks are stored once, and symbolized only when a report asks, then cached.

use std::sync::Arc;

use hashbrown::HashTable;

use serde::{Deserialize, Serialize};

/// Identifies an interned stack within one allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct StackId(pub u32);

/// Whether and how deep stacks are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackCapture {
    /// Capture a stack for every allocation.
    pub enabled: bool,
    /// At most this many frames, innermost first.
    pub max_frames: usize,
    /// How the stack is walked.
    pub unwinder: Unwinder,
}

impl Default for StackCapture {
    fn default() -> Self {
        StackCapture {
            enabled: true,
            max_frames: 32,
            unwinder: Unwinder::FramePointers,
        }
    }
}

/// How a stack is walked. Both give the same return addresses where frame pointers are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwinder {
    /// The frame-pointer chain, where the thread's first capture showed it agrees with the
    /// DWARF unwinder (builds with `force-frame-pointers`, as this repository's); the DWARF
    /// unwinder elsewhere.
    FramePointers,
    /// Always the DWARF unwinder (the `backtrace` crate).
    Dwarf,
}

/// One symbolized frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Demangled function name, or `<unknown>`.
    pub function: String,
    /// Source file, when debug info has it.
    pub file: Option<String>,
    /// Source line, when debug info has it.
    pub line: Option<u32>,
}

/// Interned stacks of one allocator.
#[derive(Debug, Default)]
pub struct StackTable {
    /// Each stack's id under the hash of its addresses (kept, so that growing the table does
    /// not hash the stacks again).
    ids: HashTable<(u64, StackId)>,
    stacks: Vec<Box<[usize]>>,
    symbols: Vec<Option<Arc<[Frame]>>>,
    scratch: Vec<usize>,
}

/// The allocator's own frames: everything up to the last of them is the capture machinery
/// (closures inlined from core included), not the code that allocated.
const ALLOCATOR: &str = "leakharness::alloc::";

/// Where Rust's runtime starts a thread or `main`: frames from here on are the same for every
/// stack and say nothing about the allocation.
const THREAD_START: &str = "std::sys::backtrace::__rust_begin_short_backtrace";

/// A hash of return addresses, cheap enough for every allocation. SipHash (the standard
/// library's default) over 32 addresses cost more than the walk that found them; equal hashes
/// are still compared address by address, so the hash only needs to spread distinct stacks,
/// not to resist chosen input. Four independent lanes keep the multiplies from waiting on each
/// other, and the final fold mixes the high bits the table's control bytes use.
fn hash_ips(ips: &[usize]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lanes = [0u64, 1, 2, 3];
    let mut chunks = ips.chunks_exact(4);
    for chunk in &mut chunks {
        for (lane, &ip) in lanes.iter_mut().zip(chunk) {
            *lane = (*lane ^ ip as u64).wrapping_mul(K).rotate_left(29);
        }
    }
    for (lane, &ip) in lanes.iter_mut().zip(chunks.remainder()) {
        *lane = (*lane ^ ip as u64).wrapping_mul(K).rotate_left(29);
    }
    let mixed = (lanes[0] ^ lanes[1].rotate_left(16) ^ lanes[2].rotate_left(32))
        ^ lanes[3].rotate_left(48)
        ^ ips.len() as u64;
    let folded = u128::from(mixed).wrapping_mul(u128::from(K));
    (folded as u64) ^ ((folded >> 64) as u64)
}

impl StackTable {
    /// Captures the current stack (at most `max_frames` frames) and interns it.
    pub fn capture(&mut self, max_frames: usize, unwinder: Unwinder) -> StackId {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        match unwinder {
            Unwinder::FramePointers => super::frames::capture(&mut scratch, max_frames),
            Unwinder::Dwarf => super::frames::unwind(&mut scratch, max_frames),
        }
        let id = self.intern(&scratch);
        self.scratch = scratch;
        id
    }

    /// Interns a list of instruction pointers.
    pub fn intern(&mut self, ips: &[usize]) -> StackId {
        let hash = hash_ips(ips);
        let stacks = &self.stacks;
        if let Some(&(_, id)) = self
            .ids
            .find(hash, |&(h, id)| h == hash && &*stacks[id.0 as usize] == ips)
        {
            return id;
        }
        let id = StackId(u32::try_from(self.stacks.len()).expect("fewer than 2^32 stacks"));
        self.stacks.push(ips.into());
        self.symbols.push(None);
        self.ids.insert_unique(hash, (hash, id), |&(h, _)| h);
        id
    }

    /// Number of distinct stacks stored.
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    /// Whether no stack was stored yet.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// The raw instruction pointers of a stack.
    pub fn ips(&self, id: StackId) -> Option<&[usize]> {
        self.stacks.get(id.0 as usize).map(|s| &**s)
    }

    /// Symbolized frames of a stack, without the capture machinery's own frames. Resolved on
    /// first use and cached.
    pub fn symbolize(&mut self, id: StackId) -> Option<Arc<[Frame]>> {
        let idx = id.0 as usize;
        if let Some(done) = self.symbols.get(idx)?.clone() {
            return Some(done);
        }
        let mut frames = Vec::new();
        for &ip in self.stacks.get(idx)?.iter() {
            backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
                let function = sym
                    .name()
                    .map_or_else(|| "<unknown>".to_string(), |n| format!("{n:#}"));
                frames.push(Frame {
                    function,
                    file: sym.filename().map(|p| p.display().to_string()),
                    line: sym.lineno(),
                });
            });
        }
        let first_own = frames
            .iter()
            .rposition(|f| f.function.starts_with(ALLOCATOR))
            .map_or(0, |i| i + 1);
        let end = frames
            .iter()
            .position(|f| f.function.starts_with(THREAD_START))
            .unwrap_or(frames.len());
        // The call_once shim that invokes `main` or the thread's closure sits just before it.
        let end = if end > first_own
            && frames[end - 1]
                .function
                .starts_with("core::ops::function::")
        {
            end - 1
        } else {
            end
        };
        let frames: Arc<[Frame]> = frames
            .get(first_own..end.max(first_own))
            .unwrap_or_default()
            .into();
        self.symbols[idx] = Some(frames.clone());
        Some(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal stacks get one id, different ones (in content, order or length) their own, across
    /// enough stacks to grow the table several times.
    #[test]
    fn interning_gives_one_id_per_distinct_stack() {
        let mut table = StackTable::default();
        let stacks: Vec<Vec<usize>> = (0..3000usize)
            .map(|i| {
                let len = 1 + i % 32;
                (0..len)
                    .map(|f| 0x5555_0000 + (i / 32) * 64 + f * 8)
                    .collect()
            })
            .collect();
        let ids: Vec<StackId> = stacks.iter().map(|s| table.intern(s)).collect();
        assert_eq!(table.len(), stacks.len());
        for (s, id) in stacks.iter().zip(&ids) {
            assert_eq!(table.intern(s), *id);
            assert_eq!(table.ips(*id), Some(&s[..]));
        }
        // The same addresses in another order are another stack.
        let mut reversed = stacks[40].clone();
        reversed.reverse();
        assert_ne!(table.intern(&reversed), ids[40]);
        assert_eq!(table.intern(&[]), table.intern(&[]));
    }
}
