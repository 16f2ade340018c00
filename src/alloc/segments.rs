//! Segments: allocating them from the device (releasing the cache and retrying once when that
//! fails), merging freed neighbours, garbage collection of cached blocks, giving cached segments
//! back, and the out-of-memory error with its summary.

use super::bins::FreeKey;
use super::{
    format_size, AllocError, Block, CachingAllocator, DeviceError, EventKind, OutOfMemory, Pool,
    Segment,
};
use crate::device::{Backend, MemInfo};

impl CachingAllocator {
    /// Garbage collection runs only with both a threshold and a memory limit, as PyTorch's
    /// needs `set_per_process_memory_fraction`.
    pub(super) fn gc_enabled(&self) -> bool {
        self.limit.is_some() && self.config.garbage_collection_threshold.is_some()
    }

    /// `garbage_collect_cached_blocks`: when reserved memory is over the threshold's share of
    /// the limit, releases unsplit cached large blocks whose age (free-block searches since
    /// they became free) is at least the average, in pool order, recomputing the average each
    /// round, until the excess is reclaimed or nothing more can be freed.
    pub(super) fn garbage_collect(&mut self) -> Result<(), AllocError> {
        let (Some(limit), Some(fraction)) = (self.limit, self.config.garbage_collection_threshold)
        else {
            return Ok(());
        };
        let threshold = (fraction * limit as f64) as u64;
        let reserved = self.memory_reserved();
        if reserved <= threshold {
            return Ok(());
        }
        let target = reserved - threshold;
        let now = self.searches[Pool::Large as usize];
        let age = |a: &Self, idx: u32| now - a.block(idx).gc_base;
        let freeable: Vec<u32> = self
            .free_large
            .iter()
            .map(|k| k.3)
            .filter(|&i| !self.block(i).is_split())
            .collect();
        let mut total_age: u64 = freeable.iter().map(|&i| age(self, i)).sum();
        let mut count = freeable.len() as u64;
        let mut reclaimed = 0;
        let mut freed_one = true;
        while reclaimed < target && freed_one && count > 0 {
            let threshold_age = total_age as f64 / count as f64;
            freed_one = false;
            let candidates: Vec<u32> = self
                .free_large
                .iter()
                .map(|k| k.3)
                .filter(|&i| !self.block(i).is_split() && age(self, i) as f64 >= threshold_age)
                .collect();
            for idx in candidates {
                freed_one = true;
                reclaimed += self.block(idx).size;
                total_age -= age(self, idx);
                count -= 1;
                self.release_segment_of(idx)?;
            }
        }
        Ok(())
    }

    /// Merges free neighbour `other` into `idx` when both are mapped or both unmapped; returns
    /// the bytes it brought.
    pub(super) fn try_merge(&mut self, idx: u32, other: u32) -> Option<u64> {
        let mapped = self.block(other).mapped;
        if self.block(other).allocated || mapped != self.block(idx).mapped {
            return None;
        }
        if !mapped {
            self.remove_unmapped(other);
        } else {
            // Planted bug: free neighbours stay apart, so a split segment never becomes whole
            // again.
            #[cfg(feature = "planted-bugs")]
            if self.planted_bug == Some(crate::base::PlantedBug::NeverCoalesces) {
                return None;
            }
            self.remove_free(other);
        }
        // Only the fields the merge reads: a clone would also clone the tag on this hot path.
        let o = self.block(other);
        let (o_segment, o_offset, o_size, o_prev, o_next) =
            (o.segment, o.offset, o.size, o.prev, o.next);
        let b = self.block_mut(idx);
        b.size += o_size;
        if b.prev == Some(other) {
            b.offset = o_offset;
            b.prev = o_prev;
            if let Some(p) = o_prev {
                self.block_mut(p).next = Some(idx);
            } else {
                self.segments
                    .get_mut(&o_segment)
                    .expect("segment of a block")
                    .first = idx;
            }
        } else {
            b.next = o_next;
            if let Some(n) = o_next {
                self.block_mut(n).prev = Some(idx);
            }
        }
        self.remove_block(other);
        Some(o_size)
    }

