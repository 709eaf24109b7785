//! The public status page: `GET /status` (HTML, no JavaScript) and
//! `GET /api/monitoring/status` (the same content as JSON). No API key: only checks marked
//! `public: true` are shown, with their current status, uptime over 24 h / 7 d / 30 d / 90 d,
//! one bar per UTC day for the last 90 days (from the persisted check history) and their
//! incidents of the last 90 days. Every string from configuration or probes is escaped.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use strix_checks::state::{overall, UptimeWindow};
use strix_checks::CheckService;

use crate::router::AppState;

/// Days of bars.
pub const DAYS: usize = 90;
/// Incidents listed, newest first.
pub const RECENT_INCIDENTS: usize = 20;
const DAY_MS: i64 = 86_400_000;

/// Open routes (the page is public).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(page))
        .route("/api/monitoring/status", get(api))
}

fn time(ms: i64) -> String {
    super::alerts::rfc3339(ms)
}

fn date(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The status page's content at `now`.
pub fn status_json(svc: Option<&CheckService>, now: i64) -> Value {
    let mut checks = Vec::new();
    let mut incidents = Vec::new();
    let mut statuses = Vec::new();
    let public = svc
        .map(|s| {
            s.list()
                .into_iter()
                .filter(|c| c.public)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for c in &public {
        let Some(svc) = svc else { break };
        statuses.push(c.status);
        let mut uptime = serde_json::Map::new();
        for w in UptimeWindow::ALL {
            let p = svc.uptime(&c.name, w).and_then(|u| u.percent);
            uptime.insert(w.as_str().into(), json!(p));
        }
        let today = now - now.rem_euclid(DAY_MS);
        let first = today - DAY_MS * (DAYS as i64 - 1);
        let days: Vec<Value> = svc
            .daily_uptime(&c.name, DAYS, now)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, u)| {
                json!({
                    "date": date(first + DAY_MS * i as i64),
                    "uptimePercent": u.percent(),
                    "downMs": u.down_ms,
                })
            })
            .collect();
        for i in svc.incidents(&c.name).unwrap_or_default() {
            if i.end.is_some_and(|e| e < now - DAY_MS * DAYS as i64) {
                continue;
            }
            incidents.push((
                i.start,
                json!({
                    "check": c.name,
                    "start": time(i.start),
                    "end": i.end.map(time),
                    "durationMs": i.duration(now).as_millis() as u64,
                    "cause": i.cause.as_deref().map(public_cause),
                    "open": i.is_open(),
                }),
            ));
        }
        checks.push(json!({
            "name": c.name,
            "type": c.check_type.as_str(),
            "status": c.status.as_str(),
            "since": c.since.map(time),
            "uptime": uptime,
            "slaTarget": c.sla_target,
            "days": days,
        }));
    }
    incidents.sort_by_key(|i| std::cmp::Reverse(i.0));
    let incidents: Vec<Value> = incidents
        .into_iter()
        .take(RECENT_INCIDENTS)
        .map(|(_, v)| v)
        .collect();
    json!({
        "status": overall(statuses).as_str(),
        "generatedAt": time(now),
        "checks": checks,
        "incidents": incidents,
    })
}

/// What a public incident says about its cause. The probe's own error text can name
/// internal addresses or echo what the service answered, so the page shows only its kind.
pub fn public_cause(cause: &str) -> &'static str {
    let c = cause.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| c.contains(w));
    if has(&["job reported failure"]) {
        "job reported failure"
    } else if has(&["heartbeat", "ping", "missed"]) {
        "missed heartbeat"
    } else if has(&["timed out", "timeout", "deadline"]) {
        "timeout"
    } else if has(&["certificate", "tls", "ssl", "handshake"]) {
        "TLS or certificate problem"
    } else if has(&[
        "dns",
        "resolve",
        "nxdomain",
        "no such host",
        "lookup",
        " answer for ",
    ]) {
        "DNS resolution failed"
    } else if has(&["refused", "connect", "unreachable", "reset"]) {
        "connection failed"
    } else if has(&[
        "status",
        "body",
        "regex",
        "expect",
        "json",
        "answer",
        "got ",
        "not found",
    ]) {
        "unexpected response"
    } else if has(&["latency", "slow", "degraded"]) {
        "slow responses"
    } else {
        "check failed"
    }
}

