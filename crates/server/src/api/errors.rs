//! The error-tracking API under `/api/monitoring/errors`, in the Strix envelope.
//!
//! | route | scope | what |
//! |---|---|---|
//! | `POST /api/monitoring/errors` | ingest | the plain JSON API (`type`, `message`, `stack`, `component`, …); `project` parameter (id or slug, default: the first project) |
//! | `GET /api/monitoring/errors/issues` | read | issues: filters `status` (comma list), `level`, `category`, `severity`, `priority`, `assignee` (`none` for unassigned), `component`, `environment`, `release`, `project`, `since` (RFC 3339 or ms); `q` (text in title or culprit); `sort` (`last_seen`, `first_seen`, `count`, `users`, `severity`, `priority`); `offset`, `limit` |
//! | `GET /api/monitoring/errors/issues/{id}` | read | one issue with its latest events, environments, releases and ticket |
//! | `GET /api/monitoring/errors/issues/{id}/events` | read | its events, newest first, with scrubbed payloads; `offset`, `limit` |
//! | `GET /api/monitoring/errors/issues/{id}/investigation` (also `/errors/{id}/investigation`) | read | pattern, similar issues, system health at the time, recommendations |
//! | `POST /api/monitoring/errors/issues/{id}/resolve` | admin | `{"operator", "notes"}`; 409 when already resolved; resolves its spike alert |
//! | `POST /api/monitoring/errors/issues/{id}/unresolve` | admin | `{"operator"}` |
//! | `POST /api/monitoring/errors/issues/{id}/ignore` | admin | `{"operator", "until"?, "count"?}`: muted until a time (RFC 3339 or ms) or for `count` more events |
//! | `POST /api/monitoring/errors/issues/{id}/assign` | admin | `{"operator", "assignee"}` (`null` unassigns) |
//! | `GET /api/monitoring/errors/issues/{id}/ticket` | read | the ticket with its timeline (404 when none) |
//! | `POST /api/monitoring/errors/issues/{id}/ticket` | admin | `{"author", "status"?, "assignee"?, "note"?}`: creates or updates; `resolved`/`closed` resolves the issue and its alert |
//! | `POST /api/monitoring/errors/issues/{id}/ticket/steps` | admin | `{"author", "action", "description"}` |
//! | `GET /api/monitoring/errors/stats` | read | counts by status and severity, MTTR (overall, by category, by team), error rate per minute, top categories and components; `project`, `window` (default 1h) |
//! | `GET /api/monitoring/errors/trends` | read | `period=24h|7d`: 24 buckets of event counts; `project`, `issue` |
//!
//! Each issue: `id, title, culprit, level, status, count, userCount, firstSeen, lastSeen,
//! category, severity, priority, assignee, pattern` (plus `project`, `component`,
//! `resolvedBy`, `resolvedAt`, `resolutionNotes`, `regressed`, `regressedAt`,
//! `regressionCount`, `ignoreUntil`, `ignoreUntilCount`, `storedEvents`). Times are RFC 3339
//! UTC with milliseconds.
//!
//! `pattern` comes from the times of the issue's latest events (up to [`PATTERN_EVENTS`]);
//! see [`strix_errors::analysis::pattern`] for the definitions.

use super::alerts::{rfc3339, state_error};
use super::params::{parse_time, Params};
use crate::api::sentry::{self, ErrorTracking};
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use strix_core::ErrorClass;
use strix_errors::analysis::{self, Health};
use strix_query::QueryValue;
use strix_state::{
    ErrorEventRecord, ErrorIssue, ErrorIssueQuery, ErrorTicket, IssueChange, IssueSort,
    IssueStatus, StateError, TicketStatus, TicketUpdate, MAX_LIST_LIMIT,
};

const ENV: Envelope = Envelope::Strix;

/// How many of an issue's latest events its pattern is computed from.
pub const PATTERN_EVENTS: usize = 200;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

pub fn ingest_routes() -> Router<AppState> {
    Router::new().route("/api/monitoring/errors", post(json_api))
}

