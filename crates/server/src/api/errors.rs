//! The error-tracking API under `/api/monitoring/errors`, in the Strix envelope.
//!
//! | route | scope | what |
//! |---|---|---|
//! | `POST /api/monitoring/errors` | ingest | the plain JSON API (`type`, `message`, `stack`, `component`, …); `project` parameter (id or slug, default: the first project) |
//! | `GET /api/monitoring/errors/issues` | read | issues: `status` (comma list), `level`, `category`, `q`, `project`, `sort` (`last_seen`, `first_seen`, `count`, `users`), `offset`, `limit` |
//! | `GET /api/monitoring/errors/issues/{id}` | read | one issue with its latest events |
//! | `GET /api/monitoring/errors/issues/{id}/events` | read | its events, newest first, with scrubbed payloads; `offset`, `limit` |
//! | `POST /api/monitoring/errors/issues/{id}/resolve` | admin | `{"operator", "notes"}`; 409 when already resolved |
//!
//! Each issue: `id, title, culprit, level, status, count, userCount, firstSeen, lastSeen,
//! category, severity, priority, assignee, pattern` (plus `project`, `resolvedBy`,
//! `resolvedAt`, `resolutionNotes`). Times are RFC 3339 UTC with milliseconds.
//!
//! `pattern` comes from the times of the issue's latest events (up to
//! [`PATTERN_EVENTS`]): `isolated` for one occurrence, `burst` for 5 or more all within one
//! hour, `recurring` for more than 10 within the 24 hours before the latest, otherwise
//! `intermittent`.

use super::alerts::{rfc3339, state_error};
use super::params::Params;
use crate::api::sentry::{self, ErrorTracking};
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use strix_core::ErrorClass;
use strix_state::{
    ErrorEventRecord, ErrorIssue, ErrorIssueQuery, IssueSort, IssueStatus, StateError,
    MAX_LIST_LIMIT,
};

const ENV: Envelope = Envelope::Strix;

/// How many of an issue's latest events its pattern is computed from.
pub const PATTERN_EVENTS: usize = 200;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

pub fn ingest_routes() -> Router<AppState> {
    Router::new().route("/api/monitoring/errors", post(json_api))
}

pub fn read_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/errors/issues", get(list))
        .route("/api/monitoring/errors/issues/{id}", get(detail))
        .route("/api/monitoring/errors/issues/{id}/events", get(events))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new().route("/api/monitoring/errors/issues/{id}/resolve", post(resolve))
}

fn tracking(state: &AppState) -> Result<Arc<ErrorTracking>, ApiError> {
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

async fn blocking<T: Send + 'static>(
    t: &Arc<ErrorTracking>,
    f: impl FnOnce(&ErrorTracking) -> Result<T, StateError> + Send + 'static,
) -> Result<T, ApiError> {
    let t = t.clone();
    tokio::task::spawn_blocking(move || f(&t))
        .await
        .map_err(|e| ApiError::new(ErrorClass::Internal, format!("state task failed: {e}"), ENV))?
        .map_err(|e| state_error(e, ENV))
}

/// The pattern of an issue from its events' timestamps (any order).
pub fn pattern(times: &[i64]) -> &'static str {
    let mut t = times.to_vec();
    t.sort_unstable();
    let (Some(&first), Some(&last)) = (t.first(), t.last()) else {
        return "isolated";
    };
    if t.len() == 1 {
        return "isolated";
    }
    if t.len() >= 5 && last - first <= HOUR_MS {
        return "burst";
    }
    if t.iter().filter(|&&x| x > last - DAY_MS).count() > 10 {
        return "recurring";
    }
    "intermittent"
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
        "pattern": pattern,
        "resolvedBy": i.resolved_by,
        "resolvedAt": i.resolved_at.map(rfc3339),
        "resolutionNotes": i.resolution_notes,
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

/// An issue with its pattern, read in the blocking task.
fn with_pattern(t: &ErrorTracking, issue: ErrorIssue) -> Result<Value, StateError> {
    let (evs, _) = t.store.list_error_events(issue.id, 0, PATTERN_EVENTS)?;
    let times: Vec<i64> = evs.iter().map(|e| e.timestamp).collect();
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
            .projects
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
    let query = ErrorIssueQuery {
        project_id: project_param(&t, &p)?,
        statuses,
        level: text("level"),
        category: text("category"),
        text: text("q"),
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

/// `GET /api/monitoring/errors/issues/{id}`: the issue with its 10 latest events.
async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let id = issue_id(&id)?;
    let data = blocking(&t, move |t| {
        let issue = t
            .store
            .get_error_issue(id)?
            .ok_or_else(|| StateError::NotFound {
                kind: "error issue",
                id: id.to_string(),
            })?;
        let mut v = with_pattern(t, issue)?;
        let (latest, _) = t.store.list_error_events(id, 0, 10)?;
        v["latestEvents"] = Value::Array(latest.iter().map(event_json).collect());
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

#[derive(Debug, Deserialize)]
struct OperatorAction {
    operator: String,
    #[serde(default)]
    notes: String,
}

/// `POST /api/monitoring/errors/issues/{id}/resolve`.
async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let id = issue_id(&id)?;
    let body = crate::error::body(body, state.opts.max_body_bytes, ENV)?;
    let a: OperatorAction = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "invalid JSON body (expected {{\"operator\": \"...\", \"notes\": \"...\"}}): {e}"
        ))
    })?;
    if a.operator.trim().is_empty() {
        return Err(bad("\"operator\" must not be empty"));
    }
    let data = blocking(&t, move |t| {
        let issue = t.store.resolve_error_issue(
            id,
            a.operator.trim(),
            &a.notes,
            strix_core::now_millis(),
        )?;
        with_pattern(t, issue)
    })
    .await?;
    Ok(Json(json!({"success": true, "data": data})))
}

/// `POST /api/monitoring/errors`: the plain JSON API.
async fn json_api(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let p = Params::parse(q.as_deref(), None);
    let project = match project_param(&t, &p)? {
        Some(id) => t.project(id).cloned(),
        None => t.projects.first().cloned(),
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
    let project_id = project.id;
    let stored = blocking(&t, move |t| {
        t.record(project_id, vec![event], strix_core::now_millis(), None)
    })
    .await?;
    sentry::count(&state, &t, &project.slug, &stored, &[]);
    let (event_id, p) = stored
        .first()
        .ok_or_else(|| ApiError::new(ErrorClass::Internal, "event not stored", ENV))?;
    Ok(Json(json!({
        "success": true,
        "data": {
            "eventId": event_id,
            "hash": p.grouping.hash,
            "title": p.grouping.title,
            "severity": p.categorization.severity.as_str(),
            "category": p.categorization.category.as_str(),
            "priority": p.categorization.priority.as_str(),
            "assignee": p.categorization.team,
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(pattern(&[]), "isolated");
        assert_eq!(pattern(&[5]), "isolated");
        let burst: Vec<i64> = (0..6).map(|i| i * 60_000).collect();
        assert_eq!(pattern(&burst), "burst");
        let recurring: Vec<i64> = (0..12).map(|i| i * 2 * HOUR_MS).collect();
        assert_eq!(pattern(&recurring), "recurring");
        assert_eq!(pattern(&[0, 3 * DAY_MS, 9 * DAY_MS]), "intermittent");
        assert_eq!(pattern(&[0, 1_000]), "intermittent");
    }
}
