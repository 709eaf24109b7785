//! Ingest compatible with Sentry SDKs.
//!
//! | route | auth | what |
//! |---|---|---|
//! | `POST /api/{project_id}/envelope/` | DSN key | envelopes (events, and other items counted) |
//! | `POST /api/{project_id}/store/` | DSN key | one event (the legacy endpoint) |
//! | `OPTIONS` on both | none | CORS preflight for browser SDKs |
//!
//! No Bearer key: the project's DSN public key authenticates, from `X-Sentry-Auth`, the
//! `sentry_key` query parameter or the envelope header's `dsn` (in that order). A wrong
//! key is 401, an unknown project 404. Bodies may be plain, gzip, deflate, br or zstd
//! (`Content-Encoding`), within the server's body and decompression limits.
//!
//! The whole body is parsed and every event item validated before anything is stored, so a
//! truncated or invalid envelope (400) stores nothing. Events are scrubbed, normalised,
//! grouped and categorised ([`strix_errors::process`]) and committed to the state store
//! before the answer `{"id": "<event_id>"}` (200). Items that are not error events
//! (transactions, sessions, check-ins, attachments, client reports, …) are accepted and
//! counted in `strix_errors_items_total{type}`; stored events are counted in
//! `strix_error_events_total{project,level,category,component}`. Both counters are written
//! to the metric store through the ingest sink, so PromQL rules and KPIs can use them.

mod compression;
mod projects;
mod tracking;

pub use projects::{ProjectTable, Projects};
pub use tracking::{
    run_maintenance, ErrorTracking, Project, ProjectSource, RateLimited, TrackingOptions,
    WriteError,
};

use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use std::sync::Arc;
use strix_core::ErrorClass;
use strix_errors::{Envelope as SentryEnvelope, RawEvent, SentryAuth};
use strix_ingest::ContentEncoding;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/{project_id}/envelope/",
            post(envelope).options(preflight),
        )
        .route("/api/{project_id}/store/", post(store).options(preflight))
}

fn cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "x-sentry-auth, x-requested-with, origin, accept, content-type, content-encoding, \
             authentication, sentry-trace, baggage",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3600"),
    );
    r
}

async fn preflight() -> Response {
    cors(StatusCode::OK.into_response())
}

/// Sentry's error shape: `{"detail": …}` with `X-Sentry-Error`.
fn fail(status: StatusCode, detail: impl Into<String>) -> Response {
    let detail = detail.into();
    let mut r = (status, axum::Json(json!({ "detail": detail }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&detail.replace(['\r', '\n'], " ")) {
        r.headers_mut().insert("x-sentry-error", v);
    }
    cors(r)
}

fn class_status(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::BadInput => StatusCode::BAD_REQUEST,
        ErrorClass::Limit => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn errors_fail(e: &strix_errors::Error) -> Response {
    fail(class_status(e.class()), e.to_string())
}

/// [`errors_fail`], counted in `strix_errors_rejected_requests_total{reason}`.
fn rejected(t: &ErrorTracking, e: &strix_errors::Error) -> Response {
    t.rejected(if e.class() == ErrorClass::Limit {
        "too_large"
    } else {
        "invalid"
    });
    errors_fail(e)
}

/// The server's body limits, with the decompressed size capped by
/// `errors.limits.max_envelope_bytes`.
fn decode_limits(state: &AppState, t: &ErrorTracking) -> strix_ingest::DecodeLimits {
    let mut limits = state.decode_limits();
    limits.max_decompressed_bytes = limits
        .max_decompressed_bytes
        .min(t.options.rate.max_envelope_bytes);
    limits
}

/// What [`prelude`] finds: the tracking state, the project and the decompressed body.
type Prelude<'a> = (&'a ErrorTracking, Arc<Project>, std::borrow::Cow<'a, [u8]>);

/// The project and the decompressed body, or the error response.
fn prelude<'a>(
    state: &'a AppState,
    project_id: &str,
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<Prelude<'a>, Box<Response>> {
    let Some(t) = state.services.errors.as_deref() else {
        return Err(Box::new(fail(
            StatusCode::NOT_FOUND,
            "error tracking is not enabled on this server",
        )));
    };
    let project = project_id
        .parse::<u64>()
        .ok()
        .and_then(|id| t.project(id))
        .ok_or_else(|| {
            t.rejected("unknown_project");
            Box::new(fail(
                StatusCode::NOT_FOUND,
                format!("unknown project {project_id:?}"),
            ))
        })?;
    let enc = ContentEncoding::parse(
        headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|e| Box::new(rejected(t, &strix_errors::Error::Decode(e))))?;
    let raw = strix_ingest::decompress(enc, body, &decode_limits(state, t))
        .map_err(|e| Box::new(rejected(t, &strix_errors::Error::Decode(e))))?;
    Ok((t, project, raw))
}

fn authenticate(
    project: &Project,
    headers: &HeaderMap,
    query: Option<&str>,
    dsn: Option<&str>,
) -> Result<(), Box<Response>> {
    let header = headers
        .get("x-sentry-auth")
        .or_else(|| headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.trim_start().to_ascii_lowercase().starts_with("sentry "));
    let (auth, _) = SentryAuth::find(header, query, dsn)
        .map_err(|e| Box::new(fail(StatusCode::UNAUTHORIZED, e.to_string())))?;
    if !auth.public_key.eq_ignore_ascii_case(&project.public_key) {
        return Err(Box::new(fail(
            StatusCode::UNAUTHORIZED,
            format!("unknown public key for project {}", project.id),
        )));
    }
    Ok(())
}

/// The 429 answer Sentry SDKs back off on: `Retry-After` and `X-Sentry-Rate-Limits`
/// (`<seconds>:<categories>:<scope>`; the categories are those of error events).
pub(crate) fn rate_limited(r: RateLimited, project: &Project) -> Response {
    let mut resp = fail(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "project {} is over its event rate limit; retry in {} s",
            project.slug, r.retry_after_secs
        ),
    );
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&r.retry_after_secs.to_string()) {
        h.insert(header::RETRY_AFTER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}:error;default;security:project",
        r.retry_after_secs
    )) {
        h.insert("x-sentry-rate-limits", v);
    }
    resp
}

