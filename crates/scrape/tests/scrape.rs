//! End-to-end scrapes over loopback: a hand-written HTTP server whose answer the test
//! switches between phases, a real node_exporter, and a real Python prometheus_client app.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use strix_core::storage::{AppendMode, AppendOutcome, Appendable, StorageError, TimeSeries};
use strix_core::{is_stale_nan, Labels, Sample};
use strix_scrape::{ScrapeManager, ScrapeSection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Records every append as one batch.
#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<Vec<TimeSeries>>>,
}

impl Appendable for Recorder {
    fn append(
        &self,
        series: &[TimeSeries],
        _mode: AppendMode,
    ) -> Result<AppendOutcome, StorageError> {
        let n = series.iter().map(|s| s.samples.len() as u64).sum();
        self.batches.lock().unwrap().push(series.to_vec());
        Ok(AppendOutcome {
            samples_appended: n,
            ..AppendOutcome::default()
        })
    }
}

impl Recorder {
    fn mark(&self) -> usize {
        self.batches.lock().unwrap().len()
    }

    /// All (labels, sample) appended since `mark`.
    fn since(&self, mark: usize) -> Vec<(Labels, Sample)> {
        let b = self.batches.lock().unwrap();
        b[mark.min(b.len())..]
            .iter()
            .flatten()
            .flat_map(|ts| ts.samples.iter().map(move |s| (ts.labels.clone(), *s)))
            .collect()
    }

