//! The PromQL and status endpoints through the router, without a socket (`oneshot`):
//! envelope shapes, parameter checks and error types as Prometheus answers them.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use prometheus_client::registry::Registry;
use serde_json::Value;
use strix_server::{AppState, ServerOptions};
use strix_tsdb::{Db, DbOptions, FsyncPolicy};
use tower::ServiceExt;

fn app(dir: &std::path::Path, opts: ServerOptions) -> axum::Router {
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
    strix_server::build_router(AppState::new(db, opts, reg))
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, v)
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn assert_error(got: &(StatusCode, Value), status: StatusCode, error_type: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["status"], "error", "{}", got.1);
    assert_eq!(got.1["errorType"], error_type, "{}", got.1);
    assert!(
        got.1["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        got.1
    );
}

#[tokio::test]
async fn one_plus_one_for_grafana() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), ServerOptions::default());
    let (status, v) = get(&app, "/api/v1/query?query=1%2B1&time=1700000000").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        serde_json::json!({"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "2"]}})
    );

    // POST with a form body, as Grafana sends it.
    let req = Request::post("/api/v1/query")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("query=1%2B1&time=1700000000.5"))
        .unwrap();
    let (status, v) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["result"][0].as_f64(), Some(1_700_000_000.5));
    assert_eq!(v["data"]["result"][1], "2");

    let (status, v) = get(&app, "/api/v1/query?query=%22hello%22&time=10").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "string", "result": [10, "hello"]})
    );

    let (status, v) = get(&app, "/api/v1/query?query=vector(1.5)&time=10").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "vector", "result": [{"metric": {}, "value": [10, "1.5"]}]})
    );

    let (status, v) = get(
        &app,
        "/api/v1/query_range?query=vector(1)&start=0&end=30&step=15s",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "matrix", "result": [{"metric": {}, "values": [[0, "1"], [15, "1"], [30, "1"]]}]})
    );
}

#[tokio::test]
async fn parameter_errors_are_bad_data() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), ServerOptions::default());
    assert_error(
        &get(&app, "/api/v1/query?query=1&time=yesterday").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(&app, "/api/v1/query?query=1&timeout=soon").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(&app, "/api/v1/query_range?query=up&start=0&end=60").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(&app, "/api/v1/query_range?query=up&start=0&end=60&step=0").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(&app, "/api/v1/query_range?query=up&start=0&end=60&step=-1").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(&app, "/api/v1/query_range?query=up&start=60&end=0&step=1").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(&app, "/api/v1/query_range?query=up&end=60&step=1").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    let got = get(
        &app,
        "/api/v1/query_range?query=up&start=0&end=11001&step=1",
    )
    .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "bad_data");
    assert!(got.1["error"]
        .as_str()
        .unwrap()
        .contains("exceeded maximum resolution of 11,000 points per timeseries"));
    // Exactly 11,000 steps is allowed (the check happens before evaluation).
    let got = get(
        &app,
        "/api/v1/query_range?query=up&start=0&end=11000&step=1",
    )
    .await;
    assert_ne!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    let got = get(&app, "/api/v1/query_range?query=up&start=0&end=60&step=15s").await;
    assert_ne!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
}

#[tokio::test]
async fn syntax_errors_are_bad_data() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), ServerOptions::default());
    assert_error(
        &get(&app, "/api/v1/query?query=sum(").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(&app, "/api/v1/query?query=").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(
            &app,
            "/api/v1/query_range?query=rate(up)&start=0&end=60&step=15",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
}

#[tokio::test]
async fn format_query_and_exemplars() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), ServerOptions::default());
    let (status, v) = get(
        &app,
        "/api/v1/format_query?query=sum%28rate%28up%5B5m%5D%29%29by%28job%29",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"], "sum by (job) (rate(up[5m]))");
    assert_error(
        &get(&app, "/api/v1/format_query?query=sum(").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );

    let (status, v) = get(&app, "/api/v1/query_exemplars?query=up&start=0&end=60").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, serde_json::json!({"status": "success", "data": []}));
    assert_error(
        &get(&app, "/api/v1/query_exemplars?query=up(&start=0&end=60").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
    assert_error(
        &get(&app, "/api/v1/query_exemplars?query=up&start=60&end=0").await,
        StatusCode::BAD_REQUEST,
        "bad_data",
    );
}

#[tokio::test]
async fn status_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ServerOptions {
        config_yaml: "storage:\n  retention: 15d\n".into(),
        ..ServerOptions::default()
    };
    let app = app(dir.path(), opts);
    let (status, v) = get(&app, "/api/v1/status/runtimeinfo").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let d = &v["data"];
    assert!(d["startTime"].as_str().unwrap().ends_with('Z'), "{v}");
    assert!(
        d["CWD"].is_string()
            && d["reloadConfigSuccess"] == true
            && d["goroutineCount"].as_u64().is_some(),
        "{v}"
    );
    assert_eq!(d["storageRetention"], "15d");

    let (_, v) = get(&app, "/api/v1/status/config").await;
    assert_eq!(v["data"]["yaml"], "storage:\n  retention: 15d\n");
    let (_, v) = get(&app, "/api/v1/status/flags").await;
    assert_eq!(v, serde_json::json!({"status": "success", "data": {}}));

    let (status, v) = get(&app, "/api/v1/status/tsdb").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["headStats"]["numSeries"], 0);
    assert!(v["data"]["seriesCountByMetricName"].is_array());

    // Grafana takes a server whose buildinfo has `features` for Mimir.
    let (_, v) = get(&app, "/api/v1/status/buildinfo").await;
    assert_eq!(v["status"], "success");
    assert!(v["data"].get("features").is_none(), "{v}");
}

#[tokio::test]
async fn busy_query_slots_answer_503() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::default();
    let db = Db::open(
        dir.path(),
        DbOptions {
            fsync: FsyncPolicy::Never,
            ..DbOptions::default()
        },
        &mut reg,
    )
    .unwrap();
    let opts = ServerOptions {
        max_concurrent_queries: 1,
        ..ServerOptions::default()
    };
    let state = AppState::new(db, opts, reg);
    let app = strix_server::build_router(state.clone());
    let held = state
        .admit_query(strix_server::error::Envelope::Prometheus)
        .unwrap();
    let got = get(&app, "/api/v1/query?query=1").await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(got.1["error"], "too many concurrent queries");
    drop(held);
    let (status, v) = get(&app, "/api/v1/query?query=1").await;
    assert_ne!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
}