pub fn read_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/errors/issues", get(list))
        .route("/api/monitoring/errors/issues/{id}", get(detail))
        .route("/api/monitoring/errors/issues/{id}/events", get(events))
        .route(
            "/api/monitoring/errors/issues/{id}/investigation",
            get(investigation),
        )
        .route(
            "/api/monitoring/errors/{id}/investigation",
            get(investigation),
        )
        .route("/api/monitoring/errors/issues/{id}/ticket", get(ticket))
        .route("/api/monitoring/errors/stats", get(stats))
        .route("/api/monitoring/errors/trends", get(trends))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/errors/issues/{id}/resolve", post(resolve))
        .route(
            "/api/monitoring/errors/issues/{id}/unresolve",
            post(unresolve),
        )
        .route("/api/monitoring/errors/issues/{id}/ignore", post(ignore))
        .route("/api/monitoring/errors/issues/{id}/assign", post(assign))
        .route(
            "/api/monitoring/errors/issues/{id}/ticket",
            post(update_ticket),
        )
        .route(
            "/api/monitoring/errors/issues/{id}/ticket/steps",
            post(ticket_step),
        )
}

/// The error-tracking service, or 503 when it is not enabled.
pub(super) fn tracking(state: &AppState) -> Result<Arc<ErrorTracking>, ApiError> {
    state.services.errors.clone().ok_or_else(|| {
        ApiError::new(
            ErrorClass::Unavailable,
            "error tracking is not enabled on this server",
            ENV,
        )
    })
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_input(msg, ENV)
}

/// Runs `f` against the error-tracking store on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    t: &Arc<ErrorTracking>,
    f: impl FnOnce(&ErrorTracking) -> Result<T, StateError> + Send + 'static,
) -> Result<T, ApiError> {
    let t = t.clone();
    tokio::task::spawn_blocking(move || f(&t))
        .await
        .map_err(|e| ApiError::new(ErrorClass::Internal, format!("state task failed: {e}"), ENV))?
        .map_err(|e| state_error(e, ENV))
}

/// The pattern of an issue from its events' timestamps (any order); see
/// [`strix_errors::analysis::pattern`].
pub fn pattern(times: &[i64]) -> &'static str {
    analysis::pattern(times)
}

fn issue_json(i: &ErrorIssue, pattern: &str) -> Value {
    json!({
        "id": i.id,
        "project": i.project_id,
        "title": i.title,
        "culprit": i.culprit,
        "level": i.level,
        "status": i.status.as_str(),
        "count": i.count,
        "userCount": i.user_count,
        "firstSeen": rfc3339(i.first_seen),
        "lastSeen": rfc3339(i.last_seen),
        "category": i.category,
        "severity": i.severity,
        "priority": i.priority,
        "assignee": i.assignee,
        "component": i.component,
        "pattern": pattern,
        "resolvedBy": i.resolved_by,
        "resolvedAt": i.resolved_at.map(rfc3339),
        "resolutionNotes": i.resolution_notes,
        "regressed": i.status == IssueStatus::Regressed,
        "regressedAt": i.regressed_at.map(rfc3339),
        "regressionCount": i.regression_count,
        "ignoreUntil": i.ignore_until.map(rfc3339),
        "ignoreUntilCount": i.ignore_until_count,
        "storedEvents": i.stored_events,
    })
}

fn event_json(e: &ErrorEventRecord) -> Value {
    json!({
        "id": e.id,
        "issueId": e.issue_id,
        "eventId": e.event_id,
        "received": rfc3339(e.received),
        "timestamp": rfc3339(e.timestamp),
        "userKey": e.user_key,
        "payload": e.payload,
    })
}

fn ticket_json(t: &ErrorTicket) -> Value {
    json!({
        "issueId": t.issue_id,
        "status": t.status.as_str(),
        "assignee": t.assignee,
        "createdBy": t.created_by,
        "createdAt": rfc3339(t.created_at),
        "updatedAt": rfc3339(t.updated_at),
        "resolvedAt": t.resolved_at.map(rfc3339),
        "steps": t.steps.iter().map(|s| json!({
            "id": s.id,
            "action": s.action,
            "description": s.description,
            "author": s.author,
            "at": rfc3339(s.at),
        })).collect::<Vec<_>>(),
    })
}

/// The times of an issue's latest events.
fn event_times(t: &ErrorTracking, id: i64) -> Result<Vec<i64>, StateError> {
    t.store.error_event_times(id, PATTERN_EVENTS)
}

/// An issue with its pattern, read in the blocking task.
fn with_pattern(t: &ErrorTracking, issue: ErrorIssue) -> Result<Value, StateError> {
    let times = event_times(t, issue.id)?;
    Ok(issue_json(&issue, pattern(&times)))
}

