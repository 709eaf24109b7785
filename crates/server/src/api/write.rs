//! Ingest endpoints: remote_write, import (backfill) and the JSON push API.

use crate::error::{ApiError, Envelope};
use crate::metrics::{ProtocolLabel, ProtocolReason};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use strix_core::storage::{AppendMode, AppendOutcome, TimeSeries};
use strix_core::ErrorClass;
use strix_ingest::{decompress, ContentEncoding, DecodeError, Metadata};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/write", post(remote_write))
        .route("/api/v1/import", post(import))
        .route("/api/v1/import/prometheus", post(import_text))
        .route("/api/monitoring/metrics", post(json_push))
}

fn decode_err(state: &AppState, protocol: &'static str, e: DecodeError, env: Envelope) -> ApiError {
    let too_large = matches!(e.class(), ErrorClass::Limit);
    let reason = if too_large { "too_large" } else { "bad_input" };
    state
        .metrics
        .ingest_requests_refused
        .get_or_create(&ProtocolReason { protocol, reason })
        .inc();
    if too_large {
        ApiError::too_large(e.to_string(), env)
    } else {
        ApiError::bad_input(e.to_string(), env)
    }
}

/// Counts a request refused before decoding (body unreadable or over the limit).
fn refused(state: &AppState, protocol: &'static str) {
    state
        .metrics
        .ingest_requests_refused
        .get_or_create(&ProtocolReason {
            protocol,
            reason: "too_large",
        })
        .inc();
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Appends on the blocking pool, then [`account`]s for the outcome.
async fn store(
    state: &AppState,
    protocol: &'static str,
    series: Vec<TimeSeries>,
    mode: AppendMode,
    env: Envelope,
) -> Result<AppendOutcome, ApiError> {
    let db = state.sink.clone();
    let outcome = tokio::task::spawn_blocking(move || db.append(&series, mode))
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorClass::Internal,
                format!("append task failed: {e}"),
                env,
            )
        })?
        .map_err(|e| ApiError::from((e, env)))?;
    account(state, protocol, outcome, env)
}

/// Counts stored and refused samples of an append.
pub(crate) fn account_partial(state: &AppState, protocol: &'static str, outcome: &AppendOutcome) {
    state
        .metrics
        .ingest_samples
        .get_or_create(&ProtocolLabel { protocol })
        .inc_by(outcome.samples_appended);
    for (reason, n) in &outcome.rejected {
        state
            .metrics
            .ingest_rejected_samples
            .get_or_create(&ProtocolReason {
                protocol,
                reason: reason.as_str(),
            })
            .inc_by(*n);
    }
}

/// Turns an append outcome into metrics, and into an error when anything was refused
/// (the valid part is stored either way, as Prometheus' receiver does).
fn account(
    state: &AppState,
    protocol: &'static str,
    outcome: AppendOutcome,
    env: Envelope,
) -> Result<AppendOutcome, ApiError> {
    account_partial(state, protocol, &outcome);
    if let Some(first) = &outcome.first_error {
        let only_limits = outcome.rejected.iter().all(|(r, _)| r.is_limit());
        let msg = format!(
            "{} sample(s) refused, {} stored; first error: {first}",
            outcome.rejected_total(),
            outcome.samples_appended
        );
        tracing::debug!(protocol, refused = outcome.rejected_total(), error = %first, "Samples refused.");
        let class = if only_limits {
            ErrorClass::Limit
        } else {
            ErrorClass::BadInput
        };
        return Err(ApiError::new(class, msg, env));
    }
    Ok(outcome)
}

fn record_metadata(state: &AppState, md: &[Metadata]) {
    let kept = state.metadata.record(md);
    state.metrics.metadata_received.inc_by(kept as u64);
}

