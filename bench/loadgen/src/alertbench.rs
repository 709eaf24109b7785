//! `strix-alertbench`: the client side of the alerting benchmark (bench/alerting/run.sh).
//!
//! It holds the webhook receiver and the sample sender in one process, so every latency is
//! measured on one monotonic clock:
//!
//! - `latency`: per trial, a gauge `bench_threshold_gauge{trial="<system>-<k>"}` goes from 0
//!   to 20 (rule: `> 10`, `for: 0s`); the time from the moment the write returns to the
//!   first webhook with that alert `firing`, then back to 0 and the time to `resolved`.
//! - `flood`: N alerts with distinct `i` labels posted to `/api/v2/alerts`; the time until
//!   the webhook has received every one of them (notifications/s).
//! - `load`: counters `bench_requests_total{i="0".."N-1"}` over a span ending now, sent
//!   by remote_write in time order (data for the rule CPU benchmark).
//! - `rules`: writes a rule file with N alerting rules over those counters.
//!
//! Results are printed as one JSON line per system on stdout; progress goes to stderr.

use clap::{Args, Parser, Subcommand};
use prost::Message;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strix_ingest::remote_write::proto::{Label, Sample, TimeSeries, WriteRequest};
use tokio::io::AsyncWriteExt;

mod http1;

#[derive(Parser)]
#[command(
    name = "strix-alertbench",
    about = "Alerting benchmark client: sender + webhook receiver on one clock."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Threshold -> webhook latency (firing and resolved), trials per system in turn.
    Latency(LatencyArgs),
    /// Notifications/s: N distinct alerts posted at once to /api/v2/alerts.
    Flood(FloodArgs),
    /// Counters for the rule CPU benchmark, by remote_write.
    Load(LoadArgs),
    /// A rule file with N alerting rules over the `load` counters.
    Rules(RulesArgs),
}

#[derive(Args)]
struct LatencyArgs {
    /// Address of the webhook receiver.
    #[arg(long, default_value = "127.0.0.1:39129")]
    listen: String,
    /// `name,mode,url,path`: mode `rw` (remote_write to url) or `json` (Strix JSON push to
    /// url); path is the webhook path that system's receiver posts to. Repeatable; the
    /// systems run one after another.
    #[arg(long = "system", required = true)]
    systems: Vec<String>,
    #[arg(long, default_value_t = 60)]
    trials: usize,
    /// Random wait (uniform 0..jitter) before each flip, so flips fall at random phases
    /// of the peers' evaluation and group ticks.
    #[arg(long, default_value_t = 1000)]
    jitter_ms: u64,
    /// Extra wait after the firing notification before flipping back, so that the group's
    /// `group_interval` (1 s here) since its first notification has passed and the
    /// resolved notice measures the pipeline, not the configured group interval.
    #[arg(long, default_value_t = 1000)]
    hold_ms: u64,
    /// Give up on one notification after this long.
    #[arg(long, default_value_t = 15)]
    timeout_s: u64,
    /// After writing 0 to every trial series of a system, wait this long before the trials.
    #[arg(long, default_value_t = 3000)]
    settle_ms: u64,
}

#[derive(Args)]
struct FloodArgs {
    #[arg(long, default_value = "127.0.0.1:39129")]
    listen: String,
    /// `name,url,path`: url is the `/api/v2/alerts` endpoint, path the webhook path. Repeatable.
    #[arg(long = "system", required = true)]
    systems: Vec<String>,
    #[arg(long, default_value_t = 3000)]
    n: usize,
    /// Alerts per POST.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    #[arg(long, default_value_t = 180)]
    timeout_s: u64,
}

#[derive(Args)]
struct LoadArgs {
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Seconds of data, ending now.
    #[arg(long, default_value_t = 600)]
    duration_s: u64,
    #[arg(long, default_value_t = 15)]
    interval_s: u64,
}

#[derive(Args)]
struct RulesArgs {
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    #[arg(long, default_value_t = 10)]
    groups: usize,
    /// Series the rules select (rule k reads i = k mod series).
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    #[arg(long)]
    out: String,
}

