//! Health checks, circuit breakers and heartbeats.
//!
//! - `GET /api/monitoring/checks` (read): every check with status and breaker.
//! - `GET /api/monitoring/health/{name}` (read): one check, or one of Strix' components
//!   (`storage`, `ingest`, `rules`, `notifier`, `scrape`, `system`; see [`super::health`]):
//!   `{"success": true, "data": {"name", "type", "status", "lastCheck", "latencyMs",
//!   "circuitBreaker": {"state": "closed|open|half-open", ...}, "uptime": {"24h", "7d", "30d",
//!   "90d"}, "slaTarget", "errorBudgetLeft", "incidents", "mttrMs", ...}}`; 404 for an unknown
//!   name.
//! - `POST /api/monitoring/health/circuit-breakers/reset` (admin): optional `{"name": ...}`;
//!   without it every breaker is closed.
//! - `POST /api/monitoring/checks` (admin): a `checks:` entry as JSON (durations as `"10s"`),
//!   validated like the config (400 naming the field, e.g. `interval: must be positive`);
//!   201 with the check. 409 when the name or heartbeat token is taken.
//! - `PUT /api/monitoring/checks/{name}` (admin): replaces (200) or creates (201) the check;
//!   status and history are kept. `name` in the body may be left out; if given it must match.
//! - `DELETE /api/monitoring/checks/{name}` (admin): probes stop, history stays.
//! - `GET /api/monitoring/checks/{name}/definition` (admin): the stored entry of an API check
//!   (`definition` is null for checks from `strix.yaml`).
//!
//! Checks declared in `strix.yaml` are read-only: changing or deleting one is 409. Every
//! check in a list carries `"source": "config"|"api"`.
//! - `GET|POST /api/monitoring/heartbeat/{token}` and `/{token}/start`, `/{token}/fail`
//!   (no API key: the token is the secret); 404 for an unknown token.
//!
//! Incidents and uptime come from the check history, which the check service keeps in the
//! state store (so they survive restarts).

use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use strix_checks::state::UptimeWindow;
use strix_checks::{CheckConfig, CheckService, CheckSnapshot, PingKind};
use strix_core::ErrorClass;

const ENV: Envelope = Envelope::Strix;
/// Incidents shown per check, newest first.
const RECENT_INCIDENTS: usize = 20;

pub fn read_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/checks", get(list))
        .route("/api/monitoring/health/{name}", get(one))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/health/circuit-breakers/reset", post(reset))
        .route("/api/monitoring/checks", post(create))
        .route("/api/monitoring/checks/{name}", put(replace).delete(remove))
        .route("/api/monitoring/checks/{name}/definition", get(definition))
}

/// Heartbeat pings: no API key, the token is the secret.
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/monitoring/heartbeat/{token}",
            get(ping_success).post(ping_success),
        )
        .route(
            "/api/monitoring/heartbeat/{token}/{kind}",
            get(ping_kind).post(ping_kind),
        )
}

fn service(state: &AppState) -> Option<&CheckService> {
    state.services.checks.as_ref()
}

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| Value::String(super::alerts::rfc3339(t)))
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(ErrorClass::NotFound, what.to_string(), ENV)
}

/// A check's summary, as in lists and `/api/monitoring/health`.
pub fn check_json(c: &CheckSnapshot) -> Value {
    json!({
        "name": c.name,
        "type": c.check_type.as_str(),
        "status": c.status.as_str(),
        "since": time(c.since),
        "lastCheck": time(c.last_check),
        "latencyMs": c.latency_ms,
        "lastError": c.last_error,
        "consecutiveFailures": c.consecutive_failures,
        "circuitBreaker": {
            "state": c.breaker.state.as_str(),
            "since": time(c.breaker.since),
            "consecutiveFailures": c.breaker.consecutive_failures,
            "retryAt": time(c.breaker.retry_at),
        },
        "heartbeat": c.heartbeat,
        "labels": c.labels,
        "public": c.public,
        "slaTarget": c.sla_target,
        "intervalMs": c.interval_ms,
        "source": c.source.as_str(),
    })
}

fn check_error(e: strix_checks::Error) -> ApiError {
    ApiError::new(e.class(), e.to_string(), ENV)
}

fn required(state: &AppState) -> Result<CheckService, ApiError> {
    service(state).cloned().ok_or_else(|| {
        ApiError::new(
            ErrorClass::Unavailable,
            "health checks are not running on this server",
            ENV,
        )
    })
}

/// Parses a body as one `checks:` entry; with `name`, a missing `name` is filled in.
fn parse_definition(body: &[u8], name: Option<&str>) -> Result<CheckConfig, ApiError> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_input(format!("invalid JSON body: {e}"), ENV))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::bad_input(
            "the body must be a JSON object: one `checks:` entry",
            ENV,
        ));
    };
    if let Some(n) = name {
        obj.entry("name")
            .or_insert_with(|| Value::String(n.to_string()));
    }
    let bytes = serde_json::to_vec(&v)
        .map_err(|e| ApiError::new(ErrorClass::Internal, e.to_string(), ENV))?;
    CheckConfig::from_json(&bytes).map_err(|e| ApiError::bad_input(e.to_string(), ENV))
}

/// Runs an admin change on the blocking pool (it writes the state store).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, strix_checks::Error> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorClass::Internal, format!("check task failed: {e}"), ENV))?
        .map_err(check_error)
}

async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let svc = required(&state)?;
    let config = parse_definition(&body, None)?;
    let snap = blocking(move || svc.create(config, strix_core::now_millis())).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "data": check_json(&snap)})),
    ))
}

