//! Engine self-metrics, registered once by [`crate::Db::open`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResolutionLabel {
    pub resolution: &'static str,
}

#[derive(Clone)]
pub struct DbMetrics {
    pub samples_appended: Counter,
    pub out_of_order_samples: Counter,
    pub samples_rejected: Family<ReasonLabel, Counter>,
    pub head_series: Gauge,
    pub head_chunks: Gauge,
    pub head_series_created: Counter,
    pub head_series_removed: Counter,
    pub head_truncations: Counter,
    pub blocks: Family<ResolutionLabel, Gauge>,
    pub blocks_bytes: Family<ResolutionLabel, Gauge>,
    pub wal_bytes: Gauge,
    pub compactions: Counter,
    pub compaction_failures: Counter,
    pub compaction_duration: Histogram,
    pub retention_deletions: Family<ReasonLabel, Counter>,
    pub rollup_blocks_built: Counter,
    pub wal_replay_duration: Gauge<f64, AtomicU64>,
}

impl DbMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        let r = registry;
        r.register(
            "strix_tsdb_samples_appended",
            "Samples appended to the head.",
            m.samples_appended.clone(),
        );
        r.register(
            "strix_tsdb_out_of_order_samples",
            "Samples accepted out of order (within the window or by import).",
            m.out_of_order_samples.clone(),
        );
        r.register(
            "strix_tsdb_samples_rejected",
            "Samples refused on append, by reason.",
            m.samples_rejected.clone(),
        );
        r.register(
            "strix_tsdb_head_series",
            "Series in the head.",
            m.head_series.clone(),
        );
        r.register(
            "strix_tsdb_head_chunks",
            "Chunks in the head.",
            m.head_chunks.clone(),
        );
        r.register(
            "strix_tsdb_head_series_created",
            "Series created in the head.",
            m.head_series_created.clone(),
        );
        r.register(
            "strix_tsdb_head_series_removed",
            "Series removed from the head after their data moved to blocks.",
            m.head_series_removed.clone(),
        );
        r.register(
            "strix_tsdb_head_truncations",
            "Head truncations after cutting blocks.",
            m.head_truncations.clone(),
        );
        r.register(
            "strix_tsdb_blocks",
            "Blocks on disk, by resolution.",
            m.blocks.clone(),
        );
        r.register(
            "strix_tsdb_blocks_size_bytes",
            "Bytes of blocks on disk, by resolution.",
            m.blocks_bytes.clone(),
        );
        r.register(
            "strix_tsdb_wal_size_bytes",
            "Bytes of the write-ahead log on disk.",
            m.wal_bytes.clone(),
        );
        r.register(
            "strix_tsdb_compactions",
            "Blocks written by head cuts and compactions.",
            m.compactions.clone(),
        );
        r.register(
            "strix_tsdb_compaction_failures",
            "Failed head cuts and compactions.",
            m.compaction_failures.clone(),
        );
        r.register(
            "strix_tsdb_compaction_duration_seconds",
            "Duration of head cuts and compactions.",
            m.compaction_duration.clone(),
        );
        r.register(
            "strix_tsdb_retention_deletions",
            "Blocks deleted by retention, by reason (age, size).",
            m.retention_deletions.clone(),
        );
        r.register(
            "strix_tsdb_rollup_blocks_built",
            "Rollup blocks written.",
            m.rollup_blocks_built.clone(),
        );
        r.register(
            "strix_tsdb_wal_replay_duration_seconds",
            "Time the last WAL replay took.",
            m.wal_replay_duration.clone(),
        );
        m
    }

    pub fn unregistered() -> Self {
        DbMetrics {
            samples_appended: Counter::default(),
            out_of_order_samples: Counter::default(),
            samples_rejected: Family::default(),
            head_series: Gauge::default(),
            head_chunks: Gauge::default(),
            head_series_created: Counter::default(),
            head_series_removed: Counter::default(),
            head_truncations: Counter::default(),
            blocks: Family::default(),
            blocks_bytes: Family::default(),
            wal_bytes: Gauge::default(),
            compactions: Counter::default(),
            compaction_failures: Counter::default(),
            compaction_duration: Histogram::new(exponential_buckets(0.01, 4.0, 8)),
            retention_deletions: Family::default(),
            rollup_blocks_built: Counter::default(),
            wal_replay_duration: Gauge::default(),
        }
    }
}