fn usize_param(p: &Params, key: &str, default: usize) -> Result<usize, ApiError> {
    match p.get(key) {
        None | Some("") => Ok(default),
        Some(s) => s.parse().map_err(|_| {
            bad(format!(
                "invalid parameter {key:?}: {s:?} is not a non-negative integer"
            ))
        }),
    }
}

fn limit_param(p: &Params) -> Result<usize, ApiError> {
    let limit = usize_param(p, "limit", 100)?;
    if limit > MAX_LIST_LIMIT {
        return Err(bad(format!("limit must be at most {MAX_LIST_LIMIT}")));
    }
    Ok(limit)
}

fn project_param(t: &ErrorTracking, p: &Params) -> Result<Option<u64>, ApiError> {
    match p.get("project").filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => t
            .projects()
            .iter()
            .find(|pr| pr.slug == s || pr.id.to_string() == s)
            .map(|pr| Some(pr.id))
            .ok_or_else(|| {
                ApiError::new(ErrorClass::NotFound, format!("unknown project {s:?}"), ENV)
            }),
    }
}

fn issue_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            ErrorClass::NotFound,
            format!("error issue {id:?} not found"),
            ENV,
        )
    })
}

fn not_found(id: i64) -> StateError {
    StateError::NotFound {
        kind: "error issue",
        id: id.to_string(),
    }
}

/// `GET /api/monitoring/errors/issues`.
async fn list(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let p = Params::parse(q.as_deref(), None);
    let mut statuses = Vec::new();
    for s in p
        .all("status")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        statuses.push(IssueStatus::parse(s).map_err(|e| state_error(e, ENV))?);
    }
    let text = |k: &str| p.get(k).filter(|s| !s.is_empty()).map(str::to_string);
    let sort = match p.get("sort").filter(|s| !s.is_empty()) {
        None => IssueSort::default(),
        Some(s) => IssueSort::parse(s.trim_start_matches('-')).map_err(|e| state_error(e, ENV))?,
    };
    let seen_since = match p.get("since").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(time_value(s).ok_or_else(|| {
            bad(format!(
                "invalid parameter \"since\": {s:?} is not an RFC 3339 time or a timestamp"
            ))
        })?),
    };
    let query = ErrorIssueQuery {
        project_id: project_param(&t, &p)?,
        statuses,
        level: text("level"),
        category: text("category"),
        severity: text("severity"),
        priority: text("priority"),
        assignee: text("assignee"),
        environment: text("environment"),
        release: text("release"),
        component: text("component"),
        seen_since,
        text: text("q").or_else(|| text("search")),
        sort,
        offset: usize_param(&p, "offset", 0)?,
        limit: limit_param(&p)?,
    };
    let (offset, limit) = (query.offset, query.limit);
    let (data, total) = blocking(&t, move |t| {
        let (issues, total) = t.store.list_error_issues(&query)?;
        let data = issues
            .into_iter()
            .map(|i| with_pattern(t, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((data, total))
    })
    .await?;
    Ok(Json(json!({
        "success": true,
        "data": data,
        "meta": {"total": total, "offset": offset, "limit": limit},
    })))
}

/// A time parameter: RFC 3339, or Unix seconds / milliseconds. `None` for anything else,
/// including negative numbers (before 1970).
fn time_value(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        if n < 0 {
            return None;
        }
        // Milliseconds from 2001 on; anything smaller is seconds.
        return if n > 1_000_000_000_000 {
            Some(n)
        } else {
            n.checked_mul(1000)
        };
    }
    parse_time(s)
}

/// `GET /api/monitoring/errors/issues/{id}`: the issue with its 10 latest events.
async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let id = issue_id(&id)?;
    let data = blocking(&t, move |t| {
        let issue = t.store.get_error_issue(id)?.ok_or_else(|| not_found(id))?;
        let mut v = with_pattern(t, issue)?;
        let (latest, _) = t.store.list_error_events(id, 0, 10)?;
        v["latestEvents"] = Value::Array(latest.iter().map(event_json).collect());
        let tags = t.store.error_issue_tags(id)?;
        let of = |k: &str| -> Vec<&String> {
            tags.iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v)
                .collect()
        };
        v["environments"] = json!(of("environment"));
        v["releases"] = json!(of("release"));
        v["ticket"] = t
            .store
            .get_error_ticket(id)?
            .map(|tk| ticket_json(&tk))
            .unwrap_or(Value::Null);
        Ok(v)
    })
    .await?;
    Ok(Json(json!({"success": true, "data": data})))
}

