//! OTLP/HTTP metrics: `POST /v1/metrics` (SDKs, the Collector) and Prometheus' receiver
//! path `/api/v1/otlp/v1/metrics`. Protobuf or JSON, answered in the request's encoding
//! with an `ExportMetricsServiceResponse` (partial success when points were skipped).

use crate::error::{ApiError, Envelope};
use crate::metrics::ProtocolReason;
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use std::sync::{Arc, Mutex};
use strix_core::storage::AppendMode;
use strix_core::ErrorClass;
use strix_ingest::otlp::{self, DeltaState};
use strix_ingest::{decompress, ContentEncoding, DecodeError};

/// Running totals for delta temporality, shared by all OTLP requests.
pub type SharedDeltaState = Arc<Mutex<DeltaState>>;

pub fn routes(delta: SharedDeltaState) -> Router<AppState> {
    Router::new()
        .route("/v1/metrics", post(export))
        .route("/api/v1/otlp/v1/metrics", post(export))
        .layer(Extension(delta))
}

async fn export(
    State(state): State<AppState>,
    Extension(delta): Extension<SharedDeltaState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const P: &str = "otlp";
    // OTLP clients retry on 429/503 and drop on other 4xx, which matches our envelope rules.
    let env = Envelope::Text;
    let body = crate::error::body(body, state.opts.max_body_bytes, env)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _slot = state.admit_write(P, env)?;
    let limits = state.decode_limits();
    let db = state.sink.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        let raw = decompress(ContentEncoding::parse(enc.as_deref())?, &body, &limits)?;
        let req = if json {
            otlp::decode_json(&raw)?
        } else {
            otlp::decode_protobuf(&raw)?
        };
        let out = otlp::translate(req, &mut delta.lock().unwrap_or_else(|p| p.into_inner()));
        let result = db.append(&out.series, AppendMode::Live);
        Ok::<_, DecodeError>((out, result))
    })
    .await
    .map_err(|e| ApiError::new(ErrorClass::Internal, format!("OTLP task failed: {e}"), env))?;
    let (out, result) = decoded.map_err(|e| {
        let reason = if e.class() == ErrorClass::Limit {
            "too_large"
        } else {
            "bad_input"
        };
        state
            .metrics
            .ingest_requests_refused
            .get_or_create(&ProtocolReason {
                protocol: P,
                reason,
            })
            .inc();
        if e.class() == ErrorClass::Limit {
            ApiError::too_large(e.to_string(), env)
        } else {
            ApiError::bad_input(e.to_string(), env)
        }
    })?;
    let kept = state.metadata.record(&out.metadata);
    state.metrics.metadata_received.inc_by(kept as u64);
    for (reason, n) in &out.skip_reasons {
        state
            .metrics
            .ingest_skipped
            .get_or_create(&ProtocolReason {
                protocol: P,
                reason: reason.as_str(),
            })
            .inc_by(*n);
    }
    if out.exemplars_skipped > 0 {
        state
            .metrics
            .ingest_skipped
            .get_or_create(&ProtocolReason {
                protocol: P,
                reason: "exemplar",
            })
            .inc_by(out.exemplars_skipped);
    }
    let outcome = result.map_err(|e| ApiError::from((e, env)))?;
    // Refused samples are reported as a partial success, as the OTLP spec asks.
    let rejected = out.skipped + outcome.rejected_total();
    let message = outcome
        .first_error
        .clone()
        .or(out.first_skip.clone())
        .unwrap_or_default();
    super::write::account_partial(&state, P, &outcome);
    let (ct, bytes) = if json {
        (
            "application/json",
            otlp::encode_response_json(rejected as i64, &message),
        )
    } else {
        (
            "application/x-protobuf",
            otlp::encode_response_protobuf(rejected as i64, &message),
        )
    };
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response())
}
