//! End-to-end alerting: the real binary with a rule file and an `alertmanager:` section,
//! loopback webhook receivers in the test, and (when installed) Prometheus from Debian
//! sending its alerts to Strix's `/api/v2/alerts`.
#![allow(clippy::expect_used)]
#![allow(clippy::unwrap_used)]

mod util;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strix_alerting::channels::webhook::verify_signature;
use util::{kill_child, log_tail, signal, wait_exit, wait_for, StrixProcess};

const SECRET: &str = "e2e-signing-secret";

/// One request the receiver got, with the status it answered.
#[derive(Debug, Clone)]
struct Req {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    answered: u16,
    at: Instant,
}

impl Req {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    fn header(&self, h: &str) -> Option<&str> {
        self.headers
            .get(&h.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A loopback HTTP receiver on a thread (std only): answers 500 to the first
/// `fail_first` requests (or to all while `down`), then 200.
struct Receiver {
    port: u16,
    reqs: Arc<Mutex<Vec<Req>>>,
    down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(fail_first: u32) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let reqs = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(AtomicU32::new(fail_first));
        let down = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, f, d, s) = (reqs.clone(), fail.clone(), down.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &r, &f, &d),
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Receiver {
            port,
            reqs,
            down,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Req> {
        self.reqs.lock().unwrap().clone()
    }

    /// Successful (200) requests whose payload has `alertname` with `status`.
    fn delivered(&self, alertname: &str, status: &str) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| r.answered == 200)
            .filter(|r| {
                let v = r.json();
                v["status"] == status
                    && v["alerts"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|a| a["labels"]["alertname"] == alertname))
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut s: TcpStream, reqs: &Mutex<Vec<Req>>, fail: &AtomicU32, down: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, content_len) = loop {
        let Ok(n) = s.read(&mut chunk) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_string();
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, len);
        }
        if buf.len() > 1 << 20 {
            return;
        }
    };
    while buf.len() < head_end + content_len {
        let Ok(n) = s.read(&mut chunk) else { return };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let failing = down.load(Ordering::Acquire)
        || fail
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
    let code = if failing { 500 } else { 200 };
    reqs.lock().unwrap().push(Req {
        path,
        headers,
        body: buf[head_end..(head_end + content_len).min(buf.len())].to_vec(),
        answered: code,
        at: Instant::now(),
    });
    let _ = write!(
        s,
        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

fn rules_file(dir: &std::path::Path) -> String {
    let p = dir.join("alerts.rules.yml");
    std::fs::write(
        &p,
        "groups:\n- name: e2e\n  rules:\n  - alert: TestMetricHigh\n    expr: test_metric > 10\n    for: 0s\n    labels: {severity: warning}\n    annotations: {summary: 'test_metric is {{ $value }}'}\n",
    )
    .unwrap();
    p.display().to_string()
}

fn config(rules: &str, hook: &str, flaky: Option<&str>) -> String {
    let mut routes = String::new();
    let mut receivers = format!(
        "  - name: hook\n    webhook_configs:\n      - url: {hook}\n        signing_secret: {SECRET}\n"
    );
    if let Some(f) = flaky {
        routes =
            "  routes:\n    - receiver: flaky\n      continue: true\n    - receiver: hook\n".into();
        receivers.push_str(&format!(
            "  - name: flaky\n    webhook_configs:\n      - url: {f}\n"
        ));
    }
    format!(
        "global:\n  evaluation_interval: 1s\nrule_files: [{rules:?}]\nself_scrape: false\nhost_metrics:\n  enabled: false\n\
         check_settings:\n  components:\n    disk_free_percent: 0\n    disk_free_critical_percent: 0\n\
         alertmanager:\n  route:\n    receiver: hook\n    group_by: [alertname]\n    group_wait: 0s\n    group_interval: 1s\n    repeat_interval: 1h\n{}\
         \n  receivers:\n{receivers}",
        routes.lines().map(|l| format!("  {l}\n")).collect::<String>()
    )
}

fn push(strix: &StrixProcess, value: f64) {
    let body = format!(r#"[{{"name":"test_metric","labels":{{"job":"e2e"}},"value":{value}}}]"#);
    let (code, resp) = strix.post(
        "/api/monitoring/metrics",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert!((200..300).contains(&code), "push answered {code}: {resp}");
}

fn check_signed(r: &Req) {
    let ts = r.header("x-strix-timestamp").expect("timestamp header");
    let sig = r.header("x-strix-signature").expect("signature header");
    verify_signature(
        SECRET.as_bytes(),
        ts,
        &r.body,
        sig,
        Duration::from_secs(300),
    )
    .expect("valid signature");
    assert!(r
        .header("x-strix-idempotency-key")
        .is_some_and(|k| !k.is_empty()));
}

#[test]
fn threshold_to_signed_webhook_resolved_and_retries_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path());
    let hook = Receiver::start(0);
    let flaky = Receiver::start(3);
    let strix = StrixProcess::start(
        &[],
        Some(&config(
            &rules,
            &hook.url("/hook"),
            Some(&flaky.url("/flaky")),
        )),
    );
    push(&strix, 1.0);
    std::thread::sleep(Duration::from_millis(1200));
    let t0 = Instant::now();
    push(&strix, 20.0);
    let got = wait_for(Duration::from_secs(5), "firing webhook", || {
        let d = hook.delivered("TestMetricHigh", "firing");
        (!d.is_empty()).then_some(d)
    });
    let latency = got[0].at.duration_since(t0);
    eprintln!("threshold -> webhook: {latency:?}");
    let v = got[0].json();
    assert_eq!(got[0].path, "/hook");
    assert_eq!(v["version"], "4");
    assert_eq!(v["receiver"], "hook");
    assert_eq!(v["alerts"][0]["labels"]["alertname"], "TestMetricHigh");
    assert_eq!(v["alerts"][0]["labels"]["severity"], "warning");
    assert_eq!(v["groupLabels"]["alertname"], "TestMetricHigh");
    check_signed(&got[0]);
    // The flaky receiver answers 500 three times, then 200: delivered with retries,
    // same idempotency key every time; the other receiver was not held up.
    let ok = wait_for(Duration::from_secs(20), "flaky receiver delivery", || {
        let d = flaky.delivered("TestMetricHigh", "firing");
        (!d.is_empty()).then_some(d)
    });
    let all = flaky.requests();
    assert!(all.len() >= 4, "{} requests", all.len());
    let key = ok[0].header("x-strix-idempotency-key").unwrap().to_string();
    assert!(all
        .iter()
        .filter(|r| r.answered == 500)
        .all(|r| r.header("x-strix-idempotency-key") == Some(key.as_str())));
    assert!(got[0].at <= all[1].at, "hook waited for the flaky receiver");
    // The alert is listed as firing.
    let (code, body) = strix.get("/api/monitoring/alerts?state=firing");
    if code == 200 {
        assert!(body.contains("TestMetricHigh"), "{body}");
    }
    // Below the threshold: resolved notification.
    push(&strix, 5.0);
    let res = wait_for(Duration::from_secs(5), "resolved webhook", || {
        let d = hook.delivered("TestMetricHigh", "resolved");
        (!d.is_empty()).then_some(d)
    });
    check_signed(&res[0]);
    assert!(res[0].json()["alerts"][0]["endsAt"]
        .as_str()
        .is_some_and(|s| !s.starts_with("0001")));
    let metrics = strix.get("/metrics").1;
    assert!(
        metrics.contains("strix_notifications_sent_total"),
        "metrics missing"
    );
    assert!(
        metrics.contains("strix_notifications_retries_total"),
        "metrics missing"
    );
}

#[test]
fn kill9_with_pending_delivery_delivers_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path());
    let hook = Receiver::start(0);
    hook.down.store(true, Ordering::Release);
    let mut strix = StrixProcess::start(&[], Some(&config(&rules, &hook.url("/hook"), None)));
    push(&strix, 20.0);
    // Enqueued and attempted (the receiver answers 500).
    wait_for(Duration::from_secs(10), "a failed attempt", || {
        (!hook.requests().is_empty()).then_some(())
    });
    strix.kill9();
    hook.down.store(false, Ordering::Release);
    strix.restart();
    let ok = wait_for(Duration::from_secs(30), "delivery after restart", || {
        let d = hook.delivered("TestMetricHigh", "firing");
        (!d.is_empty()).then_some(d)
    });
    // Leave time for any duplicate to show up.
    std::thread::sleep(Duration::from_secs(3));
    let firing: Vec<Req> = hook
        .requests()
        .into_iter()
        .filter(|r| r.json()["status"] == "firing")
        .collect();
    let keys: std::collections::BTreeSet<String> = firing
        .iter()
        .filter_map(|r| r.header("x-strix-idempotency-key").map(str::to_string))
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "one logical notification, deduplicated by key: {keys:?}"
    );
    assert!(keys.contains(ok[0].header("x-strix-idempotency-key").unwrap()));
    check_signed(&ok[0]);
}