// ---------------------------------------------------------------------------------------
// Webhook receiver: one thread running a single-threaded tokio runtime (one task per
// connection), HTTP/1.1 keep-alive, Content-Length or chunked bodies. It shares two cores
// with the systems under test, so it stays cheap: no thread per connection, no wakeup per
// request (waiters poll the arrival table).

#[derive(Default)]
struct Seen {
    /// (path, per-alert status, value of `trial` or `i`) -> first arrival.
    first: HashMap<(String, String, String), Instant>,
    requests: HashMap<String, u64>,
    alerts: HashMap<String, u64>,
    bad: u64,
}

struct Receiver {
    seen: Mutex<Seen>,
    stop: AtomicBool,
    connections: AtomicU64,
}

/// The parts of a webhook body the receiver reads (Alertmanager's webhook payload).
#[derive(serde::Deserialize)]
struct Hook<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    alerts: Vec<HookAlert<'a>>,
}

#[derive(serde::Deserialize)]
struct HookAlert<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    labels: HashMap<Cow<'a, str>, Cow<'a, str>>,
}

/// How often a waiter looks at the arrival table (arrival times are taken on arrival,
/// so this bounds only when the waiter notices, not what it measures).
const POLL: Duration = Duration::from_millis(1);

impl Receiver {
    fn start(listen: &str) -> Arc<Receiver> {
        let listener = std::net::TcpListener::bind(listen).unwrap_or_else(|e| {
            eprintln!("strix-alertbench: cannot bind the webhook receiver to {listen}: {e}");
            std::process::exit(1)
        });
        let rx = Arc::new(Receiver {
            seen: Mutex::new(Seen::default()),
            stop: AtomicBool::new(false),
            connections: AtomicU64::new(0),
        });
        let r = rx.clone();
        std::thread::Builder::new()
            .name("receiver".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .unwrap_or_else(|e| {
                        eprintln!("strix-alertbench: receiver runtime: {e}");
                        std::process::exit(1)
                    });
                rt.block_on(accept(listener, r));
            })
            .unwrap_or_else(|e| {
                eprintln!("strix-alertbench: spawning the receiver: {e}");
                std::process::exit(1)
            });
        rx
    }

    fn record(&self, path: &str, body: &[u8], at: Instant) {
        let hook: Option<Hook<'_>> = serde_json::from_slice(body).ok();
        let mut s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        *s.requests.entry(path.to_string()).or_default() += 1;
        let Some(hook) = hook else {
            s.bad += 1;
            return;
        };
        *s.alerts.entry(path.to_string()).or_default() += hook.alerts.len() as u64;
        for a in &hook.alerts {
            let status = a.status.as_deref().or(hook.status.as_deref()).unwrap_or("");
            let key = a
                .labels
                .get("trial")
                .or(a.labels.get("i"))
                .map(|k| k.as_ref())
                .unwrap_or("");
            s.first
                .entry((path.to_string(), status.to_string(), key.to_string()))
                .or_insert(at);
        }
    }

    /// First arrival of `key` with `status` on `path`, waiting up to `timeout`.
    fn wait(&self, path: &str, status: &str, key: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let k = (path.to_string(), status.to_string(), key.to_string());
        loop {
            if let Some(t) = self
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .first
                .get(&k)
            {
                return Some(*t);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    fn count(&self, path: &str) -> (u64, u64) {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        (
            s.requests.get(path).copied().unwrap_or(0),
            s.alerts.get(path).copied().unwrap_or(0),
        )
    }
}

async fn accept(listener: std::net::TcpListener, rx: Arc<Receiver>) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("strix-alertbench: receiver listener: {e}");
            std::process::exit(1)
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if rx.stop.load(Ordering::Acquire) {
            return;
        }
        rx.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_conn(stream, rx.clone()));
    }
}