/// How long one rendering of the page's content is reused: the page is public, so a
/// burst of requests must not recompute 90 days of history per check each time.
const CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// The status content, computed at most once per [`CACHE_FOR`] and off the async workers.
async fn cached(state: &AppState) -> Value {
    {
        let c = state.status_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, v)) = c.as_ref() {
            if at.elapsed() < CACHE_FOR {
                return v.clone();
            }
        }
    }
    let st = state.clone();
    let v = tokio::task::spawn_blocking(move || {
        status_json(st.services.checks.as_ref(), strix_core::now_millis())
    })
    .await
    .unwrap_or_else(|_| json!({"status": "unknown", "checks": [], "incidents": []}));
    *state.status_cache.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((std::time::Instant::now(), v.clone()));
    v
}

async fn api(State(state): State<AppState>) -> Json<Value> {
    let data = cached(&state).await;
    Json(json!({"success": true, "data": data}))
}

async fn page(State(state): State<AppState>) -> Response {
    let data = cached(&state).await;
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        render(&data),
    )
        .into_response()
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn pct(v: &Value) -> String {
    v.as_f64().map_or_else(
        || "—".to_string(),
        |p| format!("{:.3}%", (p * 1000.0).floor() / 1000.0),
    )
}

fn bar_class(p: Option<f64>) -> &'static str {
    match p {
        None => "none",
        Some(p) if p >= 100.0 => "up",
        Some(p) if p >= 99.0 => "minor",
        Some(p) if p >= 95.0 => "major",
        Some(_) => "down",
    }
}

fn status_label(st: &str) -> &'static str {
    match st {
        "healthy" => "Operational",
        "degraded" => "Degraded performance",
        "unhealthy" => "Outage",
        _ => "Unknown",
    }
}

const CSS: &str = "\
:root{--bg:#fff;--fg:#1b1f24;--muted:#5b6570;--card:#f5f7f9;--line:#dde2e7;\
--up:#2da44e;--minor:#9acd32;--major:#e3a008;--down:#d1242f;--none:#c9d1d9}\
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8b949e;\
--card:#161b22;--line:#30363d;--none:#30363d}}\
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);\
font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}\
main{max-width:860px;margin:0 auto;padding:24px 16px}h1{font-size:22px;margin:0 0 16px}\
.banner{padding:14px 18px;border-radius:8px;color:#fff;font-weight:600;margin-bottom:24px}\
.healthy{background:var(--up)}.degraded{background:var(--major)}.unhealthy{background:var(--down)}\
.unknown{background:var(--muted)}section.check{background:var(--card);border:1px solid var(--line);\
border-radius:8px;padding:14px 16px;margin-bottom:12px}.row{display:flex;justify-content:space-between;\
gap:12px;flex-wrap:wrap}.name{font-weight:600}.st{font-size:13px;padding:2px 8px;border-radius:10px;color:#fff}\
.bars{display:flex;gap:2px;margin:10px 0 4px;height:28px}.bar{flex:1;border-radius:2px}\
.bar.up{background:var(--up)}.bar.minor{background:var(--minor)}.bar.major{background:var(--major)}\
.bar.down{background:var(--down)}.bar.none{background:var(--none)}\
.muted{color:var(--muted);font-size:13px}ul{padding-left:18px}li{margin:6px 0}";

