//! Alertmanager's v2 API, so an external Prometheus (and `amtool`, Grafana) can use Strix
//! as its Alertmanager.
//!
//! | route | scope | answer |
//! |---|---|---|
//! | `POST /api/v2/alerts` | ingest | 200, empty body; 400 with the validation errors |
//! | `GET /api/v2/alerts` | read | `gettableAlerts` |
//! | `GET /api/v2/silences` | read | `gettableSilences` |
//! | `POST /api/v2/silences` | admin | `{"silenceID": "…"}` |
//! | `GET /api/v2/silence/{id}` | read | `gettableSilence`, 404 if unknown |
//! | `DELETE /api/v2/silence/{id}` | admin | 200, empty body; 404 if unknown |
//! | `GET /api/v2/status` | read | `alertmanagerStatus` |
//! | `GET /api/v2/receivers` | read | `[{"name": …}]` |
//!
//! Errors are Alertmanager's: the message as a JSON string. Where Strix differs:
//! expiring an already expired silence is 409 (Alertmanager answers 500).
//!
//! `POST /api/v2/alerts` treats every alert as Alertmanager does: labels with empty values
//! are dropped, a missing (or Go zero) `startsAt` becomes `endsAt` or now, and each alert
//! is validated on its own (at least one label, valid label and annotation names, `endsAt`
//! not before `startsAt`); the valid ones are ingested even when others are refused, and
//! the refusals are answered 400, joined with `"; "`.
//!
//! `GET /api/v2/alerts` lists the open alerts that have fired (firing and acknowledged;
//! pending ones are Prometheus-side state that Alertmanager never sees), sorted by
//! fingerprint. `status.silencedBy` comes from the active silences, `inhibitedBy` (the
//! fingerprints of inhibiting alerts) and `receivers` from the routing configuration;
//! `state` is `suppressed` when silenced or inhibited, else `active`. The filters
//! `active`, `silenced`, `inhibited` (booleans, default true), `filter` (matchers, repeated)
//! and `receiver` (an anchored regex) are Alertmanager's. `endsAt` is the resolve time, or
//! Go's zero time while open; `generatorURL` is the `generatorURL` annotation if any.

use super::alerts::{
    matchers_param, parse_silence, pipeline, pipeline_error, rfc3339, silence_json, upsert_silence,
    with_store,
};
use super::params::Params;
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use strix_alerting::pipeline::{AlertSource, IncomingAlert};
use strix_alerting::routing::{AlertInput, AlertStatus};
use strix_core::{ErrorClass, Labels, Matcher};
use strix_state::{AlertQuery, AlertRecord, AlertState, Silence, SilenceState, MAX_LIST_LIMIT};

const ENV: Envelope = Envelope::Alertmanager;

/// Go's zero `time.Time` as Alertmanager marshals it.
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// `POST /api/v2/alerts`: the `ingest` scope.
pub fn ingest_routes() -> Router<AppState> {
    Router::new().route("/api/v2/alerts", post(post_alerts))
}

pub fn read_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/alerts", get(get_alerts))
        .route("/api/v2/silences", get(get_silences))
        .route("/api/v2/silence/{id}", get(get_silence))
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/silences", post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            axum::routing::delete(delete_silence),
        )
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_input(msg, ENV)
}

// ---- POST /api/v2/alerts -------------------------------------------------------------

/// Alertmanager's `postableAlert`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

/// An RFC 3339 time in ms; `None` for an absent, empty or Go-zero (year 1) time.
fn parse_time(field: &str, s: Option<&str>) -> Result<Option<i64>, String> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("invalid {field} {s:?}: {e}"))?;
    use chrono::Datelike;
    Ok((t.year() > 1).then(|| t.timestamp_millis()))
}

fn valid_label_name(s: &str) -> bool {
    strix_alerting::routing::config::valid_label_name(s)
}

