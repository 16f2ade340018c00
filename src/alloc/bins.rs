//! The free blocks of one pool, kept in size-class bins so that best fit is found without an
//! ordered-set walk.
//!
//! PyTorch keeps each pool's free blocks in a `std::set` ordered by (stream, size, address)
//! (`BlockComparatorSize`) and takes `lower_bound` of the request. The same order is kept here,
//! split by size class: classes are monotone in size, so every block of a class is smaller than
//! every block of the next one, and each class holds its blocks sorted by (size, segment,
//! offset). The best fit is therefore the first block of the request's own class that is large
//! enough, or else the first block of the next non-empty class, found through a bitmap. Bins
//! are vectors that keep their capacity, so the steady state of a training loop (the same
//! blocks split and merged every step) allocates nothing, where a `BTreeSet` that empties and
//! refills allocates and frees a node each time.

/// Key of a free block, in PyTorch's order: size, then position. Position is (segment number,
/// offset) rather than the raw address so that the choice among equal sizes, and so every
/// trace, is the same on every backend. The last field is the block's slot.
pub(crate) type FreeKey = (u64, u64, u64, u32);

/// Classes per power of two above the exact ones (TLSF's second level).
const SUB_BITS: u32 = 4;
const SUBS: usize = 1 << SUB_BITS;
/// Sizes are counted in 512-byte units (`kMinBlockSize`), the granularity of every block.
const UNIT_BITS: u32 = 9;
/// Classes needed for every `u64` size: exact below 32 units, then 16 per power of two.
const CLASSES: usize = (64 - UNIT_BITS - SUB_BITS + 1) as usize * SUBS;
const WORDS: usize = CLASSES.div_ceil(64);

/// The class of a size: exact for sizes under 16 KiB, then sixteen classes per power of two,
/// each a contiguous range of sizes, in increasing order.
fn class_of(size: u64) -> usize {
    let units = size >> UNIT_BITS;
    if units < SUBS as u64 * 2 {
        return units as usize;
    }
    let top = 63 - units.leading_zeros();
    let sub = (units >> (top - SUB_BITS)) as usize & (SUBS - 1);
    (top - SUB_BITS + 1) as usize * SUBS + sub
}

/// Where a free block lies in the bins: its class and its index in the class's bin. Valid
/// until the bins change.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    class: usize,
    at: usize,
}

/// Free blocks of one pool by size class.
#[derive(Debug, Clone)]
pub(crate) struct FreeBins {
    bins: Vec<Vec<FreeKey>>,
    occupied: [u64; WORDS],
    len: usize,
}

impl Default for FreeBins {
    fn default() -> Self {
        FreeBins {
            bins: vec![Vec::new(); CLASSES],
            occupied: [0; WORDS],
            len: 0,
        }
    }
}

// The operations of the cached path are inlined: a key is four words, passed by reference
// when not inlined, and reading it back right after the caller wrote it stalled on store
// forwarding (`perf annotate` of the alloc bench put a fifth of `insert` on that one load).
impl FreeBins {
    #[inline(always)]
    pub(crate) fn insert(&mut self, key: FreeKey) {
        let class = class_of(key.0);
        let bin = &mut self.bins[class];
        let at = bin.partition_point(|k| *k < key);
        // As in `remove_at`: `Vec::insert` calls `memmove` even for an empty tail, and a block
        // often goes last (into an empty bin, in the steady state of a training loop).
        if at == bin.len() {
            bin.push(key);
        } else {
            bin.insert(at, key);
        }
        self.occupied[class / 64] |= 1 << (class % 64);
        self.len += 1;
    }

    /// Removes `key`; returns whether it was there.
    #[inline(always)]
    pub(crate) fn remove(&mut self, key: &FreeKey) -> bool {
        let class = class_of(key.0);
        let Ok(at) = self.bins[class].binary_search(key) else {
            return false;
        };
        self.remove_at(Found { class, at });
        true
    }