async fn serve_conn(mut stream: tokio::net::TcpStream, rx: Arc<Receiver>) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 << 10);
    while let Some((head, body)) = http1::read_message(&mut stream, &mut buf).await {
        rx.record(head.path(), &body, Instant::now());
        let resp: &[u8] = if head.close {
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        };
        if stream.write_all(resp).await.is_err() || head.close {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// xorshift64*, deterministic jitter.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .max_idle_connections_per_host(8)
        .build()
}

fn label(n: &str, v: &str) -> Label {
    Label {
        name: n.as_bytes().to_vec(),
        value: v.as_bytes().to_vec(),
    }
}

fn rw_body(series: Vec<(Vec<Label>, Vec<Sample>)>) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series
            .into_iter()
            .map(|(labels, samples)| TimeSeries {
                labels,
                samples,
                exemplars: vec![],
                histograms: vec![],
            })
            .collect(),
        metadata: vec![],
    };
    let raw = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_else(|e| {
            eprintln!("strix-alertbench: snappy: {e}");
            std::process::exit(1)
        })
}

fn post(agent: &ureq::Agent, url: &str, ctype: &str, rw: bool, body: &[u8]) -> Result<(), String> {
    let mut req = agent.post(url).set("Content-Type", ctype);
    if rw {
        req = req
            .set("Content-Encoding", "snappy")
            .set("X-Prometheus-Remote-Write-Version", "0.1.0");
    }
    match req.send_bytes(body) {
        Ok(resp) => {
            let _ = resp.into_string();
            Ok(())
        }
        Err(ureq::Error::Status(code, resp)) => Err(format!(
            "HTTP {code}: {}",
            resp.into_string().unwrap_or_default().trim()
        )),
        Err(e) => Err(format!("transport: {e}")),
    }
}

