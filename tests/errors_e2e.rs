//! Error tracking end to end: the real Python `sentry-sdk` pointed at a spawned Strix.
//! Grouping into issues, scrubbing, resolve and regress, wrong keys and truncated
//! envelopes.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod util;

use serde_json::Value;
use std::process::Command;
use util::StrixProcess;

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// Component health ignores disk space: test machines can be nearly full.
const DISK: &str =
    "check_settings:\n  components: {disk_free_percent: 0, disk_free_critical_percent: 0}\n";

const SCRIPT: &str = r#"
import sys
import sentry_sdk

dsn, phase = sys.argv[1], sys.argv[2]
sentry_sdk.init(dsn=dsn, default_integrations=False, traces_sample_rate=0)
sentry_sdk.set_extra("password", "hunter2-very-secret")

def boom():
    raise ValueError("bad value")

def other():
    raise KeyError("missing key")

runs = 2 if phase == "first" else 1
for _ in range(runs):
    try:
        boom()
    except Exception as e:
        sentry_sdk.capture_exception(e)
if phase == "first":
    try:
        other()
    except Exception as e:
        sentry_sdk.capture_exception(e)
sentry_sdk.flush(10)
"#;

fn python_sdk_available() -> bool {
    Command::new("python3")
        .args(["-c", "import sentry_sdk"])
        .status()
        .is_ok_and(|s| s.success())
}

fn run_sdk(strix: &StrixProcess, phase: &str) {
    let dsn = format!(
        "http://{KEY}@{}/1",
        strix.base().trim_start_matches("http://")
    );
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &dsn, phase])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "sentry-sdk script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn issues(strix: &StrixProcess) -> Vec<Value> {
    let (code, body) = strix.get("/api/monitoring/errors/issues");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["success"], true);
    v["data"].as_array().unwrap().clone()
}

fn total_events(issues: &[Value]) -> u64 {
    issues.iter().map(|i| i["count"].as_u64().unwrap()).sum()
}

