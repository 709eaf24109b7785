//! Write cost of error events in the SQLite store: `record_error_batch` with batches of
//! realistic events (≈5 KB of JSON, ≈1.4 KB compressed, 200 issues, 50 users,
//! environment and release tags) on a temporary database. A measurement, not a test:
//!
//! ```sh
//! cargo test --release -p strix-state --test error_write_bench -- --ignored --nocapture
//! ```
//!
//! `EVENTS` sets the events per run (16,384), `CACHE_MIB` the page cache.
//!
//! Prints one JSON line per batch size: events/s, the writing thread's user and system
//! CPU per event (from `/proc/thread-self/stat`), and its write system calls and bytes
//! per event (from `/proc/thread-self/io`; WAL frames, and checkpoints when the
//! background checkpointer falls behind).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use serde_json::json;
use strix_state::*;

const ISSUES: usize = 200;
const USERS: usize = 50;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: &[&str] = &[
    "request",
    "handler",
    "session",
    "timeout",
    "connection",
    "database",
    "payment",
    "order",
    "customer",
    "invoice",
    "cache",
    "queue",
    "worker",
    "retry",
    "upstream",
    "response",
    "header",
    "token",
    "profile",
    "checkout",
    "inventory",
    "shipping",
    "address",
    "refund",
    "webhook",
];