/// Processes and stores the events, counts them and answers with the first event id.
/// `size_bytes` is the decompressed body size (which decides where events are processed).
#[allow(clippy::too_many_arguments)]
async fn commit(
    state: AppState,
    project: Arc<Project>,
    raws: Vec<RawEvent>,
    size_bytes: usize,
    items: Vec<&'static str>,
    envelope_event_id: Option<String>,
    headers: &HeaderMap,
) -> Response {
    let Some(t) = state.services.errors.clone() else {
        return fail(
            StatusCode::NOT_FOUND,
            "error tracking is not enabled on this server",
        );
    };
    if let Err(r) = t.admit(&project, raws.len()) {
        return rate_limited(r, &project);
    }
    let client_ip = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|s| s.trim().to_string());
    let received = strix_core::now_millis();
    let processed = match t.process_sized(raws, size_bytes, received, client_ip).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return rejected(&t, &e),
        Err(e) => {
            return fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("event task failed: {e}"),
            )
        }
    };
    let id = processed
        .first()
        .map(|p| p.event.event_id.clone())
        .or(envelope_event_id)
        .unwrap_or_default();
    let sink = Some(state.sink.clone());
    if let Err(e) = t.store(project, processed, items, received, sink).await {
        return write_failed(e);
    }
    cors(axum::Json(json!({ "id": id })).into_response())
}

/// The answer to a write that was not acknowledged: 503 with `Retry-After` when overloaded
/// or the store is unavailable, else the class's status.
pub(crate) fn write_failed(e: WriteError) -> Response {
    let (status, msg, retry) = match e {
        WriteError::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many error events waiting to be written; retry later".to_string(),
            true,
        ),
        WriteError::State(e) => (
            class_status(e.class()),
            e.to_string(),
            e.class() == ErrorClass::Unavailable,
        ),
    };
    let mut r = fail(status, msg);
    if retry {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r
}

async fn envelope(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (project, raws, size, items, event_id) = {
        let (t, project, raw) = match prelude(&state, &project_id, &headers, &body) {
            Ok(x) => x,
            Err(r) => return *r,
        };
        let env = match SentryEnvelope::parse(&raw, &t.payload_limits) {
            Ok(e) => e,
            Err(e) => {
                // Authenticate first when we can, so a wrong key is 401 even for bad bodies.
                if let Err(r) = authenticate(&project, &headers, query.as_deref(), None) {
                    return *r;
                }
                return rejected(t, &e);
            }
        };
        if let Err(r) = authenticate(&project, &headers, query.as_deref(), env.dsn()) {
            t.rejected("auth");
            return *r;
        }
        let mut raws = Vec::new();
        let mut items = Vec::new();
        for item in &env.items {
            if item.item_type.is_error_event() {
                match item.event(&t.payload_limits) {
                    Ok(v) => raws.push(v),
                    Err(e) => return rejected(t, &e),
                }
            } else {
                items.push(item.item_type.metric_label());
            }
        }
        let size = raw.len();
        (
            project,
            raws,
            size,
            items,
            env.event_id().map(str::to_string),
        )
    };
    commit(state, project, raws, size, items, event_id, &headers).await
}

async fn store(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (project, raw, size) = {
        let (t, project, raw) = match prelude(&state, &project_id, &headers, &body) {
            Ok(x) => x,
            Err(r) => return *r,
        };
        if let Err(r) = authenticate(&project, &headers, query.as_deref(), None) {
            t.rejected("auth");
            return *r;
        }
        match strix_errors::parse_store(&raw, &t.payload_limits, &decode_limits(&state, t)) {
            Ok(v) => (project, v, raw.len()),
            Err(e) => return rejected(t, &e),
        }
    };
    commit(
        state,
        project,
        vec![raw.into()],
        size,
        Vec::new(),
        None,
        &headers,
    )
    .await
}
