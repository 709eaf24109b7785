//! The Strix alerting API under `/api/monitoring`, in the Strix envelope
//! (`{"success": true, "data": …}` / `{"success": false, "error": {code, message}}`).
//!
//! | route | scope | what |
//! |---|---|---|
//! | `GET /api/monitoring/alerts` | read | filtered, sorted, paged alerts; `format=csv` |
//! | `GET /api/monitoring/alerts/stats` | read | counts, MTTA/MTTR, top rules over `period` |
//! | `GET /api/monitoring/alerts/{id}` | read | one alert with its transition `history` and `escalation` |
//! | `POST /api/monitoring/alerts/{id}/acknowledge` | admin | `{"operator", "notes"}` |
//! | `POST /api/monitoring/alerts/{id}/resolve` | admin | `{"operator", "notes"}` |
//! | `GET /api/monitoring/silences` | read | silences, `state=` filter |
//! | `POST /api/monitoring/silences` | admin | create/update (Alertmanager's postable silence) |
//! | `DELETE /api/monitoring/silences/{id}` | admin | expire |
//! | `GET /api/monitoring/notifications` | read | the delivery log |
//! | `GET /api/monitoring/receivers` | read | receiver names |
//! | `POST /api/monitoring/receivers/{name}/test` | admin | send a test notification |
//!
//! Changing state (acknowledge, resolve, silences, test notifications) needs the `admin`
//! scope: operators act with an admin key; read keys only look.
//!
//! # Listing alerts
//!
//! Parameters of `GET /api/monitoring/alerts` (all optional):
//!
//! - `state`: comma-separated (or repeated) `pending`, `firing`, `acknowledged`,
//!   `resolved`, or `active` for the first three;
//! - `severity`: comma-separated (or repeated) severities, exact;
//! - `rule`: the rule (alert) name, exact;
//! - `match[]` (alias `filter`), repeated: label matchers in Alertmanager's syntax
//!   (`team="db"`, `{env=~"prod|stage", team!="web"}`, `severity=critical`), all ANDed;
//!   a missing label matches as the empty string;
//! - `q`: case-insensitive text search over rule name, label and annotation names and values;
//! - `since` / `until`: start time bounds (Unix seconds or RFC 3339);
//! - `sort`: `startsAt` (default), `updatedAt`, `severity`, `state`, `rule` or `value`,
//!   prefixed with `-` for descending; the default is `-startsAt` (newest first);
//! - `offset` (default 0), `limit` (default 100, at most 10000);
//! - `format`: `json` (default) or `csv` (`text/csv` with a header row; without a `limit`
//!   an export returns up to 10000 rows).
//!
//! ```json
//! {"success": true, "data": [{"id": "…", "fingerprint": "…", "rule": "HighLatency",
//!   "generator": "rule", "state": "firing", "severity": "critical",
//!   "labels": {…}, "annotations": {…}, "value": 0.73,
//!   "startsAt": "2024-05-06T10:00:00.000Z", "updatedAt": "…", "endsAt": null,
//!   "acknowledgedBy": null, "acknowledgedAt": null, "resolvedBy": null,
//!   "resolvedAt": null, "notes": ""}],
//!  "meta": {"total": 1, "offset": 0, "limit": 100}}
//! ```
//!
//! Times are RFC 3339 in UTC with milliseconds; `value` is `null` when not a finite number.

use super::params::Params;
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use strix_alerting::pipeline::AlertPipeline;
use strix_core::{ErrorClass, Matcher};
use strix_state::{
    AlertQuery, AlertRecord, AlertSortField, AlertState, DeliveryLogEntry, DeliveryLogQuery,
    DeliveryStatus, Silence, SilenceInput, SilenceState, SortDirection, StateError, StateStore,
    Transition, MAX_LIST_LIMIT,
};

const ENV: Envelope = Envelope::Strix;

/// Routes readable with the `read` scope.
pub fn read_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/alerts", get(list))
        .route("/api/monitoring/alerts/stats", get(stats))
        .route("/api/monitoring/alerts/{id}", get(detail))
        .route("/api/monitoring/silences", get(list_silences))
        .route("/api/monitoring/notifications", get(notifications))
        .route("/api/monitoring/receivers", get(receivers))
}

