//! End-to-end health checks: the real binary with `checks:` probing a loopback HTTP server
//! in the test (switchable between 200 and 500), a loopback TCP server (send/expect) and a
//! closed port, and a heartbeat pinged over the API; check alerts through the pipeline,
//! incidents and uptime exact to the millisecond across a `kill -9` restart, the status page,
//! component health, and `strix check-config` errors. Probe-level tests against TLS (rcgen
//! certificates) and DNS (dnsmasq) servers are in `crates/checks/tests/`.
//! Deadlines are generous; nothing asserts on timing, only on the order of states.
#![allow(clippy::unwrap_used)]

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use util::{wait_for, StrixProcess};

const TOKEN: &str = "hb-token-e2e-0123";

/// A loopback HTTP server answering every request with 200, or 500 while `up` is false.
fn target() -> (u16, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let flag = flag.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let (code, text) = if flag.load(Ordering::SeqCst) {
                    (200, "ok")
                } else {
                    (500, "boom")
                };
                let resp = format!(
                    "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                s.write_all(resp.as_bytes()).ok();
            });
        }
    });
    (port, up)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn check(s: &StrixProcess, name: &str) -> Value {
    let (code, body) = s.get(&format!("/api/monitoring/health/{name}"));
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["success"], true, "{body}");
    v["data"].clone()
}

fn status(c: &Value) -> &str {
    c["status"].as_str().unwrap_or("")
}

fn breaker(c: &Value) -> &str {
    c["circuitBreaker"]["state"].as_str().unwrap_or("")
}

fn failures(c: &Value) -> u64 {
    c["consecutiveFailures"].as_u64().unwrap_or(0)
}