#[test]
fn check_config_names_alertmanager_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("strix.yaml");
    std::fs::write(
        &cfg,
        "alertmanager:\n  route:\n    receiver: nobody\n  receivers:\n    - name: hook\n",
    )
    .unwrap();
    let out = Command::new(util::strix_bin())
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("alertmanager.route"), "{err}");
    std::fs::write(&cfg, "alertmanager:\n  route:\n    receiver: hook\n    group_wait: soon\n  receivers:\n    - name: hook\n").unwrap();
    let out = Command::new(util::strix_bin())
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("alertmanager.route.group_wait"), "{err}");
}

const PROMETHEUS: &str = "/usr/bin/prometheus";

struct Prom(Child);

impl Drop for Prom {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            signal(self.0.id(), libc::SIGTERM);
            if wait_exit(&mut self.0, Duration::from_secs(10)).is_none() {
                kill_child(&mut self.0);
            }
        }
    }
}

#[test]
fn prometheus_sends_alerts_to_v2_api() {
    if !std::path::Path::new(PROMETHEUS).exists() {
        if std::env::var("STRIX_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("STRIX_REQUIRE_PEERS=1 but {PROMETHEUS} is missing (install the Debian package prometheus)");
        }
        eprintln!("SKIPPED prometheus_sends_alerts_to_v2_api: {PROMETHEUS} missing");
        return;
    }
    let api = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/server/src/api/alertmanager.rs");
    if !api.exists() {
        eprintln!(
            "SKIPPED prometheus_sends_alerts_to_v2_api: POST /api/v2/alerts is not implemented yet"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path());
    let hook = Receiver::start(0);
    let strix = StrixProcess::start(&[], Some(&config(&rules, &hook.url("/hook"), None)));
    let prom_rules = dir.path().join("prom.rules.yml");
    std::fs::write(&prom_rules, "groups:\n- name: p\n  rules:\n  - alert: FromPrometheus\n    expr: vector(1) > 0\n    for: 0s\n    labels: {source: prometheus}\n").unwrap();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [{:?}]\nalerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: ['127.0.0.1:{}']\n",
            prom_rules.display().to_string(),
            strix.port
        ),
    )
    .unwrap();
    let prom_port = util::free_port();
    let log = dir.path().join("prometheus.log");
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", prom_cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        // The first send can race the discovery of Strix (Prometheus drops it); resend
        // firing alerts every second rather than every minute.
        .arg("--rules.alert.resend-delay=1s")
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("spawning prometheus");
    let _prom = Prom(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let d = hook.delivered("FromPrometheus", "firing");
        if !d.is_empty() {
            break d;
        }
        if Instant::now() > deadline {
            panic!(
                "Prometheus' alert never reached the webhook\n--- prometheus log:\n{}\n--- strix log:\n{}",
                log_tail(&log, 3000),
                log_tail(&strix.log_path(), 3000)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let v = got[0].json();
    assert_eq!(v["alerts"][0]["labels"]["source"], "prometheus");
    check_signed(&got[0]);
}

#[test]
fn kill9_during_escalation_pages_the_next_level_once_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("critical.rules.yml");
    std::fs::write(
        &rules,
        "groups:\n- name: e2e\n  rules:\n  - alert: TestMetricCritical\n    expr: test_metric > 10\n    for: 0s\n    labels: {severity: critical}\n",
    )
    .unwrap();
    let hook = Receiver::start(0);
    // Level 0 is the routed notification; level 1 pages `oncall` 6 s after firing.
    let cfg = format!(
        "global:\n  evaluation_interval: 1s\nrule_files: [{:?}]\nself_scrape: false\nhost_metrics:\n  enabled: false\n\
         check_settings:\n  components:\n    disk_free_percent: 0\n    disk_free_critical_percent: 0\n\
         alertmanager:\n  route:\n    receiver: hook\n    group_by: [alertname]\n    group_wait: 0s\n    group_interval: 1s\n    repeat_interval: 1h\n\
         \x20 receivers:\n    - name: hook\n      webhook_configs:\n        - url: {}\n    - name: oncall\n      webhook_configs:\n        - url: {}\n\
         \x20 escalation_policies:\n    critical:\n      levels:\n        - delay: 0s\n        - delay: 6s\n          receivers: [oncall]\n",
        rules.display().to_string(),
        hook.url("/hook"),
        hook.url("/oncall"),
    );
    let mut strix = StrixProcess::start(&[], Some(&cfg));
    push(&strix, 20.0);
    let first = wait_for(Duration::from_secs(10), "the firing notification", || {
        let d = hook.delivered("TestMetricCritical", "firing");
        (!d.is_empty()).then_some(d)
    });
    let fired = first[0].at;
    // Crash while the escalation timer is pending, stay down a moment, come back.
    strix.kill9();
    std::thread::sleep(Duration::from_secs(1));
    strix.restart();
    let pages = wait_for(Duration::from_secs(20), "the level-1 page", || {
        let p: Vec<Req> = hook
            .requests()
            .into_iter()
            .filter(|r| r.path == "/oncall")
            .collect();
        (!p.is_empty()).then_some(p)
    });
    let after = pages[0].at.duration_since(fired);
    assert!(
        after >= Duration::from_millis(5_000),
        "level 1 paged {after:?} after firing, before its 6 s delay"
    );
    assert!(
        after <= Duration::from_secs(12),
        "level 1 paged {after:?} after firing"
    );
    assert_eq!(pages[0].json()["status"], "firing");
    assert_eq!(
        pages[0].json()["alerts"][0]["labels"]["alertname"],
        "TestMetricCritical"
    );
    // Nothing repeated: one page (no repeat configured), and the routed notification
    // only ever with one idempotency key.
    std::thread::sleep(Duration::from_secs(4));
    let pages: Vec<Req> = hook
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oncall")
        .collect();
    assert_eq!(pages.len(), 1, "the page was repeated");
    let keys: std::collections::BTreeSet<String> = hook
        .requests()
        .into_iter()
        .filter(|r| r.path == "/hook" && r.json()["status"] == "firing")
        .filter_map(|r| r.header("x-strix-idempotency-key").map(str::to_string))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    // The timer is gone once the last level paged; the alert is still firing.
    let (code, body) = strix.get("/api/monitoring/alerts?state=firing");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1), "{body}");
}