/// The HTML page for the content of [`status_json`].
pub fn render(data: &Value) -> String {
    use std::fmt::Write;
    let overall = s(data, "status");
    let mut h = String::with_capacity(32 << 10);
    h.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    h.push_str("<meta name=\"color-scheme\" content=\"light dark\">");
    h.push_str("<title>Status</title><style>");
    h.push_str(CSS);
    h.push_str("</style></head><body><main><h1>Service status</h1>");
    let banner = match overall {
        "healthy" => "All systems operational",
        "degraded" => "Some systems degraded",
        "unhealthy" => "Some systems are down",
        _ => "Status unknown",
    };
    let _ = write!(h, "<div class=\"banner {}\">{}</div>", esc(overall), banner);
    let checks = data["checks"].as_array().cloned().unwrap_or_default();
    if checks.is_empty() {
        h.push_str("<p class=\"muted\">No public checks are configured.</p>");
    }
    for c in &checks {
        let st = s(c, "status");
        let _ = write!(
            h,
            "<section class=\"check\"><div class=\"row\"><span class=\"name\">{}</span>\
             <span class=\"st {}\">{}</span></div><div class=\"bars\">",
            esc(s(c, "name")),
            esc(st),
            status_label(st)
        );
        for d in c["days"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let p = d["uptimePercent"].as_f64();
            let title = match p {
                Some(_) => format!("{}: {} up", s(d, "date"), pct(&d["uptimePercent"])),
                None => format!("{}: no data", s(d, "date")),
            };
            let _ = write!(
                h,
                "<span class=\"bar {}\" title=\"{}\"></span>",
                bar_class(p),
                esc(&title)
            );
        }
        let u = &c["uptime"];
        let _ = write!(
            h,
            "</div><div class=\"row muted\"><span>{DAYS} days ago</span><span>24 h {} · 7 d {} · \
             30 d {} · 90 d {}</span><span>today</span></div></section>",
            pct(&u["24h"]),
            pct(&u["7d"]),
            pct(&u["30d"]),
            pct(&u["90d"])
        );
    }
    h.push_str("<h2>Recent incidents</h2>");
    let incidents = data["incidents"].as_array().cloned().unwrap_or_default();
    if incidents.is_empty() {
        h.push_str("<p class=\"muted\">No incidents in the last 90 days.</p>");
    } else {
        h.push_str("<ul>");
        for i in &incidents {
            let secs = i["durationMs"].as_u64().unwrap_or(0) / 1000;
            let dur = strix_core::duration::format(std::time::Duration::from_secs(secs));
            let end = if i["open"].as_bool() == Some(true) {
                "ongoing".to_string()
            } else {
                format!("resolved after {dur}")
            };
            let _ = write!(
                h,
                "<li><strong>{}</strong> down since {} — {}{}</li>",
                esc(s(i, "check")),
                esc(s(i, "start")),
                esc(&end),
                i["cause"]
                    .as_str()
                    .map(|c| format!(" <span class=\"muted\">({})</span>", esc(c)))
                    .unwrap_or_default()
            );
        }
        h.push_str("</ul>");
    }
    let _ = write!(
        h,
        "<p class=\"muted\">Updated {}. Times are UTC.</p></main></body></html>",
        esc(s(data, "generatedAt"))
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_causes_hide_probe_details() {
        let cases = [
            (
                "connect error: Connection refused (os error 111) 10.0.3.7:5432",
                "connection failed",
            ),
            ("unexpected status 500", "unexpected response"),
            (
                "\"PONG\" not found in the first 4096 bytes",
                "unexpected response",
            ),
            ("body does not match \"ok\"", "unexpected response"),
            ("timed out after 5s", "timeout"),
            (
                "TLS handshake: invalid peer certificate",
                "TLS or certificate problem",
            ),
            (
                "no A answer for db.internal.example",
                "DNS resolution failed",
            ),
            (
                "no ping since 2026-11-22T10:00:00Z; expected by 2026-11-22T10:05:00Z",
                "missed heartbeat",
            ),
            (
                "job reported failure at 2026-11-22T10:00:00Z",
                "job reported failure",
            ),
            ("something else", "check failed"),
        ];
        for (raw, want) in cases {
            assert_eq!(public_cause(raw), want, "{raw}");
        }
    }

    #[test]
    fn renders_escaped_bars_and_incidents() {
        let data = json!({
            "status": "unhealthy",
            "generatedAt": "2026-01-01T00:00:00.000Z",
            "checks": [{
                "name": "<script>alert(1)</script>",
                "status": "unhealthy",
                "uptime": {"24h": 99.5, "7d": null, "30d": 100.0, "90d": 99.999},
                "days": [
                    {"date": "2025-12-31", "uptimePercent": null, "downMs": 0},
                    {"date": "2026-01-01", "uptimePercent": 99.5, "downMs": 432000}
                ]
            }],
            "incidents": [{"check": "a&b", "start": "2026-01-01T00:00:00.000Z", "end": null,
                           "durationMs": 90000, "cause": "status \"500\"", "open": true}]
        });
        let h = render(&data);
        assert!(!h.contains("<script>"), "{h}");
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(h.contains("<span class=\"bar none\" title=\"2025-12-31: no data\"></span>"));
        assert!(h.contains("<span class=\"bar minor\" title=\"2026-01-01: 99.500% up\"></span>"));
        assert!(h.contains("a&amp;b"));
        assert!(h.contains("status &quot;500&quot;"));
        assert!(h.contains("Some systems are down"));
        assert!(!h.contains("<script"), "no JavaScript");
    }
}