#[test]
fn checks_retries_breaker_heartbeat_and_export() {
    let (port, up) = target();
    let config = format!(
        "checks:\n\
         \x20 - {{name: web, type: http, url: 'http://127.0.0.1:{port}/health', interval: 1s, timeout: 900ms, retries: 2, labels: {{team: core}}}}\n\
         \x20 - {{name: job, type: heartbeat, token: {TOKEN}, period: 2s, grace: 1s}}\n"
    );
    let s = StrixProcess::start(&[], Some(&config));
    let long = Duration::from_secs(30);

    // The fixed shape.
    let c = wait_for(long, "web healthy", || {
        let c = check(&s, "web");
        (status(&c) == "healthy").then_some(c)
    });
    assert_eq!(c["name"], "web");
    assert!(c["lastCheck"].is_string(), "{c}");
    assert!(c["latencyMs"].is_number(), "{c}");
    assert_eq!(breaker(&c), "closed");
    for w in ["24h", "7d", "30d", "90d"] {
        assert!(c["uptime"][w].is_object(), "{c}");
    }
    assert!(
        c["slaTarget"].is_number() && c["incidents"].is_array(),
        "{c}"
    );
    let (code, _) = s.get("/api/monitoring/health/no-such-check");
    assert_eq!(code, 404);

    // Down: one failure keeps it healthy, the second turns it unhealthy.
    // (Checked exactly on the stored series below; here only what the API shows.)
    up.store(false, Ordering::SeqCst);
    let c = wait_for(long, "web unhealthy", || {
        let c = check(&s, "web");
        (status(&c) == "unhealthy").then_some(c)
    });
    assert!(
        failures(&c) >= 2,
        "unhealthy after fewer than 2 failures: {c}"
    );

    // The breaker opens after 3 consecutive failures (default threshold).
    let c = wait_for(long, "breaker open", || {
        let c = check(&s, "web");
        (breaker(&c) == "open").then_some(c)
    });
    assert!(failures(&c) >= 3, "breaker opened early: {c}");

    // Overall health follows the worst check; the summary lists the checks.
    let (code, body) = s.get("/api/monitoring/health");
    assert_eq!(
        code, 200,
        "a failing check does not make Strix unhealthy: {body}"
    );
    let h = json(&body);
    assert_eq!(h["data"]["overallStatus"], "unhealthy", "{body}");
    let names: Vec<&str> = h["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str().or(c["component"].as_str()))
        .collect();
    assert!(
        names.contains(&"storage") && names.contains(&"web"),
        "{body}"
    );

    // The reset closes it.
    let (code, body) = s.post(
        "/api/monitoring/health/circuit-breakers/reset",
        &[("Content-Type", "application/json")],
        br#"{"name": "web"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["data"]["reset"][0], "web", "{body}");
    let c = check(&s, "web");
    assert_eq!(breaker(&c), "closed", "{c}");
    let (code, _) = s.post(
        "/api/monitoring/health/circuit-breakers/reset",
        &[("Content-Type", "application/json")],
        br#"{"name": "nope"}"#,
    );
    assert_eq!(code, 404);

    // Back up, with the incident recorded.
    up.store(true, Ordering::SeqCst);
    let c = wait_for(long, "web healthy again", || {
        let c = check(&s, "web");
        (status(&c) == "healthy").then_some(c)
    });
    let inc = c["incidents"].as_array().unwrap();
    assert_eq!(inc.len(), 1, "{c}");
    assert!(inc[0]["end"].is_string() && inc[0]["open"] == false, "{c}");

    // strix_check_up in the metric store, both values, with the check's labels.
    let series = wait_for(long, "strix_check_up exported", || {
        let e = s.export("strix_check_up{check=\"web\"}");
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(
        series[0].labels.get("type").map(String::as_str),
        Some("http")
    );
    assert_eq!(
        series[0].labels.get("team").map(String::as_str),
        Some("core")
    );
    let values: Vec<f64> = series.iter().flat_map(|s| s.values.clone()).collect();
    assert!(values.contains(&1.0) && values.contains(&0.0), "{values:?}");

    // Per probe, `strix_check_status` shares the probe's timestamp: the first failed probe
    // left the check healthy (1), the second made it unhealthy (3).
    let st = s.export("strix_check_status{check=\"web\"}");
    assert_eq!(st.len(), 1, "{}", st.len());
    let status_at: std::collections::BTreeMap<i64, f64> = st[0]
        .timestamps
        .iter()
        .copied()
        .zip(st[0].values.iter().copied())
        .collect();
    let fails: Vec<i64> = series[0]
        .timestamps
        .iter()
        .zip(&series[0].values)
        .filter(|(_, v)| **v == 0.0)
        .map(|(t, _)| *t)
        .collect();
    assert!(fails.len() >= 3, "{fails:?}");
    assert_eq!(status_at.get(&fails[0]), Some(&1.0), "after 1 failure");
    assert_eq!(status_at.get(&fails[1]), Some(&3.0), "after 2 failures");

    // Heartbeat: down when not pinged, up when pinged.
    wait_for(long, "heartbeat down", || {
        (status(&check(&s, "job")) == "unhealthy").then_some(())
    });
    let (code, body) = s.post(&format!("/api/monitoring/heartbeat/{TOKEN}"), &[], b"");
    assert_eq!(code, 200, "{body}");
    wait_for(long, "heartbeat up", || {
        (status(&check(&s, "job")) == "healthy").then_some(())
    });
    let (code, _) = s.get("/api/monitoring/heartbeat/wrong-token");
    assert_eq!(code, 404);
    let (code, _) = s.get(&format!("/api/monitoring/heartbeat/{TOKEN}/start"));
    assert_eq!(code, 200);
    let (code, _) = s.get(&format!("/api/monitoring/heartbeat/{TOKEN}/fail"));
    assert_eq!(code, 200);
    wait_for(long, "heartbeat failed", || {
        (status(&check(&s, "job")) == "unhealthy").then_some(())
    });

    // The list endpoint.
    let (code, body) = s.get("/api/monitoring/checks");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        json(&body)["data"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
}

/// A loopback TCP server answering `PING\n` with `PONG\n` (or `NOPE\n` while `up` is false).
fn tcp_target() -> (u16, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let flag = flag.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 64];
                if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    let answer: &[u8] = if flag.load(Ordering::SeqCst) {
                        b"PONG\n"
                    } else {
                        b"NOPE\n"
                    };
                    s.write_all(answer).ok();
                }
            });
        }
    });
    (port, up)
}

