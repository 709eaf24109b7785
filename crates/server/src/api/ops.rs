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

/// `GET /api/monitoring/health`: 200 while Strix accepts writes and queries, 503 when its
/// storage refuses writes. `components` are Strix' own (see [`super::health`]); `checks` lists
/// the components and then the configured checks (each with `name`, `status`, ...).
/// `overallStatus` is the worst of components and checks, so a probed service being down
/// shows there without making Strix look down to its supervisor.
///
/// The route is open so supervisors and load balancers need no key, but with API keys
/// configured a caller without a read key gets a summary only: overall status, version,
/// uptime, and each component's and public check's name and status — no target URLs,
/// error texts, labels or resource figures.
async fn health(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let detailed = matches!(
        crate::auth::check(
            &state.opts.api_keys,
            authorization,
            crate::auth::Scope::Read
        ),
        crate::auth::AuthResult::Allowed
    );
    let components = tokio::task::spawn_blocking({
        let st = state.clone();
        move || super::health::components_fresh(&st)
    })
    .await
    .unwrap_or_else(|_| {
        vec![json!({"name": "storage", "status": "unhealthy", "message": "status task failed", "details": {}})]
    });
    // 503 only when storage refuses writes: a full disk warning is reported in the
    // component, but a supervisor must not restart a Strix that still works.
    let storage_down = components.iter().any(|c| {
        c["name"] == "storage"
            && (c["details"]["writable"] == false || c["details"]["walPoisoned"] == true)
    }) || components.iter().all(|c| c["name"] != "storage");
    let code = if storage_down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let list = state
        .services
        .checks
        .as_ref()
        .map(|svc| svc.list())
        .unwrap_or_default();
    let status = strix_checks::state::overall(
        components
            .iter()
            .map(super::health::status_of)
            .chain(list.iter().map(|c| c.status)),
    );
    // Without a read key: names and statuses only, and public checks only.
    let (components, checks) = if detailed {
        let mut checks = components.clone();
        checks.extend(list.iter().map(super::checks::check_json));
        (components, checks)
    } else {
        let summary = |name: &str, status: &str| json!({"name": name, "status": status});
        let components: Vec<serde_json::Value> = components
            .iter()
            .map(|c| {
                summary(
                    c["name"].as_str().unwrap_or(""),
                    c["status"].as_str().unwrap_or("unknown"),
                )
            })
            .collect();
        let mut checks = components.clone();
        checks.extend(
            list.iter()
                .filter(|c| c.public)
                .map(|c| summary(&c.name, c.status.as_str())),
        );
        (components, checks)
    };
    let mut body = json!({
        "success": true,
        "data": {
            "overallStatus": status.as_str(),
            "version": crate::VERSION,
            "uptime": state.started.elapsed().as_secs(),
            "timestamp": strix_core::now_millis(),
            "components": components,
            "checks": checks,
        }
    });
    if detailed {
        body["data"]["environment"] =
            json!(std::env::var("STRIX_ENVIRONMENT").unwrap_or_else(|_| "production".into()));
    }
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
