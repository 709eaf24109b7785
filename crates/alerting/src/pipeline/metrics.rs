//! The pipeline's Prometheus metrics.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type L = Vec<(String, String)>;

fn l(pairs: &[(&str, &str)]) -> L {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[derive(Clone)]
pub(crate) struct Metrics {
    sent: Family<L, Counter>,
    failed: Family<L, Counter>,
    pub retries: Counter,
    pub attempt_panics: Counter,
    pub outbox_read_failures: Counter,
    dropped: Family<L, Counter>,
    rate_limited: Family<L, Counter>,
    pub duration: Histogram,
    pub outbox_pending: Gauge,
    pub record_batch: Histogram,
    pub enqueue_batch: Histogram,
    pub write_queue: Gauge,
    alerts_active: Family<L, Gauge>,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            sent: Family::default(),
            failed: Family::default(),
            retries: Counter::default(),
            attempt_panics: Counter::default(),
            outbox_read_failures: Counter::default(),
            dropped: Family::default(),
            rate_limited: Family::default(),
            duration: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            outbox_pending: Gauge::default(),
            record_batch: Histogram::new([1.0, 4.0, 16.0, 64.0, 256.0, 1024.0]),
            enqueue_batch: Histogram::new([1.0, 4.0, 16.0, 64.0, 256.0, 1024.0]),
            write_queue: Gauge::default(),
            alerts_active: Family::default(),
        };
        registry.register(
            "strix_notifications_sent",
            "Notifications delivered, by receiver and channel.",
            m.sent.clone(),
        );
        registry.register(
            "strix_notifications_failed",
            "Failed delivery attempts, by receiver and channel.",
            m.failed.clone(),
        );
        registry.register(
            "strix_notifications_retries",
            "Delivery attempts rescheduled after a retryable failure.",
            m.retries.clone(),
        );
        registry.register(
            "strix_notification_attempt_panics",
            "Delivery attempts that panicked (counted as failed and retried).",
            m.attempt_panics.clone(),
        );
        registry.register(
            "strix_outbox_read_failures",
            "Failed reads of the pending notification outbox (retried with backoff).",
            m.outbox_read_failures.clone(),
        );
        registry.register(
            "strix_notifications_dropped",
            "Notifications not delivered, by reason (rate_limited, permanent_error, retries_exhausted, unknown_receiver, invalid_payload).",
            m.dropped.clone(),
        );
        registry.register(
            "strix_notifications_rate_limited",
            "Notifications refused by a receiver's rate limit.",
            m.rate_limited.clone(),
        );
        registry.register(
            "strix_notification_delivery_duration_seconds",
            "Duration of one delivery attempt.",
            m.duration.clone(),
        );
        registry.register(
            "strix_outbox_pending",
            "Notifications in the durable outbox not yet delivered or abandoned.",
            m.outbox_pending.clone(),
        );
        registry.register(
            "strix_notifications_outcomes_batch_size",
            "Delivery outcomes written to the outbox in one transaction.",
            m.record_batch.clone(),
        );
        registry.register(
            "strix_notifications_enqueue_batch_size",
            "Notifications written to the outbox in one transaction.",
            m.enqueue_batch.clone(),
        );
        registry.register(
            "strix_notifications_write_queue_chunks",
            "Chunks of decided notifications waiting for the outbox writer thread (at most write_queue_chunks).",
            m.write_queue.clone(),
        );
        registry.register(
            "strix_alerts_active",
            "Open alerts known to the pipeline, by state.",
            m.alerts_active.clone(),
        );
        m
    }

    pub fn sent(&self, receiver: &str, channel: &str) {
        self.sent
            .get_or_create(&l(&[("receiver", receiver), ("channel", channel)]))
            .inc();
    }

    pub fn failed(&self, receiver: &str, channel: &str) {
        self.failed
            .get_or_create(&l(&[("receiver", receiver), ("channel", channel)]))
            .inc();
    }

    pub fn dropped(&self, reason: &str) {
        self.dropped.get_or_create(&l(&[("reason", reason)])).inc();
    }

    pub fn rate_limited(&self, receiver: &str) {
        self.rate_limited
            .get_or_create(&l(&[("receiver", receiver)]))
            .inc();
        self.dropped("rate_limited");
    }

    pub fn set_active(&self, state: &str, n: usize) {
        self.alerts_active
            .get_or_create(&l(&[("state", state)]))
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}
