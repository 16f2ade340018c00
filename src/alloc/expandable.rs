//! Expandable segments (`expandable_segments:True`), as `c10/cuda/CUDACachingAllocator.cpp`
//! (`ExpandableSegment`, `find_expandable_block`, `map_block`, `try_allocate_expandable_block`,
//! `unmap_block`, `release_blocks`) has them: per pool one segment of reserved address space
//! (1⅛ × the device's memory), into which pages (2 MiB for the small pool, 20 MiB for the large
//! one) are mapped as requests need them and from which free pages are unmapped by
//! `empty_cache()`. Blocks are carved from the mapped part with the usual best fit; reserved
//! memory counts mapped pages only. See docs/allocator.md.

use super::bins::FreeKey;
use super::{
    AllocError, Block, CachingAllocator, EventKind, Pool, Segment, LARGE_BUFFER, SMALL_BUFFER,
};
use crate::base::DeviceError;

/// The page an expandable segment of `pool` maps at a time (`kSmallBuffer`, `kLargeBuffer`).
pub(super) fn page_size(pool: Pool) -> u64 {
    match pool {
        Pool::Small => SMALL_BUFFER,
        Pool::Large => LARGE_BUFFER,
    }
}

impl CachingAllocator {
    pub(super) fn insert_unmapped(&mut self, idx: u32) {
        let b = self.block(idx);
        let key = (b.segment, b.offset, idx);
        self.unmapped[b.pool as usize].insert(key);
    }

    pub(super) fn remove_unmapped(&mut self, idx: u32) {
        let b = self.block(idx);
        let key = (b.segment, b.offset, idx);
        let removed = self.unmapped[b.pool as usize].remove(&key);
        debug_assert!(removed, "an unmapped block is in its pool's unmapped set");
    }

    /// What a free block of an expandable segment could grow to: itself and the unmapped
    /// address space right after it.
    fn expandable_size(&self, idx: u32) -> u64 {
        let b = self.block(idx);
        let after = b
            .next
            .map(|n| self.block(n))
            .filter(|n| !n.mapped)
            .map_or(0, |n| n.size);
        b.size + after
    }

    /// `get_free_block` when its best fit lies in an expandable segment. With the option on,
    /// blocks are compared by what they could grow to, so that the block at the mapped end of
    /// a segment (which could take the whole address space) is passed over for a larger one
    /// that cannot grow. With the option turned off since, expandable blocks are skipped.
    pub(super) fn expandable_fit(&self, pool: Pool, first: FreeKey) -> Option<FreeKey> {
        let mut candidates = self.bins(pool).iter_from(first);
        if !self.config.expandable_segments {
            return candidates.find(|k| !self.block(k.3).expandable).copied();
        }
        let mut key = *candidates.next()?;
        for next in candidates {
            if !self.block(key.3).expandable
                || self.expandable_size(next.3) >= self.expandable_size(key.3)
            {
                break;
            }
            key = *next;
        }
        Some(key)
    }

    /// `try_allocate_expandable_block`: maps enough pages for a request of `size` at the lowest
    /// place that has the room (free and unmapped blocks together), in a new expandable segment
    /// when none has; returns the free mapped block of at least `size`, out of the free bins.
    pub(super) fn alloc_expandable(&mut self, pool: Pool, size: u64) -> Result<u32, DeviceError> {
        let mut candidate = self.find_expandable_block(pool, size)?;
        if !self.block(candidate).mapped {
            let want = self.block(candidate).size.min(size);
            self.map_block(candidate, want)?;
        }
        while self.block(candidate).size < size {
            let remaining = size - self.block(candidate).size;
            let next = self
                .block(candidate)
                .next
                .expect("find_expandable_block found room after the candidate");
            let want = remaining.min(self.block(next).size);
            // The newly mapped block takes in the candidate before it.
            self.map_block(next, want)?;
            candidate = next;
        }
        self.remove_free(candidate);
        Ok(candidate)
    }

    /// `find_expandable_block`: the lowest unmapped block (or the free block just before it)
    /// from which free and unmapped blocks add up to `size`, or a new segment's address space.
    fn find_expandable_block(&mut self, pool: Pool, size: u64) -> Result<u32, DeviceError> {
        let allocatable = |a: &Self, i: u32| !a.block(i).allocated;
        let found = self.unmapped[pool as usize]
            .iter()
            .find_map(|&(_, _, idx)| {
                let start = match self.block(idx).prev {
                    Some(p) if allocatable(self, p) => p,
                    _ => idx,
                };
                let mut bytes = 0;
                let mut cursor = Some(start);
                while let Some(i) = cursor.filter(|&i| bytes < size && allocatable(self, i)) {
                    bytes += self.block(i).size;
                    cursor = self.block(i).next;
                }
                (bytes >= size).then_some(start)
            });
        if let Some(idx) = found {
            return Ok(idx);
        }
        // Address space for 1⅛ of the device's memory, so that pages unmapped early in the
        // segment can be mapped again at its end.
        let page = page_size(pool);
        let total = self.device.mem_info()?.total;
        let reserved = (total + total / 8).div_ceil(page) * page;
        let ptr = self.device.reserve(reserved)?;
        let number = self.next_segment;
        self.next_segment += 1;
        let idx = self.insert_block(Block {
            segment: number,
            base: ptr,
            offset: 0,
            size: reserved,
            requested: 0,
            allocated: false,
            pool,
            prev: None,
            next: None,
            tag: None,
            gc_base: 0,
            mapped: false,
            expandable: true,
            live: true,
        });
        self.segments.insert(
            number,
            Segment {
                ptr,
                size: reserved,
                pool,
                first: idx,
                opened_by: self.location.clone(),
                page: Some(page),
            },
        );
        self.insert_unmapped(idx);
        Ok(idx)
    }

