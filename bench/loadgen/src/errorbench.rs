//! `strix-errorbench`: the client side of the error-ingest benchmark (bench/errors/run.sh).
//!
//! Concurrent senders post Sentry envelopes (one event each, ≈`--event-bytes` of JSON shaped
//! like a Python SDK event: exception with an 8-frame stack, breadcrumbs, request, user,
//! tags, contexts) spread over `--issues` distinct issues, for `--duration` seconds, each
//! sender on its own keep-alive connection. It records every request's latency and status,
//! then (with `--verify`) reads the issues API and checks that the stored event count equals
//! the number of 200 answers. One JSON line with the results goes to stdout.
//!
//! The generator shares the machine with the server, so it spends little per event: each
//! issue's whole request is built once and a send copies it and writes the event id (into
//! the envelope header and the event) and the timestamp in place; the senders are tasks
//! on `--threads` event loops (default one) rather than a thread each.

use clap::Parser;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

mod http1;
mod sentry_event;
use sentry_event::template;

#[derive(Parser)]
#[command(name = "strix-errorbench", about = "Sentry envelope load generator.")]
struct Cli {
    /// Base URL of the server (`http://127.0.0.1:3003`).
    #[arg(long)]
    url: String,
    /// Project id.
    #[arg(long, default_value_t = 1)]
    project: u64,
    /// The project's DSN public key.
    #[arg(long)]
    key: String,
    /// Concurrent senders.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds to send for.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Distinct issues.
    #[arg(long, default_value_t = 200)]
    issues: usize,
    /// Approximate size of one event's JSON.
    #[arg(long, default_value_t = 5000)]
    event_bytes: usize,
    /// Check the stored count through the issues API afterwards.
    #[arg(long)]
    verify: bool,
    /// A label for the result line.
    #[arg(long, default_value = "strix")]
    system: String,
    /// Threads the senders are spread over (each runs its share on one event loop).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Distinct users the events come from, drawn at random per event (as browser SDKs
    /// that send the client's IP address look); 0 keeps each issue's one user of 50.
    #[arg(long, default_value_t = 0)]
    users: u64,
}

#[derive(Default)]
struct Outcome {
    latencies_us: Vec<u64>,
    ok: u64,
    limited: u64,
    failed: u64,
}

