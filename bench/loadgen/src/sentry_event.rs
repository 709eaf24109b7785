//! The Sentry event the error benchmarks send: shaped like a Python SDK event (exception
//! with an 8-frame stack with context lines, 8 breadcrumbs, request, user, tags, contexts)
//! for one of many issues, padded to a size with log-like text. Used by `strix-errorbench`
//! and by `crates/errors/benches/process.rs` (included by path), so both measure the same
//! event.

use serde_json::{json, Value};

/// The event of issue `k` with `EVENT_ID_PLACEHOLDER` where the id goes.
pub fn template(k: usize, size: usize) -> String {
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
        "event_id": "EVENT_ID_PLACEHOLDER",
        "timestamp": "TIMESTAMP_PLACEHOLDER",
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
    let base = serde_json::to_string(&ev).unwrap_or_default().len();
    if size > base + 20 {
        ev["extra"]["log"] = json!(filler(k, size - base - 20));
    }
    serde_json::to_string(&ev).unwrap_or_default()
}

/// Log-like text of `len` bytes (words and numbers from a small generator), so the event
/// compresses about as well as real ones do, not like a run of one letter.
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
            out.push_str(&format!("{} ", (r >> 8) % 100_000));
        }
    }
    out.truncate(len);
    out
}
