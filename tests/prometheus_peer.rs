//! End to end against the real thing: node_exporter is scraped every second by a real
//! Prometheus, which remote-writes into Strix. Strix must end up with every series
//! Prometheus stored, and with the very same samples.
//!
//! Needs `/usr/bin/prometheus` and `/usr/bin/prometheus-node-exporter` (Debian packages
//! `prometheus` and `prometheus-node-exporter`). Without them the test prints a skip
//! message and passes, unless `STRIX_REQUIRE_PEERS=1`, where it fails.
#![allow(clippy::expect_used)]

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use util::*;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// A peer process stopped by PID: SIGTERM on drop, SIGKILL if it lingers.
struct Peer {
    name: &'static str,
    child: Child,
    log: std::path::PathBuf,
}

impl Peer {
    fn spawn(name: &'static str, mut cmd: Command, log_dir: &Path) -> Peer {
        let log = log_dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).expect("peer log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("log handle"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        Peer { name, child, log }
    }

    /// Polls `url` until it answers 200 (deadline 30 s); panics with the log if the
    /// process exits or never gets ready.
    fn wait_ready(&mut self, url: &str) {
        let name = self.name;
        let log = self.log.clone();
        let child = &mut self.child;
        wait_for(
            Duration::from_secs(30),
            &format!("{name} to answer {url}"),
            || {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!("{name} exited with {st}; log:\n{}", log_tail(&log, 4000));
                }
                match agent_with_timeout(Duration::from_secs(2)).get(url).call() {
                    Ok(r) if r.status() == 200 => Some(()),
                    _ => None,
                }
            },
        );
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), libc::SIGTERM);
            if wait_exit(&mut self.child, Duration::from_secs(10)).is_none() {
                kill_child(&mut self.child);
            }
        }
    }
}

fn peers_available() -> bool {
    let missing: Vec<&str> = [PROMETHEUS, NODE_EXPORTER]
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("STRIX_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("STRIX_REQUIRE_PEERS=1 but missing: {missing:?} (install the Debian packages prometheus and prometheus-node-exporter)");
    }
    eprintln!("SKIPPED prometheus_peer: missing {missing:?}; set STRIX_REQUIRE_PEERS=1 to make this a failure");
    false
}

