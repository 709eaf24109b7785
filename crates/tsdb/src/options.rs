//! Engine options. Every limit lives here; the binary fills them from `strix.yaml`.

use std::time::Duration;

/// When the write-ahead log is fsynced. Re-exported from the WAL.
pub use crate::wal::FsyncPolicy;

/// Series and label limits applied on append. Zero disables a count limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of series in the head.
    pub max_series: usize,
    /// Maximum number of series sharing one metric name.
    pub max_series_per_metric: usize,
    /// Maximum labels per series, `__name__` included.
    pub max_labels_per_series: usize,
    /// Maximum label name length in bytes.
    pub max_label_name_length: usize,
    /// Maximum label value length in bytes.
    pub max_label_value_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_series: 5_000_000,
            max_series_per_metric: 500_000,
            max_labels_per_series: 64,
            max_label_name_length: 1024,
            max_label_value_length: 4096,
        }
    }
}

/// Retention of one data tier. `None` keeps data forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRetention {
    pub raw: Option<Duration>,
    pub five_minutes: Option<Duration>,
    pub one_hour: Option<Duration>,
}

impl Default for TierRetention {
    fn default() -> Self {
        let day = 86_400;
        TierRetention {
            raw: Some(Duration::from_secs(15 * day)),
            five_minutes: Some(Duration::from_secs(90 * day)),
            one_hour: Some(Duration::from_secs(365 * day)),
        }
    }
}

/// Options of a [`crate::Db`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub limits: Limits,
    pub retention: TierRetention,
    /// Delete the oldest blocks while all data on disk exceeds this many bytes (0 = off).
    pub retention_size: u64,
    /// Live samples older than the newest sample of their series by less than this are
    /// still accepted (out of order); older ones are refused outside the import API.
    pub out_of_order_window: Duration,
    /// Samples more than this far ahead of the wall clock are refused.
    pub max_future: Duration,
    pub fsync: FsyncPolicy,
    /// Maximum WAL segment size in bytes.
    pub wal_segment_size: u64,
    /// Time span of blocks cut from the head (milliseconds); also the chunk boundary.
    pub block_range_ms: i64,
    /// How often background compaction and retention run.
    pub compaction_interval: Duration,
    /// Maximum samples per head chunk.
    pub samples_per_chunk: usize,
    /// Whether to build the 5m/1h rollup tiers.
    pub rollups: bool,
    /// A raw block gets its 5-minute rollup block only once its newest sample is older than
    /// this, as Thanos downsamples late: until then the raw tier answers rollup queries
    /// (the querier computes uncovered buckets from raw data), so the rollup does not
    /// duplicate fresh data on disk. Capped at the raw retention, so rollups are always
    /// built before the raw data goes. Zero builds rollups as soon as a block exists.
    pub rollup_delay_5m: Duration,
    /// The same for the 1-hour rollup tier.
    pub rollup_delay_1h: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            limits: Limits::default(),
            retention: TierRetention::default(),
            retention_size: 0,
            out_of_order_window: Duration::from_secs(600),
            max_future: Duration::from_secs(600),
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            wal_segment_size: 128 << 20,
            block_range_ms: 2 * 3_600_000,
            compaction_interval: Duration::from_secs(60),
            samples_per_chunk: 120,
            rollups: true,
            rollup_delay_5m: Duration::from_secs(40 * 3600),
            rollup_delay_1h: Duration::from_secs(10 * 86_400),
        }
    }
}

impl DbOptions {
    /// How long after a raw block's newest sample its `tier` rollup is built: the tier's
    /// delay, but never more than the raw retention (the rollup must exist before the raw
    /// block is deleted).
    pub fn rollup_delay(&self, tier: strix_core::storage::RollupTier) -> Duration {
        let delay = match tier {
            strix_core::storage::RollupTier::FiveMinutes => self.rollup_delay_5m,
            strix_core::storage::RollupTier::OneHour => self.rollup_delay_1h,
        };
        match self.retention.raw {
            Some(raw) => delay.min(raw),
            None => delay,
        }
    }
}
