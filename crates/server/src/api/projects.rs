//! Error-tracking projects and their DSNs under `/api/monitoring/projects`, in the Strix
//! envelope.
//!
//! | route | scope | what |
//! |---|---|---|
//! | `GET /api/monitoring/projects` | read | every enabled project: `id, slug, name, publicKey, dsn, source` (`config` or `api`), `createdAt` |
//! | `POST /api/monitoring/projects` | admin | `{"slug", "name"?}`: creates a project with a random key; 201 with the project |
//! | `POST /api/monitoring/projects/{id}/rotate-key` | admin | a new random key; the old one is refused from the next request on |
//! | `DELETE /api/monitoring/projects/{id}` | admin | disables the project: its ingest answers 404, its issues and events stay |
//!
//! Projects declared in the configuration keep their fixed keys: rotating or deleting them
//! here is 409. The DSN uses the request's `Host` header (else the listen address), so it
//! is the address the caller reached Strix at.

use super::alerts::rfc3339;
use super::errors::{blocking, json_body, tracking};
use crate::api::sentry::{ErrorTracking, Project, Projects};
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use strix_state::StateError;

const ENV: Envelope = Envelope::Strix;

pub fn read_routes() -> Router<AppState> {
    Router::new().route("/api/monitoring/projects", get(list))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/projects", post(create))
        .route("/api/monitoring/projects/{id}/rotate-key", post(rotate_key))
        .route("/api/monitoring/projects/{id}", delete(remove))
}

/// `host[:port]` for DSNs: the request's `Host` header when it is a plain authority,
/// else the host of the configured external URL (the listen address).
fn dsn_authority(headers: &HeaderMap, t: &ErrorTracking) -> String {
    let plain = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    };
    if let Some(h) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| plain(h))
    {
        return h.to_string();
    }
    let url = t.options.external_url.as_str();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) => {
            let host = match host.trim_start_matches('[').trim_end_matches(']') {
                "" | "0.0.0.0" | "::" => "localhost",
                _ => host,
            };
            format!("{host}:{port}")
        }
        None => authority.to_string(),
    }
}

/// The DSN of a project reached at `authority`.
pub fn dsn(authority: &str, p: &Project) -> String {
    format!("http://{}@{}/{}", p.public_key, authority, p.id)
}

fn project_json(p: &Project, authority: &str) -> Value {
    json!({
        "id": p.id,
        "slug": p.slug,
        "name": p.name,
        "publicKey": p.public_key,
        "dsn": dsn(authority, p),
        "source": p.source.as_str(),
        "createdAt": p.created_at.map(rfc3339),
    })
}

fn project_id(id: &str) -> Result<u64, ApiError> {
    id.parse::<u64>().map_err(|_| {
        ApiError::bad_input(
            format!("invalid project id {id:?}: expected a positive integer"),
            ENV,
        )
    })
}

/// `GET /api/monitoring/projects`.
async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let t = tracking(&state)?;
    let authority = dsn_authority(&headers, &t);
    let data: Vec<Value> = t
        .projects()
        .iter()
        .map(|p| project_json(p, &authority))
        .collect();
    Ok(Json(json!({"success": true, "data": data})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    slug: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/monitoring/projects`.
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let t = tracking(&state)?;
    let b: CreateBody = json_body(&state, body, "{\"slug\": \"...\", \"name\": \"...\"}")?;
    let slug = b
        .slug
        .ok_or_else(|| ApiError::bad_input("slug: required", ENV))?;
    let name = b.name.unwrap_or_default();
    let now = strix_core::now_millis();
    let p = blocking(&t, move |t| t.project_admin().create(&slug, &name, now)).await?;
    let authority = dsn_authority(&headers, &t);
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "data": project_json(&p, &authority)})),
    )
        .into_response())
}

/// `POST /api/monitoring/projects/{id}/rotate-key`.
async fn rotate_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let doc = administer(&state, &id, &headers, |admin, id, now| {
        admin.rotate_key(id, now)
    })
    .await?;
    Ok(Json(json!({"success": true, "data": doc})))
}

/// `DELETE /api/monitoring/projects/{id}`.
async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let mut doc = administer(&state, &id, &headers, |admin, id, now| {
        admin.delete(id, now)
    })
    .await?;
    doc["deleted"] = json!(true);
    Ok(Json(json!({"success": true, "data": doc})))
}

/// Applies `f` to the project with path parameter `id` and answers with the project as
/// reached through `headers`.
async fn administer(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    f: impl FnOnce(&Projects<'_>, u64, i64) -> Result<Arc<Project>, StateError> + Send + 'static,
) -> Result<Value, ApiError> {
    let t = tracking(state)?;
    let id = project_id(id)?;
    let now = strix_core::now_millis();
    let p = blocking(&t, move |t| f(&t.project_admin(), id, now)).await?;
    Ok(project_json(&p, &dsn_authority(headers, &t)))
}
