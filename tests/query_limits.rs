//! Bad and runaway queries get Prometheus' error responses and leave the server serving.
mod util;

use std::time::{Duration, Instant};
use strix_ingest::remote_write::proto;
use util::{now_ms, StrixProcess};

fn load(strix: &StrixProcess, series: usize, points: usize) {
    let end = now_ms();
    for k in 0..points {
        let t = end - ((points - k) as i64) * 15_000;
        let req = proto::WriteRequest {
            timeseries: (0..series)
                .map(|i| proto::TimeSeries {
                    labels: vec![
                        proto::Label {
                            name: b"__name__".to_vec(),
                            value: b"load_metric".to_vec(),
                        },
                        proto::Label {
                            name: b"i".to_vec(),
                            value: i.to_string().into_bytes(),
                        },
                    ],
                    samples: vec![proto::Sample {
                        value: k as f64,
                        timestamp: t,
                    }],
                    ..Default::default()
                })
                .collect(),
            metadata: vec![],
        };
        let (code, body) = strix.remote_write(&req);
        assert_eq!(code, 204, "{body}");
    }
}

fn error_of(body: &str) -> (String, String) {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(v["status"], "error", "{body}");
    (
        v["errorType"].as_str().unwrap_or("").to_string(),
        v["error"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn bad_and_runaway_queries_get_prometheus_errors() {
    let strix = StrixProcess::start(
        &[],
        Some("self_scrape: false\nhost_metrics: {enabled: false}\nquery:\n  max_samples: 1000\n"),
    );
    load(&strix, 50, 40);

    // Syntax error → 400 bad_data.
    let (code, body) = strix.get("/api/v1/query?query=sum(");
    assert_eq!(code, 400, "{body}");
    assert_eq!(error_of(&body).0, "bad_data");
    // Type error → 400 bad_data.
    let (code, body) = strix.get("/api/v1/query?query=rate(load_metric)");
    assert_eq!(code, 400, "{body}");
    assert_eq!(error_of(&body).0, "bad_data");
    // More samples than query.max_samples → 422 execution with Prometheus' message.
    let (code, body) = strix.get("/api/v1/query?query=count_over_time(load_metric%5B1h%5D)");
    assert_eq!(code, 422, "{body}");
    let (kind, msg) = error_of(&body);
    assert_eq!(kind, "execution");
    assert!(msg.contains("too many samples"), "{msg}");

    // The server still answers queries and health.
    let (code, body) = strix.get("/api/v1/query?query=count(load_metric)");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"50\""), "{body}");
    assert_eq!(strix.get("/api/monitoring/health").0, 200);
}

#[test]
fn runaway_query_times_out_and_server_keeps_serving() {
    let strix = StrixProcess::start(
        &[],
        Some("self_scrape: false\nhost_metrics: {enabled: false}\n"),
    );
    load(&strix, 5, 5);
    // Millions of subquery steps; a request's timeout= lowers the configured one.
    let started = Instant::now();
    let (code, body) =
        strix.get("/api/v1/query?query=count_over_time(vector(1)%5B60d:1s%5D)&timeout=50ms");
    assert_eq!(code, 503, "{body}");
    assert_eq!(error_of(&body).0, "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "timeout took {:?}",
        started.elapsed()
    );
    let (code, body) = strix.get("/api/v1/query?query=count(load_metric)");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"5\""), "{body}");
}
