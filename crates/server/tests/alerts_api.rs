//! The alerting HTTP API through the router (`oneshot`, no socket): Strix's
//! `/api/monitoring/{alerts,silences,notifications,receivers,kpis}` and Alertmanager's
//! `/api/v2/*`, over a real pipeline and a temporary SQLite state store.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use prometheus_client::registry::Registry;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use strix_alerting::pipeline::{default_routing_config, AlertPipeline, PipelineOptions};
use strix_core::storage::{AppendMode, Appendable, TimeSeries};
use strix_core::{Labels, Sample};
use strix_server::auth::{ApiKey, Scope};
use strix_server::{AppState, ServerOptions, Services};
use strix_state::{AlertRecord, AlertState, OutboxItem, SqliteStore, StateStore, SYSTEM_ACTOR};
use strix_tsdb::{Db, DbOptions, FsyncPolicy};
use tower::ServiceExt;

const MIN: i64 = 60_000;

struct TestApp {
    router: axum::Router,
    store: Arc<dyn StateStore>,
    pipeline: AlertPipeline,
    db: Db,
    _dir: tempfile::TempDir,
}

fn build(opts: ServerOptions, seed: impl FnOnce(&dyn StateStore), start: bool) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::default();
    let db = Db::open(
        &dir.path().join("tsdb"),
        DbOptions {
            fsync: FsyncPolicy::Never,
            ..DbOptions::default()
        },
        &mut reg,
    )
    .unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    seed(store.as_ref());
    let routing = default_routing_config().unwrap();
    let pipeline =
        AlertPipeline::new(routing, store.clone(), PipelineOptions::default(), &mut reg).unwrap();
    if start {
        pipeline.start(&tokio::runtime::Handle::current());
    }
    let services = Services {
        alerts: Some(pipeline.clone()),
        ..Services::default()
    };
    let router =
        strix_server::build_router(AppState::with_services(db.clone(), opts, reg, services));
    TestApp {
        router,
        store,
        pipeline,
        db,
        _dir: dir,
    }
}

fn alert(
    fp: &str,
    rule: &str,
    state: AlertState,
    severity: &str,
    starts_at: i64,
    labels: &[(&str, &str)],
) -> AlertRecord {
    let mut a = AlertRecord::new(fp, rule, state, starts_at);
    a.severity = severity.into();
    a.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    a.labels.insert("alertname".into(), rule.into());
    a.labels.insert("severity".into(), severity.into());
    a.annotations.insert(
        "summary".into(),
        format!(
            "{rule} on {}",
            a.labels.get("instance").cloned().unwrap_or_default()
        ),
    );
    a.value = 1.5;
    a
}

/// Four alerts: two firing (critical, warning), one pending, one resolved.
fn seed(s: &dyn StateStore) -> Vec<String> {
    let now = strix_core::now_millis();
    let list = [
        alert(
            "00000000000000a1",
            "HighLatency",
            AlertState::Firing,
            "critical",
            now - 30 * MIN,
            &[("instance", "web-1"), ("team", "shop")],
        ),
        alert(
            "00000000000000a2",
            "DiskFull",
            AlertState::Firing,
            "warning",
            now - 20 * MIN,
            &[("instance", "db-1"), ("team", "db")],
        ),
        alert(
            "00000000000000a3",
            "HighLatency",
            AlertState::Pending,
            "critical",
            now - 10 * MIN,
            &[("instance", "web-2"), ("team", "shop")],
        ),
        alert(
            "00000000000000a4",
            "CpuBusy",
            AlertState::Firing,
            "info",
            now - 40 * MIN,
            &[("instance", "db-1"), ("team", "db")],
        ),
    ];
    let ids: Vec<String> = list
        .iter()
        .map(|a| s.upsert_alert(a, SYSTEM_ACTOR, "").unwrap().record.id)
        .collect();
    s.transition(
        &ids[3],
        AlertState::Resolved,
        "bob",
        "fixed",
        now - 35 * MIN,
    )
    .unwrap();
    ids
}

