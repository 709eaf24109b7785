//! Error tracking through the HTTP API of a spawned Strix, without SDKs: lifecycle
//! (ignore, unresolve, assign, resolve, regress), tickets, spike detection through the
//! alerting pipeline, investigation, stats and trends, live events, per-project rate
//! limits (429 with Sentry's headers) and bad input that stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod util;

use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use util::StrixProcess;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const LIMITED_KEY: &str = "fedcba9876543210fedcba9876543210";

/// Two projects; `limited` takes 3 events at once and 1 per second after that, `web` the
/// default 1000/s. Critical
/// issues alert at 2 events within an hour; high ones at 2 within 3 s, so they clear fast.
/// The component health thresholds for disk space are off: test machines can be full.
fn config() -> String {
    [
        "projects:".to_string(),
        format!("  - {{id: 1, slug: web, public_key: \"{KEY}\"}}"),
        format!("  - {{id: 2, slug: limited, public_key: \"{LIMITED_KEY}\"}}"),
        "errors:".into(),
        "  limits:".into(),
        "    projects:".into(),
        "      limited: {events_per_second: 1, burst: 3}".into(),
        "    payload:".into(),
        "      max_event_bytes: 65536".into(),
        "  detection:".into(),
        "    evaluation_interval: 1s".into(),
        "    thresholds:".into(),
        "      - {severity: critical, count: 2, window: 1h}".into(),
        "      - {severity: high, count: 2, window: 3s}".into(),
        "check_settings:".into(),
        "  components: {disk_free_percent: 0, disk_free_critical_percent: 0}".into(),
    ]
    .join("\n")
        + "\n"
}

/// A unique event id.
fn event_id(n: u32) -> String {
    format!("{n:032x}")
}

fn envelope(event: &Value) -> Vec<u8> {
    let id = event["event_id"].as_str().unwrap();
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{}\n",
        serde_json::to_string(event).unwrap()
    )
    .into_bytes()
}

/// Posts an envelope; returns status, body and the rate-limit headers.
fn send_raw(
    strix: &StrixProcess,
    project: u32,
    key: &str,
    body: &[u8],
) -> (u16, String, Option<String>, Option<String>) {
    let auth = format!("Sentry sentry_version=7, sentry_key={key}, sentry_client=test/1");
    let req = util::agent_with_timeout(Duration::from_secs(10))
        .post(&strix.url(&format!("/api/{project}/envelope/")))
        .set("x-sentry-auth", &auth)
        .set("content-type", "application/x-sentry-envelope");
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST envelope: {e}"),
    };
    let code = resp.status();
    let retry = resp.header("retry-after").map(str::to_string);
    let limits = resp.header("x-sentry-rate-limits").map(str::to_string);
    (code, resp.into_string().unwrap_or_default(), retry, limits)
}

fn send(strix: &StrixProcess, n: u32, message: &str, extra: Value) -> u16 {
    let mut ev = json!({
        "event_id": event_id(n),
        "level": "error",
        "platform": "python",
        "environment": "production",
        "release": "shop@2.1.0",
        "message": message,
        "tags": {"component": "checkout"},
        "user": {"id": format!("user-{}", n % 3)},
    });
    if let (Some(o), Some(x)) = (ev.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            o.insert(k.clone(), v.clone());
        }
    }
    let (code, body, _, _) = send_raw(strix, 1, KEY, &envelope(&ev));
    assert_eq!(code, 200, "{body}");
    code
}