/// Routes that change state: the `admin` scope.
pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/alerts/{id}/acknowledge", post(acknowledge))
        .route("/api/monitoring/alerts/{id}/resolve", post(resolve))
        .route("/api/monitoring/silences", post(create_silence))
        .route("/api/monitoring/silences/{id}", delete(expire_silence))
        .route("/api/monitoring/receivers/{name}/test", post(test_receiver))
}

// ---- shared helpers (also used by the Alertmanager API) ------------------------------

/// The alerting pipeline, or 503 when alerting is not running.
pub(crate) fn pipeline(state: &AppState, env: Envelope) -> Result<AlertPipeline, ApiError> {
    state.services.alerts.clone().ok_or_else(|| {
        ApiError::new(
            ErrorClass::Unavailable,
            "alerting is not enabled on this server",
            env,
        )
    })
}

pub(crate) fn state_error(e: StateError, env: Envelope) -> ApiError {
    let mut err = ApiError::new(e.class(), e.to_string(), env);
    if e.class() == ErrorClass::Unavailable {
        err.retry_after = Some(5);
    }
    err
}

pub(crate) fn pipeline_error(
    e: strix_alerting::pipeline::PipelineError,
    env: Envelope,
) -> ApiError {
    ApiError::new(e.class(), e.to_string(), env)
}

/// Runs a store call on the blocking pool.
pub(crate) async fn with_store<T: Send + 'static>(
    p: &AlertPipeline,
    env: Envelope,
    f: impl FnOnce(&dyn StateStore) -> Result<T, StateError> + Send + 'static,
) -> Result<T, ApiError> {
    let store: Arc<dyn StateStore> = p.store().clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| ApiError::new(ErrorClass::Internal, format!("state task failed: {e}"), env))?
        .map_err(|e| state_error(e, env))
}

/// Milliseconds as RFC 3339 UTC with milliseconds (`2024-05-06T10:00:00.000Z`), as
/// Alertmanager writes times.
pub fn rfc3339(ms: i64) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => "0001-01-01T00:00:00.000Z".into(),
    }
}

/// A JSON number, `null` for NaN and infinities.
fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_input(msg, ENV)
}