    /// Waits (at most 10s) until a sample since `mark` satisfies `pred`; returns it.
    async fn wait_for(
        &self,
        mark: usize,
        what: &str,
        pred: impl Fn(&Labels, &Sample) -> bool,
    ) -> (Labels, Sample) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(hit) = self.since(mark).into_iter().find(|(l, s)| pred(l, s)) {
                return hit;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn is(l: &Labels, name: &str, pairs: &[(&str, &str)]) -> bool {
    l.metric_name() == Some(name) && pairs.iter().all(|(k, v)| l.get(k) == Some(*v))
}

#[derive(Clone)]
struct Reply {
    status: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    gzip: bool,
}

/// A tiny HTTP/1.1 server answering every request with the current [`Reply`] and
/// recording request heads.
struct TestServer {
    addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    async fn start(reply: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (r, q) = (reply.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (r, q) = (r.clone(), q.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    q.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let rep = r.lock().unwrap().clone();
                    let (body, enc) = if rep.gzip {
                        let mut e =
                            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                        e.write_all(&rep.body).unwrap();
                        (e.finish().unwrap(), "Content-Encoding: gzip\r\n")
                    } else {
                        (rep.body.clone(), "")
                    };
                    let resp = format!(
                        "HTTP/1.1 {}\r\nContent-Type: {}\r\n{enc}Content-Length: {}\r\nConnection: close\r\n\r\n",
                        rep.status,
                        rep.content_type,
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.write_all(&body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        TestServer {
            addr,
            reply,
            requests,
        }
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
}

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn text(body: &str) -> Reply {
    Reply {
        status: "200 OK",
        content_type: TEXT,
        body: body.as_bytes().to_vec(),
        gzip: false,
    }
}

fn section(yaml: &str) -> ScrapeSection {
    let s: ScrapeSection = serde_yaml::from_str(yaml).unwrap();
    s.validate().unwrap();
    s
}

fn manager() -> (ScrapeManager, Arc<Recorder>, Registry) {
    let rec = Arc::new(Recorder::default());
    let mut reg = Registry::default();
    let m = ScrapeManager::new(rec.clone(), &mut reg);
    (m, rec, reg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_formats_labels_limits_and_staleness() {
    let srv = TestServer::start(text(
        "# TYPE a counter\na_total{job=\"scraped\",path=\"/x\"} 1\nb 2\ngo_goroutines 7\n",
    ))
    .await;
    let (mgr, rec, reg) = manager();
    let addr = srv.addr.to_string();
    let cfg = section(&format!(
        r#"
scrape_configs:
  - job_name: app
    scrape_interval: 200ms
    scrape_timeout: 150ms
    static_configs: [{{targets: ['{addr}'], labels: {{env: test}}}}]
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
    sample_limit: 4
  - job_name: honor
    scrape_interval: 200ms
    scrape_timeout: 150ms
    honor_labels: true
    static_configs: [{{targets: ['{addr}']}}]
"#
    ));
    mgr.apply_config(cfg.clone()).unwrap();
    assert_eq!(mgr.targets().len(), 2);

    // Phase 1: text format.
    let (l, s) = rec
        .wait_for(0, "up=1 for job app", |l, s| {
            is(l, "up", &[("job", "app")]) && s.v == 1.0
        })
        .await;
    assert_eq!(
        l,
        Labels::from_pairs([
            ("__name__", "up"),
            ("job", "app"),
            ("instance", addr.as_str()),
            ("env", "test")
        ])
    );
    assert!((s.t - strix_core::now_millis()).abs() < 10_000);
    let all = rec.since(0);
    let (a, _) = all
        .iter()
        .find(|(l, _)| is(l, "a_total", &[("job", "app")]))
        .expect("a_total for app");
    assert_eq!(
        a.get("exported_job"),
        Some("scraped"),
        "honor_labels=false renames"
    );
    assert_eq!(a.get("instance"), Some(addr.as_str()));
    assert_eq!(a.get("env"), Some("test"));
    assert!(
        !all.iter()
            .any(|(l, _)| is(l, "go_goroutines", &[("job", "app")])),
        "metric relabel drop"
    );
    rec.wait_for(0, "honor_labels keeps scraped job", |l, _| {
        is(l, "a_total", &[("job", "scraped")]) && l.get("exported_job").is_none()
    })
    .await;
    rec.wait_for(0, "go_goroutines in honor job", |l, _| {
        is(l, "go_goroutines", &[("job", "honor")])
    })
    .await;
    rec.wait_for(0, "post relabel count", |l, s| {
        is(
            l,
            "scrape_samples_post_metric_relabeling",
            &[("job", "app")],
        ) && s.v == 2.0
    })
    .await;
    rec.wait_for(0, "scraped count", |l, s| {
        is(l, "scrape_samples_scraped", &[("job", "app")]) && s.v == 3.0
    })
    .await;
    {
        let reqs = srv.requests.lock().unwrap();
        let head = reqs[0].to_ascii_lowercase();
        assert!(head.starts_with("get /metrics http/1.1"), "{head}");
        assert!(
            head.contains(&format!(
                "accept: {}",
                strix_scrape::ACCEPT_HEADER.to_ascii_lowercase()
            )),
            "{head}"
        );
        assert!(head.contains("accept-encoding: gzip"), "{head}");
        assert!(
            head.contains("x-prometheus-scrape-timeout-seconds: 0.15"),
            "{head}"
        );
        assert!(head.contains("user-agent: strix/"), "{head}");
    }

    // Phase 2: OpenMetrics, `b` disappears and gets a stale marker.
    let mark = rec.mark();
    srv.set(Reply {
        status: "200 OK",
        content_type: OM,
        body: b"# TYPE a counter\na_total{path=\"/x\"} 5\n# EOF\n".to_vec(),
        gzip: false,
    });
    rec.wait_for(mark, "a_total=5 from OpenMetrics", |l, s| {
        is(l, "a_total", &[("job", "app")]) && s.v == 5.0
    })
    .await;
    rec.wait_for(mark, "stale marker for b", |l, s| {
        is(l, "b", &[("job", "app")]) && is_stale_nan(s.v)
    })
    .await;

    // Phase 3: gzip.
    let mark = rec.mark();
    srv.set(Reply {
        gzip: true,
        ..text("c{k=\"v\"} 3\n")
    });
    rec.wait_for(mark, "c from a gzip body", |l, s| {
        is(l, "c", &[("job", "app"), ("k", "v")]) && s.v == 3.0
    })
    .await;

    // Phase 4: sample_limit exceeded fails the scrape: up=0, series go stale.
    let mark = rec.mark();
    srv.set(text("m1 1\nm2 2\nm3 3\nm4 4\nm5 5\n"));
    rec.wait_for(mark, "up=0 on sample limit", |l, s| {
        is(l, "up", &[("job", "app")]) && s.v == 0.0
    })
    .await;
    rec.wait_for(mark, "c stale after failed scrape", |l, s| {
        is(l, "c", &[("job", "app")]) && is_stale_nan(s.v)
    })
    .await;
    assert!(
        !rec.since(mark)
            .iter()
            .any(|(l, s)| is(l, "m1", &[("job", "app")]) && !is_stale_nan(s.v)),
        "nothing of an over-limit scrape is stored"
    );
    let t = mgr
        .targets()
        .into_iter()
        .find(|t| t.scrape_pool == "app")
        .unwrap();
    assert_eq!(t.health, "down");
    assert_eq!(t.last_error, "sample limit exceeded");

    // Phase 5: HTTP 500 → up=0 with the status in lastError; recovery → up=1.
    srv.set(Reply {
        status: "500 Internal Server Error",
        ..text("oops")
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = mgr
            .targets()
            .into_iter()
            .find(|t| t.scrape_pool == "app")
            .unwrap();
        if t.last_error.contains("500") {
            assert_eq!(t.health, "down");
            assert_eq!(t.scrape_interval, "200ms");
            assert_eq!(t.scrape_url, format!("http://{addr}/metrics"));
            assert!(t.last_scrape.ends_with('Z'));
            break;
        }
        assert!(Instant::now() < deadline, "no 500 error seen: {t:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mark = rec.mark();
    srv.set(text("d 1\n"));
    rec.wait_for(mark, "up=1 after recovery", |l, s| {
        is(l, "up", &[("job", "app")]) && s.v == 1.0
    })
    .await;
    rec.wait_for(mark, "d", |l, _| is(l, "d", &[("job", "app")]))
        .await;

    // Phase 6: an identical reload keeps the loops; removing a job marks all it wrote stale.
    mgr.apply_config(cfg).unwrap();
    let mark = rec.mark();
    mgr.apply_config(section(&format!(
        "scrape_configs: [{{job_name: honor, scrape_interval: 200ms, scrape_timeout: 150ms, honor_labels: true, static_configs: [{{targets: ['{addr}']}}]}}]"
    )))
    .unwrap();
    rec.wait_for(mark, "stale up for removed job", |l, s| {
        is(l, "up", &[("job", "app")]) && is_stale_nan(s.v)
    })
    .await;
    rec.wait_for(mark, "stale d for removed job", |l, s| {
        is(l, "d", &[("job", "app")]) && is_stale_nan(s.v)
    })
    .await;
    assert_eq!(mgr.targets().len(), 1);

    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
    assert!(
        out.contains("strix_scrape_sample_limit_exceeded_total{job=\"app\"} 1"),
        "{out}"
    );
    assert!(out.contains("strix_scrape_targets{job=\"app\"} 0"), "{out}");
    assert!(
        out.contains("strix_scrape_targets{job=\"honor\"} 1"),
        "{out}"
    );
    assert!(
        out.contains("strix_scrape_failures_total{job=\"app\"}"),
        "{out}"
    );
    assert!(
        out.contains("strix_scrape_duration_seconds_count{job=\"honor\"}"),
        "{out}"
    );
    assert!(
        out.contains("strix_scrape_samples_total{job=\"honor\"}"),
        "{out}"
    );

    mgr.shutdown().await;
    assert!(mgr.apply_config(ScrapeSection::default()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_adds_and_removes_targets_and_reload_hands_over() {
    let srv = TestServer::start(text("x 1\n")).await;
    let addr = srv.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    std::fs::write(&file, "[]").unwrap();
    let (mgr, rec, _reg) = manager();
    let yaml = |relabel: &str| {
        format!(
            r#"
scrape_configs:
  - job_name: files
    scrape_interval: 200ms
    scrape_timeout: 150ms
    file_sd_configs: [{{files: ['{}/*.json'], refresh_interval: 100ms}}]
    metric_relabel_configs: [{relabel}]
"#,
            dir.path().display()
        )
    };
    mgr.apply_config(section(&yaml("{target_label: v, replacement: one}")))
        .unwrap();
    assert!(mgr.targets().is_empty());

    std::fs::write(
        &file,
        format!(r#"[{{"targets": ["{addr}"], "labels": {{"team": "a"}}}}]"#),
    )
    .unwrap();
    let (l, _) = rec
        .wait_for(0, "up=1 for a file target", |l, s| {
            is(l, "up", &[("job", "files"), ("team", "a")]) && s.v == 1.0
        })
        .await;
    assert_eq!(l.get("instance"), Some(addr.as_str()));
    let t = &mgr.targets()[0];
    assert_eq!(
        t.discovered_labels["__meta_filepath"],
        file.display().to_string()
    );
    assert!(!t.labels.contains_key("__meta_filepath"));

    // A changed job: the new loop inherits the old one's memory, so the series that
    // continues gets no stale marker, while relabeled output replaces the old series.
    rec.wait_for(0, "x with v=one", |l, _| is(l, "x", &[("v", "one")]))
        .await;
    let mark = rec.mark();
    mgr.apply_config(section(&yaml("{target_label: v, replacement: two}")))
        .unwrap();
    rec.wait_for(mark, "x with v=two", |l, _| is(l, "x", &[("v", "two")]))
        .await;
    rec.wait_for(mark, "stale x with v=one", |l, s| {
        is(l, "x", &[("v", "one")]) && is_stale_nan(s.v)
    })
    .await;
    assert!(
        !rec.since(mark)
            .iter()
            .any(|(l, s)| is(l, "up", &[("job", "files")]) && is_stale_nan(s.v)),
        "handover must not mark the target stale"
    );

    // Emptying the file removes the target: everything it wrote goes stale.
    let mark = rec.mark();
    std::fs::write(&file, "[ ]\n").unwrap();
    rec.wait_for(mark, "stale up after file_sd removal", |l, s| {
        is(l, "up", &[("job", "files")]) && is_stale_nan(s.v)
    })
    .await;
    rec.wait_for(mark, "stale x after file_sd removal", |l, s| {
        is(l, "x", &[("v", "two")]) && is_stale_nan(s.v)
    })
    .await;
    assert!(mgr.targets().is_empty());
    mgr.shutdown().await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require_peers() -> bool {
    std::env::var("STRIX_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Kills the child by PID when dropped.
struct ChildGuard(std::process::Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "nothing listening on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_real_node_exporter() {
    let bin = "/usr/bin/prometheus-node-exporter";
    if !std::path::Path::new(bin).is_file() {
        assert!(
            !require_peers(),
            "{bin} is missing and STRIX_REQUIRE_PEERS=1"
        );
        eprintln!("SKIP scrapes_real_node_exporter: {bin} not installed");
        return;
    }
    let port = free_port();
    let child = std::process::Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args([
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.loadavg",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = ChildGuard(child);
    wait_listening(port).await;
    let (mgr, rec, _reg) = manager();
    mgr.apply_config(section(&format!(
        "scrape_configs: [{{job_name: node, scrape_interval: 1s, scrape_timeout: 1s, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}]"
    )))
    .unwrap();
    rec.wait_for(0, "up=1 for node_exporter", |l, s| {
        is(l, "up", &[("job", "node")]) && s.v == 1.0
    })
    .await;
    let (l, s) = rec
        .wait_for(0, "node_cpu_seconds_total", |l, _| {
            is(l, "node_cpu_seconds_total", &[("job", "node")])
        })
        .await;
    assert!(l.get("cpu").is_some() && l.get("mode").is_some(), "{l}");
    assert_eq!(
        l.get("instance"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    assert!(s.v >= 0.0);
    let t = &mgr.targets()[0];
    assert_eq!(t.health, "up", "{t:?}");
    mgr.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_real_python_prometheus_client() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            !require_peers(),
            "python3 prometheus_client missing and STRIX_REQUIRE_PEERS=1"
        );
        eprintln!(
            "SKIP scrapes_real_python_prometheus_client: python3 -m pip install prometheus_client"
        );
        return;
    }
    let port = free_port();
    let script = format!(
        "import time\n\
from prometheus_client import start_http_server, Counter, Gauge, Histogram\n\
c = Counter('strix_test_requests', 'Requests.', ['path'])\n\
c.labels('/a').inc(3)\n\
g = Gauge('strix_test_temperature_celsius', 'Temperature.')\n\
g.set(21.5)\n\
h = Histogram('strix_test_latency_seconds', 'Latency.', buckets=[0.1, 0.5, 1.0])\n\
h.observe(0.2)\n\
h.observe(0.7)\n\
start_http_server({port}, addr='127.0.0.1')\n\
time.sleep(120)\n"
    );
    let child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = ChildGuard(child);
    wait_listening(port).await;

    // Our Accept header negotiates OpenMetrics with prometheus_client.
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .header("Accept", strix_scrape::ACCEPT_HEADER)
        .send()
        .await
        .unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(resp.text().await.unwrap().trim_end().ends_with("# EOF"));

    let (mgr, rec, _reg) = manager();
    mgr.apply_config(section(&format!(
        "scrape_configs: [{{job_name: py, scrape_interval: 1s, scrape_timeout: 1s, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}]"
    )))
    .unwrap();
    rec.wait_for(0, "up=1 for python", |l, s| {
        is(l, "up", &[("job", "py")]) && s.v == 1.0
    })
    .await;
    let all = rec.since(0);
    let has = |name: &str, pairs: &[(&str, &str)], v: f64| {
        all.iter().any(|(l, s)| is(l, name, pairs) && s.v == v)
    };
    assert!(has(
        "strix_test_requests_total",
        &[("path", "/a"), ("job", "py")],
        3.0
    ));
    assert!(has(
        "strix_test_temperature_celsius",
        &[("job", "py")],
        21.5
    ));
    assert!(has(
        "strix_test_latency_seconds_bucket",
        &[("le", "0.5")],
        1.0
    ));
    assert!(has(
        "strix_test_latency_seconds_bucket",
        &[("le", "+Inf")],
        2.0
    ));
    assert!(has("strix_test_latency_seconds_count", &[], 2.0));
    assert!(all
        .iter()
        .any(|(l, _)| is(l, "strix_test_latency_seconds_sum", &[])));
    mgr.shutdown().await;
}