fn get_json(strix: &StrixProcess, path: &str) -> (u16, Value) {
    let (code, body) = strix.get(path);
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn post_json(strix: &StrixProcess, path: &str, body: Value) -> (u16, Value) {
    let (code, body) = strix.post(
        path,
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn issues(strix: &StrixProcess, query: &str) -> Vec<Value> {
    let (code, v) = get_json(strix, &format!("/api/monitoring/errors/issues?{query}"));
    assert_eq!(code, 200, "{v}");
    v["data"].as_array().unwrap().clone()
}

fn issue_by_title(strix: &StrixProcess, needle: &str) -> Value {
    issues(strix, &format!("q={}", util::urlencode(needle)))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no issue with {needle:?}"))
}

/// Active `ErrorSpike` alerts for an issue in the alerting pipeline.
fn spike_alerts(strix: &StrixProcess, issue: i64) -> Vec<Value> {
    let (code, body) = strix.get("/api/v2/alerts");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["labels"]["alertname"] == "ErrorSpike"
                && a["labels"]["issue"] == issue.to_string().as_str()
        })
        .cloned()
        .collect()
}

fn total_count(strix: &StrixProcess) -> u64 {
    issues(strix, "limit=1000")
        .iter()
        .map(|i| i["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn lifecycle_tickets_detection_and_analysis() {
    let strix = StrixProcess::start(&[], Some(&config()));

    // Two critical payment failures (runbook default) → one issue, a spike alert.
    send(
        &strix,
        1,
        "Payment processing failed: card declined",
        json!({}),
    );
    send(
        &strix,
        2,
        "Payment processing failed: card declined",
        json!({}),
    );
    let pay = issue_by_title(&strix, "card declined");
    let pay_id = pay["id"].as_i64().unwrap();
    assert_eq!(pay["count"], 2);
    assert_eq!(pay["severity"], "critical");
    assert_eq!(pay["category"], "payment");
    assert_eq!(pay["userCount"], 2);
    let alerts = util::wait_for(Duration::from_secs(10), "spike alert", || {
        let a = spike_alerts(&strix, pay_id);
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(alerts[0]["labels"]["project"], "web");
    assert_eq!(alerts[0]["labels"]["severity"], "critical");
    assert_eq!(alerts[0]["labels"]["category"], "payment");
    assert!(alerts[0]["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("card declined"));
    assert!(alerts[0]["annotations"]["link"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/monitoring/errors/issues/{pay_id}")));

    // A similar issue (same category and component, another message).
    send(
        &strix,
        3,
        "Payment processing failed: gateway unreachable",
        json!({}),
    );
    let (code, inv) = get_json(
        &strix,
        &format!("/api/monitoring/errors/{pay_id}/investigation"),
    );
    assert_eq!(code, 200, "{inv}");
    let d = &inv["data"];
    assert_eq!(d["pattern"], "intermittent", "{d}");
    let similar = d["similarIssues"].as_array().unwrap();
    assert_eq!(similar.len(), 1, "{d}");
    assert!(similar[0]["title"].as_str().unwrap().contains("gateway"));
    for k in [
        "memoryPercent",
        "cpuPercent",
        "latencyP99Seconds",
        "errorRatePercent",
    ] {
        let v = &d["systemHealth"][k];
        assert!(v.is_null() || v.is_number(), "{k}: {v}");
    }
    let recs = d["recommendations"].as_array().unwrap();
    assert!(
        recs.iter()
            .any(|r| r.as_str().unwrap().contains("payment provider")),
        "{recs:?}"
    );
    let (code, _) = get_json(&strix, "/api/monitoring/errors/issues/99999/investigation");
    assert_eq!(code, 404);

    // A burst: five more within seconds.
    for n in 10..15 {
        send(
            &strix,
            n,
            "Payment processing failed: card declined",
            json!({}),
        );
    }
    let (_, inv) = get_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{pay_id}/investigation"),
    );
    assert_eq!(inv["data"]["pattern"], "burst", "{inv}");
    assert!(inv["data"]["recommendations"][0]
        .as_str()
        .unwrap()
        .contains("rate limits"));
    assert_eq!(issue_by_title(&strix, "card declined")["pattern"], "burst");

    // Ticket: open, investigate, a step, resolve → issue resolved, alert resolved.
    let (code, body) = get_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{pay_id}/ticket"),
    );
    assert_eq!(code, 404, "no ticket yet: {body}");
    let (code, t) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{pay_id}/ticket"),
        json!({"author": "alice", "status": "investigating", "assignee": "payments-team"}),
    );
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["data"]["status"], "investigating");
    assert_eq!(t["data"]["assignee"], "payments-team");
    let (code, t) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{pay_id}/ticket/steps"),
        json!({"author": "alice", "action": "mitigated", "description": "switched to the backup gateway"}),
    );
    assert_eq!(code, 200, "{t}");
    let (code, t) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{pay_id}/ticket"),
        json!({"author": "alice", "status": "done"}),
    );
    assert_eq!(code, 400, "unknown status: {t}");
    let (code, t) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{pay_id}/ticket"),
        json!({"author": "alice", "status": "resolved", "note": "gateway credentials rotated"}),
    );
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["data"]["issue"]["status"], "resolved");
    assert_eq!(t["data"]["issue"]["resolvedBy"], "alice");
    let actions: Vec<&str> = t["data"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "created",
            "status",
            "mitigated",
            "status",
            "resolved",
            "note"
        ]
    );
    util::wait_for(Duration::from_secs(10), "spike alert resolved", || {
        spike_alerts(&strix, pay_id).is_empty().then_some(())
    });

    // The same error again: regressed, flagged, the ticket reopened.
    send(
        &strix,
        20,
        "Payment processing failed: card declined",
        json!({}),
    );
    let (_, d) = get_json(&strix, &format!("/api/monitoring/errors/issues/{pay_id}"));
    assert_eq!(d["data"]["status"], "regressed", "{d}");
    assert_eq!(d["data"]["regressed"], true);
    assert_eq!(d["data"]["regressionCount"], 1);
    assert_eq!(d["data"]["ticket"]["status"], "open");
    assert_eq!(d["data"]["environments"], json!(["production"]));
    assert_eq!(d["data"]["releases"], json!(["shop@2.1.0"]));

    // Live events: new issues and the regression were published.
    let (_, ev) = get_json(&strix, "/api/monitoring/events?since=0");
    let mine: Vec<&Value> = ev["data"]["events"]
        .as_array()
        .or_else(|| ev["data"].as_array())
        .expect("events list")
        .iter()
        .filter(|e| e["type"] == "error_issue" && e["data"]["id"] == pay_id)
        .collect();
    let kinds: Vec<&str> = mine
        .iter()
        .map(|e| e["data"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["new", "regressed"], "{ev}");
    assert_eq!(mine[1]["data"]["status"], "regressed");
    for k in [
        "id", "title", "level", "status", "category", "severity", "count",
    ] {
        assert!(mine[0]["data"].get(k).is_some(), "{k} missing: {}", mine[0]);
    }

    // High severity (rate limit exceeded → security, high): 2 within 3 s fire, then clear
    // on their own once the window has passed.
    send(
        &strix,
        30,
        "Rate limit exceeded for client 10.0.0.7",
        json!({}),
    );
    send(
        &strix,
        31,
        "Rate limit exceeded for client 10.0.0.7",
        json!({}),
    );
    let rl = issue_by_title(&strix, "Rate limit exceeded");
    let rl_id = rl["id"].as_i64().unwrap();
    assert_eq!(rl["severity"], "high");
    util::wait_for(Duration::from_secs(10), "high spike alert", || {
        (!spike_alerts(&strix, rl_id).is_empty()).then_some(())
    });
    util::wait_for(Duration::from_secs(15), "high spike alert cleared", || {
        spike_alerts(&strix, rl_id).is_empty().then_some(())
    });

    // Ignore for 2 more events, still counted; the third unmutes it.
    let (code, i) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{rl_id}/ignore"),
        json!({"operator": "bob", "count": 2}),
    );
    assert_eq!(code, 200, "{i}");
    assert_eq!(i["data"]["status"], "ignored");
    send(
        &strix,
        32,
        "Rate limit exceeded for client 10.0.0.7",
        json!({}),
    );
    assert_eq!(
        issue_by_title(&strix, "Rate limit exceeded")["status"],
        "ignored"
    );
    send(
        &strix,
        33,
        "Rate limit exceeded for client 10.0.0.7",
        json!({}),
    );
    let rl = issue_by_title(&strix, "Rate limit exceeded");
    assert_eq!(rl["status"], "unresolved", "{rl}");
    assert_eq!(rl["count"], 4);
    let (code, _) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{rl_id}/ignore"),
        json!({"operator": "bob", "until": "2001-01-01T00:00:00Z"}),
    );
    assert_eq!(code, 400, "an ignore that ended in the past");
    let (code, i) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{rl_id}/unresolve"),
        json!({"operator": "bob"}),
    );
    assert_eq!(code, 409, "already unresolved: {i}");
    let (code, i) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{rl_id}/assign"),
        json!({"operator": "bob", "assignee": "edge-team"}),
    );
    assert_eq!(code, 200, "{i}");
    assert_eq!(i["data"]["assignee"], "edge-team");
    let (code, _) = post_json(
        &strix,
        "/api/monitoring/errors/issues/424242/assign",
        json!({"operator": "bob", "assignee": "x"}),
    );
    assert_eq!(code, 404);

    // Filters, search, sort.
    let l = issues(&strix, "assignee=edge-team");
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["id"], rl_id);
    assert_eq!(issues(&strix, "severity=critical").len(), 2);
    assert_eq!(issues(&strix, "status=regressed").len(), 1);
    assert_eq!(issues(&strix, "environment=production").len(), 3);
    assert_eq!(
        issues(&strix, "release=shop%402.1.0&category=payment").len(),
        2
    );
    assert!(issues(&strix, "release=other").is_empty());
    let sorted = issues(&strix, "sort=severity");
    assert_eq!(sorted.last().unwrap()["severity"], "high");
    let page = issues(&strix, "sort=count&limit=1&offset=1");
    assert_eq!(page.len(), 1);
    let (code, _) = get_json(&strix, "/api/monitoring/errors/issues?sort=nonsense");
    assert_eq!(code, 400);

    // Stats and trends.
    let (code, s) = get_json(&strix, "/api/monitoring/errors/stats");
    assert_eq!(code, 200, "{s}");
    let s = &s["data"];
    assert_eq!(s["issues"], 3);
    assert_eq!(s["eventsInWindow"], 13, "{s}");
    assert_eq!(s["topCategories"][0]["name"], "payment", "{s}");
    assert_eq!(s["topComponents"][0]["name"], "checkout", "{s}");
    assert!(s["errorRatePerMinute"].as_f64().unwrap() > 0.0);
    assert_eq!(s["bySeverity"]["critical"], 2);
    // The payment issue was resolved once, by a team; MTTR is known.
    assert!(
        s["mttrSeconds"].is_null(),
        "regressed issues are open again: {s}"
    );
    let (code, t) = get_json(&strix, "/api/monitoring/errors/trends?period=24h");
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["data"]["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(t["data"]["total"], 13);
    assert_eq!(t["data"]["buckets"][23]["count"], 13, "{t}");
    let (_, t7) = get_json(&strix, "/api/monitoring/errors/trends?period=7d");
    assert_eq!(t7["data"]["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(t7["data"]["bucketSeconds"], 7 * 3600);
    let (code, _) = get_json(&strix, "/api/monitoring/errors/trends?period=3y");
    assert_eq!(code, 400);

    // Resolve the rate-limit issue directly: MTTR appears, by category and team.
    let (code, r) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{rl_id}/resolve"),
        json!({"operator": "bob", "notes": "raised the limit"}),
    );
    assert_eq!(code, 200, "{r}");
    let (_, s) = get_json(&strix, "/api/monitoring/errors/stats");
    assert!(s["data"]["mttrSeconds"].as_f64().unwrap() >= 0.0, "{s}");
    assert_eq!(s["data"]["mttrByCategory"]["security"]["resolved"], 1);
    assert_eq!(s["data"]["mttrByTeam"]["edge-team"]["resolved"], 1);

    // Limits and counters are visible as metrics.
    let (_, m) = strix.get("/metrics");
    assert!(
        m.contains("strix_errors_limit{limit=\"events_per_second\"} 1000"),
        "limits not exported"
    );
    assert!(
        m.contains("strix_errors_events_total{project=\"web\",outcome=\"stored\"} 13"),
        "stored counter"
    );
    assert!(m.contains("strix_errors_alerts_total{state=\"firing\"}"));
}

#[test]
fn rate_limits_answer_429_with_sentry_headers() {
    let strix = StrixProcess::start(&[], Some(&config()));
    let mut codes = Vec::new();
    let mut last = None;
    for n in 0..5u32 {
        let ev = json!({"event_id": event_id(100 + n), "message": format!("limited {n}")});
        let (code, body, retry, limits) = send_raw(&strix, 2, LIMITED_KEY, &envelope(&ev));
        codes.push(code);
        if code == 429 {
            last = Some((body, retry, limits));
        }
    }
    assert_eq!(&codes[..3], [200, 200, 200], "{codes:?}");
    assert_eq!(codes[4], 429, "{codes:?}");
    let (body, retry, limits) = last.unwrap();
    assert!(body.contains("rate limit"), "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let limits = limits.expect("X-Sentry-Rate-Limits");
    let parts: Vec<&str> = limits.split(':').collect();
    assert_eq!(parts.len(), 3, "{limits}");
    assert!(parts[0].parse::<u64>().unwrap() >= 1);
    assert!(parts[1].split(';').any(|c| c == "error"), "{limits}");
    assert_eq!(parts[2], "project");
    // The other project is not affected.
    send(&strix, 200, "unaffected", json!({}));
    // A session-only envelope carries no events and is never rate limited.
    let (code, _, _, _) = send_raw(
        &strix,
        2,
        LIMITED_KEY,
        b"{}\n{\"type\":\"session\"}\n{\"sid\":\"x\",\"status\":\"ok\"}\n",
    );
    assert_eq!(code, 200);
    // After the wait, events are accepted again.
    std::thread::sleep(Duration::from_secs(retry + 1));
    let ev = json!({"event_id": event_id(150), "message": "after the wait"});
    let (code, body, _, _) = send_raw(&strix, 2, LIMITED_KEY, &envelope(&ev));
    assert_eq!(code, 200, "{body}");
    let (_, m) = strix.get("/metrics");
    assert!(
        m.contains("strix_errors_events_total{project=\"limited\",outcome=\"rate_limited\"}"),
        "rate-limited events counted"
    );
    assert!(m.contains("strix_errors_rejected_requests_total{reason=\"rate_limited\"}"));
}

#[test]
fn bad_input_is_refused_and_stores_nothing() {
    let strix = StrixProcess::start(&[], Some(&config()));
    send(&strix, 1, "baseline event", json!({}));
    let before = total_count(&strix);

    // Invalid JSON in the event item.
    let body = b"{\"event_id\":\"aa000000000000000000000000000001\"}\n{\"type\":\"event\"}\n{\"message\": \"unterminated\n";
    let (code, body, _, _) = send_raw(&strix, 1, KEY, body);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("JSON"), "{body}");

    // Two events, the second invalid: neither is stored.
    let good = json!({"event_id": event_id(500), "message": "first of two"});
    let mut two = envelope(&good);
    two.extend_from_slice(b"{\"type\":\"event\"}\n[1, 2, 3\n");
    let (code, body, _, _) = send_raw(&strix, 1, KEY, &two);
    assert_eq!(code, 400, "{body}");

    // Deep nesting.
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let ev = format!(
        "{{\"event_id\":\"{}\",\"extra\":{{\"x\":{deep}}}}}",
        event_id(501)
    );
    let body = format!("{{}}\n{{\"type\":\"event\"}}\n{ev}\n");
    let (code, resp, _, _) = send_raw(&strix, 1, KEY, body.as_bytes());
    assert!(code == 400 || code == 413, "{code} {resp}");
    assert!(resp.contains("nested"), "{resp}");

    // An event over max_event_bytes (64 KiB here).
    let big = json!({"event_id": event_id(502), "message": "x".repeat(100_000)});
    let (code, resp, _, _) = send_raw(&strix, 1, KEY, &envelope(&big));
    assert_eq!(code, 413, "{resp}");

    // A gzip bomb: 200 MB of zeros in a small body.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..200 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let auth = format!("Sentry sentry_version=7, sentry_key={KEY}");
    let (code, resp) = strix.post(
        "/api/1/envelope/",
        &[
            ("x-sentry-auth", auth.as_str()),
            ("content-encoding", "gzip"),
        ],
        &bomb,
    );
    assert_eq!(code, 413, "{resp}");

    // Truncated envelope, wrong key, unknown project, unknown encoding.
    let (code, _, _, _) = send_raw(
        &strix,
        1,
        KEY,
        b"{}\n{\"type\":\"event\",\"length\":400}\n{\"message\":\"cut",
    );
    assert_eq!(code, 400);
    let ok = envelope(&json!({"event_id": event_id(503), "message": "fine"}));
    let (code, _, _, _) = send_raw(&strix, 1, LIMITED_KEY, &ok);
    assert_eq!(code, 401, "another project's key");
    let (code, _, _, _) = send_raw(&strix, 9, KEY, &ok);
    assert_eq!(code, 404);
    let (code, resp) = strix.post(
        "/api/1/envelope/",
        &[
            ("x-sentry-auth", auth.as_str()),
            ("content-encoding", "lzma"),
        ],
        &ok,
    );
    assert!(code == 400 || code == 415, "{code} {resp}");

    // Out-of-range times in the API are refused, never an overflow.
    for since in ["-9223372036854775808", "-1"] {
        let (code, v) = get_json(
            &strix,
            &format!("/api/monitoring/errors/issues?since={since}"),
        );
        assert_eq!(code, 400, "{since}: {v}");
        assert_eq!(v["success"], false);
    }
    let id = issue_by_title(&strix, "baseline event")["id"]
        .as_i64()
        .unwrap();
    let (code, v) = post_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{id}/ignore"),
        json!({"operator": "ops", "until": i64::MIN}),
    );
    assert_eq!(code, 400, "{v}");
    assert_eq!(
        issue_by_title(&strix, "baseline event")["status"],
        "unresolved"
    );

    assert_eq!(total_count(&strix), before, "nothing was stored half-way");
    // Other events are unaffected.
    let (code, body, _, _) = send_raw(&strix, 1, KEY, &ok);
    assert_eq!(code, 200, "{body}");
    assert_eq!(total_count(&strix), before + 1);
    let (_, m) = strix.get("/metrics");
    assert!(m.contains("strix_errors_rejected_requests_total{reason=\"invalid\"}"));
    assert!(m.contains("strix_errors_rejected_requests_total{reason=\"too_large\"}"));
}