/// Alertmanager's per-alert defaults and `Validate()`.
fn to_incoming(a: PostableAlert, now: i64) -> Result<IncomingAlert, String> {
    let mut starts_at = parse_time("startsAt", a.starts_at.as_deref())?;
    let ends_at = parse_time("endsAt", a.ends_at.as_deref())?;
    if starts_at.is_none() {
        starts_at = Some(ends_at.unwrap_or(now));
    }
    let starts_at = starts_at.unwrap_or(now);
    let labels: BTreeMap<String, String> = a
        .labels
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    for k in labels.keys() {
        if !valid_label_name(k) {
            return Err(format!("invalid name {k:?}"));
        }
    }
    for k in a.annotations.keys() {
        if !valid_label_name(k) {
            return Err(format!("invalid name {k:?}"));
        }
    }
    if let Some(e) = ends_at {
        if e < starts_at {
            return Err("start time must be before end time".into());
        }
    }
    Ok(IncomingAlert {
        labels,
        annotations: a.annotations,
        starts_at,
        ends_at,
        generator_url: a.generator_url,
        value: None,
        source: AlertSource::External,
    })
}

async fn post_alerts(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = crate::error::body(body, state.opts.max_body_bytes, ENV)?;
    let raw: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("parsing alerts body failed: {e}")))?;
    let now = strix_core::now_millis();
    let mut valid = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (i, v) in raw.into_iter().enumerate() {
        let parsed =
            serde_json::from_value::<PostableAlert>(v).map_err(|e| format!("alert {i}: {e}"));
        match parsed.and_then(|a| to_incoming(a, now)) {
            Ok(a) => valid.push(a),
            Err(e) => errors.push(e),
        }
    }
    let pl = pipeline(&state, ENV)?;
    if !valid.is_empty() {
        // Queues only; never blocks on I/O.
        pl.ingest(valid).map_err(|e| pipeline_error(e, ENV))?;
    }
    if !errors.is_empty() {
        return Err(bad(errors.join("; ")));
    }
    Ok(StatusCode::OK.into_response())
}

// ---- GET /api/v2/alerts --------------------------------------------------------------