#[test]
fn python_sentry_sdk_groups_scrubs_and_regresses() {
    if !python_sdk_available() {
        assert!(
            std::env::var("STRIX_REQUIRE_PEERS").is_err(),
            "Python sentry-sdk missing and STRIX_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: Python sentry-sdk not installed");
        return;
    }
    let config = format!("projects:\n  - {{id: 1, slug: web, public_key: \"{KEY}\"}}\n{DISK}");
    let strix = StrixProcess::start(&[], Some(&config));

    run_sdk(&strix, "first");
    let list = util::wait_for(
        std::time::Duration::from_secs(10),
        "three events in two issues",
        || {
            let l = issues(&strix);
            (total_events(&l) == 3).then_some(l)
        },
    );
    assert_eq!(list.len(), 2, "{list:?}");
    let mut counts: Vec<u64> = list.iter().map(|i| i["count"].as_u64().unwrap()).collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 2]);
    for i in &list {
        for key in [
            "id",
            "title",
            "culprit",
            "level",
            "status",
            "count",
            "userCount",
            "firstSeen",
            "lastSeen",
            "category",
            "severity",
            "priority",
            "assignee",
            "pattern",
        ] {
            assert!(i.get(key).is_some(), "issue lacks {key}: {i}");
        }
        assert_eq!(i["status"], "unresolved");
    }
    let twice = list.iter().find(|i| i["count"] == 2).unwrap();
    assert!(
        twice["title"].as_str().unwrap().contains("ValueError"),
        "{twice}"
    );
    let id = twice["id"].as_i64().unwrap();

    // The stored payloads are scrubbed.
    let (code, body) = strix.get(&format!("/api/monitoring/errors/issues/{id}/events"));
    assert_eq!(code, 200, "{body}");
    assert!(
        !body.contains("hunter2-very-secret"),
        "password stored: {body}"
    );
    let events: Value = serde_json::from_str(&body).unwrap();
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0]["payload"]["extra"]["password"].is_string());
    let (code, body) = strix.get(&format!("/api/monitoring/errors/issues/{id}"));
    assert_eq!(code, 200, "{body}");

    // Resolve, then the same error again: regressed.
    let (code, body) = strix.post(
        &format!("/api/monitoring/errors/issues/{id}/resolve"),
        &[("content-type", "application/json")],
        br#"{"operator": "alice", "notes": "fixed in 1.2"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"resolved\""), "{body}");
    run_sdk(&strix, "again");
    let issue = util::wait_for(std::time::Duration::from_secs(10), "regression", || {
        let (_, body) = strix.get(&format!("/api/monitoring/errors/issues/{id}"));
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["data"]["count"] == 3).then_some(v)
    });
    assert_eq!(issue["data"]["status"], "regressed", "{issue}");

    // A wrong key is 401; an unknown project 404; nothing stored.
    let before = total_events(&issues(&strix));
    let envelope = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"event\"}\n{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"message\":\"hello\"}\n";
    let wrong = format!("Sentry sentry_version=7, sentry_key={}", "f".repeat(32));
    let (code, body) = strix.post(
        "/api/1/envelope/",
        &[("x-sentry-auth", wrong.as_str())],
        envelope,
    );
    assert_eq!(code, 401, "{body}");
    let right = format!("Sentry sentry_version=7, sentry_key={KEY}");
    let (code, body) = strix.post(
        "/api/7/envelope/",
        &[("x-sentry-auth", right.as_str())],
        envelope,
    );
    assert_eq!(code, 404, "{body}");

    // A truncated envelope (an item whose length runs past the end) is 400.
    let truncated = b"{\"event_id\":\"0ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"event\",\"length\":500}\n{\"event_id\":\"0ec79c33ec9942ab8353589fcb2e04dc\",\"message\":\"cut";
    let (code, body) = strix.post(
        "/api/1/envelope/",
        &[("x-sentry-auth", right.as_str())],
        truncated,
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(total_events(&issues(&strix)), before, "nothing stored");

    // The well-formed envelope with the right key is stored and answered with its id.
    let (code, body) = strix.post(
        "/api/1/envelope/",
        &[("x-sentry-auth", right.as_str())],
        envelope,
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("9ec79c33ec9942ab8353589fcb2e04dc"), "{body}");
    assert_eq!(total_events(&issues(&strix)), before + 1);

    // The legacy store endpoint, gzip body, key in the query string; a non-event item in an
    // envelope is accepted and counted, never an error.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        br#"{"event_id":"1ec79c33ec9942ab8353589fcb2e04dc","message":"from store","level":"warning"}"#,
    )
    .unwrap();
    let (code, body) = strix.post(
        &format!("/api/1/store/?sentry_key={KEY}&sentry_version=7"),
        &[
            ("content-encoding", "gzip"),
            ("content-type", "application/json"),
        ],
        &gz.finish().unwrap(),
    );
    assert_eq!(code, 200, "{body}");
    let session = b"{}\n{\"type\":\"session\"}\n{\"sid\":\"x\",\"status\":\"ok\"}\n";
    let (code, body) = strix.post(
        "/api/1/envelope/",
        &[("x-sentry-auth", right.as_str())],
        session,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(total_events(&issues(&strix)), before + 2);

    // The plain JSON API, categorised by the runbook defaults.
    let (code, body) = strix.post(
        "/api/monitoring/errors",
        &[("content-type", "application/json")],
        br#"{"type": "system", "message": "Database connection failed: timeout after 30s", "component": "orders"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["severity"], "critical", "{body}");
    assert_eq!(total_events(&issues(&strix)), before + 3);

    // CORS preflight for browser SDKs.
    let resp = util::agent_with_timeout(std::time::Duration::from_secs(5))
        .request("OPTIONS", &strix.url("/api/1/envelope/"))
        .set("origin", "https://app.example")
        .set("access-control-request-method", "POST")
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert!(resp
        .header("access-control-allow-headers")
        .unwrap()
        .contains("x-sentry-auth"));

    // Counters in the metric store.
    let events = strix.export("strix_error_events_total");
    let total: f64 = events
        .iter()
        .filter(|s| s.labels.get("project").map(String::as_str) == Some("web"))
        .map(|s| s.values.last().copied().unwrap_or(0.0))
        .sum();
    assert_eq!(total, (before + 3) as f64, "{:?}", events.len());
    let items = strix.export("strix_errors_items_total{type=\"session\"}");
    assert_eq!(items.len(), 1);

    // `strix projects` prints the DSN.
    let cfg_path = strix.scratch().join("projects.yaml");
    std::fs::write(&cfg_path, &config).unwrap();
    let out = Command::new(util::strix_bin())
        .args(["projects", "-c"])
        .arg(&cfg_path)
        .args(["--listen", "127.0.0.1:3003"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("1\tweb\thttp://{KEY}@127.0.0.1:3003/1")
    );
}

const BACKOFF_SCRIPT: &str = r#"
import sys, time
import sentry_sdk

dsn = sys.argv[1]
sentry_sdk.init(dsn=dsn, default_integrations=False, traces_sample_rate=0)
for i in range(10):
    sentry_sdk.capture_message(f"backoff test {i}")
    # One at a time, so each event's send sees the previous answer.
    sentry_sdk.flush(5)
sentry_sdk.flush(10)
"#;

fn metric(strix: &StrixProcess, line_prefix: &str) -> f64 {
    let (_, m) = strix.get("/metrics");
    m.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn python_sentry_sdk_backs_off_on_429() {
    if !python_sdk_available() {
        assert!(
            std::env::var("STRIX_REQUIRE_PEERS").is_err(),
            "Python sentry-sdk missing and STRIX_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: Python sentry-sdk not installed");
        return;
    }
    // 3 events at once, then one per second.
    let config = format!(
        "projects:\n  - {{id: 1, slug: web, public_key: \"{KEY}\"}}\nerrors:\n  limits:\n    projects:\n      web: {{events_per_second: 1, burst: 3}}\n{DISK}"
    );
    let strix = StrixProcess::start(&[], Some(&config));
    let dsn = format!(
        "http://{KEY}@{}/1",
        strix.base().trim_start_matches("http://")
    );
    let out = Command::new("python3")
        .args(["-c", BACKOFF_SCRIPT, &dsn])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "sentry-sdk script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = total_events(&issues(&strix));
    let refused = metric(
        &strix,
        "strix_errors_rejected_requests_total{reason=\"rate_limited\"}",
    );
    // The burst is stored; the SDK then saw 429 + X-Sentry-Rate-Limits and stopped sending
    // error events for the announced time instead of sending all ten.
    assert!((3..=4).contains(&stored), "stored {stored}");
    assert!(refused >= 1.0, "no 429 was answered");
    assert!(
        stored as f64 + refused < 10.0,
        "the SDK kept sending: {stored} stored + {refused} refused of 10"
    );
}
