//! Statistics named and shaped like `torch.cuda.memory_stats()`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Which pool a block or segment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// Requests of at most 1 MiB, packed into 2 MiB segments.
    Small,
    /// Requests over 1 MiB.
    Large,
}

impl Pool {
    /// The name PyTorch uses in stat keys: `small_pool` or `large_pool`.
    pub fn stat_name(self) -> &'static str {
        match self {
            Pool::Small => "small_pool",
            Pool::Large => "large_pool",
        }
    }
}

/// One statistic: its current value, its peak since the last reset, and the totals of all
/// increases and decreases (c10::CachingDeviceAllocator::Stat).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stat {
    /// Value now.
    pub current: i64,
    /// Highest value since creation or the last `reset_peak`.
    pub peak: i64,
    /// Sum of all increases.
    pub allocated: i64,
    /// Sum of all decreases.
    pub freed: i64,
}

impl Stat {
    pub(crate) fn increase(&mut self, amount: u64) {
        let amount = amount as i64;
        self.current += amount;
        // A branch rather than `max`: in a steady state the peak stays, and is not stored again.
        if self.current > self.peak {
            self.peak = self.current;
        }
        self.allocated += amount;
    }

    pub(crate) fn decrease(&mut self, amount: u64) {
        let amount = amount as i64;
        self.current -= amount;
        self.freed += amount;
    }

    /// Applies a signed change, as PyTorch's free_block does for inactive-split stats.
    pub(crate) fn change(&mut self, delta: i64) {
        if delta > 0 {
            self.increase(delta as u64);
        } else if delta < 0 {
            self.decrease(delta.unsigned_abs());
        }
    }

    fn reset_peak(&mut self) {
        self.peak = self.current;
    }

    fn reset_accumulated(&mut self) {
        self.allocated = 0;
        self.freed = 0;
    }
}

/// A statistic for all pools together and for each pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatArray {
    /// Both pools (PyTorch's `all`).
    pub all: Stat,
    /// The small pool.
    pub small_pool: Stat,
    /// The large pool.
    pub large_pool: Stat,
}

impl StatArray {
    fn each(&mut self, pool: Pool, f: impl Fn(&mut Stat)) {
        f(&mut self.all);
        f(match pool {
            Pool::Small => &mut self.small_pool,
            Pool::Large => &mut self.large_pool,
        });
    }

    pub(crate) fn increase(&mut self, pool: Pool, amount: u64) {
        self.each(pool, |s| s.increase(amount));
    }

    pub(crate) fn decrease(&mut self, pool: Pool, amount: u64) {
        self.each(pool, |s| s.decrease(amount));
    }

    pub(crate) fn change(&mut self, pool: Pool, delta: i64) {
        self.each(pool, |s| s.change(delta));
    }

    fn stats_mut(&mut self) -> [&mut Stat; 3] {
        [&mut self.all, &mut self.small_pool, &mut self.large_pool]
    }

    fn entries(&self) -> [(&'static str, &Stat); 3] {
        [
            ("all", &self.all),
            ("small_pool", &self.small_pool),
            ("large_pool", &self.large_pool),
        ]
    }
}

/// The allocator's statistics, field for field those of PyTorch's `DeviceStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Live allocations (blocks handed out).
    pub allocation: StatArray,
    /// Segments held from the device.
    pub segment: StatArray,
    /// Active blocks: allocated, or freed but still in use by a stream.
    pub active: StatArray,
    /// Free blocks inside segments that are split, which empty_cache cannot release.
    pub inactive_split: StatArray,
    /// Bytes of live allocations, rounded as the allocator hands them out.
    pub allocated_bytes: StatArray,
    /// Bytes of segments held from the device.
    pub reserved_bytes: StatArray,
    /// Bytes of active blocks.
    pub active_bytes: StatArray,
    /// Bytes of inactive split blocks ("non-releasable memory").
    pub inactive_split_bytes: StatArray,
    /// Bytes asked for, before rounding.
    pub requested_bytes: StatArray,
    /// Allocations of at least max_split_size (unlimited by default, so none).
    pub oversize_allocations: Stat,
    /// Segments of at least max_split_size.
    pub oversize_segments: Stat,
    /// Device allocations retried after releasing the cache.
    pub num_alloc_retries: u64,
    /// Full releases of the cache (`empty_cache()`, and the release before an allocation's
    /// retry), each of which synchronizes every stream in PyTorch.
    pub num_sync_all_streams: u64,
    /// `max_split_size` of the allocator's configuration; `None` when unlimited.
    pub max_split_size: Option<u64>,
    /// Out-of-memory errors raised.
    pub num_ooms: u64,
    /// Segments allocated from the device.
    pub num_device_alloc: u64,
    /// Segments returned to the device.
    pub num_device_free: u64,
}