/// Every open alert that has fired.
async fn open_alerts(
    pl: &strix_alerting::pipeline::AlertPipeline,
) -> Result<Vec<AlertRecord>, ApiError> {
    with_store(pl, ENV, |s| {
        let mut out = Vec::new();
        loop {
            let q = AlertQuery {
                states: vec![AlertState::Firing, AlertState::Acknowledged],
                offset: out.len(),
                limit: MAX_LIST_LIMIT,
                ..AlertQuery::default()
            };
            let (page, total) = s.list_alerts(&q)?;
            let done = page.is_empty() || out.len() + page.len() >= total as usize;
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    })
    .await
}

fn bool_param(p: &Params, key: &str) -> Result<bool, ApiError> {
    match p.get(key) {
        None | Some("") | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(s) => Err(bad(format!(
            "{key} in query must be of type boolean: {s:?}"
        ))),
    }
}

fn to_labels(m: &BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn alert_input(a: &AlertRecord) -> AlertInput {
    let labels = to_labels(&a.labels);
    AlertInput {
        fingerprint: u64::from_str_radix(&a.fingerprint, 16)
            .unwrap_or_else(|_| strix_alerting::routing::group::fingerprint(&labels)),
        labels,
        annotations: a.annotations.clone(),
        starts_at: a.starts_at,
        ends_at: a.ended_at,
        generator_url: String::new(),
        status: AlertStatus::Firing,
    }
}

async fn get_alerts(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let p = Params::parse(q.as_deref(), None);
    let (want_active, want_silenced, want_inhibited) = (
        bool_param(&p, "active")?,
        bool_param(&p, "silenced")?,
        bool_param(&p, "inhibited")?,
    );
    bool_param(&p, "unprocessed")?;
    let filter = matchers_param(&p, &["filter"], ENV)?;
    let receiver_re = match p.get("receiver").filter(|s| !s.is_empty()) {
        None => None,
        Some(r) => Some(
            Matcher::new(strix_core::MatchOp::RegexMatch, "receiver", r)
                .map_err(|e| bad(format!("failed to parse receiver param: {e}")))?,
        ),
    };
    let pl = pipeline(&state, ENV)?;
    let alerts = open_alerts(&pl).await?;
    let now = strix_core::now_millis();
    let silences = with_store(&pl, ENV, move |s| {
        s.list_silences(&[SilenceState::Active], now)
    })
    .await?;
    let routing = pl.routing_config();
    let inputs: Vec<AlertInput> = alerts.iter().map(alert_input).collect();
    let mut out = Vec::new();
    for (a, input) in alerts.iter().zip(&inputs) {
        if !filter
            .iter()
            .all(|m| m.matches(a.labels.get(&m.name).map(String::as_str).unwrap_or("")))
        {
            continue;
        }
        let receivers: Vec<String> = routing
            .tree
            .receivers_for(&input.labels)
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Some(re) = &receiver_re {
            if !receivers.iter().any(|r| re.matches(r)) {
                continue;
            }
        }
        let silenced_by: Vec<String> = silences
            .iter()
            .filter(|s| s.mutes(&a.labels).unwrap_or(false))
            .map(|s| s.id.clone())
            .collect();
        let mut inhibited_by: Vec<String> = inputs
            .iter()
            .filter(|src| {
                routing
                    .inhibit_rules
                    .iter()
                    .any(|rule| rule.inhibits(src, input))
            })
            .map(|src| format!("{:016x}", src.fingerprint))
            .collect();
        inhibited_by.sort();
        inhibited_by.dedup();
        let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty();
        let keep = (want_active && !suppressed)
            || (suppressed
                && ((want_silenced && !silenced_by.is_empty())
                    || (want_inhibited && !inhibited_by.is_empty())));
        if !keep {
            continue;
        }
        out.push(json!({
            "annotations": a.annotations,
            "endsAt": a.ended_at.map_or_else(|| ZERO_TIME.to_string(), rfc3339),
            "fingerprint": a.fingerprint,
            "receivers": receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
            "startsAt": rfc3339(a.starts_at),
            "status": {
                "inhibitedBy": inhibited_by,
                "silencedBy": silenced_by,
                "state": if suppressed { "suppressed" } else { "active" },
            },
            "updatedAt": rfc3339(a.updated_at),
            "generatorURL": a.annotations.get("generatorURL").cloned().unwrap_or_default(),
            "labels": a.labels,
        }));
    }
    out.sort_by(|x, y| x["fingerprint"].as_str().cmp(&y["fingerprint"].as_str()));
    Ok(Json(Value::Array(out)))
}

// ---- silences ------------------------------------------------------------------------

/// Alertmanager's filter on silences: each filter matcher must match the value the silence
/// has for that label name (a `=""`-style matcher also accepts a silence without it).
fn silence_matches_filter(s: &Silence, filter: &[Matcher]) -> bool {
    let by_name: BTreeMap<&str, &str> = s
        .matchers
        .iter()
        .map(|m| (m.name.as_str(), m.value.as_str()))
        .collect();
    filter.iter().all(|m| {
        let v = by_name.get(m.name.as_str()).copied();
        let negative = matches!(
            m.op,
            strix_core::MatchOp::NotEqual | strix_core::MatchOp::RegexNoMatch
        );
        if m.value.is_empty() && (v.is_some() == negative) {
            return true;
        }
        m.matches(v.unwrap_or(""))
    })
}

/// Alertmanager's order: active (ending soonest first), pending (starting soonest first),
/// expired (ended most recently first).
fn sort_silences(v: &mut [Silence]) {
    let rank = |s: &SilenceState| match s {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    };
    v.sort_by(|a, b| {
        rank(&a.state)
            .cmp(&rank(&b.state))
            .then_with(|| match a.state {
                SilenceState::Active => a.ends_at.cmp(&b.ends_at),
                SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
                SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
            })
    });
}

async fn get_silences(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let p = Params::parse(q.as_deref(), None);
    let filter = matchers_param(&p, &["filter"], ENV)?;
    let pl = pipeline(&state, ENV)?;
    let now = strix_core::now_millis();
    let mut list = with_store(&pl, ENV, move |s| s.list_silences(&[], now)).await?;
    list.retain(|s| silence_matches_filter(s, &filter));
    sort_silences(&mut list);
    Ok(Json(Value::Array(list.iter().map(silence_json).collect())))
}

async fn post_silence(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = crate::error::body(body, state.opts.max_body_bytes, ENV)?;
    let input = parse_silence(&body, ENV)?;
    let pl = pipeline(&state, ENV)?;
    let s = upsert_silence(&pl, input, ENV).await?;
    Ok(Json(json!({"silenceID": s.id})))
}

async fn get_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let pl = pipeline(&state, ENV)?;
    let now = strix_core::now_millis();
    let lookup = id.clone();
    match with_store(&pl, ENV, move |s| s.get_silence(&lookup, now)).await? {
        Some(s) => Ok(Json(silence_json(&s))),
        None => Err(ApiError::new(
            ErrorClass::NotFound,
            format!("silence {id:?} not found"),
            ENV,
        )),
    }
}

async fn delete_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let pl = pipeline(&state, ENV)?;
    super::alerts::expire(&pl, id, ENV).await?;
    Ok(StatusCode::OK.into_response())
}

