//! Router tests without a socket: requests go through `oneshot`.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use prometheus_client::registry::Registry;
use prost::Message;
use strix_ingest::remote_write::proto;
use strix_server::{AppState, ServerOptions};
use strix_tsdb::{Db, DbOptions, FsyncPolicy};
use tower::ServiceExt;

fn app(dir: &std::path::Path, opts: ServerOptions) -> (axum::Router, Db) {
    let mut reg = Registry::default();
    let db = Db::open(
        dir,
        DbOptions {
            fsync: FsyncPolicy::Never,
            ..DbOptions::default()
        },
        &mut reg,
    )
    .unwrap();
    (
        strix_server::build_router(AppState::new(db.clone(), opts, reg)),
        db,
    )
}

fn write_body(name: &str, t: i64) -> Vec<u8> {
    let req = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: vec![proto::Label {
                name: b"__name__".to_vec(),
                value: name.as_bytes().to_vec(),
            }],
            samples: vec![proto::Sample {
                value: 1.0,
                timestamp: t,
            }],
            ..Default::default()
        }],
        metadata: vec![proto::MetricMetadata {
            r#type: 1,
            metric_family_name: name.into(),
            help: "Requests served.".into(),
            unit: String::new(),
        }],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

fn post_write(body: Vec<u8>) -> Request<Body> {
    Request::post("/api/v1/write")
        .header(header::CONTENT_ENCODING, "snappy")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from(body))
        .unwrap()
}

async fn text(r: axum::response::Response) -> String {
    String::from_utf8(
        axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test]
async fn self_metrics_cover_ingest_wal_head_blocks_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _db) = app(dir.path(), ServerOptions::default());
    let r = app
        .clone()
        .oneshot(post_write(write_body(
            "requests_total",
            strix_core::now_millis(),
        )))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = text(r).await;
    for needle in [
        "strix_ingest_samples_total{protocol=\"remote_write\"} 1",
        "strix_tsdb_samples_appended_total 1",
        "strix_tsdb_wal_records_written_total",
        "strix_tsdb_wal_fsync_duration_seconds",
        "strix_tsdb_head_series 1",
        "strix_tsdb_head_chunks",
        "strix_tsdb_blocks",
        "strix_tsdb_blocks_size_bytes",
        "strix_tsdb_compactions_total",
        "strix_http_request_duration_seconds_bucket{le=",
        "strix_http_requests_total{handler=\"/api/v1/write\",code=\"204\"} 1",
    ] {
        assert!(body.contains(needle), "missing {needle:?} in:\n{body}");
    }
    // Metadata that came with the write is served like Prometheus serves it.
    let r = app
        .oneshot(
            Request::get("/api/v1/metadata")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(v["data"]["requests_total"][0]["type"], "counter");
    assert_eq!(v["data"]["requests_total"][0]["help"], "Requests served.");
}

#[tokio::test]
async fn ingest_rate_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ServerOptions {
        ingest_rate: 1,
        ingest_burst: 1,
        ..ServerOptions::default()
    };
    let (app, _db) = app(dir.path(), opts);
    let now = strix_core::now_millis();
    let first = app
        .clone()
        .oneshot(post_write(write_body("a", now)))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let second = app
        .clone()
        .oneshot(post_write(write_body("a", now + 1)))
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers().contains_key(header::RETRY_AFTER));
    let r = app
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(text(r).await.contains(
        "strix_ingest_requests_refused_total{protocol=\"remote_write\",reason=\"rate_limited\"} 1"
    ));
}

#[tokio::test]
async fn closed_storage_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let (app, db) = app(dir.path(), ServerOptions::default());
    db.close().unwrap();
    let r = app
        .clone()
        .oneshot(post_write(write_body("a", strix_core::now_millis())))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    let r = app
        .oneshot(
            Request::get("/api/monitoring/health")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(v["data"]["overallStatus"], "unhealthy");
}

#[tokio::test]
async fn body_over_limit_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ServerOptions {
        max_body_bytes: 1024,
        ..ServerOptions::default()
    };
    let (app, _db) = app(dir.path(), opts);
    let r = app.oneshot(post_write(vec![0u8; 4096])).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn open_health_is_a_summary_without_a_read_key_when_keys_are_configured() {
    use strix_server::auth::{ApiKey, Scope};
    let dir = tempfile::tempdir().unwrap();
    let opts = ServerOptions {
        api_keys: vec![ApiKey::from_plain("reader", "r", vec![Scope::Read])],
        ..ServerOptions::default()
    };
    let (app, _db) = app(dir.path(), opts);
    let get = |key: Option<&'static str>| {
        let app = app.clone();
        async move {
            let mut req = Request::get("/api/monitoring/health");
            if let Some(k) = key {
                req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
            }
            let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    };
    let summary = get(None).await;
    let storage = &summary["data"]["components"][0];
    assert_eq!(storage["name"], "storage");
    assert!(storage["status"].is_string());
    assert!(storage.get("details").is_none(), "{storage}");
    assert!(storage.get("message").is_none(), "{storage}");
    assert!(summary["data"].get("environment").is_none());

    let full = get(Some("r")).await;
    assert!(
        full["data"]["components"][0]["details"].is_object(),
        "{full}"
    );
    assert!(full["data"]["components"][0]["message"].is_string());
}