    pub(super) fn alloc_segment_with_retry(
        &mut self,
        pool: Pool,
        size: u64,
        alloc_size: u64,
    ) -> Result<u32, AllocError> {
        match self.alloc_segment(pool, size, alloc_size) {
            Ok(idx) => return Ok(idx),
            Err(DeviceError::OutOfMemory { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if self.release_available_cached_blocks(pool, size)? {
            match self.alloc_segment(pool, size, alloc_size) {
                Ok(idx) => return Ok(idx),
                Err(DeviceError::OutOfMemory { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Then, as PyTorch does: release every cached segment (a synchronization of all
        // streams) and try once more, counting the retry whether or not anything was released.
        self.stats.num_sync_all_streams += 1;
        self.release_cached_segments()?;
        self.stats.num_alloc_retries += 1;
        match self.alloc_segment(pool, size, alloc_size) {
            Ok(idx) => Ok(idx),
            Err(DeviceError::OutOfMemory { .. }) => Err(self.out_of_memory(size, alloc_size)),
            Err(e) => Err(e.into()),
        }
    }

    /// `alloc_block`: a new segment of `alloc_size` bytes for a request of `size`, or with
    /// `expandable_segments` the request's pages mapped into an expandable segment. The limit
    /// is checked against `alloc_size` either way, as PyTorch checks it before choosing.
    fn alloc_segment(
        &mut self,
        pool: Pool,
        size: u64,
        alloc_size: u64,
    ) -> Result<u32, DeviceError> {
        if let Some(limit) = self.limit {
            if self.memory_reserved() + alloc_size > limit {
                return Err(DeviceError::OutOfMemory { size: alloc_size });
            }
        }
        if self.config.expandable_segments {
            return self.alloc_expandable(pool, size);
        }
        let size = alloc_size;
        let ptr = self.device.alloc_segment(size)?;
        let number = self.next_segment;
        self.next_segment += 1;
        let idx = self.insert_block(Block {
            segment: number,
            base: ptr,
            offset: 0,
            size,
            requested: 0,
            allocated: false,
            pool,
            prev: None,
            next: None,
            tag: None,
            gc_base: 0,
            mapped: true,
            expandable: false,
            live: true,
        });
        self.segments.insert(
            number,
            Segment {
                ptr,
                size,
                pool,
                first: idx,
                opened_by: self.location.clone(),
                page: None,
            },
        );
        self.stats.segment.increase(pool, 1);
        self.stats.reserved_bytes.increase(pool, size);
        if size >= self.config.max_split_size() {
            self.stats.oversize_segments.increase(1);
        }
        self.stats.num_device_alloc += 1;
        self.record(
            EventKind::SegmentAlloc {
                segment: number,
                size,
                pool,
            },
            None,
        );
        Ok(idx)
    }

    /// Returns every segment that is one free block, and every free page of expandable
    /// segments (`release_cached_blocks`); returns the bytes given back.
    pub(super) fn release_cached_segments(&mut self) -> Result<u64, AllocError> {
        #[allow(unused_mut)] // mutated only by a planted bug
        let (to_unmap, mut whole): (Vec<u32>, Vec<u32>) = self
            .free_small
            .iter()
            .chain(self.free_large.iter())
            .map(|k| k.3)
            .filter(|&i| self.block(i).expandable || !self.block(i).is_split())
            .partition(|&i| self.block(i).expandable);
        // Planted bug: one wholly free segment stays cached.
        #[cfg(feature = "planted-bugs")]
        if self.planted_bug == Some(crate::base::PlantedBug::EmptyCacheKeepsSegment) {
            whole.pop();
        }
        let mut released = 0;
        for idx in whole {
            released += self.release_segment_of(idx)?;
        }
        for idx in to_unmap {
            released += self.unmap_block(idx)?;
        }
        Ok(released)
    }

    /// `release_available_cached_blocks`: with `max_split_size` set, releases the smallest
    /// cached oversize block of the pool that covers the request (at least `max_split_size`),
    /// or else oversize blocks from the largest down until their sizes add up to it. Returns
    /// whether enough was released.
    fn release_available_cached_blocks(
        &mut self,
        pool: Pool,
        size: u64,
    ) -> Result<bool, AllocError> {
        let Some(max_split) = self.config.max_split_size else {
            return Ok(false);
        };
        let wanted = size.max(max_split);
        if let Some(key) = self.free_set(pool).best_fit(wanted) {
            // Oversize blocks are whole segments unless the options changed after the segment
            // was split; such a block cannot go back to the device alone.
            if self.block(key.3).is_split() {
                return Ok(false);
            }
            self.release_segment_of(key.3)?;
            return Ok(true);
        }
        let bins = match pool {
            Pool::Small => &self.free_small,
            Pool::Large => &self.free_large,
        };
        let largest: Vec<FreeKey> = bins
            .iter()
            .rev()
            .take_while(|k| k.0 >= max_split)
            .filter(|k| !self.block(k.3).is_split())
            .copied()
            .collect();
        let mut released = 0;
        for key in largest {
            if released >= wanted {
                break;
            }
            released += key.0;
            self.release_segment_of(key.3)?;
        }
        Ok(released >= wanted)
    }

    /// Returns the segment that free block `idx` wholly covers to the device (`release_block`).
    fn release_segment_of(&mut self, idx: u32) -> Result<u64, AllocError> {
        let number = self.block(idx).segment;
        let seg = self.segments[&number].clone();
        self.device.free_segment(seg.ptr, seg.size)?;
        self.remove_free(idx);
        self.remove_block(idx);
        self.segments.remove(&number);
        self.stats.segment.decrease(seg.pool, 1);
        self.stats.reserved_bytes.decrease(seg.pool, seg.size);
        if seg.size >= self.config.max_split_size() {
            self.stats.oversize_segments.decrease(1);
        }
        self.stats.num_device_free += 1;
        self.record(
            EventKind::SegmentFree {
                segment: number,
                size: seg.size,
            },
            None,
        );
        Ok(seg.size)
    }

    fn out_of_memory(&mut self, size: u64, alloc_size: u64) -> AllocError {
        self.stats.num_ooms += 1;
        let info = self
            .device
            .mem_info()
            .unwrap_or(MemInfo { total: 0, free: 0 });
        let allocated = self.memory_allocated();
        let reserved = self.memory_reserved();
        let mut message = format!(
            "CUDA out of memory. Tried to allocate {}. GPU 0 has a total capacity of {} of which {} is free. ",
            format_size(alloc_size),
            format_size(info.total),
            format_size(info.free)
        );
        if self.device.backend() != Backend::Cuda {
            // A simulated device has no other users, so all it has handed out is this process's.
            message.push_str(&format!(
                "Including non-PyTorch memory, this process has {} memory in use. ",
                format_size(info.total - info.free)
            ));
        }
        if let Some(limit) = self.limit {
            message.push_str(&format!("{} allowed; ", format_size(limit)));
        }
        message.push_str(&format!(
            "Of the allocated memory {} is allocated by PyTorch, and {} is reserved by PyTorch but unallocated. \
             If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True \
             to avoid fragmentation.  See documentation for Memory Management  \
             (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)",
            format_size(allocated),
            format_size(reserved - allocated)
        ));
        self.record(EventKind::Oom { size, alloc_size }, None);
        AllocError::OutOfMemory(Box::new(OutOfMemory {
            size,
            alloc_size,
            total: info.total,
            free: info.free,
            allocated,
            reserved,
            limit: self.limit,
            message,
        }))
    }
}