fn get_json(url: &str) -> Value {
    let (code, body) = get_url(url, &[]);
    assert_eq!(code, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

fn label_sets(v: &Value) -> BTreeSet<BTreeMap<String, String>> {
    v["data"]
        .as_array()
        .expect("series data array")
        .iter()
        .map(|s| {
            s.as_object()
                .expect("label set")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("label value").to_string()))
                .collect()
        })
        .collect()
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[test]
fn prometheus_remote_write_matches_prometheus_storage() {
    if !peers_available() {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("strix-peer-")
        .tempdir()
        .expect("temp dir");

    let ne_port = free_port();
    let mut ne_cmd = Command::new(NODE_EXPORTER);
    ne_cmd.arg(format!("--web.listen-address=127.0.0.1:{ne_port}"));
    let mut node_exporter = Peer::spawn("node_exporter", ne_cmd, scratch.path());
    node_exporter.wait_ready(&format!("http://127.0.0.1:{ne_port}/metrics"));

    let strix = StrixProcess::start(&[], None);

    let prom_port = free_port();
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{ne_port}"]
remote_write:
  - url: "{}"
    queue_config:
      batch_send_deadline: 1s
"#,
        strix.url("/api/v1/write")
    );
    let cfg_path = scratch.path().join("prometheus.yml");
    std::fs::write(&cfg_path, config).expect("prometheus config");
    let mut prom_cmd = Command::new(PROMETHEUS);
    prom_cmd
        .arg(format!("--config.file={}", cfg_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            scratch.path().join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let mut prometheus = Peer::spawn("prometheus", prom_cmd, scratch.path());
    let prom = format!("http://127.0.0.1:{prom_port}");
    prometheus.wait_ready(&format!("{prom}/-/ready"));
    let started_ms = now_ms();

    // Strix has `up` with at least 3 samples and some CPU series.
    wait_for(
        Duration::from_secs(60),
        "Strix to receive up{job=\"node\"} (3 samples) and node_cpu_seconds_total",
        || {
            let up = strix.export(r#"up{job="node"}"#);
            let cpu = strix.export(r#"node_cpu_seconds_total{job="node"}"#);
            (up.len() == 1 && up[0].timestamps.len() >= 3 && !cpu.is_empty()).then_some(())
        },
    );

    // Prometheus has stored enough scrapes that a window ending 2 s ago holds several.
    wait_for(
        Duration::from_secs(30),
        "Prometheus to hold 8 scrapes",
        || {
            let v = get_json(&format!(
                "{prom}/api/v1/query?query={}",
                urlencode(r#"count_over_time(up{job="node"}[1m])"#)
            ));
            let n: f64 = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
            (n >= 8.0).then_some(())
        },
    );

    // A fixed cut-off a little in the past: everything Prometheus stored up to it must
    // reach Strix (poll, as remote write lags behind the local TSDB).
    let cut_ms = now_ms() - 2_000;
    let sel = urlencode(r#"{job="node"}"#);
    let prom_series = label_sets(&get_json(&format!(
        "{prom}/api/v1/series?match[]={sel}&start={}&end={}",
        secs(started_ms - 60_000),
        secs(cut_ms)
    )));
    assert!(
        prom_series.len() > 50,
        "Prometheus holds only {} series of job=node",
        prom_series.len()
    );
    let mut missing: Vec<BTreeMap<String, String>> = Vec::new();
    let converged = (|| {
        let until = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let strix_series = label_sets(&get_json(
                &strix.url(&format!("/api/v1/series?match[]={sel}")),
            ));
            missing = prom_series.difference(&strix_series).cloned().collect();
            if missing.is_empty() {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })();
    assert!(
        converged,
        "{} of {} series Prometheus stored never reached Strix; e.g. {:?}\nStrix log:\n{}",
        missing.len(),
        prom_series.len(),
        &missing[..missing.len().min(5)],
        log_tail(&strix.log_path(), 4000)
    );

    // One counter, sample by sample: Prometheus' raw samples over [cut-30s, cut] against
    // what Strix exports for the same window.
    let counter = r#"node_cpu_seconds_total{job="node",cpu="0",mode="idle"}"#;
    let v = get_json(&format!(
        "{prom}/api/v1/query?query={}&time={}",
        urlencode(&format!("{counter}[30s]")),
        secs(cut_ms)
    ));
    let result = v["data"]["result"].as_array().expect("matrix result");
    assert_eq!(result.len(), 1, "Prometheus has no single {counter}: {v}");
    let prom_samples: Vec<(i64, f64)> = result[0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|p| {
            let t = (p[0].as_f64().expect("timestamp") * 1000.0).round() as i64;
            let val: f64 = p[1].as_str().expect("value string").parse().expect("float");
            (t, val)
        })
        .collect();
    assert!(
        prom_samples.len() >= 3,
        "Prometheus returned {} samples for {counter}",
        prom_samples.len()
    );
    let last_prom = prom_samples.last().expect("non-empty").0;

    let export_path = format!(
        "/api/v1/export?match[]={}&start={}&end={}",
        urlencode(counter),
        secs(cut_ms - 30_000 + 1),
        secs(cut_ms)
    );
    let strix_samples = wait_for(
        Duration::from_secs(30),
        "Strix to catch up with Prometheus' last sample of the window",
        || {
            let (code, body) = strix.get(&export_path);
            assert_eq!(code, 200, "{body}");
            let got = parse_export(&body);
            assert!(
                got.len() <= 1,
                "more than one series for {counter}: {got:?}"
            );
            let s = got
                .into_iter()
                .next()
                .map(|s| s.samples())
                .unwrap_or_default();
            (s.last().is_some_and(|l| l.0 >= last_prom)).then_some(s)
        },
    );
    let lo = prom_samples[0].0.max(strix_samples[0].0);
    let hi = last_prom.min(strix_samples.last().expect("non-empty").0);
    let window = |s: &[(i64, f64)]| -> Vec<(i64, f64)> {
        s.iter()
            .copied()
            .filter(|(t, _)| (lo..=hi).contains(t))
            .collect()
    };
    let (p, s) = (window(&prom_samples), window(&strix_samples));
    assert!(
        p.len() >= 3,
        "common window [{lo}, {hi}] holds only {} samples",
        p.len()
    );
    assert_eq!(
        s, p,
        "Strix' samples differ from Prometheus' in [{lo}, {hi}]"
    );
    eprintln!(
        "compared {} series and {} samples of {counter} in [{lo}, {hi}]",
        prom_series.len(),
        p.len()
    );

    // Nothing was refused along the way: Prometheus' own counters show no failed or
    // dropped samples (a 4xx from Strix makes Prometheus drop the whole batch).
    let (code, metrics) = get_url(&format!("{prom}/metrics"), &[]);
    assert_eq!(code, 200);
    let lost: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("prometheus_remote_storage_samples_failed_total")
                || l.starts_with("prometheus_remote_storage_samples_dropped_total")
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum();
    assert_eq!(
        lost,
        0.0,
        "Prometheus failed or dropped remote-write samples; Prometheus log:\n{}",
        log_tail(&prometheus.log, 4000)
    );

    drop(prometheus);
    drop(node_exporter);
}
