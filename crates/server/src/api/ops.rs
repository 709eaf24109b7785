//! Operational endpoints: health, readiness, build info, self-metrics, admin flush.

use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use strix_core::ErrorClass;

/// Routes without authentication: liveness/readiness and the health summary (no data).
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/health", get(health))
        .route("/-/healthy", get(|| async { "Strix is Healthy.\n" }))
        .route("/-/ready", get(ready))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        // Open like Prometheus' own: counts and timings only, and the default
        // self-scrape has no key to present.
        .route("/metrics", get(self_metrics))
}

/// Routes needing the admin scope.
pub fn admin_routes() -> Router<AppState> {
    Router::new().route("/api/v1/admin/tsdb/flush", post(flush))
}

/// Component status as the runbooks define it.
pub(crate) fn storage_check(state: &AppState) -> (&'static str, serde_json::Value) {
    let s = state.db.status();
    let status = if s.wal_poisoned || !state.db.is_writable() {
        "unhealthy"
    } else if s.last_compaction_error.is_some() {
        "degraded"
    } else {
        "healthy"
    };
    let message = if s.wal_poisoned {
        "write-ahead log failed; writes are refused".to_string()
    } else if let Some(e) = &s.last_compaction_error {
        format!("last compaction failed: {e}")
    } else {
        "accepting writes and queries".to_string()
    };
    (
        status,
        json!({
            "component": "storage",
            "status": status,
            "message": message,
            "details": {
                "headSeries": s.head_series,
                "headChunks": s.head_chunks,
                "headMinTime": s.head_min_time,
                "headMaxTime": s.head_max_time,
                "blocks": s.blocks,
                "rollupBlocks": s.rollup_blocks,
                "blocksBytes": s.blocks_bytes,
                "walBytes": s.wal_bytes,
                "walPoisoned": s.wal_poisoned,
            }
        }),
    )
}

/// `GET /api/monitoring/health`: 200 while Strix accepts writes and queries, 503 when a
/// component is unhealthy; configured checks are listed and count in `overallStatus` only.
async fn health(State(state): State<AppState>) -> Response {
    let (status, check) = tokio::task::spawn_blocking({
        let st = state.clone();
        move || storage_check(&st)
    })
    .await
    .unwrap_or((
        "unhealthy",
        json!({"component": "storage", "status": "unhealthy", "message": "status task failed"}),
    ));
    let mut checks = vec![check];
    // The HTTP code follows Strix' own components (storage): a probed service being down
    // must not make Strix look down to its supervisor. `overallStatus` includes the checks.
    let code = if status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut status = status;
    if let Some(svc) = &state.services.checks {
        let list = svc.list();
        checks.extend(list.iter().map(super::checks::check_json));
        let storage = match status {
            "unhealthy" => strix_checks::CheckStatus::Unhealthy,
            "degraded" => strix_checks::CheckStatus::Degraded,
            _ => strix_checks::CheckStatus::Healthy,
        };
        status = strix_checks::state::overall(
            std::iter::once(storage).chain(list.iter().map(|c| c.status)),
        )
        .as_str();
    }
    let body = json!({
        "success": true,
        "data": {
            "overallStatus": status,
            "version": crate::VERSION,
            "uptime": state.started.elapsed().as_secs(),
            "timestamp": strix_core::now_millis(),
            "checks": checks,
        }
    });
    (code, Json(body)).into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.db.is_writable() {
        (StatusCode::OK, "Strix is Ready.\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Storage is not writable.\n",
        )
            .into_response()
    }
}

/// Prometheus' build info. No `features` field: Grafana would take Strix for Mimir.
async fn buildinfo() -> Json<serde_json::Value> {
    Json(json!({
        "status": "success",
        "data": {
            "version": crate::VERSION,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }
    }))
}

async fn self_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::with_capacity(16 << 10);
    prometheus_client::encoding::text::encode(&mut out, &state.registry).map_err(|e| {
        ApiError::new(
            ErrorClass::Internal,
            format!("encoding metrics: {e}"),
            Envelope::Text,
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

/// `POST /api/v1/admin/tsdb/flush`: moves the whole head into blocks now.
async fn flush(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || db.flush())
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorClass::Internal,
                format!("flush task failed: {e}"),
                Envelope::Prometheus,
            )
        })?
        .map_err(|e| ApiError::new(e.class(), e.to_string(), Envelope::Prometheus))?;
    Ok(Json(json!({"status": "success"})))
}