    /// Removes the block found by [`find`](Self::find) and returns its key.
    #[inline(always)]
    pub(crate) fn remove_at(&mut self, found: Found) -> FreeKey {
        let bin = &mut self.bins[found.class];
        // Most bins hold one block or a few, and `Vec::remove` moves the tail with a call to
        // `memmove` even when it is empty.
        let key = if found.at + 1 == bin.len() {
            bin.pop().expect("a found block is in its bin")
        } else {
            bin.remove(found.at)
        };
        if bin.is_empty() {
            self.occupied[found.class / 64] &= !(1 << (found.class % 64));
        }
        self.len -= 1;
        key
    }

    /// The smallest free block of at least `size`, lowest position first: PyTorch's
    /// `lower_bound` on the pool.
    pub(crate) fn best_fit(&self, size: u64) -> Option<FreeKey> {
        self.find(size).map(|found| self.key(found))
    }

    /// Where [`best_fit`](Self::best_fit) lies, for [`remove_at`](Self::remove_at).
    pub(crate) fn find(&self, size: u64) -> Option<Found> {
        let class = class_of(size);
        let bin = &self.bins[class];
        let at = bin.partition_point(|k| k.0 < size);
        if at < bin.len() {
            return Some(Found { class, at });
        }
        let class = self.next_occupied(class + 1)?;
        Some(Found { class, at: 0 })
    }

    /// The key of a found block.
    pub(crate) fn key(&self, found: Found) -> FreeKey {
        self.bins[found.class][found.at]
    }

    /// The first non-empty class at or above `class`.
    fn next_occupied(&self, class: usize) -> Option<usize> {
        if class >= CLASSES {
            return None;
        }
        let mut word = class / 64;
        let mut bits = self.occupied[word] & (!0u64 << (class % 64));
        loop {
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            word += 1;
            if word == WORDS {
                return None;
            }
            bits = self.occupied[word];
        }
    }

    /// The free blocks from `key` on (itself included when present), in PyTorch's order.
    pub(crate) fn iter_from(&self, key: FreeKey) -> impl Iterator<Item = &FreeKey> + '_ {
        let class = class_of(key.0);
        let bin = &self.bins[class];
        let at = bin.partition_point(|k| *k < key);
        bin[at..]
            .iter()
            .chain(self.bins[class + 1..].iter().flatten())
    }

    /// Every free block in PyTorch's order (size, then position), from either end.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &FreeKey> + '_ {
        self.bins.iter().flatten()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn classes_are_monotone_and_cover_every_size() {
        let mut previous = 0;
        for units in 1..100_000u64 {
            let class = class_of(units << UNIT_BITS);
            assert!(class >= previous, "class of {units} units went down");
            assert!(class <= previous + 1, "class of {units} units skipped one");
            previous = class;
        }
        assert_eq!(class_of(u64::MAX), CLASSES - 1);
    }

    /// The bins answer every best-fit query as a `BTreeSet` range does, PyTorch's structure.
    #[test]
    fn best_fit_matches_an_ordered_set() {
        let mut bins = FreeBins::default();
        let mut set = BTreeSet::new();
        // A deterministic spread of sizes across classes, positions and removals.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..4000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let size = ((x % 4096) + 1) << (UNIT_BITS + (x >> 60) as u32 % 8);
            let key = (size, x % 7, (x >> 20) % 64 * 512, step);
            if x % 3 == 0 {
                if let Some(&victim) = set.iter().nth((x >> 32) as usize % set.len().max(1)) {
                    assert!(bins.remove(&victim));
                    set.remove(&victim);
                }
            } else {
                bins.insert(key);
                set.insert(key);
            }
            let query = ((x >> 8) % 4096 + 1) << (UNIT_BITS + (x >> 56) as u32 % 8);
            let expected = set.range((query, 0, 0, 0)..).next().copied();
            assert_eq!(bins.best_fit(query), expected, "best fit for {query}");
            // Every fifth step takes the best fit out, as an allocation does.
            if step % 5 == 0 {
                let taken = bins.find(query).map(|found| bins.remove_at(found));
                assert_eq!(taken, expected, "taken for {query}");
                if let Some(key) = taken {
                    set.remove(&key);
                }
            }
            assert_eq!(bins.len(), set.len());
        }
        assert!(bins.iter().eq(set.iter()), "iteration in the set's order");
        assert!(bins.iter().rev().eq(set.iter().rev()));
    }
}