/// Milliseconds of an RFC 3339 UTC time as the API writes it (`2026-01-02T03:04:05.678Z`).
fn ms(v: &Value) -> i64 {
    let t = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    let n =
        |a: usize, b: usize| -> i64 { t[a..b].parse().unwrap_or_else(|_| panic!("bad time {t}")) };
    assert!(t.len() == 24 && t.ends_with('Z'), "bad time {t}");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

/// CheckDown alerts of `check` in `/api/monitoring/alerts` (every state).
fn check_down_alerts(s: &StrixProcess, check: &str) -> Vec<Value> {
    let (code, body) = s.get("/api/monitoring/alerts?limit=100");
    assert_eq!(code, 200, "{body}");
    json(&body)["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == "CheckDown" && a["labels"]["check"] == check)
        .collect()
}

#[test]
fn history_alerts_status_page_and_restart() {
    let (port, up) = target();
    let (tport, tcp_up) = tcp_target();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = format!(
        "check_settings: {{alert_resend: 1s}}\n\
         checks:\n\
         \x20 - {{name: web, type: http, url: 'http://127.0.0.1:{port}/', interval: 1s, timeout: 800ms, retries: 2, public: true, labels: {{severity: page}}}}\n\
         \x20 - {{name: echo, type: tcp, host: 127.0.0.1, port: {tport}, send: \"PING\\n\", expect: PONG, interval: 1s, retries: 1}}\n\
         \x20 - {{name: gone, type: tcp, host: 127.0.0.1, port: {closed}, interval: 1s, retries: 1}}\n"
    );
    let mut s = StrixProcess::start(&[], Some(&config));
    let long = Duration::from_secs(30);

    // TCP: send/expect up, a closed port down, a wrong answer down.
    wait_for(long, "echo healthy", || {
        (status(&check(&s, "echo")) == "healthy").then_some(())
    });
    let g = wait_for(long, "closed port unhealthy", || {
        let c = check(&s, "gone");
        (status(&c) == "unhealthy").then_some(c)
    });
    assert!(g["lastError"].is_string(), "{g}");
    tcp_up.store(false, Ordering::SeqCst);
    wait_for(long, "echo unhealthy on a wrong answer", || {
        (status(&check(&s, "echo")) == "unhealthy").then_some(())
    });

    // One incident on web: down, alert fires with the check's labels, up, alert resolves.
    wait_for(long, "web healthy", || {
        (status(&check(&s, "web")) == "healthy").then_some(())
    });
    up.store(false, Ordering::SeqCst);
    wait_for(long, "web unhealthy", || {
        (status(&check(&s, "web")) == "unhealthy").then_some(())
    });
    // The status change is on the live event bus (polling form of /api/monitoring/events).
    let ev = wait_for(long, "check event", || {
        let (code, body) = s.get("/api/monitoring/events?since=0");
        assert_eq!(code, 200, "{body}");
        json(&body)["data"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .find(|e| {
                e["type"] == "check"
                    && e["data"]["name"] == "web"
                    && e["data"]["status"] == "unhealthy"
            })
    });
    assert_eq!(ev["data"]["previous"], "healthy", "{ev}");
    assert!(
        ev["data"]["at"].is_i64() && ev["data"]["latencyMs"].is_number(),
        "{ev}"
    );
    assert!(
        ev["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("500")),
        "{ev}"
    );
    let a = wait_for(long, "CheckDown firing", || {
        check_down_alerts(&s, "web")
            .into_iter()
            .find(|a| a["state"] == "firing")
    });
    assert_eq!(a["labels"]["type"], "http", "{a}");
    assert_eq!(a["labels"]["severity"], "page", "{a}");
    std::thread::sleep(Duration::from_secs(2));
    up.store(true, Ordering::SeqCst);
    let c = wait_for(long, "web healthy again", || {
        let c = check(&s, "web");
        (status(&c) == "healthy").then_some(c)
    });
    wait_for(long, "CheckDown resolved", || {
        let list = check_down_alerts(&s, "web");
        (list.len() == 1 && list[0]["state"] == "resolved").then_some(())
    });

    // Incident and uptime exact to the millisecond: the 24 h down time is the incident.
    let inc = c["incidents"].as_array().unwrap().clone();
    assert_eq!(inc.len(), 1, "{c}");
    let (start, end) = (ms(&inc[0]["start"]), ms(&inc[0]["end"]));
    assert!(end - start >= 2000, "{c}");
    assert_eq!(inc[0]["durationMs"].as_i64(), Some(end - start), "{c}");
    assert_eq!(c["mttrMs"].as_i64(), Some(end - start), "{c}");
    assert_eq!(
        c["uptime"]["24h"]["downMs"].as_i64(),
        Some(end - start),
        "{c}"
    );
    let up_before = c["uptime"]["24h"]["upMs"].as_i64().unwrap();

    // The status page: public checks only, escaped, 90 bars, the incident listed.
    let (code, body) = s.get("/api/monitoring/status");
    assert_eq!(code, 200, "{body}");
    let st = json(&body)["data"].clone();
    let names: Vec<&str> = st["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["web"], "{body}");
    assert_eq!(st["checks"][0]["days"].as_array().map(Vec::len), Some(90));
    // The daily bars hold the same down time (summed: the incident may cross midnight UTC).
    let days_down: i64 = st["checks"][0]["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["downMs"].as_i64().unwrap())
        .sum();
    assert_eq!(days_down, end - start, "{body}");
    assert_eq!(st["incidents"][0]["check"], "web", "{body}");
    let (code, html) = s.get("/status");
    assert_eq!(code, 200);
    assert!(
        html.contains("<title>Status</title>") && html.contains(">web<"),
        "{html}"
    );
    assert!(
        !html.contains(">echo<") && !html.contains("<script"),
        "{html}"
    );
    assert_eq!(html.matches("class=\"bar ").count(), 90, "{html}");

    // Component health.
    let (code, body) = s.get("/api/monitoring/health");
    assert_eq!(code, 200, "{body}");
    let comps: Vec<String> = json(&body)["data"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        comps,
        ["storage", "ingest", "rules", "notifier", "scrape", "system"]
    );
    let storage = check(&s, "storage");
    assert!(
        storage["details"]["diskFreePercent"].is_number(),
        "{storage}"
    );
    assert_eq!(storage["details"]["writable"], true, "{storage}");
    let system = check(&s, "system");
    assert!(
        system["details"]["memoryTotalBytes"].is_number(),
        "{system}"
    );

    // Restart (kill -9): the incident and the down time are the same; the check continues.
    s.restart();
    let c = wait_for(long, "web after restart", || {
        let c = check(&s, "web");
        (c["lastCheck"].is_string() && status(&c) == "healthy").then_some(c)
    });
    let inc2 = c["incidents"].as_array().unwrap();
    assert_eq!(inc2.len(), 1, "{c}");
    assert_eq!(
        (ms(&inc2[0]["start"]), ms(&inc2[0]["end"])),
        (start, end),
        "{c}"
    );
    assert_eq!(
        c["uptime"]["24h"]["downMs"].as_i64(),
        Some(end - start),
        "{c}"
    );
    assert!(
        c["uptime"]["24h"]["upMs"].as_i64().unwrap() > up_before,
        "{c}"
    );
    // Still the one CheckDown: the restart raised no new alert for web.
    assert_eq!(check_down_alerts(&s, "web").len(), 1);
}

#[test]
fn bad_check_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, key) in [
        ("checks:\n  - {name: a, type: smtp, host: x}\n", "checks[0]"),
        (
            "checks:\n  - {name: a, type: tcp, host: 127.0.0.1, port: 1, interval: -5s}\n",
            "checks[0]",
        ),
        (
            "checks:\n  - {name: a, type: tcp, host: no-such-host.invalid, port: 1}\n",
            "checks[0].host",
        ),
        (
            "check_settings: {history_retention: 7d}\n",
            "check_settings.history_retention",
        ),
    ] {
        let path = dir.path().join("strix.yaml");
        std::fs::write(&path, yaml).unwrap();
        let out = std::process::Command::new(util::strix_bin())
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{yaml} accepted: {err}");
        assert!(
            err.contains(key),
            "{yaml}: error does not name {key}: {err}"
        );
    }
}