/// `POST /api/v1/write`: Prometheus remote_write 1.0 (snappy-compressed protobuf).
async fn remote_write(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    const P: &str = "remote_write";
    let env = Envelope::Text;
    let body = crate::error::body(body, state.opts.max_body_bytes, env)
        .inspect_err(|_| refused(&state, P))?;
    if let Some(ct) = header_str(&headers, header::CONTENT_TYPE) {
        if ct.contains("io.prometheus.write.v2") {
            return Err(ApiError::bad_input("remote write 2.0 is not supported; send remote write 1.0 (prometheus.WriteRequest)", env)
                .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
    }
    match header_str(&headers, header::CONTENT_ENCODING) {
        None => {}
        Some(e) if e.eq_ignore_ascii_case("snappy") => {}
        Some(e) => {
            return Err(ApiError::bad_input(
                format!(
                    "unsupported Content-Encoding {e:?}: remote write bodies are snappy-compressed"
                ),
                env,
            )
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))
        }
    }
    let _slot = state.admit_write(P, env)?;
    let limits = state.decode_limits();
    let db = state.sink.clone();
    // Decode and append in one blocking task: labels borrow from the decompressed buffer
    // and are copied only for series the engine has not seen before.
    let (metadata, exemplars, histograms, result) = tokio::task::spawn_blocking(move || {
        let raw = strix_ingest::remote_write::decompress_write_request(&body, &limits)?;
        let scanned = strix_ingest::remote_write::parse_write_request(&raw)?;
        let result = db.append_borrowed(&scanned.batch, AppendMode::Live);
        Ok::<_, DecodeError>((
            scanned.metadata,
            scanned.exemplars_skipped,
            scanned.histograms_skipped,
            result,
        ))
    })
    .await
    .map_err(|e| {
        ApiError::new(
            ErrorClass::Internal,
            format!("append task failed: {e}"),
            env,
        )
    })?
    .map_err(|e| decode_err(&state, P, e, env))?;
    record_metadata(&state, &metadata);
    if exemplars > 0 {
        state
            .metrics
            .ingest_skipped
            .get_or_create(&ProtocolReason {
                protocol: P,
                reason: "exemplar",
            })
            .inc_by(exemplars);
    }
    if histograms > 0 {
        state
            .metrics
            .ingest_skipped
            .get_or_create(&ProtocolReason {
                protocol: P,
                reason: "native_histogram",
            })
            .inc_by(histograms);
    }
    account(
        &state,
        P,
        result.map_err(|e| ApiError::from((e, env)))?,
        env,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ImportFormat {
    JsonLines,
    Text,
}

/// `POST /api/v1/import`: backfill at any timestamp. JSON lines (VictoriaMetrics'
/// format) or the Prometheus text format with timestamps, chosen by Content-Type and
/// otherwise by the first byte.
async fn import(
    state: State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    do_import(state, headers, body, None).await
}

/// `POST /api/v1/import/prometheus`: backfill in the text format.
async fn import_text(
    state: State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    do_import(state, headers, body, Some(ImportFormat::Text)).await
}

async fn do_import(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    forced: Option<ImportFormat>,
) -> Result<Response, ApiError> {
    const P: &str = "import";
    let env = Envelope::Prometheus;
    let body = crate::error::body(body, state.opts.max_body_bytes, env)
        .inspect_err(|_| refused(&state, P))?;
    let enc = ContentEncoding::parse(header_str(&headers, header::CONTENT_ENCODING))
        .map_err(|e| decode_err(&state, P, e, env))?;
    let ct = header_str(&headers, header::CONTENT_TYPE)
        .unwrap_or("")
        .to_ascii_lowercase();
    let _slot = state.admit_write(P, env)?;
    let limits = state.decode_limits();
    let now = strix_core::now_millis();
    let parsed = tokio::task::spawn_blocking(
        move || -> Result<(Vec<TimeSeries>, Vec<Metadata>), DecodeError> {
            let raw = decompress(enc, &body, &limits)?;
            let first = raw.iter().find(|b| !b.is_ascii_whitespace()).copied();
            let format = forced.unwrap_or(
                if ct.contains("json") || (!ct.starts_with("text/") && first == Some(b'{')) {
                    ImportFormat::JsonLines
                } else {
                    ImportFormat::Text
                },
            );
            match format {
                ImportFormat::JsonLines => Ok((
                    strix_ingest::jsonl::parse_jsonl(&raw, limits.max_decompressed_bytes)?,
                    Vec::new(),
                )),
                ImportFormat::Text => {
                    let text = strix_ingest::text::from_utf8(&raw)?;
                    let p = strix_ingest::text::parse_text(text, now)?;
                    Ok((p.series, p.metadata))
                }
            }
        },
    )
    .await
    .map_err(|e| {
        ApiError::new(
            ErrorClass::Internal,
            format!("decode task failed: {e}"),
            env,
        )
    })?
    .map_err(|e| decode_err(&state, P, e, env))?;
    record_metadata(&state, &parsed.1);
    store(&state, P, parsed.0, AppendMode::Backfill, env).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/monitoring/metrics`: `[{"name","labels":{},"value","timestamp"?}]`.
async fn json_push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    const P: &str = "json";
    let env = Envelope::Strix;
    let body = crate::error::body(body, state.opts.max_body_bytes, env)
        .inspect_err(|_| refused(&state, P))?;
    let enc = ContentEncoding::parse(header_str(&headers, header::CONTENT_ENCODING))
        .map_err(|e| decode_err(&state, P, e, env))?;
    let _slot = state.admit_write(P, env)?;
    let limits = state.decode_limits();
    let raw = decompress(enc, &body, &limits).map_err(|e| decode_err(&state, P, e, env))?;
    let series = strix_ingest::json_push::parse_json_push(&raw, strix_core::now_millis())
        .map_err(|e| decode_err(&state, P, e, env))?;
    let n_series = series.len();
    let out = store(&state, P, series, AppendMode::Live, env).await?;
    Ok(Json(
        json!({"success": true, "data": {"samples": out.samples_appended, "series": n_series}}),
    ))
}