/// `GET /api/monitoring/errors/issues/{id}/events`.
async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let id = issue_id(&id)?;
    let p = Params::parse(q.as_deref(), None);
    let (offset, limit) = (usize_param(&p, "offset", 0)?, limit_param(&p)?);
    let (evs, total) = blocking(&t, move |t| t.store.list_error_events(id, offset, limit)).await?;
    Ok(Json(json!({
        "success": true,
        "data": evs.iter().map(event_json).collect::<Vec<_>>(),
        "meta": {"total": total, "offset": offset, "limit": limit},
    })))
}

/// Parses a JSON body into `T`, naming the expected shape on error.
pub(super) fn json_body<T: DeserializeOwned>(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
    shape: &str,
) -> Result<T, ApiError> {
    let body = crate::error::body(body, state.opts.max_body_bytes, ENV)?;
    serde_json::from_slice(&body)
        .map_err(|e| bad(format!("invalid JSON body (expected {shape}): {e}")))
}

fn required(name: &str, v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(bad(format!("\"{name}\" must not be empty")));
    }
    Ok(v.to_string())
}

#[derive(Debug, Deserialize)]
struct OperatorAction {
    operator: String,
    #[serde(default)]
    notes: String,
}

/// Applies a change and answers with the issue; resolving also resolves its spike alert.
async fn apply(state: &AppState, id: &str, change: IssueChange) -> Result<Json<Value>, ApiError> {
    let t = tracking(state)?;
    let id = issue_id(id)?;
    let resolves = matches!(change, IssueChange::Resolve { .. });
    let data = blocking(&t, move |t| {
        let issue = t
            .store
            .change_error_issue(id, &change, strix_core::now_millis())?;
        if resolves {
            t.issue_resolved(id);
        }
        with_pattern(t, issue)
    })
    .await?;
    Ok(Json(json!({"success": true, "data": data})))
}

/// `POST /api/monitoring/errors/issues/{id}/resolve`.
async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let a: OperatorAction = json_body(&state, body, "{\"operator\": \"...\", \"notes\": \"...\"}")?;
    let change = IssueChange::Resolve {
        operator: required("operator", &a.operator)?,
        notes: a.notes,
    };
    apply(&state, &id, change).await
}

/// `POST /api/monitoring/errors/issues/{id}/unresolve`.
async fn unresolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let a: OperatorAction = json_body(&state, body, "{\"operator\": \"...\"}")?;
    let change = IssueChange::Unresolve {
        operator: required("operator", &a.operator)?,
    };
    apply(&state, &id, change).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreBody {
    operator: String,
    #[serde(default)]
    until: Option<Value>,
    #[serde(default)]
    count: Option<u64>,
}

/// `POST /api/monitoring/errors/issues/{id}/ignore`.
async fn ignore(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let a: IgnoreBody = json_body(
        &state,
        body,
        "{\"operator\": \"...\", \"until\": \"<RFC 3339 or ms>\", \"count\": N}",
    )?;
    let until = match &a.until {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .and_then(|n| time_value(&n.to_string()))
                .ok_or_else(|| bad("\"until\" is not a valid timestamp"))?,
        ),
        Some(Value::String(s)) => Some(
            time_value(s)
                .ok_or_else(|| bad(format!("\"until\": {s:?} is not an RFC 3339 time")))?,
        ),
        Some(other) => return Err(bad(format!("\"until\" must be a time, not {other}"))),
    };
    let change = IssueChange::Ignore {
        operator: required("operator", &a.operator)?,
        until,
        count: a.count,
    };
    apply(&state, &id, change).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    operator: String,
    assignee: Option<String>,
}

/// `POST /api/monitoring/errors/issues/{id}/assign`.
async fn assign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let a: AssignBody = json_body(
        &state,
        body,
        "{\"operator\": \"...\", \"assignee\": \"team or person\"}",
    )?;
    let change = IssueChange::Assign {
        operator: required("operator", &a.operator)?,
        assignee: a
            .assignee
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    };
    apply(&state, &id, change).await
}

