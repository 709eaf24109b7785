//! Per-event CPU cost of the error pipeline on a ≈5 KB Python-SDK-shaped event: JSON
//! parsing (with the depth check), scrubbing, normalisation + grouping + categorisation,
//! serialising and compressing the stored payload, and the whole path.
//!
//! Run with `cargo bench -p strix-errors --bench process -- --warm-up-time 1
//! --measurement-time 3`. The event has the shape of the end-to-end load generator's
//! (`bench/loadgen/src/errorbench.rs`): 8 frames with context lines, 8 breadcrumbs,
//! request, user, tags, contexts and an `extra.log` filler of words and numbers.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};
use strix_errors::limits::parse_json;
use strix_errors::{
    group, normalize, process, CategorizeConfig, Categorizer, NormalizeOptions, ScrubConfig,
    Scrubber,
};
use strix_state::ErrorPayload;

/// The binary's allocator, so allocation costs are the ones the server pays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENT_BYTES: usize = 5_000;
const RECEIVED_MS: i64 = 1_700_000_100_000;

/// A Python-SDK event of about `size` bytes for issue `k`.
fn event(k: usize, size: usize) -> String {
    let frames: Vec<Value> = (0..8)
        .map(|f| {
            json!({
                "filename": format!("app/services/module_{}.py", (k + f) % 40),
                "abs_path": format!("/srv/app/services/module_{}.py", (k + f) % 40),
                "function": format!("handler_{k}_{f}"),
                "module": format!("app.services.module_{}", (k + f) % 40),
                "lineno": 10 + f * 7,
                "in_app": f > 3,
                "context_line": "    result = client.call(payload, timeout=settings.TIMEOUT)",
                "pre_context": ["def handler(request):", "    payload = build(request)"],
                "post_context": ["    return result", ""],
            })
        })
        .collect();
    let crumbs: Vec<Value> = (0..8)
        .map(|b| {
            json!({
                "timestamp": 1_700_000_000.0 + b as f64,
                "category": "http",
                "type": "http",
                "level": "info",
                "data": {"method": "GET", "url": format!("https://api.internal/v1/items/{b}"), "status_code": 200},
            })
        })
        .collect();
    let mut ev = json!({
        "event_id": "9f2c4be1d8a34f0e8c3b5a7d6e1f2a3b",
        "timestamp": "2023-11-14T22:13:20.123456Z",
        "platform": "python",
        "level": "error",
        "logger": "app.worker",
        "environment": "production",
        "release": "shop@4.2.0",
        "server_name": format!("web-{}", k % 7),
        "transaction": format!("/api/orders/{}", k % 20),
        "exception": {"values": [{
            "type": format!("BenchError{k}"),
            "value": format!("order {k} could not be processed"),
            "module": "app.errors",
            "mechanism": {"type": "generic", "handled": true},
            "stacktrace": {"frames": frames},
        }]},
        "breadcrumbs": {"values": crumbs},
        "user": {"id": format!("user-{}", k % 50), "ip_address": "10.1.2.3"},
        "tags": {"component": format!("svc-{}", k % 12), "region": "eu-west-1"},
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.12.3"},
            "os": {"name": "Linux", "version": "6.8"},
            "trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "fa90fdead5f74052"},
        },
        "request": {
            "method": "POST",
            "url": format!("https://shop.example/api/orders/{k}"),
            "headers": {"User-Agent": "Mozilla/5.0", "Content-Type": "application/json"},
        },
        "sdk": {"name": "sentry.python", "version": "2.19.0"},
        "extra": {},
    });
    let base = serde_json::to_string(&ev).unwrap().len();
    if size > base + 20 {
        ev["extra"]["log"] = json!(filler(k, size - base - 20));
    }
    serde_json::to_string(&ev).unwrap()
}

/// Log-like text of `len` bytes: words (some followed by `=`) and numbers.
fn filler(seed: usize, len: usize) -> String {
    const WORDS: [&str; 32] = [
        "request",
        "user",
        "order",
        "payment",
        "failed",
        "retry",
        "timeout",
        "cache",
        "miss",
        "db",
        "query",
        "took",
        "ms",
        "status",
        "upstream",
        "connection",
        "reset",
        "pool",
        "worker",
        "queue",
        "item",
        "sku",
        "cart",
        "session",
        "token",
        "refresh",
        "region",
        "shard",
        "lock",
        "wait",
        "commit",
        "rollback",
    ];
    let mut x = (seed as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (x >> 33) as usize;
        out.push_str(WORDS[r % WORDS.len()]);
        out.push(if r.is_multiple_of(5) { '=' } else { ' ' });
        if r.is_multiple_of(3) {
            out.push_str(&(r >> 8).rem_euclid(100_000).to_string());
            out.push(' ');
        }
    }
    out.truncate(len);
    out
}

fn options() -> NormalizeOptions {
    NormalizeOptions {
        received_ms: RECEIVED_MS,
        client_ip: Some("10.9.8.7".into()),
        limits: Default::default(),
    }
}

fn stages(c: &mut Criterion) {
    let body = event(17, EVENT_BYTES);
    assert!((4_500..5_500).contains(&body.len()), "{}", body.len());
    let scrubber = Scrubber::new(&ScrubConfig::default()).unwrap();
    let categorizer = Categorizer::new(&CategorizeConfig::default()).unwrap();
    let opts = options();
    let parsed = parse_json(body.as_bytes(), "bench", 100).unwrap();
    let mut scrubbed = parsed.clone();
    scrubber.scrub_event(&mut scrubbed);
    let processed = process(parsed.clone(), &scrubber, &categorizer, &opts);

    // Stages after parsing run on a fresh copy of their input, timed one at a time, so
    // the tree is in cache as it is after the previous stage in the server.
    let mut g = c.benchmark_group("errors_event");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| {
        b.iter(|| parse_json(black_box(body.as_bytes()), "bench", 100).unwrap())
    });
    g.bench_function("drop", |b| {
        b.iter_batched(|| parsed.clone(), drop, BatchSize::PerIteration)
    });
    g.bench_function("scrub", |b| {
        b.iter_batched(
            || parsed.clone(),
            |mut v| {
                let s = scrubber.scrub_event(&mut v);
                (v, s)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("normalize_group_categorize", |b| {
        b.iter_batched(
            || scrubbed.clone(),
            |v| {
                let e = normalize(v, &opts);
                let g = group(&e);
                let c = categorizer.categorize(&e);
                (e, g, c)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("serialise_compress", |b| {
        b.iter(|| ErrorPayload::from_value(black_box(&processed.event.raw)))
    });
    g.bench_function("whole", |b| {
        b.iter(|| {
            let raw = parse_json(black_box(body.as_bytes()), "bench", 100).unwrap();
            let p = process(raw, &scrubber, &categorizer, &opts);
            let payload = ErrorPayload::from_value(&p.event.raw);
            (p.grouping.hash, payload)
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
