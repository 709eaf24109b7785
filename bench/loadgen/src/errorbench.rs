//! `strix-errorbench`: the client side of the error-ingest benchmark (bench/errors/run.sh).
//!
//! Concurrent senders post Sentry envelopes (one event each, ≈`--event-bytes` of JSON shaped
//! like a Python SDK event: exception with an 8-frame stack, breadcrumbs, request, user,
//! tags, contexts) spread over `--issues` distinct issues, for `--duration` seconds, each
//! sender on its own keep-alive connection. It records every request's latency and status,
//! then (with `--verify`) reads the issues API and checks that the stored event count equals
//! the number of 200 answers. One JSON line with the results goes to stdout.

use clap::Parser;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
}

struct Outcome {
    latencies_us: Vec<u64>,
    ok: u64,
    limited: u64,
    failed: u64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() {
    let cli = Cli::parse();
    let templates: Arc<Vec<String>> = Arc::new(
        (0..cli.issues)
            .map(|k| template(k, cli.event_bytes))
            .collect(),
    );
    let event_len = templates.first().map(String::len).unwrap_or(0);
    let url = format!(
        "{}/api/{}/envelope/",
        cli.url.trim_end_matches('/'),
        cli.project
    );
    let auth = format!(
        "Sentry sentry_version=7, sentry_key={}, sentry_client=strix-errorbench/1",
        cli.key
    );
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..cli.concurrency)
        .map(|w| {
            let (templates, url, auth, stop) =
                (templates.clone(), url.clone(), auth.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(30))
                    .build();
                let mut out = Outcome {
                    latencies_us: Vec::new(),
                    ok: 0,
                    limited: 0,
                    failed: 0,
                };
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let k = ((w as u64 * 7919 + n) % templates.len() as u64) as usize;
                    let id = format!("{:08x}{:024x}", w, n);
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs_f64();
                    let event = templates[k]
                        .replacen("EVENT_ID_PLACEHOLDER", &id, 1)
                        .replacen("\"TIMESTAMP_PLACEHOLDER\"", &format!("{now:.3}"), 1);
                    let body = format!(
                        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
                        event.len()
                    );
                    let t0 = Instant::now();
                    let r = agent
                        .post(&url)
                        .set("x-sentry-auth", &auth)
                        .set("content-type", "application/x-sentry-envelope")
                        .send_bytes(body.as_bytes());
                    let us = t0.elapsed().as_micros() as u64;
                    match r {
                        Ok(resp) => {
                            let _ = resp.into_string();
                            out.ok += 1;
                            out.latencies_us.push(us);
                        }
                        Err(ureq::Error::Status(429, _)) | Err(ureq::Error::Status(503, _)) => {
                            out.limited += 1
                        }
                        Err(e) => {
                            if out.failed < 3 {
                                eprintln!("sender {w}: {e}");
                            }
                            out.failed += 1;
                        }
                    }
                    n += 1;
                }
                out
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(cli.duration));
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let (mut ok, mut limited, mut failed) = (0, 0, 0);
    for h in handles {
        if let Ok(o) = h.join() {
            lat.extend(o.latencies_us);
            ok += o.ok;
            limited += o.limited;
            failed += o.failed;
        }
    }
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