impl MemoryStats {
    /// `torch.cuda.reset_peak_memory_stats()`: every peak becomes the current value.
    pub fn reset_peak(&mut self) {
        for arr in self.arrays_mut() {
            for s in arr.stats_mut() {
                s.reset_peak();
            }
        }
        self.oversize_allocations.reset_peak();
        self.oversize_segments.reset_peak();
    }

    /// `torch.cuda.reset_accumulated_memory_stats()`: totals and event counts back to zero.
    pub fn reset_accumulated(&mut self) {
        for arr in self.arrays_mut() {
            for s in arr.stats_mut() {
                s.reset_accumulated();
            }
        }
        self.oversize_allocations.reset_accumulated();
        self.oversize_segments.reset_accumulated();
        self.num_alloc_retries = 0;
        self.num_sync_all_streams = 0;
        self.num_ooms = 0;
        self.num_device_alloc = 0;
        self.num_device_free = 0;
    }

    fn arrays_mut(&mut self) -> [&mut StatArray; 9] {
        [
            &mut self.allocation,
            &mut self.segment,
            &mut self.active,
            &mut self.inactive_split,
            &mut self.allocated_bytes,
            &mut self.reserved_bytes,
            &mut self.active_bytes,
            &mut self.inactive_split_bytes,
            &mut self.requested_bytes,
        ]
    }

    fn arrays(&self) -> [(&'static str, &StatArray); 9] {
        [
            ("allocation", &self.allocation),
            ("segment", &self.segment),
            ("active", &self.active),
            ("inactive_split", &self.inactive_split),
            ("allocated_bytes", &self.allocated_bytes),
            ("reserved_bytes", &self.reserved_bytes),
            ("active_bytes", &self.active_bytes),
            ("inactive_split_bytes", &self.inactive_split_bytes),
            ("requested_bytes", &self.requested_bytes),
        ]
    }

    /// The flat dictionary `torch.cuda.memory_stats()` returns, with the same keys
    /// (`allocated_bytes.all.current`, `num_ooms`, ...).
    pub fn as_dict(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        let mut put_stat = |prefix: String, s: &Stat| {
            out.insert(format!("{prefix}.current"), s.current);
            out.insert(format!("{prefix}.peak"), s.peak);
            out.insert(format!("{prefix}.allocated"), s.allocated);
            out.insert(format!("{prefix}.freed"), s.freed);
        };
        for (name, arr) in self.arrays() {
            for (pool, s) in arr.entries() {
                put_stat(format!("{name}.{pool}"), s);
            }
        }
        put_stat("oversize_allocations".into(), &self.oversize_allocations);
        put_stat("oversize_segments".into(), &self.oversize_segments);
        out.insert("num_alloc_retries".into(), self.num_alloc_retries as i64);
        out.insert("num_ooms".into(), self.num_ooms as i64);
        out.insert(
            "num_sync_all_streams".into(),
            self.num_sync_all_streams as i64,
        );
        out.insert("num_device_alloc".into(), self.num_device_alloc as i64);
        out.insert("num_device_free".into(), self.num_device_free as i64);
        // SIZE_MAX read back as a signed integer, as PyTorch reports an unset max_split_size.
        out.insert(
            "max_split_size".into(),
            self.max_split_size.map_or(-1, |s| s as i64),
        );
        out
    }
}