/// `GET /api/monitoring/errors/issues/{id}/ticket`.
async fn ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let id = issue_id(&id)?;
    let data = blocking(&t, move |t| {
        if t.store.get_error_issue(id)?.is_none() {
            return Err(not_found(id));
        }
        t.store.get_error_ticket(id)?.ok_or(StateError::NotFound {
            kind: "error ticket",
            id: id.to_string(),
        })
    })
    .await?;
    Ok(Json(json!({"success": true, "data": ticket_json(&data)})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketBody {
    author: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    assignee: Option<Option<String>>,
    #[serde(default)]
    note: Option<String>,
}

/// `Some(None)` for an explicit `null`, `None` when the key is absent.
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

/// `POST /api/monitoring/errors/issues/{id}/ticket`.
async fn update_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let id = issue_id(&id)?;
    let b: TicketBody = json_body(
        &state,
        body,
        "{\"author\": \"...\", \"status\": \"open|investigating|in_progress|resolved|closed\", \"assignee\": \"...\", \"note\": \"...\"}",
    )?;
    let update = TicketUpdate {
        author: required("author", &b.author)?,
        status: b
            .status
            .as_deref()
            .map(TicketStatus::parse)
            .transpose()
            .map_err(|e| state_error(e, ENV))?,
        assignee: b.assignee,
        note: b.note,
    };
    let data = blocking(&t, move |t| {
        let out = t
            .store
            .update_error_ticket(id, &update, strix_core::now_millis())?;
        if out.resolved_issue {
            t.issue_resolved(id);
        }
        let mut v = ticket_json(&out.ticket);
        v["issue"] = with_pattern(t, out.issue)?;
        Ok(v)
    })
    .await?;
    Ok(Json(json!({"success": true, "data": data})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    author: String,
    action: String,
    #[serde(default)]
    description: String,
}

/// `POST /api/monitoring/errors/issues/{id}/ticket/steps`.
async fn ticket_step(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let id = issue_id(&id)?;
    let b: StepBody = json_body(
        &state,
        body,
        "{\"author\": \"...\", \"action\": \"...\", \"description\": \"...\"}",
    )?;
    let (author, action) = (
        required("author", &b.author)?,
        required("action", &b.action)?,
    );
    let data = blocking(&t, move |t| {
        t.store.add_error_ticket_step(
            id,
            &action,
            &b.description,
            &author,
            strix_core::now_millis(),
        )
    })
    .await?;
    Ok(Json(json!({"success": true, "data": ticket_json(&data)})))
}

/// PromQL expressions for the system health at a moment (host metrics from
/// `node_*`, Strix' own HTTP metrics), each evaluated as an instant query.
const HEALTH_QUERIES: [(&str, &str); 4] = [
    (
        "memoryPercent",
        "100 * (1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes))",
    ),
    (
        "cpuPercent",
        "100 * (1 - avg(rate(node_cpu_seconds_total{mode=\"idle\"}[5m])))",
    ),
    (
        "latencyP99Seconds",
        "histogram_quantile(0.99, sum by (le) (rate(strix_http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "errorRatePercent",
        "100 * sum(rate(strix_http_requests_total{code=~\"5..\"}[5m])) / sum(rate(strix_http_requests_total[5m]))",
    ),
];

/// One number from an instant query at `at`; `None` without data (or NaN).
fn health_value(state: &AppState, query: &str, at: i64) -> Option<f64> {
    let v = state.engine.instant_query(&state.db, query, at).ok()?;
    let x = match v {
        QueryValue::Scalar { v, .. } => v,
        QueryValue::Vector(samples) => samples.first()?.v,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// `GET /api/monitoring/errors/issues/{id}/investigation`.
async fn investigation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let id = issue_id(&id)?;
    let (issue, times) = blocking(&t, move |t| {
        let issue = t.store.get_error_issue(id)?.ok_or_else(|| not_found(id))?;
        let times = event_times(t, id)?;
        Ok((issue, times))
    })
    .await?;
    let pat = pattern(&times);
    let at = issue.last_seen;
    // Similar issues: seen in the 24 h before the latest event, same project, sharing the
    // culprit, the category and component, or a similar title.
    let (project, category, component, culprit, title) = (
        issue.project_id,
        issue.category.clone(),
        issue.component.clone(),
        issue.culprit.clone(),
        issue.title.clone(),
    );
    let similar = blocking(&t, move |t| {
        let (candidates, _) = t.store.list_error_issues(&ErrorIssueQuery {
            project_id: Some(project),
            seen_since: Some(at.saturating_sub(DAY_MS)),
            limit: MAX_LIST_LIMIT,
            ..ErrorIssueQuery::default()
        })?;
        let mut out = Vec::new();
        for c in candidates.into_iter().filter(|c| c.id != id) {
            let mut reasons = Vec::new();
            if !culprit.is_empty() && c.culprit == culprit {
                reasons.push("same culprit");
            }
            if c.category == category && c.component == component {
                reasons.push("same category and component");
            }
            let sim = analysis::title_similarity(&title, &c.title);
            if sim >= analysis::SIMILAR_TITLE_MIN {
                reasons.push("similar title");
            }
            if !reasons.is_empty() {
                out.push(json!({
                    "id": c.id,
                    "title": c.title,
                    "status": c.status.as_str(),
                    "count": c.count,
                    "lastSeen": rfc3339(c.last_seen),
                    "category": c.category,
                    "component": c.component,
                    "titleSimilarity": (sim * 100.0).round() / 100.0,
                    "reasons": reasons,
                }));
            }
            if out.len() >= 20 {
                break;
            }
        }
        Ok(out)
    })
    .await?;
    let st = state.clone();
    let values = tokio::task::spawn_blocking(move || {
        HEALTH_QUERIES
            .iter()
            .map(|(_, q)| health_value(&st, q, at))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::new(ErrorClass::Internal, format!("query task failed: {e}"), ENV))?;
    let health = Health {
        memory_percent: values.first().copied().flatten(),
        cpu_percent: values.get(1).copied().flatten(),
        latency_p99_seconds: values.get(2).copied().flatten(),
        error_rate_percent: values.get(3).copied().flatten(),
    };
    let recs = analysis::recommendations(pat, &issue.title, &issue.category, &health);
    let mut health_json = serde_json::Map::new();
    for ((name, query), v) in HEALTH_QUERIES.iter().zip(&values) {
        health_json.insert((*name).to_string(), json!(v));
        health_json.insert(format!("{name}Query"), json!(query));
    }
    health_json.insert("at".into(), json!(rfc3339(at)));
    let last_day = times
        .iter()
        .filter(|&&x| x > at.saturating_sub(DAY_MS))
        .count();
    let last_hour = times
        .iter()
        .filter(|&&x| x > at.saturating_sub(HOUR_MS))
        .count();
    Ok(Json(json!({
        "success": true,
        "data": {
            "issue": issue_json(&issue, pat),
            "pattern": pat,
            "occurrences": {"lastHour": last_hour, "last24h": last_day, "total": issue.count},
            "similarIssues": similar,
            "systemHealth": Value::Object(health_json),
            "recommendations": recs,
        },
    })))
}

/// `GET /api/monitoring/errors/stats`.
async fn stats(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let p = Params::parse(q.as_deref(), None);
    let project = project_param(&t, &p)?;
    let window = match p.get("window").filter(|s| !s.is_empty()) {
        None => HOUR_MS,
        Some(s) => strix_core::duration::parse(s)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .filter(|&ms| ms >= MINUTE_MS)
            .ok_or_else(|| {
                bad(format!(
                    "invalid parameter \"window\": {s:?} (a duration of at least 1m, e.g. 1h)"
                ))
            })?,
    };
    let now = strix_core::now_millis();
    let s = blocking(&t, move |t| {
        t.store.error_stats(now.saturating_sub(window), project)
    })
    .await?;
    let pairs = |v: &[(String, u64)]| -> Value {
        Value::Object(v.iter().map(|(k, n)| (k.clone(), json!(n))).collect())
    };
    let top = |v: &[(String, u64)]| -> Value {
        json!(v
            .iter()
            .map(|(k, n)| json!({"name": k, "count": n}))
            .collect::<Vec<_>>())
    };
    let mttr = |v: &[(String, f64, u64)]| -> Value {
        Value::Object(
            v.iter()
                .map(|(k, m, n)| (k.clone(), json!({"seconds": m, "resolved": n})))
                .collect(),
        )
    };
    let minutes = window as f64 / MINUTE_MS as f64;
    let total: u64 = s.by_status.iter().map(|(_, n)| n).sum();
    Ok(Json(json!({
        "success": true,
        "data": {
            "issues": total,
            "byStatus": pairs(&s.by_status),
            "bySeverity": pairs(&s.by_severity),
            "mttrSeconds": s.mttr_seconds,
            "resolvedIssues": s.resolved,
            "mttrByCategory": mttr(&s.mttr_by_category),
            "mttrByTeam": mttr(&s.mttr_by_team),
            "windowSeconds": window / 1000,
            "eventsInWindow": s.events_in_window,
            "errorRatePerMinute": s.events_in_window as f64 / minutes,
            "topCategories": top(&s.top_categories),
            "topComponents": top(&s.top_components),
        },
    })))
}

/// `GET /api/monitoring/errors/trends?period=24h|7d`: 24 buckets ending now.
async fn trends(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let p = Params::parse(q.as_deref(), None);
    let project = project_param(&t, &p)?;
    let period = p.get("period").filter(|s| !s.is_empty()).unwrap_or("24h");
    let span = match period {
        "24h" | "1d" => DAY_MS,
        "7d" | "1w" => 7 * DAY_MS,
        other => {
            return Err(bad(format!(
                "invalid parameter \"period\": {other:?} (expected 24h or 7d)"
            )))
        }
    };
    let issue = match p.get("issue").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(issue_id(s)?),
    };
    const BUCKETS: usize = 24;
    let step = span / BUCKETS as i64;
    // Buckets end at the next whole minute, so the current minute is included.
    let end = (strix_core::now_millis().div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
    let start = end - span;
    let counts = blocking(&t, move |t| {
        t.store.error_counts(start, step, BUCKETS, project, issue)
    })
    .await?;
    let buckets: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "start": rfc3339(start + step * i as i64),
                "end": rfc3339(start + step * (i as i64 + 1)),
                "count": n,
            })
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "data": {
            "period": period,
            "bucketSeconds": step / 1000,
            "total": counts.iter().sum::<u64>(),
            "buckets": buckets,
        },
    })))
}

