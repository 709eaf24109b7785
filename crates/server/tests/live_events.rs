//! `/api/monitoring/events` (server-sent events and the polling fallback) and
//! `/api/monitoring/dashboard/status`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prometheus_client::registry::Registry;
use serde_json::Value;
use strix_core::events::{kind, EventBus};
use strix_server::{AppState, ServerOptions, Services};
use strix_tsdb::{Db, DbOptions};
use tower::ServiceExt;

fn app(dir: &std::path::Path, bus: Arc<EventBus>) -> axum::Router {
    let mut reg = Registry::default();
    let db = Db::open(dir, DbOptions::default(), &mut reg).unwrap();
    let services = Services {
        events: bus,
        ..Default::default()
    };
    strix_server::build_router(AppState::with_services(
        db,
        ServerOptions::default(),
        reg,
        services,
    ))
}

async fn get_json(app: &axum::Router, uri: &str) -> Value {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// Opens an event stream (optionally resuming after `last_id`).
async fn open_stream(app: &axum::Router, last_id: Option<u64>) -> Body {
    let mut req = Request::get("/api/monitoring/events").header("accept", "text/event-stream");
    if let Some(id) = last_id {
        req = req.header("last-event-id", id.to_string());
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    resp.into_body()
}

/// Reads frames until `n` events (blank-line terminated blocks without a leading
/// comment) arrived; each event as (id, type, data).
async fn read_events(body: &mut Body, n: usize) -> Vec<(String, String, String)> {
    let mut text = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .expect("stream open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let (mut id, mut ty, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.into();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    ty = v.into();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.into();
                }
            }
            if !ty.is_empty() {
                out.push((id, ty, data));
            }
        }
    }
    out
}

#[tokio::test]
async fn polling_returns_events_after_an_id_with_parsed_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(EventBus::starting_at(1024, 1));
    let app = app(dir.path(), bus.clone());
    bus.publish(kind::ALERT, r#"{"id":"a1","state":"firing"}"#.into());
    bus.publish(kind::CHECK, r#"{"name":"web","status":"unhealthy"}"#.into());
    bus.publish(
        kind::KPI,
        r#"{"name":"latency","status":"critical"}"#.into(),
    );

    let v = get_json(&app, "/api/monitoring/events?since=1").await;
    let events = v["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], 2);
    assert_eq!(events[0]["type"], "check");
    assert_eq!(events[0]["data"]["status"], "unhealthy");
    assert_eq!(events[1]["type"], "kpi");
    assert_eq!(v["data"]["lastId"], 3);
    assert_eq!(v["data"]["gap"], false);
}

#[tokio::test]
async fn a_stream_delivers_new_events_and_counts_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(EventBus::starting_at(1024, 1));
    let app = app(dir.path(), bus.clone());
    // Published before the client connected: not sent to a fresh client.
    bus.publish(kind::TICK, "{}".into());
    let mut body = open_stream(&app, None).await;

    let status = get_json(&app, "/api/monitoring/dashboard/status").await;
    assert_eq!(status["data"]["sseClients"], 1);
    assert_eq!(status["data"]["lastEventId"], 1);
    assert!(!status["data"]["components"].as_array().unwrap().is_empty());

    let publisher = bus.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        publisher.publish(kind::ALERT, r#"{"id":"x","state":"firing"}"#.into());
        publisher.publish(kind::ERROR_ISSUE, r#"{"id":7,"event":"new"}"#.into());
    });
    let got = read_events(&mut body, 2).await;
    assert_eq!(got[0].0, "2");
    assert_eq!(got[0].1, "alert");
    assert_eq!(got[0].2, r#"{"id":"x","state":"firing"}"#);
    assert_eq!(
        got[1],
        (
            "3".into(),
            "error_issue".into(),
            r#"{"id":7,"event":"new"}"#.into()
        )
    );

    drop(body);
    let status = get_json(&app, "/api/monitoring/dashboard/status").await;
    assert_eq!(status["data"]["sseClients"], 0);
}

#[tokio::test]
async fn reconnecting_with_last_event_id_replays_what_was_missed() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(EventBus::starting_at(1024, 1));
    let app = app(dir.path(), bus.clone());
    for i in 0..5 {
        bus.publish(kind::CHECK, format!(r#"{{"n":{i}}}"#));
    }
    let mut body = open_stream(&app, Some(2)).await;
    let got = read_events(&mut body, 3).await;
    let ids: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids, ["3", "4", "5"]);
    assert_eq!(got[2].2, r#"{"n":4}"#);
}

#[tokio::test]
async fn a_client_too_far_behind_is_told_to_resync_then_continues() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(EventBus::starting_at(4, 1));
    let app = app(dir.path(), bus.clone());
    for _ in 0..10 {
        bus.publish(kind::TICK, "{}".into());
    }
    let mut body = open_stream(&app, Some(1)).await;
    let first = read_events(&mut body, 1).await;
    assert_eq!(first[0].1, "resync");
    assert_eq!(first[0].0, "10");
    bus.publish(kind::ALERT, r#"{"id":"after"}"#.into());
    let next = read_events(&mut body, 1).await;
    assert_eq!(
        next[0],
        ("11".into(), "alert".into(), r#"{"id":"after"}"#.into())
    );
}

#[tokio::test]
async fn a_dashboard_reconnecting_to_a_restarted_server_resyncs() {
    let dir = tempfile::tempdir().unwrap();
    // The previous process got as far as id 500; this one starts lower.
    let bus = Arc::new(EventBus::starting_at(1024, 1));
    let app = app(dir.path(), bus.clone());
    bus.publish(kind::TICK, "{}".into());
    let mut body = open_stream(&app, Some(500)).await;
    let first = read_events(&mut body, 1).await;
    assert_eq!(first[0].1, "resync");
    assert_eq!(first[0].0, "1");
    bus.publish(kind::CHECK, r#"{"name":"web"}"#.into());
    let next = read_events(&mut body, 1).await;
    assert_eq!(next[0].0, "2");
}