// ---- status, receivers ---------------------------------------------------------------

async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pl = pipeline(&state, ENV)?;
    let started = state
        .started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Ok(Json(json!({
        "cluster": {"name": "", "status": "ready", "peers": []},
        "versionInfo": {
            "branch": "",
            "buildDate": "",
            "buildUser": "",
            "goVersion": "",
            "revision": "",
            "version": crate::VERSION,
        },
        "config": {"original": pl.config_yaml()},
        "uptime": rfc3339(started),
    })))
}

async fn receivers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pl = pipeline(&state, ENV)?;
    Ok(Json(Value::Array(
        pl.receivers()
            .into_iter()
            .map(|name| json!({"name": name}))
            .collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_time_is_absent() {
        assert_eq!(
            parse_time("startsAt", Some("0001-01-01T00:00:00Z")),
            Ok(None)
        );
        assert_eq!(
            parse_time("startsAt", Some("2023-11-14T22:13:20.5Z")),
            Ok(Some(1_700_000_000_500))
        );
        assert_eq!(
            parse_time("startsAt", Some("2023-11-15T00:13:20+02:00")),
            Ok(Some(1_700_000_000_000))
        );
        assert!(parse_time("startsAt", Some("yesterday")).is_err());
    }

    #[test]
    fn validation_like_alertmanager() {
        let a = |labels: &[(&str, &str)], s: Option<&str>, e: Option<&str>| PostableAlert {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: BTreeMap::new(),
            starts_at: s.map(str::to_string),
            ends_at: e.map(str::to_string),
            generator_url: String::new(),
        };
        assert_eq!(
            to_incoming(a(&[("x", "")], None, None), 5).err().as_deref(),
            Some("at least one label pair required")
        );
        assert!(to_incoming(a(&[("bad-name", "v")], None, None), 5).is_err());
        assert_eq!(
            to_incoming(
                a(
                    &[("a", "b")],
                    Some("2024-01-02T00:00:00Z"),
                    Some("2024-01-01T00:00:00Z")
                ),
                5
            )
            .err()
            .as_deref(),
            Some("start time must be before end time")
        );
        let ok = to_incoming(
            a(
                &[("a", "b"), ("empty", "")],
                None,
                Some("2024-01-01T00:00:00Z"),
            ),
            5,
        )
        .unwrap();
        assert_eq!(ok.starts_at, ok.ends_at.unwrap());
        assert_eq!(ok.labels.len(), 1);
        assert_eq!(
            to_incoming(a(&[("a", "b")], None, None), 5)
                .unwrap()
                .starts_at,
            5
        );
    }
}