/// Writes `bench_threshold_gauge{trial=...}` = value for the given trials, now.
fn write_gauge(
    agent: &ureq::Agent,
    mode: &str,
    url: &str,
    trials: &[String],
    value: f64,
) -> Result<(), String> {
    const METRIC: &str = "bench_threshold_gauge";
    if mode == "json" {
        let items: Vec<Value> = trials
            .iter()
            .map(|t| json!({"name": METRIC, "labels": {"trial": t}, "value": value}))
            .collect();
        let body = serde_json::to_vec(&items).unwrap_or_default();
        post(agent, url, "application/json", false, &body)
    } else {
        let ts = now_ms();
        let series = trials
            .iter()
            .map(|t| {
                (
                    vec![label("__name__", METRIC), label("trial", t)],
                    vec![Sample {
                        value,
                        timestamp: ts,
                    }],
                )
            })
            .collect();
        post(agent, url, "application/x-protobuf", true, &rw_body(series))
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

fn summary(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let mean = if v.is_empty() {
        None
    } else {
        Some(v.iter().sum::<f64>() / v.len() as f64)
    };
    json!({
        "n": v.len(),
        "p50": pct(&v, 50.0),
        "p90": pct(&v, 90.0),
        "p99": pct(&v, 99.0),
        "min": v.first(),
        "max": v.last(),
        "mean": mean,
    })
}

fn ms_since(t: Instant, base: Instant) -> f64 {
    if t >= base {
        t.duration_since(base).as_secs_f64() * 1e3
    } else {
        -(base.duration_since(t).as_secs_f64() * 1e3)
    }
}

fn latency(a: LatencyArgs) {
    let rx = Receiver::start(&a.listen);
    let agent = agent();
    let timeout = Duration::from_secs(a.timeout_s);
    let run_id = now_ms() % 1_000_000;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for sys in &a.systems {
        let parts: Vec<&str> = sys.splitn(4, ',').collect();
        let [name, mode, url, path] = parts[..] else {
            eprintln!("strix-alertbench: --system wants name,mode,url,path; got {sys:?}");
            std::process::exit(2)
        };
        let trials: Vec<String> = (0..a.trials)
            .map(|k| format!("{name}-{run_id}-{k}"))
            .collect();
        if let Err(e) = write_gauge(&agent, mode, url, &trials, 0.0) {
            eprintln!("strix-alertbench: {name}: initial write failed: {e}");
            std::process::exit(1)
        }
        std::thread::sleep(Duration::from_millis(a.settle_ms));
        let (mut firing, mut resolved, mut write_ms) = (Vec::new(), Vec::new(), Vec::new());
        let (mut miss_f, mut miss_r, mut errors) = (0, 0, Vec::<String>::new());
        let started = Instant::now();
        for (k, t) in trials.iter().enumerate() {
            let one = std::slice::from_ref(t);
            std::thread::sleep(Duration::from_millis(rng.below(a.jitter_ms)));
            let s0 = Instant::now();
            if let Err(e) = write_gauge(&agent, mode, url, one, 20.0) {
                errors.push(e);
                continue;
            }
            let t0 = Instant::now();
            write_ms.push(ms_since(t0, s0));
            match rx.wait(path, "firing", t, timeout) {
                Some(at) => firing.push(ms_since(at, t0)),
                None => miss_f += 1,
            }
            std::thread::sleep(Duration::from_millis(a.hold_ms + rng.below(a.jitter_ms)));
            if let Err(e) = write_gauge(&agent, mode, url, one, 0.0) {
                errors.push(e);
                continue;
            }
            let t1 = Instant::now();
            match rx.wait(path, "resolved", t, timeout) {
                Some(at) => resolved.push(ms_since(at, t1)),
                None => miss_r += 1,
            }
            if (k + 1) % 10 == 0 {
                eprintln!(
                    "[{name}] {}/{} trials; last firing {:.1} ms, resolved {:.1} ms",
                    k + 1,
                    a.trials,
                    firing.last().copied().unwrap_or(f64::NAN),
                    resolved.last().copied().unwrap_or(f64::NAN)
                );
            }
        }
        let (reqs, alerts) = rx.count(path);
        errors.truncate(3);
        println!(
            "{}",
            json!({
                "system": name,
                "mode": mode,
                "trials": a.trials,
                "firing_ms": summary(firing.clone()),
                "resolved_ms": summary(resolved.clone()),
                "write_ms": summary(write_ms),
                "missed_firing": miss_f,
                "missed_resolved": miss_r,
                "webhook_requests": reqs,
                "webhook_alerts": alerts,
                "seconds": started.elapsed().as_secs_f64(),
                "errors": errors,
                "firing_all_ms": firing,
                "resolved_all_ms": resolved,
            })
        );
    }
    rx.stop.store(true, Ordering::Release);
}

fn flood(a: FloodArgs) {
    let rx = Receiver::start(&a.listen);
    let agent = agent();
    let run_id = now_ms() % 1_000_000;
    for sys in &a.systems {
        let parts: Vec<&str> = sys.splitn(3, ',').collect();
        let [name, url, path] = parts[..] else {
            eprintln!("strix-alertbench: --system wants name,url,path; got {sys:?}");
            std::process::exit(2)
        };
        let keys: Vec<String> = (0..a.n).map(|k| format!("{name}-{run_id}-{k}")).collect();
        let bodies: Vec<Vec<u8>> = keys
            .chunks(a.batch.max(1))
            .map(|c| {
                let v: Vec<Value> = c
                    .iter()
                    .map(|k| json!({"labels": {"alertname": "BenchFlood", "i": k, "severity": "none"}, "annotations": {"summary": format!("flood alert {k}")}}))
                    .collect();
                serde_json::to_vec(&v).unwrap_or_default()
            })
            .collect();
        let (req0, _) = rx.count(path);
        let t0 = Instant::now();
        let mut errors = Vec::new();
        for b in &bodies {
            if let Err(e) = post(&agent, url, "application/json", false, b) {
                errors.push(e);
            }
        }
        let posted = t0.elapsed().as_secs_f64();
        let deadline = t0 + Duration::from_secs(a.timeout_s);
        let mut arrivals = Vec::with_capacity(a.n);
        let mut missing = 0;
        for k in &keys {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.wait(path, "firing", k, left) {
                Some(at) => arrivals.push(ms_since(at, t0)),
                None => missing += 1,
            }
        }
        arrivals.sort_by(f64::total_cmp);
        let (req1, _) = rx.count(path);
        let last = arrivals.last().copied().unwrap_or(f64::NAN);
        let first = arrivals.first().copied().unwrap_or(f64::NAN);
        let rate = arrivals.len() as f64 / (last / 1e3);
        // Steady rate: between the 10th and 90th percentile arrivals.
        let steady = match (pct(&arrivals, 10.0), pct(&arrivals, 90.0)) {
            (Some(p10), Some(p90)) if p90 > p10 => {
                Some(0.8 * arrivals.len() as f64 / ((p90 - p10) / 1e3))
            }
            _ => None,
        };
        eprintln!(
            "[{name}] {} of {} alerts delivered; last after {last:.0} ms; {rate:.0}/s",
            arrivals.len(),
            a.n
        );
        errors.truncate(3);
        println!(
            "{}",
            json!({
                "system": name,
                "n": a.n,
                "delivered": arrivals.len(),
                "missing": missing,
                "post_seconds": posted,
                "first_ms": first,
                "p50_ms": pct(&arrivals, 50.0),
                "last_ms": last,
                "notifications_per_sec": rate,
                "steady_per_sec": steady,
                "webhook_requests": req1 - req0,
                "errors": errors,
            })
        );
    }
    rx.stop.store(true, Ordering::Release);
}

fn load(a: LoadArgs) {
    let agent = agent();
    let rounds = (a.duration_s / a.interval_s.max(1)).max(1) as i64;
    let step = a.interval_s as i64 * 1000;
    let end = now_ms() / step * step;
    let start = end - (rounds - 1) * step;
    let t = Instant::now();
    let names: Vec<String> = (0..a.series).map(|i| i.to_string()).collect();
    for r in 0..rounds {
        let ts = start + r * step;
        let series = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                // A counter growing by 1 + (i mod 7) per second.
                let v = (r * a.interval_s as i64) as f64 * (1 + i % 7) as f64;
                (
                    vec![
                        label("__name__", "bench_requests_total"),
                        label("i", n),
                        label("job", "bench"),
                    ],
                    vec![Sample {
                        value: v,
                        timestamp: ts,
                    }],
                )
            })
            .collect();
        if let Err(e) = post(
            &agent,
            &a.url,
            "application/x-protobuf",
            true,
            &rw_body(series),
        ) {
            eprintln!("strix-alertbench: load: round {r}: {e}");
            std::process::exit(1)
        }
    }
    println!(
        "{}",
        json!({"series": a.series, "rounds": rounds, "samples": rounds as usize * a.series, "seconds": t.elapsed().as_secs_f64(), "start_ms": start, "end_ms": end})
    );
}

fn rules(a: RulesArgs) {
    let mut s = String::with_capacity(a.n * 120);
    let per = a.n.div_ceil(a.groups.max(1));
    for k in 0..a.n {
        if k % per == 0 {
            if k == 0 {
                s.push_str("groups:\n");
            }
            s.push_str(&format!("- name: bench-cpu-{}\n  rules:\n", k / per));
        }
        s.push_str(&format!(
            "  - alert: BenchCpu\n    expr: sum(rate(bench_requests_total{{i=\"{}\"}}[5m])) > 1e9\n    labels: {{rule: \"{k}\"}}\n",
            k % a.series.max(1)
        ));
    }
    if let Err(e) = std::fs::write(&a.out, s) {
        eprintln!("strix-alertbench: writing {}: {e}", a.out);
        std::process::exit(1)
    }
}

fn main() {
    match Cli::parse().cmd {
        Cmd::Latency(a) => latency(a),
        Cmd::Flood(a) => flood(a),
        Cmd::Load(a) => load(a),
        Cmd::Rules(a) => rules(a),
    }
}