/// Values of a parameter given as a comma list and/or repeated.
fn list_param(p: &Params, key: &str) -> Vec<String> {
    p.all(key)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
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

/// `offset` and `limit` (default 100, at most [`MAX_LIST_LIMIT`]).
fn paging(p: &Params, default_limit: usize) -> Result<(usize, usize), ApiError> {
    let offset = usize_param(p, "offset", 0)?;
    let limit = usize_param(p, "limit", default_limit)?;
    if limit > MAX_LIST_LIMIT {
        return Err(bad(format!(
            "invalid parameter \"limit\": at most {MAX_LIST_LIMIT}"
        )));
    }
    Ok((offset, limit))
}

/// Label matchers in Alertmanager's syntax from every value of `keys`.
pub(crate) fn matchers_param(
    p: &Params,
    keys: &[&str],
    env: Envelope,
) -> Result<Vec<Matcher>, ApiError> {
    let mut out = Vec::new();
    for k in keys {
        for v in p.all(k) {
            if v.trim().is_empty() {
                continue;
            }
            out.extend(
                strix_alerting::routing::matchers::parse_matchers(v).map_err(|e| {
                    ApiError::bad_input(format!("invalid parameter {k:?}: {e}"), env)
                })?,
            );
        }
    }
    Ok(out)
}

// ---- alerts --------------------------------------------------------------------------

/// One alert in the Strix shape (the same document the live `alert` events carry).
pub fn alert_json(a: &AlertRecord) -> Value {
    strix_alerting::pipeline::events::alert_json(a)
}

fn transition_json(t: &Transition) -> Value {
    json!({
        "at": rfc3339(t.at),
        "from": t.from.map(AlertState::as_str),
        "to": t.to.as_str(),
        "actor": t.actor,
        "notes": t.notes,
    })
}

fn parse_sort(s: &str) -> Result<(AlertSortField, SortDirection), ApiError> {
    let (dir, field) = match s.strip_prefix('-') {
        Some(f) => (SortDirection::Desc, f),
        None => (SortDirection::Asc, s.strip_prefix('+').unwrap_or(s)),
    };
    let field = match field {
        "startsAt" => AlertSortField::StartsAt,
        "updatedAt" => AlertSortField::UpdatedAt,
        "severity" => AlertSortField::Severity,
        "state" => AlertSortField::State,
        "rule" => AlertSortField::Rule,
        "value" => AlertSortField::Value,
        other => {
            return Err(bad(format!(
                "invalid parameter \"sort\": unknown field {other:?} (use startsAt, updatedAt, severity, state, rule or value, with - for descending)"
            )))
        }
    };
    Ok((field, dir))
}

/// Builds the store query from the request parameters.
fn alert_query(p: &Params, csv: bool) -> Result<AlertQuery, ApiError> {
    let mut states = Vec::new();
    for s in list_param(p, "state") {
        if s == "active" {
            states.extend([
                AlertState::Pending,
                AlertState::Firing,
                AlertState::Acknowledged,
            ]);
        } else {
            states.push(
                s.parse::<AlertState>()
                    .map_err(|_| bad(format!("invalid parameter \"state\": unknown state {s:?} (use pending, firing, acknowledged, resolved or active)")))?,
            );
        }
    }
    states.sort();
    states.dedup();
    let (sort, direction) = match p.get("sort") {
        None | Some("") => (AlertSortField::StartsAt, SortDirection::Desc),
        Some(s) => parse_sort(s)?,
    };
    let (offset, limit) = paging(p, if csv { MAX_LIST_LIMIT } else { 100 })?;
    let time = |key: &str| -> Result<Option<i64>, ApiError> {
        match p.get(key) {
            None | Some("") => Ok(None),
            Some(_) => p.time(key, 0, ENV).map(Some),
        }
    };
    Ok(AlertQuery {
        states,
        severities: list_param(p, "severity"),
        rule: p.get("rule").filter(|s| !s.is_empty()).map(str::to_string),
        matchers: matchers_param(p, &["match[]", "filter"], ENV)?,
        text: p
            .get("q")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        since: time("since")?,
        until: time("until")?,
        sort,
        direction,
        offset,
        limit,
    })
}

/// One CSV field, quoted when needed (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `{a="b", c="d"}`.
fn render_map(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", strix_alerting::routing::matchers::quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

const CSV_HEADER: &str = "id,state,severity,rule,startsAt,updatedAt,endsAt,value,acknowledgedBy,acknowledgedAt,resolvedBy,resolvedAt,labels,annotations,notes";

fn to_csv(alerts: &[AlertRecord]) -> String {
    let t = |v: Option<i64>| v.map(rfc3339).unwrap_or_default();
    let mut out = String::with_capacity(256 * (alerts.len() + 1));
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for a in alerts {
        let row = [
            a.id.clone(),
            a.state.as_str().to_string(),
            a.severity.clone(),
            a.rule.clone(),
            rfc3339(a.starts_at),
            rfc3339(a.updated_at),
            t(a.ended_at),
            if a.value.is_finite() {
                format!("{}", a.value)
            } else {
                String::new()
            },
            a.acknowledged_by.clone().unwrap_or_default(),
            t(a.acknowledged_at),
            a.resolved_by.clone().unwrap_or_default(),
            t(a.resolved_at),
            render_map(&a.labels),
            render_map(&a.annotations),
            a.notes.clone(),
        ];
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// `GET /api/monitoring/alerts`.
async fn list(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    state.admit_read(ENV)?;
    let p = Params::parse(q.as_deref(), None);
    let csv = match p.get("format") {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(bad(format!(
                "invalid parameter \"format\": {other:?} (use json or csv)"
            )))
        }
    };
    let query = alert_query(&p, csv)?;
    let (offset, limit) = (query.offset, query.limit);
    let pl = pipeline(&state, ENV)?;
    let (alerts, total) = with_store(&pl, ENV, move |s| s.list_alerts(&query)).await?;
    if csv {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"alerts.csv\"",
                ),
            ],
            to_csv(&alerts),
        )
            .into_response());
    }
    let data: Vec<Value> = alerts.iter().map(alert_json).collect();
    Ok(Json(json!({
        "success": true,
        "data": data,
        "meta": {"total": total, "offset": offset, "limit": limit},
    }))
    .into_response())
}