async fn send(app: &TestApp, req: Request<Body>) -> (StatusCode, Option<String>, String) {
    let r = app.router.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string());
    let body = String::from_utf8(
        axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    (status, ct, body)
}

async fn get(app: &TestApp, uri: &str) -> (StatusCode, Value) {
    let (s, _, b) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

async fn post(app: &TestApp, uri: &str, body: Value) -> (StatusCode, String) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (s, _, b) = send(app, req).await;
    (s, b)
}

async fn delete(app: &TestApp, uri: &str) -> (StatusCode, String) {
    let (s, _, b) = send(app, Request::delete(uri).body(Body::empty()).unwrap()).await;
    (s, b)
}

fn ids_of(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["rule"].as_str().unwrap().to_string()
                + "/"
                + a["labels"]["instance"].as_str().unwrap()
        })
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn list_filters_sorts_pages_and_exports() {
    let app = build(ServerOptions::default(), |s| drop(seed(s)), false);
    // Default: newest first, every state, meta with the total.
    let (s, v) = get(&app, "/api/monitoring/alerts").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["success"], true);
    assert_eq!(v["meta"], json!({"total": 4, "offset": 0, "limit": 100}));
    assert_eq!(
        ids_of(&v),
        [
            "HighLatency/web-2",
            "DiskFull/db-1",
            "HighLatency/web-1",
            "CpuBusy/db-1"
        ]
    );
    let a = &v["data"][2];
    for k in [
        "id",
        "state",
        "labels",
        "annotations",
        "severity",
        "startsAt",
        "value",
        "updatedAt",
        "endsAt",
        "acknowledgedBy",
        "acknowledgedAt",
        "resolvedBy",
        "resolvedAt",
        "notes",
    ] {
        assert!(a.get(k).is_some(), "missing {k} in {a}");
    }
    assert_eq!(
        (
            a["state"].as_str(),
            a["severity"].as_str(),
            a["value"].as_f64()
        ),
        (Some("firing"), Some("critical"), Some(1.5))
    );
    assert!(a["startsAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["data"][3]["resolvedBy"], "bob");

    // Filters.
    let (_, v) = get(&app, "/api/monitoring/alerts?state=firing,pending").await;
    assert_eq!(v["meta"]["total"], 3);
    let (_, v) = get(
        &app,
        "/api/monitoring/alerts?state=active&severity=critical",
    )
    .await;
    assert_eq!(ids_of(&v), ["HighLatency/web-2", "HighLatency/web-1"]);
    let (_, v) = get(&app, "/api/monitoring/alerts?match[]=%7Bteam%3D%22db%22%7D").await;
    assert_eq!(ids_of(&v), ["DiskFull/db-1", "CpuBusy/db-1"]);
    let (_, v) = get(
        &app,
        "/api/monitoring/alerts?match[]=team%3Ddb&match[]=alertname%3D~%22Disk.%2A%22",
    )
    .await;
    assert_eq!(ids_of(&v), ["DiskFull/db-1"]);
    let (_, v) = get(&app, "/api/monitoring/alerts?q=WEB-1").await;
    assert_eq!(ids_of(&v), ["HighLatency/web-1"]);
    let (_, v) = get(&app, "/api/monitoring/alerts?rule=HighLatency").await;
    assert_eq!(v["meta"]["total"], 2);

    // Sort and paging.
    let (_, v) = get(&app, "/api/monitoring/alerts?sort=startsAt").await;
    assert_eq!(
        ids_of(&v),
        [
            "CpuBusy/db-1",
            "HighLatency/web-1",
            "DiskFull/db-1",
            "HighLatency/web-2"
        ]
    );
    let (_, v) = get(&app, "/api/monitoring/alerts?sort=-severity&state=firing").await;
    assert_eq!(ids_of(&v), ["HighLatency/web-1", "DiskFull/db-1"]);
    let (_, v) = get(&app, "/api/monitoring/alerts?sort=state").await;
    assert_eq!(v["data"][0]["state"], "pending");
    assert_eq!(v["data"][3]["state"], "resolved");
    let (_, v) = get(
        &app,
        "/api/monitoring/alerts?sort=startsAt&offset=1&limit=2",
    )
    .await;
    assert_eq!(v["meta"], json!({"total": 4, "offset": 1, "limit": 2}));
    assert_eq!(ids_of(&v), ["HighLatency/web-1", "DiskFull/db-1"]);

    // CSV export.
    let (s, ct, body) = send(
        &app,
        Request::get("/api/monitoring/alerts?format=csv&sort=startsAt&state=firing")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        lines[0].starts_with("id,state,severity,rule,startsAt"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].contains(",firing,critical,HighLatency,")
            && lines[1].contains("\"{alertname=\"\"HighLatency\"\""),
        "{}",
        lines[1]
    );
    let (_, v) = get(&app, "/api/monitoring/alerts?format=json&limit=1").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    // Bad parameters: 400 in the Strix envelope.
    for q in [
        "state=open",
        "sort=colour",
        "limit=100000",
        "limit=-1",
        "format=xml",
        "match[]=%7Bteam%3D",
        "since=yesterday",
    ] {
        let (s, v) = get(&app, &format!("/api/monitoring/alerts?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(v["success"], false, "{q}");
        assert_eq!(v["error"]["code"], "bad_request", "{q}");
    }
}

#[tokio::test]
async fn acknowledge_resolve_history_and_conflicts() {
    let mut ids = Vec::new();
    let app = build(ServerOptions::default(), |s| ids = seed(s), false);
    let id = &ids[0];
    let (s, body) = post(
        &app,
        &format!("/api/monitoring/alerts/{id}/acknowledge"),
        json!({"operator": "alice", "notes": "looking"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            v["data"]["state"].as_str(),
            v["data"]["acknowledgedBy"].as_str()
        ),
        (Some("acknowledged"), Some("alice"))
    );
    assert!(v["data"]["acknowledgedAt"].is_string());

    // Acknowledging twice is an invalid transition: 409.
    let (s, body) = post(
        &app,
        &format!("/api/monitoring/alerts/{id}/acknowledge"),
        json!({"operator": "bob"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "conflict");

    let (s, _) = post(
        &app,
        &format!("/api/monitoring/alerts/{id}/resolve"),
        json!({"operator": "alice", "notes": "rolled back"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = post(
        &app,
        &format!("/api/monitoring/alerts/{id}/resolve"),
        json!({"operator": "alice"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Detail with the whole history.
    let (s, v) = get(&app, &format!("/api/monitoring/alerts/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let d = &v["data"];
    assert_eq!(
        (
            d["id"].as_str(),
            d["state"].as_str(),
            d["resolvedBy"].as_str(),
            d["notes"].as_str()
        ),
        (
            Some(id.as_str()),
            Some("resolved"),
            Some("alice"),
            Some("rolled back")
        )
    );
    let h = d["history"].as_array().unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(keys(&h[0]), ["actor", "at", "from", "notes", "to"]);
    assert_eq!(
        (
            h[0]["from"].clone(),
            h[0]["to"].as_str(),
            h[0]["actor"].as_str()
        ),
        (Value::Null, Some("firing"), Some("system"))
    );
    assert_eq!(
        (
            h[1]["from"].as_str(),
            h[1]["to"].as_str(),
            h[1]["actor"].as_str(),
            h[1]["notes"].as_str()
        ),
        (
            Some("firing"),
            Some("acknowledged"),
            Some("alice"),
            Some("looking")
        )
    );
    assert_eq!(
        (h[2]["to"].as_str(), h[2]["notes"].as_str()),
        (Some("resolved"), Some("rolled back"))
    );

    // Missing alert: 404; bad bodies: 400.
    let (s, v) = get(&app, "/api/monitoring/alerts/nope").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, _) = post(
        &app,
        "/api/monitoring/alerts/nope/acknowledge",
        json!({"operator": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(
        &app,
        &format!("/api/monitoring/alerts/{}/acknowledge", ids[1]),
        json!({"notes": "who?"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = post(
        &app,
        &format!("/api/monitoring/alerts/{}/acknowledge", ids[1]),
        json!({"operator": "  "}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stats_count_and_time() {
    let mut ids = Vec::new();
    let app = build(ServerOptions::default(), |s| ids = seed(s), false);
    app.pipeline.acknowledge(&ids[1], "alice", "").unwrap();
    let (s, v) = get(&app, "/api/monitoring/alerts/stats?period=7d").await;
    assert_eq!(s, StatusCode::OK);
    let d = &v["data"];
    assert_eq!(d["total"], 4);
    assert_eq!(
        d["bySeverity"],
        json!({"critical": 2, "warning": 1, "info": 1})
    );
    assert_eq!(
        d["byState"],
        json!({"pending": 1, "firing": 1, "acknowledged": 1, "resolved": 1})
    );
    let mtta = d["mttaSeconds"].as_f64().unwrap();
    assert!((1199.0..1300.0).contains(&mtta), "{mtta}");
    assert!(
        (d["mttrSeconds"].as_f64().unwrap() - 300.0).abs() < 1.0,
        "{d}"
    );
    assert_eq!(d["topRules"][0], json!({"rule": "HighLatency", "count": 2}));
    assert_eq!(d["period"], "7d");
    // Only alerts that started in the period count.
    let (_, v) = get(&app, "/api/monitoring/alerts/stats?period=15m").await;
    assert_eq!(v["data"]["total"], 1);
    let (s, _) = get(&app, "/api/monitoring/alerts/stats?period=soon").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

fn silence_body(comment: &str) -> Value {
    let now = strix_core::now_millis();
    let t = |ms: i64| chrono_like(ms);
    json!({
        "matchers": [{"name": "team", "value": "db", "isRegex": false, "isEqual": true},
                     {"name": "instance", "value": "db-.*", "isRegex": true}],
        "startsAt": t(now - MIN),
        "endsAt": t(now + 60 * MIN),
        "createdBy": "alice",
        "comment": comment,
    })
}

/// RFC 3339 for a millisecond time (through the server's own formatter).
fn chrono_like(ms: i64) -> String {
    strix_server::api::alerts::rfc3339(ms)
}

const SILENCE_KEYS: [&str; 8] = [
    "comment",
    "createdBy",
    "endsAt",
    "id",
    "matchers",
    "startsAt",
    "status",
    "updatedAt",
];

#[tokio::test]
async fn silences_in_both_apis() {
    let app = build(ServerOptions::default(), |_| {}, false);
    // Strix API: create, list, expire.
    let (s, body) = post(
        &app,
        "/api/monitoring/silences",
        silence_body("maintenance"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let sil = &v["data"];
    assert_eq!(keys(sil), SILENCE_KEYS);
    assert_eq!(sil["status"], json!({"state": "active"}));
    assert_eq!(
        sil["matchers"][1],
        json!({"name": "instance", "value": "db-.*", "isRegex": true, "isEqual": true})
    );
    let id = sil["id"].as_str().unwrap().to_string();
    let (_, v) = get(&app, "/api/monitoring/silences?state=active").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (_, v) = get(&app, "/api/monitoring/silences?state=expired").await;
    assert!(v["data"].as_array().unwrap().is_empty());
    let (s, body) = delete(&app, &format!("/api/monitoring/silences/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("\"expired\""), "{body}");
    let (s, _) = delete(&app, &format!("/api/monitoring/silences/{id}")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, body) = post(&app, "/api/monitoring/silences", json!({"matchers": [], "startsAt": chrono_like(0), "endsAt": chrono_like(1), "createdBy": "x", "comment": ""})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"success\":false"), "{body}");

    // Alertmanager v2: POST answers {"silenceID"}; GET shapes are gettableSilence.
    let (s, body) = post(&app, "/api/v2/silences", silence_body("deploy")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(keys(&v), ["silenceID"]);
    let sid = v["silenceID"].as_str().unwrap().to_string();
    let (s, v) = get(&app, &format!("/api/v2/silence/{sid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(keys(&v), SILENCE_KEYS);
    assert_eq!(
        (
            v["comment"].as_str(),
            v["createdBy"].as_str(),
            v["status"]["state"].as_str()
        ),
        (Some("deploy"), Some("alice"), Some("active"))
    );
    assert!(v["startsAt"].as_str().unwrap().ends_with('Z'));

    // Update in place (same matchers, new end) keeps the id.
    let mut upd = silence_body("deploy, extended");
    upd["id"] = json!(sid);
    upd["startsAt"] = v["startsAt"].clone();
    let (s, body) = post(&app, "/api/v2/silences", upd).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["silenceID"], sid.as_str());

    // List: active first, expired last; `filter` as Alertmanager applies it.
    let (_, v) = get(&app, "/api/v2/silences").await;
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["id"].as_str(), list[1]["status"]["state"].as_str()),
        (Some(sid.as_str()), Some("expired"))
    );
    assert!(list.iter().all(|s| keys(s) == SILENCE_KEYS));
    let (_, v) = get(&app, "/api/v2/silences?filter=team%3D%22db%22").await;
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (_, v) = get(&app, "/api/v2/silences?filter=team%3D%22web%22").await;
    assert!(v.as_array().unwrap().is_empty());

    // Errors: Alertmanager's bare JSON string.
    let (s, body) = post(&app, "/api/v2/silences", json!({"matchers": [{"name": "a", "value": ".*", "isRegex": true}], "startsAt": chrono_like(0), "endsAt": chrono_like(strix_core::now_millis() + MIN), "createdBy": "x", "comment": ""})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_str()
            .unwrap()
            .contains("empty string"),
        "{body}"
    );
    let (s, _) = get(&app, "/api/v2/silence/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = delete(&app, &format!("/api/v2/silence/{sid}")).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, ""));
    let (_, v) = get(&app, &format!("/api/v2/silence/{sid}")).await;
    assert_eq!(v["status"]["state"], "expired");
    let (s, _) = delete(&app, "/api/v2/silence/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn wait_for_alerts(app: &TestApp, n: usize) -> Value {
    for _ in 0..200 {
        let (s, v) = get(app, "/api/v2/alerts").await;
        assert_eq!(s, StatusCode::OK);
        if v.as_array().is_some_and(|a| a.len() >= n) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("alerts did not arrive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_alerts_from_prometheus() {
    let app = build(ServerOptions::default(), |_| {}, true);
    let now = strix_core::now_millis();
    // Prometheus' notifier payload.
    let payload = json!([
        {"labels": {"alertname": "InstanceDown", "instance": "a:9100", "severity": "critical", "job": "node"},
         "annotations": {"summary": "a:9100 down"},
         "startsAt": chrono_like(now - 5 * MIN), "endsAt": chrono_like(now + 4 * MIN),
         "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0"},
        {"labels": {"alertname": "InstanceDown", "instance": "b:9100", "severity": "critical", "job": "node"},
         "annotations": {}, "startsAt": chrono_like(now - MIN), "endsAt": "0001-01-01T00:00:00Z", "generatorURL": ""}
    ]);
    let (s, body) = post(&app, "/api/v2/alerts", payload).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, ""));
    let v = wait_for_alerts(&app, 2).await;
    let a = &v[0];
    assert_eq!(
        keys(a),
        [
            "annotations",
            "endsAt",
            "fingerprint",
            "generatorURL",
            "labels",
            "receivers",
            "startsAt",
            "status",
            "updatedAt"
        ]
    );
    assert_eq!(a["labels"]["instance"], "a:9100");
    assert_eq!(
        a["status"],
        json!({"inhibitedBy": [], "silencedBy": [], "state": "active"})
    );
    assert_eq!(a["receivers"], json!([{"name": "default"}]));
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
    assert!(
        v[0]["fingerprint"].as_str() < v[1]["fingerprint"].as_str(),
        "sorted by fingerprint"
    );

    // The alerts are in the Strix API too, as external firing alerts.
    let (_, l) = get(
        &app,
        "/api/monitoring/alerts?match[]=alertname%3DInstanceDown",
    )
    .await;
    assert_eq!(l["meta"]["total"], 2);
    assert_eq!(l["data"][0]["state"], "firing");

    // A silence suppresses one.
    let sil = json!({"matchers": [{"name": "instance", "value": "b:9100", "isRegex": false}], "startsAt": chrono_like(now), "endsAt": chrono_like(now + 60 * MIN), "createdBy": "ops", "comment": "x"});
    let (s, body) = post(&app, "/api/v2/silences", sil).await;
    assert_eq!(s, StatusCode::OK);
    let sid = serde_json::from_str::<Value>(&body).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, v) = get(&app, "/api/v2/alerts?filter=instance%3D%22b%3A9100%22").await;
    assert_eq!(
        v[0]["status"],
        json!({"inhibitedBy": [], "silencedBy": [sid], "state": "suppressed"})
    );
    let (_, v) = get(&app, "/api/v2/alerts?silenced=false").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = get(&app, "/api/v2/alerts?active=false").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = get(&app, "/api/v2/alerts?receiver=nobody").await;
    assert!(v.as_array().unwrap().is_empty());

    // Validation as Alertmanager: the valid alert is taken, the others refused with 400.
    let (s, body) = post(&app, "/api/v2/alerts", json!([
        {"labels": {"alertname": "Ok"}},
        {"labels": {"": "x"}},
        {"labels": {"alertname": "Backwards"}, "startsAt": chrono_like(now), "endsAt": chrono_like(now - MIN)},
    ])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let msg = serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("start time must be before end time") && msg.contains("; "),
        "{msg}"
    );
    let (s, _) = post(&app, "/api/v2/alerts", json!({"not": "an array"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    wait_for_alerts(&app, 3).await;
    app.pipeline.shutdown().await;
}

#[tokio::test]
async fn v2_status_and_receivers() {
    let app = build(ServerOptions::default(), |_| {}, false);
    let (s, v) = get(&app, "/api/v2/status").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(keys(&v), ["cluster", "config", "uptime", "versionInfo"]);
    assert_eq!(
        (
            v["cluster"]["status"].as_str(),
            v["cluster"]["peers"].clone()
        ),
        (Some("ready"), json!([]))
    );
    assert!(v["config"]["original"]
        .as_str()
        .unwrap()
        .contains("default"));
    assert_eq!(v["versionInfo"]["version"], strix_server::VERSION);
    assert!(v["uptime"].as_str().unwrap().ends_with('Z'));
    let (_, v) = get(&app, "/api/v2/receivers").await;
    assert_eq!(v, json!([{"name": "default"}]));
    let (_, v) = get(&app, "/api/monitoring/receivers").await;
    assert_eq!(v, json!({"success": true, "data": ["default"]}));
    // Test notification to an unknown receiver: 404 envelope.
    let (s, body) = post(&app, "/api/monitoring/receivers/nobody/test", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    // The default receiver has no channels: nothing to send, no receipts.
    let (s, body) = post(&app, "/api/monitoring/receivers/default/test", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["receiver"], "default");
    assert!(v["data"]["receipts"].is_array());
}

#[tokio::test]
async fn notification_log_filters_and_pages() {
    let app = build(ServerOptions::default(), |_| {}, false);
    let now = strix_core::now_millis();
    for (i, receiver) in ["ops", "ops", "dev"].iter().enumerate() {
        let item = OutboxItem {
            idempotency_key: format!("k{i}"),
            receiver: receiver.to_string(),
            channel: "webhook".into(),
            payload: json!({}).to_string(),
            not_before: now,
        };
        let e = app.store.enqueue(&item, now).unwrap();
        if i == 1 {
            app.store
                .mark_failed(e.id, 1, now + 1000, "HTTP 500", now + 1)
                .unwrap();
        } else {
            app.store
                .mark_delivered(e.id, now + 2 + i as i64, "200 OK")
                .unwrap();
        }
    }
    let (s, v) = get(&app, "/api/monitoring/notifications").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["meta"]["total"], 3);
    let row = &v["data"][0];
    assert_eq!(
        keys(row),
        [
            "at",
            "attempt",
            "channel",
            "detail",
            "id",
            "idempotencyKey",
            "outboxId",
            "receiver",
            "status"
        ]
    );
    assert_eq!(
        (row["receiver"].as_str(), row["status"].as_str()),
        (Some("dev"), Some("delivered")),
        "newest first"
    );
    let (_, v) = get(
        &app,
        "/api/monitoring/notifications?receiver=ops&status=failed",
    )
    .await;
    assert_eq!(v["meta"]["total"], 1);
    assert_eq!(v["data"][0]["detail"], "HTTP 500");
    let (_, v) = get(&app, "/api/monitoring/notifications?limit=1&offset=1").await;
    assert_eq!(
        (
            v["meta"]["total"].as_u64(),
            v["data"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    let (s, _) = get(&app, "/api/monitoring/notifications?status=lost").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn scopes_guard_reads_writes_and_ingest() {
    let opts = ServerOptions {
        api_keys: vec![
            ApiKey::from_plain("reader", "r", vec![Scope::Read]),
            ApiKey::from_plain("sender", "i", vec![Scope::Ingest]),
            ApiKey::from_plain("operator", "a", vec![Scope::Admin]),
        ],
        ..ServerOptions::default()
    };
    let mut ids = Vec::new();
    let app = build(opts, |s| ids = seed(s), false);
    let req = |method: &str, uri: &str, key: &str, body: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let ack = format!("/api/monitoring/alerts/{}/acknowledge", ids[0]);
    let op = r#"{"operator":"alice"}"#;
    let cases = [
        ("GET", "/api/monitoring/alerts", "r", "", StatusCode::OK),
        (
            "GET",
            "/api/monitoring/alerts",
            "i",
            "",
            StatusCode::FORBIDDEN,
        ),
        ("POST", ack.as_str(), "r", op, StatusCode::FORBIDDEN),
        (
            "POST",
            "/api/monitoring/silences",
            "r",
            "{}",
            StatusCode::FORBIDDEN,
        ),
        (
            "DELETE",
            "/api/v2/silence/x",
            "r",
            "",
            StatusCode::FORBIDDEN,
        ),
        ("POST", "/api/v2/silences", "r", "{}", StatusCode::FORBIDDEN),
        ("GET", "/api/v2/silences", "r", "", StatusCode::OK),
        ("POST", "/api/v2/alerts", "r", "[]", StatusCode::FORBIDDEN),
        ("POST", "/api/v2/alerts", "i", "[]", StatusCode::OK),
        (
            "POST",
            "/api/monitoring/receivers/default/test",
            "r",
            "",
            StatusCode::FORBIDDEN,
        ),
        ("POST", ack.as_str(), "a", op, StatusCode::OK),
    ];
    for (m, uri, key, body, want) in cases {
        let (s, _, b) = send(&app, req(m, uri, key, body)).await;
        assert_eq!(s, want, "{m} {uri} with {key}: {b}");
    }
    let (s, _, _) = send(
        &app,
        Request::get("/api/monitoring/alerts")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_alerting_the_api_is_unavailable() {
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
    let router = strix_server::build_router(AppState::new(db, ServerOptions::default(), reg));
    let r = router
        .oneshot(
            Request::get("/api/monitoring/alerts")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = serde_json::from_slice(
        &axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["error"]["code"], "unavailable");
}

#[tokio::test]
async fn kpi_status_endpoint() {
    let entries: Vec<strix_rules::kpi::KpiConfig> = serde_json::from_value(json!([
        {"name": "api_latency", "expr": "latency_ms", "unit": "ms", "direction": "above", "target": 150, "warning": 200, "critical": 500, "for": "5m"},
        {"name": "hit_rate", "expr": "hit_ratio * 100", "unit": "%", "direction": "below", "warning": 80, "critical": 60},
        {"name": "queue", "expr": "queue_length", "direction": "above", "warning": 10},
    ]))
    .unwrap();
    let kpis = strix_rules::kpi::from_config(&entries, false).unwrap();
    let app = build(
        ServerOptions {
            kpis,
            ..ServerOptions::default()
        },
        |_| {},
        false,
    );
    let now = strix_core::now_millis();
    for (name, v) in [("latency_ms", 620.0), ("hit_ratio", 0.75)] {
        let ts = TimeSeries {
            labels: Labels::from_pairs([("__name__", name), ("job", "api")]),
            samples: vec![Sample { t: now - 1000, v }],
        };
        app.db.append(&[ts], AppendMode::Live).unwrap();
    }
    let (s, v) = get(&app, "/api/monitoring/kpis").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["success"], true);
    let d = v["data"].as_array().unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(
        d[0],
        json!({"name": "api_latency", "description": "", "expr": "latency_ms", "unit": "ms", "direction": "above", "target": 150.0, "warning": 200.0, "critical": 500.0,
               "for": "5m", "value": 620.0, "status": "critical",
               "series": [{"labels": {"__name__": "latency_ms", "job": "api"}, "value": 620.0, "status": "critical"}]})
    );
    assert_eq!(
        (d[1]["status"].as_str(), d[1]["value"].as_f64()),
        (Some("warning"), Some(75.0))
    );
    assert_eq!(d[1]["expr"], "hit_ratio * 100");
    assert_eq!(
        (
            d[2]["status"].as_str(),
            d[2]["value"].clone(),
            d[2]["critical"].clone()
        ),
        (Some("unknown"), Value::Null, Value::Null)
    );
    assert!(v["meta"]["evaluatedAt"].as_str().unwrap().ends_with('Z'));
    let (s, _) = get(&app, "/api/monitoring/kpis?time=never").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn alert_detail_shows_its_escalation() {
    let mut ids = Vec::new();
    let app = build(ServerOptions::default(), |s| ids = seed(s), false);
    let critical = app.store.get_alert(&ids[0]).unwrap().unwrap();
    // The default critical policy (0, 15m, 30m): levels 0 and 1 paged, level 2 due next.
    let next_at = critical.starts_at + 30 * MIN;
    app.store
        .upsert_escalation(
            &strix_state::Escalation {
                alert_id: ids[0].clone(),
                policy: "critical".into(),
                level: 2,
                repeat: 0,
                next_at,
            },
            strix_core::now_millis(),
        )
        .unwrap();
    let (s, v) = get(&app, &format!("/api/monitoring/alerts/{}", ids[0])).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["data"]["escalation"],
        json!({"policy": "critical", "level": 1, "levels": 3,
               "nextAt": strix_server::api::alerts::rfc3339(next_at), "repeat": 0, "state": "active"})
    );
    // No policy for warning; a pending alert has not escalated.
    for id in [&ids[1], &ids[2]] {
        let (_, v) = get(&app, &format!("/api/monitoring/alerts/{id}")).await;
        assert!(v["data"].get("escalation").is_some(), "{v}");
        assert_eq!(v["data"]["escalation"], Value::Null, "{v}");
    }
    // Acknowledging stops it (the timer is removed): the level reached stays visible.
    app.pipeline.acknowledge(&ids[0], "alice", "on it").unwrap();
    assert!(app.store.get_escalation(&ids[0]).unwrap().is_none());
    let (_, v) = get(&app, &format!("/api/monitoring/alerts/{}", ids[0])).await;
    let e = &v["data"]["escalation"];
    assert_eq!(
        (
            e["state"].as_str(),
            e["nextAt"].clone(),
            e["levels"].as_u64()
        ),
        (Some("acknowledged"), Value::Null, Some(3)),
        "{v}"
    );
    assert_eq!(
        e["level"], 2,
        "the step due at the acknowledgement counts: {v}"
    );
    app.pipeline.resolve(&ids[0], "alice", "fixed").unwrap();
    let (_, v) = get(&app, &format!("/api/monitoring/alerts/{}", ids[0])).await;
    assert_eq!(v["data"]["escalation"]["state"], "ended", "{v}");
}