impl Outcome {
    fn add(&mut self, o: Outcome) {
        self.latencies_us.extend(o.latencies_us);
        self.ok += o.ok;
        self.limited += o.limited;
        self.failed += o.failed;
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

const ID_MARK: &[u8; 32] = b"@@EVENT_ID@@@@@@@@@@@@@@@@@@@@@@";
const TS_MARK: &[u8; 14] = b"@@TIMESTAMP@@@";
const USER_MARK: &[u8; 16] = b"@@USER@@@@@@@@@@";

/// The whole HTTP request of one issue's event, built once, with where each send
/// writes its event id (envelope header and event) and timestamp.
struct Request {
    bytes: Vec<u8>,
    id_at: Vec<usize>,
    ts_at: usize,
    /// Where the user id goes (`--users`).
    user_at: Option<usize>,
}

fn positions(hay: &[u8], mark: &[u8]) -> Vec<usize> {
    hay.windows(mark.len())
        .enumerate()
        .filter(|(_, w)| *w == mark)
        .map(|(i, _)| i)
        .collect()
}

fn request(cli: &Cli, host: &str, k: usize) -> Request {
    let id = std::str::from_utf8(ID_MARK).unwrap_or_default();
    let ts = std::str::from_utf8(TS_MARK).unwrap_or_default();
    let mut event = template(k, cli.event_bytes)
        .replacen("EVENT_ID_PLACEHOLDER", id, 1)
        .replacen("\"TIMESTAMP_PLACEHOLDER\"", ts, 1);
    if cli.users > 0 {
        let user = std::str::from_utf8(USER_MARK).unwrap_or_default();
        event = event.replacen(&format!("\"user-{}\"", k % 50), &format!("\"{user}\""), 1);
    }
    let body = format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    );
    let head = format!(
        "POST /api/{}/envelope/ HTTP/1.1\r\nHost: {host}\r\n\
         X-Sentry-Auth: Sentry sentry_version=7, sentry_key={}, sentry_client=strix-errorbench/1\r\n\
         Content-Type: application/x-sentry-envelope\r\nContent-Length: {}\r\n\r\n",
        cli.project,
        cli.key,
        body.len()
    );
    let bytes = [head.into_bytes(), body.into_bytes()].concat();
    let id_at = positions(&bytes, ID_MARK);
    let ts_at = positions(&bytes, TS_MARK).first().copied().unwrap_or(0);
    let user_at = positions(&bytes, USER_MARK).first().copied();
    Request {
        bytes,
        id_at,
        ts_at,
        user_at,
    }
}

/// Sender `w`'s `n`th event id: unique (the low half is `w` and `n`) and spread over the
/// whole id space as SDKs' random (version 4) UUIDs are (the high half is a hash of the
/// low one), so the server's event-id index sees inserts all over, not in a few runs.
fn event_id(w: usize, n: u64) -> u128 {
    let low = (w as u64) << 40 ^ n;
    let mut h = low.wrapping_add(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (u128::from(h) << 64) | u128::from(low)
}

fn hex_into(out: &mut [u8], mut v: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in out.iter_mut().rev() {
        *b = HEX[(v & 0xf) as usize];
        v >>= 4;
    }
}

/// One sender: a keep-alive connection posting events until `stop`, reconnecting after
/// an error.
async fn sender(
    w: usize,
    addr: String,
    requests: Arc<Vec<Request>>,
    users: u64,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let mut out = Outcome::default();
    let mut buf = Vec::with_capacity(16 << 10);
    let mut req = Vec::new();
    let mut n: u64 = 0;
    let mut conn: Option<tokio::net::TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut stream = match conn.take() {
            Some(s) => s,
            None => match tokio::net::TcpStream::connect(&addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    buf.clear();
                    s
                }
                Err(e) => {
                    if out.failed < 3 {
                        eprintln!("sender {w}: {e}");
                    }
                    out.failed += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let r = &requests[((w as u64 * 7919 + n) % requests.len() as u64) as usize];
        req.clear();
        req.extend_from_slice(&r.bytes);
        let id = event_id(w, n);
        for &at in &r.id_at {
            hex_into(&mut req[at..at + 32], id);
        }
        if let Some(at) = r.user_at.filter(|_| users > 0) {
            // The id's high half is a hash of the low one: a random user.
            hex_into(&mut req[at..at + 16], u128::from((id >> 64) as u64 % users));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        req[r.ts_at..r.ts_at + 14].copy_from_slice(format!("{now:014.3}").as_bytes());
        n += 1;
        let t0 = Instant::now();
        if stream.write_all(&req).await.is_err() {
            out.failed += 1;
            continue;
        }
        let Some((head, _)) = http1::read_message(&mut stream, &mut buf).await else {
            out.failed += 1;
            continue;
        };
        let us = t0.elapsed().as_micros() as u64;
        match head.status() {
            200 => {
                out.ok += 1;
                out.latencies_us.push(us);
            }
            429 | 503 => out.limited += 1,
            code => {
                if out.failed < 3 {
                    eprintln!("sender {w}: HTTP {code}");
                }
                out.failed += 1;
            }
        }
        if !head.close {
            conn = Some(stream);
        }
    }
    out
}

fn main() {
    let cli = Cli::parse();
    let base = cli.url.trim_end_matches('/').to_string();
    let Some(host) = base
        .strip_prefix("http://")
        .map(|h| h.split('/').next().unwrap_or(h))
    else {
        eprintln!("strix-errorbench: --url must be http://host:port");
        std::process::exit(2)
    };
    let host = host.to_string();
    let requests: Arc<Vec<Request>> =
        Arc::new((0..cli.issues).map(|k| request(&cli, &host, k)).collect());
    let event_len = template(0, cli.event_bytes).len();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads = cli.threads.max(1);
    let users = cli.users;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (requests, stop, host) = (requests.clone(), stop.clone(), host.clone());
            let senders: Vec<usize> = (0..cli.concurrency).filter(|w| w % threads == t).collect();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| {
                        eprintln!("strix-errorbench: runtime: {e}");
                        std::process::exit(1)
                    });
                rt.block_on(async move {
                    let tasks: Vec<_> = senders
                        .into_iter()
                        .map(|w| {
                            tokio::spawn(sender(
                                w,
                                host.clone(),
                                requests.clone(),
                                users,
                                stop.clone(),
                            ))
                        })
                        .collect();
                    let mut all = Outcome::default();
                    for t in tasks {
                        if let Ok(o) = t.await {
                            all.add(o);
                        }
                    }
                    all
                })
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(cli.duration));
    stop.store(true, Ordering::Relaxed);
    let mut all = Outcome::default();
    for h in handles {
        if let Ok(o) = h.join() {
            all.add(o);
        }
    }
    let (mut lat, ok, limited, failed) = (all.latencies_us, all.ok, all.limited, all.failed);
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let mut result = json!({
        "system": cli.system,
        "concurrency": cli.concurrency,
        "issues": cli.issues,
        "eventBytes": event_len,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "accepted": ok,
        "refused429or503": limited,
        "failed": failed,
        "acceptedPerSecond": (ok as f64 / elapsed).round(),
        "latencyMs": {
            "p50": percentile(&lat, 0.50),
            "p90": percentile(&lat, 0.90),
            "p99": percentile(&lat, 0.99),
            "max": percentile(&lat, 1.0),
        },
    });
    if cli.verify {
        let list = format!(
            "{}/api/monitoring/errors/issues?project={}&limit=1000",
            cli.url.trim_end_matches('/'),
            cli.project
        );
        let stored = ureq::get(&list)
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .map(|v| {
                let issues = v["data"].as_array().map(Vec::len).unwrap_or(0);
                let events: u64 = v["data"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|i| i["count"].as_u64()).sum())
                    .unwrap_or(0);
                (issues, events)
            });
        if let Some((issues, events)) = stored {
            result["storedIssues"] = json!(issues);
            result["storedEvents"] = json!(events);
            result["storedEqualsAccepted"] = json!(events == ok);
        }
    }
    println!("{result}");
}