    /// `map_block`: maps the pages covering the first `size` bytes of unmapped block `idx`
    /// (all or none of them), which becomes a free mapped block merged with a free neighbour;
    /// what stays unmapped becomes a block of its own.
    fn map_block(&mut self, idx: u32, size: u64) -> Result<(), DeviceError> {
        let b = self.block(idx).clone();
        let seg = &self.segments[&b.segment];
        let (base, page) = (seg.ptr, seg.page.expect("an expandable segment"));
        let mapped = size.div_ceil(page) * page;
        debug_assert!(b.offset % page == 0 && mapped <= b.size);
        // One physical allocation per page, as PyTorch creates one handle per page, so that
        // any page can be unmapped alone later.
        let mut done = 0;
        while done < mapped {
            if let Err(e) = self.device.map(base.offset(b.offset + done), page) {
                let mut undo = 0;
                while undo < done {
                    self.device.unmap(base.offset(b.offset + undo), page)?;
                    undo += page;
                }
                return Err(e);
            }
            done += page;
        }
        self.remove_unmapped(idx);
        if mapped < b.size {
            let rest = self.insert_block(Block {
                offset: b.offset + mapped,
                size: b.size - mapped,
                prev: Some(idx),
                ..b.clone()
            });
            if let Some(n) = b.next {
                self.block_mut(n).prev = Some(rest);
            }
            self.block_mut(idx).next = Some(rest);
            self.insert_unmapped(rest);
        }
        let block = self.block_mut(idx);
        block.mapped = true;
        block.size = mapped;
        for neighbour in [b.prev, self.block(idx).next].into_iter().flatten() {
            self.try_merge(idx, neighbour);
        }
        self.insert_free(idx);
        self.stats.reserved_bytes.increase(b.pool, mapped);
        self.stats.num_device_alloc += 1;
        self.record(
            EventKind::SegmentMap {
                segment: b.segment,
                offset: b.offset,
                size: mapped,
                pool: b.pool,
            },
            None,
        );
        Ok(())
    }

    /// `unmap_block` and the rest of `release_blocks` for one free block of an expandable
    /// segment: unmaps the whole pages inside it, leaving the partial pages at its ends as free
    /// blocks, and gives the segment's address space back once nothing in it is mapped.
    /// Returns the bytes unmapped.
    pub(super) fn unmap_block(&mut self, idx: u32) -> Result<u64, AllocError> {
        let b = self.block(idx).clone();
        let seg = &self.segments[&b.segment];
        let (base, page) = (seg.ptr, seg.page.expect("an expandable segment"));
        let begin = b.offset.next_multiple_of(page);
        #[allow(unused_mut)] // changed only by a planted bug
        let mut end = (b.offset + b.size) / page * page;
        // Planted bug: the end is rounded down from the block's last byte, one page short when
        // the block ends on a page boundary.
        #[cfg(feature = "planted-bugs")]
        if self.planted_bug == Some(crate::base::PlantedBug::UnmapKeepsLastPage) {
            end = (b.offset + b.size - 1) / page * page;
        }
        if begin >= end {
            return Ok(0);
        }
        let mut at = begin;
        while at < end {
            self.device.unmap(base.offset(at), page)?;
            at += page;
        }
        self.remove_free(idx);
        if begin > b.offset {
            let before = self.insert_block(Block {
                size: begin - b.offset,
                next: Some(idx),
                ..b.clone()
            });
            match b.prev {
                Some(p) => self.block_mut(p).next = Some(before),
                None => self.segments.get_mut(&b.segment).expect("segment").first = before,
            }
            self.block_mut(idx).prev = Some(before);
            self.insert_free(before);
        }
        if end < b.offset + b.size {
            let after = self.insert_block(Block {
                offset: end,
                size: b.offset + b.size - end,
                prev: Some(idx),
                ..b.clone()
            });
            if let Some(n) = b.next {
                self.block_mut(n).prev = Some(after);
            }
            self.block_mut(idx).next = Some(after);
            self.insert_free(after);
        }
        let block = self.block_mut(idx);
        block.offset = begin;
        block.size = end - begin;
        block.mapped = false;
        for neighbour in [self.block(idx).prev, self.block(idx).next]
            .into_iter()
            .flatten()
        {
            self.try_merge(idx, neighbour);
        }
        self.insert_unmapped(idx);
        let unmapped = end - begin;
        self.stats.reserved_bytes.decrease(b.pool, unmapped);
        self.stats.num_device_free += 1;
        self.record(
            EventKind::SegmentUnmap {
                segment: b.segment,
                offset: begin,
                size: unmapped,
            },
            None,
        );
        if !self.block(idx).is_split() {
            // `release_expandable_segment`: nothing is mapped any more.
            self.remove_unmapped(idx);
            self.remove_block(idx);
            let seg = self.segments.remove(&b.segment).expect("segment");
            self.device.unreserve(seg.ptr, seg.size)?;
        }
        Ok(unmapped)
    }
}