/// `GET /api/monitoring/alerts/{id}`: the alert, `history` (oldest first) and
/// `escalation`: `{"policy", "level" (0-based, reached), "levels", "nextAt" (RFC 3339, while
/// active), "repeat", "state": "active|acknowledged|ended"}`, or `null` when the alert has
/// no escalation policy.
async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let pl = pipeline(&state, ENV)?;
    let lookup = id.clone();
    let found = with_store(&pl, ENV, move |s| match s.get_alert(&lookup)? {
        Some(a) => Ok(Some((s.history(&a.id)?, s.get_escalation(&a.id)?, a))),
        None => Ok(None),
    })
    .await?;
    let Some((history, timer, alert)) = found else {
        return Err(ApiError::new(
            ErrorClass::NotFound,
            format!("alert {id:?} not found"),
            ENV,
        ));
    };
    let mut v = alert_json(&alert);
    v["history"] = Value::Array(history.iter().map(transition_json).collect());
    v["escalation"] = match pl.escalation_status(&alert, timer.as_ref(), strix_core::now_millis()) {
        Some(e) => json!({
            "policy": e.policy,
            "level": e.level,
            "levels": e.levels,
            "nextAt": e.next_at.map(rfc3339),
            "repeat": e.repeat,
            "state": e.state,
        }),
        None => Value::Null,
    };
    Ok(Json(json!({"success": true, "data": v})))
}

/// `GET /api/monitoring/alerts/stats?period=7d&top=10`.
async fn stats(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let p = Params::parse(q.as_deref(), None);
    let period_s = p.get("period").filter(|s| !s.is_empty()).unwrap_or("7d");
    let period = strix_core::duration::parse(period_s)
        .map_err(|e| bad(format!("invalid parameter \"period\": {e}")))?;
    if period.is_zero() {
        return Err(bad("invalid parameter \"period\": must be greater than 0"));
    }
    let top = usize_param(&p, "top", 10)?.min(1000);
    let now = strix_core::now_millis();
    let since = now.saturating_sub(i64::try_from(period.as_millis()).unwrap_or(i64::MAX));
    let pl = pipeline(&state, ENV)?;
    let st = with_store(&pl, ENV, move |s| s.stats(since, top)).await?;
    let mut by_state = Map::new();
    for s in AlertState::ALL {
        by_state.insert(
            s.as_str().into(),
            json!(st.by_state.get(s.as_str()).copied().unwrap_or(0)),
        );
    }
    let top_rules: Vec<Value> = st
        .top_rules
        .iter()
        .map(|(r, n)| json!({"rule": r, "count": n}))
        .collect();
    Ok(Json(json!({
        "success": true,
        "data": {
            "period": period_s,
            "since": rfc3339(since),
            "total": st.total,
            "bySeverity": st.by_severity,
            "byState": by_state,
            "mttaSeconds": st.mtta_seconds.map(num),
            "mttrSeconds": st.mttr_seconds.map(num),
            "topRules": top_rules,
        },
    })))
}

/// Body of acknowledge and resolve.
#[derive(Debug, Deserialize)]
struct OperatorAction {
    operator: String,
    #[serde(default)]
    notes: String,
}

fn operator_action(
    body: Result<Bytes, BytesRejection>,
    state: &AppState,
) -> Result<OperatorAction, ApiError> {
    let body = crate::error::body(body, state.opts.max_body_bytes, ENV)?;
    let a: OperatorAction = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "invalid JSON body (expected {{\"operator\": \"...\", \"notes\": \"...\"}}): {e}"
        ))
    })?;
    if a.operator.trim().is_empty() {
        return Err(bad("\"operator\" must not be empty"));
    }
    Ok(a)
}

#[derive(Clone, Copy)]
enum Action {
    Acknowledge,
    Resolve,
}

