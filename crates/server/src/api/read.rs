//! Read endpoints in Prometheus / VictoriaMetrics shapes: export, series, labels,
//! label values, metadata.

use super::params::Params;
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use strix_core::storage::{Queryable, SeriesSamples};
use strix_core::{ErrorClass, Labels, Matcher, Timestamp};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/export", get(export).post(export))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
}

fn params(
    query: Option<String>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
    env: Envelope,
) -> Result<Params, ApiError> {
    let body = crate::error::body(body, limit, env)?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    Ok(Params::parse(
        query.as_deref(),
        is_form.then_some(&body[..]),
    ))
}

fn storage_err(env: Envelope) -> impl Fn(strix_core::storage::StorageError) -> ApiError {
    move |e| ApiError::from((e, env))
}

async fn blocking<T: Send + 'static>(
    env: Envelope,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorClass::Internal, format!("read task failed: {e}"), env))?
}

fn ok(data: Value) -> Json<Value> {
    Json(json!({"status": "success", "data": data}))
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|l| (l.name.clone(), Value::String(l.value.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// Union of the series selected by each matcher set, one entry per label set.
fn select_union(
    state: &AppState,
    sets: &[Vec<Matcher>],
    start: Timestamp,
    end: Timestamp,
    env: Envelope,
) -> Result<Vec<SeriesSamples>, ApiError> {
    let mut out: BTreeMap<Labels, SeriesSamples> = BTreeMap::new();
    for set in sets {
        for s in state.db.select(set, start, end).map_err(storage_err(env))? {
            out.entry(s.labels.clone()).or_insert(s);
        }
        let max = state.opts.max_export_series;
        if max > 0 && out.len() > max {
            return Err(ApiError::new(ErrorClass::Limit, format!("the selection matches more than {max} series (max_export_series); narrow match[] or the time range"), env));
        }
    }
    Ok(out.into_values().collect())
}

/// `GET /api/v1/export`: one JSON object per series and line (VictoriaMetrics' format),
/// or CSV with `format=csv`.
async fn export(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let env = Envelope::Prometheus;
    state.admit_read(env)?;
    let p = params(q, &headers, body, state.opts.max_body_bytes, env)?;
    let sets = p.matcher_sets(env)?;
    if sets.is_empty() {
        return Err(ApiError::bad_input("missing match[] parameter", env));
    }
    let (start, end) = p.range(env)?;
    let csv = match p.get("format") {
        None | Some("") | Some("json") | Some("jsonl") => false,
        Some("csv") => true,
        Some(f) => {
            return Err(ApiError::bad_input(
                format!("unknown format {f:?}; use json or csv"),
                env,
            ))
        }
    };
    let st = state.clone();
    let out = blocking(env, move || {
        let series = select_union(&st, &sets, start, end, env)?;
        let mut buf = Vec::new();
        if csv {
            strix_ingest::jsonl::encode_csv_header(&mut buf);
        }
        for s in &series {
            if csv {
                strix_ingest::jsonl::encode_csv_series(&mut buf, &s.labels, &s.samples);
            } else {
                strix_ingest::jsonl::encode_jsonl_series(&mut buf, &s.labels, &s.samples);
            }
        }
        Ok(buf)
    })
    .await?;
    let ct = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/stream+json"
    };
    Ok(([(header::CONTENT_TYPE, ct)], out).into_response())
}

async fn series(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let env = Envelope::Prometheus;
    state.admit_read(env)?;
    let p = params(q, &headers, body, state.opts.max_body_bytes, env)?;
    let sets = p.matcher_sets(env)?;
    if sets.is_empty() {
        return Err(ApiError::bad_input("no match[] parameter provided", env));
    }
    let (start, end) = p.range(env)?;
    let limit: usize = p.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let st = state.clone();
    let data = blocking(env, move || {
        let mut all = std::collections::BTreeSet::new();
        for set in &sets {
            all.extend(st.db.series(set, start, end).map_err(storage_err(env))?);
        }
        let it = all.iter().map(labels_json);
        Ok(if limit > 0 {
            it.take(limit).collect::<Vec<_>>()
        } else {
            it.collect()
        })
    })
    .await?;
    Ok(ok(Value::Array(data)))
}

async fn labels(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let env = Envelope::Prometheus;
    state.admit_read(env)?;
    let p = params(q, &headers, body, state.opts.max_body_bytes, env)?;
    let sets = p.matcher_sets(env)?;
    let (start, end) = p.range(env)?;
    let st = state.clone();
    let names = blocking(env, move || {
        let mut all = std::collections::BTreeSet::new();
        if sets.is_empty() {
            all.extend(
                st.db
                    .label_names(&[], start, end)
                    .map_err(storage_err(env))?,
            );
        }
        for set in &sets {
            all.extend(
                st.db
                    .label_names(set, start, end)
                    .map_err(storage_err(env))?,
            );
        }
        Ok(all.into_iter().collect::<Vec<String>>())
    })
    .await?;
    Ok(ok(json!(names)))
}

async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let env = Envelope::Prometheus;
    state.admit_read(env)?;
    let p = Params::parse(q.as_deref(), None);
    let sets = p.matcher_sets(env)?;
    let (start, end) = p.range(env)?;
    let st = state.clone();
    let values = blocking(env, move || {
        let mut all = std::collections::BTreeSet::new();
        if sets.is_empty() {
            all.extend(
                st.db
                    .label_values(&name, &[], start, end)
                    .map_err(storage_err(env))?,
            );
        }
        for set in &sets {
            all.extend(
                st.db
                    .label_values(&name, set, start, end)
                    .map_err(storage_err(env))?,
            );
        }
        Ok(all.into_iter().collect::<Vec<String>>())
    })
    .await?;
    Ok(ok(json!(values)))
}

/// `GET /api/v1/metadata`: `{metric: [{type, help, unit}]}` as Prometheus returns it.
async fn metadata(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let env = Envelope::Prometheus;
    state.admit_read(env)?;
    let p = Params::parse(q.as_deref(), None);
    let limit = p
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map_or(usize::MAX, |l| l as usize);
    let mut out = Map::new();
    for m in state.metadata.snapshot(p.get("metric"), limit) {
        let t = if m.r#type.is_empty() {
            "unknown".to_string()
        } else {
            m.r#type.clone()
        };
        out.insert(
            m.metric_family_name.clone(),
            json!([{"type": t, "help": m.help, "unit": m.unit}]),
        );
    }
    Ok(ok(Value::Object(out)))
}