async fn replace(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let svc = required(&state)?;
    let config = parse_definition(&body, Some(&name))?;
    let (snap, created) =
        blocking(move || svc.replace(&name, config, strix_core::now_millis())).await?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        code,
        Json(json!({"success": true, "data": check_json(&snap)})),
    ))
}

async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let svc = required(&state)?;
    let n = name.clone();
    blocking(move || svc.remove(&n, strix_core::now_millis())).await?;
    Ok(Json(json!({"success": true, "data": {"deleted": name}})))
}

async fn definition(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = service(&state)
        .and_then(|s| s.definition(&name))
        .ok_or_else(|| not_found(&format!("no check named {name:?}")))?;
    Ok(Json(json!({
        "success": true,
        "data": {
            "name": d.name,
            "source": d.source.as_str(),
            "definition": d.definition,
            "createdAt": time(d.created_at),
            "updatedAt": time(d.updated_at),
        }
    })))
}

async fn list(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = service(&state)
        .map(|s| s.list().iter().map(check_json).collect())
        .unwrap_or_default();
    Json(json!({"success": true, "data": data}))
}

async fn one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let svc = service(&state);
    let Some(snap) = svc.and_then(|s| s.status(&name)) else {
        let st = state.clone();
        let n = name.clone();
        let component =
            tokio::task::spawn_blocking(move || super::health::component_by_name(&st, &n))
                .await
                .map_err(|e| {
                    ApiError::new(
                        ErrorClass::Internal,
                        format!("status task failed: {e}"),
                        ENV,
                    )
                })?;
        return match component {
            Some(data) => Ok(Json(json!({"success": true, "data": data}))),
            None => Err(not_found(&format!("no check or component named {name:?}"))),
        };
    };
    let mut data = check_json(&snap);
    if let Some(svc) = svc {
        let mut uptime = serde_json::Map::new();
        let mut budget_left = Value::Null;
        for w in UptimeWindow::ALL {
            if let Some(u) = svc.uptime(&name, w) {
                if w == UptimeWindow::Month {
                    budget_left = json!(u.error_budget.remaining_ratio);
                }
                uptime.insert(
                    w.as_str().to_string(),
                    json!({
                        "percent": u.percent,
                        "upMs": u.uptime.up_ms,
                        "downMs": u.uptime.down_ms,
                        "unknownMs": u.uptime.unknown_ms,
                        "errorBudget": u.error_budget,
                    }),
                );
            }
        }
        let now = strix_core::now_millis();
        let all = svc.incidents(&name).unwrap_or_default();
        // Mean time to recovery over the ended incidents of the kept history (90 days).
        let mttr_ms = strix_checks::state::mttr(&all).map(|d| d.as_millis() as u64);
        let incidents: Vec<Value> = all
            .iter()
            .rev()
            .take(RECENT_INCIDENTS)
            .map(|i| {
                json!({
                    "start": time(Some(i.start)),
                    "end": time(i.end),
                    "durationMs": i.duration(now).as_millis() as u64,
                    "cause": i.cause,
                    "open": i.is_open(),
                })
            })
            .collect();
        if let Some(o) = data.as_object_mut() {
            o.insert("uptime".into(), Value::Object(uptime));
            // The 30-day error budget left, as a ratio (1 untouched, 0 spent, negative
            // overspent).
            o.insert("errorBudgetLeft".into(), budget_left);
            o.insert("incidents".into(), Value::Array(incidents));
            o.insert("mttrMs".into(), json!(mttr_ms));
        }
    }
    Ok(Json(json!({"success": true, "data": data})))
}

async fn reset(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_input(format!("invalid JSON body: {e}"), ENV))?;
        match v.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(ApiError::bad_input("`name` must be a string", ENV)),
        }
    };
    let reset = match service(&state).cloned() {
        Some(s) => {
            let n = name.clone();
            tokio::task::spawn_blocking(move || s.reset_breakers(n.as_deref()))
                .await
                .map_err(|e| {
                    ApiError::new(ErrorClass::Internal, format!("reset task failed: {e}"), ENV)
                })?
        }
        None if name.is_none() => Some(Vec::new()),
        None => None,
    };
    match reset {
        Some(names) => Ok(Json(json!({"success": true, "data": {"reset": names}}))),
        None => Err(not_found(&format!(
            "no check named {:?}",
            name.unwrap_or_default()
        ))),
    }
}

/// Records the ping on the blocking pool (it stores the heartbeat's series).
async fn ping(
    state: &AppState,
    token: String,
    kind: PingKind,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let svc = service(state)
        .cloned()
        .ok_or_else(|| not_found("unknown heartbeat token"))?;
    let name = tokio::task::spawn_blocking(move || {
        svc.ping_heartbeat(&token, kind, strix_core::now_millis())
    })
    .await
    .map_err(|e| ApiError::new(ErrorClass::Internal, format!("ping task failed: {e}"), ENV))?
    .map_err(|_| not_found("unknown heartbeat token"))?;
    Ok((
        StatusCode::OK,
        Json(json!({"success": true, "data": {"check": name, "kind": kind}})),
    ))
}

async fn ping_success(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    ping(&state, token, PingKind::Success).await
}

async fn ping_kind(
    State(state): State<AppState>,
    Path((token, kind)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kind = match kind.as_str() {
        "start" => PingKind::Start,
        "fail" => PingKind::Fail,
        _ => {
            return Err(not_found(
                "unknown heartbeat endpoint (expected /start or /fail)",
            ))
        }
    };
    ping(&state, token, kind).await
}