/// An event with a timestamp from 40 days ago files its new issue under the arrival time
/// (keeping the original in the stored event); the `component` label of
/// `strix_error_events_total` is capped per project.
#[test]
fn old_timestamps_and_component_cardinality() {
    let config = [
        "projects:".to_string(),
        format!("  - {{id: 1, slug: web, public_key: \"{KEY}\"}}"),
        "errors:".into(),
        "  limits:".into(),
        "    max_components_per_project: 2".into(),
        "  detection:".into(),
        "    evaluation_interval: 1s".into(),
        "check_settings:".into(),
        "  components: {disk_free_percent: 0, disk_free_critical_percent: 0}".into(),
    ]
    .join("\n")
        + "\n";
    let strix = StrixProcess::start(&[], Some(&config));
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let old = now_s - 40.0 * 86_400.0;
    send(
        &strix,
        1,
        "sent late from a wrong clock",
        json!({"timestamp": old}),
    );
    // Filed under the arrival time: seen within the last minute.
    let recent = issues(
        &strix,
        &format!(
            "since={}&q={}",
            util::now_ms() - 60_000,
            util::urlencode("sent late from a wrong clock")
        ),
    );
    assert_eq!(recent.len(), 1, "{recent:?}");
    let issue = &recent[0];
    let (code, v) = get_json(
        &strix,
        &format!("/api/monitoring/errors/issues/{}/events", issue["id"]),
    );
    assert_eq!(code, 200, "{v}");
    let payload = &v["data"][0]["payload"];
    assert_eq!(payload["strix"]["timestamp"]["reason"], "past_timestamp");
    let original = payload["strix"]["timestamp"]["original"].as_f64().unwrap();
    assert!((original - old).abs() < 0.001, "{payload}");

    // Components a and b are counted by name, later ones as "other".
    for (n, c) in [
        (2, "alpha"),
        (3, "beta"),
        (4, "gamma"),
        (5, "delta"),
        (6, "alpha"),
    ] {
        send(
            &strix,
            n,
            &format!("failure in {c}"),
            json!({"tags": {"component": c}}),
        );
    }
    let series = strix.export("strix_error_events_total");
    let mut by_component: Vec<(String, f64)> = series
        .iter()
        .map(|s| {
            (
                s.labels.get("component").cloned().unwrap_or_default(),
                s.values.last().copied().unwrap_or(0.0),
            )
        })
        .collect();
    by_component.sort_by(|a, b| a.0.cmp(&b.0));
    // The first event's component ("checkout") took one of the two places.
    assert_eq!(
        by_component,
        vec![
            ("alpha".to_string(), 2.0),
            ("checkout".to_string(), 1.0),
            ("other".to_string(), 3.0)
        ]
    );
    let (_, m) = strix.get("/metrics");
    assert!(
        m.contains("strix_errors_component_overflow_events_total{project=\"web\"} 3"),
        "{m}"
    );
    assert!(m.contains("strix_errors_limit{limit=\"max_components_per_project\"} 2"));
}
