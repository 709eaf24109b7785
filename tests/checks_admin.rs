//! End-to-end: health checks managed through the admin API. The real binary probes a
//! loopback HTTP server in the test (switchable between 200 and 500, counting requests per
//! path): a check created with `POST /api/monitoring/checks` turns healthy, goes unhealthy
//! after `retries` failures, is replaced with another `expect_status` and turns healthy again
//! with its incident kept, and once deleted is gone and probed no more; API checks survive a
//! `kill -9` restart; invalid definitions are 400 naming the field; checks from `strix.yaml`
//! are read-only (409). Deadlines are generous; only the order of states is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use util::{agent_with_timeout, wait_for, StrixProcess};

/// A loopback HTTP server answering every request with `code`, counting requests per path.
struct Target {
    port: u16,
    code: Arc<AtomicU16>,
    hits: Arc<Mutex<HashMap<String, u64>>>,
}

impl Target {
    fn start() -> Target {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let code = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let (c, h) = (code.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut s) = stream else { continue };
                let (c, h) = (c.clone(), h.clone());
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
                    let head = String::from_utf8_lossy(&got);
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    *h.lock().unwrap().entry(path).or_default() += 1;
                    let code = c.load(Ordering::SeqCst);
                    let resp = format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                    s.write_all(resp.as_bytes()).ok();
                });
            }
        });
        Target { port, code, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> u64 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn send(s: &StrixProcess, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let req = agent_with_timeout(Duration::from_secs(30))
        .request(method, &s.url(path))
        .set("Content-Type", "application/json");
    let r = match body {
        Some(b) => req.send_string(&b.to_string()),
        None => req.call(),
    };
    let (code, text) = match r {
        Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {path}: {e}"),
    };
    (code, json_of(&text))
}

fn health(s: &StrixProcess, name: &str) -> Option<Value> {
    let (code, body) = s.get(&format!("/api/monitoring/health/{name}"));
    (code == 200).then(|| json_of(&body)["data"].clone())
}

fn listed(s: &StrixProcess) -> Vec<Value> {
    let (code, body) = s.get("/api/monitoring/checks");
    assert_eq!(code, 200, "{body}");
    json_of(&body)["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn wait_status(s: &StrixProcess, name: &str, want: &str) -> Value {
    wait_for(Duration::from_secs(30), &format!("{name} {want}"), || {
        health(s, name).filter(|c| c["status"] == want)
    })
}

fn error_message(v: &Value) -> String {
    v["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

#[test]
fn checks_created_replaced_and_deleted_through_the_api() {
    let t = Target::start();
    // A config check that is never probed (a heartbeat), to show config checks are read-only.
    let config =
        "checks:\n  - {name: nightly, type: heartbeat, token: hb-admin-e2e-1, period: 1h}\n";
    let mut s = StrixProcess::start(&[], Some(config));

    // Create: probed at once, healthy within a few intervals.
    let def = json!({
        "name": "api-web", "type": "http", "url": t.url("/web"),
        "interval": "1s", "timeout": "900ms", "retries": 2, "expect_status": [200],
        "labels": {"team": "core"}
    });
    let (code, v) = send(&s, "POST", "/api/monitoring/checks", Some(&def));
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["data"]["source"], "api", "{v}");
    wait_status(&s, "api-web", "healthy");
    let list = listed(&s);
    let source = |name: &str| {
        list.iter()
            .find(|c| c["name"] == name)
            .map(|c| c["source"].clone())
    };
    assert_eq!(source("nightly"), Some(json!("config")));
    assert_eq!(source("api-web"), Some(json!("api")));
    let (code, v) = send(&s, "GET", "/api/monitoring/checks/api-web/definition", None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["source"], "api");
    assert_eq!(v["data"]["definition"]["url"], t.url("/web"));
    assert_eq!(v["data"]["definition"]["interval"], "1s");
    assert_eq!(v["data"]["definition"]["expect_status"], json!([200]));
    assert!(v["data"]["createdAt"].is_string(), "{v}");

    // The same name again is a conflict.
    let (code, v) = send(&s, "POST", "/api/monitoring/checks", Some(&def));
    assert_eq!(code, 409, "{v}");

    // 500: unhealthy only after `retries` (2) consecutive failures.
    t.code.store(500, Ordering::SeqCst);
    let c = wait_status(&s, "api-web", "unhealthy");
    assert!(c["consecutiveFailures"].as_u64().unwrap_or(0) >= 2, "{c}");

    // Replace with expect_status 500: same name, so status and history are kept, and the
    // next probe turns it healthy; the incident is closed, not lost.
    let mut def2 = def.clone();
    def2["expect_status"] = json!([500]);
    let (code, v) = send(&s, "PUT", "/api/monitoring/checks/api-web", Some(&def2));
    assert_eq!(code, 200, "{v}");
    let c = wait_status(&s, "api-web", "healthy");
    let incidents = c["incidents"].as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 1, "{c}");
    assert_eq!(incidents[0]["open"], false, "{c}");
    let (_, v) = send(&s, "GET", "/api/monitoring/checks/api-web/definition", None);
    assert_eq!(
        v["data"]["definition"]["expect_status"],
        json!([500]),
        "{v}"
    );

    // A second API check, kept across the restart below.
    let keep = json!({
        "name": "api-keep", "type": "http", "url": t.url("/keep"),
        "interval": "1s", "timeout": "900ms", "expect_status": ["5xx"]
    });
    let (code, v) = send(&s, "POST", "/api/monitoring/checks", Some(&keep));
    assert_eq!(code, 201, "{v}");
    wait_status(&s, "api-keep", "healthy");

    // Delete: gone from the list and from health, and the target sees no more probes.
    let (code, v) = send(&s, "DELETE", "/api/monitoring/checks/api-web", None);
    assert_eq!(code, 200, "{v}");
    assert!(listed(&s).iter().all(|c| c["name"] != "api-web"));
    assert!(health(&s, "api-web").is_none());
    std::thread::sleep(Duration::from_millis(300));
    let hits = t.hits("/web");
    let keep_hits = t.hits("/keep");
    assert!(hits >= 4, "{hits} probes of /web");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(t.hits("/web"), hits, "a deleted check was probed");
    assert!(t.hits("/keep") > keep_hits, "the other check stopped too");
    let (code, _) = send(&s, "DELETE", "/api/monitoring/checks/api-web", None);
    assert_eq!(code, 404);

    // Invalid definitions: 400 naming the field; nothing is created.
    let bad = |patch: Value| {
        let mut d = json!({"name": "bad", "type": "http", "url": t.url("/bad")});
        for (k, v) in patch.as_object().unwrap() {
            d[k] = v.clone();
        }
        let (code, v) = send(&s, "POST", "/api/monitoring/checks", Some(&d));
        assert_eq!(code, 400, "{d}: {v}");
        error_message(&v)
    };
    let m = bad(json!({"interval": "0s"}));
    assert!(m.contains("interval: must be positive"), "{m}");
    let m = bad(json!({"interval": 5}));
    assert!(m.starts_with("interval:"), "{m}");
    let m = bad(json!({"type": "smtp"}));
    assert!(m.starts_with("type:"), "{m}");
    let m = bad(json!({"timeout": "5s", "interval": "1s"}));
    assert!(m.contains("timeout: must not exceed the interval"), "{m}");
    let m = bad(json!({"port": 80}));
    assert!(m.contains("port: not allowed for type http"), "{m}");
    let m = bad(json!({"colour": "red"}));
    assert!(m.contains("colour"), "{m}");
    let (code, v) = send(&s, "POST", "/api/monitoring/checks", Some(&json!([1])));
    assert_eq!(code, 400, "{v}");
    let (code, v) = send(&s, "PUT", "/api/monitoring/checks/other", Some(&keep));
    assert_eq!(code, 400, "{v}");
    assert!(error_message(&v).starts_with("name:"), "{v}");
    assert!(health(&s, "bad").is_none());

    // Config checks are read-only.
    let (code, v) = send(&s, "DELETE", "/api/monitoring/checks/nightly", None);
    assert_eq!(code, 409, "{v}");
    assert!(error_message(&v).contains("strix.yaml"), "{v}");
    let hb = json!({"type": "heartbeat", "token": "other-token-1", "period": "1h"});
    let (code, v) = send(&s, "PUT", "/api/monitoring/checks/nightly", Some(&hb));
    assert_eq!(code, 409, "{v}");
    let mut hb2 = hb.clone();
    hb2["name"] = json!("nightly");
    let (code, v) = send(&s, "POST", "/api/monitoring/checks", Some(&hb2));
    assert_eq!(code, 409, "{v}");
    // A heartbeat token in use is a conflict too.
    let taken =
        json!({"name": "hb2", "type": "heartbeat", "token": "hb-admin-e2e-1", "period": "1h"});
    let (code, v) = send(&s, "POST", "/api/monitoring/checks", Some(&taken));
    assert_eq!(code, 409, "{v}");
    assert!(error_message(&v).contains("token"), "{v}");
    // PUT of a new name creates it (and an API heartbeat answers pings).
    let (code, v) = send(
        &s,
        "PUT",
        "/api/monitoring/checks/api-job",
        Some(&json!({"type": "heartbeat", "token": "api-job-token-1", "period": "1h"})),
    );
    assert_eq!(code, 201, "{v}");
    let (code, body) = s.post("/api/monitoring/heartbeat/api-job-token-1", &[], b"");
    assert_eq!(code, 200, "{body}");
    wait_status(&s, "api-job", "healthy");

    // Restart (kill -9): API checks are loaded again and probed; the deleted one stays gone.
    s.restart();
    let names: Vec<(String, String)> = listed(&s)
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["source"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("nightly", "config"),
        ("api-job", "api"),
        ("api-keep", "api"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(names, want);
    let (code, v) = send(
        &s,
        "GET",
        "/api/monitoring/checks/api-keep/definition",
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["definition"]["url"], t.url("/keep"));
    let before = t.hits("/keep");
    wait_for(
        Duration::from_secs(30),
        "api-keep probed after restart",
        || (t.hits("/keep") > before).then_some(()),
    );
    wait_status(&s, "api-keep", "healthy");
    assert_eq!(t.hits("/web"), hits);
    s.stop();
}
