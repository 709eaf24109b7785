//! Self-metrics of the write-ahead log (`strix_tsdb_wal_*`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Counters, gauge and histogram of one WAL. Cloning shares the underlying values.
///
/// Counter names are registered without `_total`; prometheus-client appends it, so the
/// exposed names are `strix_tsdb_wal_records_written_total` and so on.
#[derive(Debug, Clone)]
pub struct WalMetrics {
    pub(crate) records_written: Counter,
    pub(crate) bytes_written: Counter,
    pub(crate) fsyncs: Counter,
    pub(crate) fsync_duration: Histogram,
    pub(crate) write_failures: Counter,
    pub(crate) corruptions: Counter,
    pub(crate) segment_creations: Counter,
    pub(crate) truncations: Counter,
    pub(crate) poisoned: Gauge,
}

impl WalMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        registry.register(
            "strix_tsdb_wal_records_written",
            "Records written to WAL segments.",
            m.records_written.clone(),
        );
        registry.register(
            "strix_tsdb_wal_bytes_written",
            "Bytes written to WAL segments, frame headers included.",
            m.bytes_written.clone(),
        );
        registry.register(
            "strix_tsdb_wal_fsyncs",
            "WAL fsync calls.",
            m.fsyncs.clone(),
        );
        registry.register(
            "strix_tsdb_wal_fsync_duration_seconds",
            "Duration of WAL fsync calls.",
            m.fsync_duration.clone(),
        );
        registry.register(
            "strix_tsdb_wal_write_failures",
            "Failed WAL writes or fsyncs; each one poisons the WAL.",
            m.write_failures.clone(),
        );
        registry.register(
            "strix_tsdb_wal_corruptions",
            "Corrupt or torn WAL frames found during replay.",
            m.corruptions.clone(),
        );
        registry.register(
            "strix_tsdb_wal_segment_creations",
            "WAL segment files created.",
            m.segment_creations.clone(),
        );
        registry.register(
            "strix_tsdb_wal_truncations",
            "WAL segments truncated or removed by repair after corruption.",
            m.truncations.clone(),
        );
        registry.register(
            "strix_tsdb_wal_poisoned",
            "1 when the WAL refuses writes after a failed write or fsync, else 0.",
            m.poisoned.clone(),
        );
        m
    }

    /// Creates metrics registered nowhere (tests, tools).
    pub fn unregistered() -> Self {
        WalMetrics {
            records_written: Counter::default(),
            bytes_written: Counter::default(),
            fsyncs: Counter::default(),
            // 0.5 ms .. ~4 s.
            fsync_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            write_failures: Counter::default(),
            corruptions: Counter::default(),
            segment_creations: Counter::default(),
            truncations: Counter::default(),
            poisoned: Gauge::default(),
        }
    }
}

impl Default for WalMetrics {
    fn default() -> Self {
        Self::unregistered()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_prefixed_names() {
        let mut registry = Registry::default();
        let m = WalMetrics::new(&mut registry);
        m.records_written.inc();
        m.fsync_duration.observe(0.001);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encode");
        for name in [
            "strix_tsdb_wal_records_written_total",
            "strix_tsdb_wal_bytes_written_total",
            "strix_tsdb_wal_fsyncs_total",
            "strix_tsdb_wal_fsync_duration_seconds_bucket",
            "strix_tsdb_wal_write_failures_total",
            "strix_tsdb_wal_corruptions_total",
            "strix_tsdb_wal_segment_creations_total",
            "strix_tsdb_wal_truncations_total",
            "strix_tsdb_wal_poisoned",
        ] {
            assert!(out.contains(name), "missing {name} in\n{out}");
        }
        assert!(!out.contains("_total_total"));
    }
}
