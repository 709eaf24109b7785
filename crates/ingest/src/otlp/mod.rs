//! OpenTelemetry OTLP/HTTP metrics: `ExportMetricsServiceRequest` in protobuf or OTLP/JSON,
//! translated to Prometheus series the way Prometheus' own OTLP receiver does.
//!
//! Two pure steps, no I/O: [`decode_protobuf`] / [`decode_json`] turn a decompressed body
//! (see [`crate::limits::decompress`]) into an [`ExportRequest`], and [`translate`] turns
//! that into [`OtlpDecoded`] series and metadata. Delta temporality needs state across
//! requests, kept in a caller-owned [`DeltaState`]. [`encode_response_protobuf`] and
//! [`encode_response_json`] build the `ExportMetricsServiceResponse` body (with
//! `partial_success` when data points were skipped).
//!
//! ```
//! use strix_ingest::otlp::{decode_json, translate, DeltaState};
//!
//! let body = br#"{"resourceMetrics":[{"resource":{"attributes":[
//!     {"key":"service.name","value":{"stringValue":"api"}}]},
//!   "scopeMetrics":[{"metrics":[{"name":"http.requests","unit":"1","sum":{
//!     "aggregationTemporality":2,"isMonotonic":true,
//!     "dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"5"}]}}]}]}]}"#;
//! let out = translate(decode_json(body)?, &mut DeltaState::new());
//! assert_eq!(out.series[0].labels.to_string(), r#"http_requests_total{job="api"}"#);
//! assert_eq!(out.series[0].samples[0].t, 1_700_000_000_000);
//! # Ok::<(), strix_ingest::DecodeError>(())
//! ```
mod decode;
pub mod proto;
mod translate;

pub use decode::{
    decode_json, decode_protobuf, encode_response_json, encode_response_protobuf, ExportRequest,
};
pub use translate::{
    attribute_string, label_name, metric_name, translate, unit_name, DeltaState, MetricKind,
    OtlpDecoded, SkipReason,
};

#[cfg(test)]
mod tests;