async fn act(
    state: AppState,
    id: String,
    body: Result<Bytes, BytesRejection>,
    action: Action,
) -> Result<Json<Value>, ApiError> {
    let a = operator_action(body, &state)?;
    let pl = pipeline(&state, ENV)?;
    let p2 = pl.clone();
    let rec = tokio::task::spawn_blocking(move || match action {
        Action::Acknowledge => p2.acknowledge(&id, a.operator.trim(), &a.notes),
        Action::Resolve => p2.resolve(&id, a.operator.trim(), &a.notes),
    })
    .await
    .map_err(|e| ApiError::new(ErrorClass::Internal, format!("alert task failed: {e}"), ENV))?
    .map_err(|e| pipeline_error(e, ENV))?;
    Ok(Json(json!({"success": true, "data": alert_json(&rec)})))
}

/// `POST /api/monitoring/alerts/{id}/acknowledge`: 409 unless the alert is firing.
async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    act(state, id, body, Action::Acknowledge).await
}

/// `POST /api/monitoring/alerts/{id}/resolve`: 409 when already resolved.
async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    act(state, id, body, Action::Resolve).await
}

// ---- silences ------------------------------------------------------------------------

/// A silence in Alertmanager's v2 `gettableSilence` shape.
pub fn silence_json(s: &Silence) -> Value {
    let matchers: Vec<Value> = s
        .matchers
        .iter()
        .map(|m| json!({"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}))
        .collect();
    json!({
        "id": s.id,
        "status": {"state": s.state.as_str()},
        "updatedAt": rfc3339(s.updated_at),
        "matchers": matchers,
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

/// Parses and validates Alertmanager's `postableSilence` (errors as Alertmanager words them).
pub(crate) fn parse_silence(body: &[u8], env: Envelope) -> Result<SilenceInput, ApiError> {
    let s: strix_alerting::routing::silence::Silence = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_input(format!("invalid silence: {e}"), env))?;
    s.compile()
        .map_err(|e| ApiError::bad_input(format!("invalid silence: {e}"), env))?;
    if s.created_by.trim().is_empty() {
        return Err(ApiError::bad_input(
            "invalid silence: createdBy is required",
            env,
        ));
    }
    Ok(SilenceInput {
        id: Some(s.id.clone()).filter(|id| !id.is_empty()),
        matchers: s
            .matchers
            .iter()
            .map(|m| strix_state::SilenceMatcher {
                name: m.name.clone(),
                value: m.value.clone(),
                is_regex: m.is_regex,
                is_equal: m.is_equal,
            })
            .collect(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by,
        comment: s.comment,
    })
}

/// Creates or updates a silence and tells the pipeline; returns the stored silence.
pub(crate) async fn upsert_silence(
    pl: &AlertPipeline,
    input: SilenceInput,
    env: Envelope,
) -> Result<Silence, ApiError> {
    let now = strix_core::now_millis();
    let s = with_store(pl, env, move |s| {
        let id = s.upsert_silence(&input, now)?;
        s.get_silence(&id, now)?
            .ok_or_else(|| StateError::NotFound {
                kind: "silence",
                id,
            })
    })
    .await?;
    pl.silences_changed();
    Ok(s)
}

/// Expires a silence and tells the pipeline; returns it as it is now.
pub(crate) async fn expire(
    pl: &AlertPipeline,
    id: String,
    env: Envelope,
) -> Result<Silence, ApiError> {
    let now = strix_core::now_millis();
    let s = with_store(pl, env, move |s| {
        s.expire_silence(&id, now)?;
        s.get_silence(&id, now)?
            .ok_or_else(|| StateError::NotFound {
                kind: "silence",
                id,
            })
    })
    .await?;
    pl.silences_changed();
    Ok(s)
}

pub(crate) fn silence_states(p: &Params, env: Envelope) -> Result<Vec<SilenceState>, ApiError> {
    list_param(p, "state")
        .iter()
        .map(|s| match s.as_str() {
            "pending" => Ok(SilenceState::Pending),
            "active" => Ok(SilenceState::Active),
            "expired" => Ok(SilenceState::Expired),
            other => Err(ApiError::bad_input(
                format!("invalid parameter \"state\": {other:?} (use pending, active or expired)"),
                env,
            )),
        })
        .collect()
}

/// `GET /api/monitoring/silences?state=active,pending`: newest start first.
async fn list_silences(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let p = Params::parse(q.as_deref(), None);
    let states = silence_states(&p, ENV)?;
    let pl = pipeline(&state, ENV)?;
    let now = strix_core::now_millis();
    let list = with_store(&pl, ENV, move |s| s.list_silences(&states, now)).await?;
    let data: Vec<Value> = list.iter().map(silence_json).collect();
    Ok(Json(json!({"success": true, "data": data})))
}

/// `POST /api/monitoring/silences`: Alertmanager's postable silence; with the `id` of an
/// existing silence, updates it (or replaces it, as Alertmanager does). Answers the silence.
async fn create_silence(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = crate::error::body(body, state.opts.max_body_bytes, ENV)?;
    let input = parse_silence(&body, ENV)?;
    let pl = pipeline(&state, ENV)?;
    let s = upsert_silence(&pl, input, ENV).await?;
    Ok(Json(json!({"success": true, "data": silence_json(&s)})))
}

/// `DELETE /api/monitoring/silences/{id}`: expires it (409 if already expired).
async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pl = pipeline(&state, ENV)?;
    let s = expire(&pl, id, ENV).await?;
    Ok(Json(json!({"success": true, "data": silence_json(&s)})))
}

// ---- notifications -------------------------------------------------------------------

fn delivery_json(e: &DeliveryLogEntry) -> Value {
    json!({
        "id": e.id,
        "outboxId": e.outbox_id,
        "idempotencyKey": e.idempotency_key,
        "receiver": e.receiver,
        "channel": e.channel,
        "attempt": e.attempt,
        "status": e.status.as_str(),
        "at": rfc3339(e.at),
        "detail": e.detail,
    })
}

/// `GET /api/monitoring/notifications?receiver=&status=delivered|failed|gave_up&since=&offset=&limit=`:
/// delivery attempts, newest first.
async fn notifications(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let p = Params::parse(q.as_deref(), None);
    let status = match p.get("status") {
        None | Some("") => None,
        Some("delivered") => Some(DeliveryStatus::Delivered),
        Some("failed") => Some(DeliveryStatus::Failed),
        Some("gave_up") => Some(DeliveryStatus::GaveUp),
        Some(other) => {
            return Err(bad(format!(
                "invalid parameter \"status\": {other:?} (use delivered, failed or gave_up)"
            )))
        }
    };
    let since = match p.get("since") {
        None | Some("") => None,
        Some(_) => Some(p.time("since", 0, ENV)?),
    };
    let (offset, limit) = paging(&p, 100)?;
    let query = DeliveryLogQuery {
        receiver: p
            .get("receiver")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        status,
        since,
        offset,
        limit,
    };
    let pl = pipeline(&state, ENV)?;
    let (rows, total) = with_store(&pl, ENV, move |s| s.delivery_log(&query)).await?;
    let data: Vec<Value> = rows.iter().map(delivery_json).collect();
    Ok(Json(json!({
        "success": true,
        "data": data,
        "meta": {"total": total, "offset": offset, "limit": limit},
    })))
}

/// `GET /api/monitoring/receivers`: the configured receiver names.
async fn receivers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pl = pipeline(&state, ENV)?;
    Ok(Json(json!({"success": true, "data": pl.receivers()})))
}

/// `POST /api/monitoring/receivers/{name}/test`: sends a test notification through every
/// integration of the receiver; answers the receipts (404 for an unknown receiver, the
/// delivery error otherwise).
async fn test_receiver(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pl = pipeline(&state, ENV)?;
    let receipts = pl
        .send_test(&name)
        .await
        .map_err(|e| pipeline_error(e, ENV))?;
    let data: Vec<Value> = receipts
        .iter()
        .map(|r| {
            json!({
                "channel": r.channel.as_str(),
                "status": r.status,
                "skipped": r.skipped,
                "ids": r.ids,
                "attempts": r.attempts,
            })
        })
        .collect();
    Ok(Json(
        json!({"success": true, "data": {"receiver": name, "receipts": data}}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_fields() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn sort_parses_direction() {
        assert!(matches!(
            parse_sort("-severity"),
            Ok((AlertSortField::Severity, SortDirection::Desc))
        ));
        assert!(matches!(
            parse_sort("startsAt"),
            Ok((AlertSortField::StartsAt, SortDirection::Asc))
        ));
        assert!(parse_sort("bogus").is_err());
    }
}