/// `POST /api/monitoring/errors`: the plain JSON API.
async fn json_api(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let t = tracking(&state)?;
    let p = Params::parse(q.as_deref(), None);
    let project = match project_param(&t, &p)? {
        Some(id) => t.project(id),
        None => t.projects().first().cloned(),
    }
    .ok_or_else(|| {
        ApiError::new(
            ErrorClass::NotFound,
            "no error-tracking project is configured",
            ENV,
        )
    })?;
    let body = crate::error::body(body, state.opts.max_body_bytes, ENV)?;
    let enc = strix_ingest::ContentEncoding::parse(
        headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|e| ApiError::new(e.class(), e.to_string(), ENV))?;
    let raw = strix_ingest::decompress(enc, &body, &state.decode_limits())
        .map_err(|e| ApiError::new(e.class(), e.to_string(), ENV))?;
    let event = strix_errors::parse_json_api(&raw, &t.payload_limits)
        .map_err(|e| ApiError::new(e.class(), e.to_string(), ENV))?;
    if let Err(r) = t.admit(&project, 1) {
        return Err(ApiError::overloaded(
            format!(
                "project {} is over its event rate limit; retry in {} s",
                project.slug, r.retry_after_secs
            ),
            ENV,
            r.retry_after_secs,
        ));
    }
    let received = strix_core::now_millis();
    let tp = t.clone();
    let processed =
        tokio::task::spawn_blocking(move || tp.process(vec![event.into()], received, None))
            .await
            .map_err(|e| {
                ApiError::new(ErrorClass::Internal, format!("event task failed: {e}"), ENV)
            })?
            .map_err(|e| ApiError::new(e.class(), e.to_string(), ENV))?;
    let p = processed
        .first()
        .ok_or_else(|| ApiError::new(ErrorClass::Internal, "event not stored", ENV))?;
    let answer = json!({
        "success": true,
        "data": {
            "eventId": p.event.event_id,
            "hash": p.grouping.hash,
            "title": p.grouping.title,
            "severity": p.categorization.severity.as_str(),
            "category": p.categorization.category.as_str(),
            "priority": p.categorization.priority.as_str(),
            "assignee": p.categorization.team,
        },
    });
    let sink = Some(state.sink.clone());
    if let Err(e) = t
        .store(project, processed, Vec::new(), received, sink)
        .await
    {
        return Ok(sentry::write_failed(e));
    }
    Ok(Json(answer).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_values() {
        assert_eq!(time_value("1700000000"), Some(1_700_000_000_000));
        assert_eq!(time_value("1700000000123"), Some(1_700_000_000_123));
        assert_eq!(time_value("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(time_value("yesterday"), None);
        // Client input never overflows: out of range is refused.
        assert_eq!(time_value("-9223372036854775808"), None);
        assert_eq!(time_value("-1"), None);
        assert_eq!(time_value("9223372036854775807"), Some(i64::MAX));
    }
}
