//! HTTP and ingest self-metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandlerCode {
    pub handler: String,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandlerLabel {
    pub handler: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabel {
    pub protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolReason {
    pub protocol: &'static str,
    pub reason: &'static str,
}

#[derive(Clone)]
pub struct DurationHistogram;
impl MetricConstructor<Histogram> for DurationHistogram {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.0005, 4.0, 10))
    }
}

#[derive(Clone)]
pub struct ServerMetrics {
    pub requests: Family<HandlerCode, Counter>,
    pub request_duration: Family<HandlerLabel, Histogram, DurationHistogram>,
    pub ingest_samples: Family<ProtocolLabel, Counter>,
    pub ingest_rejected_samples: Family<ProtocolReason, Counter>,
    pub ingest_requests_refused: Family<ProtocolReason, Counter>,
    pub ingest_skipped: Family<ProtocolReason, Counter>,
    pub metadata_received: Counter,
}

impl ServerMetrics {
    pub fn new(r: &mut Registry) -> Self {
        let m = ServerMetrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(DurationHistogram),
            ingest_samples: Family::default(),
            ingest_rejected_samples: Family::default(),
            ingest_requests_refused: Family::default(),
            ingest_skipped: Family::default(),
            metadata_received: Counter::default(),
        };
        r.register(
            "strix_http_requests",
            "HTTP requests by route template and status code.",
            m.requests.clone(),
        );
        r.register(
            "strix_http_request_duration_seconds",
            "HTTP request duration by route template.",
            m.request_duration.clone(),
        );
        r.register(
            "strix_ingest_samples",
            "Samples stored, by protocol.",
            m.ingest_samples.clone(),
        );
        r.register(
            "strix_ingest_samples_rejected",
            "Samples refused by the engine, by protocol and reason.",
            m.ingest_rejected_samples.clone(),
        );
        r.register(
            "strix_ingest_requests_refused",
            "Ingest requests refused before storage (size limits, bad encoding, rate limits, overload), by protocol and reason.",
            m.ingest_requests_refused.clone(),
        );
        r.register(
            "strix_ingest_skipped",
            "Items received but not stored (exemplars, native histograms), by protocol and kind.",
            m.ingest_skipped.clone(),
        );
        r.register(
            "strix_ingest_metadata",
            "Metric metadata entries received.",
            m.metadata_received.clone(),
        );
        m
    }
}
