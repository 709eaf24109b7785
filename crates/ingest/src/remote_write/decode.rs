//! `WriteRequest` bytes to [`TimeSeries`].

use strix_core::storage::TimeSeries;

use crate::limits::{check_body_len, snappy_block, DecodeLimits};
use crate::{DecodeError, Metadata};

/// A decoded remote_write request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedWrite {
    /// One entry per request series that carries float samples, labels sorted. Series
    /// with only histograms are validated but left out. Missing `__name__` is not checked
    /// here: the engine refuses such series with its own reason.
    pub series: Vec<TimeSeries>,
    pub metadata: Vec<Metadata>,
    /// Exemplars in the request; Strix does not store them.
    pub exemplars_skipped: u64,
    /// Native histogram samples in the request; Strix does not store them yet.
    pub histograms_skipped: u64,
}

/// Decodes a snappy-block-compressed `WriteRequest` (what Prometheus sends with
/// `Content-Encoding: snappy`), enforcing both caps of `limits`.
///
/// Fails on corrupt snappy ("snappy: ..."), malformed protobuf ("protobuf: ..."), and on
/// any series with a label name or value that is not UTF-8, an empty label name or a
/// duplicate label name ("series N: ..."); a bad series fails the whole request, because
/// the sender would resend the same bytes anyway.
pub fn decode_write_request(
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<DecodedWrite, DecodeError> {
    let raw = decompress_write_request(body, limits)?;
    let scanned = super::scan::parse_write_request(&raw)?;
    Ok(DecodedWrite {
        series: scanned.batch.to_owned_series(),
        metadata: scanned.metadata,
        exemplars_skipped: scanned.exemplars_skipped,
        histograms_skipped: scanned.histograms_skipped,
    })
}

/// Checks the body size and undoes the snappy block compression, within both caps.
/// Pair with [`super::parse_write_request`] to decode without copying label strings.
pub fn decompress_write_request(
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<Vec<u8>, DecodeError> {
    check_body_len(body, limits)?;
    snappy_block(body, limits.max_decompressed_bytes)
}

/// The lower-case name of a remote_write `MetricMetadata.MetricType` number; unknown
/// numbers (from a newer sender) are "unknown".
pub fn metric_type_name(t: i32) -> &'static str {
    match t {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::super::proto;
    use super::*;
    use prost::Message;
    use strix_core::Sample;
    use strix_core::{Labels, STALE_NAN};

    fn label(n: &str, v: &str) -> proto::Label {
        proto::Label {
            name: n.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
        }
    }

    fn series(labels: Vec<proto::Label>, samples: &[(i64, f64)]) -> proto::TimeSeries {
        proto::TimeSeries {
            labels,
            samples: samples
                .iter()
                .map(|&(timestamp, value)| proto::Sample { value, timestamp })
                .collect(),
            exemplars: vec![],
            histograms: vec![],
        }
    }

    fn encode(req: &proto::WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap()
    }

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    #[test]
    fn round_trip() {
        let mut with_extras = series(
            vec![
                label("job", "api"),
                label("__name__", "up"),
                label("empty", ""),
            ],
            &[(1000, 1.0), (2000, STALE_NAN), (3000, f64::INFINITY)],
        );
        with_extras.exemplars.push(proto::Exemplar {
            labels: vec![label("trace_id", "abc")],
            value: 1.0,
            timestamp: 1000,
        });
        with_extras.histograms.push(vec![1, 2, 3]);
        let only_histograms = proto::TimeSeries {
            histograms: vec![vec![], vec![]],
            ..series(vec![label("__name__", "h")], &[])
        };
        let req = proto::WriteRequest {
            timeseries: vec![
                with_extras,
                series(vec![label("__name__", "b")], &[(5, -2.5)]),
                only_histograms,
            ],
            metadata: vec![proto::MetricMetadata {
                r#type: 1,
                metric_family_name: "http_requests_total".into(),
                help: "Requests.".into(),
                unit: "".into(),
            }],
        };
        let d = decode_write_request(&encode(&req), &limits()).unwrap();
        assert_eq!(d.series.len(), 2);
        assert_eq!(
            d.series[0].labels,
            Labels::from_pairs([("__name__", "up"), ("job", "api")])
        );
        assert_eq!(
            d.series[0].samples,
            vec![
                Sample::new(1000, 1.0),
                Sample::new(2000, STALE_NAN),
                Sample::new(3000, f64::INFINITY)
            ]
        );
        assert!(strix_core::is_stale_nan(d.series[0].samples[1].v));
        assert_eq!(d.series[1].labels.metric_name(), Some("b"));
        assert_eq!(d.exemplars_skipped, 1);
        assert_eq!(d.histograms_skipped, 3);
        assert_eq!(
            d.metadata,
            vec![Metadata {
                metric_family_name: "http_requests_total".into(),
                r#type: "counter".into(),
                help: "Requests.".into(),
                unit: "".into(),
            }]
        );
    }

    #[test]
    fn missing_metric_name_is_not_a_decode_error() {
        let req = proto::WriteRequest {
            timeseries: vec![series(vec![label("job", "x")], &[(1, 1.0)])],
            metadata: vec![],
        };
        let d = decode_write_request(&encode(&req), &limits()).unwrap();
        assert_eq!(d.series[0].labels.metric_name(), None);
    }

    #[test]
    fn bad_snappy() {
        let e = decode_write_request(b"\x05not snappy at all", &limits()).unwrap_err();
        assert!(e.to_string().starts_with("snappy: "), "{e}");
    }

    #[test]
    fn truncated_protobuf() {
        let req = proto::WriteRequest {
            timeseries: vec![series(vec![label("__name__", "up")], &[(1, 1.0)])],
            metadata: vec![],
        };
        let mut pb = req.encode_to_vec();
        pb.truncate(pb.len() - 3);
        let body = snap::raw::Encoder::new().compress_vec(&pb).unwrap();
        let e = decode_write_request(&body, &limits()).unwrap_err();
        assert!(e.to_string().starts_with("protobuf: "), "{e}");
    }

    #[test]
    fn snappy_bomb_rejected_without_allocating() {
        // Declares 4 GiB - 1 of output in five bytes.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let e = decode_write_request(&body, &limits()).unwrap_err();
        assert_eq!(
            e,
            DecodeError::TooLarge {
                limit: limits().max_decompressed_bytes
            }
        );
    }

    #[test]
    fn body_limit() {
        let small = DecodeLimits {
            max_body_bytes: 4,
            max_decompressed_bytes: 100,
        };
        assert_eq!(
            decode_write_request(&[0; 5], &small).unwrap_err(),
            DecodeError::TooLarge { limit: 4 }
        );
    }

    #[test]
    fn invalid_utf8_label_value() {
        let bad = proto::Label {
            name: b"path".to_vec(),
            value: vec![b'a', 0xff, b'b'],
        };
        let req = proto::WriteRequest {
            timeseries: vec![
                series(vec![label("__name__", "ok")], &[(1, 1.0)]),
                series(vec![label("__name__", "up"), bad], &[(1, 1.0)]),
            ],
            metadata: vec![],
        };
        let e = decode_write_request(&encode(&req), &limits()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("series 1: "), "{msg}");
        assert!(msg.contains("\"path\"") && msg.contains("UTF-8"), "{msg}");
    }

    #[test]
    fn invalid_utf8_label_name() {
        let bad = proto::Label {
            name: vec![0xc3, 0x28],
            value: b"v".to_vec(),
        };
        let req = proto::WriteRequest {
            timeseries: vec![series(vec![bad], &[(1, 1.0)])],
            metadata: vec![],
        };
        let e = decode_write_request(&encode(&req), &limits()).unwrap_err();
        assert!(e.to_string().starts_with("series 0: label name"), "{e}");
    }

    #[test]
    fn duplicate_and_empty_label_names() {
        let req = proto::WriteRequest {
            timeseries: vec![series(
                vec![label("a", "1"), label("__name__", "x"), label("a", "2")],
                &[(1, 1.0)],
            )],
            metadata: vec![],
        };
        let e = decode_write_request(&encode(&req), &limits()).unwrap_err();
        assert_eq!(e.to_string(), "series 0: duplicate label name \"a\"");

        let req = proto::WriteRequest {
            timeseries: vec![series(vec![label("", "1")], &[(1, 1.0)])],
            metadata: vec![],
        };
        let e = decode_write_request(&encode(&req), &limits()).unwrap_err();
        assert_eq!(e.to_string(), "series 0: empty label name");
    }

    #[test]
    fn type_names() {
        assert_eq!(metric_type_name(0), "unknown");
        assert_eq!(metric_type_name(5), "summary");
        assert_eq!(metric_type_name(99), "unknown");
    }
}