fn words(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| WORDS[(rng.next() % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scrubbed JSON of an event of issue `k`, shaped like a Python SDK event.
fn payload(k: usize, event_id: &str, rng: &mut Rng) -> String {
    let frames: Vec<_> = (0..8)
        .map(|f| {
            json!({
                "filename": format!("app/module_{k}/file_{f}.py"),
                "function": format!("handle_{}_{f}", WORDS[(k + f) % WORDS.len()]),
                "lineno": 10 + f * 7 + k,
                "in_app": f > 2,
                "context_line": words(rng, 8),
                "pre_context": [words(rng, 6), words(rng, 6)],
                "post_context": [words(rng, 6)],
                "vars": {"self": "<Handler>", "attempt": f, "key": words(rng, 3)},
            })
        })
        .collect();
    let crumbs: Vec<_> = (0..12)
        .map(|b| json!({"category": "http", "message": words(rng, 10), "level": "info", "timestamp": 1_700_000_000 + b}))
        .collect();
    json!({
        "event_id": event_id,
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": "shop@4.2.0",
        "exception": {"values": [{"type": format!("Error{k}"), "value": words(rng, 12), "stacktrace": {"frames": frames}}]},
        "breadcrumbs": {"values": crumbs},
        "request": {"url": format!("https://shop.example.com/api/v1/{}", words(rng, 2).replace(' ', "/")), "method": "POST", "headers": {"Authorization": "[Filtered]", "User-Agent": "python-requests/2.31"}},
        "user": {"id": format!("user-{}", k % USERS), "ip_address": "10.1.2.3"},
        "tags": {"component": format!("svc-{}", k % 12), "region": "eu-west-1"},
        "contexts": {"os": {"name": "Linux", "version": "6.1"}, "runtime": {"name": "CPython", "version": "3.12.1"}},
        "extra": {"note": words(rng, 40)},
    })
    .to_string()
}

fn event(k: usize, n: u64, rng: &mut Rng, now: i64) -> NewErrorEvent {
    // Random, as SDKs' (UUID v4) ids are; `n` keeps them distinct.
    let event_id = format!("{:016x}{n:016x}", rng.next());
    NewErrorEvent {
        payload: ErrorPayload::encode(&payload(k, &event_id, rng)),
        event_id,
        hash: format!("{k:040x}"),
        title: format!("Error{k}: something failed in handler {k}"),
        culprit: format!("app.module_{k} in handle"),
        level: "error".into(),
        timestamp: now,
        filed_at_arrival: false,
        category: "system".into(),
        severity: "medium".into(),
        priority: "P2".into(),
        assignee: Some("backend".into()),
        user_key: Some(format!("id:user-{}", k % USERS)),
        component: format!("svc-{}", k % 12),
        environment: Some("production".into()),
        release: Some("shop@4.2.0".into()),
    }
}

/// User and system CPU seconds of the calling thread.
fn thread_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based, whole line).
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

/// Write system calls and bytes written by the calling thread (`/proc/thread-self/io`).
fn thread_writes() -> (f64, f64) {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap_or_default();
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field("syscw:"), field("wchar:"))
}

/// Runs `total` events in batches of `batch` after `history_minutes` minutes of earlier
/// traffic (one event per issue and minute, not measured), as on a server that has been
/// up for a while.
fn run(batch: usize, total: usize, history_minutes: i64, retention: EventRetention, label: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
    // CACHE_MIB: the page cache (default: the store's).
    if let Some(mib) = std::env::var("CACHE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        store.set_cache_size(mib << 20).unwrap();
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now = strix_core::now_millis();
    let mut n = 0u64;
    for m in (1..=history_minutes).rev() {
        let earlier: Vec<ErrorEventBatch> = (0..ISSUES)
            .map(|k| {
                n += 1;
                ErrorEventBatch {
                    project_id: 1,
                    received: now - m * 60_000,
                    events: vec![event(k, n, &mut rng, now - m * 60_000)],
                }
            })
            .collect();
        store.record_error_batch(&earlier, &retention).unwrap();
    }
    let before = n;
    // Build every batch first: only the store's work is measured.
    let batches: Vec<Vec<ErrorEventBatch>> = (0..total / batch)
        .map(|_| {
            (0..batch)
                .map(|_| {
                    n += 1;
                    let k = ((n * 7919) % ISSUES as u64) as usize;
                    // Arriving 8 per ms, each a few ms after the SDK captured it.
                    let received = now + (n as i64) / 8;
                    ErrorEventBatch {
                        project_id: 1,
                        received,
                        events: vec![event(k, n, &mut rng, received - 5)],
                    }
                })
                .collect()
        })
        .collect();
    let compressed: usize = batches
        .iter()
        .flatten()
        .flat_map(|b| &b.events)
        .map(|e| e.payload.as_bytes().len())
        .sum();
    let (u0, s0) = thread_cpu();
    let (w0, b0) = thread_writes();
    let t0 = Instant::now();
    for b in &batches {
        for outcome in store.record_error_batch(b, &retention).unwrap() {
            assert!(!outcome.unwrap()[0].duplicate);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let (u1, s1) = thread_cpu();
    let (w1, b1) = thread_writes();
    let events = (total / batch * batch) as f64;
    let (issues, _) = store
        .list_error_issues(&ErrorIssueQuery {
            limit: 1000,
            ..ErrorIssueQuery::default()
        })
        .unwrap();
    assert_eq!(issues.len(), ISSUES);
    assert_eq!(
        issues.iter().map(|i| i.count).sum::<u64>(),
        events as u64 + before
    );
    println!(
        "{}",
        json!({
            "case": label,
            "batch": batch,
            "events": events,
            "payloadBytes": compressed / events as usize,
            "eventsPerSecond": (events / secs).round(),
            "userUsPerEvent": ((u1 - u0) * 1e6 / events).round(),
            "sysUsPerEvent": ((s1 - s0) * 1e6 / events).round(),
            "commitsPerSecond": ((events / batch as f64) / secs).round(),
            "writesPerEvent": ((w1 - w0) / events * 100.0).round() / 100.0,
            "writtenBytesPerEvent": ((b1 - b0) / events).round(),
        })
    );
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture (release)"]
fn error_write_throughput() {
    let total: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16_384);
    for batch in [8, 32, 128] {
        run(
            batch,
            total,
            0,
            EventRetention::default(),
            "default retention",
        );
    }
    // Issues at their cap: every event also thins an older one.
    // Two hours of per-minute counts behind every issue.
    run(32, total, 120, EventRetention::default(), "after two hours");
    run(
        32,
        total,
        0,
        EventRetention {
            keep_first: 10,
            max_per_issue: 40,
        },
        "at the per-issue cap",
    );
}
